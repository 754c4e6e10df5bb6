// The approval contract of DESIGN.md section 4, shared by every mechanism and every handler.
// Plain TypeScript with no Pulumi import: the handlers in this folder are serialized into Lambdas.

export const MECHANISMS = ["ssm-automation", "codepipeline", "activity", "email-link", "sns-callback"] as const;
export type Mechanism = (typeof MECHANISMS)[number];

export type StageDecisionKind = "approved" | "rejected" | "timed_out";
export type WorkflowDecisionKind = StageDecisionKind | "auto_approved";

/** The JSON every mechanism sends with SendTaskSuccess, identical for all five mechanisms. */
export interface StageDecision {
  approved: boolean;
  decision: StageDecisionKind;
  stage: string;
  mechanism: Mechanism;
  approver: string | null;
  comment: string | null;
  decidedAt: string;
}

/** The workflow's Task state of a stage (the approval page checks that a link's token belongs to it). */
export function stageStateName(stage: string): string {
  return `Approval ${stage}`;
}

/** The Pass state that turns a stage Task's timeout into the `timed_out` decision. */
export function timedOutStateName(stateName: string): string {
  return `${stateName} timed out`;
}

/**
 * The names of a stage's follow-up states (reminders and escalation). With follow-ups, the stage
 * Task "Approval <stage>" runs in the first branch of the Parallel state `wrapper`; the reminder
 * and escalation branches run beside it and stop as soon as the decision is made. Every one of
 * these names starts with "Approval <stage> ", so stageOfStateName() finds the stage.
 */
export function followUpStateNames(stage: string) {
  const base = stageStateName(stage);
  return {
    /** Parallel: the stage's entry state when it has follow-ups. */
    wrapper: `${base} with follow-ups`,
    /** Pass then Fail that end the decision branch, carrying the decision out of the Parallel. */
    decided: `${base} decided`,
    decidedExit: `${base} decided, stopping follow-ups`,
    /** Fail: a Task of the decision branch raised the decision error itself (never a decision). */
    forged: `${base} forged decision refused`,
    /** Pass states after the Parallel that put the decision back at $.decisions.<stage>. */
    received: `${base} decision received`,
    unwrapped: `${base} decision unwrapped`,
    remindersStart: `${base} reminders start`,
    reminderWait: `${base} reminder wait`,
    reminder: `${base} reminder`,
    reminderNotSent: `${base} reminder not sent`,
    reminderCount: `${base} reminder counted`,
    remindersLeft: `${base} reminders left?`,
    remindersDone: `${base} reminders done`,
    escalationWait: `${base} escalation wait`,
    /** One Task per escalation target (1-based). */
    escalation: (target: number) => `${base} escalation ${target}`,
    escalationNotSent: (target: number) => `${base} escalation ${target} not sent`,
    escalated: `${base} escalated`,
  };
}

/** The stage a state of the workflow belongs to ("Approval <stage>" or "Approval <stage> ..."); undefined for other states. */
export function stageOfStateName(name: string): string | undefined {
  const prefix = stageStateName("");
  if (!name.startsWith(prefix)) return undefined;
  const stage = name.slice(prefix.length).split(" ")[0];
  return /^[a-z][a-z0-9-]{0,30}$/.test(stage) ? stage : undefined;
}

/**
 * Longest approver comment kept in a decision, counted as JSON text (escapes included): a decision
 * must fit a Fail state's Cause (32,768 characters) to leave the follow-up Parallel.
 */
export const MAX_COMMENT_CHARS = 4000;
/** Longest approver text kept in a decision, counted the same way. */
export const MAX_APPROVER_CHARS = 2048;
const TRUNCATED = "... (truncated)";

/** Length of `text` inside a JSON document (without the quotes). */
function jsonLength(text: string): number {
  return JSON.stringify(text).length - 2;
}

/** `text`, or its longest start (whole code points) plus "... (truncated)" whose JSON length is at most `max`. */
function capped(text: string | null | undefined, max: number): string | null {
  if (!text) return null;
  if (jsonLength(text) <= max) return text;
  const points = Array.from(text);
  let low = 0;
  let high = points.length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (jsonLength(points.slice(0, mid).join("") + TRUNCATED) <= max) low = mid;
    else high = mid - 1;
  }
  return points.slice(0, low).join("") + TRUNCATED;
}

/** The execution input: only `title` is required. */
export interface ApprovalRequest {
  title: string;
  requestId?: string;
  requester?: string;
  amount?: number;
  currency?: string;
  link?: string;
  details?: unknown;
}

/** The output of the ApprovalWorkflow state machine. */
export interface WorkflowResult {
  approved: boolean;
  decision: WorkflowDecisionKind;
  stages: StageDecision[];
  request: ApprovalRequest;
}

/**
 * Builds a stage decision. `approved` is derived from `decision`, so a decision object can
 * never say approved=true with anything but decision="approved".
 */
export function stageDecision(fields: {
  decision: StageDecisionKind;
  stage: string;
  mechanism: Mechanism;
  approver?: string | null;
  comment?: string | null;
  decidedAt: Date | string;
}): StageDecision {
  if (fields.decision !== "approved" && fields.decision !== "rejected" && fields.decision !== "timed_out") {
    throw new Error(`Unknown decision '${String(fields.decision)}': expected approved, rejected or timed_out`);
  }
  const decidedAt = typeof fields.decidedAt === "string" ? new Date(fields.decidedAt) : fields.decidedAt;
  if (Number.isNaN(decidedAt.getTime())) {
    throw new Error(`Invalid decision time '${String(fields.decidedAt)}'`);
  }
  return {
    approved: fields.decision === "approved",
    decision: fields.decision,
    stage: fields.stage,
    mechanism: fields.mechanism,
    approver: capped(fields.approver, MAX_APPROVER_CHARS),
    comment: capped(fields.comment, MAX_COMMENT_CHARS),
    decidedAt: decidedAt.toISOString().replace(/\.\d{3}Z$/, "Z"),
  };
}

/**
 * Checks an execution input against the request shape. Returns the list of problems
 * (empty when the request is valid); the state machine enforces the same rules in ASL.
 */
export function requestProblems(value: unknown): string[] {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return ["the request must be a JSON object"];
  }
  const request = value as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof request.title !== "string" || request.title === "") {
    problems.push("'title' is required and must be a non-empty string");
  }
  if ("amount" in request && (typeof request.amount !== "number" || !Number.isFinite(request.amount) || request.amount < 0)) {
    problems.push("'amount', when present, must be a number of at least 0");
  }
  for (const key of ["requestId", "requester", "currency", "link"]) {
    if (key in request && typeof request[key] !== "string") {
      problems.push(`'${key}', when present, must be a string`);
    }
  }
  return problems;
}

/**
 * Request fields and AWS limits, one rule: a request is refused for its shape (requestProblems, and
 * the same checks in the workflow's "Validate request" state), never for the length of its text.
 * Where a mechanism passes a field to an AWS API with a smaller limit, it shortens the text to fit,
 * at a character boundary, ending in TRUNCATION_MARK, and an empty value becomes "-":
 * - SSM Automation parameters (Message, RequestId): 1 to 512 characters (AutomationParameterValue);
 * - CodePipeline variables (RequestSummary, RequestId): 1 to 1000 characters (PipelineVariable value);
 *   a link longer than that is replaced by the execution's console link rather than cut;
 * - SNS subjects: fewer than 100 characters; every one-line field of an email (title, requestId,
 *   requester, currency, link) at most ONE_LINE_FIELD_MAX characters, details at most 2000, so a
 *   message stays far below SNS's 256 KB.
 * The execution input keeps the whole request; the total input is bounded by Step Functions'
 * 256 KiB (checked by `npm run start-approval` before it starts an execution).
 */
export const TRUNCATION_MARK = "... (truncated)";
export const ONE_LINE_FIELD_MAX = 1000;

/** `text` cut to at most `max` UTF-16 units at a code point boundary, ending in TRUNCATION_MARK; "-" when empty. */
export function fitText(text: string, max: number): string {
  if (text === "") return "-";
  if (text.length <= max) return text;
  let kept = "";
  for (const point of text) {
    if (kept.length + point.length > max - TRUNCATION_MARK.length) break;
    kept += point;
  }
  return kept + TRUNCATION_MARK;
}

/**
 * A short plain-text summary of a request for notifications, cut to `maxChars`. With
 * `oneLine`, parts are joined with " | " and control characters (newlines too) become spaces.
 */
export function summarizeRequest(request: ApprovalRequest, maxChars: number, oneLine = false): string {
  const lines = [`Approval requested: ${request.title}`];
  if (request.requestId) lines.push(`Request: ${request.requestId}`);
  if (request.requester) lines.push(`Requester: ${request.requester}`);
  if (typeof request.amount === "number") lines.push(`Amount: ${request.amount}${request.currency ? ` ${request.currency}` : ""}`);
  if (request.link) lines.push(`Link: ${request.link}`);
  if (request.details !== undefined) lines.push(`Details: ${JSON.stringify(request.details)}`);
  // U+2028/U+2029 are line breaks too (as in the emails): a one-line summary holds none.
  const text = oneLine ? lines.map((line) => line.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, " ")).join(" | ") : lines.join("\n");
  return fitText(text, maxChars);
}
