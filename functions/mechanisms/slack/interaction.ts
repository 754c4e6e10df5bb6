// Parses a Slack interaction request (after verifySlackRequest) into a typed interaction.
// Slack POSTs application/x-www-form-urlencoded with one `payload` field holding JSON
// (docs.slack.dev "Handling user interaction"); `type` says which payload it is:
// - block_actions (docs.slack.dev reference/interaction-payloads/block_actions-payload): a click on
//   Approve or Reject in the request message;
// - view_submission (docs.slack.dev reference/interaction-payloads/view-interactions-payload): the
//   comment modal submitted.
// Anything missing, of the wrong type, or not ours is refused with a reason; nothing is guessed.
// Reasons never echo payload values (trigger_id and response_url let their holder answer the user).
// A button's value and a modal's private_metadata carry only a request key: a random reference to
// the server-side item of the request; never the task token. The key is visible to everyone who
// sees the message, so it is not a credential: a click decides only when its signed payload's
// team and user are the stage's.
// Plain TypeScript with no Pulumi import: the interaction function is serialized with it.
import { randomBytes } from "crypto";

/** action_id of the request message's buttons (Slack: at most 255 characters). */
export const ACTION_IDS = { approve: "sfn-approvals.approve", reject: "sfn-approvals.reject" } as const;
export type SlackVote = keyof typeof ACTION_IDS;

/** callback_id of the comment modal, per decision (Slack: at most 255 characters). */
export const COMMENT_CALLBACK_IDS = {
  approve: "sfn-approvals.approve-comment",
  reject: "sfn-approvals.reject-comment",
} as const;
/** block_id and action_id of the modal's comment input: its value is at view.state.values[block][action]. */
export const COMMENT_BLOCK_ID = "comment";
export const COMMENT_ACTION_ID = "comment";

/** A request key: 32 random bytes, base64url without padding (43 characters of [A-Za-z0-9_-]). */
export const REQUEST_KEY_BYTES = 32;
const REQUEST_KEY_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export function newRequestKey(): string {
  return randomBytes(REQUEST_KEY_BYTES).toString("base64url");
}

/** True for a string that can be a request key (anything else is refused without a look-up). */
export function isRequestKey(value: unknown): value is string {
  return typeof value === "string" && REQUEST_KEY_PATTERN.test(value);
}

/** Slack IDs (team T…, user U…/W…, channel C…/D…/G…) are upper-case letters and digits. */
const SLACK_ID_PATTERN = /^[A-Z0-9]{1,64}$/;
/** A user ID as stack config takes it: U… or W… (the approvers). */
export const SLACK_USER_ID_PATTERN = /^[UW][A-Z0-9]{2,63}$/;
/** A message's ts: seconds, a dot, a sequence ("1535813905.000100"). */
const MESSAGE_TS_PATTERN = /^[0-9]{1,12}\.[0-9]{1,12}$/;
/** Longest request body parsed; Slack's payloads (with the message's blocks) stay far below. */
export const MAX_INTERACTION_BODY_CHARS = 1_000_000;
/** Where response_url must point unless the caller says otherwise (the sandbox's fake Slack). */
export const SLACK_RESPONSE_URL_PREFIX = "https://hooks.slack.com/";

/** Who clicked or submitted, as the signed payload says. */
export interface SlackActor {
  teamId: string;
  userId: string;
  /**
   * user.name of the payload (the account's name, not necessarily the display name); the decision's
   * approverName when users.info cannot give the display name (interactionHandler.ts).
   */
  userName: string;
}

/** A click on Approve or Reject in a request message. */
export interface SlackButtonClick extends SlackActor {
  kind: "block_actions";
  vote: SlackVote;
  requestKey: string;
  channelId: string;
  messageTs: string;
  /** Opens the comment modal (views.open) within 3 seconds of the click. */
  triggerId: string;
  /** Answers the clicker (an ephemeral message); treat as a secret: never log it. */
  responseUrl: string;
}

/** The comment modal, submitted. */
export interface SlackCommentSubmission extends SlackActor {
  kind: "view_submission";
  vote: SlackVote;
  requestKey: string;
  /** The trimmed comment; null when the input was left empty (only an approve comment may be). */
  comment: string | null;
}

export type SlackInteraction = SlackButtonClick | SlackCommentSubmission;
export type ParsedInteraction = { ok: true; interaction: SlackInteraction } | { ok: false; reason: string };

export interface ParseOptions {
  /** response_url must start with this (default SLACK_RESPONSE_URL_PREFIX). */
  responseUrlPrefix?: string;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A refusal is thrown as an Error marked `refusal` (no class: closure serialization stays simple). */
function refuse(reason: string): never {
  throw Object.assign(new Error(reason), { refusal: true });
}

function objectAt(parent: Json, key: string, path: string): Json {
  const value = parent[key];
  return isObject(value) ? value : refuse(`${path} is missing or not an object`);
}

function stringAt(parent: Json, key: string, path: string, pattern?: RegExp): string {
  const value = parent[key];
  if (typeof value !== "string" || value === "") refuse(`${path} is missing or not a non-empty string`);
  if (pattern && !pattern.test(value)) refuse(`${path} does not have the expected format`);
  return value;
}

function actorOf(payload: Json): SlackActor {
  // team is null for an org-wide install (Enterprise Grid): the team check cannot be made, so refuse.
  const team = objectAt(payload, "team", "team");
  const user = objectAt(payload, "user", "user");
  return {
    teamId: stringAt(team, "id", "team.id", SLACK_ID_PATTERN),
    userId: stringAt(user, "id", "user.id", SLACK_ID_PATTERN),
    userName: stringAt(user, "name", "user.name"),
  };
}

function voteOfAction(actionId: string): SlackVote {
  if (actionId === ACTION_IDS.approve) return "approve";
  if (actionId === ACTION_IDS.reject) return "reject";
  return refuse("actions[0].action_id is not an action of this app");
}

function voteOfCallback(callbackId: string): SlackVote {
  if (callbackId === COMMENT_CALLBACK_IDS.approve) return "approve";
  if (callbackId === COMMENT_CALLBACK_IDS.reject) return "reject";
  return refuse("view.callback_id is not a view of this app");
}

function parseBlockActions(payload: Json, options: ParseOptions): SlackButtonClick {
  const actor = actorOf(payload);
  const actions = payload.actions;
  if (!Array.isArray(actions) || actions.length !== 1 || !isObject(actions[0])) {
    refuse("actions must hold exactly one action");
  }
  const action = actions[0] as Json;
  if (action.type !== "button") refuse("actions[0].type is not button");
  const vote = voteOfAction(stringAt(action, "action_id", "actions[0].action_id"));
  const requestKey = action.value;
  if (!isRequestKey(requestKey)) refuse("actions[0].value is not a request key");
  const container = objectAt(payload, "container", "container");
  if (container.type !== "message") refuse("container.type is not message");
  // The request message is never ephemeral; buttons in an ephemeral copy are not ours.
  if (container.is_ephemeral === true) refuse("container is an ephemeral message");
  const prefix = options.responseUrlPrefix ?? SLACK_RESPONSE_URL_PREFIX;
  const responseUrl = stringAt(payload, "response_url", "response_url");
  if (!responseUrl.startsWith(prefix) || /[\s<>]/.test(responseUrl)) {
    refuse("response_url does not point to Slack");
  }
  return {
    kind: "block_actions",
    ...actor,
    vote,
    requestKey,
    channelId: stringAt(container, "channel_id", "container.channel_id", SLACK_ID_PATTERN),
    messageTs: stringAt(container, "message_ts", "container.message_ts", MESSAGE_TS_PATTERN),
    triggerId: stringAt(payload, "trigger_id", "trigger_id"),
    responseUrl,
  };
}

function parseViewSubmission(payload: Json): SlackCommentSubmission {
  const actor = actorOf(payload);
  const view = objectAt(payload, "view", "view");
  if (view.type !== "modal") refuse("view.type is not modal");
  const vote = voteOfCallback(stringAt(view, "callback_id", "view.callback_id"));
  const requestKey = view.private_metadata;
  if (!isRequestKey(requestKey)) refuse("view.private_metadata is not a request key");
  const values = objectAt(objectAt(view, "state", "view.state"), "values", "view.state.values");
  const input = objectAt(
    objectAt(values, COMMENT_BLOCK_ID, `view.state.values.${COMMENT_BLOCK_ID}`),
    COMMENT_ACTION_ID,
    `view.state.values.${COMMENT_BLOCK_ID}.${COMMENT_ACTION_ID}`,
  );
  if (input.type !== "plain_text_input") refuse("the comment input is not a plain_text_input");
  // An optional input left empty submits a null value.
  if (input.value !== null && input.value !== undefined && typeof input.value !== "string") {
    refuse("the comment is not a string");
  }
  const comment = typeof input.value === "string" && input.value.trim() !== "" ? input.value.trim() : null;
  if (vote === "reject" && comment === null) refuse("a rejection needs a comment");
  return { kind: "view_submission", ...actor, vote, requestKey, comment };
}

/**
 * Parses the raw body of a verified interaction request (the form-encoded `payload=<json>`).
 * Only block_actions from the request message's buttons and view_submission of the comment
 * modal are interactions of this app; any other type is refused.
 */
export function parseInteraction(rawBody: string, options: ParseOptions = {}): ParsedInteraction {
  try {
    if (typeof rawBody !== "string" || rawBody === "") refuse("the request has no body");
    if (rawBody.length > MAX_INTERACTION_BODY_CHARS) refuse("the request body is too large");
    const payloads = new URLSearchParams(rawBody).getAll("payload");
    if (payloads.length !== 1) refuse("the body must hold exactly one payload field");
    let payload: unknown;
    try {
      payload = JSON.parse(payloads[0]);
    } catch {
      refuse("the payload is not JSON");
    }
    if (!isObject(payload)) refuse("the payload is not a JSON object");
    if (payload.type === "block_actions") return { ok: true, interaction: parseBlockActions(payload, options) };
    if (payload.type === "view_submission") return { ok: true, interaction: parseViewSubmission(payload) };
    return refuse("the payload's type is neither block_actions nor view_submission");
  } catch (error) {
    if (error instanceof Error && (error as Error & { refusal?: boolean }).refusal === true) {
      return { ok: false, reason: error.message };
    }
    return { ok: false, reason: "the payload could not be read" };
  }
}
