// Sending a decision (SendTaskSuccess/SendTaskFailure) again when Step Functions refused it for
// capacity, in a way that can never deliver it twice: only an answer that says the request was
// refused before Step Functions acted is sent again. Shared by every sender of a decision.
// Arrays, not Sets: Pulumi's closure serialization turns a captured Set into a plain object.

/**
 * Errors that say the request was refused before Step Functions acted on it: the throttling codes
 * of the SDK's retry classification that mean "request refused" (@smithy/core
 * retry/service-error-classification THROTTLING_ERROR_CODES; Step Functions' own common error is
 * ThrottlingException: https://docs.aws.amazon.com/step-functions/latest/apireference/CommonErrors.html)
 * and KmsThrottlingException, which the SDK does not retry ("Received when KMS returns
 * ThrottlingException for a KMS call that Step Functions makes on behalf of the caller",
 * @aws-sdk/client-sfn models/errors). After any other error (a 5xx, a lost answer) the first
 * attempt may have counted, and a second one could only be refused (TaskTimedOut).
 */
export const THROTTLING_ERRORS: readonly string[] = [
  "ThrottlingException",
  "Throttling",
  "ThrottledException",
  "RequestThrottled",
  "RequestThrottledException",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "KmsThrottlingException",
];

/** Errors of SendTask* that say the task no longer waits (@aws-sdk/client-sfn SendTaskSuccessCommand). */
export const CLOSED_TASK_ERRORS: readonly string[] = ["TaskTimedOut", "TaskDoesNotExist"];

export interface ResendPolicy {
  /** Base pause before each further attempt; its length bounds the attempts (pauses + 1). */
  pausesMs: readonly number[];
  /** No further attempt once this much time has passed since the first one started. */
  budgetMs: number;
  /** Injected by tests. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** Results functions: asynchronous, with Lambda's own retries and a dead-letter queue behind them. */
export const RESULT_RESEND: ResendPolicy = { pausesMs: [200, 400, 800, 1600, 3200], budgetMs: 6000 };
/** The approval page: a person waits on the answer. */
export const PAGE_RESEND: ResendPolicy = { pausesMs: [100, 200, 400], budgetMs: 1500 };
/** Slack: the click must be answered within 3 s. */
export const SLACK_RESEND: ResendPolicy = { pausesMs: [100, 300], budgetMs: 1000 };

function errorName(error: unknown): string | undefined {
  const name = (error as { name?: unknown } | null)?.name;
  return typeof name === "string" ? name : undefined;
}

/** True when AWS answered that it refused the request for capacity (nothing was done). */
export function isThrottled(error: unknown): boolean {
  const name = errorName(error);
  return name !== undefined && THROTTLING_ERRORS.includes(name);
}

/** True for TaskTimedOut and TaskDoesNotExist: Step Functions no longer waits for this token. */
export function isClosedTask(error: unknown): boolean {
  const name = errorName(error);
  return name !== undefined && CLOSED_TASK_ERRORS.includes(name);
}

/**
 * Whether an attempt that ended in `error` may have reached Step Functions: anything but an AWS
 * answer that refused it for capacity, and any call in which the SDK itself sent more than once
 * ($metadata.attempts, @smithy/types ResponseMetadata): an earlier try inside it may have had no answer.
 */
export function attemptMayHaveCounted(error: unknown): boolean {
  return !isThrottled(error) || sdkSentMoreThanOnce(error);
}

/** Whether the SDK sent the call more than once (an earlier try inside it may have had no answer). */
export function sdkSentMoreThanOnce(error: unknown): boolean {
  const attempts = (error as { $metadata?: { attempts?: unknown } } | null)?.$metadata?.attempts;
  return typeof attempts === "number" && attempts > 1;
}

export type SendOutcome<T> =
  | { ok: true; value: T; attempts: number }
  | {
      ok: false;
      error: unknown;
      attempts: number;
      /** An earlier attempt (or an earlier try inside the SDK) may have delivered it: a closed task then means "delivered or expired". */
      earlierMayHaveCounted: boolean;
    };

/**
 * Runs `send`, and again after a jittered pause (half the base pause plus up to another half) as
 * long as AWS refuses it for capacity and the policy allows; never after any other error.
 */
export async function sendWhileThrottled<T>(send: () => Promise<T>, policy: ResendPolicy): Promise<SendOutcome<T>> {
  const sleep = policy.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const random = policy.random ?? Math.random;
  const started = Date.now();
  let earlierMayHaveCounted = false;
  /** Pauses taken so far: time spent even where `sleep` is a test's and the clock does not move. */
  let paused = 0;
  for (let attempt = 0; ; attempt++) {
    try {
      return { ok: true, value: await send(), attempts: attempt + 1 };
    } catch (error) {
      const base = policy.pausesMs[attempt];
      const pause = base === undefined ? 0 : Math.round(base / 2 + (random() * base) / 2);
      if (
        base === undefined ||
        !isThrottled(error) ||
        Math.max(Date.now() - started, paused) + pause > policy.budgetMs
      ) {
        return {
          ok: false,
          error,
          attempts: attempt + 1,
          earlierMayHaveCounted: earlierMayHaveCounted || sdkSentMoreThanOnce(error),
        };
      }
      earlierMayHaveCounted = earlierMayHaveCounted || attemptMayHaveCounted(error);
      paused += pause;
      await sleep(pause);
    }
  }
}

/** sendWhileThrottled that throws the last error. */
export async function sendThrottledAgain<T>(send: () => Promise<T>, policy: ResendPolicy): Promise<T> {
  const outcome = await sendWhileThrottled(send, policy);
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}
