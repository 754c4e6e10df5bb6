// The start function of the slack mechanism: invoked by the stage's `lambda:invoke.waitForTaskToken`
// Task with { taskToken, request, stage, executionArn } (functions/shared/callbackTask.ts), it
// stores the request under a new request key (the token sealed in the item: requestStore.ts) and
// a pointer from the execution's stage to it (for the follow-up function),
// posts the request message with chat.postMessage and records where it was posted. The message's
// buttons carry only the request key. Any error fails the Task (nothing is approved) with a
// redacted message: the token, the key and the bot token are never thrown or logged. Throttling
// before the post and Slack.ratelimited keep their names (the Task retries them for capacity:
// components/mechanisms/capacityRetry.ts), and the request stored for that attempt is ended unposted.
// With SLACK_DIRECT_MESSAGES, each approver then gets a direct message pointing at the request
// (message.ts dmNotice: no buttons, no key); a DM that fails is a logged warning, never a failed Task.
// Plain TypeScript with no Pulumi import: the stage's function is serialized with it.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ApprovalRequest, fitText } from "../../contract";
import { parseCallbackTaskEvent } from "../../shared/callbackTask";
import { redactText, redactedError } from "../../shared/redact";
import { SLACK_USER_ID_PATTERN, newRequestKey } from "./interaction";
import { SLACK_LIMITS, detailsText, dmNotice, requestMessage } from "./message";
import { MAX_SLACK_APPROVERS, addExecutionPointer, bindMessage, createRequest, markUnposted } from "./requestStore";
import { GetSecretValueInput, SecretsManagerLike, readSlackSecrets } from "./secrets";
import { SlackCallOptions, getPermalink, postMessage, slackApiUrl } from "./slackApi";

/** Environment variables of the start function (set by the stage's component). */
export const SLACK_START_ENV = {
  stage: "SLACK_STAGE",
  channel: "SLACK_CHANNEL",
  /** JSON array of Slack user IDs. */
  approvers: "SLACK_APPROVERS",
  /** minRequiredApprovals. */
  required: "SLACK_REQUIRED",
  timeoutSeconds: "SLACK_TIMEOUT_SECONDS",
  table: "SLACK_TABLE",
  secretId: "SLACK_SECRET_ID",
  /** "true": a direct message to each approver after the channel message (stage key directMessages). */
  directMessages: "SLACK_DIRECT_MESSAGES",
} as const;

/**
 * Direct messages' time: one attempt each (no retry), at most callTimeoutMs, `concurrency` at a
 * time, and none past deadlineMs after the invocation began, so 50 approvers leave the function's
 * 30 s (components/shared/approvalFunction.ts LAMBDA_TIMEOUT_SECONDS) room to finish.
 * chat.postMessage allows about 1 message per second per channel (each DM is its own channel) and
 * several hundred per minute per workspace, with bursts
 * (https://docs.slack.dev/reference/methods/chat.postMessage, "Rate limiting").
 */
export const SLACK_DM_LIMITS = { callTimeoutMs: 3_000, concurrency: 5, deadlineMs: 20_000 } as const;
/** A DM call is not started with less time than this before the deadline. */
const DM_MIN_CALL_MS = 250;

/** A decided or timed-out item stays this long after the deadline, so a late click is told so (not "unknown"). */
export const SLACK_ITEM_GRACE_SECONDS = 7 * 24 * 3600;
/** Longest JSON of a request's details kept as they are in the item; longer ones are kept as their text. */
export const STORED_DETAILS_MAX_CHARS = 12_000;
/** Longest text field kept in the item: every place the message shows one cuts it shorter. */
const STORED_TEXT_MAX_CHARS = SLACK_LIMITS.sectionText;

// A channel ID: C… (public), G… (private) or D… (a DM); the registry validates the config the same way.
const CHANNEL_PATTERN = /^[CGD][A-Z0-9]{2,63}$/;

export interface SlackStartSettings {
  stage: string;
  channel: string;
  approvers: string[];
  required: number;
  timeoutSeconds: number;
  table: string;
  secretId: string;
  apiUrl: string;
  directMessages: boolean;
}

export interface SlackStartDeps {
  dynamodb: DynamoDBClient;
  secretsManager: SecretsManagerLike;
  /** Builds the SDK's GetSecretValueCommand (secretsManagerClient.ts); see secrets.ts. */
  newSecretCommand?: (input: GetSecretValueInput) => unknown;
  env?: Record<string, string | undefined>;
  now?: () => Date;
  fetchImpl?: typeof fetch;
  /** One JSON line per call (default console.log). */
  log?: (line: string) => void;
  /** Milliseconds on a monotonic clock (default performance.now): the direct messages' deadline. */
  clockMs?: () => number;
  /** Tests shorten the direct messages' limits. */
  dmLimits?: Partial<{ callTimeoutMs: number; concurrency: number; deadlineMs: number }>;
}

/** How the direct messages went: sent, failed (Slack or network error), skipped (no time left). */
export interface SlackDmSummary {
  sent: number;
  failed: number;
  skipped: number;
}

function configError(message: string): Error {
  return new Error(`Configuration error: ${message}`);
}

/** The start function's settings from its environment; a missing or malformed one is a deployment bug. */
export function slackStartSettings(env: Record<string, string | undefined> = process.env): SlackStartSettings {
  const value = (name: string): string => {
    const v = env[name];
    if (!v) throw configError(`environment variable ${name} is not set on this function`);
    return v;
  };
  const channel = value(SLACK_START_ENV.channel);
  if (!CHANNEL_PATTERN.test(channel)) throw configError(`${SLACK_START_ENV.channel} is not a Slack channel ID`);
  let approvers: unknown;
  try {
    approvers = JSON.parse(value(SLACK_START_ENV.approvers));
  } catch {
    throw configError(`${SLACK_START_ENV.approvers} is not a JSON array`);
  }
  if (
    !Array.isArray(approvers) ||
    approvers.length < 1 ||
    approvers.length > MAX_SLACK_APPROVERS ||
    !approvers.every((id) => typeof id === "string" && SLACK_USER_ID_PATTERN.test(id)) ||
    new Set(approvers).size !== approvers.length
  ) {
    throw configError(`${SLACK_START_ENV.approvers} must list 1 to ${MAX_SLACK_APPROVERS} distinct Slack user IDs`);
  }
  const required = Number(value(SLACK_START_ENV.required));
  if (!Number.isInteger(required) || required < 1 || required > approvers.length) {
    throw configError(`${SLACK_START_ENV.required} must be a whole number from 1 to the number of approvers`);
  }
  const dms = env[SLACK_START_ENV.directMessages];
  if (dms !== undefined && dms !== "true" && dms !== "false") {
    throw configError(`${SLACK_START_ENV.directMessages} must be true or false`);
  }
  const timeoutSeconds = Number(value(SLACK_START_ENV.timeoutSeconds));
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1) {
    throw configError(`${SLACK_START_ENV.timeoutSeconds} must be a whole number of seconds`);
  }
  return {
    stage: value(SLACK_START_ENV.stage),
    channel,
    approvers: approvers as string[],
    required,
    timeoutSeconds,
    table: value(SLACK_START_ENV.table),
    secretId: value(SLACK_START_ENV.secretId),
    apiUrl: slackApiUrl(env),
    directMessages: dms === "true",
  };
}

/**
 * The request as the item keeps it for the message's updates: text fields cut to what a message
 * can show, details as they are unless their JSON is long (then as their text), so a request of
 * any size leaves room in the item for 50 votes.
 */
export function storedRequest(request: ApprovalRequest): ApprovalRequest {
  const cut = (text: string | undefined) => (text === undefined ? undefined : fitText(text, STORED_TEXT_MAX_CHARS));
  const stored: ApprovalRequest = { title: fitText(request.title, STORED_TEXT_MAX_CHARS) };
  if (request.requestId !== undefined) stored.requestId = cut(request.requestId);
  if (request.requester !== undefined) stored.requester = cut(request.requester);
  if (request.amount !== undefined) stored.amount = request.amount;
  if (request.currency !== undefined) stored.currency = cut(request.currency);
  // A link is shown as a link only whole; one longer than a field is shown as text anyway.
  if (request.link !== undefined) stored.link = cut(request.link);
  if (request.details !== undefined) {
    const json = JSON.stringify(request.details) ?? "";
    stored.details =
      json.length <= STORED_DETAILS_MAX_CHARS
        ? request.details
        : fitText(detailsText(request.details), STORED_TEXT_MAX_CHARS);
  }
  return stored;
}

/**
 * Posts one request message for the Task and binds it to the stored request. Returns where it was
 * posted (the Task's output is not used: the stage ends with SendTaskSuccess from the interaction
 * function, or its timeout).
 */
export async function startSlackRequest(
  event: unknown,
  deps: SlackStartDeps,
): Promise<{ channel: string; ts: string; directMessages?: SlackDmSummary }> {
  const clock = deps.clockMs ?? (() => performance.now());
  const startedAt = clock();
  const log = deps.log ?? ((line: string) => console.log(line));
  const settings = slackStartSettings(deps.env ?? process.env);
  const task = parseCallbackTaskEvent(event, settings.stage);
  const secrets: string[] = [task.taskToken];
  // Set once the request is stored, cleared once chat.postMessage may have posted it.
  let unposted: string | undefined;
  try {
    const now = (deps.now ?? (() => new Date()))();
    const deadline = new Date(now.getTime() + settings.timeoutSeconds * 1000);
    const requestKey = newRequestKey();
    secrets.push(requestKey);
    const request = storedRequest(task.request);
    const ttl = Math.ceil(deadline.getTime() / 1000) + SLACK_ITEM_GRACE_SECONDS;
    // Stored before the message is posted: a button in Slack always has its item.
    const keyHash = await createRequest(deps.dynamodb, settings.table, {
      requestKey,
      taskToken: task.taskToken,
      executionArn: task.executionArn,
      stage: settings.stage,
      approvers: settings.approvers,
      required: settings.required,
      deadline,
      ttl,
      createdAt: now,
      request,
    });
    unposted = keyHash;
    // So the follow-up function (timeout, reminders) finds every posted request of this execution.
    await addExecutionPointer(deps.dynamodb, settings.table, {
      executionArn: task.executionArn,
      stage: settings.stage,
      keyHash,
      ttl,
    });
    const { botToken } = await readSecretsKeepingThrottles(deps, settings.secretId);
    secrets.push(botToken);
    const message = requestMessage({
      request,
      stage: settings.stage,
      requestKey,
      deadline,
      required: settings.required,
      approverCount: settings.approvers.length,
    });
    const posted = await postMessage(
      { channel: settings.channel, text: message.text, blocks: message.blocks },
      { token: botToken, apiUrl: settings.apiUrl, fetchImpl: deps.fetchImpl },
    ).catch((error: unknown) => {
      // Only a 429 says for sure that nothing was posted; after any other failure a message may exist.
      if ((error as { name?: unknown })?.name !== SLACK_RATELIMITED) unposted = undefined;
      throw error;
    });
    unposted = undefined;
    // The message is posted: a throttled bind must not reach the Task's capacity retry, whose new
    // attempt would post a second message (components/mechanisms/capacityRetry.ts).
    const bound = await bindMessage(deps.dynamodb, settings.table, keyHash, posted).catch((error: unknown) => {
      const name = (error as { name?: unknown })?.name;
      if (typeof name !== "string" || !DYNAMODB_THROTTLING_NAMES.includes(name)) throw error;
      throw new Error(`SlackMessageNotBound: the posted message was not recorded in the request's item (${name})`);
    });
    if (!bound) {
      throw new Error("SlackMessageNotBound: the request's item was not found or is bound to another message");
    }
    const directMessages = settings.directMessages
      ? await sendDmNotices({
          settings,
          posted,
          request,
          deadline,
          slack: { token: botToken, apiUrl: settings.apiUrl, fetchImpl: deps.fetchImpl },
          deadlineAt: startedAt + (deps.dmLimits?.deadlineMs ?? SLACK_DM_LIMITS.deadlineMs),
          clock,
          limits: { ...SLACK_DM_LIMITS, ...deps.dmLimits },
          warn: (fields) =>
            log(JSON.stringify({ level: "warn", stage: settings.stage, executionArn: task.executionArn, ...fields })),
          secrets,
        })
      : undefined;
    log(
      JSON.stringify({
        msg: "slack approval request posted",
        stage: settings.stage,
        executionArn: task.executionArn,
        channel: posted.channel,
        ts: posted.ts,
        keyHash,
        ...(directMessages ? { directMessages } : {}),
      }),
    );
    return directMessages ? { ...posted, directMessages } : posted;
  } catch (error) {
    const safe = redactedError(error, secrets);
    // Nothing was posted: the stored request ends (timed out), so a retried start (a capacity error)
    // leaves no waiting request without a message. Best effort: the close after the stage's timeout
    // handles one left waiting ("no_message", followUp.ts); no click can reach either, no message has its key.
    if (unposted !== undefined) {
      const at = (deps.now ?? (() => new Date()))();
      await markUnposted(deps.dynamodb, settings.table, unposted, at).catch((markError: unknown) =>
        log(
          JSON.stringify({
            level: "warn",
            msg: "slack request not posted and not marked so; the stage's close or its TTL ends it",
            stage: settings.stage,
            executionArn: task.executionArn,
            keyHash: unposted,
            error: redactedError(markError, secrets).name,
          }),
        ),
      );
    }
    log(
      JSON.stringify({
        level: "error",
        msg: "slack approval request not posted; the Task fails and nothing is approved",
        stage: settings.stage,
        executionArn: task.executionArn,
        error: safe.name,
        message: redactText(safe.message, secrets),
      }),
    );
    throw safe;
  }
}

/** chat.postMessage refused with HTTP 429 (slackApi.ts): the message was not posted. */
const SLACK_RATELIMITED = "Slack.ratelimited";
/**
 * DynamoDB's throttling errors (@aws-sdk/client-dynamodb models/errors.d.ts) and Secrets Manager's
 * (the unmodeled ThrottlingException): the names the stage's Task retries for capacity.
 */
const DYNAMODB_THROTTLING_NAMES = [
  "ProvisionedThroughputExceededException",
  "RequestLimitExceeded",
  "ThrottlingException",
];

/**
 * readSlackSecrets, except that a throttled GetSecretValue fails with the throttle's own name
 * (readSlackSecrets names every read failure Slack.secret_unavailable), so the Task retries it.
 */
async function readSecretsKeepingThrottles(deps: SlackStartDeps, secretId: string): Promise<{ botToken: string }> {
  let throttle: string | undefined;
  const client: SecretsManagerLike = {
    send: (command) =>
      deps.secretsManager.send(command).catch((error: unknown) => {
        const name = (error as { name?: unknown })?.name;
        if (typeof name === "string" && DYNAMODB_THROTTLING_NAMES.includes(name)) throttle = name;
        throw error;
      }),
  };
  try {
    return await readSlackSecrets(client, secretId, { newCommand: deps.newSecretCommand });
  } catch (error) {
    if (throttle === undefined) throw error;
    const renamed = new Error(`Could not read the Slack secret ${secretId}: throttled`);
    Object.defineProperty(renamed, "name", { value: throttle, writable: true, configurable: true });
    throw renamed;
  }
}

interface DmNoticeJob {
  settings: SlackStartSettings;
  posted: { channel: string; ts: string };
  request: ApprovalRequest;
  deadline: Date;
  slack: SlackCallOptions;
  /** On `clock`: no DM call runs past it. */
  deadlineAt: number;
  clock: () => number;
  limits: { callTimeoutMs: number; concurrency: number };
  warn: (fields: Record<string, unknown>) => void;
  secrets: string[];
}

/**
 * One direct message per approver (chat.postMessage with the user's ID as `channel`, which posts in
 * the app's DM with that user with `chat:write` alone: https://docs.slack.dev/reference/methods/chat.postMessage,
 * "Begin a conversation in a user's App Home"; channel_not_found when the app may not DM the user,
 * messages_tab_disabled when the app's Messages tab is off). The channel message is the request:
 * nothing here throws, retries or writes to the table; each failure is a warning without secrets.
 */
async function sendDmNotices(job: DmNoticeJob): Promise<SlackDmSummary> {
  const summary: SlackDmSummary = { sent: 0, failed: 0, skipped: 0 };
  const left = () => job.deadlineAt - job.clock();
  const once = (timeoutMs: number): SlackCallOptions => ({
    ...job.slack,
    maxRetries: 0,
    maxRetryAfterSeconds: 0,
    timeoutMs: Math.max(1, Math.min(timeoutMs, left())),
  });
  const reason = (error: unknown) => {
    const safe = redactedError(error, job.secrets);
    return { error: safe.name, message: redactText(safe.message, job.secrets) };
  };
  try {
    let permalink: string | undefined;
    if (left() >= DM_MIN_CALL_MS) {
      try {
        permalink = await getPermalink(
          { channel: job.posted.channel, message_ts: job.posted.ts },
          once(job.limits.callTimeoutMs),
        );
      } catch (error) {
        job.warn({ msg: "slack permalink not read; the direct messages name the channel instead", ...reason(error) });
      }
    }
    const notice = dmNotice({
      request: job.request,
      stage: job.settings.stage,
      deadline: job.deadline,
      required: job.settings.required,
      approverCount: job.settings.approvers.length,
      channel: job.posted.channel,
      permalink,
    });
    const queue = [...job.settings.approvers];
    const skipped: string[] = [];
    const worker = async () => {
      for (let approver = queue.shift(); approver !== undefined; approver = queue.shift()) {
        if (left() < DM_MIN_CALL_MS) {
          skipped.push(approver);
          continue;
        }
        try {
          // No unfurl: the link must not show the request message (and its buttons) a second time.
          await postMessage(
            { channel: approver, text: notice.text, blocks: notice.blocks, unfurl_links: false, unfurl_media: false },
            once(job.limits.callTimeoutMs),
          );
          summary.sent += 1;
        } catch (error) {
          summary.failed += 1;
          job.warn({
            msg: "slack direct message not sent; the request stays posted in the channel",
            approver,
            ...reason(error),
          });
        }
      }
    };
    const workers = Math.max(1, Math.min(job.limits.concurrency, queue.length));
    await Promise.all(Array.from({ length: workers }, worker));
    if (skipped.length > 0) {
      summary.skipped = skipped.length;
      job.warn({
        msg: "slack direct messages not sent: the start function's time for them ran out",
        approvers: skipped,
      });
    }
  } catch (error) {
    // A bug here (the notice not built) must not fail a Task whose request is posted.
    summary.failed = job.settings.approvers.length - summary.sent - summary.skipped;
    job.warn({ msg: "slack direct messages not sent; the request stays posted in the channel", ...reason(error) });
  }
  return summary;
}
