// The approval page of the email mechanisms (email-link, sns-callback), behind an API Gateway
// HTTP API (payload format 2.0). GET shows the request and a form and changes nothing: mail
// scanners that fetch links can never decide. POST records the decision once with
// SendTaskSuccess. A damaged, expired or already used link gets a clear page with the right
// status, never a stack trace. Everything from the request is HTML-escaped; the page loads
// nothing from anywhere and says so in its Content-Security-Policy.
// email-link links carry a one-time code (functions/mechanisms/email/linkCodes.ts), never the token: the page finds
// the token, execution and stage in the code's item, and refuses token links for those stages.
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  HistoryEvent,
  SFNClient,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
} from "@aws-sdk/client-sfn";
import { createHash, randomUUID } from "crypto";
import { LINK_PARAMS, PAGE_PATH, decodeToken, encodeToken } from "./approvalLink";
import { eventsFollowing } from "./historyLinks";
import { PAGE_RESEND, ResendPolicy, sendWhileThrottled } from "../../shared/throttledSend";
import {
  claimLinkCode,
  codeState,
  confirmLinkCode,
  getLinkCode,
  isLinkCode,
  openToken,
  releaseLinkCode,
} from "./linkCodes";
import {
  ApprovalRequest,
  CONTROL_CHARACTERS,
  Mechanism,
  executionNameProblem,
  requestProblems,
  stageDecision,
  stageStateName,
} from "../../contract";

export interface ApprovalPageSettings {
  /** The state machine whose executions this page answers. */
  stateMachineArn: string;
  /** Stage name -> mechanism of every stage that sends approvers here. */
  stages: Record<string, Mechanism>;
  /** The mechanisms whose links carry a one-time code, never the token: their stages take no token link. */
  codeLinkMechanisms: Mechanism[];
  /** The code table of email-link links (ApprovalPage.linkCodes); needed when a stage uses email-link. */
  codeTable?: string;
}

/** The part of an API Gateway HTTP API (payload 2.0) event the page reads. */
export interface HttpEvent {
  requestContext?: { http?: { method?: string; sourceIp?: string; userAgent?: string } };
  queryStringParameters?: Record<string, string | undefined>;
  headers?: Record<string, string | undefined>;
  body?: string;
  isBase64Encoded?: boolean;
}

export interface HttpResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

const STYLE = [
  "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;padding:16px;background:#f6f7f9;color:#1b1f24}",
  "main{max-width:640px;margin:0 auto;background:#fff;border-radius:8px;padding:20px;box-shadow:0 1px 3px rgba(0,0,0,.12)}",
  "h1{font-size:1.3rem;margin:0 0 12px}dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 12px;margin:0 0 12px}",
  "dt{color:#57606a}dd{margin:0;overflow-wrap:anywhere}h2{font-size:1rem;margin:16px 0 6px}",
  ".scroll{overflow-x:auto}table{border-collapse:collapse;font-size:.85rem;width:auto;min-width:100%}th,td{border:1px solid #d0d7de;padding:4px 6px;text-align:left;vertical-align:top;overflow-wrap:break-word}th{background:#f6f8fa;font-weight:600;white-space:nowrap}",
  "label{display:block;margin:12px 0 4px;font-weight:600}input,textarea{width:100%;box-sizing:border-box;padding:8px;font:inherit;border:1px solid #d0d7de;border-radius:6px}",
  ".actions{display:flex;gap:12px;margin-top:16px}button{flex:1;padding:12px;font:inherit;font-weight:600;border:0;border-radius:6px;color:#fff;cursor:pointer}",
  ".approve{background:#1a7f37}.reject{background:#cf222e}.note{color:#57606a;font-size:.85rem}",
].join("");

/** Headers of every page: nothing loaded, nothing framed, no referrer (the link holds the token), no caching. */
export function pageHeaders(): Record<string, string> {
  const styleHash = createHash("sha256").update(STYLE).digest("base64");
  return {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": `default-src 'none'; style-src 'sha256-${styleHash}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
  };
}

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(statusCode: number, title: string, body: string): HttpResponse {
  return {
    statusCode,
    headers: pageHeaders(),
    body:
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
      `<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>` +
      `<body><main>${body}</main></body></html>`,
  };
}

function message(statusCode: number, title: string, text: string): HttpResponse {
  return page(statusCode, title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p>`);
}

export const DAMAGED = () =>
  message(
    400,
    "This link does not work",
    "The approval link is incomplete or damaged. Open it again from the email, or ask the requester to send a new request.",
  );
/** A POST whose token no longer waits: possibly the approver's own first press (a double click). */
export const ALREADY_DECIDED = () =>
  message(
    410,
    "Nothing left to decide",
    "A decision on this request was already recorded (perhaps yours, a moment ago), or it is no longer waiting for one (it expired or was stopped). This press changed nothing.",
  );
export const CLOSED = () =>
  message(
    410,
    "Nothing left to decide",
    "This request was already decided, or it is no longer waiting for a decision (it expired or was stopped). Nothing was changed.",
  );
export const UNAVAILABLE = () =>
  message(
    503,
    "Please try again",
    "The request could not be loaded just now; nothing was changed. Please open the link again in a minute.",
  );
// "2 minutes": past CLAIM_STALE_SECONDS (linkCodes.ts) after any claim, so the link then shows the form or "Nothing left to decide".
/** The decision's fate is unknown (one attempt only: a retry could be refused for our own first success). */
export const NOT_CONFIRMED = () =>
  message(
    503,
    "Your decision was not confirmed",
    "Step Functions did not confirm your decision, so it may or may not have been recorded. Open the link from the email again in 2 minutes: if the request still waits for a decision, decide again; if it says there is nothing left to decide, a decision was recorded.",
  );
/** AWS refused the decision (an answer with a 4xx status): nothing was recorded, and a code link is free again. */
export const NOT_RECORDED = (claimKept = false) =>
  message(
    503,
    "Your decision was not recorded",
    `Step Functions refused it just now, so nothing was recorded. Open the link from the email again${claimKept ? " in 2 minutes" : ""} and decide again; if this page comes back, try again later.`,
  );
/** A code whose fresh, unconfirmed claim belongs to an earlier press (perhaps still on its way) while the request still waits. */
export const BEING_RECORDED = (press: boolean) =>
  message(
    409,
    "A decision is being recorded",
    `Approve or Reject was pressed on this request less than a minute ago (perhaps by you), and Step Functions has not confirmed that decision. ${press ? "This press changed nothing." : "Nothing was changed."} Open the link from the email again in 2 minutes: if the request still waits for a decision, decide then; if it says there is nothing left to decide, a decision was recorded.`,
  );

interface LinkParams {
  token: string;
  executionArn: string;
  stage: string;
  mechanism: Mechanism;
  /** email-link: the link's one-time code (token, execution and stage come from its item). */
  code?: string;
}

/** What the page needs besides the request: Step Functions, and the code table's client. */
interface PageClients {
  sfn: SFNClient;
  dynamodb?: DynamoDBClient;
  settings: ApprovalPageSettings;
  /** How a throttled SendTaskSuccess is sent again (short: a person waits). */
  resend: ResendPolicy;
}

function isExecutionOf(settings: ApprovalPageSettings, executionArn: string | undefined): executionArn is string {
  const executionPrefix = `${settings.stateMachineArn.replace(":stateMachine:", ":execution:")}:`;
  return (
    !!executionArn &&
    executionArn.startsWith(executionPrefix) &&
    executionNameProblem(executionArn.slice(executionPrefix.length)) === undefined
  );
}

/**
 * A token link's parameters: t (token), e (execution ARN of this state machine), s (a known
 * stage). Only stages of token-link mechanisms take them: a code-link stage (email-link) decides
 * only with its one-time code, so a token read elsewhere (the execution history) opens nothing here.
 */
export function linkParams(
  fields: Record<string, string | undefined>,
  settings: ApprovalPageSettings,
): LinkParams | undefined {
  const token = decodeToken(fields[LINK_PARAMS.token]);
  const executionArn = fields[LINK_PARAMS.execution];
  const stage = fields[LINK_PARAMS.stage];
  if (!token || !isExecutionOf(settings, executionArn)) return undefined;
  if (
    !stage ||
    !Object.prototype.hasOwnProperty.call(settings.stages, stage) ||
    settings.codeLinkMechanisms.includes(settings.stages[stage])
  )
    return undefined;
  return { token, executionArn, stage, mechanism: settings.stages[stage] };
}

/**
 * A code link's parameters, from the code's item, and whether an earlier press holds a fresh
 * claim on it; or the page to answer instead: a malformed code or an item that is not this
 * page's is damaged, a used or expired code shows `closed`. A well-formed code without an item is
 * closed too: codes are 256 random bits, so that is almost always one whose item DynamoDB's TTL
 * deleted after the request expired.
 */
async function codeParams(
  code: string | undefined,
  clients: PageClients,
  closed: () => HttpResponse,
): Promise<{ params: LinkParams; claimed: boolean } | { answer: HttpResponse }> {
  const { settings, dynamodb } = clients;
  if (!isLinkCode(code)) return { answer: DAMAGED() };
  if (!settings.codeTable || !dynamodb) {
    console.error(JSON.stringify({ msg: "approval page has no code table: a deployment error" }));
    return { answer: UNAVAILABLE() };
  }
  let item;
  try {
    item = await getLinkCode(dynamodb, settings.codeTable, code);
  } catch (error) {
    console.error(
      JSON.stringify({ msg: "approval page could not read the link's code", error: (error as Error).name }),
    );
    return { answer: UNAVAILABLE() };
  }
  if (!item) return { answer: closed() };
  const mechanism = Object.prototype.hasOwnProperty.call(settings.stages, item.stage)
    ? settings.stages[item.stage]
    : undefined;
  if (!mechanism || !settings.codeLinkMechanisms.includes(mechanism) || !isExecutionOf(settings, item.executionArn))
    return { answer: DAMAGED() };
  // Sealed under the code and bound to the item's stage and execution: an edited item opens nothing.
  const token = openToken(code, item.sealedToken, item.stage, item.executionArn);
  if (!token) return { answer: DAMAGED() };
  const state = codeState(item, Math.floor(Date.now() / 1000));
  if (state === "closed") return { answer: closed() };
  return {
    params: { token, executionArn: item.executionArn, stage: item.stage, mechanism, code },
    claimed: state === "claimed",
  };
}

/** Whether a link or form names a code together with token-link fields (never produced by an email). */
function mixesCodeAndToken(fields: Record<string, string | undefined>): boolean {
  return [LINK_PARAMS.token, LINK_PARAMS.execution, LINK_PARAMS.stage].some((name) => fields[name] !== undefined);
}

function isClosed(error: unknown): boolean {
  const name = (error as { name?: string }).name;
  return name === "TaskTimedOut" || name === "TaskDoesNotExist" || name === "ExecutionDoesNotExist";
}

function isDamaged(error: unknown): boolean {
  return (error as { name?: string }).name === "InvalidToken";
}

/**
 * Whether a failed SendTaskSuccess proves that Step Functions recorded nothing: AWS answered with a
 * 4xx status, refusing the request. Every error SendTaskSuccess declares is a client fault with
 * HTTP 400 (InvalidOutput, InvalidToken, KmsAccessDeniedException, KmsInvalidStateException,
 * KmsThrottlingException, TaskDoesNotExist, TaskTimedOut: @aws-sdk/client-sfn
 * dist-types/commands/SendTaskSuccessCommand.d.ts; https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html),
 * as are the common ThrottlingException and AccessDeniedException
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/CommonErrors.html). The SDK puts the
 * answer's status in $metadata.httpStatusCode (@aws-sdk/core protocols, AwsJson1_0Protocol). A 5xx
 * (InternalFailure, ServiceUnavailable) or no answer at all (a dropped connection, a timeout) leaves
 * the decision's fate unknown.
 */
function refusedByAws(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: unknown } }).$metadata?.httpStatusCode;
  return typeof status === "number" && status >= 400 && status < 500;
}

function definitionList(request: ApprovalRequest, params: LinkParams, startDate: Date | undefined): string {
  const rows: Array<[string, string | undefined]> = [
    ["Request", request.requestId],
    ["Requester", request.requester],
    [
      "Amount",
      typeof request.amount === "number"
        ? `${request.amount.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}${request.currency ? ` ${request.currency}` : ""}`
        : undefined,
    ],
    ["Stage", params.stage],
    ["Workflow", params.executionArn.split(":").slice(-2, -1)[0]],
    ["Execution", params.executionArn.split(":").pop()],
    [
      "Requested",
      startDate && !Number.isNaN(startDate.getTime())
        ? `${startDate.toISOString().slice(0, 16).replace("T", " ")} UTC`
        : undefined,
    ],
  ];
  const items = rows
    .filter(([, v]) => v)
    .map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`)
    .join("");
  // Only an https link becomes clickable; anything else (javascript:, data:) is shown as text.
  const link =
    request.link && /^https:\/\/[^\s"'<>]+$/.test(request.link)
      ? `<dt>Link</dt><dd><a href="${escapeHtml(request.link)}" rel="noopener noreferrer">${escapeHtml(request.link)}</a></dd>`
      : request.link
        ? `<dt>Link</dt><dd>${escapeHtml(request.link)}</dd>`
        : "";
  return `<dl>${items}${link}</dl>`;
}

const MAX_DETAIL_CELLS = 400;

/**
 * The request's free-form `details` as HTML tables: an object becomes a two-column table, a list
 * of objects a table with one column per key, anything deeper than three levels compact JSON.
 * Every key and value is escaped.
 */
export function detailsHtml(details: unknown): string {
  let cells = 0;
  const scalar = (value: unknown): string => {
    cells += 1;
    if (value === null) return "<em>none</em>";
    return escapeHtml(typeof value === "string" ? value : JSON.stringify(value));
  };
  const render = (value: unknown, depth: number): string => {
    if (cells > MAX_DETAIL_CELLS) return "&hellip;";
    if (value === null || typeof value !== "object") return scalar(value);
    if (depth >= 3) return escapeHtml(JSON.stringify(value));
    if (Array.isArray(value)) {
      if (value.length === 0) return "<em>none</em>";
      const rows = value as unknown[];
      if (rows.every((row) => row !== null && typeof row === "object" && !Array.isArray(row))) {
        const columns = [...new Set(rows.flatMap((row) => Object.keys(row as object)))];
        const head = columns.map((c) => `<th scope="col">${escapeHtml(c)}</th>`).join("");
        const body = rows
          .map(
            (row) =>
              `<tr>${columns.map((c) => `<td>${c in (row as object) ? render((row as Record<string, unknown>)[c], depth + 1) : ""}</td>`).join("")}</tr>`,
          )
          .join("");
        return `<div class="scroll"><table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
      }
      return rows.map((item) => render(item, depth + 1)).join(", ");
    }
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) return "<em>none</em>";
    return `<div class="scroll"><table><tbody>${entries.map(([k, v]) => `<tr><th scope="row">${escapeHtml(k)}</th><td>${render(v, depth + 1)}</td></tr>`).join("")}</tbody></table></div>`;
  };
  return render(details, 0);
}

/**
 * Events per GetExecutionHistory page, and pages at most: 3,000 events hold what a waiting stage's
 * reminders and escalation can add after its TaskScheduled, even in the worst case of 100 reminders
 * that all failed to publish (about 23 events each, with the retries) and 10 escalation targets.
 */
const HISTORY_PAGE_EVENTS = 200;
const HISTORY_MAX_PAGES = 15;
/** Events after which a Task (or the attempt its TaskScheduled began) no longer waits for its token. */
const TASK_CLOSED = [
  "TaskSucceeded",
  "TaskFailed",
  "TaskTimedOut",
  "TaskAborted",
  "TaskStartFailed",
  "TaskSubmitFailed",
  "TaskStateExited",
  "TaskStateAborted",
];
/**
 * Events of a Task state's earlier attempts. A retried attempt's TaskScheduled may follow the failed
 * attempt's events rather than the TaskStateEntered; the way back to the TaskStateEntered passes them.
 */
const TASK_ATTEMPT = [
  "TaskScheduled",
  "TaskStarted",
  "TaskSubmitted",
  "TaskFailed",
  "TaskTimedOut",
  "TaskStartFailed",
  "TaskSubmitFailed",
];

type Binding = "waiting" | "other-stage" | "not-waiting";

/** The parts of a history event that tie it to the events it follows. */
type EventLink = Pick<HistoryEvent, "id" | "previousEventId" | "type">;

/** Whether an event of `newer` follows the TaskScheduled `scheduledId` through previousEventId links and closes its Task. */
function taskClosed(scheduledId: number, newer: EventLink[]): boolean {
  return eventsFollowing(scheduledId, newer).some((event) => TASK_CLOSED.includes(event.type ?? ""));
}

/**
 * Ties the link's three parts together: the token must be that of a Task of the execution that
 * still waits, and that Task must be the link's stage. Otherwise a link could show one request
 * (or stage) while its token answers another.
 *
 * The history is read newest first, page by page, until the TaskScheduled event whose parameters
 * carry the token (raw for email-link, base64url inside the message for sns-callback). It need
 * not be the newest TaskScheduled: with reminders or escalation, the stage's Task waits in one
 * branch of a Parallel state while the other branches keep adding their own events (publish
 * Tasks, Waits), so the newest events may belong to them, and the stage's TaskScheduled may lie
 * hundreds of events back. Concurrent branches interleave in the history, but each event's
 * previousEventId names the event it follows in its own branch: the Task still waits unless an
 * event that follows the TaskScheduled through those links ended it (TaskSucceeded, TaskTimedOut,
 * TaskStateExited, ...). The Task's state is the TaskStateEntered that the TaskScheduled follows
 * (directly, or through the events of earlier attempts when the Task was retried). Reading stops
 * as soon as both are known; a token not found within HISTORY_MAX_PAGES pages does not wait.
 */
export async function linkBinding(params: LinkParams, sfn: SFNClient): Promise<Binding> {
  /** The events newer than the token's TaskScheduled, newest first (only their links are kept). */
  const newer: EventLink[] = [];
  /** Once the token's TaskScheduled is found: the id of the older event it follows, looked for next. */
  let wanted: number | undefined;
  let nextToken: string | undefined;
  for (let page = 0; page < HISTORY_MAX_PAGES; page++) {
    const history = await sfn.send(
      new GetExecutionHistoryCommand({
        executionArn: params.executionArn,
        reverseOrder: true,
        maxResults: HISTORY_PAGE_EVENTS,
        includeExecutionData: true,
        nextToken,
      }),
    );
    for (const event of history.events ?? []) {
      if (wanted === undefined) {
        if (
          event.type !== "TaskScheduled" ||
          !tokensIn(event.taskScheduledEventDetails?.parameters).includes(params.token)
        ) {
          newer.push({ id: event.id, previousEventId: event.previousEventId, type: event.type });
          continue;
        }
        if (event.id === undefined || event.previousEventId === undefined || taskClosed(event.id, newer))
          return "not-waiting";
        wanted = event.previousEventId;
      } else if (event.id === wanted) {
        if (event.type === "TaskStateEntered")
          return event.stateEnteredEventDetails?.name === stageStateName(params.stage) ? "waiting" : "other-stage";
        if (!TASK_ATTEMPT.includes(event.type ?? "") || event.previousEventId === undefined) return "not-waiting";
        wanted = event.previousEventId;
      }
    }
    nextToken = history.nextToken;
    if (!nextToken) break;
  }
  // The token's TaskScheduled (or its Task's TaskStateEntered) is not among the events read.
  return "not-waiting";
}

/** The task tokens a Task's parameters pass on: a Lambda payload's taskToken, or the `t=` of approval links in a message. */
export function tokensIn(parameters: string | undefined): string[] {
  let parsed: { Payload?: { taskToken?: unknown }; Message?: unknown };
  try {
    parsed = JSON.parse(parameters ?? "null") ?? {};
  } catch {
    return [];
  }
  const tokens: string[] = [];
  if (typeof parsed.Payload?.taskToken === "string") tokens.push(parsed.Payload.taskToken);
  if (typeof parsed.Message === "string") {
    // Only the message's last approval link counts: the request's own text (title, details) comes
    // before it and could hold a look-alike link with another task's token.
    const links = [
      ...parsed.Message.matchAll(
        new RegExp(`${PAGE_PATH}\\?${LINK_PARAMS.token}=([A-Za-z0-9_-]+)(?![A-Za-z0-9_-])`, "g"),
      ),
    ];
    const token = links.length > 0 ? decodeToken(links[links.length - 1][1]) : undefined;
    if (token) tokens.push(token);
  }
  return tokens;
}

/** GET: shows the request and the form; reads only (DescribeExecution, and a heartbeat that changes nothing). */
async function show(params: LinkParams, sfn: SFNClient): Promise<HttpResponse> {
  let request: ApprovalRequest;
  let startDate: Date | undefined;
  try {
    const execution = await sfn.send(new DescribeExecutionCommand({ executionArn: params.executionArn }));
    if (execution.status !== "RUNNING") return CLOSED();
    const input = JSON.parse(execution.input ?? "null") as unknown;
    if (requestProblems(input).length > 0) return DAMAGED();
    request = input as ApprovalRequest;
    startDate = execution.startDate;
    const binding = await linkBinding(params, sfn);
    if (binding === "other-stage") return DAMAGED();
    if (binding === "not-waiting") return CLOSED();
    // Confirms that this token still waits (for a callback task without HeartbeatSeconds a heartbeat changes nothing).
    await sfn.send(new SendTaskHeartbeatCommand({ taskToken: params.token }));
  } catch (error) {
    if (isClosed(error)) return CLOSED();
    if (isDamaged(error)) return DAMAGED();
    console.error(
      JSON.stringify({
        msg: "approval page could not read the request",
        error: (error as Error).name,
        executionArn: params.executionArn,
      }),
    );
    return UNAVAILABLE();
  }
  const details = request.details === undefined ? "" : `<h2>Details</h2>${detailsHtml(request.details)}`;
  return page(
    200,
    `Approve: ${request.title}`,
    `<h1>${escapeHtml(request.title)}</h1>${definitionList(request, params, startDate)}${details}` +
      // The form's first submit button is a disabled, hidden one: pressing Enter in the name field
      // ("implicit submission") then submits nothing, instead of pressing the first real button, Approve.
      `<form method="post" action="${PAGE_PATH.slice(1)}"><button type="submit" disabled hidden aria-hidden="true" tabindex="-1"></button>${hiddenLinkFields(params)}` +
      `<label for="name">Your name</label><input id="name" name="name" required maxlength="100" autocomplete="name">` +
      `<label for="comment">Comment (optional)</label><textarea id="comment" name="comment" rows="3" maxlength="1000"></textarea>` +
      `<div class="actions"><button class="approve" type="submit" name="decision" value="approve">Approve</button>` +
      `<button class="reject" type="submit" name="decision" value="reject">Reject</button></div></form>` +
      `<p class="note">Opening this page decides nothing; only the buttons do, once. Your name, your IP address, your browser and the time are recorded with your decision.</p>`,
  );
}

/** The form carries the link back: its code alone, or token, execution and stage. */
function hiddenLinkFields(params: LinkParams): string {
  const hidden = (name: string, value: string) => `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`;
  if (params.code !== undefined) return hidden(LINK_PARAMS.code, params.code);
  return (
    hidden(LINK_PARAMS.token, encodeToken(params.token)) +
    hidden(LINK_PARAMS.execution, params.executionArn) +
    hidden(LINK_PARAMS.stage, params.stage)
  );
}

function clean(text: string | undefined, max: number): string {
  return (text ?? "")
    .replace(new RegExp(`[${CONTROL_CHARACTERS}]+`, "g"), " ")
    .replace(/\p{Cf}+/gu, "")
    .trim()
    .slice(0, max);
}

/** The decision and name of a POST, or the page that says what is missing. */
function formDecision(
  form: Record<string, string | undefined>,
): { kind: "approved" | "rejected"; name: string } | { answer: HttpResponse } {
  const kind = form.decision === "approve" ? "approved" : form.decision === "reject" ? "rejected" : undefined;
  const name = clean(form.name, 100);
  if (!kind)
    return {
      answer: message(
        400,
        "Choose Approve or Reject",
        "The form arrived without a decision. Go back and press Approve or Reject.",
      ),
    };
  if (!name)
    return { answer: message(400, "Your name is needed", "Go back, type your name and press the button again.") };
  return { kind, name };
}

/** Nothing while the link's Task still waits at its stage (per the history); else the page to answer, `closed` when it no longer waits. */
async function unlessWaiting(
  params: LinkParams,
  sfn: SFNClient,
  closed: () => HttpResponse,
): Promise<HttpResponse | undefined> {
  try {
    const binding = await linkBinding(params, sfn);
    if (binding === "other-stage") return DAMAGED();
    if (binding === "not-waiting") return closed();
  } catch (error) {
    if (isClosed(error)) return CLOSED();
    console.error(
      JSON.stringify({
        msg: "approval page could not read the execution history",
        error: (error as Error).name,
        executionArn: params.executionArn,
      }),
    );
    return UNAVAILABLE();
  }
  return undefined;
}

/** POST: records the decision once (a code link: claims its code first, conditionally, so only one press sends). */
async function decide(
  params: LinkParams,
  form: Record<string, string | undefined>,
  event: HttpEvent,
  clients: PageClients,
): Promise<HttpResponse> {
  const { sfn } = clients;
  const chosen = formDecision(form);
  if ("answer" in chosen) return chosen.answer;
  const { kind, name } = chosen;
  const http = event.requestContext?.http ?? {};
  const result = stageDecision({
    decision: kind,
    stage: params.stage,
    mechanism: params.mechanism,
    approver: `${name} (via email link)`,
    comment: clean(form.comment, 1000) || null,
    decidedAt: new Date(),
  });
  const stop = await unlessWaiting(params, sfn, ALREADY_DECIDED);
  if (stop) return stop;
  // A code decides once: the conditional claim lets one press through; a second (a double click,
  // a forwarded email) is refused here. A claim whose decision AWS refused is released at once; one
  // whose decision's fate is unknown frees the code after CLAIM_STALE_SECONDS.
  const claimId = randomUUID();
  if (params.code !== undefined) {
    try {
      if (
        !(await claimLinkCode(clients.dynamodb!, clients.settings.codeTable!, params.code, {
          claimId,
          nowSeconds: Math.floor(Date.now() / 1000),
        }))
      )
        return BEING_RECORDED(true);
    } catch (error) {
      console.error(
        JSON.stringify({
          msg: "approval page could not claim the link's code",
          error: (error as Error).name,
          executionArn: params.executionArn,
        }),
      );
      return UNAVAILABLE();
    }
  }
  // Every attempt is logged with its decision, whatever its fate (never the token).
  const attempt = { ...result, executionArn: params.executionArn, sourceIp: http.sourceIp, userAgent: http.userAgent };
  // Sent again only while AWS refuses it for capacity (nothing recorded): never a second decision.
  const sent = await sendWhileThrottled(
    () => sfn.send(new SendTaskSuccessCommand({ taskToken: params.token, output: JSON.stringify(result) })),
    clients.resend,
  );
  if (!sent.ok) {
    const { error } = sent;
    const errorName = (error as Error).name;
    if (!refusedByAws(error)) {
      // Step Functions may have recorded it: the claim stays, so no second decision races this one.
      console.error(JSON.stringify({ msg: "approval decision not confirmed", error: errorName, ...attempt }));
      return NOT_CONFIRMED();
    }
    let claimKept = false;
    if (params.code !== undefined) {
      await releaseLinkCode(clients.dynamodb!, clients.settings.codeTable!, params.code, claimId).catch(
        (releaseError: unknown) => {
          claimKept = true;
          console.error(
            JSON.stringify({
              msg: "approval page could not release the link's code",
              error: (releaseError as Error).name,
              executionArn: params.executionArn,
            }),
          );
        },
      );
    }
    if (isClosed(error)) return ALREADY_DECIDED();
    if (isDamaged(error)) return DAMAGED();
    console.error(
      JSON.stringify({
        msg: "approval decision refused by Step Functions",
        error: errorName,
        attempts: sent.attempts,
        ...attempt,
      }),
    );
    return NOT_RECORDED(claimKept);
  }
  if (params.code !== undefined) {
    // Bookkeeping only: Step Functions accepts one decision per token whatever this item says.
    await confirmLinkCode(clients.dynamodb!, clients.settings.codeTable!, params.code, claimId, {
      confirmedAt: new Date().toISOString(),
      decision: kind,
    }).catch((error: unknown) => {
      console.error(
        JSON.stringify({
          msg: "approval page could not mark the link's code as used",
          error: (error as Error).name,
          executionArn: params.executionArn,
        }),
      );
    });
  }
  console.log(JSON.stringify({ msg: "approval decision recorded", attempts: sent.attempts, ...attempt }));
  const title = kind === "approved" ? "Approved" : "Rejected";
  return message(
    200,
    title,
    `Your decision (${kind}) for stage ${params.stage} is recorded as ${result.approver}. You can close this page.`,
  );
}

/**
 * The form's fields, or the name of a field that came more than once. A repeated field is refused
 * rather than resolved (first or last wins): the page never guesses which decision was meant.
 */
export function formFields(event: HttpEvent): { fields: Record<string, string> } | { repeated: string } {
  const raw = event.isBase64Encoded ? Buffer.from(event.body ?? "", "base64").toString("utf8") : (event.body ?? "");
  const fields: Record<string, string> = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    if (Object.prototype.hasOwnProperty.call(fields, key)) return { repeated: key };
    fields[key] = value;
  }
  return { fields };
}

export async function handleApprovalPage(
  event: HttpEvent,
  settings: ApprovalPageSettings,
  sfn: SFNClient,
  dynamodb?: DynamoDBClient,
  resend: ResendPolicy = PAGE_RESEND,
): Promise<HttpResponse> {
  const clients: PageClients = { sfn, dynamodb, settings, resend };
  const method = event.requestContext?.http?.method;
  if (method === "GET") {
    const query = event.queryStringParameters ?? {};
    if (query[LINK_PARAMS.code] !== undefined) {
      if (mixesCodeAndToken(query)) return DAMAGED();
      const found = await codeParams(query[LINK_PARAMS.code], clients, CLOSED);
      if ("answer" in found) return found.answer;
      // An earlier press's claim, unconfirmed: recorded (the Task ended), or perhaps still on its way.
      return found.claimed
        ? ((await unlessWaiting(found.params, sfn, CLOSED)) ?? BEING_RECORDED(false))
        : show(found.params, sfn);
    }
    const params = linkParams(query, settings);
    return params ? show(params, sfn) : DAMAGED();
  }
  if (method === "POST") {
    const contentType = (event.headers?.["content-type"] ?? "").split(";")[0].trim();
    if (contentType !== "application/x-www-form-urlencoded")
      return message(415, "Unsupported form", "Please use the buttons on the approval page.");
    const form = formFields(event);
    if ("repeated" in form) {
      return message(
        400,
        "The form arrived damaged",
        "A field of the form came more than once, so nothing was decided. Open the link from your email again and press one button.",
      );
    }
    if (form.fields[LINK_PARAMS.code] !== undefined) {
      if (mixesCodeAndToken(form.fields)) return DAMAGED();
      // The form is checked before the code is looked up: a press without a decision reads nothing.
      const chosen = formDecision(form.fields);
      if ("answer" in chosen) return chosen.answer;
      const found = await codeParams(form.fields[LINK_PARAMS.code], clients, ALREADY_DECIDED);
      if ("answer" in found) return found.answer;
      // Never a second decision while the first may be in flight.
      return found.claimed
        ? ((await unlessWaiting(found.params, sfn, ALREADY_DECIDED)) ?? BEING_RECORDED(true))
        : decide(found.params, form.fields, event, clients);
    }
    const params = linkParams(form.fields, settings);
    return params ? decide(params, form.fields, event, clients) : DAMAGED();
  }
  return message(405, "Not allowed", "Open the link from your email.");
}
