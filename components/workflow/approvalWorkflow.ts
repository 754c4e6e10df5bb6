// The STANDARD state machine of a stack: validate the request, optionally auto-approve small
// amounts, run every stage in order (the first rejection or timeout ends it), and return
// { approved, decision, stages, request }. Other workflows can call it with
// states:startExecution.sync:2 to get an approval.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { anyOccurrenceAlarm } from "../shared/alarms";
import { ApprovalStage } from "../mechanisms/base";
import { AslDefinition, AslState, AslStates, TaskStateOptions, and, booleanEquals, isBoolean, isPresent, isString, not, numericLessThan, stringEquals, when } from "./asl";
import { requestValidation } from "./request";
import { LOG_RETENTION_DAYS } from "../shared/lambda";
import { PolicyStatement, accountFacts, policyDocument, serviceTrustPolicy } from "../shared/iam";
import { checkedName, defaultNamePrefix } from "../shared/naming";
import { INVALID_DECISION_ERROR, Mechanism, decisionKey, followUpStateNames, stageStateName } from "../../functions/contract";
import { StageFollowUpStates, StageFollowUps, WorkflowFollowUp, followUpStates } from "./followUps";
import { WorkflowKey } from "./dataKey";

/** Slack on top of the stage waits for the execution as a whole. */
export const EXECUTION_TIMEOUT_MARGIN_SECONDS = 600;
/** A Standard execution lasts at most one year. */
export const MAX_EXECUTION_SECONDS = 365 * 86400;

/**
 * Where a stage's Task reads and writes. With follow-ups (reminders, escalation) the Task runs in
 * the decision branch of a Parallel state and goes on to the branch's "decided" state instead of
 * the Check state (see components/workflow/followUps.ts).
 */
export function stageTaskOptions(stage: string, withFollowUps = false): TaskStateOptions {
  return {
    stateName: stageStateName(stage),
    requestPath: "$.request",
    resultPath: `$.decisions.${decisionKey(stage)}`,
    next: withFollowUps ? followUpStateNames(stage).decided : `Check ${stage}`,
  };
}

/** The state a stage starts at: its Task, or the Parallel that runs the Task beside its follow-ups. */
export function stageEntryName(stage: string, withFollowUps = false): string {
  return withFollowUps ? followUpStateNames(stage).wrapper : stageStateName(stage);
}

function finalState(approved: boolean, decision: string, decisionPaths: string[]): AslState {
  return {
    Type: "Pass",
    Parameters: {
      approved,
      decision,
      "stages.$": `States.Array(${decisionPaths.join(", ")})`,
      "request.$": "$.request",
    },
    End: true,
  };
}

/** The execution's timeout for these stages; refuses stages that cannot all wait within one year. */
export function checkExecutionLength(stages: Array<{ stage: string; maxWaitSeconds: number }>): number {
  const timeoutSeconds = stages.reduce((sum, s) => sum + s.maxWaitSeconds, EXECUTION_TIMEOUT_MARGIN_SECONDS);
  if (timeoutSeconds > MAX_EXECUTION_SECONDS) {
    throw new pulumi.RunError(`The stages ${stages.map((s) => `${s.stage} (up to ${Math.round(s.maxWaitSeconds / 86400)}d)`).join(", ")} can wait ${Math.round(timeoutSeconds / 86400)} days in all, beyond a Standard execution's 365 days; shorten their timeouts`);
  }
  return timeoutSeconds;
}

export interface AssembledStage {
  stage: string;
  /** The mechanism's states for `stageTaskOptions(stage)`. */
  states: AslStates;
  /** The stage's mechanism: a decision must name it (and the stage) to count. */
  mechanism: Mechanism;
  maxWaitSeconds: number;
  /** Reminders and escalation (needs `mechanism`); the stage's states were built with stageTaskOptions(stage, true). */
  followUp?: StageFollowUpStates;
}

/** Every state name, those in Parallel branches included: names are unique across a whole state machine. */
function stateNames(states: AslStates): string[] {
  return Object.entries(states).flatMap(([name, state]) => [name, ...(state.Type === "Parallel" ? state.Branches.flatMap((b) => stateNames(b.States)) : [])]);
}

/** Pure: the whole definition from the stages' own states. */
export function assembleWorkflowDefinition(args: { autoApproveBelow?: number; stages: AssembledStage[] }): AslDefinition {
  if (args.stages.length === 0) throw new Error("An approval workflow needs at least one stage");
  const entry = (i: number) => (i < args.stages.length ? stageEntryName(args.stages[i].stage, args.stages[i].followUp !== undefined) : "Approved");
  const states: AslStates = {};
  const taken = new Set<string>();
  const add = (more: AslStates) => {
    for (const name of stateNames(more)) {
      if (taken.has(name)) throw new Error(`Two states are named '${name}'`);
      taken.add(name);
    }
    Object.assign(states, more);
  };

  const afterValidation = args.autoApproveBelow !== undefined ? "Check auto-approve" : entry(0);
  add(requestValidation(afterValidation));
  if (args.autoApproveBelow !== undefined) {
    add({
      "Check auto-approve": {
        Type: "Choice",
        Comment: `Requests with an amount below ${args.autoApproveBelow} skip the stages`,
        Choices: [when(and(isPresent("$.request.amount"), numericLessThan("$.request.amount", args.autoApproveBelow)), "Auto-approved")],
        Default: entry(0),
      },
      "Auto-approved": {
        Type: "Pass",
        Parameters: { approved: true, decision: "auto_approved", stages: [], "request.$": "$.request" },
        End: true,
      },
    });
  }

  const decisionPaths: string[] = [];
  args.stages.forEach(({ stage, states: stageStates, mechanism, followUp }, i) => {
    const options = stageTaskOptions(stage);
    if (!(options.stateName in stageStates)) throw new Error(`Stage '${stage}' has no state named '${options.stateName}'`);
    add(followUp ? followUpStates({ stage, mechanism, options, stageStates, ...followUp }) : stageStates);
    decisionPaths.push(options.resultPath);
    const decision = (field: string) => `${options.resultPath}.${field}`;
    const invalid = `Invalid decision at ${stage}`;
    add({
      [options.next]: {
        Type: "Choice",
        Comment: `Only a whole approval of stage '${stage}' goes on; a decision that is not whole fails the execution`,
        // A decision is whole when all four fields are present with their types, it names this stage
        // and this stage's mechanism (one naming another was sent with a token it does not belong to),
        // and approved and decision agree. Rules are tried in order, so each type test only sees a
        // present field; anything no rule accepts is refused (Default), never read as a rejection.
        Choices: [
          ...["approved", "decision", "stage", "mechanism"].map((field) => when(not(isPresent(decision(field))), invalid)),
          when(not(isBoolean(decision("approved"))), invalid),
          ...["decision", "stage", "mechanism"].map((field) => when(not(isString(decision(field))), invalid)),
          when(not(stringEquals(decision("stage"), stage)), invalid),
          when(not(stringEquals(decision("mechanism"), mechanism)), invalid),
          when(and(booleanEquals(decision("approved"), true), stringEquals(decision("decision"), "approved")), entry(i + 1)),
          when(and(booleanEquals(decision("approved"), false), stringEquals(decision("decision"), "rejected")), `Rejected at ${stage}`),
          when(and(booleanEquals(decision("approved"), false), stringEquals(decision("decision"), "timed_out")), `Timed out at ${stage}`),
        ],
        Default: invalid,
      },
      [invalid]: {
        Type: "Fail",
        Error: INVALID_DECISION_ERROR,
        Cause: `Stage '${stage}' answered with a decision that is not whole: it needs a boolean 'approved' and a 'decision' that agree (true/approved, false/rejected, false/timed_out), 'stage' '${stage}' and 'mechanism' '${mechanism}'; nothing was approved.`,
      },
      [`Rejected at ${stage}`]: finalState(false, "rejected", [...decisionPaths]),
      [`Timed out at ${stage}`]: finalState(false, "timed_out", [...decisionPaths]),
    });
  });
  add({ Approved: finalState(true, "approved", decisionPaths) });

  const timeoutSeconds = checkExecutionLength(args.stages);
  return {
    Comment: `sfn-approvals: ${args.stages.map((s) => s.stage).join(" -> ")}`,
    StartAt: "Read request",
    TimeoutSeconds: timeoutSeconds,
    States: states,
  };
}

/** CloudWatch Logs delivery for Step Functions; these actions support no resource-level permissions. */
export const LOG_DELIVERY_STATEMENT: PolicyStatement = {
  Sid: "DeliverExecutionLogs",
  Effect: "Allow",
  Action: [
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
  ],
  Resource: ["*"],
};

export interface ApprovalWorkflowArgs {
  /** 1 to 5 stages with unique names, run in this order. */
  stages: ApprovalStage[];
  /** Requests whose `amount` is below this are approved without any stage. */
  autoApproveBelow?: number;
  /** Start of the state machine's name; defaults to "<project>-<stack>". */
  namePrefix?: string;
  /** Where the failed-executions alarm publishes (an SNS topic ARN). */
  alarmActions?: pulumi.Input<string>[];
  /** Reminders and escalation, by stage name (see components/workflow/followUps.ts). */
  followUps?: Record<string, WorkflowFollowUp>;
  /** Encrypts the definition and execution history (with the stages' activities); its policy gets the execution role. */
  dataKey?: WorkflowKey;
}

/** The state machine's name for a name prefix (the approval page needs it before the state machine exists). */
export function workflowStateMachineName(namePrefix?: string, component = "ApprovalWorkflow"): string {
  return checkedName(component, "state machine", namePrefix ?? defaultNamePrefix(), 80);
}

export class ApprovalWorkflow extends pulumi.ComponentResource {
  readonly stateMachine: aws.sfn.StateMachine;
  readonly role: aws.iam.Role;
  readonly logGroup: aws.cloudwatch.LogGroup;
  readonly definition: pulumi.Output<string>;
  readonly failedExecutionsAlarm: aws.cloudwatch.MetricAlarm;
  /** Reminders and escalation: their topics, publish-failure alarm and role statement. */
  /** Reminders and escalation, when any stage has them. */
  readonly followUps?: StageFollowUps;

  constructor(name: string, args: ApprovalWorkflowArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sfn-approvals:index:ApprovalWorkflow", name, {}, opts);
    const names = args.stages.map((s) => s.stage);
    if (names.length < 1 || names.length > 5) throw new Error(`ApprovalWorkflow ${name}: needs 1 to 5 stages, got ${names.length}`);
    if (new Set(names).size !== names.length) throw new Error(`ApprovalWorkflow ${name}: stage names must be unique, got ${names.join(", ")}`);
    if (args.autoApproveBelow !== undefined && !(args.autoApproveBelow > 0)) {
      throw new Error(`ApprovalWorkflow ${name}: autoApproveBelow must be a positive number, got ${args.autoApproveBelow}`);
    }
    // Checked here, not only when the definition is assembled (inside an apply that waits for the
    // stages' ARNs), so that `pulumi preview` already refuses it.
    checkExecutionLength(args.stages.map((s) => ({ stage: s.stage, maxWaitSeconds: s.maxWaitSeconds })));
    const parent = { parent: this };
    const { accountId, region, partition } = accountFacts(parent);
    const stateMachineName = workflowStateMachineName(args.namePrefix, `ApprovalWorkflow ${name}`);

    const followUpArgs = { stages: args.stages, followUps: args.followUps ?? {}, stateMachineName, alarmActions: args.alarmActions, owner: `ApprovalWorkflow ${name}` };
    if (StageFollowUps.check(followUpArgs).length > 0) this.followUps = new StageFollowUps(name, followUpArgs, parent);
    const followUps = this.followUps;
    const tasks = args.stages.map((stage) => ({ stage, task: stage.taskState(stageTaskOptions(stage.stage, followUps?.has(stage.stage) ?? false)) }));
    const followUpsByStage = pulumi.all(args.stages.map((stage) => followUps?.states(stage.stage) ?? pulumi.output(undefined)));
    this.definition = pulumi.all([pulumi.all(tasks.map((t) => t.task.states)), followUpsByStage]).apply(([allStates, followUps]) => JSON.stringify(assembleWorkflowDefinition({
      autoApproveBelow: args.autoApproveBelow,
      stages: tasks.map((t, i) => ({
        stage: t.stage.stage,
        mechanism: t.stage.mechanism,
        states: allStates[i],
        maxWaitSeconds: t.stage.maxWaitSeconds,
        ...(followUps[i] ? { followUp: followUps[i] } : {}),
      })),
    }), null, 2));

    this.logGroup = new aws.cloudwatch.LogGroup(`${name}-logs`, {
      name: `/aws/vendedlogs/states/${stateMachineName}`,
      retentionInDays: LOG_RETENTION_DAYS,
    }, parent);

    this.role = new aws.iam.Role(`${name}-role`, {
      description: `Runs the ${stateMachineName} approval state machine`,
      assumeRolePolicy: serviceTrustPolicy("states.amazonaws.com", {
        StringEquals: { "aws:SourceAccount": accountId },
        ArnLike: { "aws:SourceArn": pulumi.interpolate`arn:${partition}:states:${region}:${accountId}:stateMachine:${stateMachineName}` },
      }),
    }, parent);
    // The key's policy names this role (the last principal it needs); the role's own policy says the same.
    args.dataKey?.allowExecutionRole(this.role.arn);
    const keyStatements = args.dataKey ? args.dataKey.executionRoleStatements() : pulumi.output([] as PolicyStatement[]);
    const policy = new aws.iam.RolePolicy(`${name}-policy`, {
      role: this.role.id,
      policy: policyDocument(pulumi.all([pulumi.all(tasks.map((t) => t.task.statements)), followUps?.statements ?? pulumi.output([] as PolicyStatement[]), keyStatements]).apply(([lists, publish, kms]) => [
        ...lists.flat(),
        ...publish,
        LOG_DELIVERY_STATEMENT,
        ...kms,
      ])),
    }, parent);

    this.stateMachine = new aws.sfn.StateMachine(`${name}-state-machine`, {
      name: stateMachineName,
      type: "STANDARD",
      roleArn: this.role.arn,
      definition: this.definition,
      // Every transition is logged, without execution data: state inputs carry task tokens.
      loggingConfiguration: {
        level: "ALL",
        includeExecutionData: false,
        logDestination: pulumi.interpolate`${this.logGroup.arn}:*`,
      },
      // Reading the history then takes kms:Decrypt, which only the key policy's principals have.
      ...(args.dataKey ? { encryptionConfiguration: args.dataKey.encryptionConfiguration } : {}),
    }, { parent: this, dependsOn: [policy] });

    for (const stage of args.stages) stage.grantTaskResponse(this.stateMachine.arn);

    // Failed executions are errors (a malformed request, a broken stage), never decisions.
    this.failedExecutionsAlarm = anyOccurrenceAlarm(`${name}-failed-alarm`, {
      description: `Executions of ${stateMachineName} failed: a malformed request or a broken approval stage`,
      namespace: "AWS/States",
      metricName: "ExecutionsFailed",
      dimensions: { StateMachineArn: this.stateMachine.arn },
      statistic: "Sum",
      alarmActions: args.alarmActions,
    }, parent);
    this.registerOutputs({ stateMachineArn: this.stateMachine.arn });
  }
}
