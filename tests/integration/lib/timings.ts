// How long the suite waits for what, in one place. The offline tests run the same orchestration
// with milliseconds instead of minutes (tests/integrationRun.test.ts).

export interface Timings {
  /** Between two looks at an execution, automation, pipeline or queue. */
  pollMs: number;
  /** Until a stage's Task waits (Lambda cold start, SSM or CodePipeline starting) or its automation / approval action shows up. */
  waitForTaskMs: number;
  /** From a decision (or a stage's timeout) to the end of the execution: EventBridge and the result function for SSM and CodePipeline. */
  endGraceMs: number;
  /** How long IAM may take to know a new role, trust policy or attachment (retries on AccessDenied). */
  propagationMs: number;
  /** Between two tries while IAM propagates. */
  propagationPollMs: number;
  /** `pulumi up` and `pulumi destroy` are cancelled after this long. */
  upTimeoutMs: number;
  destroyTimeoutMs: number;
  /** A progress line while `pulumi up`/`destroy` runs, this often. */
  progressEveryMs: number;
  /**
   * One second of a duration AWS counts (a stage's timeout, an activity's HeartbeatSeconds) in the
   * suite's clock: 1000 on AWS; the offline tests shrink it.
   */
  awsSecondMs: number;
  /** How long a scheduled Task may go without TaskSubmitted before the suite decides it anyway. */
  submitGraceMs: number;
  /** Past an activity's HeartbeatSeconds before a worker polls (docs/unknowns.md row 1). */
  heartbeatMarginMs: number;
  /** A fresh approval page (API Gateway) may answer 404 or 5xx for a while. */
  pageReadyMs: number;
  /** SQS long poll of the inbox, in seconds (0 to 20). */
  inboxWaitSeconds: number;
}

export const AWS_TIMINGS: Timings = {
  pollMs: 5000,
  waitForTaskMs: 5 * 60 * 1000,
  endGraceMs: 5 * 60 * 1000,
  propagationMs: 2 * 60 * 1000,
  propagationPollMs: 5000,
  upTimeoutMs: 30 * 60 * 1000,
  destroyTimeoutMs: 30 * 60 * 1000,
  progressEveryMs: 30 * 1000,
  awsSecondMs: 1000,
  submitGraceMs: 60 * 1000,
  heartbeatMarginMs: 30 * 1000,
  pageReadyMs: 2 * 60 * 1000,
  inboxWaitSeconds: 5,
};
