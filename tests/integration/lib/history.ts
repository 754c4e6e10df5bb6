// Reading a waiting approval out of an execution's history (GetExecutionHistory events).
//
// Nobody reads the approval email in a test, so the suite takes the task token where Step
// Functions recorded it: the parameters of the stage Task's newest TaskScheduled event. For the
// Lambda-backed stages (ssm-automation, codepipeline, email-link) that is the payload's
// `taskToken`; for sns-callback it is the `t=` parameter (base64url) of the approval link in the
// published message. An activity stage records no token at all (its worker gets it from
// GetActivityTask), only an ActivityScheduled event.
import type { HistoryEvent } from "@aws-sdk/client-sfn";
import { LINK_PARAMS, PAGE_PATH } from "../../../functions/mechanisms/email/approvalLink";
import { eventsFollowing } from "../../../functions/mechanisms/email/historyLinks";

/** base64url (RFC 4648 section 5, no padding) back to text; undefined unless it is exactly that. */
export function fromBase64Url(encoded: string): string | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(encoded)) return undefined;
  const text = Buffer.from(encoded, "base64url").toString("utf8");
  return Buffer.from(text, "utf8").toString("base64url") === encoded ? text : undefined;
}

/**
 * The task token in a TaskScheduled event's `parameters` (a JSON string): the Lambda payload's
 * `taskToken`, else the token of the last approval link (`<page>/decide?t=...`) in an SNS `Message`.
 */
export function taskTokenFromParameters(parameters: string | undefined): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(parameters ?? "null");
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const { Payload: payload, Message: message } = parsed as { Payload?: { taskToken?: unknown }; Message?: unknown };
  if (typeof payload?.taskToken === "string" && payload.taskToken !== "") return payload.taskToken;
  if (typeof message === "string") {
    // The link comes last in the email; text from the request before it could hold a look-alike.
    const links = [
      ...message.matchAll(new RegExp(`${PAGE_PATH}\\?${LINK_PARAMS.token}=([A-Za-z0-9_-]+)(?![A-Za-z0-9_-])`, "g")),
    ];
    return links.length > 0 ? fromBase64Url(links[links.length - 1][1]) : undefined;
  }
  return undefined;
}

function newestFirst(events: HistoryEvent[]): HistoryEvent[] {
  return [...events].sort((a, b) => (b.id ?? 0) - (a.id ?? 0));
}

/** The newest event of one of `types`, optionally only among those after event `afterId`. */
function newest(events: HistoryEvent[], types: string[], afterId = 0): HistoryEvent | undefined {
  return newestFirst(events).find((event) => types.includes(event.type ?? "") && (event.id ?? 0) > afterId);
}

/**
 * The task token of the newest TaskScheduled event that carries one (undefined when there is none,
 * e.g. an activity stage). With reminders or escalation, newer TaskScheduled events of their SNS
 * publishes carry no token and are passed over.
 */
export function taskTokenFromHistory(events: HistoryEvent[]): string | undefined {
  for (const event of newestFirst(events)) {
    if (event.type !== "TaskScheduled") continue;
    const token = taskTokenFromParameters(event.taskScheduledEventDetails?.parameters);
    if (token !== undefined) return token;
  }
  return undefined;
}

const EXECUTION_END = ["ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"];
const TASK_FAILURES = ["TaskFailed", "TaskStartFailed", "TaskSubmitFailed", "TaskTimedOut", "EvaluationFailed"];
const ACTIVITY_FAILURES = ["ActivityFailed", "ActivityScheduleFailed", "ActivityTimedOut", "EvaluationFailed"];

/** "TaskFailed (Lambda.AWSLambdaException: Rate exceeded)": what an event says went wrong. */
export function describeEvent(event: HistoryEvent): string {
  const details =
    event.taskFailedEventDetails ??
    event.taskStartFailedEventDetails ??
    event.taskSubmitFailedEventDetails ??
    event.taskTimedOutEventDetails ??
    event.executionFailedEventDetails ??
    event.executionAbortedEventDetails ??
    event.executionTimedOutEventDetails ??
    event.activityFailedEventDetails ??
    event.activityScheduleFailedEventDetails ??
    event.activityTimedOutEventDetails ??
    event.evaluationFailedEventDetails;
  const parts = [details?.error, details?.cause].filter(
    (part): part is string => typeof part === "string" && part !== "",
  );
  return parts.length > 0 ? `${event.type} (${parts.join(": ")})` : `${event.type}`;
}

export type WaitingTask =
  /** The stage's Task has not been scheduled yet: look again. */
  | { kind: "not-yet" }
  /** The Task waits for a decision; `token` is absent for an activity stage. `submitted`: the start call returned (TaskSubmitted / ActivityStarted not needed). */
  | { kind: "waiting"; token?: string; submitted: boolean }
  /** The Task or the execution ended without waiting for a decision. */
  | { kind: "ended"; reason: string };

/** The events that follow `event` through previousEventId links (its own branch of a Parallel), newest first. */
function descendantsOf(event: HistoryEvent, events: HistoryEvent[]): HistoryEvent[] {
  return eventsFollowing(event.id ?? 0, events).reverse();
}

/**
 * Whether the execution waits at its stage Task, and with which token. `activity` looks for the
 * newest ActivityScheduled; every other mechanism for the newest TaskScheduled (whose token must be
 * readable) and, for `submitted`, a TaskSubmitted after it.
 */
export function waitingTask(events: HistoryEvent[], activity: boolean): WaitingTask {
  const end = newest(events, EXECUTION_END);
  if (end) return { kind: "ended", reason: `the execution ended before a decision was sent: ${describeEvent(end)}` };
  if (activity) {
    const scheduled = newest(events, ["ActivityScheduled"]);
    if (!scheduled) return { kind: "not-yet" };
    const failure = newest(events, ACTIVITY_FAILURES, scheduled.id);
    if (failure)
      return { kind: "ended", reason: `the activity task did not wait for a decision: ${describeEvent(failure)}` };
    return { kind: "waiting", submitted: true };
  }
  // The stage Task is a callback (.waitForTaskToken); the reminder and escalation publishes of a
  // stage with follow-ups run beside it as plain sns:publish Tasks and are passed over.
  const scheduled = newestFirst(events).find(
    (event) =>
      event.type === "TaskScheduled" && (event.taskScheduledEventDetails?.resource ?? "").endsWith(".waitForTaskToken"),
  );
  if (!scheduled) return { kind: "not-yet" };
  const failure = descendantsOf(scheduled, events).find((event) => TASK_FAILURES.includes(event.type ?? ""));
  if (failure) return { kind: "ended", reason: `the stage's Task failed: ${describeEvent(failure)}` };
  const details = scheduled.taskScheduledEventDetails;
  const token = taskTokenFromParameters(details?.parameters);
  if (!token) {
    return {
      kind: "ended",
      reason: `the newest TaskScheduled event (${details?.resourceType ?? "?"}:${details?.resource ?? "?"}) carries no task token in its parameters`,
    };
  }
  return {
    kind: "waiting",
    token,
    submitted: descendantsOf(scheduled, events).some((event) => event.type === "TaskSubmitted"),
  };
}

/**
 * The Lambda invocation of the newest callback Task (`lambda:invoke.waitForTaskToken`) as Step
 * Functions recorded it: the function and the payload it was sent ({ taskToken, request, stage,
 * executionArn }). Sending that payload again is exactly a retried invocation.
 */
export function callbackInvocationFromHistory(
  events: HistoryEvent[],
): { functionName: string; payload: Record<string, unknown> } | undefined {
  const scheduled = newestFirst(events).find(
    (event) =>
      event.type === "TaskScheduled" &&
      event.taskScheduledEventDetails?.resourceType === "lambda" &&
      (event.taskScheduledEventDetails.resource ?? "").endsWith(".waitForTaskToken"),
  );
  let parameters: unknown;
  try {
    parameters = JSON.parse(scheduled?.taskScheduledEventDetails?.parameters ?? "null");
  } catch {
    return undefined;
  }
  const { FunctionName: functionName, Payload: payload } = (parameters ?? {}) as {
    FunctionName?: unknown;
    Payload?: unknown;
  };
  if (typeof functionName !== "string" || typeof payload !== "object" || payload === null) return undefined;
  return { functionName, payload: payload as Record<string, unknown> };
}
