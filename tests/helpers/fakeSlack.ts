// A local Slack Web API on 127.0.0.1: the methods the Slack mechanism calls, answered as Slack
// documents them (https://docs.slack.dev/apis/web-api): POST (or GET) https://slack.com/api/<method>,
// arguments as application/json (token only in `Authorization: Bearer`) or form-encoded (token in
// the header or a `token` field); every answer is JSON with a top-level `ok`, errors as
// `{ ok: false, error: "<code>" }` with HTTP 200, `ratelimited` as HTTP 429 with `Retry-After`
// (https://docs.slack.dev/apis/web-api/rate-limits). Tests point handlers at `apiUrl` (in place of
// https://slack.com/api/), queue failures per method and assert on the calls and stored messages.
import { AddressInfo } from "net";
import { IncomingHttpHeaders, Server, createServer } from "http";

export const FAKE_BOT_TOKEN = "xoxb-1111111111-2222222222222-FakeBotTokenForTests0";

export interface SlackUser {
  id: string;
  /** The legacy handle (users.info user.name). */
  name: string;
  real_name: string;
  display_name: string;
  team_id: string;
  deleted?: boolean;
  is_bot?: boolean;
}

export interface StoredMessage {
  channel: string;
  ts: string;
  text?: string;
  blocks?: unknown[];
  thread_ts?: string;
  /** The bot user that posted it. */
  user: string;
  /** Each earlier version, oldest first (chat.update pushes the one it replaces). */
  previous: Array<{ text?: string; blocks?: unknown[] }>;
}

export interface EphemeralMessage {
  channel: string;
  user: string;
  text?: string;
  blocks?: unknown[];
  thread_ts?: string;
  message_ts: string;
}

export interface OpenedView {
  id: string;
  trigger_id: string;
  view: any;
}

export interface RecordedSlackCall {
  /** The API method, e.g. "chat.postMessage". */
  method: string;
  httpMethod: string;
  path: string;
  contentType: string;
  /** The request headers without Authorization (the token value is never kept). */
  headers: IncomingHttpHeaders;
  /** How the token came: a Bearer header, a `token` argument (form/query), or not at all. */
  token: "bearer" | "argument" | "none";
  /** Whether the token presented equals the fake's bot token. */
  tokenValid: boolean;
  /** The arguments (JSON body, or form and query fields), without `token`; JSON-string fields parsed. */
  body: any;
  /** What the fake answered. */
  status: number;
  answer: any;
  at: number;
}

/** A failure queued for one method: an `ok: false` error, a 429 with Retry-After, or an HTTP error. */
export interface SlackFailure {
  error?: string;
  status?: number;
  retryAfter?: number;
  /** A body written as it is (e.g. an HTML error page for an HTTP 500). */
  rawBody?: string;
  /** More top-level fields of the `ok: false` answer (missing_scope's `needed` and `provided`). */
  fields?: Record<string, unknown>;
}

/** `ratelimited` as Slack sends it: HTTP 429, `Retry-After: <seconds>`, `{ ok: false, error: "ratelimited" }`. */
export function ratelimited(retryAfter = 30): SlackFailure {
  return { error: "ratelimited", status: 429, retryAfter };
}

/** A documented method error, HTTP 200 with `{ ok: false, error }`, e.g. "channel_not_found", "invalid_auth". */
export function slackError(error: string): SlackFailure {
  return { error, status: 200 };
}

/**
 * `missing_scope` as Slack answers a token without the method's scope: HTTP 200, `{ ok: false,
 * error: "missing_scope", needed, provided }` (the `needed` and `provided` fields of @slack/web-api's
 * response types, e.g. UsersInfoResponse), e.g. users.info without `users:read`.
 */
export function missingScope(needed: string, provided = "chat:write"): SlackFailure {
  return { error: "missing_scope", status: 200, fields: { needed, provided } };
}

/** An HTTP failure without a Slack answer (a 500/502/503 from Slack's edge). */
export function httpFailure(status = 500, rawBody = "<html><body>Internal Server Error</body></html>"): SlackFailure {
  return { status, rawBody };
}

class Answer {
  constructor(
    readonly body: Record<string, unknown>,
    readonly status = 200,
    readonly headers: Record<string, string> = {},
    readonly raw?: string,
  ) {}
}

const fail = (error: string) => new Answer({ ok: false, error });

// Fields Slack documents as "a JSON-based array ..., presented as a URL-encoded string" (blocks,
// attachments) and views.open's `view` ("must be a JSON-encoded string"): parsed when they are text.
const JSON_FIELDS = ["blocks", "attachments", "view", "metadata"];

// Methods whose docs list only application/x-www-form-urlencoded (users.info: "Content types
// application/x-www-form-urlencoded"): arguments in a JSON body are not read.
const FORM_ONLY = new Set(["users.info"]);

export interface FakeSlackOptions {
  token?: string;
  teamId?: string;
  teamName?: string;
  teamDomain?: string;
  botUserId?: string;
  botId?: string;
  /** Channel IDs that exist (public or private channels the bot is in). */
  channels?: string[];
  users?: SlackUser[];
}

export class FakeSlack {
  readonly calls: RecordedSlackCall[] = [];
  readonly messages: StoredMessage[] = [];
  readonly ephemerals: EphemeralMessage[] = [];
  readonly views: OpenedView[] = [];
  /** What was POSTed to response URLs made by responseUrl(). */
  readonly responses: Array<{ path: string; body: any; at: number }> = [];
  readonly token: string;
  readonly teamId: string;
  readonly teamName: string;
  readonly teamDomain: string;
  readonly botUserId: string;
  readonly botId: string;
  /** http://127.0.0.1:<port> */
  url = "";
  /** http://127.0.0.1:<port>/api/ — what replaces https://slack.com/api/. */
  apiUrl = "";

  private server?: Server;
  private readonly channels = new Set<string>();
  private readonly users = new Map<string, SlackUser>();
  /** DM channel per user, as conversations.open creates them. */
  private readonly dms = new Map<string, string>();
  private readonly failures = new Map<string, SlackFailure[]>();
  /** Failures for the calls whose arguments match, each used once, before the queue of fail(). */
  private readonly matchedFailures: Array<{ method: string; match: (args: any) => boolean; failure: SlackFailure }> =
    [];
  private readonly exchangedTriggers = new Set<string>();
  private clock = 1700000000;
  private sequence = 0;
  private readonly initial: FakeSlackOptions;

  constructor(options: FakeSlackOptions = {}) {
    this.initial = options;
    this.token = options.token ?? FAKE_BOT_TOKEN;
    this.teamId = options.teamId ?? "T0FAKETEAM";
    this.teamName = options.teamName ?? "Fake Workspace";
    this.teamDomain = options.teamDomain ?? "fake-workspace";
    this.botUserId = options.botUserId ?? "U0FAKEBOT";
    this.botId = options.botId ?? "B0FAKEBOT";
    this.seed();
  }

  private seed(): void {
    for (const channel of this.initial.channels ?? ["C0APPROVALS"]) this.channels.add(channel);
    const users = this.initial.users ?? [
      slackUser("U0ALICE", "alice", "Alice Approver", "Alice", this.teamId),
      slackUser("U0BOB", "bob", "Bob Builder", "bob", this.teamId),
      slackUser("U0CAROL", "carol", "Carol Checker", "", this.teamId),
      slackUser("U0MALLORY", "mallory", "Mallory Outsider", "mal", this.teamId),
    ];
    for (const user of users) this.users.set(user.id, user);
  }

  addChannel(id: string): this {
    this.channels.add(id);
    return this;
  }

  addUser(user: SlackUser): this {
    this.users.set(user.id, user);
    return this;
  }

  /** The DM channel conversations.open gave `userId`, if any. */
  dmChannel(userId: string): string | undefined {
    return this.dms.get(userId);
  }

  /** Queues failures for a method: the next calls to it get them, in order, before normal answers resume. */
  fail(method: string, ...failures: SlackFailure[]): this {
    this.failures.set(method, [...(this.failures.get(method) ?? []), ...failures]);
    return this;
  }

  /** Like fail(), for the next call to `method` whose arguments match (e.g. a DM to one user). */
  failFor(method: string, match: (args: any) => boolean, failure: SlackFailure): this {
    this.matchedFailures.push({ method, match, failure });
    return this;
  }

  /** The stored message at channel and ts (after any chat.update). */
  message(channel: string, ts: string): StoredMessage | undefined {
    return this.messages.find((m) => m.channel === channel && m.ts === ts);
  }

  /** Messages in a channel, oldest first; with `threadTs`, the replies in that thread. */
  messagesIn(channel: string, threadTs?: string): StoredMessage[] {
    return this.messages.filter((m) => m.channel === channel && (threadTs === undefined || m.thread_ts === threadTs));
  }

  /** A response_url on this server (as in an interaction payload); POSTs to it land in `responses`. */
  responseUrl(id = "1"): string {
    return `${this.url}/actions/${this.teamId}/${id}/fakeResponseUrlSecret`;
  }

  callsTo(method: string): RecordedSlackCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  methods(): string[] {
    return this.calls.map((c) => c.method);
  }

  /** Forgets calls, messages, views, DMs and queued failures; channels and users go back to the constructor's. */
  reset(): void {
    this.calls.length = 0;
    this.messages.length = 0;
    this.ephemerals.length = 0;
    this.views.length = 0;
    this.responses.length = 0;
    this.failures.clear();
    this.matchedFailures.length = 0;
    this.dms.clear();
    this.exchangedTriggers.clear();
    this.channels.clear();
    this.users.clear();
    this.seed();
  }

  /** A message ts as Slack writes them: epoch seconds and a 6-digit sequence, unique per workspace here. */
  private nextTs(): string {
    this.sequence += 1;
    return `${this.clock + this.sequence}.${String(this.sequence).padStart(6, "0")}`;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        const answer = this.handle(req.method ?? "GET", req.url ?? "/", req.headers, Buffer.concat(chunks));
        const headers: Record<string, string> = { ...answer.headers };
        if (answer.raw === undefined) headers["content-type"] = "application/json; charset=utf-8";
        else headers["content-type"] ??= "text/html";
        res.writeHead(answer.status, headers);
        res.end(answer.raw ?? JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.apiUrl = `${this.url}/api/`;
    return this.url;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private handle(httpMethod: string, rawUrl: string, headers: IncomingHttpHeaders, raw: Buffer): Answer {
    const url = new URL(rawUrl, "http://127.0.0.1");
    if (url.pathname.startsWith("/actions/")) {
      let body: any = raw.toString("utf8");
      try {
        body = JSON.parse(body);
      } catch {
        // Kept as text.
      }
      this.responses.push({ path: url.pathname, body, at: Date.now() });
      return new Answer({ ok: true });
    }
    const method = url.pathname.replace(/^\/(api\/)?/, "");
    const contentType = String(headers["content-type"] ?? "");
    const args: Record<string, any> = Object.fromEntries(url.searchParams);
    let parseError = false;
    const json = contentType.startsWith("application/json");
    if (raw.length > 0) {
      if (json && FORM_ONLY.has(method)) {
        // Not read, as Slack does not read them for this method.
      } else if (json) {
        try {
          Object.assign(args, JSON.parse(raw.toString("utf8")));
        } catch {
          parseError = true;
        }
      } else if (contentType.startsWith("application/x-www-form-urlencoded")) {
        Object.assign(args, Object.fromEntries(new URLSearchParams(raw.toString("utf8"))));
      }
    }
    for (const field of JSON_FIELDS) {
      if (typeof args[field] === "string") {
        try {
          args[field] = JSON.parse(args[field]);
        } catch {
          // Left as text: the method answers invalid_blocks / invalid_arguments.
        }
      }
    }
    // A JSON body must carry the token in the Authorization header (https://docs.slack.dev/apis/web-api,
    // "JSON-encoded bodies"); form and query arguments may carry it as `token`.
    const bearer = /^Bearer (.+)$/.exec(String(headers.authorization ?? ""));
    const argumentToken = json ? undefined : typeof args.token === "string" ? args.token : undefined;
    const presented = bearer?.[1] ?? argumentToken;
    delete args.token;
    const recordedHeaders = { ...headers };
    delete recordedHeaders.authorization;
    const call: RecordedSlackCall = {
      method,
      httpMethod,
      path: url.pathname,
      contentType,
      headers: recordedHeaders,
      token: bearer ? "bearer" : argumentToken !== undefined ? "argument" : "none",
      tokenValid: presented === this.token,
      body: args,
      status: 0,
      answer: undefined,
      at: Date.now(),
    };
    this.calls.push(call);
    const answer = this.answer(call, presented, parseError);
    call.status = answer.status;
    call.answer = answer.raw ?? answer.body;
    return answer;
  }

  private answer(call: RecordedSlackCall, presented: string | undefined, parseError: boolean): Answer {
    const matched = this.matchedFailures.findIndex((f) => f.method === call.method && f.match(call.body));
    const queued =
      matched >= 0 ? this.matchedFailures.splice(matched, 1)[0].failure : this.failures.get(call.method)?.shift();
    if (queued) {
      const headers: Record<string, string> =
        queued.retryAfter !== undefined ? { "retry-after": String(queued.retryAfter) } : {};
      if (queued.rawBody !== undefined) return new Answer({}, queued.status ?? 500, headers, queued.rawBody);
      return new Answer(
        { ok: false, error: queued.error ?? "internal_error", ...queued.fields },
        queued.status ?? 200,
        headers,
      );
    }
    // Common errors (https://docs.slack.dev/reference/methods/auth.test, "Errors"): not_authed when no
    // token was given, invalid_auth when it is not valid.
    if (presented === undefined) return fail("not_authed");
    if (presented !== this.token) return fail("invalid_auth");
    if (parseError) return fail("invalid_json");
    const handler = this.handlers[call.method];
    return handler ? handler(call.body, call) : fail("unknown_method");
  }

  private channelOf(id: unknown): string | undefined {
    if (typeof id !== "string") return undefined;
    if (this.channels.has(id)) return id;
    // chat.postMessage to a user ID posts in the app's DM with that user, opened if need be
    // (https://docs.slack.dev/reference/methods/chat.postMessage, "Post to a direct message channel",
    // "Begin a conversation in a user's App Home"); an unknown user gets channel_not_found.
    if (this.users.has(id)) return this.openDm(id);
    return undefined;
  }

  private openDm(userId: string): string {
    let dm = this.dms.get(userId);
    if (!dm) {
      dm = `D0${userId.slice(1)}`;
      this.dms.set(userId, dm);
      this.channels.add(dm);
    }
    return dm;
  }

  private messageView(m: StoredMessage): Record<string, unknown> {
    return {
      type: "message",
      user: m.user,
      bot_id: this.botId,
      app_id: "A0FAKEAPP",
      team: this.teamId,
      ts: m.ts,
      text: m.text ?? "",
      ...(m.blocks ? { blocks: m.blocks } : {}),
      ...(m.thread_ts ? { thread_ts: m.thread_ts } : {}),
    };
  }

  private readonly handlers: Record<string, (args: any, call: RecordedSlackCall) => Answer> = {
    // https://docs.slack.dev/reference/methods/auth.test: url, team, user, team_id, user_id (and bot_id for a bot token).
    "auth.test": () =>
      new Answer({
        ok: true,
        url: `https://${this.teamDomain}.slack.com/`,
        team: this.teamName,
        user: "approvals-bot",
        team_id: this.teamId,
        user_id: this.botUserId,
        bot_id: this.botId,
        is_enterprise_install: false,
      }),

    // https://docs.slack.dev/reference/methods/chat.postMessage: { ok, channel, ts, message };
    // errors channel_not_found, no_text (one of text, blocks, attachments is required).
    "chat.postMessage": (args) => {
      const channel = this.channelOf(args.channel);
      if (!channel) return fail("channel_not_found");
      if (!args.text && !Array.isArray(args.blocks) && !Array.isArray(args.attachments)) return fail("no_text");
      if (args.blocks !== undefined && !Array.isArray(args.blocks)) return fail("invalid_blocks");
      // A thread_ts naming no message: its error is not documented for this method; stored as given.
      const stored: StoredMessage = {
        channel,
        ts: this.nextTs(),
        user: this.botUserId,
        previous: [],
        ...(args.text !== undefined ? { text: String(args.text) } : {}),
        ...(Array.isArray(args.blocks) ? { blocks: args.blocks } : {}),
        ...(args.thread_ts !== undefined ? { thread_ts: String(args.thread_ts) } : {}),
      };
      this.messages.push(stored);
      return new Answer({ ok: true, channel, ts: stored.ts, message: this.messageView(stored) });
    },

    // https://docs.slack.dev/reference/methods/chat.getPermalink: channel and message_ts; no scope;
    // { ok, channel, permalink }: https://<domain>.slack.com/archives/<channel>/p<ts without its dot>,
    // a reply's with ?thread_ts=<parent ts>&cid=<channel>; errors channel_not_found, message_not_found.
    "chat.getPermalink": (args) => {
      const channel = typeof args.channel === "string" && this.channels.has(args.channel) ? args.channel : undefined;
      if (!channel) return fail("channel_not_found");
      const stored = typeof args.message_ts === "string" ? this.message(channel, args.message_ts) : undefined;
      if (!stored) return fail("message_not_found");
      const permalink = `https://${this.teamDomain}.slack.com/archives/${channel}/p${stored.ts.replace(".", "")}`;
      return new Answer({
        ok: true,
        channel,
        permalink: stored.thread_ts ? `${permalink}?thread_ts=${stored.thread_ts}&cid=${channel}` : permalink,
      });
    },

    // https://docs.slack.dev/reference/methods/chat.update: channel and ts required; blocks left out
    // are kept, [] removes them; { ok, channel, ts, text, message }; errors channel_not_found,
    // message_not_found, cant_update_message.
    "chat.update": (args) => {
      const channel = typeof args.channel === "string" && this.channels.has(args.channel) ? args.channel : undefined;
      if (!channel) return fail("channel_not_found");
      const stored = this.message(channel, String(args.ts));
      if (!stored) return fail("message_not_found");
      if (stored.user !== this.botUserId) return fail("cant_update_message");
      if (args.blocks !== undefined && !Array.isArray(args.blocks)) return fail("invalid_blocks");
      stored.previous.push({ text: stored.text, blocks: stored.blocks });
      if (args.text !== undefined) stored.text = String(args.text);
      if (Array.isArray(args.blocks)) stored.blocks = args.blocks.length > 0 ? args.blocks : undefined;
      return new Answer({
        ok: true,
        channel,
        ts: stored.ts,
        text: stored.text ?? "",
        message: this.messageView(stored),
      });
    },

    // https://docs.slack.dev/reference/methods/chat.postEphemeral: channel and user required;
    // { ok, message_ts }; errors channel_not_found, user_not_in_channel.
    "chat.postEphemeral": (args) => {
      const channel = typeof args.channel === "string" && this.channels.has(args.channel) ? args.channel : undefined;
      if (!channel) return fail("channel_not_found");
      if (typeof args.user !== "string" || !this.users.has(args.user)) return fail("user_not_in_channel");
      if (!args.text && !Array.isArray(args.blocks) && !Array.isArray(args.attachments)) return fail("no_text");
      const ephemeral: EphemeralMessage = {
        channel,
        user: args.user,
        message_ts: this.nextTs(),
        ...(args.text !== undefined ? { text: String(args.text) } : {}),
        ...(Array.isArray(args.blocks) ? { blocks: args.blocks } : {}),
        ...(args.thread_ts !== undefined ? { thread_ts: String(args.thread_ts) } : {}),
      };
      this.ephemerals.push(ephemeral);
      return new Answer({ ok: true, message_ts: ephemeral.message_ts });
    },

    // https://docs.slack.dev/reference/methods/views.open: view (JSON) and trigger_id; { ok, view }
    // with the view's id, team_id, state and hash; errors invalid_trigger_id (format
    // "132456.7890123.abcdef"), exchanged_trigger_id (used before), expired_trigger_id.
    "views.open": (args) => {
      if (!args.view || typeof args.view !== "object") return fail("invalid_arguments");
      const trigger = args.trigger_id ?? args.interactivity_pointer;
      if (typeof trigger !== "string" || !/^\d+\.\d+\.[0-9a-f]+$/.test(trigger)) return fail("invalid_trigger_id");
      if (this.exchangedTriggers.has(trigger)) return fail("exchanged_trigger_id");
      this.exchangedTriggers.add(trigger);
      this.sequence += 1;
      const opened: OpenedView = { id: `V0FAKE${this.sequence}`, trigger_id: trigger, view: args.view };
      this.views.push(opened);
      return new Answer({
        ok: true,
        view: {
          ...args.view,
          id: opened.id,
          team_id: this.teamId,
          state: { values: {} },
          hash: `${this.clock}.${this.sequence}`,
          private_metadata: args.view.private_metadata ?? "",
          callback_id: args.view.callback_id ?? "",
          root_view_id: opened.id,
          app_id: "A0FAKEAPP",
          bot_id: this.botId,
        },
      });
    },

    // https://docs.slack.dev/reference/methods/conversations.open: `users` (comma-separated; one user
    // is a 1:1 DM) or `channel`; { ok, channel: { id } }; errors user_not_found,
    // users_list_not_supplied, channel_not_found.
    "conversations.open": (args) => {
      if (typeof args.channel === "string")
        return this.channels.has(args.channel) && args.channel.startsWith("D")
          ? new Answer({ ok: true, channel: { id: args.channel } })
          : fail("channel_not_found");
      const users = String(args.users ?? "")
        .split(",")
        .map((u) => u.trim())
        .filter(Boolean);
      if (users.length === 0) return fail("users_list_not_supplied");
      if (users.some((u) => !this.users.has(u))) return fail("user_not_found");
      if (users.length > 1) return fail("method_not_supported_for_channel_type");
      const existed = this.dms.has(users[0]);
      const id = this.openDm(users[0]);
      return new Answer({
        ok: true,
        ...(existed ? { no_op: true, already_open: true } : {}),
        channel: args.return_im ? { id, is_im: true, user: users[0], created: this.clock } : { id },
      });
    },

    // https://docs.slack.dev/reference/methods/users.info: `user`; { ok, user } with id, team_id,
    // name, real_name, profile.display_name / real_name; errors user_not_found (user_not_visible,
    // missing_scope and ratelimited are queued with fail()).
    "users.info": (args) => {
      const user = typeof args.user === "string" ? this.users.get(args.user) : undefined;
      if (!user) return fail(args.user === undefined ? "invalid_arguments" : "user_not_found");
      return new Answer({
        ok: true,
        user: {
          id: user.id,
          team_id: user.team_id,
          name: user.name,
          deleted: user.deleted ?? false,
          real_name: user.real_name,
          is_bot: user.is_bot ?? false,
          is_app_user: false,
          tz: "Europe/Amsterdam",
          profile: {
            real_name: user.real_name,
            real_name_normalized: user.real_name,
            display_name: user.display_name,
            display_name_normalized: user.display_name,
            team: user.team_id,
          },
        },
      });
    },
  };
}

/** A user as users.info describes one. */
export function slackUser(id: string, name: string, realName: string, displayName: string, teamId: string): SlackUser {
  return { id, name, real_name: realName, display_name: displayName, team_id: teamId };
}
