// GetExecutionHistory answers (reverse order, newest first) of an execution that waits at an
// email stage, as the approval page reads them to tie a link's token to its stage: the stage's
// TaskStateEntered, then its TaskScheduled whose parameters hold the token (the Lambda payload's
// taskToken for email-link; the base64url token inside the message for sns-callback).
import { encodeToken } from "../../functions/approvalLink";
import { Mechanism, stageStateName } from "../../functions/contract";

const PAGE_URL = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/decide";
const T0 = 1795341600;

export function waitingTaskHistory(args: { stage: string; mechanism: Mechanism; token: string; executionArn: string; request?: unknown }): { events: object[] } {
  const parameters = args.mechanism === "sns-callback"
    ? {
      TopicArn: `arn:aws:sns:eu-west-1:123456789012:sfn-approvals-test-${args.stage}-approvals`,
      Subject: "Approval needed: ...",
      Message: `Approval requested: ...\n\nReview the request and approve or reject it here:\n${PAGE_URL}?t=${encodeToken(args.token)}&e=${encodeURIComponent(args.executionArn)}&s=${args.stage}\n`,
    }
    : {
      FunctionName: `arn:aws:lambda:eu-west-1:123456789012:function:stage-${args.stage}-start-fn-a1b2c3d`,
      Payload: { taskToken: args.token, request: args.request ?? { title: "..." }, stage: args.stage, executionArn: args.executionArn },
    };
  const resource = args.mechanism === "sns-callback" ? { resourceType: "sns", resource: "publish.waitForTaskToken" } : { resourceType: "lambda", resource: "invoke.waitForTaskToken" };
  return {
    events: [
      { id: 8, previousEventId: 7, timestamp: T0 + 3, type: "TaskSubmitted", taskSubmittedEventDetails: { ...resource, output: "{}" } },
      { id: 7, previousEventId: 6, timestamp: T0 + 2, type: "TaskStarted", taskStartedEventDetails: resource },
      { id: 6, previousEventId: 5, timestamp: T0 + 1, type: "TaskScheduled", taskScheduledEventDetails: { ...resource, region: "eu-west-1", parameters: JSON.stringify(parameters) } },
      { id: 5, previousEventId: 4, timestamp: T0 + 1, type: "TaskStateEntered", stateEnteredEventDetails: { name: stageStateName(args.stage), input: "{}" } },
      { id: 4, previousEventId: 3, timestamp: T0, type: "ChoiceStateExited", stateExitedEventDetails: { name: "Validate request", output: "{}" } },
    ],
  };
}
