// The server-side record of one Slack approval request and its votes. The message's buttons carry
// only the request key (interaction.ts); the item is keyed by sha256(key), so the table never holds
// the key itself. As for email-link codes (email/linkCodes.ts), the task token is stored encrypted
// with AES-256-GCM under a key derived from the request key (HKDF-SHA256), bound to the item's key
// hash, stage and execution: a table reader alone gets no token.
//
// A vote is one conditional UpdateItem (DynamoDB API Reference, UpdateItem: ConditionExpression
// "must be satisfied in order for a conditional update to succeed", else
// ConditionalCheckFailedException; ReturnValues ALL_NEW "returns all of the attributes of the item,
// as they appear after the UpdateItem operation"). It counts the vote and, when the vote decides,
// flips status from waiting to decided in the same write; its condition holds the approval count
// the vote was computed from, so of two concurrent deciding votes only one can succeed.
// A decided item keeps its decision until markDelivered, so a SendTaskSuccess that failed can be
// sent again (undeliveredDecision) and no decision is lost silently.
// Plain TypeScript with no Pulumi import: the Slack functions are serialized with it.
import {
  AttributeValue,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { createHash } from "crypto";
import { ApprovalRequest, StageDecision } from "../../contract";
import { conditionalWrite } from "../../shared/conditionalWrite";
import { openTokenUnder, sealTokenUnder, secretHash } from "../../shared/sealedToken";
import { SLACK_USER_ID_PATTERN, isRequestKey } from "./interaction";

export type RequestStatus = "waiting" | "decided" | "timed_out";
export type VoteKind = "approve" | "reject";

/** The bound on a stage's Slack approvers. */
export const MAX_SLACK_APPROVERS = 50;
/**
 * Longest comment and user name kept per vote, in UTF-8 bytes: 50 votes stay far below DynamoDB's
 * 400 KB item size (Developer Guide, "Constraints in Amazon DynamoDB", Items; strings count their
 * UTF-8 bytes: "DynamoDB item sizes and formats").
 */
export const MAX_VOTE_COMMENT_BYTES = 4000;
export const MAX_VOTE_NAME_BYTES = 256;
/** Each failed attempt means another vote was written first; votes are bounded by the approvers. */
const MAX_VOTE_ATTEMPTS = MAX_SLACK_APPROVERS + 5;

/** The item key of a request key: sha256 of the key, hex. */
export function requestKeyHash(requestKey: string): string {
  return secretHash(requestKey);
}

const TOKEN_KEY_LABEL = "sfn-approvals slack request: task token key";

/** The token encrypted for the item (functions/shared/sealedToken.ts), under the request key. */
export function sealRequestToken(requestKey: string, token: string, stage: string, executionArn: string): string {
  return sealTokenUnder(requestKey, TOKEN_KEY_LABEL, token, stage, executionArn);
}

/** The token back, or undefined when the key, stage or execution does not match what was sealed. */
export function openRequestToken(
  requestKey: string,
  sealed: string,
  stage: string,
  executionArn: string,
): string | undefined {
  return openTokenUnder(requestKey, TOKEN_KEY_LABEL, sealed, stage, executionArn);
}

/** One approver's vote, as stored under votes.<userId>. */
export interface SlackVoteEntry {
  userId: string;
  vote: VoteKind;
  at: string;
  comment: string | null;
  userName: string;
  teamId: string;
}

/** An item of the request table, without its sealed token. */
export interface SlackRequestRecord {
  keyHash: string;
  executionArn: string;
  stage: string;
  approvers: string[];
  required: number;
  approvals: number;
  status: RequestStatus;
  /** ISO 8601 with milliseconds (Date.toISOString()), so text order is time order. */
  deadline: string;
  /** Epoch seconds: DynamoDB's TTL may delete the item from then on. */
  expiresAt: number;
  createdAt: string;
  channel?: string;
  ts?: string;
  /** The votes in the order they were cast (time, then user ID). */
  votes: SlackVoteEntry[];
  decision?: "approved" | "rejected";
  decidedBy?: string;
  /** When the stage was decided, or marked timed out. */
  decidedAt?: string;
  /** When Step Functions confirmed the decision (markDelivered). */
  deliveredAt?: string;
  /** The request as the message shows it (for its updates and the comment modal), when stored. */
  request?: ApprovalRequest;
}

export interface NewSlackRequest {
  requestKey: string;
  taskToken: string;
  executionArn: string;
  stage: string;
  approvers: string[];
  required: number;
  deadline: Date | string;
  /** Epoch seconds for DynamoDB's TTL; not before the deadline. */
  ttl: number;
  createdAt?: Date | string;
  /** The request as the message shows it; the caller keeps it small (the item's 400 KB holds the votes too). */
  request?: ApprovalRequest;
}

function isoTime(value: Date | string, what: string): string {
  const date = typeof value === "string" ? new Date(value) : value;
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) throw new Error(`${what} is not a valid time`);
  return date.toISOString();
}

/** `text` cut to at most `maxBytes` UTF-8 bytes, at a code point boundary. */
function capBytes(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, "utf8") <= maxBytes) return text;
  let bytes = 0;
  let out = "";
  for (const point of text) {
    bytes += Buffer.byteLength(point, "utf8");
    if (bytes > maxBytes) break;
    out += point;
  }
  return out;
}

/** Stores a new request (never over another one); returns its key hash. */
export async function createRequest(db: DynamoDBClient, table: string, request: NewSlackRequest): Promise<string> {
  if (!isRequestKey(request.requestKey)) throw new Error("createRequest needs a request key (newRequestKey())");
  // taskToken: 1..2048 characters (Step Functions API Reference, SendTaskSuccess).
  if (typeof request.taskToken !== "string" || request.taskToken.length === 0 || request.taskToken.length > 2048) {
    throw new Error("createRequest needs a task token of 1 to 2048 characters");
  }
  if (typeof request.stage !== "string" || request.stage === "") throw new Error("createRequest needs a stage");
  if (typeof request.executionArn !== "string" || !request.executionArn.startsWith("arn:")) {
    throw new Error("createRequest needs the execution's ARN");
  }
  const approvers = request.approvers;
  if (!Array.isArray(approvers) || approvers.length < 1 || approvers.length > MAX_SLACK_APPROVERS) {
    throw new Error(`createRequest needs 1 to ${MAX_SLACK_APPROVERS} approvers`);
  }
  if (!approvers.every((id) => typeof id === "string" && SLACK_USER_ID_PATTERN.test(id))) {
    throw new Error("every approver must be a Slack user ID (U… or W…)");
  }
  if (new Set(approvers).size !== approvers.length) throw new Error("the approvers must not repeat");
  if (!Number.isInteger(request.required) || request.required < 1 || request.required > approvers.length) {
    throw new Error("required must be a whole number from 1 to the number of approvers");
  }
  const deadline = isoTime(request.deadline, "the deadline");
  if (!Number.isInteger(request.ttl) || request.ttl * 1000 < Date.parse(deadline)) {
    throw new Error("ttl must be whole epoch seconds, not before the deadline");
  }
  const keyHash = requestKeyHash(request.requestKey);
  const written = await conditionalWrite(() =>
    db.send(
      new PutItemCommand({
        TableName: table,
        Item: {
          keyHash: { S: keyHash },
          sealedToken: {
            S: sealRequestToken(request.requestKey, request.taskToken, request.stage, request.executionArn),
          },
          executionArn: { S: request.executionArn },
          stage: { S: request.stage },
          approvers: { SS: [...approvers] },
          required: { N: String(request.required) },
          approvals: { N: "0" },
          // An empty map, so a vote can SET votes.<user> (a nested path needs its parent map).
          votes: { M: {} },
          status: { S: "waiting" },
          deadline: { S: deadline },
          expiresAt: { N: String(request.ttl) },
          createdAt: { S: isoTime(request.createdAt ?? new Date(), "createdAt") },
          ...(request.request !== undefined ? { request: { S: JSON.stringify(request.request) } } : {}),
        },
        ConditionExpression: "attribute_not_exists(#keyHash)",
        ExpressionAttributeNames: { "#keyHash": "keyHash" },
      }),
    ),
  );
  if (!written) throw new Error("a request with this key already exists");
  return keyHash;
}

/**
 * Records where the request's message was posted. Once only: true when bound (or already bound
 * to the same message), false for an unknown request or one bound to another message.
 */
export async function bindMessage(
  db: DynamoDBClient,
  table: string,
  keyHash: string,
  message: { channel: string; ts: string },
): Promise<boolean> {
  return conditionalWrite(() =>
    db.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { keyHash: { S: keyHash } },
        UpdateExpression: "SET #channel = :channel, #ts = :ts",
        ConditionExpression:
          "attribute_exists(#keyHash) AND (attribute_not_exists(#channel) OR (#channel = :channel AND #ts = :ts))",
        ExpressionAttributeNames: { "#keyHash": "keyHash", "#channel": "channel", "#ts": "ts" },
        ExpressionAttributeValues: { ":channel": { S: message.channel }, ":ts": { S: message.ts } },
      }),
    ),
  );
}

type Item = Record<string, AttributeValue>;

function malformed(what: string): never {
  throw new Error(`SlackRequestItemMalformed: ${what}`);
}

function text(item: Item, name: string): string {
  const value = item[name]?.S;
  return typeof value === "string" ? value : malformed(`${name} is missing`);
}

function optionalText(item: Item, name: string): string | undefined {
  return item[name]?.S;
}

function whole(item: Item, name: string): number {
  const value = Number(item[name]?.N);
  return Number.isInteger(value) ? value : malformed(`${name} is missing`);
}

function voteOf(userId: string, value: AttributeValue): SlackVoteEntry {
  const entry = value.M ?? malformed(`votes.${userId} is not a map`);
  const vote = entry.vote?.S;
  if (vote !== "approve" && vote !== "reject") malformed(`votes.${userId}.vote is neither approve nor reject`);
  return {
    userId,
    vote,
    at: text(entry, "at"),
    comment: entry.comment?.S ?? null,
    userName: text(entry, "userName"),
    teamId: text(entry, "teamId"),
  };
}

/** The record of an item read from the table; a malformed item throws (it never decides). */
export function recordOfItem(item: Item): SlackRequestRecord {
  const status = text(item, "status");
  if (status !== "waiting" && status !== "decided" && status !== "timed_out") malformed("status is unknown");
  const decision = optionalText(item, "decision");
  if (decision !== undefined && decision !== "approved" && decision !== "rejected") malformed("decision is unknown");
  const votes = Object.entries(item.votes?.M ?? malformed("votes is missing"))
    .map(([userId, value]) => voteOf(userId, value))
    .sort((a, b) => (a.at === b.at ? (a.userId < b.userId ? -1 : 1) : a.at < b.at ? -1 : 1));
  const approvers = item.approvers?.SS ?? malformed("approvers is missing");
  return {
    keyHash: text(item, "keyHash"),
    executionArn: text(item, "executionArn"),
    stage: text(item, "stage"),
    approvers: [...approvers],
    required: whole(item, "required"),
    approvals: whole(item, "approvals"),
    status,
    deadline: text(item, "deadline"),
    expiresAt: whole(item, "expiresAt"),
    createdAt: text(item, "createdAt"),
    channel: optionalText(item, "channel"),
    ts: optionalText(item, "ts"),
    votes,
    decision,
    decidedBy: optionalText(item, "decidedBy"),
    decidedAt: optionalText(item, "decidedAt"),
    deliveredAt: optionalText(item, "deliveredAt"),
    request: requestOfItem(item),
  };
}

function requestOfItem(item: Item): ApprovalRequest | undefined {
  const stored = item.request?.S;
  if (stored === undefined) return undefined;
  try {
    const request = JSON.parse(stored) as ApprovalRequest;
    if (typeof request === "object" && request !== null && typeof request.title === "string") return request;
  } catch {
    // Reported below, without the text.
  }
  return malformed("request is not a stored request");
}

async function readItem(db: DynamoDBClient, table: string, keyHash: string): Promise<Item | undefined> {
  const { Item: item } = await db.send(
    new GetItemCommand({ TableName: table, Key: { keyHash: { S: keyHash } }, ConsistentRead: true }),
  );
  return item;
}

/** The request of a key, or undefined when there is none (or the value cannot be a key). */
export async function getRequest(
  db: DynamoDBClient,
  table: string,
  requestKey: string,
): Promise<SlackRequestRecord | undefined> {
  if (!isRequestKey(requestKey)) return undefined;
  const item = await readItem(db, table, requestKeyHash(requestKey));
  return item ? recordOfItem(item) : undefined;
}

export interface SlackVoteInput {
  requestKey: string;
  userId: string;
  vote: VoteKind;
  comment: string | null;
  userName: string;
  teamId: string;
  /** When the vote was made; a vote at or after the deadline is `expired`. */
  at: Date | string;
}

/** The decision a deciding vote made: a StageDecision without its mechanism (the caller adds "slack"). */
export type SlackDecisionFields = Omit<StageDecision, "mechanism"> & { decision: "approved" | "rejected" };

/**
 * What a vote did. Only `decided` may lead to SendTaskSuccess, with its taskToken and decision;
 * `needed` is how many approvals are still missing.
 */
export type VoteOutcome =
  | { kind: "counted"; approvals: number; needed: number; record: SlackRequestRecord }
  | {
      kind: "decided";
      decision: SlackDecisionFields;
      approvals: number;
      /** The deciding approver as Slack says (for the decision record). */
      decidedBy: { userId: string; userName: string; teamId: string };
      taskToken: string;
      record: SlackRequestRecord;
    }
  | { kind: "not_an_approver" }
  | { kind: "already_voted"; record: SlackRequestRecord }
  | { kind: "already_decided"; record: SlackRequestRecord }
  | { kind: "expired"; record: SlackRequestRecord }
  | { kind: "unknown_request" };

/** Counts a vote that does not decide the stage. */
const COUNT_UPDATE = "SET #votes.#user = :vote ADD #approvals :inc";
/** Counts a vote that decides the stage and closes it in the same write. */
const DECIDE_UPDATE =
  "SET #votes.#user = :vote, #status = :decided, #decision = :decision, #decidedBy = :user, #decidedAt = :at" +
  " ADD #approvals :inc";
/** A vote is written only while the request waits, before its deadline, by an approver who has not voted, on the count it saw. */
const VOTE_CONDITION =
  "attribute_exists(#keyHash) AND #status = :waiting AND #deadline > :at AND contains(#approvers, :user)" +
  " AND attribute_not_exists(#votes.#user) AND #approvals = :seen";

function checkVote(vote: SlackVoteInput): void {
  if (typeof vote.userId !== "string" || !/^[A-Z0-9]{1,64}$/.test(vote.userId)) {
    throw new Error("recordVote needs a Slack user ID");
  }
  if (vote.vote !== "approve" && vote.vote !== "reject") throw new Error("recordVote needs approve or reject");
  if (typeof vote.teamId !== "string" || !/^[A-Z0-9]{1,64}$/.test(vote.teamId)) {
    throw new Error("recordVote needs a Slack team ID");
  }
  if (typeof vote.userName !== "string") throw new Error("recordVote needs the user's name");
  if (vote.comment !== null && typeof vote.comment !== "string")
    throw new Error("the comment must be a string or null");
}

/**
 * Records one approver's vote. Reads the request (consistent read), says at once what needs no
 * write, then writes the vote with one conditional UpdateItem; when that condition fails, another
 * vote came first: read again and decide anew. DynamoDB errors other than a failed condition throw.
 */
export async function recordVote(db: DynamoDBClient, table: string, vote: SlackVoteInput): Promise<VoteOutcome> {
  if (!isRequestKey(vote.requestKey)) return { kind: "unknown_request" };
  checkVote(vote);
  const at = isoTime(vote.at, "the vote's time");
  const keyHash = requestKeyHash(vote.requestKey);
  const comment =
    vote.comment === null || vote.comment.trim() === "" ? null : capBytes(vote.comment.trim(), MAX_VOTE_COMMENT_BYTES);
  const entry: AttributeValue = {
    M: {
      vote: { S: vote.vote },
      at: { S: at },
      comment: comment === null ? { NULL: true } : { S: comment },
      userName: { S: capBytes(vote.userName, MAX_VOTE_NAME_BYTES) },
      teamId: { S: vote.teamId },
    },
  };
  for (let attempt = 0; attempt < MAX_VOTE_ATTEMPTS; attempt++) {
    const item = await readItem(db, table, keyHash);
    if (!item) return { kind: "unknown_request" };
    const seen = recordOfItem(item);
    if (!seen.approvers.includes(vote.userId)) return { kind: "not_an_approver" };
    if (seen.status === "decided") return { kind: "already_decided", record: seen };
    if (seen.status === "timed_out" || at >= seen.deadline) return { kind: "expired", record: seen };
    if (seen.votes.some((v) => v.userId === vote.userId)) return { kind: "already_voted", record: seen };
    const decision = vote.vote === "reject" ? "rejected" : seen.approvals + 1 >= seen.required ? "approved" : undefined;
    const names: Record<string, string> = {
      "#keyHash": "keyHash",
      "#status": "status",
      "#deadline": "deadline",
      "#approvers": "approvers",
      "#votes": "votes",
      "#user": vote.userId,
      "#approvals": "approvals",
    };
    const values: Record<string, AttributeValue> = {
      ":waiting": { S: "waiting" },
      ":at": { S: at },
      ":user": { S: vote.userId },
      ":seen": { N: String(seen.approvals) },
      ":vote": entry,
      ":inc": { N: vote.vote === "approve" ? "1" : "0" },
    };
    if (decision) {
      Object.assign(names, { "#decision": "decision", "#decidedBy": "decidedBy", "#decidedAt": "decidedAt" });
      Object.assign(values, { ":decided": { S: "decided" }, ":decision": { S: decision } });
    }
    let updated: Item | undefined;
    const written = await conditionalWrite(async () => {
      const answer = await db.send(
        new UpdateItemCommand({
          TableName: table,
          Key: { keyHash: { S: keyHash } },
          UpdateExpression: decision ? DECIDE_UPDATE : COUNT_UPDATE,
          ConditionExpression: VOTE_CONDITION,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: "ALL_NEW",
        }),
      );
      updated = answer.Attributes;
    });
    if (!written) continue;
    if (!updated) throw new Error("SlackVoteNotConfirmed: UpdateItem returned no attributes");
    const record = recordOfItem(updated);
    if (!decision) {
      if (record.status !== "waiting") throw new Error("SlackVoteNotConfirmed: a counted vote changed the status");
      return { kind: "counted", approvals: record.approvals, needed: record.required - record.approvals, record };
    }
    if (record.status !== "decided" || record.decision !== decision || record.decidedBy !== vote.userId) {
      throw new Error("SlackVoteNotConfirmed: the deciding write did not record the decision");
    }
    const taskToken = openRequestToken(
      vote.requestKey,
      text(updated, "sealedToken"),
      record.stage,
      record.executionArn,
    );
    if (taskToken === undefined) throw new Error("SlackRequestTokenUnreadable: the task token does not open");
    return {
      kind: "decided",
      decision: {
        approved: decision === "approved",
        decision,
        stage: record.stage,
        approver: vote.userId,
        comment,
        decidedAt: at,
      },
      approvals: record.approvals,
      decidedBy: { userId: vote.userId, userName: capBytes(vote.userName, MAX_VOTE_NAME_BYTES), teamId: vote.teamId },
      taskToken,
      record,
    };
  }
  throw new Error(`SlackVoteContention: the vote was not written after ${MAX_VOTE_ATTEMPTS} attempts`);
}

/**
 * Closes a waiting request on the stage's timeout: its record when this call closed it; undefined
 * when there is no such request or it was already decided or timed out.
 */
export async function markTimedOut(
  db: DynamoDBClient,
  table: string,
  keyHash: string,
  at: Date | string = new Date(),
): Promise<SlackRequestRecord | undefined> {
  let updated: Item | undefined;
  const written = await conditionalWrite(async () => {
    const answer = await db.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { keyHash: { S: keyHash } },
        UpdateExpression: "SET #status = :timedOut, #decidedAt = :at",
        ConditionExpression: "attribute_exists(#keyHash) AND #status = :waiting",
        ExpressionAttributeNames: { "#keyHash": "keyHash", "#status": "status", "#decidedAt": "decidedAt" },
        ExpressionAttributeValues: {
          ":timedOut": { S: "timed_out" },
          ":waiting": { S: "waiting" },
          ":at": { S: isoTime(at, "the timeout's time") },
        },
        ReturnValues: "ALL_NEW",
      }),
    );
    updated = answer.Attributes;
  });
  if (!written) return undefined;
  if (!updated) throw new Error("SlackTimeoutNotConfirmed: UpdateItem returned no attributes");
  return recordOfItem(updated);
}

/**
 * Ends a request whose message was never posted (the start failed before or at chat.postMessage,
 * e.g. Slack.ratelimited): timed out, so nothing counts it as waiting while the stage's Task
 * retries with a new request. Conditional on waiting and no bound message: a posted request is
 * never touched. False when that condition did not hold.
 */
export async function markUnposted(
  db: DynamoDBClient,
  table: string,
  keyHash: string,
  at: Date | string = new Date(),
): Promise<boolean> {
  return conditionalWrite(() =>
    db.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { keyHash: { S: keyHash } },
        UpdateExpression: "SET #status = :timedOut, #decidedAt = :at",
        ConditionExpression: "attribute_exists(#keyHash) AND #status = :waiting AND attribute_not_exists(#channel)",
        ExpressionAttributeNames: {
          "#keyHash": "keyHash",
          "#status": "status",
          "#decidedAt": "decidedAt",
          "#channel": "channel",
        },
        ExpressionAttributeValues: {
          ":timedOut": { S: "timed_out" },
          ":waiting": { S: "waiting" },
          ":at": { S: isoTime(at, "the time") },
        },
      }),
    ),
  );
}

/** The decision of a decided record, as its deciding vote made it. */
export function decisionOfRecord(record: SlackRequestRecord): SlackDecisionFields {
  const decider = record.votes.find((v) => v.userId === record.decidedBy);
  if (record.status !== "decided" || !record.decision || !decider || !record.decidedAt) {
    malformed("a decided request without its decision or deciding vote");
  }
  return {
    approved: record.decision === "approved",
    decision: record.decision,
    stage: record.stage,
    approver: decider.userId,
    comment: decider.comment,
    decidedAt: record.decidedAt,
  };
}

/**
 * The decision of a request that was decided but whose delivery Step Functions never confirmed
 * (SendTaskSuccess failed or its answer was lost), with the token to send it again; undefined
 * for an unknown, waiting, timed-out or delivered request. The same decision as the deciding vote's.
 */
export async function undeliveredDecision(
  db: DynamoDBClient,
  table: string,
  requestKey: string,
): Promise<{ decision: SlackDecisionFields; taskToken: string; record: SlackRequestRecord } | undefined> {
  if (!isRequestKey(requestKey)) return undefined;
  const item = await readItem(db, table, requestKeyHash(requestKey));
  if (!item) return undefined;
  const record = recordOfItem(item);
  if (record.status !== "decided" || record.deliveredAt !== undefined) return undefined;
  const taskToken = openRequestToken(requestKey, text(item, "sealedToken"), record.stage, record.executionArn);
  if (taskToken === undefined) throw new Error("SlackRequestTokenUnreadable: the task token does not open");
  return { decision: decisionOfRecord(record), taskToken, record };
}

/** Records that Step Functions accepted the decision: true when this call recorded it. */
export async function markDelivered(
  db: DynamoDBClient,
  table: string,
  keyHash: string,
  at: Date | string = new Date(),
): Promise<boolean> {
  return conditionalWrite(() =>
    db.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { keyHash: { S: keyHash } },
        UpdateExpression: "SET #deliveredAt = :at",
        ConditionExpression: "#status = :decided AND attribute_not_exists(#deliveredAt)",
        ExpressionAttributeNames: { "#status": "status", "#deliveredAt": "deliveredAt" },
        ExpressionAttributeValues: { ":decided": { S: "decided" }, ":at": { S: isoTime(at, "the delivery's time") } },
      }),
    ),
  );
}

// The follow-up function (followUp.ts) finds an execution's requests through a pointer item in the
// same table, written by the start function: keyed by a hash of the execution ARN and stage, it
// holds the requests' key HASHES (the table's own keys), never a request key. A click carries the
// key itself and is looked up by its hash, so knowing a hash lets nobody click; a pointer's key is
// never a request's key hash (those are 64 hex digits, this one has a prefix).

/** The item key of the pointer from an execution's stage to its requests. */
export function executionPointerKey(executionArn: string, stage: string): string {
  return `execution:${createHash("sha256")
    .update(JSON.stringify([executionArn, stage]), "utf8")
    .digest("hex")}`;
}

const KEY_HASH_PATTERN = /^[0-9a-f]{64}$/;
/**
 * Creates the pointer or adds a request to it (a retried start adds a second one). UpdateItem
 * "creates a new item if it does not already exist"; ADD on a string set adds the values to the
 * set, creating it when absent (DynamoDB API Reference, UpdateItem, UpdateExpression: ADD).
 */
const POINTER_UPDATE =
  "SET #executionArn = :executionArn, #stage = :stage, #expiresAt = :expiresAt ADD #keyHashes :keyHashes";
const POINTER_CONDITION = "attribute_not_exists(#keyHash) OR (#executionArn = :executionArn AND #stage = :stage)";

/** Records that `keyHash` is a request of the execution's stage; `ttl` as the request's. */
export async function addExecutionPointer(
  db: DynamoDBClient,
  table: string,
  pointer: { executionArn: string; stage: string; keyHash: string; ttl: number },
): Promise<void> {
  if (!KEY_HASH_PATTERN.test(pointer.keyHash)) throw new Error("addExecutionPointer needs a request's key hash");
  if (!Number.isInteger(pointer.ttl)) throw new Error("addExecutionPointer needs whole epoch seconds for ttl");
  const written = await conditionalWrite(() =>
    db.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { keyHash: { S: executionPointerKey(pointer.executionArn, pointer.stage) } },
        UpdateExpression: POINTER_UPDATE,
        ConditionExpression: POINTER_CONDITION,
        ExpressionAttributeNames: {
          "#keyHash": "keyHash",
          "#executionArn": "executionArn",
          "#stage": "stage",
          "#expiresAt": "expiresAt",
          "#keyHashes": "keyHashes",
        },
        ExpressionAttributeValues: {
          ":executionArn": { S: pointer.executionArn },
          ":stage": { S: pointer.stage },
          ":expiresAt": { N: String(pointer.ttl) },
          ":keyHashes": { SS: [pointer.keyHash] },
        },
      }),
    ),
  );
  if (!written) throw new Error("SlackPointerConflict: the pointer's key names another execution or stage");
}

/** The key hashes of the execution's requests at `stage` (none when the start function stored none). */
export async function requestKeyHashesOf(
  db: DynamoDBClient,
  table: string,
  executionArn: string,
  stage: string,
): Promise<string[]> {
  const item = await readItem(db, table, executionPointerKey(executionArn, stage));
  if (!item) return [];
  if (item.executionArn?.S !== executionArn || item.stage?.S !== stage) {
    malformed("the pointer names another execution or stage");
  }
  const hashes = item.keyHashes?.SS ?? malformed("keyHashes is missing");
  if (!hashes.every((hash) => KEY_HASH_PATTERN.test(hash))) malformed("keyHashes holds something else than key hashes");
  return [...hashes].sort();
}

/** The request stored under a key hash, or undefined when there is none. */
export async function getRequestByHash(
  db: DynamoDBClient,
  table: string,
  keyHash: string,
): Promise<SlackRequestRecord | undefined> {
  if (!KEY_HASH_PATTERN.test(keyHash)) return undefined;
  const item = await readItem(db, table, keyHash);
  return item ? recordOfItem(item) : undefined;
}
