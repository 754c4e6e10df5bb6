// When a stage's start is refused for a quota or throttling reason, the request waits for capacity:
// the start Task retries exactly those error names with backoff and full jitter for about the
// stage's own timeout, then ends the stage as timed_out (the `no capacity` Pass), never failed.
// Any other error (a permanent one, or one that may come after the approvers were asked) is not
// listed and still fails the execution at once. Docs: docs/limits.md "When a mechanism is at capacity".
import { Mechanism } from "../../functions/contract";
import { LAMBDA_TIMEOUT_SECONDS } from "../shared/approvalFunction";
import { PassState, Retrier } from "../workflow/asl";

// The error names per mechanism live beside the command-line tools that read them too (`approvals
// show`: "waiting for capacity"), with their sources: functions/shared/capacityErrors.ts.
export { CAPACITY_ERRORS, LAMBDA_THROTTLED, capacityErrors } from "../../functions/shared/capacityErrors";
import { capacityErrors } from "../../functions/shared/capacityErrors";

/** The first pause, its growth, and the longest pause while the capacity budget is small. */
export const CAPACITY_INTERVAL_SECONDS = 5;
export const CAPACITY_BACKOFF_RATE = 2;
const MIN_MAX_DELAY_SECONDS = 30;
const PREFERRED_MAX_DELAY_SECONDS = 3600;
/** At most this many retries: about 3 history events each, far below a history's 25,000 events. */
export const CAPACITY_MAX_RETRIES = 500;
/** A failed attempt runs at most this long (the start function's timeout). */
export const CAPACITY_ATTEMPT_SECONDS = LAMBDA_TIMEOUT_SECONDS;
/**
 * A stage asks for this many times its wait as its capacity budget (the worst case): with FULL
 * jitter each pause is uniform between 0 and its cap, so the retries last about half the budget,
 * about the stage's own timeout.
 */
export const CAPACITY_BUDGET_FACTOR = 2;

/** The capacity budget a stage asks for: 0 for a mechanism without capacity errors. */
export function wantedCapacityWaitSeconds(mechanism: Mechanism, maxWaitSeconds: number): number {
  return capacityErrors(mechanism).length === 0 ? 0 : CAPACITY_BUDGET_FACTOR * maxWaitSeconds;
}

/**
 * The longest the retries of `retrier` can take: every pause at its cap
 * (min(IntervalSeconds * BackoffRate^k, MaxDelaySeconds), https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html)
 * and every failed attempt running `attemptSeconds`.
 */
export function capacityRetrySeconds(retrier: Retrier, attemptSeconds = CAPACITY_ATTEMPT_SECONDS): number {
  const interval = retrier.IntervalSeconds ?? 1;
  const rate = retrier.BackoffRate ?? 2;
  const cap = retrier.MaxDelaySeconds ?? Number.POSITIVE_INFINITY;
  let total = 0;
  for (let k = 0; k < (retrier.MaxAttempts ?? 3); k++) total += Math.min(interval * rate ** k, cap) + attemptSeconds;
  return total;
}

/**
 * The Retry entry for `errors` whose worst case (capacityRetrySeconds) stays within
 * `budgetSeconds`. Pauses start at 5 s and double up to MaxDelaySeconds (about budget/200, at
 * least 30 s, at most an hour unless that needs more than 500 retries); FULL jitter spreads a
 * burst's retries. Bounds: asl schema (IntervalSeconds >= 1, MaxDelaySeconds 1..31622400,
 * MaxAttempts 0..99999999; amazon-states-language-service json-schema/bundled.json).
 */
export function capacityRetrier(errors: readonly string[], budgetSeconds: number): Retrier {
  const budget = Math.max(0, Math.floor(budgetSeconds));
  const interval = CAPACITY_INTERVAL_SECONDS;
  const maxDelay = Math.min(
    31_622_400,
    Math.max(
      interval,
      Math.min(PREFERRED_MAX_DELAY_SECONDS, Math.max(MIN_MAX_DELAY_SECONDS, Math.ceil(budget / 200))),
      Math.ceil(budget / CAPACITY_MAX_RETRIES),
    ),
  );
  let attempts = 0;
  let used = 0;
  while (attempts < CAPACITY_MAX_RETRIES) {
    const next = Math.min(interval * CAPACITY_BACKOFF_RATE ** attempts, maxDelay) + CAPACITY_ATTEMPT_SECONDS;
    if (used + next > budget) break;
    used += next;
    attempts += 1;
  }
  return {
    ErrorEquals: [...errors],
    IntervalSeconds: interval,
    MaxAttempts: attempts,
    BackoffRate: CAPACITY_BACKOFF_RATE,
    MaxDelaySeconds: maxDelay,
    JitterStrategy: "FULL",
  };
}

/** The Pass state a stage goes to when its start never found capacity. */
export function noCapacityStateName(stateName: string): string {
  return `${stateName} no capacity`;
}

/**
 * The `timed_out` decision of a stage whose start was refused for capacity until its budget ran
 * out: the comment says so and names the last error (read at `errorPath`, the Catch's {Error, Cause};
 * the Cause is not copied). Never approved.
 */
export function noCapacityState(args: {
  stage: string;
  mechanism: Mechanism;
  errorPath: string;
  resultPath: string;
  next: string;
}): PassState {
  return {
    Type: "Pass",
    Comment: `No capacity came for stage '${args.stage}' within its capacity wait: ends as timed_out, never approved`,
    Parameters: {
      approved: false,
      decision: "timed_out",
      stage: args.stage,
      mechanism: args.mechanism,
      approver: null,
      "comment.$": `States.Format('No capacity: the request was never sent to the approvers, every start was refused (last error: {})', ${args.errorPath})`,
      "decidedAt.$": "$$.State.EnteredTime",
    },
    ResultPath: args.resultPath,
    Next: args.next,
  };
}
