// A minimal Slack Web API client (https://docs.slack.dev/apis/web-api): POST
// https://slack.com/api/<method> with the bot token in `Authorization: Bearer` (a JSON body must
// carry the token in that header: "Keeping up with the JSONs",
// https://docs.slack.dev/changelog/2017-10-keeping-up-with-the-jsons); every answer is JSON with a
// top-level `ok`, a failure `{ ok: false, error: "<code>" }`. Rate limits
// (https://docs.slack.dev/apis/web-api/rate-limits): HTTP 429 with `Retry-After: <seconds>`.
// Errors are named `Slack.<code>` (Step Functions Retry/Catch match names) and their messages hold
// the method and the code only: never the token, the request body or the answer.
// Handlers take the API URL from SLACK_API_URL (tests point it at tests/helpers/fakeSlack.ts);
// production leaves it unset, so https://slack.com/api/ is used.
// Plain TypeScript with no Pulumi import, Node's global fetch: the stage's functions are serialized with it.

export const SLACK_API_URL = "https://slack.com/api/";
/** Environment variable naming another API URL (tests only; unset in production). */
export const SLACK_API_URL_ENV = "SLACK_API_URL";

export interface SlackCallOptions {
  /** The bot token (xoxb-…); sent only in the Authorization header. */
  token: string;
  /** Ends with "/"; https, or http to a loopback address (the tests' fake). */
  apiUrl?: string;
  fetchImpl?: typeof fetch;
  /** Retries after a 429, a 5xx, a non-JSON answer or a network error. */
  maxRetries?: number;
  /** A longer Retry-After fails the call with Slack.ratelimited instead of waiting. */
  maxRetryAfterSeconds?: number;
  /** Per attempt. */
  timeoutMs?: number;
  /** "form" for methods whose docs list only application/x-www-form-urlencoded (users.info). */
  encoding?: "json" | "form";
  /** Waits between attempts (tests inject one that records the waits). */
  sleep?: (ms: number) => Promise<void>;
}

/** A successful answer: `ok: true` and the method's fields. */
export type SlackOk = { ok: true } & Record<string, unknown>;

/** The API URL handlers use: SLACK_API_URL when set (tests), else Slack's. */
export function slackApiUrl(env: Record<string, string | undefined> = process.env): string {
  return env[SLACK_API_URL_ENV] || SLACK_API_URL;
}

// Slack's error codes are snake_case words; anything else is not echoed.
const ERROR_CODE_PATTERN = /^[a-z0-9_]{1,80}$/;
const METHOD_PATTERN = /^[a-z]+(\.[A-Za-z]+)+$/;
/** Wait before retrying a 5xx, a non-JSON answer or a network error (doubled per retry). */
const RETRY_BASE_MS = 250;

function slackError(method: string, code: string, detail?: string): Error {
  const safe = ERROR_CODE_PATTERN.test(code) ? code : "unrecognized_error";
  const error = new Error(`Slack ${method} failed: ${safe}${detail ? ` (${detail})` : ""}`);
  Object.defineProperty(error, "name", { value: `Slack.${safe}`, writable: true, configurable: true });
  return error;
}

function checkedApiUrl(apiUrl: string): string {
  let url: URL;
  try {
    url = new URL(apiUrl);
  } catch {
    throw slackError("(any method)", "invalid_api_url", "the Slack API URL is not a URL");
  }
  const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
  // The token goes only to https, or to the tests' fake on this machine.
  if (!(url.protocol === "https:" || (url.protocol === "http:" && loopback)) || url.search || url.hash) {
    throw slackError("(any method)", "invalid_api_url", "the Slack API URL must be https without a query");
  }
  return apiUrl.endsWith("/") ? apiUrl : `${apiUrl}/`;
}

function encodeForm(args: Record<string, unknown>): string {
  const form = new URLSearchParams();
  for (const [key, value] of Object.entries(args)) {
    if (value === undefined) continue;
    // Slack takes objects and arrays in a form as JSON-encoded strings (Web API, "URL-encoded bodies").
    form.append(key, typeof value === "object" && value !== null ? JSON.stringify(value) : String(value));
  }
  return form.toString();
}

/** Retry-After in seconds (an integer, as Slack sends it); 1 when absent or unreadable. */
function retryAfterSeconds(header: string | null): number {
  const seconds = header !== null && /^\s*\d{1,6}\s*$/.test(header) ? Number(header) : NaN;
  return Number.isFinite(seconds) ? seconds : 1;
}

function networkDetail(error: unknown): string {
  const e = error as { name?: unknown; cause?: { code?: unknown } };
  if (e?.name === "TimeoutError" || e?.name === "AbortError") return "timed out";
  const code = e?.cause?.code;
  // Only a system error code (ECONNREFUSED, ENOTFOUND, …): undici's messages name the host.
  return typeof code === "string" && /^[A-Z_]{2,40}$/.test(code) ? code : "network error";
}

/**
 * Calls a Web API method and returns its `{ ok: true, … }` answer. `ok: false` throws
 * `Slack.<error>` at once (no retry), except `ratelimited`, which waits Retry-After (at most
 * maxRetryAfterSeconds) and retries; a 5xx or non-JSON answer retries and then throws
 * `Slack.http_<status>`; a network error retries and then throws `Slack.unreachable`.
 * A retried POST may have taken effect already (Slack's internal_error says so): a chat.postMessage
 * retried after a 5xx or a lost answer can post twice.
 */
export async function callSlack(
  method: string,
  args: Record<string, unknown>,
  options: SlackCallOptions,
): Promise<SlackOk> {
  if (!METHOD_PATTERN.test(method)) throw slackError("(invalid method)", "invalid_method");
  if (typeof options.token !== "string" || !/^[\x21-\x7e]+$/.test(options.token)) {
    throw slackError(method, "not_authed", "no usable token was given");
  }
  const url = checkedApiUrl(options.apiUrl ?? SLACK_API_URL) + method;
  const fetchImpl = options.fetchImpl ?? fetch;
  const maxRetries = Math.max(0, options.maxRetries ?? 2);
  const maxRetryAfter = options.maxRetryAfterSeconds ?? 5;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const form = options.encoding === "form";
  const body = form ? encodeForm(args) : JSON.stringify(args);
  const headers = {
    authorization: `Bearer ${options.token}`,
    "content-type": form ? "application/x-www-form-urlencoded" : "application/json; charset=utf-8",
  };

  for (let attempt = 0; ; attempt++) {
    const retriesLeft = attempt < maxRetries;
    const backoff = () => sleep(RETRY_BASE_MS * 2 ** attempt);
    let response: Response;
    try {
      response = await fetchImpl(url, { method: "POST", headers, body, signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      if (retriesLeft) {
        await backoff();
        continue;
      }
      throw slackError(method, "unreachable", networkDetail(error));
    }
    let answer: unknown;
    try {
      answer = JSON.parse(await response.text());
    } catch {
      answer = undefined;
    }
    const parsed =
      typeof answer === "object" && answer !== null && !Array.isArray(answer)
        ? (answer as Record<string, unknown>)
        : undefined;

    if (response.status === 429) {
      const wait = retryAfterSeconds(response.headers.get("retry-after"));
      if (!retriesLeft || wait > maxRetryAfter) {
        throw slackError(method, "ratelimited", `Retry-After ${wait} s; ${attempt + 1} attempt(s)`);
      }
      await sleep(wait * 1000);
      continue;
    }
    if (response.status >= 500 || !parsed || typeof parsed.ok !== "boolean") {
      if (retriesLeft) {
        await backoff();
        continue;
      }
      throw slackError(method, `http_${response.status}`, `${attempt + 1} attempt(s)`);
    }
    if (parsed.ok !== true) throw slackError(method, typeof parsed.error === "string" ? parsed.error : "");
    return parsed as SlackOk;
  }
}

function stringField(answer: Record<string, unknown>, field: string, method: string): string {
  const value = answer[field];
  if (typeof value !== "string" || value === "") throw slackError(method, "invalid_response", `no ${field}`);
  return value;
}

export interface PostMessageArgs {
  channel: string;
  /** The notification text (and the fallback when blocks cannot be shown). */
  text: string;
  blocks?: unknown[];
  thread_ts?: string;
  [field: string]: unknown;
}

/** chat.postMessage (https://docs.slack.dev/reference/methods/chat.postMessage): `{ ok, channel, ts, message }`. */
export async function postMessage(
  args: PostMessageArgs,
  options: SlackCallOptions,
): Promise<{ channel: string; ts: string }> {
  const answer = await callSlack("chat.postMessage", args, options);
  return {
    channel: stringField(answer, "channel", "chat.postMessage"),
    ts: stringField(answer, "ts", "chat.postMessage"),
  };
}

/**
 * chat.getPermalink (https://docs.slack.dev/reference/methods/chat.getPermalink): `channel` and
 * `message_ts`; no scope required; `{ ok, channel, permalink }`; errors channel_not_found,
 * message_not_found; rate limits "Special" (hundreds per minute). Its page lists GET with form
 * arguments; sent as a POST form, as @slack/web-api's WebClient sends every method
 * (packages/web-api/src/WebClient.ts, `method: 'POST'`).
 */
export async function getPermalink(
  args: { channel: string; message_ts: string },
  options: SlackCallOptions,
): Promise<string> {
  const answer = await callSlack("chat.getPermalink", args, { ...options, encoding: "form" });
  return stringField(answer, "permalink", "chat.getPermalink");
}

export interface UpdateMessageArgs {
  channel: string;
  ts: string;
  text: string;
  /** Left out, the blocks are kept; [] removes them (chat.update docs). */
  blocks?: unknown[];
  [field: string]: unknown;
}

/** chat.update (https://docs.slack.dev/reference/methods/chat.update): `{ ok, channel, ts, text, message }`. */
export async function updateMessage(
  args: UpdateMessageArgs,
  options: SlackCallOptions,
): Promise<{ channel: string; ts: string }> {
  const answer = await callSlack("chat.update", args, options);
  return { channel: stringField(answer, "channel", "chat.update"), ts: stringField(answer, "ts", "chat.update") };
}

export interface PostEphemeralArgs {
  channel: string;
  user: string;
  text: string;
  blocks?: unknown[];
  thread_ts?: string;
  [field: string]: unknown;
}

/** chat.postEphemeral (https://docs.slack.dev/reference/methods/chat.postEphemeral): `{ ok, message_ts }`. */
export async function postEphemeral(
  args: PostEphemeralArgs,
  options: SlackCallOptions,
): Promise<{ messageTs: string }> {
  const answer = await callSlack("chat.postEphemeral", args, options);
  return { messageTs: stringField(answer, "message_ts", "chat.postEphemeral") };
}

/**
 * views.open (https://docs.slack.dev/reference/methods/views.open, content types form and JSON):
 * `{ ok, view }`; the trigger_id is good for one call, within 3 seconds of the interaction.
 */
export async function openView(
  args: { trigger_id: string; view: Record<string, unknown> },
  options: SlackCallOptions,
): Promise<{ viewId: string }> {
  const answer = await callSlack("views.open", args, options);
  const view = answer.view;
  if (typeof view !== "object" || view === null) throw slackError("views.open", "invalid_response", "no view");
  return { viewId: stringField(view as Record<string, unknown>, "id", "views.open") };
}

/**
 * conversations.open with one user (https://docs.slack.dev/reference/methods/conversations.open):
 * the app's DM channel with that user, `{ ok, channel: { id } }`. Sent form-encoded, which every
 * method takes (Web API, "URL-encoded bodies").
 */
export async function openDm(userId: string, options: SlackCallOptions): Promise<string> {
  const answer = await callSlack("conversations.open", { users: userId }, { ...options, encoding: "form" });
  const channel = answer.channel;
  if (typeof channel !== "object" || channel === null) {
    throw slackError("conversations.open", "invalid_response", "no channel");
  }
  return stringField(channel as Record<string, unknown>, "id", "conversations.open");
}

export interface SlackUserInfo {
  id: string;
  teamId: string;
  /** user.name, the legacy handle. */
  name: string;
  realName: string;
  /** profile.display_name; "" when the user set none. */
  displayName: string;
  deleted: boolean;
  isBot: boolean;
}

/**
 * users.info (https://docs.slack.dev/reference/methods/users.info): its docs list only
 * application/x-www-form-urlencoded, so the arguments go as a form.
 */
export async function userInfo(userId: string, options: SlackCallOptions): Promise<SlackUserInfo> {
  const answer = await callSlack("users.info", { user: userId }, { ...options, encoding: "form" });
  const user = answer.user;
  if (typeof user !== "object" || user === null) throw slackError("users.info", "invalid_response", "no user");
  const u = user as Record<string, unknown>;
  const profile = (typeof u.profile === "object" && u.profile !== null ? u.profile : {}) as Record<string, unknown>;
  const text = (value: unknown) => (typeof value === "string" ? value : "");
  return {
    id: stringField(u, "id", "users.info"),
    teamId: text(u.team_id),
    name: text(u.name),
    realName: text(u.real_name) || text(profile.real_name),
    displayName: text(profile.display_name),
    deleted: u.deleted === true,
    isBot: u.is_bot === true,
  };
}
