// The follow-up function of the slack mechanism, invoked by the workflow (lambda:invoke, no token)
// with { action, stage, executionArn }:
// - "close", after the stage's Task timed out: every request of the execution's stage that still
//   waits is marked timed out (a conditional write: a vote that decided first keeps its decision),
//   and its message's buttons give way to "Timed out" (chat.update), so a later click is answered
//   "this request timed out" and decides nothing;
// - "remind", from the reminder branch while the stage waits: a reply in the message's thread
//   naming the approvers who have not voted and how many approvals are still needed. No buttons.
// It finds the requests through the pointer the start function wrote (requestStore.ts); it never
// sees a request key or a task token. Any error is thrown (the workflow retries, then goes on: a
// timed-out stage stays timed out, a reminder is skipped), with the bot token redacted.
// Plain TypeScript with no Pulumi import: the stage's function is serialized with it.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { redactText, redactedError } from "../../shared/redact";
import { SlackVoteRecord, finalMessage, slackDate, userMention } from "./message";
import { SlackRequestRecord, getRequestByHash, markTimedOut, requestKeyHashesOf } from "./requestStore";
import { GetSecretValueInput, SecretsManagerLike, readSlackSecrets } from "./secrets";
import { postMessage, slackApiUrl, updateMessage } from "./slackApi";

/** Environment variables of the follow-up function (set by the stage's component). */
export const SLACK_FOLLOW_UP_ENV = {
  stage: "SLACK_STAGE",
  table: "SLACK_TABLE",
  secretId: "SLACK_SECRET_ID",
} as const;

export const FOLLOW_UP_ACTIONS = ["close", "remind"] as const;
export type FollowUpAction = (typeof FOLLOW_UP_ACTIONS)[number];

/** The Payload the workflow's Task sends (components/mechanisms/slackApproval.ts). */
export interface SlackFollowUpEvent {
  action: FollowUpAction;
  stage: string;
  executionArn: string;
}

/** What became of one request of the execution's stage. */
export type FollowUpOutcome =
  /** close: this call marked it timed out and the message says so. */
  | "closed"
  /** close: it was timed out already (an earlier attempt); the message is updated again. */
  | "already_timed_out"
  /** close: decided, but Step Functions never took the decision (the Task timed out first); the item keeps it, the message says timed out. */
  | "decided_not_delivered"
  /** close or remind: decided and delivered; nothing to do. */
  | "decided"
  /** The item names no message (the start function failed before binding one): closed or skipped, nothing sent. */
  | "no_message"
  /** remind: a reply was posted in the message's thread. */
  | "reminded"
  /** remind: it no longer waits (decided, timed out, or past its deadline). */
  | "not_waiting"
  /** The pointer names an item that no longer exists (TTL) or belongs to another execution or stage. */
  | "missing";

export interface SlackFollowUpResult {
  action: FollowUpAction;
  requests: Array<{ keyHash: string; outcome: FollowUpOutcome }>;
}

export interface SlackFollowUpDeps {
  dynamodb: DynamoDBClient;
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
  stage: string;
  table: string;
  secretId: string;
  apiUrl: string;
}

function settingsOf(env: Record<string, string | undefined>): Settings {
  const value = (name: string): string => {
    const v = env[name];
    if (!v) throw new Error(`Configuration error: environment variable ${name} is not set on this function`);
    return v;
  };
  return {
    stage: value(SLACK_FOLLOW_UP_ENV.stage),
    table: value(SLACK_FOLLOW_UP_ENV.table),
    secretId: value(SLACK_FOLLOW_UP_ENV.secretId),
    apiUrl: slackApiUrl(env),
  };
}

/** Validates the Task's payload for `stage`. */
export function parseFollowUpEvent(event: unknown, stage: string): SlackFollowUpEvent {
  if (typeof event !== "object" || event === null) {
    throw new Error("InvalidEvent: expected an object with action, stage and executionArn");
  }
  const e = event as Record<string, unknown>;
  if (!FOLLOW_UP_ACTIONS.includes(e.action as FollowUpAction)) {
    throw new Error(`InvalidEvent: 'action' must be one of ${FOLLOW_UP_ACTIONS.join(", ")}`);
  }
  if (e.stage !== stage) {
    throw new Error(`InvalidEvent: this function serves stage '${stage}', the event names stage '${String(e.stage)}'`);
  }
  if (typeof e.executionArn !== "string" || !e.executionArn.startsWith("arn:") || e.executionArn.length > 2048) {
    throw new Error("InvalidEvent: 'executionArn' must be the ARN of the Step Functions execution");
  }
  return { action: e.action as FollowUpAction, stage, executionArn: e.executionArn };
}

const approvalsOf = (record: SlackRequestRecord): SlackVoteRecord[] =>
  record.votes.filter((v) => v.vote === "approve").map((v) => ({ userId: v.userId, at: v.at, comment: v.comment }));

/** Longest list of mentions in a reminder; Slack's own limit on `text` is far above it (40,000 characters). */
const REMINDER_LIST_MAX = 2500;

/** "<@U1>, <@U2> and 3 more", within REMINDER_LIST_MAX characters. */
function mentionList(userIds: string[]): string {
  let text = "";
  for (const [index, userId] of userIds.entries()) {
    const next = (text ? ", " : "") + userMention(userId);
    if (text.length + next.length > REMINDER_LIST_MAX) return `${text} and ${userIds.length - index} more`;
    text += next;
  }
  return text;
}

/** The reminder posted in the request message's thread: who has not voted, how many approvals are missing. */
export function reminderText(record: SlackRequestRecord): string {
  const voted = new Set(record.votes.map((v) => v.userId));
  const waitingFor = record.approvers.filter((userId) => !voted.has(userId));
  const needed = Math.max(record.required - record.approvals, 0);
  return (
    `:bell: Reminder: this request still needs ${needed} more approval${needed === 1 ? "" : "s"} ` +
    `(${record.approvals} of ${record.required} so far) and times out on ${slackDate(record.deadline)}. ` +
    `Not voted yet: ${waitingFor.length > 0 ? mentionList(waitingFor) : "nobody"}.`
  );
}

/** Runs one follow-up for every request of the execution's stage; see the header. */
export async function handleFollowUp(event: unknown, deps: SlackFollowUpDeps): Promise<SlackFollowUpResult> {
  const log = deps.log ?? ((line: string) => console.log(line));
  const settings = settingsOf(deps.env ?? process.env);
  const { action, executionArn } = parseFollowUpEvent(event, settings.stage);
  const now = (deps.now ?? (() => new Date()))();
  const where = { stage: settings.stage, executionArn, action };
  const secrets: string[] = [];
  let botToken: string | undefined;
  const slack = async () => {
    if (botToken === undefined) {
      ({ botToken } = await readSlackSecrets(deps.secretsManager, settings.secretId, {
        newCommand: deps.newSecretCommand,
      }));
      secrets.push(botToken);
    }
    return { token: botToken, apiUrl: settings.apiUrl, fetchImpl: deps.fetchImpl };
  };

  const result: SlackFollowUpResult = { action, requests: [] };
  const failures: unknown[] = [];
  const keyHashes = await requestKeyHashesOf(deps.dynamodb, settings.table, executionArn, settings.stage);
  for (const keyHash of keyHashes) {
    try {
      const outcome =
        action === "close"
          ? await close(deps.dynamodb, settings.table, keyHash, executionArn, settings.stage, now, slack)
          : await remind(deps.dynamodb, settings.table, keyHash, executionArn, settings.stage, now, slack);
      result.requests.push({ keyHash, outcome });
    } catch (error) {
      // The other requests are still followed up; the call then fails, so the workflow retries.
      failures.push(error);
      const safe = redactedError(error, secrets);
      log(
        JSON.stringify({
          level: "error",
          msg: `slack ${action} failed for a request`,
          ...where,
          keyHash,
          error: safe.name,
          message: redactText(safe.message, secrets),
        }),
      );
    }
  }
  log(JSON.stringify({ msg: `slack ${action}`, ...where, requests: result.requests, failed: failures.length }));
  if (failures.length > 0) throw redactedError(failures[0], secrets);
  return result;
}

type SlackOptions = () => Promise<{ token: string; apiUrl: string; fetchImpl?: typeof fetch }>;

/** The request under `keyHash` when it belongs to this execution's stage. */
async function requestOf(
  db: DynamoDBClient,
  table: string,
  keyHash: string,
  executionArn: string,
  stage: string,
): Promise<SlackRequestRecord | undefined> {
  const record = await getRequestByHash(db, table, keyHash);
  return record && record.executionArn === executionArn && record.stage === stage ? record : undefined;
}

async function close(
  db: DynamoDBClient,
  table: string,
  keyHash: string,
  executionArn: string,
  stage: string,
  now: Date,
  slack: SlackOptions,
): Promise<FollowUpOutcome> {
  let record = await requestOf(db, table, keyHash, executionArn, stage);
  if (!record) return "missing";
  let outcome: FollowUpOutcome;
  if (record.status === "waiting") {
    // Conditional on `waiting`: a vote that decided in between keeps its decision (read again).
    const closed = await markTimedOut(db, table, keyHash, now);
    record = closed ?? (await requestOf(db, table, keyHash, executionArn, stage));
    if (!record) return "missing";
    outcome = closed ? "closed" : record.status === "timed_out" ? "already_timed_out" : "decided_not_delivered";
  } else {
    outcome = record.status === "timed_out" ? "already_timed_out" : "decided_not_delivered";
  }
  // Delivered: Step Functions took that decision, and the message already shows it.
  if (record.status === "decided" && record.deliveredAt !== undefined) return "decided";
  if (!record.channel || !record.ts || !record.request) return "no_message";
  const message = finalMessage({
    request: record.request,
    stage: record.stage,
    required: record.required,
    outcome: {
      decision: "timed_out",
      at: record.status === "timed_out" && record.decidedAt ? record.decidedAt : record.deadline,
      approvals: approvalsOf(record),
    },
  });
  // Repeating the same update (a retried close) changes nothing.
  await updateMessage(
    { channel: record.channel, ts: record.ts, text: message.text, blocks: message.blocks },
    await slack(),
  );
  return outcome;
}

async function remind(
  db: DynamoDBClient,
  table: string,
  keyHash: string,
  executionArn: string,
  stage: string,
  now: Date,
  slack: SlackOptions,
): Promise<FollowUpOutcome> {
  const record = await requestOf(db, table, keyHash, executionArn, stage);
  if (!record) return "missing";
  if (record.status === "decided" && record.deliveredAt !== undefined) return "decided";
  if (record.status !== "waiting" || now.toISOString() >= record.deadline) return "not_waiting";
  if (!record.channel || !record.ts) return "no_message";
  // thread_ts: "Provide another message's ts value to make this message a reply"
  // (https://docs.slack.dev/reference/methods/chat.postMessage). Text only: no buttons, no key.
  await postMessage({ channel: record.channel, thread_ts: record.ts, text: reminderText(record) }, await slack());
  return "reminded";
}
