// The error names a stage's start Task fails with when a quota or a throttle refused it: what the
// workflow's capacity Retry matches (components/mechanisms), and what `approvals show` reads as
// "waiting for capacity" (scripts/lib/executionStatus.ts). One list for both; no Pulumi import, so
// the command-line tools can load it. Never States.ALL, States.TaskFailed or Error: a start
// function's own refusals are plain Errors (name "Error") and stay permanent.
import type { Mechanism } from "../contract";

/**
 * A throttled invoke of the start function: the function never ran ("When Lambda hits the maximum
 * number of invocations, the error is Lambda.TooManyRequestsException",
 * https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html).
 */
export const LAMBDA_THROTTLED = "Lambda.TooManyRequestsException";

/**
 * DynamoDB's throttling errors (@aws-sdk/client-dynamodb models/errors.d.ts:
 * ProvisionedThroughputExceededException, RequestLimitExceeded "Throughput exceeds the current
 * throughput quota for your account", ThrottlingException "The request was denied due to request
 * throttling"). Secrets Manager's throttle is the same unmodeled ThrottlingException.
 */
export const DYNAMODB_THROTTLED: readonly string[] = [
  "ProvisionedThroughputExceededException",
  "RequestLimitExceeded",
  "ThrottlingException",
];

/**
 * Per mechanism, the names its start path raises when a quota or a throttle refuses it, and
 * nothing else. A start function's error keeps its `name` through redactedError
 * (functions/shared/redact.ts), and Step Functions reports that name as the Task's error.
 */
export const CAPACITY_ERRORS: Record<Exclude<Mechanism, "activity">, readonly string[]> = {
  // StartAutomationExecution (@aws-sdk/client-ssm errors.d.ts): AutomationExecutionLimitExceededException
  // "The number of simultaneously running Automation executions exceeded the allowable limit";
  // ThrottlingException "the service is throttling requests". Past 100 running automations SSM
  // queues them (Pending): that start succeeds.
  "ssm-automation": [LAMBDA_THROTTLED, "AutomationExecutionLimitExceededException", "ThrottlingException"],
  // StartPipelineExecution (@aws-sdk/client-codepipeline errors.d.ts): "The pipeline has reached the
  // limit for concurrent pipeline executions"; ConflictException "the pipeline is busy handling
  // ongoing activities. Try again later"; DynamoDB's names come only from the token record written
  // before the start (the bind after it renames its errors: functions/mechanisms/codePipeline/startPipeline.ts).
  codepipeline: [
    LAMBDA_THROTTLED,
    "ConcurrentPipelineExecutionsLimitExceededException",
    "ConflictException",
    ...DYNAMODB_THROTTLED,
  ],
  // SNS Publish: ThrottledException (@aws-sdk/client-sns errors.d.ts), ThrottlingException "Rate
  // exceeded" (https://repost.aws/knowledge-center/sns-throttling-exception-errors), Throttling (the
  // SDK's throttling codes); DynamoDB for the link code stored before the email.
  "email-link": [LAMBDA_THROTTLED, "ThrottledException", "Throttling", ...DYNAMODB_THROTTLED],
  // Step Functions publishes itself (sns:publish.waitForTaskToken): errors arrive as SNS.<code>.
  "sns-callback": ["SNS.ThrottledException", "SNS.ThrottlingException", "SNS.Throttling"],
  // chat.postMessage answered 429 (slackApi.ts: Slack.ratelimited; the message was not posted), and
  // DynamoDB / Secrets Manager throttling before the post.
  slack: [LAMBDA_THROTTLED, "Slack.ratelimited", ...DYNAMODB_THROTTLED],
};

/** The capacity error names of a mechanism (none for activity: Step Functions schedules its task itself). */
export function capacityErrors(mechanism: Mechanism): readonly string[] {
  return mechanism === "activity" ? [] : CAPACITY_ERRORS[mechanism];
}

/** Whether a Task error is a capacity refusal of any mechanism (when the stage's mechanism is not known). */
export function isCapacityError(error: string | undefined): boolean {
  return error !== undefined && Object.values(CAPACITY_ERRORS).some((names) => names.includes(error));
}
