// The sandbox's Step Functions: one execution run by aws-local-stepfunctions, seen through the API
// the approval page, the result functions and the approval worker call (DescribeExecution,
// GetExecutionHistory, SendTaskSuccess/Failure/Heartbeat, GetActivityTask), plus STS
// GetCallerIdentity for the worker. Each waiting Task has its own token; a decision for a token that
// no longer waits is refused as Step Functions refuses it. The history holds what the page reads
// (each stage Task's TaskStateEntered and TaskScheduled with its parameters, and the events that
// close it), not every event AWS records.
import { randomBytes } from "crypto";
import { AwsError, FakeAws, callerIdentityXml } from "../../tests/helpers/fakeAws";

/** The fields of a GetExecutionHistory event the sandbox records. */
export type HistoryEvent = Record<string, unknown> & { id: number; type: string; previousEventId?: number };

export type TaskOutcome = { output: unknown } | { error: string; cause: string };
/** How a Task ended: a decision, a failure, its timeout, or the end of the execution around it. */
export type Closing = "succeeded" | "failed" | "timed-out" | "aborted";

interface WaitingTask {
  token: string;
  stateName: string;
  /** The id of the newest event of this Task (the next one follows it). */
  lastEventId: number;
  kind: "callback" | "activity";
  activityArn?: string;
  /** An activity task's input, as GetActivityTask hands it to the worker. */
  input?: string;
  closed?: Closing;
  /** The workflow has left the Task's state. */
  stateDone?: boolean;
  settle: (outcome: TaskOutcome) => void;
}

/** A task token as Step Functions hands them out: long, opaque, with base64 characters (1..2048, SendTaskSuccess taskToken). */
export function newTaskToken(): string {
  return `AQCEAAAAKgAAAAMAAAAAAAAAA${randomBytes(600).toString("base64")}`;
}

/** GetActivityTask holds a poll for up to 60 s (API Reference, GetActivityTask; @aws-sdk/client-sfn GetActivityTaskCommand). */
const ACTIVITY_POLL_MS = 60000;

export class SandboxStepFunctions {
  readonly events: HistoryEvent[] = [];
  private readonly tasks = new Map<string, WaitingTask>();
  private readonly queued = new Map<string, WaitingTask[]>();
  private readonly pollers = new Map<string, Array<(task: WaitingTask | undefined) => void>>();
  status: "RUNNING" | "SUCCEEDED" | "FAILED" | "TIMED_OUT" = "RUNNING";
  private stop?: { at: number; output?: unknown; error?: string; cause?: string };
  /** The stack's activities (GetActivityTask refuses any other). */
  readonly activities = new Set<string>();
  /** Told of each Task's end: a decision (SendTaskSuccess), a failure, or its timeout. */
  onTaskClosed?: (stateName: string, outcome: TaskOutcome, how: Closing) => void;
  /** Who GetCallerIdentity says the caller is (the approver the worker runs as). */
  callerArn = "arn:aws:sts::123456789012:assumed-role/SandboxApprover/sandbox";

  constructor(
    readonly stateMachineArn: string,
    readonly executionArn: string,
    readonly input: unknown,
    readonly startDate = Date.now() / 1000,
  ) {
    this.add("ExecutionStarted", {
      executionStartedEventDetails: { input: JSON.stringify(input), inputDetails: { truncated: false }, roleArn: "" },
    });
  }

  private add(type: string, details: Record<string, unknown>, previousEventId?: number): HistoryEvent {
    const id = this.events.length + 1;
    const previous = previousEventId ?? (id > 1 ? id - 1 : undefined);
    const event: HistoryEvent = {
      id,
      ...(previous !== undefined ? { previousEventId: previous } : {}),
      timestamp: Date.now() / 1000,
      type,
      ...details,
    };
    this.events.push(event);
    return event;
  }

  /**
   * A callback Task (lambda:invoke or sns:publish .waitForTaskToken) is scheduled with these
   * parameters, which carry `token`. Returns the wait for its decision; `submitted` records what the
   * service call answered (the start function's result, the published message's id).
   */
  callbackTask(
    stateName: string,
    resource: { resourceType: string; resource: string },
    parameters: unknown,
    token: string,
  ): { submitted(output: unknown): void; failed(error: string, cause: string): void; decision: Promise<TaskOutcome> } {
    const entered = this.add("TaskStateEntered", {
      stateEnteredEventDetails: { name: stateName, input: "{}", inputDetails: { truncated: false } },
    });
    const scheduled = this.add(
      "TaskScheduled",
      {
        taskScheduledEventDetails: {
          ...resource,
          region: this.executionArn.split(":")[3],
          parameters: JSON.stringify(parameters),
        },
      },
      entered.id,
    );
    const started = this.add("TaskStarted", { taskStartedEventDetails: resource }, scheduled.id);
    let settle!: (outcome: TaskOutcome) => void;
    const decision = new Promise<TaskOutcome>((resolve) => {
      settle = resolve;
    });
    const task: WaitingTask = { token, stateName, lastEventId: started.id, kind: "callback", settle };
    this.tasks.set(token, task);
    return {
      decision,
      submitted: (output) => {
        task.lastEventId = this.add(
          "TaskSubmitted",
          {
            taskSubmittedEventDetails: {
              ...resource,
              output: JSON.stringify(output),
              outputDetails: { truncated: false },
            },
          },
          task.lastEventId,
        ).id;
      },
      // The service call itself failed (the start function threw): the Task fails with its error.
      failed: (error, cause) => this.close(task, "failed", { error, cause }),
    };
  }

  /** An activity Task is scheduled: a worker's GetActivityTask gets it. Returns the wait for its decision. */
  activityTask(
    stateName: string,
    activityArn: string,
    input: unknown,
    heartbeatSeconds?: number,
    timeoutSeconds?: number,
  ): Promise<TaskOutcome> {
    const entered = this.add("TaskStateEntered", {
      stateEnteredEventDetails: { name: stateName, input: "{}", inputDetails: { truncated: false } },
    });
    const scheduled = this.add(
      "ActivityScheduled",
      {
        activityScheduledEventDetails: {
          resource: activityArn,
          input: JSON.stringify(input),
          inputDetails: { truncated: false },
          ...(timeoutSeconds ? { timeoutInSeconds: timeoutSeconds } : {}),
          ...(heartbeatSeconds ? { heartbeatInSeconds: heartbeatSeconds } : {}),
        },
      },
      entered.id,
    );
    return new Promise<TaskOutcome>((settle) => {
      const task: WaitingTask = {
        token: newTaskToken(),
        stateName,
        lastEventId: scheduled.id,
        kind: "activity",
        activityArn,
        input: JSON.stringify(input),
        settle,
      };
      this.tasks.set(task.token, task);
      const poller = this.pollers.get(activityArn)?.shift();
      if (poller) poller(task);
      else this.queued.set(activityArn, [...(this.queued.get(activityArn) ?? []), task]);
    });
  }

  /** The Task `stateName` ended in the workflow (its state exited, failed or was caught): its token no longer waits. */
  stateEnded(stateName: string, how: "exited" | "failed"): void {
    for (const task of this.tasks.values()) {
      if (task.stateName !== stateName || task.stateDone) continue;
      // The library ended a Task that still waited: its TimeoutSeconds passed.
      if (!task.closed) this.close(task, "timed-out", { error: "States.Timeout", cause: "" });
      if (how === "exited" && task.closed === "succeeded") {
        task.lastEventId = this.add(
          "TaskStateExited",
          { stateExitedEventDetails: { name: stateName, output: "{}", outputDetails: { truncated: false } } },
          task.lastEventId,
        ).id;
      }
      task.stateDone = true;
    }
  }

  /** The execution ended: nothing waits any more, pending polls return empty. */
  ended(
    status: "SUCCEEDED" | "FAILED" | "TIMED_OUT",
    result: { output?: unknown; error?: string; cause?: string },
  ): void {
    for (const task of [...this.tasks.values()])
      if (!task.closed) this.close(task, "aborted", { error: "States.Aborted", cause: "the execution ended" });
    this.status = status;
    this.stop = { at: Date.now() / 1000, ...result };
    const type =
      status === "SUCCEEDED" ? "ExecutionSucceeded" : status === "FAILED" ? "ExecutionFailed" : "ExecutionTimedOut";
    const details =
      status === "SUCCEEDED"
        ? {
            executionSucceededEventDetails: {
              output: JSON.stringify(result.output),
              outputDetails: { truncated: false },
            },
          }
        : status === "FAILED"
          ? { executionFailedEventDetails: { error: result.error, cause: result.cause } }
          : { executionTimedOutEventDetails: { error: "States.Timeout" } };
    this.add(type, details);
    this.releasePollers();
  }

  /** A fresh token for the next Task ($$.Task.Token). */
  nextToken(): string {
    return newTaskToken();
  }

  /** Whether a task of this activity still waits for its decision. */
  isWaiting(activityArn: string): boolean {
    return [...this.tasks.values()].some((t) => t.activityArn === activityArn && !t.closed);
  }

  /** A problem with the sandbox: every waiting Task fails with it, so the execution stops. */
  abort(why: string): void {
    for (const task of [...this.tasks.values()])
      if (!task.closed) this.close(task, "failed", { error: "SandboxProblem", cause: why });
    this.releasePollers();
  }

  /** Ends every pending long poll with no task (the sandbox is shutting down). */
  releasePollers(): void {
    for (const list of this.pollers.values()) for (const poller of list.splice(0)) poller(undefined);
  }

  private close(task: WaitingTask, how: Closing, outcome: TaskOutcome): void {
    task.closed = how;
    const activity = task.kind === "activity";
    const [type, key] =
      how === "succeeded"
        ? [
            activity ? "ActivitySucceeded" : "TaskSucceeded",
            activity ? "activitySucceededEventDetails" : "taskSucceededEventDetails",
          ]
        : how === "failed"
          ? [
              activity ? "ActivityFailed" : "TaskFailed",
              activity ? "activityFailedEventDetails" : "taskFailedEventDetails",
            ]
          : how === "timed-out"
            ? [
                activity ? "ActivityTimedOut" : "TaskTimedOut",
                activity ? "activityTimedOutEventDetails" : "taskTimedOutEventDetails",
              ]
            : ["TaskStateAborted", "stateExitedEventDetails"];
    const details =
      how === "aborted"
        ? { name: task.stateName }
        : "output" in outcome
          ? { output: JSON.stringify(outcome.output), outputDetails: { truncated: false } }
          : { error: outcome.error, cause: outcome.cause };
    task.lastEventId = this.add(type, { [key]: details }, task.lastEventId).id;
    this.onTaskClosed?.(task.stateName, outcome, how);
    task.settle(outcome);
  }

  /** The task a token names: waiting, closed (answers TaskTimedOut), or unknown. */
  private find(token: unknown): WaitingTask | AwsError {
    if (typeof token !== "string" || token.length < 1 || token.length > 2048)
      return new AwsError("InvalidToken", "Invalid Token: the task token is malformed");
    const task = this.tasks.get(token);
    if (!task) return new AwsError("TaskDoesNotExist", "Task Does Not Exist");
    // SendTaskSuccess: "TaskTimedOut: the task token has either expired or the task associated with the token has already been closed" (@aws-sdk/client-sfn).
    if (task.closed) return new AwsError("TaskTimedOut", "Task Timed Out: the task has already been closed");
    return task;
  }

  private alias?: { aliasArn: string; versionArn: string };
  /** The execution was started through this alias, on this version. */
  startedThrough(aliasArn: string, versionArn: string): void {
    this.alias = { aliasArn, versionArn };
  }

  /** Answers the Step Functions and STS operations on `aws`. */
  serve(aws: FakeAws): void {
    const notThisExecution = (arn: unknown) =>
      new AwsError("ExecutionDoesNotExist", `Execution Does Not Exist: '${String(arn)}'`);
    aws.on("DescribeExecution", (body) =>
      body.executionArn !== this.executionArn
        ? notThisExecution(body.executionArn)
        : {
            executionArn: this.executionArn,
            stateMachineArn: this.stateMachineArn,
            // An execution started through an alias names it and its version (DescribeExecutionOutput, @aws-sdk/client-sfn).
            ...(this.alias
              ? { stateMachineAliasArn: this.alias.aliasArn, stateMachineVersionArn: this.alias.versionArn }
              : {}),
            name: this.executionArn.split(":").pop(),
            status: this.status,
            startDate: this.startDate,
            input: JSON.stringify(this.input),
            inputDetails: { included: true },
            ...(this.stop ? { stopDate: this.stop.at } : {}),
            ...(this.stop?.output !== undefined
              ? { output: JSON.stringify(this.stop.output), outputDetails: { included: true } }
              : {}),
            ...(this.stop?.error !== undefined ? { error: this.stop.error, cause: this.stop.cause } : {}),
          },
    );
    aws.on("GetExecutionHistory", (body) => {
      if (body.executionArn !== this.executionArn) return notThisExecution(body.executionArn);
      const ordered = body.reverseOrder ? [...this.events].reverse() : [...this.events];
      const from = body.nextToken ? Number(String(body.nextToken).replace("page-", "")) : 0;
      const size = body.maxResults || 100;
      return {
        events: ordered.slice(from, from + size),
        ...(from + size < ordered.length ? { nextToken: `page-${from + size}` } : {}),
      };
    });
    aws.on("SendTaskSuccess", (body) => {
      const task = this.find(body.taskToken);
      if (task instanceof AwsError) return task;
      let output: unknown;
      try {
        output = JSON.parse(String(body.output));
      } catch {
        return new AwsError("InvalidOutput", "Invalid Output: the output is not valid JSON");
      }
      this.close(task, "succeeded", { output });
      return {};
    });
    aws.on("SendTaskFailure", (body) => {
      const task = this.find(body.taskToken);
      if (task instanceof AwsError) return task;
      this.close(task, "failed", { error: String(body.error ?? ""), cause: String(body.cause ?? "") });
      return {};
    });
    aws.on("SendTaskHeartbeat", (body) => {
      const task = this.find(body.taskToken);
      return task instanceof AwsError ? task : {};
    });
    aws.on("GetActivityTask", (body) => {
      const activityArn = String(body.activityArn);
      if (!this.activities.has(activityArn))
        return new AwsError("ActivityDoesNotExist", `Activity Does Not Exist: '${activityArn}'`);
      return new Promise((resolve) => {
        const queue = this.queued.get(activityArn) ?? [];
        while (queue.length > 0 && queue[0].closed) queue.shift();
        const waiting = queue.shift();
        // No task waiting: the poll is answered empty after a while unless a task comes first.
        const timer = waiting
          ? undefined
          : setTimeout(() => {
              this.pollers.set(
                activityArn,
                (this.pollers.get(activityArn) ?? []).filter((p) => p !== hand),
              );
              resolve({});
            }, ACTIVITY_POLL_MS);
        const hand = (task: WaitingTask | undefined) => {
          if (timer) clearTimeout(timer);
          if (!task) {
            resolve({});
            return;
          }
          task.lastEventId = this.add(
            "ActivityStarted",
            { activityStartedEventDetails: { workerName: String(body.workerName ?? "") } },
            task.lastEventId,
          ).id;
          resolve({ taskToken: task.token, input: task.input });
        };
        if (waiting) {
          hand(waiting);
          return;
        }
        this.pollers.set(activityArn, [...(this.pollers.get(activityArn) ?? []), hand]);
      });
    });
    aws.on("GetCallerIdentity", () => callerIdentityXml(this.callerArn, this.executionArn.split(":")[4]));
  }
}
