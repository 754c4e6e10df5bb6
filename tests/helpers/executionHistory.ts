// GetExecutionHistory answers (reverse order, newest first) of executions that wait at an
// approval stage, as the approval page (to tie a link's token to its stage) and the operating
// scripts (to tell where an execution stands) read them.
//
// waitingTaskHistory: the newest events of an execution that waits at an email stage without
// follow-ups: the stage's TaskStateEntered, then its TaskScheduled whose parameters hold the token
// (the Lambda payload's taskToken for email-link; the base64url token inside the message for
// sns-callback).
//
// HistoryBuilder and FollowUpStage: whole histories, oldest event first, with the ids and
// previousEventId links Step Functions records. Each event names the event it follows in its own
// branch (the first event of each branch of a Parallel state names the ParallelStateStarted), so
// the events of a stage with reminders and escalation interleave as they do in a real history.
import { encodeToken } from "../../functions/mechanisms/email/approvalLink";
import { Mechanism, followUpStateNames, stageStateName } from "../../functions/contract";

const PAGE_URL = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/decide";
const T0 = 1795341600;

interface StageTask {
  stage: string;
  mechanism: Mechanism;
  token: string;
  executionArn: string;
  request?: unknown;
}

/** The resource and the parameters of a stage's Task as its TaskScheduled event records them (the token inside). */
function stageTask(args: StageTask): { resource: { resourceType: string; resource: string }; parameters: object } {
  if (args.mechanism === "sns-callback") {
    return {
      resource: { resourceType: "sns", resource: "publish.waitForTaskToken" },
      parameters: {
        TopicArn: `arn:aws:sns:eu-west-1:123456789012:sfn-approvals-test-${args.stage}-approvals`,
        Subject: "Approval needed: ...",
        Message: `Approval requested: ...\n\nReview the request and approve or reject it here:\n${PAGE_URL}?t=${encodeToken(args.token)}&e=${encodeURIComponent(args.executionArn)}&s=${args.stage}\n`,
      },
    };
  }
  return {
    resource: { resourceType: "lambda", resource: "invoke.waitForTaskToken" },
    parameters: {
      FunctionName: `arn:aws:lambda:eu-west-1:123456789012:function:stage-${args.stage}-start-fn-a1b2c3d`,
      Payload: {
        taskToken: args.token,
        request: args.request ?? { title: "..." },
        stage: args.stage,
        executionArn: args.executionArn,
      },
    },
  };
}

export function waitingTaskHistory(args: StageTask): { events: object[] } {
  const { resource, parameters } = stageTask(args);
  return {
    events: [
      {
        id: 8,
        previousEventId: 7,
        timestamp: T0 + 3,
        type: "TaskSubmitted",
        taskSubmittedEventDetails: { ...resource, output: "{}" },
      },
      { id: 7, previousEventId: 6, timestamp: T0 + 2, type: "TaskStarted", taskStartedEventDetails: resource },
      {
        id: 6,
        previousEventId: 5,
        timestamp: T0 + 1,
        type: "TaskScheduled",
        taskScheduledEventDetails: { ...resource, region: "eu-west-1", parameters: JSON.stringify(parameters) },
      },
      {
        id: 5,
        previousEventId: 4,
        timestamp: T0 + 1,
        type: "TaskStateEntered",
        stateEnteredEventDetails: { name: stageStateName(args.stage), input: "{}" },
      },
      {
        id: 4,
        previousEventId: 3,
        timestamp: T0,
        type: "ChoiceStateExited",
        stateExitedEventDetails: { name: "Validate request", output: "{}" },
      },
    ],
  };
}

export type HistoryEventJson = Record<string, any>;
type StateKind = "Task" | "Pass" | "Choice" | "Wait" | "Parallel" | "Succeed" | "Fail";

/** An execution's history, built event by event (oldest first): ExecutionStarted, "Read request" and "Validate request". */
export class HistoryBuilder {
  readonly events: HistoryEventJson[] = [];
  /** $.decisions of the workflow data, as state events carry it. */
  decisions: Record<string, unknown> = {};
  /** Epoch seconds of the newest event. */
  time: number;
  /** page() answers from the events up to this id: the history as it was at that moment. */
  shownUpTo = Infinity;

  constructor(
    readonly executionArn: string,
    readonly request: unknown,
    start = T0,
  ) {
    this.time = start;
    this.add(
      "ExecutionStarted",
      {
        executionStartedEventDetails: {
          input: JSON.stringify(request),
          inputDetails: { truncated: false },
          roleArn: "arn:aws:iam::123456789012:role/approvals-role-1a2b3c4",
        },
      },
      0,
    );
    this.enter("Pass", "Read request", this.last, JSON.stringify(request));
    this.exit("Pass", "Read request");
    this.enter("Choice", "Validate request");
    this.exit("Choice", "Validate request");
  }

  /** The id of the newest event. */
  get last(): number {
    return this.events.length;
  }

  /** The workflow data ({request, decisions}) a state's input or output holds now. */
  data(): string {
    return JSON.stringify(
      Object.keys(this.decisions).length > 0
        ? { request: this.request, decisions: this.decisions }
        : { request: this.request },
    );
  }

  /** Adds an event that follows event `after` (by default the newest event); returns its id. */
  add(type: string, details: object = {}, after = this.last, seconds = 1): number {
    const id = this.events.length + 1;
    this.time += seconds;
    this.events.push({ id, previousEventId: after, timestamp: this.time, type, ...details });
    return id;
  }

  enter(kind: StateKind, name: string, after = this.last, input = this.data()): number {
    return this.add(
      `${kind}StateEntered`,
      { stateEnteredEventDetails: { name, input, inputDetails: { truncated: false } } },
      after,
    );
  }

  exit(kind: StateKind, name: string, after = this.last, output = this.data()): number {
    return this.add(
      `${kind}StateExited`,
      { stateExitedEventDetails: { name, output, outputDetails: { truncated: false } } },
      after,
    );
  }

  /** The stage Task entered as event `entered` starts waiting: TaskScheduled (its parameters carry the token), TaskStarted, TaskSubmitted. Returns the TaskSubmitted's id. */
  waitingTask(task: StageTask, entered: number): number {
    const { resource, parameters } = stageTask({ ...task, request: task.request ?? this.request });
    const scheduled = this.add(
      "TaskScheduled",
      {
        taskScheduledEventDetails: {
          ...resource,
          region: "eu-west-1",
          parameters: JSON.stringify(parameters),
          timeoutInSeconds: 259200,
        },
      },
      entered,
    );
    const started = this.add("TaskStarted", { taskStartedEventDetails: resource }, scheduled);
    return this.add(
      "TaskSubmitted",
      { taskSubmittedEventDetails: { ...resource, output: "{}", outputDetails: { truncated: false } } },
      started,
    );
  }

  newestFirst(): HistoryEventJson[] {
    return [...this.events].reverse();
  }

  /** GetExecutionHistory's answer: reverseOrder, maxResults (default 100) and nextToken as Step Functions pages them. */
  page(body: { reverseOrder?: boolean; maxResults?: number; nextToken?: string }): {
    events: HistoryEventJson[];
    nextToken?: string;
  } {
    const shown = this.events.filter((event) => event.id <= this.shownUpTo);
    const ordered = body.reverseOrder ? shown.reverse() : shown;
    const from = body.nextToken ? Number(body.nextToken.replace("events-from-", "")) : 0;
    const size = body.maxResults || 100;
    return {
      events: ordered.slice(from, from + size),
      ...(from + size < ordered.length ? { nextToken: `events-from-${from + size}` } : {}),
    };
  }
}

/**
 * A stage with reminders and escalation (components/workflow/stageFollowUps.ts): the Parallel state
 * "Approval <stage> with follow-ups" whose branches are the stage's Task, the reminder loop and the
 * escalation. Each method adds one branch's events, linked to that branch's newest event. The
 * reminder branch's data is only {request, sent}; the other branches carry the workflow's data.
 */
export class FollowUpStage {
  readonly names: ReturnType<typeof followUpStateNames>;
  /** Ids of the stage Task's TaskStateEntered and TaskScheduled. */
  readonly taskEntered: number;
  readonly taskScheduled: number;
  /** Reminders sent (or given up) so far. */
  sent = 0;
  /** The newest event of each branch. */
  private branch: { task: number; reminder: number; escalation: number };
  private readonly resource: { resourceType: string; resource: string };

  constructor(
    private readonly h: HistoryBuilder,
    private readonly task: StageTask,
    private readonly options: { escalationTargets?: number; maxReminders?: number } = {},
  ) {
    this.names = followUpStateNames(task.stage);
    this.resource = stageTask(task).resource;
    h.enter("Parallel", this.names.wrapper);
    const started = h.add("ParallelStateStarted");
    // The first event of each branch follows the ParallelStateStarted.
    this.taskEntered = h.enter("Task", stageStateName(task.stage), started);
    const start = h.enter("Pass", this.names.remindersStart, started);
    const startExited = h.exit("Pass", this.names.remindersStart, start, this.reminderData());
    const reminderWait = h.enter("Wait", this.names.reminderWait, startExited, this.reminderData());
    const escalationWait = h.enter("Wait", this.names.escalationWait, started);
    const submitted = h.waitingTask(task, this.taskEntered);
    this.taskScheduled = submitted - 2;
    this.branch = { task: submitted, reminder: reminderWait, escalation: escalationWait };
  }

  private reminderData(): string {
    return JSON.stringify({ request: this.h.request, sent: this.sent });
  }

  /**
   * A publish Task of a follow-up branch after event `after`: sent (TaskSucceeded), or failed on
   * every attempt (3 retries) and caught. Returns the id of its TaskStateExited.
   */
  private publish(name: string, topic: string, subject: string, after: number, data: string, failed: boolean): number {
    const h = this.h;
    const entered = h.enter("Task", name, after, data);
    const resource = { resourceType: "sns", resource: "publish" };
    const parameters = JSON.stringify({
      TopicArn: `arn:aws:sns:eu-west-1:123456789012:${topic}`,
      Subject: subject,
      Message: "This approval request is still waiting for a decision ...",
    });
    let previous = entered;
    for (let attempt = 1; attempt <= (failed ? 4 : 1); attempt++) {
      const scheduled = h.add(
        "TaskScheduled",
        { taskScheduledEventDetails: { ...resource, region: "eu-west-1", parameters, timeoutInSeconds: 60 } },
        previous,
      );
      const started = h.add("TaskStarted", { taskStartedEventDetails: resource }, scheduled);
      previous = failed
        ? h.add(
            "TaskFailed",
            {
              taskFailedEventDetails: {
                ...resource,
                error: "SNS.AuthorizationErrorException",
                cause: "not authorized",
              },
            },
            started,
          )
        : h.add(
            "TaskSucceeded",
            {
              taskSucceededEventDetails: {
                ...resource,
                output: JSON.stringify({ MessageId: `message-${h.last}` }),
                outputDetails: { truncated: false },
              },
            },
            started,
          );
    }
    return h.exit("Task", name, previous, data);
  }

  /**
   * One reminder cycle (11 events when sent, 23 when every attempt failed): the wait ends, the
   * reminder is published (no token), counted, and the next wait begins, or the branch ends after
   * the last reminder.
   */
  remind(failed = false): this {
    const h = this.h;
    h.time += 3600;
    const waited = h.exit("Wait", this.names.reminderWait, this.branch.reminder, this.reminderData());
    let previous = this.publish(
      this.names.reminder,
      `sfn-approvals-test-${this.task.stage}-approvals`,
      "Reminder: approval needed: ...",
      waited,
      this.reminderData(),
      failed,
    );
    if (failed) {
      const notSent = h.enter("Pass", this.names.reminderNotSent, previous, this.reminderData());
      previous = h.exit("Pass", this.names.reminderNotSent, notSent, this.reminderData());
    }
    const count = h.enter("Pass", this.names.reminderCount, previous, this.reminderData());
    this.sent += 1;
    const counted = h.exit("Pass", this.names.reminderCount, count, this.reminderData());
    const left = h.enter("Choice", this.names.remindersLeft, counted, this.reminderData());
    const decided = h.exit("Choice", this.names.remindersLeft, left, this.reminderData());
    if (this.sent < (this.options.maxReminders ?? 100)) {
      this.branch.reminder = h.enter("Wait", this.names.reminderWait, decided, this.reminderData());
    } else {
      const done = h.enter("Succeed", this.names.remindersDone, decided, this.reminderData());
      this.branch.reminder = h.exit("Succeed", this.names.remindersDone, done, this.reminderData());
    }
    return this;
  }

  /** The escalation: the wait ends, each target is told once (or given up on), the branch succeeds. */
  escalate(failed = false): this {
    const h = this.h;
    let previous = h.exit("Wait", this.names.escalationWait, this.branch.escalation);
    for (let target = 1; target <= (this.options.escalationTargets ?? 1); target++) {
      previous = this.publish(
        this.names.escalation(target),
        `escalation-${target}`,
        "Escalation: approval overdue: ...",
        previous,
        h.data(),
        failed,
      );
      if (failed) {
        const notSent = h.enter("Pass", this.names.escalationNotSent(target), previous);
        previous = h.exit("Pass", this.names.escalationNotSent(target), notSent);
      }
    }
    const escalated = h.enter("Succeed", this.names.escalated, previous);
    this.branch.escalation = h.exit("Succeed", this.names.escalated, escalated);
    return this;
  }

  /**
   * The stage Task ends: with the approver's decision (TaskSucceeded) or at its timeout
   * (TaskTimedOut, then the "timed out" Pass). With `reminderRace`, the reminder branch enters its
   * publish Task just after the Task ended, before the decision stops the branches.
   */
  end(how: { decision: "approved" | "rejected"; approver: string } | "timed-out", reminderRace = false): this {
    const h = this.h;
    const { stage, mechanism } = this.task;
    const key = stage.replace(/-/g, "_");
    const base = stageStateName(stage);
    let last: number;
    if (how === "timed-out") {
      const timedOut = h.add(
        "TaskTimedOut",
        { taskTimedOutEventDetails: { ...this.resource, error: "States.Timeout" } },
        this.branch.task,
      );
      h.decisions = { ...h.decisions, [key]: { Error: "States.Timeout", Cause: "" } };
      const exited = h.exit("Task", base, timedOut);
      const pass = h.enter("Pass", `${base} timed out`, exited);
      h.decisions = {
        ...h.decisions,
        [key]: {
          approved: false,
          decision: "timed_out",
          stage,
          mechanism,
          approver: null,
          comment: null,
          decidedAt: new Date(h.time * 1000).toISOString().replace(/\.\d{3}Z$/, "Z"),
        },
      };
      last = h.exit("Pass", `${base} timed out`, pass);
    } else {
      const decision = {
        approved: how.decision === "approved",
        decision: how.decision,
        stage,
        mechanism,
        approver: how.approver,
        comment: null,
        decidedAt: new Date(h.time * 1000).toISOString().replace(/\.\d{3}Z$/, "Z"),
      };
      const succeeded = h.add(
        "TaskSucceeded",
        {
          taskSucceededEventDetails: {
            ...this.resource,
            output: JSON.stringify(decision),
            outputDetails: { truncated: false },
          },
        },
        this.branch.task,
      );
      h.decisions = { ...h.decisions, [key]: decision };
      last = h.exit("Task", base, succeeded);
    }
    if (reminderRace) {
      const waited = h.exit("Wait", this.names.reminderWait, this.branch.reminder, this.reminderData());
      this.branch.reminder = h.enter("Task", this.names.reminder, waited, this.reminderData());
    }
    const decision = h.decisions[key];
    const decided = h.enter("Pass", this.names.decided, last);
    const text = JSON.stringify({ decision: JSON.stringify(decision) });
    const decidedExited = h.exit("Pass", this.names.decided, decided, text);
    const fail = h.enter("Fail", this.names.decidedExit, decidedExited, text);
    const failed = h.add("ParallelStateFailed", {}, fail);
    // The Parallel's Catch writes {Error, Cause} at $.decisions.<stage>; the next two states unwrap the decision.
    h.decisions = { ...h.decisions, [key]: { Error: "sfn-approvals.StageDecided", Cause: JSON.stringify(decision) } };
    const parallelExited = h.exit("Parallel", this.names.wrapper, failed);
    const received = h.enter("Pass", this.names.received, parallelExited);
    h.decisions = { ...h.decisions, [key]: { decision } };
    const receivedExited = h.exit("Pass", this.names.received, received);
    const unwrapped = h.enter("Pass", this.names.unwrapped, receivedExited);
    h.decisions = { ...h.decisions, [key]: decision };
    const unwrappedExited = h.exit("Pass", this.names.unwrapped, unwrapped);
    const check = h.enter("Choice", `Check ${stage}`, unwrappedExited);
    h.exit("Choice", `Check ${stage}`, check);
    return this;
  }
}
