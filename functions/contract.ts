// The approval contract of DESIGN.md section 4, shared by every mechanism and every handler.
// Plain TypeScript with no Pulumi import: the handlers in this folder are serialized into Lambdas.

export const MECHANISMS = [
  "ssm-automation",
  "codepipeline",
  "activity",
  "email-link",
  "sns-callback",
  "slack",
] as const;
export type Mechanism = (typeof MECHANISMS)[number];

export type StageDecisionKind = "approved" | "rejected" | "timed_out";
export type WorkflowDecisionKind = StageDecisionKind | "auto_approved";

/** The JSON every mechanism sends with SendTaskSuccess, identical for every mechanism. */
export interface StageDecision {
  approved: boolean;
  decision: StageDecisionKind;
  stage: string;
  mechanism: Mechanism;
  approver: string | null;
  /** slack only: the decider's name as Slack shows it (docs/contract.md); absent for other mechanisms. */
  approverName?: string;
  /** slack only: the decider's workspace (team) ID, as the signed interaction payload says. */
  approverTeam?: string;
  comment: string | null;
  decidedAt: string;
}

/**
 * Optional decision fields a mechanism may set, and which the decision record copies for its
 * stages only (components/workflow/auditStates.ts): other mechanisms' records stay as they were.
 */
export const MECHANISM_DECISION_FIELDS: Partial<Record<Mechanism, ReadonlyArray<"approverName" | "approverTeam">>> = {
  slack: ["approverName", "approverTeam"],
};

/** The workflow's Task state of a stage (the approval page checks that a link's token belongs to it). */
export function stageStateName(stage: string): string {
  return `Approval ${stage}`;
}

/** The Pass state that turns a stage Task's timeout into the `timed_out` decision. */
export function timedOutStateName(stateName: string): string {
  return `${stateName} timed out`;
}

/** Key of a stage's decision under $.decisions (stage names may hold '-', JSONPath keys may not). */
export function decisionKey(stage: string): string {
  return stage.replace(/-/g, "_");
}

/** The error a malformed request fails the execution with, before any stage. */
export const REQUEST_INVALID_ERROR = "InvalidApprovalRequest";
/** The error a stage answer that is not a whole decision (or a forged one) fails the execution with: nothing is approved. */
export const INVALID_DECISION_ERROR = "InvalidStageDecision";
/** Carries a decision out of a stage's follow-up Parallel as a Fail's Cause; only the workflow's own Fail may raise it. */
export const STAGE_DECIDED_ERROR = "sfn-approvals.StageDecided";

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
/** Longest approverName / approverTeam kept in a decision (Slack's names are far shorter), counted the same way. */
export const MAX_APPROVER_DETAIL_CHARS = 256;
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
  /** Set only when known (slack); left out of the decision otherwise. */
  approverName?: string | null;
  approverTeam?: string | null;
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
  const approverName = capped(fields.approverName, MAX_APPROVER_DETAIL_CHARS);
  const approverTeam = capped(fields.approverTeam, MAX_APPROVER_DETAIL_CHARS);
  return {
    approved: fields.decision === "approved",
    decision: fields.decision,
    stage: fields.stage,
    mechanism: fields.mechanism,
    approver: capped(fields.approver, MAX_APPROVER_CHARS),
    ...(approverName !== null ? { approverName } : {}),
    ...(approverTeam !== null ? { approverTeam } : {}),
    comment: capped(fields.comment, MAX_COMMENT_CHARS),
    decidedAt: decidedAt.toISOString().replace(/\.\d{3}Z$/, "Z"),
  };
}

/** What one request field must be: its JSON type, whether it is required, and its bounds. */
export type RequestFieldRule = { field: keyof ApprovalRequest; required?: true } & (
  { type: "string"; nonEmpty?: true } | { type: "number"; min?: number }
);

/**
 * The request rules, one table: requestProblems() checks them in TypeScript and the workflow's
 * "Validate request" Choice state (components/workflow/request.ts) in ASL, in this order.
 * `details` is free-form and has no rule.
 */
export const REQUEST_FIELDS: RequestFieldRule[] = [
  { field: "title", required: true, type: "string", nonEmpty: true },
  { field: "amount", type: "number", min: 0 },
  { field: "requestId", type: "string" },
  { field: "requester", type: "string" },
  { field: "currency", type: "string" },
  { field: "link", type: "string" },
];

/** "a non-empty string", "a number of at least 0", ... */
function ruleText(rule: RequestFieldRule): string {
  if (rule.type === "string") return rule.nonEmpty ? "a non-empty string" : "a string";
  return rule.min === undefined ? "a number" : `a number of at least ${rule.min}`;
}

/** The problem requestProblems reports for a field that breaks its rule. */
function ruleProblem(rule: RequestFieldRule): string {
  return rule.required
    ? `'${rule.field}' is required and must be ${ruleText(rule)}`
    : `'${rule.field}', when present, must be ${ruleText(rule)}`;
}

/** All the rules in one sentence: the Cause of the workflow's "Request invalid" Fail state. */
export function requestRulesText(): string {
  const required = REQUEST_FIELDS.filter((r) => r.required).map((r) => `${ruleText(r)} '${r.field}'`);
  const plainStrings = REQUEST_FIELDS.filter((r) => !r.required && r.type === "string" && !r.nonEmpty).map(
    (r) => `'${r.field}'`,
  );
  const others = REQUEST_FIELDS.filter((r) => !r.required && !(r.type === "string" && !r.nonEmpty)).map(ruleProblem);
  const list = (items: string[]) =>
    items.length > 1 ? `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}` : items.join("");
  const parts = [
    ...others,
    ...(plainStrings.length > 0 ? [`${list(plainStrings)}, when present, must be strings`] : []),
  ];
  return `The request must be a JSON object with ${list(required)}; ${parts.join("; ")}.`;
}

function followsRule(rule: RequestFieldRule, value: unknown): boolean {
  if (rule.type === "string") return typeof value === "string" && !(rule.nonEmpty && value === "");
  return typeof value === "number" && Number.isFinite(value) && !(rule.min !== undefined && value < rule.min);
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
  return REQUEST_FIELDS.filter((rule) =>
    rule.field in request ? !followsRule(rule, request[rule.field]) : rule.required,
  ).map(ruleProblem);
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
 * The execution input keeps the whole request; `npm run start-approval` keeps it to 128 KiB, half of
 * Step Functions' 256 KiB, because the decision record's write carries it again (docs/audit.md).
 */
export const TRUNCATION_MARK = "... (truncated)";
export const ONE_LINE_FIELD_MAX = 1000;

/** C0 controls, DEL and C1 controls, as the inside of a RegExp character class: no Step Functions name or ARN holds one. */
export const CONTROL_CHARACTERS = "\\u0000-\\u001f\\u007f-\\u009f";
/** A run of control characters (line breaks among them) or U+2028/U+2029, as a RegExp source: one-line text has none. */
export const LINE_BREAKS = `[${CONTROL_CHARACTERS}\\u2028\\u2029]+`;
/** LINE_BREAKS as a JSONata regex, for the states that write emails (components/workflow/asl.ts). */
export const JSONATA_LINE_BREAKS = `/${LINE_BREAKS}/`;

/** True when `text` holds a control character (no Step Functions name or ARN does). */
export function hasControlCharacters(text: string): boolean {
  return new RegExp(`[${CONTROL_CHARACTERS}]`).test(text);
}

/** `text` with each run of LINE_BREAKS turned into one space. */
export function withoutLineBreaks(text: string): string {
  return text.replace(new RegExp(LINE_BREAKS, "g"), " ");
}

/** Why `name` cannot name an execution (Step Functions' naming rules), or undefined when it can. */
export function executionNameProblem(name: string): string | undefined {
  if (name.length < 1 || name.length > 80) return `it must be 1 to 80 characters long (it has ${name.length})`;
  if (/\s/.test(name)) return "it must not contain whitespace";
  if (hasControlCharacters(name)) return "it must not contain control characters";
  const special = [...name].filter((c) => '<>{}[]?*"#%\\^|~`$&,;:/'.includes(c));
  if (special.length > 0)
    return `it must not contain ${[...new Set(special)].map((c) => `'${c}'`).join(", ")} (none of < > { } [ ] ? * " # % \\ ^ | ~ \` $ & , ; : /)`;
  return undefined;
}

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
  if (typeof request.amount === "number")
    lines.push(`Amount: ${request.amount}${request.currency ? ` ${request.currency}` : ""}`);
  if (request.link) lines.push(`Link: ${request.link}`);
  if (request.details !== undefined) lines.push(`Details: ${JSON.stringify(request.details)}`);
  const text = oneLine ? lines.map(withoutLineBreaks).join(" | ") : lines.join("\n");
  return fitText(text, maxChars);
}
