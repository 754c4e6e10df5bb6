// The approval worker of the activity mechanism: long-polls the stage's activity, shows the
// request, keeps the task alive with heartbeats while a person decides, and sends the approval
// contract with the approver's own identity. It never sends an approval it was not told to send:
// Ctrl-C, end of input, a lost task or an error send nothing that approves.
import type { SFNClient } from "@aws-sdk/client-sfn";
import type { STSClient } from "@aws-sdk/client-sts";
import { ApprovalRequest, StageDecisionKind, requestProblems, stageDecision } from "../../functions/contract";
import { redactText } from "../../functions/shared/redact";
import { attemptMayHaveCounted, sdkSentMoreThanOnce } from "../../functions/shared/throttledSend";
import { AwsCallError, failureCause } from "./failures";
import { sfnSdk, stsSdk } from "./sdk";
import { renderRequest, terminalSafe } from "./requestView";

export const INVALID_TASK_ERROR = "InvalidApprovalTask";

export interface WorkerIO {
  /** Progress and results, for the person at the terminal. */
  say(text: string): void;
  /** Problems. */
  warn(text: string): void;
  /** Asks a question; null when input ended or the question was abandoned. */
  ask(question: string): Promise<string | null>;
  /** Abandons an open question (Ctrl-C, a lost task). */
  cancelQuestion(): void;
  /** True once input has ended (no more answers will come). */
  inputEnded(): boolean;
}

export interface WorkerOptions {
  activityArn: string;
  workerName: string;
  /** Non-interactive decision; without it the worker asks. */
  decide?: "approve" | "reject";
  comment?: string;
  /** Seconds between heartbeats while a task is held (well below the Task's HeartbeatSeconds). */
  heartbeatEverySeconds: number;
  /** Give up polling after this many consecutive network failures (undefined: never). */
  maxPollFailures?: number;
  /** First retry delay after a network failure, in milliseconds (doubles up to 30 s). */
  retryBaseMs: number;
}

interface HeldTask {
  token: string;
  request: ApprovalRequest;
  stage: string;
  executionArn: string;
  heartbeat?: NodeJS.Timeout;
  lost: boolean;
  sending: boolean;
}

export type TaskOutcome = "approved" | "rejected" | "no-task" | "lost" | "invalid" | "interrupted" | "not-sent";

/** Errors that will not go away by retrying: wrong permissions, wrong ARN, bad input (not throttling). */
export function isPermanent(error: unknown): boolean {
  const e = error as { name?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  if (e.$retryable || /Throttl|TooManyRequests|RequestLimitExceeded/.test(e.name ?? "")) return false;
  return status !== undefined && status >= 400 && status < 500 && status !== 429;
}

/** Errors saying the task is closed: decided, timed out, or released. */
function isClosedTask(error: unknown): boolean {
  const name = (error as { name?: string }).name;
  return name === "TaskTimedOut" || name === "TaskDoesNotExist" || name === "InvalidToken";
}

/** An AWS error in words, without the task token (`secrets`) or anything token-shaped: AWS messages may echo the request. */
export function describe(error: unknown, secrets: string[] = []): string {
  const e = error as { name?: string; message?: string; code?: string };
  return redactText(
    `${e.name ?? "Error"}${e.code && e.code !== e.name ? ` (${e.code})` : ""}: ${e.message ?? String(error)}`,
    secrets,
  );
}

export class ApprovalWorker {
  private held?: HeldTask;
  private interrupted = false;
  private readonly poll = new AbortController();
  private identityArn?: string;

  constructor(
    private readonly sfn: SFNClient,
    private readonly sts: STSClient,
    private readonly io: WorkerIO,
    private readonly options: WorkerOptions,
  ) {}

  /** Who the approvals will be recorded as: the caller's ARN from STS. */
  async identity(): Promise<string> {
    if (!this.identityArn) {
      const { Arn } = await this.sts.send(new (stsSdk().GetCallerIdentityCommand)({})).catch((error: unknown) => {
        throw new AwsCallError("STS", error);
      });
      if (!Arn) throw new Error("STS GetCallerIdentity returned no ARN");
      this.identityArn = Arn;
    }
    return this.identityArn;
  }

  /** Works on tasks until interrupted; with `once`, handles at most one poll's task. */
  async run(once: boolean): Promise<TaskOutcome> {
    const me = await this.identity();
    this.io.say(`Approving as ${me}`);
    this.io.say(`Waiting for approval requests on ${this.options.activityArn} (Ctrl-C to stop)`);
    for (;;) {
      const outcome = await this.workOnce();
      if (once || this.interrupted) return outcome;
      if (!this.options.decide && this.io.inputEnded()) {
        this.io.warn("Input ended: no more decisions can be typed, so the worker stops taking requests.");
        return outcome === "no-task" ? "not-sent" : outcome;
      }
    }
  }

  /** One long poll, and the task it returns, if any. */
  async workOnce(): Promise<TaskOutcome> {
    const task = await this.pollForTask();
    if (!task) return this.interrupted ? "interrupted" : "no-task";
    return this.handle(task.token, task.input);
  }

  private async pollForTask(): Promise<{ token: string; input: string } | undefined> {
    let failures = 0;
    for (;;) {
      if (this.interrupted) return undefined;
      try {
        const task = await this.sfn.send(
          new (sfnSdk().GetActivityTaskCommand)({
            activityArn: this.options.activityArn,
            workerName: this.options.workerName,
          }),
          { abortSignal: this.poll.signal },
        );
        if (!task.taskToken) {
          this.io.say("No approval request arrived during the last poll (60 s).");
          return undefined;
        }
        return { token: task.taskToken, input: task.input ?? "" };
      } catch (error) {
        if (this.interrupted) return undefined;
        // No or expired credentials: said as every CLI says it.
        if (["no-credentials", "expired-credentials"].includes(failureCause(error))) throw error;
        if (isPermanent(error)) throw new Error(`Step Functions refused GetActivityTask: ${describe(error)}`);
        failures++;
        if (this.options.maxPollFailures !== undefined && failures >= this.options.maxPollFailures) {
          throw new Error(`giving up after ${failures} failed polls: ${describe(error)}`);
        }
        const delay = Math.min(30000, this.options.retryBaseMs * 2 ** (failures - 1));
        this.io.warn(`Could not reach Step Functions (${describe(error)}); retrying in ${(delay / 1000).toFixed(1)} s`);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  private async handle(token: string, rawInput: string): Promise<TaskOutcome> {
    let parsed: { request?: unknown; stage?: unknown; executionArn?: unknown };
    try {
      parsed = JSON.parse(rawInput) as typeof parsed;
    } catch {
      parsed = {};
    }
    const problems = [...requestProblems(parsed.request)];
    if (typeof parsed.stage !== "string") problems.push("'stage' is missing");
    if (typeof parsed.executionArn !== "string") problems.push("'executionArn' is missing");
    if (problems.length > 0) {
      const cause = `The approval task's input is malformed: ${problems.join("; ")}`;
      this.io.warn(`${cause}. Failing the task; nothing was approved.`);
      try {
        await this.sfn.send(
          new (sfnSdk().SendTaskFailureCommand)({ taskToken: token, error: INVALID_TASK_ERROR, cause }),
        );
      } catch (error) {
        this.io.warn(
          `Could not fail the malformed task (${describe(error, [token])}); it is released when its heartbeat expires.`,
        );
      }
      return "invalid";
    }
    const held: HeldTask = {
      token,
      request: parsed.request as ApprovalRequest,
      stage: parsed.stage as string,
      executionArn: parsed.executionArn as string,
      lost: false,
      sending: false,
    };
    this.held = held;
    try {
      this.io.say(renderRequest(held.request, { stage: held.stage, executionArn: held.executionArn }));
      this.startHeartbeats(held);
      const decision = await this.decide(held);
      if (decision === undefined) {
        if (this.interrupted) return "interrupted";
        if (held.lost) return "lost";
        this.io.warn(
          `Input ended before a decision: nothing was sent for "${terminalSafe(held.request.title)}". It is released when its heartbeat expires and offered to the next worker.`,
        );
        return "not-sent";
      }
      return await this.send(held, decision.kind, decision.comment);
    } finally {
      this.stopHeartbeats(held);
      this.held = undefined;
    }
  }

  private startHeartbeats(held: HeldTask): void {
    held.heartbeat = setInterval(() => {
      this.sfn.send(new (sfnSdk().SendTaskHeartbeatCommand)({ taskToken: held.token })).catch((error: unknown) => {
        // A heartbeat answered after this task was decided or given up must not touch the next one.
        if (this.held !== held || held.sending || held.heartbeat === undefined) return;
        const name = (error as { name?: string }).name;
        if (isClosedTask(error)) {
          held.lost = true;
          this.stopHeartbeats(held);
          this.io.warn(
            `This request is no longer yours to decide (${name}): its heartbeat expired or it was closed. Nothing was sent.`,
          );
          this.io.cancelQuestion();
        } else {
          this.io.warn(`Heartbeat failed (${describe(error, [held.token])}); will try again`);
        }
      });
    }, this.options.heartbeatEverySeconds * 1000);
  }

  private stopHeartbeats(held: HeldTask): void {
    if (held.heartbeat) clearInterval(held.heartbeat);
    held.heartbeat = undefined;
  }

  private async decide(held: HeldTask): Promise<{ kind: StageDecisionKind; comment: string | null } | undefined> {
    if (this.options.decide) {
      return {
        kind: this.options.decide === "approve" ? "approved" : "rejected",
        comment: this.options.comment ?? null,
      };
    }
    for (;;) {
      const answer = await this.io.ask('Decision: type "approve" or "reject" (Ctrl-C leaves it undecided): ');
      if (answer === null || held.lost || this.interrupted) return undefined;
      const word = answer.trim().toLowerCase();
      if (word === "approve" || word === "reject") {
        const comment = await this.io.ask("Comment (optional, Enter for none): ");
        if (comment === null || held.lost || this.interrupted) return undefined;
        return { kind: word === "approve" ? "approved" : "rejected", comment: comment.trim() || null };
      }
      this.io.say(`"${terminalSafe(answer.trim())}" is neither approve nor reject.`);
    }
  }

  private async send(held: HeldTask, kind: StageDecisionKind, comment: string | null): Promise<TaskOutcome> {
    const result = stageDecision({
      decision: kind,
      stage: held.stage,
      mechanism: "activity",
      approver: await this.identity(),
      comment,
      decidedAt: new Date(),
    });
    held.sending = true;
    // Whether an earlier attempt may have reached Step Functions (anything but a throttling refusal):
    // a closed task then means "recorded by it, or expired", never "not recorded".
    let earlierMayHaveCounted = false;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.sfn.send(
          new (sfnSdk().SendTaskSuccessCommand)({ taskToken: held.token, output: JSON.stringify(result) }),
        );
        this.io.say(
          `${kind === "approved" ? "Approved" : "Rejected"}: ${terminalSafe(held.request.title)} (stage ${terminalSafe(held.stage)}), recorded as ${result.approver}.`,
        );
        return kind === "approved" ? "approved" : "rejected";
      } catch (error) {
        if (isClosedTask(error) && (earlierMayHaveCounted || sdkSentMoreThanOnce(error))) {
          // An earlier attempt may have arrived even though its answer was lost on the way back.
          this.io.warn(
            `Your decision may already have been recorded by an earlier attempt (now: ${describe(error, [held.token])}). Check the execution ${held.executionArn}.`,
          );
          return "not-sent";
        }
        if (isClosedTask(error)) {
          this.io.warn(
            `Your decision was NOT recorded: the request no longer waits for one (${describe(error, [held.token])}): it expired, or it was decided or released elsewhere.`,
          );
          return "not-sent";
        }
        if (isPermanent(error) || attempt >= 5) {
          this.io.warn(
            `Your decision was NOT recorded: ${describe(error, [held.token])}. The request stays open until its heartbeat expires; run the worker again to decide it.`,
          );
          return "not-sent";
        }
        earlierMayHaveCounted = earlierMayHaveCounted || attemptMayHaveCounted(error);
        // Jittered (half the pause plus up to another half): throttled workers do not retry in step.
        const base = this.options.retryBaseMs * 2 ** (attempt - 1);
        const delay = Math.round(base / 2 + (Math.random() * base) / 2);
        this.io.warn(
          `Sending the decision failed (${describe(error, [held.token])}); retrying in ${(delay / 1000).toFixed(1)} s`,
        );
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  /** Ctrl-C: stop polling and heartbeats, send nothing, and say what happens to a held task. */
  interrupt(heartbeatSeconds: number, releases: number): string {
    this.interrupted = true;
    this.poll.abort();
    this.io.cancelQuestion();
    const held = this.held;
    if (!held) return "Stopped. No approval request was held.";
    this.stopHeartbeats(held);
    if (held.sending) {
      return `Stopped while the decision on "${terminalSafe(held.request.title)}" was being sent; check the execution ${held.executionArn} to see whether it arrived.`;
    }
    return (
      `Stopped. No decision was sent for "${terminalSafe(held.request.title)}" (stage ${terminalSafe(held.stage)}). ` +
      `Step Functions releases it when its heartbeat expires (within ${heartbeatSeconds} s) and offers it to the next worker; ` +
      `after ${releases} releases the stage ends as timed_out.`
    );
  }
}
