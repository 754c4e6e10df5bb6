// The STANDARD state machine of a stack (its definition: components/workflow/definition.ts), its
// role, logs, alarm and key grants. Other workflows can call it with states:startExecution.sync:2
// to get an approval.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { anyOccurrenceAlarm } from "../shared/alarms";
import { ApprovalStage } from "../mechanisms/approvalStage";
import { allotCapacityWaits, assembleWorkflowDefinition, checkExecutionLength, stageTaskOptions } from "./definition";
import { wantedCapacityWaitSeconds } from "../mechanisms/capacityRetry";
import { LOG_RETENTION_DAYS } from "../shared/approvalFunction";
import { PolicyStatement, accountFacts, policyDocument, serviceTrustPolicy } from "../shared/iam";
import { checkedName, defaultNamePrefix } from "../shared/naming";
import { StageFollowUps, WorkflowFollowUp } from "./stageFollowUps";
import { ExecutionDataKey } from "./executionDataKey";
import { AuditRecording } from "./auditStates";

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
  /** Reminders and escalation, by stage name (see components/workflow/stageFollowUps.ts). */
  followUps?: Record<string, WorkflowFollowUp>;
  /** Encrypts the definition and execution history (with the stages' activities); its policy gets the execution role. */
  dataKey?: ExecutionDataKey;
  /** Where the workflow writes its decision record (docs/audit.md); absent: no record. */
  audit?: WorkflowAudit;
}

/** The decision record's bucket, as the workflow needs it. */
export interface WorkflowAudit {
  bucketName: pulumi.Input<string>;
  /** What the execution role needs to write a record. */
  writeStatements: pulumi.Input<PolicyStatement[]>;
  /** Each stage's approvers as configured (a decision record names them). */
  approvers: Record<string, string[]>;
  /** The store: the state machine waits for all of it (retention and bucket policy) to exist. */
  store?: pulumi.Resource;
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/**
 * The workflow's version as the record names it: a digest of the definition without its record
 * states and of every stage's approvers, so a new approver list or a changed stage is a new version.
 */
export function workflowVersionOf(definitionWithoutRecord: string, approvers: Record<string, string[]>): string {
  return sha256(JSON.stringify({ definition: definitionWithoutRecord, approvers })).slice(0, 16);
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
  /** Digest of the stages and their approvers, named by every decision record. */
  readonly workflowVersion: pulumi.Output<string>;
  /** SHA-256 (hex) of the definition the stack deploys (`npm run doctor` compares the live one). */
  readonly definitionSha256: pulumi.Output<string>;
  readonly failedExecutionsAlarm: aws.cloudwatch.MetricAlarm;
  /** Reminders and escalation (their topics, publish-failure alarm and role statement), when any stage has them. */
  readonly followUps?: StageFollowUps;

  constructor(name: string, args: ApprovalWorkflowArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sfn-approvals:index:ApprovalWorkflow", name, {}, opts);
    const names = args.stages.map((s) => s.stage);
    if (names.length < 1 || names.length > 5)
      throw new Error(`ApprovalWorkflow ${name}: needs 1 to 5 stages, got ${names.length}`);
    if (new Set(names).size !== names.length)
      throw new Error(`ApprovalWorkflow ${name}: stage names must be unique, got ${names.join(", ")}`);
    if (args.autoApproveBelow !== undefined && !(args.autoApproveBelow > 0)) {
      throw new Error(
        `ApprovalWorkflow ${name}: autoApproveBelow must be a positive number, got ${args.autoApproveBelow}`,
      );
    }
    // Checked here, not only when the definition is assembled (inside an apply that waits for the
    // stages' ARNs), so that `pulumi preview` already refuses it.
    const lengths = args.stages.map((s) => ({
      stage: s.stage,
      maxWaitSeconds: s.maxWaitSeconds,
      ...(s.afterWaitSeconds !== undefined ? { afterWaitSeconds: s.afterWaitSeconds } : {}),
    }));
    // Each stage's start may wait for capacity (capacityRetry.ts) as long as the year leaves room.
    const capacityWaits = allotCapacityWaits(
      lengths.map((l, i) => ({ ...l, wanted: wantedCapacityWaitSeconds(args.stages[i].mechanism, l.maxWaitSeconds) })),
      args.audit !== undefined,
    );
    checkExecutionLength(
      lengths.map((l, i) => ({ ...l, capacityWaitSeconds: capacityWaits[i] })),
      args.audit !== undefined,
    );
    const parent = { parent: this };
    const { accountId, region, partition } = accountFacts(parent);
    const stateMachineName = workflowStateMachineName(args.namePrefix, `ApprovalWorkflow ${name}`);

    const followUpArgs = {
      stages: args.stages,
      followUps: args.followUps ?? {},
      stateMachineName,
      alarmActions: args.alarmActions,
      owner: `ApprovalWorkflow ${name}`,
    };
    this.followUps = StageFollowUps.of(name, followUpArgs, parent);
    const followUps = this.followUps;
    const tasks = args.stages.map((stage, i) => ({
      stage,
      capacityWaitSeconds: capacityWaits[i],
      task: stage.taskState(stageTaskOptions(stage.stage, followUps?.has(stage.stage) ?? false, capacityWaits[i])),
    }));
    const followUpsByStage = pulumi.all(
      args.stages.map((stage) => followUps?.states(stage.stage) ?? pulumi.output(undefined)),
    );
    const assembled = pulumi
      .all([pulumi.all(tasks.map((t) => t.task.states)), followUpsByStage, args.audit?.bucketName])
      .apply(([allStates, followUps, bucket]) => {
        const assemble = (audit?: AuditRecording) =>
          JSON.stringify(
            assembleWorkflowDefinition({
              autoApproveBelow: args.autoApproveBelow,
              stages: tasks.map((t, i) => ({
                stage: t.stage.stage,
                mechanism: t.stage.mechanism,
                states: allStates[i],
                maxWaitSeconds: t.stage.maxWaitSeconds,
                ...(t.stage.afterWaitSeconds !== undefined ? { afterWaitSeconds: t.stage.afterWaitSeconds } : {}),
                capacityWaitSeconds: t.capacityWaitSeconds,
                ...(followUps[i] ? { followUp: followUps[i] } : {}),
              })),
              ...(audit ? { audit } : {}),
            }),
            null,
            2,
          );
        const withoutRecord = assemble();
        const version = workflowVersionOf(withoutRecord, args.audit?.approvers ?? {});
        const definition =
          args.audit && bucket
            ? assemble({ bucket, workflowVersion: version, approvers: args.audit.approvers })
            : withoutRecord;
        return { definition, version };
      });
    this.definition = assembled.definition;
    this.workflowVersion = assembled.version;
    this.definitionSha256 = assembled.definition.apply(sha256);

    this.logGroup = new aws.cloudwatch.LogGroup(
      `${name}-logs`,
      {
        name: `/aws/vendedlogs/states/${stateMachineName}`,
        retentionInDays: LOG_RETENTION_DAYS,
      },
      parent,
    );

    this.role = new aws.iam.Role(
      `${name}-role`,
      {
        description: `Runs the ${stateMachineName} approval state machine`,
        assumeRolePolicy: serviceTrustPolicy("states.amazonaws.com", {
          StringEquals: { "aws:SourceAccount": accountId },
          // Executions started through the alias run a version; whether their SourceArn is qualified
          // (":<version>") no source says (docs/unknowns.md), so both forms of this state machine pass.
          ArnLike: {
            "aws:SourceArn": [
              pulumi.interpolate`arn:${partition}:states:${region}:${accountId}:stateMachine:${stateMachineName}`,
              pulumi.interpolate`arn:${partition}:states:${region}:${accountId}:stateMachine:${stateMachineName}:*`,
            ],
          },
        }),
      },
      parent,
    );
    // The key's policy names this role (the last principal it needs); the role's own policy says the same.
    args.dataKey?.allowExecutionRole(this.role.arn);
    const keyStatements = args.dataKey
      ? args.dataKey.executionRoleStatements()
      : pulumi.output([] as PolicyStatement[]);
    const policy = new aws.iam.RolePolicy(
      `${name}-policy`,
      {
        role: this.role.id,
        policy: policyDocument(
          pulumi
            .all([
              pulumi.all(tasks.map((t) => t.task.statements)),
              followUps?.statements ?? pulumi.output([] as PolicyStatement[]),
              keyStatements,
              args.audit?.writeStatements ?? [],
            ])
            .apply(([lists, publish, kms, audit]) => [
              ...lists.flat(),
              ...publish,
              LOG_DELIVERY_STATEMENT,
              ...kms,
              ...audit,
            ]),
        ),
      },
      parent,
    );

    this.stateMachine = new aws.sfn.StateMachine(
      `${name}-state-machine`,
      {
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
      },
      { parent: this, dependsOn: [policy, ...(args.audit?.store ? [args.audit.store] : [])] },
    );

    for (const stage of args.stages) stage.grantTaskResponse(this.stateMachine.arn);

    // Failed executions are errors (a malformed request, a broken stage), never decisions.
    this.failedExecutionsAlarm = anyOccurrenceAlarm(
      `${name}-failed-alarm`,
      {
        description: `Executions of ${stateMachineName} failed: a malformed request or a broken approval stage`,
        namespace: "AWS/States",
        metricName: "ExecutionsFailed",
        dimensions: { StateMachineArn: this.stateMachine.arn },
        statistic: "Sum",
        alarmActions: args.alarmActions,
      },
      parent,
    );
    this.registerOutputs({ stateMachineArn: this.stateMachine.arn });
  }
}
