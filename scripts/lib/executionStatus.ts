// Where an execution of the approval workflow stands, read from Step Functions: the stage it waits
// on (its newest "Approval <stage>" Task state not yet left), since when, and the decisions so far.
//
// Only the newest events of the history are read (reverse order, a page or a few). Of each event
// only the state names, timestamps and the workflow's own data ({request, decisions}) are used:
// never the Task parameters, which hold task tokens.
//
// A stage with reminders or escalation waits in a Parallel state: its Task "Approval <stage>" in
// one branch, the reminder and escalation states ("Approval <stage> reminder wait", ...) in the
// others (components/workflow/stageFollowUps.ts). Their events are the newest while the Task waits, so the Task's
// TaskStateEntered can lie many events back: about 11 per reminder sent, about 23 per reminder
// whose publishing failed on every attempt, at most 100 reminders per stage.
import type { DescribeExecutionCommandOutput, HistoryEvent, SFNClient } from "@aws-sdk/client-sfn";
import { sfnSdk } from "./sdk";
import {
  decisionKey,
  followUpStateNames,
  stageOfStateName,
  stageStateName,
  timedOutStateName,
} from "../../functions/contract";
import { isCapacityError } from "../../functions/shared/capacityErrors";
import { StageInfo, WorkflowTarget, stageInfo } from "./workflowTarget";
import { alignedRows, approverList, cell, formatAmount, formatDuration, formatTime, truncate } from "./terminalFormat";

/**
 * Events per page, and pages at most: 3,000 events hold a waiting stage's worst case, 100
 * reminders that all failed to publish (about 2,300 events) and 10 escalation targets.
 */
export const HISTORY_PAGE_SIZE = 200;
const HISTORY_MAX_PAGES = 15;

/** A stage decision as the workflow recorded it (fields not to be trusted: shown, never acted on). */
export interface RecordedDecision {
  stage: string;
  decision: string;
  mechanism: string | null;
  approver: string | null;
  /** The name shown for the approver, when the mechanism gives one (slack: Slack's display name). */
  approverName?: string | null;
  comment: string | null;
  decidedAt: string | null;
}

/** "U0BOB (Bob)": the approver, with the name the mechanism gave beside it; "" without an approver. */
export function approverLabel(decision: Pick<RecordedDecision, "approver" | "approverName">): string {
  const approver = cell(decision.approver);
  if (!approver) return "";
  const name = cell(decision.approverName);
  return name && name !== approver ? `${approver} (${truncate(name, 80)})` : approver;
}

export interface ExecutionPosition {
  /** The newest state the execution entered or left. */
  state?: string;
  /** The approval stage it waits on now, and since when. */
  waiting?: { stage: string; since: Date; capacity?: CapacityWait };
  /** Decisions recorded so far, in the order they were made. */
  decisions: RecordedDecision[];
  /** The request, from the newest workflow data. */
  request?: unknown;
  /** Why it ended, when it failed, was aborted or timed out (the newest event says). */
  failure?: { error?: string; cause?: string };
}

/**
 * A stage whose start was refused for capacity and waits for its Task's Retry: the newest attempt
 * failed with a capacity error (functions/shared/capacityErrors.ts) and no attempt reached the
 * approvers since. Step Functions records no retry event: a retried Task reads TaskScheduled,
 * TaskStarted, TaskFailed, then TaskScheduled again (HistoryEventType, @aws-sdk/client-sfn).
 */
export interface CapacityWait {
  /** The first capacity failure of the current run of them. */
  since: Date;
  /** Attempts made so far (TaskScheduled events of the stage's Task). */
  attempts: number;
  lastError: string;
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const text = (value: unknown) => (typeof value === "string" ? value : null);

export function parseJson(data: string | undefined): unknown {
  if (data === undefined) return undefined;
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * A decision as the workflow's "Check <stage>" state reads it: only approved=true with
 * decision="approved" approves, "timed_out" is a timeout, anything else a rejection. Not a
 * decision (undefined): the {Error, Cause} a Catch writes before the timed-out state replaces it,
 * or an answer without a boolean `approved` and a string `decision` (it fails the execution).
 */
function recordedDecision(value: unknown, key?: string): RecordedDecision | undefined {
  if (
    !isObject(value) ||
    typeof value.stage !== "string" ||
    typeof value.decision !== "string" ||
    typeof value.approved !== "boolean"
  )
    return undefined;
  if (key !== undefined && key !== decisionKey(value.stage)) return undefined;
  const decision =
    value.approved && value.decision === "approved"
      ? "approved"
      : value.decision === "timed_out"
        ? "timed_out"
        : "rejected";
  return {
    stage: value.stage,
    decision,
    mechanism: text(value.mechanism),
    approver: text(value.approver),
    ...(typeof value.approverName === "string" ? { approverName: value.approverName } : {}),
    comment: text(value.comment),
    decidedAt: text(value.decidedAt),
  };
}

/**
 * The decisions and request in a state's input or output, or the workflow's output (which also has
 * the overall `decision` and `approved`, when a boolean); undefined for other data.
 */
export function workflowData(
  value: unknown,
): { decisions: RecordedDecision[]; request?: unknown; decision?: string; approved?: boolean } | undefined {
  if (!isObject(value)) return undefined;
  const known = (d: RecordedDecision | undefined): d is RecordedDecision => d !== undefined;
  if (Array.isArray(value.stages) && typeof value.decision === "string") {
    const approved = typeof value.approved === "boolean" ? value.approved : undefined;
    return {
      decisions: value.stages.map((d) => recordedDecision(d)).filter(known),
      request: value.request,
      decision: value.decision,
      approved,
    };
  }
  if ("request" in value) {
    const decisions = isObject(value.decisions)
      ? Object.entries(value.decisions)
          .map(([key, d]) => recordedDecision(d, key))
          .filter(known)
      : [];
    return { decisions, request: value.request };
  }
  return undefined;
}

/**
 * What a state event says about the Task of `stage`: "entered" (its TaskStateEntered: it waits
 * from then on, unless a newer event closed it), "no-wait" (the stage is decided or timed out, or
 * its Parallel was only just entered: the Task does not wait), or undefined (a reminder or
 * escalation state, which runs while the Task waits).
 */
function stageMark(stage: string, event: HistoryEvent, name: string): "entered" | "no-wait" | undefined {
  const task = stageStateName(stage);
  const names = followUpStateNames(stage);
  if (name === task)
    return event.type === "TaskStateEntered" ? "entered" : event.stateExitedEventDetails ? "no-wait" : undefined;
  // The stage's own closing states.
  if ([timedOutStateName(task), names.decided, names.decidedExit, names.received, names.unwrapped].includes(name))
    return "no-wait";
  if (name === names.wrapper) return "no-wait";
  return undefined;
}

/** States of a stage's reminder branch: their data is only {request, sent} (a count of reminders), not the workflow's decisions. */
function inReminderBranch(name: string): boolean {
  const stage = stageOfStateName(name);
  if (stage === undefined) return false;
  const names = followUpStateNames(stage);
  return [
    names.remindersStart,
    names.reminderWait,
    names.reminder,
    names.reminderNotSent,
    names.reminderCount,
    names.remindersLeft,
    names.remindersDone,
  ].includes(name);
}

/** Events of one attempt of a Task (after its TaskStateEntered, before its TaskStateExited). */
const TASK_ATTEMPT_EVENTS = [
  "TaskScheduled",
  "TaskStarted",
  "TaskStartFailed",
  "TaskSubmitted",
  "TaskSubmitFailed",
  "TaskSucceeded",
  "TaskFailed",
  "TaskTimedOut",
];

interface TaskEvent {
  id: number;
  type: string;
  timestamp?: Date;
  error?: string;
}

/**
 * The capacity wait of the Task entered as event `enteredId`, from its attempts' events (each
 * names the one it follows in previousEventId, the first one the TaskStateEntered); undefined
 * unless its newest failure is a capacity error and no attempt was submitted since.
 */
export function capacityWaitOf(enteredId: number, next: Map<number, TaskEvent>): CapacityWait | undefined {
  let attempts = 0;
  let wait: CapacityWait | undefined;
  const seen = new Set<number>();
  for (let event = next.get(enteredId); event && !seen.has(event.id); event = next.get(event.id)) {
    seen.add(event.id);
    if (event.type === "TaskScheduled") attempts += 1;
    else if (event.error !== undefined && isCapacityError(event.error) && event.timestamp)
      wait = { since: wait?.since ?? event.timestamp, attempts, lastError: event.error };
    else if (event.type !== "TaskStarted") wait = undefined; // submitted, succeeded, or another failure
  }
  return wait && { ...wait, attempts };
}

/** Reads history events newest first until it knows where the execution is and what was decided. */
class PositionScan {
  private readonly position: ExecutionPosition = { decisions: [] };
  private located = false;
  private hasData = false;
  /** The stage whose Task the newest state (one of its reminder or escalation states) runs beside: its TaskStateEntered is looked for among older events. */
  private seeking?: string;
  /** Task attempt events newer than the position, by the id of the event each follows. */
  private readonly taskEvents = new Map<number, TaskEvent>();

  /** True once nothing older is needed. */
  add(event: HistoryEvent): boolean {
    if (!this.located && TASK_ATTEMPT_EVENTS.includes(event.type ?? "") && event.id !== undefined) {
      const failed =
        event.taskFailedEventDetails ?? event.taskSubmitFailedEventDetails ?? event.taskStartFailedEventDetails;
      if (event.previousEventId !== undefined)
        this.taskEvents.set(event.previousEventId, {
          id: event.id,
          type: event.type!,
          timestamp: event.timestamp,
          error: failed?.error,
        });
    }
    const ended =
      event.executionFailedEventDetails ?? event.executionAbortedEventDetails ?? event.executionTimedOutEventDetails;
    if (ended && !this.position.failure) this.position.failure = { error: ended.error, cause: ended.cause };
    const entered = event.stateEnteredEventDetails;
    const exited = event.stateExitedEventDetails;
    if (entered || exited) {
      const name = (entered ?? exited)!.name;
      if (!this.located) {
        if (this.seeking === undefined) this.position.state = name;
        this.locate(event, name ?? "");
      }
      if (!this.hasData && !inReminderBranch(name ?? "")) {
        const data = workflowData(parseJson(entered ? entered.input : exited!.output));
        if (data) {
          this.hasData = true;
          this.position.decisions = data.decisions;
          this.position.request = data.request;
        }
      }
    } else if (event.type === "ExecutionStarted") {
      // The oldest event: nothing was decided before it; its input is the request.
      this.located = true;
      if (!this.hasData) {
        this.hasData = true;
        this.position.request = parseJson(event.executionStartedEventDetails?.input);
      }
    }
    return this.located && this.hasData;
  }

  /**
   * The newest state event names the state; when it is a stage's Task entered, the execution waits
   * there. When it is one of a stage's reminder or escalation states, older events are read until
   * the stage's Task entered (it waits since then), or until a TaskStateExited of that Task or one
   * of the stage's closing states (newer than its TaskStateEntered: the stage was decided) or the
   * stage's Parallel entered (its Task was not entered yet): then it waits on nothing.
   */
  private locate(event: HistoryEvent, name: string): void {
    const stage = stageOfStateName(name);
    // While seeking, only the stage's own states count (all the Parallel's branches hold).
    if (this.seeking !== undefined && stage !== this.seeking) return;
    const mark = stage === undefined ? "no-wait" : stageMark(stage, event, name);
    if (mark === undefined) {
      // A reminder or escalation state: the stage's Task may be waiting beside it.
      this.seeking = stage;
      return;
    }
    if (mark === "entered" && stage !== undefined && event.timestamp) {
      const capacity = event.id === undefined ? undefined : capacityWaitOf(event.id, this.taskEvents);
      this.position.waiting = { stage, since: event.timestamp, ...(capacity ? { capacity } : {}) };
    }
    this.located = true;
    this.seeking = undefined;
  }

  result(): ExecutionPosition {
    return this.position;
  }
}

/** Where the execution is, from its events (newest first, as GetExecutionHistory with reverseOrder gives them). */
export function positionFromEvents(eventsNewestFirst: HistoryEvent[]): ExecutionPosition {
  const scan = new PositionScan();
  for (const event of eventsNewestFirst) if (scan.add(event)) break;
  return scan.result();
}

export async function readPosition(sfn: SFNClient, executionArn: string): Promise<ExecutionPosition> {
  const scan = new PositionScan();
  let nextToken: string | undefined;
  for (let page = 0; page < HISTORY_MAX_PAGES; page++) {
    const answer = await sfn.send(
      new (sfnSdk().GetExecutionHistoryCommand)({
        executionArn,
        reverseOrder: true,
        maxResults: HISTORY_PAGE_SIZE,
        nextToken,
      }),
    );
    for (const event of answer.events ?? []) if (scan.add(event)) return scan.result();
    nextToken = answer.nextToken;
    if (!nextToken) break;
  }
  return scan.result();
}

export async function describeExecution(sfn: SFNClient, executionArn: string): Promise<DescribeExecutionCommandOutput> {
  return sfn.send(new (sfnSdk().DescribeExecutionCommand)({ executionArn }));
}

/** Still running (a redrive about to run again counts as running). */
export function isRunning(status: string | undefined): boolean {
  return status === "RUNNING" || status === "PENDING_REDRIVE";
}

/** "stage manager (ssm-automation)" */
export function stageLabel(stage: string, info: StageInfo | undefined): string {
  return `stage ${cell(stage)}${info?.mechanism ? ` (${cell(info.mechanism)})` : ""}`;
}

/** "Waiting on stage manager (ssm-automation) since ... (2m 05s); approvers: ..." */
export function waitingLine(
  target: WorkflowTarget | undefined,
  waiting: { stage: string; since: Date },
  now: number,
): string {
  const info = stageInfo(target, waiting.stage);
  const approvers = info && info.approvers.length > 0 ? `; approvers: ${approverList(info.approvers)}` : "";
  return `Waiting on ${stageLabel(waiting.stage, info)} since ${formatTime(waiting.since)} (${formatDuration(now - waiting.since.getTime())})${approvers}`;
}

/** "attempt 3, last error AutomationExecutionLimitExceededException" */
export function capacityNote(capacity: CapacityWait): string {
  return `attempt ${capacity.attempts}, last error ${truncate(cell(capacity.lastError), 100)}`;
}

/** "for capacity on stage manager (ssm-automation) since ... (5m 00s), attempt 3, last error ...: not sent to the approvers yet" */
export function capacityLine(
  target: WorkflowTarget | undefined,
  waiting: { stage: string; capacity: CapacityWait },
  now: number,
): string {
  const { capacity } = waiting;
  return `for capacity on ${stageLabel(waiting.stage, stageInfo(target, waiting.stage))} since ${formatTime(capacity.since)} (${formatDuration(now - capacity.since.getTime())}), ${capacityNote(capacity)}: not sent to the approvers yet`;
}

/** "Stage manager: approved by alice: "looks fine"" */
export function decisionLine(decision: RecordedDecision): string {
  const by = decision.approver ? ` by ${approverLabel(decision)}` : "";
  const comment = decision.comment ? `: "${truncate(cell(decision.comment), 200)}"` : "";
  return `Stage ${cell(decision.stage)}: ${cell(decision.decision).replace("_", " ")}${by}${comment}`;
}

function decidedAt(value: string | null): string {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? cell(value) : formatTime(date);
}

/**
 * Each stage with its decision so far, as aligned rows: the stages the stack outputs list (in
 * order), then any other stage the history names. `at` is the approval stage the execution waits
 * on (running) or was in when it ended without a decision (failed, aborted, timed out).
 */
export function stageRows(
  target: WorkflowTarget | undefined,
  position: { decisions: RecordedDecision[]; at?: { stage: string; since: Date; capacity?: CapacityWait } },
  ended: boolean,
): string[] {
  const names = [...(target?.stages.map((s) => s.name) ?? [])];
  for (const name of [...position.decisions.map((d) => d.stage), ...(position.at ? [position.at.stage] : [])]) {
    if (!names.includes(name)) names.push(name);
  }
  const rows = names.map((name) => {
    const decision = [...position.decisions].reverse().find((d) => d.stage === name);
    const mechanism = cell(stageInfo(target, name)?.mechanism ?? decision?.mechanism ?? "") || "-";
    if (decision) {
      return [
        cell(name),
        mechanism,
        cell(decision.decision),
        decidedAt(decision.decidedAt),
        approverLabel(decision) || "-",
        truncate(cell(decision.comment), 100),
      ];
    }
    const capacity = position.at?.stage === name && !ended ? position.at.capacity : undefined;
    if (capacity)
      return [cell(name), mechanism, "waiting for capacity", formatTime(capacity.since), "-", capacityNote(capacity)];
    if (position.at?.stage === name)
      return [cell(name), mechanism, ended ? "no decision" : "waiting", formatTime(position.at.since), "-", ""];
    return [cell(name), mechanism, ended ? "not reached" : "pending", "", "", ""];
  });
  return alignedRows([["STAGE", "MECHANISM", "DECISION", "AT", "BY", "COMMENT"], ...rows], "  ");
}

/** The request's fields worth a line each: title, request id, requester, amount, link. */
export function requestLines(request: unknown): Array<[string, string]> {
  if (!isObject(request)) return [];
  const lines: Array<[string, string]> = [];
  const add = (label: string, value: unknown) => {
    if (typeof value === "string" && value !== "") lines.push([label, truncate(cell(value), 200)]);
  };
  add("Title", request.title);
  add("Request", request.requestId);
  add("Requester", request.requester);
  if (typeof request.amount === "number") lines.push(["Amount", formatAmount(request.amount, request.currency)]);
  add("Link", request.link);
  return lines;
}
