// Reminders and escalation for a waiting stage, from Step Functions states (no scheduler; a slack
// stage's reminders invoke its follow-up function, the others publish to SNS): the stage's Task runs in a Parallel state beside a reminder branch and an escalation
// branch (diagram: docs/follow-ups.md). The decision branch ends in a Fail carrying the decision, so
// a decision or a timeout stops the other branches at once; any other error of that branch fails
// the execution as without follow-ups, and nothing is approved. A reminder or escalation that cannot
// be published is retried, then skipped: a broken notification never ends a pending approval.
import {
  INVALID_DECISION_ERROR,
  JSONATA_LINE_BREAKS,
  Mechanism,
  STAGE_DECIDED_ERROR,
  followUpStateNames,
} from "../../functions/contract";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { EscalationTargets, StageConfig } from "../config";
import { ApprovalStage } from "../mechanisms/approvalStage";
import { MECHANISM_DEFINITIONS } from "../mechanisms";
import { FOLLOW_UP_RETRY, FOLLOW_UP_TASK_TIMEOUT_SECONDS } from "../mechanisms/slackApproval";
import { anyOccurrenceAlarm } from "../shared/alarms";
import { PolicyStatement } from "../shared/iam";
import { checkedName } from "../shared/naming";
import { emailTopic } from "../shared/topics";
import {
  AslBranch,
  AslState,
  AslStates,
  JSONATA_ONE_LINE,
  TaskStateOptions,
  jsonataString,
  numericLessThan,
  when,
} from "./asl";

/** Resolved (ARNs known) follow-ups of one stage. */
export interface StageFollowUp {
  remindEverySeconds?: number;
  /** At most this many reminders (the branch then ends): floor of the stage's wait over remindEvery, less one at the timeout itself. */
  maxReminders?: number;
  /** Where reminders go: the stage's own topic (its notify addresses or, for email stages, its approvers). */
  reminderTopicArn?: string;
  /** Or the function that reminds (a slack stage's follow-up function: a reply in the message's thread). */
  reminderFunctionArn?: string;
  escalateAfterSeconds?: number;
  escalateAfterPercent?: number;
  /** Topics told once escalateAfterSeconds have passed, in this order. */
  escalationTopicArns?: string[];
}

/** Publishing is retried a few times (throttling, a brief outage), then given up for this round. */
export const PUBLISH_RETRY = {
  ErrorEquals: ["States.ALL"],
  IntervalSeconds: 5,
  MaxAttempts: 3,
  BackoffRate: 2,
};
const PUBLISH_TIMEOUT_SECONDS = 60;
const KEEP_INPUT = "{% $states.input %}";

/** A JSONata subject: `prefix` and the request title on one line, at most 99 characters (SNS allows fewer than 100). */
function subjectExpression(prefix: string): string {
  return `{% $substring($replace(${jsonataString(prefix)} & $string($states.input.request.title), ${JSONATA_LINE_BREAKS}, ' '), 0, 99) %}`;
}

/** A JSONata message: `lines` (JSONata string expressions) joined by line breaks, request fields cut to one line. */
function messageExpression(lines: string[]): string {
  return [
    "{% (",
    "$r := $states.input.request;",
    JSONATA_ONE_LINE,
    "$line := function($label, $value) { $exists($value) ? $label & ': ' & $one($value) & '\\n' : '' };",
    lines.join(" & "),
    ") %}",
  ].join(" ");
}

const REQUEST_LINES = [
  "'Request: ' & $one($r.title) & '\\n'",
  "$line('Request ID', $r.requestId)",
  "$line('Requester', $r.requester)",
  "($exists($r.amount) ? 'Amount: ' & $string($r.amount) & ($exists($r.currency) ? ' ' & $one($r.currency) : '') & '\\n' : '')",
  "$line('Link', $r.link)",
  "'Workflow: ' & $states.context.StateMachine.Name & '\\n'",
  "'Execution: ' & $states.context.Execution.Name & '\\n'",
  "'Requested at: ' & $states.context.Execution.StartTime & '\\n'",
];

function publishState(args: {
  comment: string;
  topicArn: string;
  subject: string;
  message: string;
  next: string;
  notSent: string;
}): AslState {
  return {
    Type: "Task",
    QueryLanguage: "JSONata",
    Comment: args.comment,
    Resource: "arn:aws:states:::sns:publish",
    Arguments: { TopicArn: args.topicArn, Subject: args.subject, Message: args.message },
    TimeoutSeconds: PUBLISH_TIMEOUT_SECONDS,
    // The branch's data stays the stage's input (the publish result is not needed).
    Output: KEEP_INPUT,
    Retry: [PUBLISH_RETRY],
    Catch: [{ ErrorEquals: ["States.ALL"], Output: KEEP_INPUT, Next: args.notSent }],
    Next: args.next,
  };
}

/**
 * The reminder of a stage whose mechanism reminds by itself: invokes its function with
 * { action: "remind", stage, executionArn } (the function finds the request and its approvers).
 */
function remindState(args: { stage: string; functionArn: string; next: string; notSent: string }): AslState {
  return {
    Type: "Task",
    QueryLanguage: "JSONata",
    Comment: `Reminds the approvers of stage '${args.stage}' who have not voted that a decision is still needed`,
    Resource: "arn:aws:states:::lambda:invoke",
    Arguments: {
      FunctionName: args.functionArn,
      Payload: { action: "remind", stage: args.stage, executionArn: "{% $states.context.Execution.Id %}" },
    },
    TimeoutSeconds: FOLLOW_UP_TASK_TIMEOUT_SECONDS,
    Output: KEEP_INPUT,
    Retry: [FOLLOW_UP_RETRY],
    Catch: [{ ErrorEquals: ["States.ALL"], Output: KEEP_INPUT, Next: args.notSent }],
    Next: args.next,
  };
}

export interface FollowUpArgs {
  stage: string;
  mechanism: Mechanism;
  /** Where the stage reads the request and writes its decision; `next` is the stage's Check state. */
  options: TaskStateOptions;
  /** The mechanism's states, built with `next` = followUpStateNames(stage).decided. */
  stageStates: AslStates;
  followUp: StageFollowUp;
  /** The stage timeout as configured ("3d"), for messages. */
  timeoutText: string;
  approvers: string[];
}

/** The stage with reminders and/or escalation: the Parallel state and the states that unwrap the decision. */
export function followUpStates(args: FollowUpArgs): AslStates {
  const { stage, options, followUp } = args;
  const names = followUpStateNames(stage);
  const str = jsonataString;
  if (!(options.stateName in args.stageStates))
    throw new Error(`followUpStates: stage '${stage}' has no state named '${options.stateName}'`);
  // Only the branch's own Fail may raise STAGE_DECIDED_ERROR. A Task could fail with that error
  // name too (SendTaskFailure accepts any error name from whoever holds the token): its Cause would
  // then pass for a decision. Every Task of the branch catches that error first and fails the
  // execution instead, so a failure can never become a decision.
  const guardedStates: AslStates = {};
  for (const [name, state] of Object.entries(args.stageStates)) {
    guardedStates[name] =
      state.Type !== "Task"
        ? state
        : {
            ...state,
            Catch: [
              state.QueryLanguage === "JSONata"
                ? { ErrorEquals: [STAGE_DECIDED_ERROR], Output: KEEP_INPUT, Next: names.forged }
                : { ErrorEquals: [STAGE_DECIDED_ERROR], ResultPath: null, Next: names.forged },
              ...(state.Catch ?? []),
            ],
          };
  }
  const branches: AslBranch[] = [
    {
      StartAt: options.stateName,
      States: {
        ...guardedStates,
        [names.forged]: {
          Type: "Fail",
          Comment: "A Task failed with the error name reserved for carrying decisions: refused, nothing is approved",
          Error: INVALID_DECISION_ERROR,
          Cause: `A Task of stage '${stage}' failed with the error ${STAGE_DECIDED_ERROR}, which only the workflow may raise; it is not a decision and nothing was approved.`,
        },
        [names.decided]: {
          Type: "Pass",
          Comment: "The decision (or timeout) as JSON text, to leave the Parallel as the Cause of the Fail below",
          Parameters: { "decision.$": `States.JsonToString(${options.resultPath})` },
          Next: names.decidedExit,
        },
        [names.decidedExit]: {
          Type: "Fail",
          Comment:
            "Ends the Parallel at once, which stops the reminder and escalation branches; the Parallel's Catch takes the decision on",
          Error: STAGE_DECIDED_ERROR,
          CausePath: "$.decision",
        },
      },
    },
  ];

  if (followUp.remindEverySeconds !== undefined) {
    if (!followUp.reminderTopicArn && !followUp.reminderFunctionArn)
      throw new Error(`followUpStates: stage '${stage}' has reminders but no topic or function to send them with`);
    const maxReminders = followUp.maxReminders ?? 0;
    if (!(Number.isInteger(maxReminders) && maxReminders >= 1))
      throw new Error(
        `followUpStates: stage '${stage}' needs maxReminders of at least 1, got ${followUp.maxReminders}`,
      );
    branches.push({
      StartAt: names.remindersStart,
      States: {
        [names.remindersStart]: {
          Type: "Pass",
          Comment: "The reminder branch keeps only the request and a count of reminders sent",
          Parameters: { "request.$": options.requestPath, sent: 0 },
          Next: names.reminderWait,
        },
        [names.reminderWait]: { Type: "Wait", Seconds: followUp.remindEverySeconds, Next: names.reminder },
        [names.reminder]: followUp.reminderFunctionArn
          ? remindState({
              stage,
              functionArn: followUp.reminderFunctionArn,
              next: names.reminderCount,
              notSent: names.reminderNotSent,
            })
          : publishState({
              comment: `Reminds the recipients of stage '${stage}' that a decision is still needed`,
              topicArn: followUp.reminderTopicArn!,
              subject: subjectExpression("Reminder: approval needed: "),
              message: messageExpression([
                str(`Reminder: this approval request is still waiting for a decision at stage '${stage}'.\n\n`),
                ...REQUEST_LINES,
                "'Reminder sent at: ' & $states.context.State.EnteredTime & '\\n\\n'",
                str(
                  `The stage times out ${args.timeoutText} after it started; without a decision the request ends as timed out.\n${MECHANISM_DEFINITIONS[args.mechanism].howToDecide}\n`,
                ),
              ]),
              next: names.reminderCount,
              notSent: names.reminderNotSent,
            }),
        [names.reminderNotSent]: {
          Type: "Pass",
          Comment:
            "The reminder could not be published (see the Task's failure above); the next one is tried on schedule",
          Next: names.reminderCount,
        },
        [names.reminderCount]: {
          Type: "Pass",
          Parameters: { "request.$": "$.request", "sent.$": "States.MathAdd($.sent, 1)" },
          Next: names.remindersLeft,
        },
        [names.remindersLeft]: {
          Type: "Choice",
          Choices: [when(numericLessThan("$.sent", maxReminders), names.reminderWait)],
          Default: names.remindersDone,
        },
        [names.remindersDone]: {
          Type: "Succeed",
          Comment: `${maxReminders} reminders sent; the decision branch goes on waiting until the timeout`,
        },
      },
    });
  }

  if (followUp.escalateAfterSeconds !== undefined) {
    const targets = followUp.escalationTopicArns ?? [];
    if (targets.length === 0) throw new Error(`followUpStates: stage '${stage}' escalates to nobody`);
    const states: AslStates = {
      [names.escalationWait]: { Type: "Wait", Seconds: followUp.escalateAfterSeconds, Next: names.escalation(1) },
    };
    targets.forEach((topicArn, i) => {
      const next = i + 1 < targets.length ? names.escalation(i + 2) : names.escalated;
      states[names.escalation(i + 1)] = publishState({
        comment: `Tells escalation target ${i + 1} of stage '${stage}' that the decision is overdue`,
        topicArn,
        subject: subjectExpression("Escalation: approval overdue: "),
        message: messageExpression([
          str(
            `Escalation: this approval request has waited ${followUp.escalateAfterPercent ?? "part"}% of its timeout at stage '${stage}' (${args.mechanism}) without a decision.\n\n`,
          ),
          ...REQUEST_LINES,
          str(
            `Approvers: ${args.approvers.join(", ")}\n\nThe stage times out ${args.timeoutText} after it started; without a decision the request ends as timed out.\n${MECHANISM_DEFINITIONS[args.mechanism].howToDecide}\nYou receive this because you are listed under escalateTo for this stage.\n`,
          ),
        ]),
        next,
        notSent: names.escalationNotSent(i + 1),
      });
      states[names.escalationNotSent(i + 1)] = {
        Type: "Pass",
        Comment: `The escalation to target ${i + 1} could not be published (see the Task's failure above)`,
        Next: next,
      };
    });
    states[names.escalated] = { Type: "Succeed", Comment: "Escalated once; the decision branch goes on waiting" };
    branches.push({ StartAt: names.escalationWait, States: states });
  }
  if (branches.length === 1) throw new Error(`followUpStates: stage '${stage}' has neither reminders nor escalation`);

  return {
    [names.wrapper]: {
      Type: "Parallel",
      Comment: `Stage '${stage}' with ${[followUp.remindEverySeconds !== undefined ? "reminders" : "", followUp.escalateAfterSeconds !== undefined ? "escalation" : ""].filter(Boolean).join(" and ")}: the decision ends every branch`,
      Branches: branches,
      // Never used: the decision branch always fails with STAGE_DECIDED_ERROR. Should the Parallel
      // ever succeed, $.decisions.<stage> is absent and the Check state refuses it.
      ResultPath: null,
      Catch: [{ ErrorEquals: [STAGE_DECIDED_ERROR], ResultPath: options.resultPath, Next: names.received }],
      Next: options.next,
    },
    [names.received]: {
      Type: "Pass",
      Comment: "The Catch wrote {Error, Cause}; the Cause is the decision as JSON text",
      Parameters: { "decision.$": `States.StringToJson(${options.resultPath}.Cause)` },
      ResultPath: options.resultPath,
      Next: names.unwrapped,
    },
    [names.unwrapped]: {
      Type: "Pass",
      InputPath: `${options.resultPath}.decision`,
      ResultPath: options.resultPath,
      Next: options.next,
    },
  };
}

/** A stage's reminders and escalation as configured (ARNs not yet known); see StageFollowUps. */
export interface WorkflowFollowUp {
  /** Reminds the stage's recipients (ApprovalStage.reminderTopicArn) at this interval while it waits. */
  remindEverySeconds?: number;
  /** Told once, escalateAfterSeconds after the stage started, if it is still waiting. */
  escalateTo?: EscalationTargets;
  escalateAfterSeconds?: number;
  escalateAfterPercent?: number;
  /** The stage's timeout as configured ("2d") and in seconds: reminders stop before it. */
  timeout: string;
  timeoutSeconds: number;
  approvers: string[];
}

/** The reminders and escalation of the configured stages, for ApprovalWorkflowArgs.followUps. */
export function stageFollowUps(stages: StageConfig[]): Record<string, WorkflowFollowUp> {
  const followUps: Record<string, WorkflowFollowUp> = {};
  for (const stage of stages) {
    if (stage.remindEverySeconds === undefined && stage.escalateTo === undefined) continue;
    followUps[stage.name] = {
      remindEverySeconds: stage.remindEverySeconds,
      ...(stage.escalateTo
        ? {
            escalateTo: stage.escalateTo,
            escalateAfterPercent: stage.escalateAfterPercent,
            // A share of the configured timeout (for an activity stage: of one wait, not of its retries).
            escalateAfterSeconds: Math.max(
              1,
              Math.round((stage.timeoutSeconds * (stage.escalateAfterPercent ?? 50)) / 100),
            ),
          }
        : {}),
      timeout: stage.timeout,
      timeoutSeconds: stage.timeoutSeconds,
      approvers: stage.approvers,
    };
  }
  return followUps;
}

/** What assembleWorkflowDefinition needs of a stage with follow-ups, once their topic ARNs are known. */
export type StageFollowUpStates = Pick<FollowUpArgs, "followUp" | "timeoutText" | "approvers">;

export interface StageFollowUpsArgs {
  /** The workflow's stages, in order. */
  stages: ApprovalStage[];
  /** By stage name; stages without remindEvery and escalateTo have none. */
  followUps: Record<string, WorkflowFollowUp>;
  /** The state machine's name: escalation topics are named after it. */
  stateMachineName: string;
  /** Where the publish-failure alarm publishes. */
  alarmActions?: pulumi.Input<string>[];
  /** Who refuses contradictory use in error messages ("ApprovalWorkflow approvals"). */
  owner: string;
}

/**
 * The reminders and escalation of a workflow's stages: their validation, the escalation topics
 * (with their email subscriptions), the state machine role's sns:Publish statement, the
 * publish-failure alarm, and each stage's settings for followUpStates.
 *
 * A child component of the workflow. Its resources keep their names and carry an alias to the
 * workflow, their parent before it existed, so a deployed stack keeps its escalation topics (a new
 * topic would ask every address to confirm its subscription again). Pulumi: "aliases" option,
 * `{ parent: oldParent }` (https://www.pulumi.com/docs/iac/operations/stack-management/refactoring-with-aliases/).
 */
export class StageFollowUps extends pulumi.ComponentResource {
  /** Per stage with emails under escalateTo: the topic they are subscribed to. */
  readonly escalationTopics: Record<string, aws.sns.Topic> = {};
  /** When any stage has follow-ups: fires when a publish fails (see docs/follow-ups.md). */
  readonly publishAlarm?: aws.cloudwatch.MetricAlarm;
  /** What the state machine's role needs to publish them; none without follow-ups. */
  readonly statements: pulumi.Output<PolicyStatement[]>;
  private readonly byStage = new Map<string, pulumi.Output<StageFollowUpStates>>();

  /**
   * The follow-ups of a workflow's stages, or undefined when no stage has any. Throws (before any
   * resource exists) on contradictory use, so that `pulumi preview` refuses it.
   */
  static of(name: string, args: StageFollowUpsArgs, opts: { parent: pulumi.Resource }): StageFollowUps | undefined {
    const active = StageFollowUps.check(args);
    return active.length > 0 ? new StageFollowUps(name, args, active, opts) : undefined;
  }

  private constructor(
    name: string,
    args: StageFollowUpsArgs,
    active: Array<{ stage: ApprovalStage; followUp: WorkflowFollowUp }>,
    opts: { parent: pulumi.Resource },
  ) {
    super("sfn-approvals:index:StageFollowUps", `${name}-follow-ups`, {}, opts);
    const children = { parent: this, aliases: [{ parent: opts.parent }] };
    const topicLists: pulumi.Output<string[]>[] = [];
    for (const { stage, followUp } of active) {
      const settings = this.resolve(name, args, stage, followUp, children);
      this.byStage.set(
        stage.stage,
        settings.apply((s) => ({ followUp: s, timeoutText: followUp.timeout, approvers: followUp.approvers })),
      );
      topicLists.push(
        settings.apply((s) => [...(s.reminderTopicArn ? [s.reminderTopicArn] : []), ...(s.escalationTopicArns ?? [])]),
      );
    }
    this.statements = pulumi
      .all(topicLists)
      .apply((lists) => [...new Set(lists.flat())])
      .apply((topics): PolicyStatement[] =>
        topics.length > 0
          ? [{ Sid: "PublishRemindersAndEscalations", Effect: "Allow", Action: ["sns:Publish"], Resource: topics }]
          : [],
      );
    // A reminder or escalation that cannot be published is skipped (the approval goes on waiting),
    // so it must not go unnoticed. Step Functions counts failed service integrations per resource
    // ARN for the account and Region, not per state machine: other workflows' sns:publish failures
    // count too.
    if (topicLists.length > 0) {
      this.publishAlarm = anyOccurrenceAlarm(
        `${name}-follow-up-alarm`,
        {
          description: `Reminders or escalations of ${args.stateMachineName} could not be published to SNS (they were retried, then skipped); see the '... not sent' states in its executions. Counts every sns:publish Task of this account and Region.`,
          namespace: "AWS/States",
          metricName: "ServiceIntegrationsFailed",
          dimensions: { ServiceIntegrationResourceArn: "arn:aws:states:::sns:publish" },
          statistic: "Sum",
          alarmActions: args.alarmActions,
        },
        children,
      );
    }
    this.registerOutputs({});
  }

  /** The stages with follow-ups; throws on contradictory use. */
  private static check(args: StageFollowUpsArgs): Array<{ stage: ApprovalStage; followUp: WorkflowFollowUp }> {
    const names = args.stages.map((s) => s.stage);
    for (const stageName of Object.keys(args.followUps)) {
      if (!names.includes(stageName))
        throw new Error(`${args.owner}: followUps names stage '${stageName}', which is not one of ${names.join(", ")}`);
    }
    const active = args.stages.flatMap((stage) => {
      const followUp = args.followUps[stage.stage];
      return followUp && (followUp.remindEverySeconds !== undefined || followUp.escalateTo !== undefined)
        ? [{ stage, followUp }]
        : [];
    });
    for (const { stage, followUp } of active) {
      const at = `${args.owner}, stage '${stage.stage}'`;
      if (followUp.remindEverySeconds !== undefined) {
        if (!stage.reminderTopicArn && !stage.reminderFunctionArn)
          throw new pulumi.RunError(
            `${at}: remindEvery is set, but the ${stage.mechanism} stage has nobody to remind (no notify addresses)`,
          );
        if (!(
          followUp.remindEverySeconds > 0 &&
          followUp.remindEverySeconds < followUp.timeoutSeconds &&
          followUp.timeoutSeconds <= stage.maxWaitSeconds
        )) {
          throw new pulumi.RunError(
            `${at}: remindEvery must be a positive number of seconds shorter than the stage's timeout (${followUp.timeoutSeconds}s, at most its wait of ${stage.maxWaitSeconds}s), got ${followUp.remindEverySeconds}`,
          );
        }
      }
      if (followUp.escalateTo !== undefined) {
        const { emails, topicArns } = followUp.escalateTo;
        if (emails.length + topicArns.length === 0) throw new pulumi.RunError(`${at}: escalateTo lists nobody`);
        if (
          followUp.escalateAfterSeconds === undefined ||
          !(followUp.escalateAfterSeconds > 0 && followUp.escalateAfterSeconds < stage.maxWaitSeconds)
        ) {
          throw new pulumi.RunError(
            `${at}: escalateAfterSeconds must be a positive number of seconds shorter than the stage's wait (${stage.maxWaitSeconds}s), got ${followUp.escalateAfterSeconds}`,
          );
        }
      } else if (followUp.escalateAfterSeconds !== undefined) {
        throw new pulumi.RunError(`${at}: escalateAfterSeconds is set without escalateTo`);
      }
    }
    return active;
  }

  /** Whether the stage waits beside reminders or escalation (its Task is then built with stageTaskOptions(stage, true)). */
  has(stage: string): boolean {
    return this.byStage.has(stage);
  }

  /** The stage's follow-ups for assembleWorkflowDefinition; undefined for a stage without. */
  states(stage: string): pulumi.Output<StageFollowUpStates | undefined> {
    return this.byStage.get(stage) ?? pulumi.output(undefined);
  }

  /** Creates one stage's escalation email topic and resolves its settings for followUpStates. */
  private resolve(
    name: string,
    args: StageFollowUpsArgs,
    stage: ApprovalStage,
    followUp: WorkflowFollowUp,
    children: { parent: pulumi.Resource; aliases: Array<{ parent: pulumi.Resource }> },
  ): pulumi.Output<StageFollowUp> {
    const at = `${args.owner}, stage '${stage.stage}'`;
    const escalation: pulumi.Output<string>[] = [];
    if (followUp.escalateTo !== undefined) {
      const { emails, topicArns } = followUp.escalateTo;
      if (emails.length > 0) {
        const topic = emailTopic({
          resourceName: `${name}-${stage.stage}-escalation`,
          subscriptionPrefix: `${name}-${stage.stage}-escalation`,
          topicName: checkedName(at, "SNS topic", `${args.stateMachineName}-${stage.stage}-escalation`, 256),
          displayName: `Approvals overdue (${stage.stage})`,
          emails,
          parent: children.parent,
          formerParent: children.aliases[0].parent,
        });
        this.escalationTopics[stage.stage] = topic;
        escalation.push(topic.arn);
      }
      escalation.push(...topicArns.map((arn) => pulumi.output(arn)));
    }
    // A stage that reminds with its own function does so instead of a topic.
    const reminds = followUp.remindEverySeconds !== undefined;
    const reminderFunction =
      reminds && stage.reminderFunctionArn ? stage.reminderFunctionArn : pulumi.output(undefined);
    const reminderTopic = reminds && !stage.reminderFunctionArn ? stage.reminderTopicArn! : pulumi.output(undefined);
    return pulumi
      .all([reminderTopic, reminderFunction, pulumi.all(escalation)])
      .apply(([reminderTopicArn, reminderFunctionArn, escalationTopicArns]): StageFollowUp => ({
        ...(followUp.remindEverySeconds !== undefined
          ? {
              remindEverySeconds: followUp.remindEverySeconds,
              // Reminders that fall before the configured timeout (not the mechanism's extra grace
              // period, nor an activity's waits after a release); none at the very moment it passes.
              maxReminders: Math.max(1, Math.floor((followUp.timeoutSeconds - 1) / followUp.remindEverySeconds)),
              ...(reminderFunctionArn ? { reminderFunctionArn } : { reminderTopicArn }),
            }
          : {}),
        ...(followUp.escalateTo !== undefined
          ? {
              escalateAfterSeconds: followUp.escalateAfterSeconds,
              escalateAfterPercent: followUp.escalateAfterPercent,
              escalationTopicArns,
            }
          : {}),
      }));
  }
}
