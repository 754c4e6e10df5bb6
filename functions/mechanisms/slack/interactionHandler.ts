// The interaction function of the slack mechanism, behind an API Gateway HTTP API route
// (payload format 2.0: lower-case headers, the body as text or base64). Every request is verified
// (signature.ts), parsed (interaction.ts) and checked against the workspace before anything is read:
//   401 bad signature or stale timestamp, 400 malformed payload, 403 another team, else 200.
// Slack shows an error to the clicker unless the request is acknowledged within 3 seconds
// (docs.slack.dev "Handling user interaction", acknowledgment response), so the work per request
// is small: one read and one conditional write of the item, at most one SendTaskSuccess (sent again
// only after throttling, twice at most, within 0.4 s), at most three Slack calls, without retries.
// - Approve click: the vote is recorded; a deciding vote looks up the decider's name (users.info,
//   cached, at most 1 s), sends the decision (SendTaskSuccess), marks it delivered, then replaces the
//   message's buttons with the outcome; a counted one updates the message's progress.
// - Reject click (and Approve with SLACK_COMMENT_ON_APPROVE=true): the comment modal opens
//   (views.open with the click's trigger_id); the vote is recorded on its view_submission.
// - Anything that decides nothing gets a sentence only the clicker sees (chat.postEphemeral, or
//   the modal's input error: response_action "errors", docs.slack.dev "Using modals", "Displaying
//   errors in views").
// The task token, the request key, trigger_id, response_url, the bot token and the signing secret
// never appear in a log line or a response.
// Plain TypeScript with no Pulumi import: the stage's function is serialized with it.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SFNClient, SendTaskSuccessCommand } from "@aws-sdk/client-sfn";
import { Mechanism, stageDecision } from "../../contract";
import { redactText } from "../../shared/redact";
import { SLACK_RESEND, sendThrottledAgain } from "../../shared/throttledSend";
import { COMMENT_BLOCK_ID, SlackButtonClick, SlackCommentSubmission, SlackVote, parseInteraction } from "./interaction";
import { SlackOutcome, SlackVoteRecord, commentModal, finalMessage, requestMessage } from "./message";
import {
  SlackDecisionFields,
  SlackRequestRecord,
  VoteOutcome,
  decisionOfRecord,
  getRequest,
  markDelivered,
  recordVote,
  requestKeyHash,
  undeliveredDecision,
} from "./requestStore";
import { GetSecretValueInput, SecretsManagerLike, SlackSecrets, readSlackSecrets } from "./secrets";
import { verifySlackRequest, slackRequestHeaders } from "./signature";
import { SlackCallOptions, openView, postEphemeral, slackApiUrl, updateMessage, userInfo } from "./slackApi";

/** The mechanism's name in decisions. */
export const SLACK_MECHANISM: Mechanism = "slack";

/** Start of the log lines that mean a decision or a click is at risk: the stage's log metric filters count them. */
export const SLACK_AT_RISK_PHRASES = {
  "not-confirmed": "slack decision not confirmed",
  "failed-clicks": "slack interaction failed",
} as const;

/** Environment variables of the interaction function (set by the stage's component). */
export const SLACK_INTERACTION_ENV = {
  teamId: "SLACK_TEAM_ID",
  table: "SLACK_TABLE",
  secretId: "SLACK_SECRET_ID",
  /** "true": Approve also asks for an (optional) comment in the modal. */
  commentOnApprove: "SLACK_COMMENT_ON_APPROVE",
} as const;

/** Per Slack call: one attempt, so a slow Slack cannot push the answer past the 3-second acknowledgment. */
const SLACK_CALL_TIMEOUT_MS = 2000;
/** users.info runs before SendTaskSuccess, so it gets less: past this, the payload's name is used. */
const USER_INFO_TIMEOUT_MS = 1000;
/** How long a warm function reuses a name users.info gave (a renamed user shows up after this). */
export const USER_NAME_TTL_MS = 10 * 60 * 1000;
type CachedName = { name: string; until: number };
// Names users.info gave, per user ID, for this warm function: only deciders, so at most the stage's
// 50 approvers. Made on first use, where the function runs: Pulumi's closure serialization cannot
// carry a Map (as in secrets.ts).
const USER_NAMES_KEY = "__sfnApprovalsSlackUserNames";
function userNames(): Map<string, CachedName> {
  const holder = globalThis as unknown as Record<string, Map<string, CachedName> | undefined>;
  return (holder[USER_NAMES_KEY] ??= new Map());
}

/** Forgets the cached names (tests; a cold start does the same). */
export function clearSlackUserNameCache(): void {
  userNames().clear();
}

export interface HttpApiEvent {
  headers?: Record<string, string | undefined>;
  body?: string | null;
  isBase64Encoded?: boolean;
  requestContext?: { http?: { method?: string } };
}

export interface HttpApiResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

export interface SlackInteractionDeps {
  dynamodb: DynamoDBClient;
  sfn: SFNClient;
  secretsManager: SecretsManagerLike;
  /** Builds the SDK's GetSecretValueCommand (secretsManagerClient.ts); see secrets.ts. */
  newSecretCommand?: (input: GetSecretValueInput) => unknown;
  env?: Record<string, string | undefined>;
  now?: () => Date;
  fetchImpl?: typeof fetch;
  /** One JSON line per call (default console.log). */
  log?: (line: string) => void;
}

interface Settings {
  teamId: string;
  table: string;
  secretId: string;
  commentOnApprove: boolean;
  apiUrl: string;
}

/** What one request needs while it is handled. */
interface Context {
  deps: SlackInteractionDeps;
  settings: Settings;
  slack: SlackCallOptions;
  now: Date;
  /** Values that must never be logged (redactText removes them). */
  secrets: string[];
  log: (fields: Record<string, unknown>) => void;
}

function text(statusCode: number, body: string): HttpApiResponse {
  return { statusCode, headers: { "content-type": "text/plain; charset=utf-8" }, body };
}

/** The acknowledgment Slack needs: 200 with an empty body (for a view_submission, it closes the modal). */
const ACK: HttpApiResponse = { statusCode: 200, headers: {}, body: "" };

/** A view_submission answer that keeps the modal open with `message` under the comment input. */
function modalError(message: string): HttpApiResponse {
  return {
    statusCode: 200,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ response_action: "errors", errors: { [COMMENT_BLOCK_ID]: message } }),
  };
}

function settingsOf(env: Record<string, string | undefined>): Settings {
  const value = (name: string): string => {
    const v = env[name];
    if (!v) throw new Error(`Configuration error: environment variable ${name} is not set on this function`);
    return v;
  };
  return {
    teamId: value(SLACK_INTERACTION_ENV.teamId),
    table: value(SLACK_INTERACTION_ENV.table),
    secretId: value(SLACK_INTERACTION_ENV.secretId),
    commentOnApprove: env[SLACK_INTERACTION_ENV.commentOnApprove] === "true",
    apiUrl: slackApiUrl(env),
  };
}

function errorFields(error: unknown, secrets: string[]): { error: string; message: string } {
  const e = (error instanceof Object ? error : {}) as { name?: unknown; message?: unknown };
  return {
    error: redactText(typeof e.name === "string" ? e.name : "Error", secrets),
    message: redactText(typeof e.message === "string" ? e.message : String(error), secrets),
  };
}

/** What a vote that decides nothing tells the clicker: plain text (also shown under a modal's input). */
export function refusalText(
  kind: "not_an_approver" | "already_voted" | "already_decided" | "expired" | "unknown_request",
  record?: SlackRequestRecord,
): string {
  switch (kind) {
    case "not_an_approver":
      return "You are not an approver of this stage, so your click changed nothing.";
    case "already_voted":
      return "You already voted on this request; a vote counts once, so this click changed nothing.";
    case "already_decided":
      return `This request was already decided (${record?.decision ?? "decided"}); your click changed nothing.`;
    case "expired":
      return `This request timed out at ${record?.deadline ?? "its deadline"}; your click changed nothing.`;
    case "unknown_request":
      return "This request is not known here (it may have expired long ago); your click changed nothing.";
  }
}

/** The same checks recordVote makes before writing, for a click that opens the modal (nothing is written). */
function refusalOf(
  record: SlackRequestRecord | undefined,
  userId: string,
  now: Date,
): Parameters<typeof refusalText>[0] | undefined {
  if (!record) return "unknown_request";
  if (!record.approvers.includes(userId)) return "not_an_approver";
  if (record.status === "decided") return "already_decided";
  if (record.status === "timed_out" || now.toISOString() >= record.deadline) return "expired";
  if (record.votes.some((v) => v.userId === userId)) return "already_voted";
  return undefined;
}

const approvalsOf = (record: SlackRequestRecord): SlackVoteRecord[] =>
  record.votes.filter((v) => v.vote === "approve").map((v) => ({ userId: v.userId, at: v.at, comment: v.comment }));

function outcomeOf(record: SlackRequestRecord, decision: SlackDecisionFields): SlackOutcome {
  const approvals = approvalsOf(record);
  if (decision.decision === "approved") return { decision: "approved", approvals };
  const rejection = record.votes.find((v) => v.userId === decision.approver);
  return {
    decision: "rejected",
    rejection: { userId: decision.approver ?? "", at: rejection?.at ?? decision.decidedAt, comment: decision.comment },
    approvals,
  };
}

/** Where the request's message is: as bound at start, else the clicked message. */
function messageOf(record: SlackRequestRecord, click?: SlackButtonClick): { channel: string; ts: string } | undefined {
  if (record.channel && record.ts) return { channel: record.channel, ts: record.ts };
  return click ? { channel: click.channelId, ts: click.messageTs } : undefined;
}

/** chat.update of the request message; a failure is logged and changes nothing else. */
async function updateRequestMessage(
  ctx: Context,
  record: SlackRequestRecord,
  build: () => { text: string; blocks: unknown[] },
  click?: SlackButtonClick,
): Promise<void> {
  const where = messageOf(record, click);
  if (!where || !record.request) {
    ctx.log({ level: "error", msg: "slack message not updated: the item names no message or request" });
    return;
  }
  try {
    const message = build();
    await updateMessage(
      { channel: where.channel, ts: where.ts, text: message.text, blocks: message.blocks },
      ctx.slack,
    );
  } catch (error) {
    ctx.log({ level: "error", msg: "slack message not updated", ...errorFields(error, ctx.secrets) });
  }
}

/** A sentence only the clicker sees, in the clicked message's channel; a failure is logged. */
async function tellClicker(ctx: Context, click: SlackButtonClick, sentence: string): Promise<void> {
  try {
    await postEphemeral({ channel: click.channelId, user: click.userId, text: sentence }, ctx.slack);
  } catch (error) {
    ctx.log({ level: "error", msg: "slack ephemeral answer not sent", ...errorFields(error, ctx.secrets) });
  }
}

/**
 * The decider's name as Slack shows it: users.info's profile.display_name, else its real_name
 * (https://docs.slack.dev/reference/methods/users.info, bot scope users:read; "Data that has not
 * been supplied may not be present at all, may be null or may contain the empty string"), cached
 * per user. When users.info fails (missing_scope, user_not_found, ratelimited, a timeout) or gives
 * neither, the signed payload's user.name (the account's handle). Never throws: the name never holds
 * up or changes a decision.
 */
async function approverNameOf(
  ctx: Context,
  userId: string,
  payloadName: string,
): Promise<{ name: string; from: "users.info" | "payload" }> {
  const nowMs = ctx.now.getTime();
  const cached = userNames().get(userId);
  if (cached && cached.until > nowMs) return { name: cached.name, from: "users.info" };
  try {
    const info = await userInfo(userId, { ...ctx.slack, timeoutMs: USER_INFO_TIMEOUT_MS });
    const name = info.id === userId ? info.displayName.trim() || info.realName.trim() : "";
    if (name) {
      userNames().set(userId, { name, until: nowMs + USER_NAME_TTL_MS });
      return { name, from: "users.info" };
    }
    ctx.log({
      level: "warn",
      msg: "slack user has no display or real name; the decision names the payload's user name",
      user: userId,
    });
  } catch (error) {
    ctx.log({
      level: "warn",
      msg: "slack user name not read; the decision names the payload's user name",
      user: userId,
      ...errorFields(error, ctx.secrets),
    });
  }
  return { name: payloadName, from: "payload" };
}

type Delivery = "delivered" | "ended" | "pending";

/**
 * Sends a decided request's decision with SendTaskSuccess, then marks it delivered. "ended": Step
 * Functions no longer waits for it (TaskTimedOut, TaskDoesNotExist: @aws-sdk/client-sfn
 * SendTaskSuccessCommand errors); "pending": not confirmed, the item keeps it undelivered, so the
 * next click sends the same decision again (undeliveredDecision).
 */
async function deliver(
  ctx: Context,
  pending: { decision: SlackDecisionFields; taskToken: string; record: SlackRequestRecord },
): Promise<Delivery> {
  const secrets = [...ctx.secrets, pending.taskToken];
  const d = pending.decision;
  // Who decided, from the deciding vote as stored: its team is the signed payload's (checked
  // against SLACK_TEAM_ID before the vote was written), its name the payload's user.name.
  const voter = pending.record.votes.find((v) => v.userId === d.approver);
  const named = voter ? await approverNameOf(ctx, voter.userId, voter.userName) : undefined;
  const output = stageDecision({
    decision: d.decision,
    stage: d.stage,
    mechanism: SLACK_MECHANISM,
    approver: d.approver,
    approverName: named?.name,
    approverTeam: voter?.teamId,
    comment: d.comment,
    decidedAt: d.decidedAt,
  });
  const where = { stage: pending.record.stage, executionArn: pending.record.executionArn };
  try {
    // Sent again only while AWS refuses it for capacity (nothing recorded); the click must be answered within 3 s.
    await sendThrottledAgain(
      () =>
        ctx.deps.sfn.send(new SendTaskSuccessCommand({ taskToken: pending.taskToken, output: JSON.stringify(output) })),
      SLACK_RESEND,
    );
  } catch (error) {
    const name = (error as { name?: unknown }).name;
    const ended = name === "TaskTimedOut" || name === "TaskDoesNotExist";
    ctx.log({
      level: "error",
      msg: ended
        ? "slack decision not delivered: the workflow no longer waits for it"
        : `${SLACK_AT_RISK_PHRASES["not-confirmed"]}; the next click sends it again`,
      ...where,
      decision: d.decision,
      ...errorFields(error, secrets),
    });
    return ended ? "ended" : "pending";
  }
  ctx.log({
    msg: "slack decision delivered",
    ...where,
    decision: d.decision,
    approver: d.approver,
    approverName: output.approverName,
    approverNameFrom: named?.from,
    team: output.approverTeam,
    approvals: pending.record.approvals,
  });
  try {
    await markDelivered(ctx.deps.dynamodb, ctx.settings.table, pending.record.keyHash, ctx.now);
  } catch (error) {
    // Bookkeeping only: Step Functions accepts one decision per token whatever the item says.
    ctx.log({
      level: "error",
      msg: "slack decision delivered but not marked",
      ...where,
      ...errorFields(error, secrets),
    });
  }
  return "delivered";
}

/** After a delivered decision: the buttons give way to the outcome. */
async function showOutcome(
  ctx: Context,
  record: SlackRequestRecord,
  decision: SlackDecisionFields,
  click?: SlackButtonClick,
): Promise<void> {
  await updateRequestMessage(
    ctx,
    record,
    () =>
      finalMessage({
        request: record.request!,
        stage: record.stage,
        required: record.required,
        outcome: outcomeOf(record, decision),
      }),
    click,
  );
}

/**
 * A click on a decided request, and the sentence for the clicker. A decision whose delivery was
 * never confirmed is sent again (the same decision) while the request's deadline has not passed;
 * past it the Task has timed out (the deadline is reckoned from after the Task started), the
 * follow-up function shows the request as timed out, and so does the sentence. A delivered
 * decision is shown in the message again (chat.update is idempotent; an earlier update may have
 * failed). Never changes the decision.
 */
async function resendOrShowDecision(
  ctx: Context,
  requestKey: string,
  record: SlackRequestRecord,
  click?: SlackButtonClick,
): Promise<string> {
  const pending = await undeliveredDecision(ctx.deps.dynamodb, ctx.settings.table, requestKey);
  if (pending) {
    if (ctx.now.toISOString() >= pending.record.deadline) return refusalText("expired", pending.record);
    const delivery = await deliver(ctx, pending);
    if (delivery === "delivered") {
      await showOutcome(ctx, pending.record, pending.decision, click);
      return refusalText("already_decided", pending.record);
    }
    return delivery === "ended"
      ? "The workflow no longer waits for this request (it timed out or was stopped); your click changed nothing."
      : `This request was decided (${pending.decision.decision}) but the workflow has not confirmed it yet; click again in a minute to resend it.`;
  }
  if (record.status === "decided" && record.deliveredAt !== undefined)
    await showOutcome(ctx, record, decisionOfRecord(record), click);
  return refusalText("already_decided", record);
}

/** What a recorded vote leads to. Returns the sentence for the clicker, or undefined when the message shows it. */
async function afterVote(
  ctx: Context,
  requestKey: string,
  outcome: VoteOutcome,
  click?: SlackButtonClick,
): Promise<string | undefined> {
  switch (outcome.kind) {
    case "decided": {
      const delivery = await deliver(ctx, outcome);
      if (delivery === "delivered") {
        await showOutcome(ctx, outcome.record, outcome.decision, click);
        return undefined;
      }
      return delivery === "ended"
        ? "The workflow no longer waits for this request (it timed out or was stopped); your vote was not used."
        : "Your vote is recorded but the workflow has not confirmed it yet; click again in a minute to resend it.";
    }
    case "counted": {
      const record = outcome.record;
      await updateRequestMessage(
        ctx,
        record,
        () =>
          requestMessage({
            request: record.request!,
            stage: record.stage,
            requestKey,
            deadline: record.deadline,
            required: record.required,
            approverCount: record.approvers.length,
            approvals: approvalsOf(record),
          }),
        click,
      );
      return undefined;
    }
    case "already_decided":
      return resendOrShowDecision(ctx, requestKey, outcome.record, click);
    case "already_voted":
    case "expired":
      return refusalText(outcome.kind, outcome.record);
    case "not_an_approver":
    case "unknown_request":
      return refusalText(outcome.kind);
  }
}

async function onClick(ctx: Context, click: SlackButtonClick): Promise<HttpApiResponse> {
  const withModal: SlackVote[] = ctx.settings.commentOnApprove ? ["approve", "reject"] : ["reject"];
  if (withModal.includes(click.vote)) {
    const record = await getRequest(ctx.deps.dynamodb, ctx.settings.table, click.requestKey);
    const refusal = refusalOf(record, click.userId, ctx.now);
    ctx.log({
      msg: "slack click",
      vote: click.vote,
      user: click.userId,
      outcome: refusal ?? "modal",
      ...where(record),
    });
    if (refusal) {
      const sentence =
        refusal === "already_decided"
          ? await resendOrShowDecision(ctx, click.requestKey, record!, click)
          : refusalText(refusal, record);
      await tellClicker(ctx, click, sentence);
      return ACK;
    }
    try {
      await openView(
        {
          trigger_id: click.triggerId,
          view: { ...commentModal({ vote: click.vote, requestKey: click.requestKey, request: modalRequest(record!) }) },
        },
        ctx.slack,
      );
    } catch (error) {
      ctx.log({ level: "error", msg: "slack comment modal not opened", ...errorFields(error, ctx.secrets) });
      await tellClicker(ctx, click, "The comment form could not be opened; nothing was recorded. Please click again.");
    }
    return ACK;
  }
  const outcome = await recordVote(ctx.deps.dynamodb, ctx.settings.table, {
    requestKey: click.requestKey,
    userId: click.userId,
    vote: click.vote,
    comment: null,
    userName: click.userName,
    teamId: click.teamId,
    at: ctx.now,
  });
  ctx.log({ msg: "slack click", vote: click.vote, user: click.userId, outcome: outcome.kind, ...whereOf(outcome) });
  const sentence = await afterVote(ctx, click.requestKey, outcome, click);
  if (sentence) await tellClicker(ctx, click, sentence);
  return ACK;
}

async function onSubmission(ctx: Context, submission: SlackCommentSubmission): Promise<HttpApiResponse> {
  const outcome = await recordVote(ctx.deps.dynamodb, ctx.settings.table, {
    requestKey: submission.requestKey,
    userId: submission.userId,
    vote: submission.vote,
    comment: submission.comment,
    userName: submission.userName,
    teamId: submission.teamId,
    at: ctx.now,
  });
  ctx.log({
    msg: "slack comment submitted",
    vote: submission.vote,
    user: submission.userId,
    outcome: outcome.kind,
    ...whereOf(outcome),
  });
  const sentence = await afterVote(ctx, submission.requestKey, outcome);
  // The modal closes on an empty 200; a sentence keeps it open and says why.
  return sentence ? modalError(sentence) : ACK;
}

function modalRequest(record: SlackRequestRecord): { title: string } {
  return record.request ?? { title: `a request of stage ${record.stage}` };
}

function where(record: SlackRequestRecord | undefined): Record<string, string> {
  return record ? { stage: record.stage, executionArn: record.executionArn, keyHash: record.keyHash } : {};
}

function whereOf(outcome: VoteOutcome): Record<string, string> {
  return "record" in outcome ? where(outcome.record) : {};
}

/**
 * Handles one interaction request from Slack and answers it. Never throws: an internal error is
 * logged (redacted), the clicker is told nothing was recorded, and Slack gets its answer.
 */
export async function handleInteraction(event: unknown, deps: SlackInteractionDeps): Promise<HttpApiResponse> {
  const sink = deps.log ?? ((line: string) => console.log(line));
  const secrets: string[] = [];
  const log = (fields: Record<string, unknown>) => sink(redactText(JSON.stringify(fields), secrets));
  const now = (deps.now ?? (() => new Date()))();
  let settings: Settings;
  try {
    settings = settingsOf(deps.env ?? process.env);
  } catch (error) {
    log({ level: "error", msg: "slack interaction refused", ...errorFields(error, secrets) });
    return text(500, "The approvals app is not configured; nothing was recorded.");
  }
  const http = (typeof event === "object" && event !== null ? event : {}) as HttpApiEvent;
  if (http.requestContext?.http?.method !== "POST") return text(405, "Only POST requests from Slack are accepted.");
  const body = typeof http.body === "string" ? http.body : "";
  const raw = http.isBase64Encoded === true ? Buffer.from(body, "base64") : Buffer.from(body, "utf8");

  let appSecrets: SlackSecrets;
  try {
    appSecrets = await readSlackSecrets(deps.secretsManager, settings.secretId, { newCommand: deps.newSecretCommand });
  } catch (error) {
    // The secret's errors name the secret and the field, never a value (secrets.ts).
    log({ level: "error", msg: "slack secret not read", ...errorFields(error, secrets) });
    return text(500, "The approvals app could not read its Slack secret; nothing was recorded.");
  }
  secrets.push(appSecrets.botToken, appSecrets.signingSecret);

  const verified = verifySlackRequest({
    signingSecret: appSecrets.signingSecret,
    ...slackRequestHeaders(http.headers),
    rawBody: raw,
    nowSeconds: Math.floor(now.getTime() / 1000),
  });
  if (!verified.ok) {
    log({ level: "warn", msg: "slack interaction refused", status: 401, reason: verified.reason });
    return text(401, `Refused: ${verified.reason}.`);
  }
  const parsed = parseInteraction(raw.toString("utf8"));
  if (!parsed.ok) {
    log({ level: "warn", msg: "slack interaction refused", status: 400, reason: parsed.reason });
    return text(400, `Refused: ${parsed.reason}.`);
  }
  const interaction = parsed.interaction;
  // The request key is the token's key material (requestStore.ts): never logged.
  secrets.push(interaction.requestKey);
  if (interaction.kind === "block_actions") secrets.push(interaction.triggerId, interaction.responseUrl);
  if (interaction.teamId !== settings.teamId) {
    log({ level: "warn", msg: "slack interaction refused", status: 403, reason: "another workspace" });
    return text(403, "Refused: the request comes from another Slack workspace.");
  }

  const ctx: Context = {
    deps,
    settings,
    now,
    secrets,
    log,
    slack: {
      token: appSecrets.botToken,
      apiUrl: settings.apiUrl,
      fetchImpl: deps.fetchImpl,
      maxRetries: 0,
      timeoutMs: SLACK_CALL_TIMEOUT_MS,
    },
  };
  try {
    return interaction.kind === "block_actions"
      ? await onClick(ctx, interaction)
      : await onSubmission(ctx, interaction);
  } catch (error) {
    log({
      level: "error",
      msg: `${SLACK_AT_RISK_PHRASES["failed-clicks"]}; nothing was decided by it`,
      keyHash: requestKeyHash(interaction.requestKey),
      ...errorFields(error, secrets),
    });
    const sentence = "Your click could not be recorded (an internal error); nothing changed. Please try again shortly.";
    if (interaction.kind === "block_actions") {
      await tellClicker(ctx, interaction, sentence);
      return ACK;
    }
    return modalError(sentence);
  }
}
