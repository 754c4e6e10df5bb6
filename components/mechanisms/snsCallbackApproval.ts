// The sns-callback mechanism: Step Functions publishes the approval email itself
// (sns:publish.waitForTaskToken, no Lambda on the send path); the link carries the token in
// base64url (States.Base64Encode's '+', '/' and '=' would break it) and opens the approval page.
// Flow and diagram: docs/mechanisms/sns-callback.md.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { JSONATA_LINE_BREAKS, Mechanism, timedOutStateName } from "../../functions/contract";
import { ApprovalStage, ApprovalTaskState, stageStackOutput } from "./approvalStage";
import {
  AslStates,
  JSONATA_ONE_LINE,
  TaskStateOptions,
  jsonataResultPath,
  jsonataString,
  timedOutState,
} from "../workflow/asl";
import { EmailApprovalArgs, approverTopic } from "./emailLinkApproval";
import { CATCH_OUTPUT_WITH_FAILURE } from "../workflow/auditStates";
import {
  capacityErrors,
  capacityRetrier,
  noCapacityState,
  noCapacityStateName,
  wantedCapacityWaitSeconds,
} from "./capacityRetry";

export class SnsCallbackApproval extends pulumi.ComponentResource implements ApprovalStage {
  readonly stage: string;
  readonly mechanism: Mechanism = "sns-callback";
  readonly maxWaitSeconds: number;
  readonly topic: aws.sns.Topic;
  readonly reminderTopicArn?: pulumi.Output<string>;
  readonly stackOutput: pulumi.Output<Record<string, string>>;
  private readonly approvalPageUrl: pulumi.Input<string>;

  constructor(name: string, args: EmailApprovalArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sfn-approvals:index:SnsCallbackApproval", name, {}, opts);
    this.stage = args.stage;
    this.maxWaitSeconds = args.timeoutSeconds;
    this.approvalPageUrl = args.approvalPageUrl;
    this.topic = approverTopic("SnsCallbackApproval", name, args, this);
    // Reminders go to the approvers, who hold the approval link.
    this.reminderTopicArn = this.topic.arn;
    this.stackOutput = stageStackOutput({ topicArn: this.topic.arn, approvalPageUrl: args.approvalPageUrl });
    this.registerOutputs({ topicArn: this.topic.arn });
  }

  taskState(options: TaskStateOptions): ApprovalTaskState {
    return {
      states: pulumi.all([this.topic.arn, this.approvalPageUrl]).apply(([topicArn, pageUrl]) =>
        snsCallbackTaskStates({
          options,
          topicArn,
          pageUrl,
          stage: this.stage,
          timeoutSeconds: this.maxWaitSeconds,
        }),
      ),
      statements: pulumi.output([
        {
          Sid: `PublishApprovalEmail${this.stage.replace(/[^a-z0-9]/gi, "")}`,
          Effect: "Allow" as const,
          Action: ["sns:Publish"],
          Resource: [this.topic.arn],
        },
      ]),
    };
  }

  /** The decision comes from the ApprovalPage, which holds its own rights on the state machine. */
  grantTaskResponse(): void {
    // Nothing to grant here: the page's function may answer tasks of the workflow's state machine.
  }
}

/**
 * Base64url (RFC 4648 section 5, no padding) of the task token, in JSONata: the same text as
 * encodeToken() in functions/mechanisms/email/approvalLink.ts. JSONPath intrinsics cannot do this (States.Base64Encode
 * yields '+', '/' and '='; there is no replace intrinsic), which is why this one state uses JSONata.
 */
export const JSONATA_URL_SAFE_TOKEN =
  "$replace($replace($replace($base64encode($states.context.Task.Token), '+', '-'), '/', '_'), '=', '')";

/**
 * The sns-callback Task (`sns:publish.waitForTaskToken`): Step Functions itself publishes the
 * approval email to the stage's topic, with the approval link holding the URL-safe token, and
 * waits for the approval page's SendTaskSuccess. No Lambda on the send path. The state is JSONata
 * (the rest of the workflow stays JSONPath): its Output writes the decision where ResultPath
 * would, and a timeout keeps the input (`$states.input`) for the `timed_out` Pass state.
 */
export function snsCallbackTaskStates(args: {
  options: TaskStateOptions;
  topicArn: string;
  pageUrl: string;
  stage: string;
  timeoutSeconds: number;
}): AslStates {
  const { options, stage } = args;
  if (options.requestPath !== "$.request")
    throw new Error(`snsCallbackTaskStates: the request must be at $.request, not ${options.requestPath}`);
  const timedOut = timedOutStateName(options.stateName);
  const noCapacity = noCapacityStateName(options.stateName);
  // Throttled publishes are retried for about the stage's timeout, then the stage ends timed_out.
  const retry = capacityRetrier(
    capacityErrors("sns-callback"),
    options.capacityWaitSeconds ?? wantedCapacityWaitSeconds("sns-callback", args.timeoutSeconds),
  );
  const str = jsonataString;
  // Every value from the request is turned into text with $string (a number or an object stays
  // readable); the subject loses line breaks and control characters and keeps at most 99 characters
  // (SNS Publish: "UTF-8 text with no line breaks or control characters, and less than 100 characters").
  const message = [
    "(",
    "$r := $states.input.request;",
    // One-line fields lose line breaks and control characters (as oneLine() in functions/mechanisms/email/emailLink.ts).
    JSONATA_ONE_LINE,
    `$link := ${str(`${args.pageUrl}?t=`)} & ${JSONATA_URL_SAFE_TOKEN} & '&e=' & $encodeUrlComponent($states.context.Execution.Id) & ${str(`&s=${stage}`)};`,
    `$deadline := $fromMillis($toMillis($states.context.State.EnteredTime) + ${args.timeoutSeconds * 1000});`,
    "$line := function($label, $value) { $exists($value) ? $label & ': ' & $one($value) & '\\n' : '' };",
    "'Approval requested: ' & $one($r.title) & '\\n'",
    "& $line('Request', $r.requestId) & $line('Requester', $r.requester)",
    "& ($exists($r.amount) ? 'Amount: ' & $string($r.amount) & ($exists($r.currency) ? ' ' & $one($r.currency) : '') & '\\n' : '')",
    "& $line('Link', $r.link)",
    "& ($exists($r.details) ? 'Details: ' & $substring($string($r.details), 0, 2000) & '\\n' : '')",
    `& '\\nWorkflow: ' & $states.context.StateMachine.Name & '\\nExecution: ' & $states.context.Execution.Name & ${str(`\nStage: ${stage}\n`)}`,
    "& 'Decide by: ' & $deadline & '\\n\\n'",
    "& 'Review the request and approve or reject it here:\\n' & $link & '\\n\\n'",
    `& ${str("Opening the link decides nothing: the page shows the request and asks you to press Approve or Reject. The link stops working once someone decides or the request expires. Anyone who has this email can decide, so do not forward it.\n")}`,
    ")",
  ].join(" ");
  const subject = `$substring($replace('Approval needed: ' & $string($states.input.request.title), ${JSONATA_LINE_BREAKS}, ' '), 0, 99)`;
  return {
    [options.stateName]: {
      Type: "Task",
      QueryLanguage: "JSONata",
      Comment: `Approval stage '${stage}' (sns-callback): publishes the approval email and waits for the decision`,
      Resource: "arn:aws:states:::sns:publish.waitForTaskToken",
      Arguments: {
        TopicArn: args.topicArn,
        Subject: `{% ${subject} %}`,
        Message: `{% ${message} %}`,
      },
      TimeoutSeconds: args.timeoutSeconds,
      Output: `{% ${jsonataResultPath(options.resultPath, "$states.result")} %}`,
      Retry: [retry],
      Catch: [
        { ErrorEquals: ["States.Timeout"], Output: "{% $states.input %}", Next: timedOut },
        // Keeps the input and adds {Error, Cause} as `failure`, for the Pass to name the error.
        { ErrorEquals: [...retry.ErrorEquals], Output: CATCH_OUTPUT_WITH_FAILURE, Next: noCapacity },
      ],
      Next: options.next,
    },
    [timedOut]: timedOutState(stage, "sns-callback", options.resultPath, options.next),
    [noCapacity]: noCapacityState({
      stage,
      mechanism: "sns-callback",
      errorPath: "$.failure.Error",
      resultPath: options.resultPath,
      next: options.next,
    }),
  };
}
