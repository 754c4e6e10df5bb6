// Interaction requests as Slack sends them to an app's Request URL
// (https://docs.slack.dev/interactivity/handling-user-interaction): POST,
// `Content-Type: application/x-www-form-urlencoded`, body `payload=<URL-encoded JSON>`, signed as
// "Verifying requests from Slack" (https://api.slack.com/docs/verifying-requests-from-slack)
// describes: `X-Slack-Request-Timestamp: <epoch seconds>` and
// `X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:<timestamp>:<raw body>")>`.
// Payload shapes: https://docs.slack.dev/reference/interaction-payloads/block_actions-payload and
// https://docs.slack.dev/reference/interaction-payloads/view-interactions-payload.
import { createHmac } from "crypto";

export const FAKE_SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5";

export interface SignedRequest {
  method: "POST";
  /** Lower-case names, as API Gateway hands them to the function. */
  headers: Record<string, string>;
  /** The raw body that was signed. */
  body: string;
  /** The interaction payload inside `body`. */
  payload: any;
  timestamp: number;
}

/** `v0=` + hex HMAC-SHA256 of `v0:<timestamp>:<body>` with the signing secret. */
export function slackSignature(secret: string, timestamp: number | string, body: string): string {
  return `v0=${createHmac("sha256", secret).update(`v0:${timestamp}:${body}`).digest("hex")}`;
}

export interface SignOptions {
  secret?: string;
  /** Epoch seconds; now by default. */
  timestamp?: number;
}

/** A request carrying `payload`, signed with the secret at the timestamp. */
export function signedInteraction(payload: unknown, options: SignOptions = {}): SignedRequest {
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  return {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "x-slack-request-timestamp": String(timestamp),
      "x-slack-signature": slackSignature(options.secret ?? FAKE_SIGNING_SECRET, timestamp, body),
      "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    },
    body,
    payload,
    timestamp,
  };
}

/** The same request with a signature made with another secret (what a forger can produce). */
export function withBadSignature(request: SignedRequest, wrongSecret = "not-the-signing-secret"): SignedRequest {
  return {
    ...request,
    headers: { ...request.headers, "x-slack-signature": slackSignature(wrongSecret, request.timestamp, request.body) },
  };
}

/** The payload correctly signed, but `ageSeconds` old (Slack's guidance: refuse requests over 5 minutes old). */
export function staleInteraction(payload: unknown, ageSeconds = 6 * 60, secret = FAKE_SIGNING_SECRET): SignedRequest {
  return signedInteraction(payload, { secret, timestamp: Math.floor(Date.now() / 1000) - ageSeconds });
}

/** The body changed after signing (e.g. another value put in), the old signature kept. */
export function withTamperedBody(request: SignedRequest, payload: unknown): SignedRequest {
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  return { ...request, body, payload };
}

/** The payload as if sent from another workspace (team ID), correctly signed. */
export function fromAnotherTeam<T extends { team: any; user: any }>(payload: T, teamId = "T0OTHERTEAM"): T {
  return {
    ...payload,
    team: payload.team ? { ...payload.team, id: teamId, domain: "other-workspace" } : payload.team,
    user: { ...payload.user, team_id: teamId },
  };
}

export interface ClickOptions {
  teamId?: string;
  teamDomain?: string;
  userId: string;
  userName?: string;
  actionId: string;
  value: string;
  blockId?: string;
  buttonText?: string;
  channelId?: string;
  channelName?: string;
  messageTs: string;
  /** The message as it stands (text and blocks), as Slack includes it. */
  message?: { text?: string; blocks?: unknown[]; thread_ts?: string };
  triggerId?: string;
  responseUrl?: string;
  apiAppId?: string;
}

/** A block_actions payload for a button click in a channel message. */
export function blockActionsPayload(o: ClickOptions): any {
  const teamId = o.teamId ?? "T0FAKETEAM";
  const channelId = o.channelId ?? "C0APPROVALS";
  const actionTs = (Date.now() / 1000).toFixed(6);
  return {
    type: "block_actions",
    user: {
      id: o.userId,
      username: o.userName ?? o.userId.toLowerCase(),
      name: o.userName ?? o.userId.toLowerCase(),
      team_id: teamId,
    },
    api_app_id: o.apiAppId ?? "A0FAKEAPP",
    // The deprecated verification token Slack still sends; never a credential here.
    token: "deprecatedVerificationToken",
    container: { type: "message", message_ts: o.messageTs, channel_id: channelId, is_ephemeral: false },
    trigger_id: o.triggerId ?? "13345224609.738474920.8088930838d88f008e0",
    team: { id: teamId, domain: o.teamDomain ?? "fake-workspace" },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: channelId, name: o.channelName ?? "approvals" },
    message: {
      type: "message",
      user: "U0FAKEBOT",
      bot_id: "B0FAKEBOT",
      ts: o.messageTs,
      text: o.message?.text ?? "",
      ...(o.message?.blocks ? { blocks: o.message.blocks } : {}),
      ...(o.message?.thread_ts ? { thread_ts: o.message.thread_ts } : {}),
    },
    state: { values: {} },
    response_url: o.responseUrl ?? `https://hooks.slack.com/actions/${teamId}/1234567890/fakeResponseUrlSecret`,
    actions: [
      {
        type: "button",
        action_id: o.actionId,
        block_id: o.blockId ?? "decision",
        text: { type: "plain_text", text: o.buttonText ?? o.actionId, emoji: true },
        value: o.value,
        action_ts: actionTs,
      },
    ],
  };
}

export interface SubmissionOptions {
  teamId?: string;
  teamDomain?: string;
  userId: string;
  userName?: string;
  callbackId: string;
  privateMetadata: string;
  /**
   * Input values by block_id and action_id, as `view.state.values` holds them; a string is a
   * plain_text_input's value (e.g. { comment: { comment_input: "Budget exceeded" } }).
   */
  values?: Record<string, Record<string, string | Record<string, unknown>>>;
  viewId?: string;
  triggerId?: string;
  apiAppId?: string;
}

/** A view_submission payload for a modal submitted with these values. */
export function viewSubmissionPayload(o: SubmissionOptions): any {
  const teamId = o.teamId ?? "T0FAKETEAM";
  const viewId = o.viewId ?? "V0FAKE1";
  const values = Object.fromEntries(
    Object.entries(o.values ?? {}).map(([blockId, actions]) => [
      blockId,
      Object.fromEntries(
        Object.entries(actions).map(([actionId, v]) => [
          actionId,
          typeof v === "string" ? { type: "plain_text_input", value: v } : v,
        ]),
      ),
    ]),
  );
  return {
    type: "view_submission",
    team: { id: teamId, domain: o.teamDomain ?? "fake-workspace" },
    user: {
      id: o.userId,
      username: o.userName ?? o.userId.toLowerCase(),
      name: o.userName ?? o.userId.toLowerCase(),
      team_id: teamId,
    },
    api_app_id: o.apiAppId ?? "A0FAKEAPP",
    token: "deprecatedVerificationToken",
    trigger_id: o.triggerId ?? "13345224609.738474920.8088930838d88f008e1",
    view: {
      id: viewId,
      team_id: teamId,
      type: "modal",
      blocks: [],
      private_metadata: o.privateMetadata,
      callback_id: o.callbackId,
      state: { values },
      hash: "1700000000.fakehash",
      title: { type: "plain_text", text: "Decision" },
      clear_on_close: false,
      notify_on_close: false,
      close: null,
      submit: { type: "plain_text", text: "Submit" },
      previous_view_id: null,
      root_view_id: viewId,
      app_id: o.apiAppId ?? "A0FAKEAPP",
      external_id: "",
      app_installed_team_id: teamId,
      bot_id: "B0FAKEBOT",
    },
    response_urls: [],
    is_enterprise_install: false,
    enterprise: null,
  };
}

/**
 * The request as an API Gateway HTTP API (payload format 2.0) event, as tests/helpers/pageServer.ts
 * builds them: lower-case headers, the form body as text.
 */
export function httpApiEvent(request: SignedRequest, path = "/slack/interactions"): any {
  return {
    version: "2.0",
    rawPath: path,
    requestContext: {
      http: { method: request.method, path, sourceIp: "54.209.0.1", userAgent: request.headers["user-agent"] },
    },
    headers: { ...request.headers },
    body: request.body,
    isBase64Encoded: false,
  };
}

/** POSTs the request to a URL (e.g. a local server in front of the handler). */
export function send(url: string, request: SignedRequest): Promise<Response> {
  return fetch(url, { method: "POST", headers: request.headers, body: request.body });
}
