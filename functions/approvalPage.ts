// The approval page of the email mechanisms (email-link, sns-callback), behind an API Gateway
// HTTP API (payload format 2.0). GET shows the request and a form and changes nothing: mail
// scanners that fetch links can never decide. POST records the decision once with
// SendTaskSuccess. A damaged, expired or already used link gets a clear page with the right
// status, never a stack trace. Everything from the request is HTML-escaped; the page loads
// nothing from anywhere and says so in its Content-Security-Policy.
import { DescribeExecutionCommand, SFNClient, SendTaskHeartbeatCommand, SendTaskSuccessCommand } from "@aws-sdk/client-sfn";
import { createHash } from "crypto";
import { ApprovalRequest, Mechanism, requestProblems, stageDecision } from "./contract";

export interface ApprovalPageSettings {
  /** The state machine whose executions this page answers. */
  stateMachineArn: string;
  /** Stage name -> mechanism of every stage that sends approvers here. */
  stages: Record<string, Mechanism>;
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
  "dt{color:#57606a}dd{margin:0;overflow-wrap:anywhere}pre{background:#f6f8fa;padding:10px;border-radius:6px;overflow:auto;font-size:.85rem;white-space:pre-wrap}",
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
    body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">`
      + `<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>`
      + `<body><main>${body}</main></body></html>`,
  };
}

function message(statusCode: number, title: string, text: string): HttpResponse {
  return page(statusCode, title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p>`);
}

export const DAMAGED = () => message(400, "This link does not work", "The approval link is incomplete or damaged. Open it again from the email, or ask the requester to send a new request.");
export const CLOSED = () => message(410, "Nothing left to decide", "This request was already decided, or it is no longer waiting for a decision (it expired or was stopped). Nothing was changed.");
export const UNAVAILABLE = () => message(503, "Please try again", "Your decision could not be recorded just now; nothing was changed. Please try again in a minute.");

/** Task tokens travel base64url-encoded (RFC 4648 section 5, no padding): only [A-Za-z0-9_-]. */
export function encodeToken(token: string): string {
  return Buffer.from(token, "utf8").toString("base64url");
}

export function decodeToken(encoded: string | undefined): string | undefined {
  if (!encoded || !/^[A-Za-z0-9_-]{4,4000}$/.test(encoded)) return undefined;
  const token = Buffer.from(encoded, "base64url").toString("utf8");
  return token.length >= 1 && token.length <= 2048 && /^[\x21-\x7e]+$/.test(token) ? token : undefined;
}

interface LinkParams {
  token: string;
  executionArn: string;
  stage: string;
  mechanism: Mechanism;
}

/** The link's parameters: t (token), e (execution ARN of this state machine), s (a known stage). */
export function linkParams(fields: Record<string, string | undefined>, settings: ApprovalPageSettings): LinkParams | undefined {
  const token = decodeToken(fields.t);
  const executionPrefix = `${settings.stateMachineArn.replace(":stateMachine:", ":execution:")}:`;
  const executionArn = fields.e;
  const stage = fields.s;
  if (!token || !executionArn || !executionArn.startsWith(executionPrefix) || !/^[A-Za-z0-9_-]{1,80}$/.test(executionArn.slice(executionPrefix.length))) return undefined;
  if (!stage || !Object.prototype.hasOwnProperty.call(settings.stages, stage)) return undefined;
  return { token, executionArn, stage, mechanism: settings.stages[stage] };
}

function isClosed(error: unknown): boolean {
  const name = (error as { name?: string }).name;
  return name === "TaskTimedOut" || name === "TaskDoesNotExist" || name === "ExecutionDoesNotExist";
}

function isDamaged(error: unknown): boolean {
  return (error as { name?: string }).name === "InvalidToken";
}

function definitionList(request: ApprovalRequest, stage: string): string {
  const rows: Array<[string, string | undefined]> = [
    ["Request", request.requestId],
    ["Requester", request.requester],
    ["Amount", typeof request.amount === "number" ? `${request.amount}${request.currency ? ` ${request.currency}` : ""}` : undefined],
    ["Stage", stage],
  ];
  const items = rows.filter(([, v]) => v).map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join("");
  const link = request.link && /^https:\/\/[^\s"'<>]+$/.test(request.link)
    ? `<dt>Link</dt><dd><a href="${escapeHtml(request.link)}" rel="noopener noreferrer">${escapeHtml(request.link)}</a></dd>`
    : request.link ? `<dt>Link</dt><dd>${escapeHtml(request.link)}</dd>` : "";
  return `<dl>${items}${link}</dl>`;
}

/** GET: shows the request and the form; reads only (DescribeExecution, and a heartbeat that changes nothing). */
async function show(params: LinkParams, sfn: SFNClient): Promise<HttpResponse> {
  let request: ApprovalRequest;
  try {
    const execution = await sfn.send(new DescribeExecutionCommand({ executionArn: params.executionArn }));
    if (execution.status !== "RUNNING") return CLOSED();
    const input = JSON.parse(execution.input ?? "null") as unknown;
    if (requestProblems(input).length > 0) return DAMAGED();
    request = input as ApprovalRequest;
    // Confirms that this token still waits (for a callback task without HeartbeatSeconds a heartbeat changes nothing).
    await sfn.send(new SendTaskHeartbeatCommand({ taskToken: params.token }));
  } catch (error) {
    if (isClosed(error)) return CLOSED();
    if (isDamaged(error)) return DAMAGED();
    console.error(JSON.stringify({ msg: "approval page could not read the request", error: (error as Error).name, executionArn: params.executionArn }));
    return UNAVAILABLE();
  }
  const details = request.details === undefined ? "" : `<pre>${escapeHtml(JSON.stringify(request.details, null, 2))}</pre>`;
  return page(200, `Approve: ${request.title}`, `<h1>${escapeHtml(request.title)}</h1>${definitionList(request, params.stage)}${details}`
    + `<form method="post"><input type="hidden" name="t" value="${escapeHtml(encodeToken(params.token))}">`
    + `<input type="hidden" name="e" value="${escapeHtml(params.executionArn)}"><input type="hidden" name="s" value="${escapeHtml(params.stage)}">`
    + `<label for="name">Your name</label><input id="name" name="name" required maxlength="100" autocomplete="name">`
    + `<label for="comment">Comment (optional)</label><textarea id="comment" name="comment" rows="3" maxlength="1000"></textarea>`
    + `<div class="actions"><button class="approve" type="submit" name="decision" value="approve">Approve</button>`
    + `<button class="reject" type="submit" name="decision" value="reject">Reject</button></div></form>`
    + `<p class="note">Opening this page decides nothing; only the buttons do. Your name, your IP address and the time are recorded with your decision.</p>`);
}

function clean(text: string | undefined, max: number): string {
  return (text ?? "").replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ").trim().slice(0, max);
}

/** POST: records the decision once. */
async function decide(params: LinkParams, form: Record<string, string | undefined>, event: HttpEvent, sfn: SFNClient): Promise<HttpResponse> {
  const kind = form.decision === "approve" ? "approved" : form.decision === "reject" ? "rejected" : undefined;
  const name = clean(form.name, 100);
  if (!kind) return message(400, "Choose Approve or Reject", "The form arrived without a decision. Go back and press Approve or Reject.");
  if (!name) return message(400, "Your name is needed", "Go back, type your name and press the button again.");
  const http = event.requestContext?.http ?? {};
  const result = stageDecision({
    decision: kind,
    stage: params.stage,
    mechanism: params.mechanism,
    approver: `${name} (via email link)`,
    comment: clean(form.comment, 1000) || null,
    decidedAt: new Date(),
  });
  try {
    await sfn.send(new SendTaskSuccessCommand({ taskToken: params.token, output: JSON.stringify(result) }));
  } catch (error) {
    if (isClosed(error)) return CLOSED();
    if (isDamaged(error)) return DAMAGED();
    console.error(JSON.stringify({ msg: "approval page could not record a decision", error: (error as Error).name, executionArn: params.executionArn }));
    return UNAVAILABLE();
  }
  console.log(JSON.stringify({ msg: "approval decision recorded", ...result, executionArn: params.executionArn, sourceIp: http.sourceIp, userAgent: http.userAgent }));
  const title = kind === "approved" ? "Approved" : "Rejected";
  return message(200, title, `Your decision (${kind}) is recorded as ${result.approver}. You can close this page.`);
}

function formFields(event: HttpEvent): Record<string, string | undefined> {
  const raw = event.isBase64Encoded ? Buffer.from(event.body ?? "", "base64").toString("utf8") : event.body ?? "";
  return Object.fromEntries(new URLSearchParams(raw));
}

export async function handleApprovalPage(event: HttpEvent, settings: ApprovalPageSettings, sfn: SFNClient): Promise<HttpResponse> {
  const method = event.requestContext?.http?.method;
  if (method === "GET") {
    const params = linkParams(event.queryStringParameters ?? {}, settings);
    return params ? show(params, sfn) : DAMAGED();
  }
  if (method === "POST") {
    const contentType = (event.headers?.["content-type"] ?? "").split(";")[0].trim();
    if (contentType !== "application/x-www-form-urlencoded") return message(415, "Unsupported form", "Please use the buttons on the approval page.");
    const form = formFields(event);
    const params = linkParams(form, settings);
    return params ? decide(params, form, event, sfn) : DAMAGED();
  }
  return message(405, "Not allowed", "Open the link from your email.");
}
