// What every "start" function receives from its callback Task state, and how every "result"
// function hands a decision back to Step Functions. Errors never carry the task token.
import { ApprovalRequest, requestProblems } from "../contract";
import { redactText } from "./redact";
import { RESULT_RESEND, ResendPolicy, isClosedTask, sendWhileThrottled } from "./throttledSend";

/** The Payload of the Task state (see lambdaCallbackTaskStates in components/mechanisms/lambdaCallbackApproval.ts). */
export interface CallbackTaskEvent {
  taskToken: string;
  request: ApprovalRequest;
  stage: string;
  executionArn: string;
}

/** Validates the Task state's payload for `stage`; never echoes the token itself in an error. */
export function parseCallbackTaskEvent(event: unknown, stage: string): CallbackTaskEvent {
  if (typeof event !== "object" || event === null) {
    throw new Error("InvalidEvent: expected an object with taskToken, request, stage and executionArn");
  }
  const e = event as Record<string, unknown>;
  // taskToken is 1..2048 characters: Step Functions API Reference, SendTaskSuccess, and the current
  // service model (botocore stepfunctions/2016-11-23 TaskToken max 2048; earlier models said 1024).
  if (typeof e.taskToken !== "string" || e.taskToken.length === 0 || e.taskToken.length > 2048) {
    throw new Error("InvalidEvent: 'taskToken' must be a non-empty string of at most 2048 characters");
  }
  const problems = requestProblems(e.request);
  if (problems.length > 0) {
    throw new Error(`InvalidEvent: the request is malformed: ${problems.join("; ")}`);
  }
  if (e.stage !== stage) {
    throw new Error(`InvalidEvent: this function serves stage '${stage}', the event names stage '${String(e.stage)}'`);
  }
  if (typeof e.executionArn !== "string" || !e.executionArn.startsWith("arn:")) {
    throw new Error("InvalidEvent: 'executionArn' must be the ARN of the Step Functions execution");
  }
  return {
    taskToken: e.taskToken,
    request: e.request as ApprovalRequest,
    stage: e.stage,
    executionArn: e.executionArn,
  };
}

/** The execution's name: the last part of its ARN. */
export function executionName(executionArn: string): string {
  return executionArn.split(":").pop() ?? executionArn;
}

/**
 * Runs a SendTask* call, again while Step Functions refuses it for capacity (throttledSend.ts); its
 * error is rethrown saying what was being delivered, so the event is retried and then dead-lettered.
 * A closed task after an attempt that may have counted is "delivered or expired", never a reason to
 * send anything else. AWS's message is redacted: a validation error echoes the request, and with it the token.
 */
export async function deliverToStepFunctions(
  send: () => Promise<unknown>,
  what: string,
  policy: ResendPolicy = RESULT_RESEND,
): Promise<void> {
  const outcome = await sendWhileThrottled(send, policy);
  if (outcome.ok) return;
  const { error } = outcome;
  const name = error instanceof Error ? error.name : "Error";
  const message = error instanceof Error ? error.message : String(error);
  const tries = outcome.attempts > 1 ? ` after ${outcome.attempts} attempts` : "";
  if (isClosedTask(error) && outcome.earlierMayHaveCounted) {
    throw new Error(
      `DecisionDeliveredOrExpired: sending ${what}: an earlier attempt got no clear answer, and now Step Functions says the task no longer waits (${redactText(name)}): that attempt delivered it, or the task had ended; nothing else was sent`,
    );
  }
  throw new Error(
    `DecisionNotDelivered: sending ${what} failed${tries} with ${redactText(name)}: ${redactText(message)}`,
  );
}
