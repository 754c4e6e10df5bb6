// One-time codes of email-link approval links. The link in the email carries
// only a random code; the task token stays server-side, so neither the link nor the execution
// history (where the token also sits) is enough on its own: the page decides an email-link stage
// only with a code.
//
// The table never holds the code: an item is keyed by sha256(code), and the task token is stored
// encrypted with AES-256-GCM under a key derived from the code (HKDF-SHA256), bound to the item's
// stage and execution. Whoever can read the table (dynamodb:Scan is part of ReadOnlyAccess) gets
// no token and no working link.
// Plain TypeScript with no Pulumi import: the start function and the page are serialized with it.
import {
  AttributeValue,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { randomBytes } from "crypto";
import { conditionalWrite } from "../../shared/conditionalWrite";
import { openTokenUnder, sealTokenUnder, secretHash } from "../../shared/sealedToken";

/** 32 random bytes, base64url without padding: 43 characters of [A-Za-z0-9_-]. */
export const CODE_BYTES = 32;
const CODE_PATTERN = /^[A-Za-z0-9_-]{43}$/;
/**
 * An unconfirmed claim older than this may be claimed again: the page's function runs at most 30 s,
 * so by then the claim's SendTaskSuccess was answered or abandoned. The pages say "2 minutes".
 */
export const CLAIM_STALE_SECONDS = 60;

export function newLinkCode(): string {
  return randomBytes(CODE_BYTES).toString("base64url");
}

/** A string that can be a code (the page refuses anything else without a look-up). */
export function isLinkCode(value: string | undefined): value is string {
  return typeof value === "string" && CODE_PATTERN.test(value);
}

/** The item key of a code: sha256 of the code, hex. */
export function codeHashOf(code: string): string {
  return secretHash(code);
}

const TOKEN_KEY_LABEL = "sfn-approvals link code: task token key";

/** The token encrypted for the item (functions/shared/sealedToken.ts), under the code. */
export function sealToken(code: string, token: string, stage: string, executionArn: string): string {
  return sealTokenUnder(code, TOKEN_KEY_LABEL, token, stage, executionArn);
}

/** The token back, or undefined when the code, stage or execution does not match what was sealed. */
export function openToken(code: string, sealed: string, stage: string, executionArn: string): string | undefined {
  return openTokenUnder(code, TOKEN_KEY_LABEL, sealed, stage, executionArn);
}

/** An item of the code table, as stored. */
export interface LinkCodeItem {
  codeHash: string;
  /** sealToken(...) of the task token. */
  sealedToken: string;
  stage: string;
  executionArn: string;
  createdAt: string;
  /** Epoch seconds: the link stops working then (the stage's timeout), and DynamoDB's TTL may delete the item. */
  expiresAt: number;
  /** Epoch seconds of the POST that claimed the code, and which request it was (removed when AWS refused its decision). */
  claimedAt?: number;
  claimId?: string;
  /** Set once Step Functions confirmed the decision, by the claim that sent it: the table never names an unconfirmed decision. */
  confirmedAt?: string;
  decision?: string;
}

/** Stores a new code's item (a code is never stored twice). */
export async function putLinkCode(dynamodb: DynamoDBClient, table: string, item: LinkCodeItem): Promise<void> {
  await dynamodb.send(
    new PutItemCommand({
      TableName: table,
      Item: {
        codeHash: { S: item.codeHash },
        sealedToken: { S: item.sealedToken },
        stage: { S: item.stage },
        executionArn: { S: item.executionArn },
        createdAt: { S: item.createdAt },
        expiresAt: { N: String(item.expiresAt) },
      },
      ConditionExpression: "attribute_not_exists(codeHash)",
    }),
  );
}

export async function getLinkCode(
  dynamodb: DynamoDBClient,
  table: string,
  code: string,
): Promise<LinkCodeItem | undefined> {
  const { Item: item } = await dynamodb.send(
    new GetItemCommand({ TableName: table, Key: { codeHash: { S: codeHashOf(code) } }, ConsistentRead: true }),
  );
  if (!item) return undefined;
  const text = (name: string) => item[name]?.S;
  const number = (name: string) => (item[name]?.N === undefined ? undefined : Number(item[name]!.N));
  return {
    codeHash: text("codeHash") ?? "",
    sealedToken: text("sealedToken") ?? "",
    stage: text("stage") ?? "",
    executionArn: text("executionArn") ?? "",
    createdAt: text("createdAt") ?? "",
    expiresAt: number("expiresAt") ?? 0,
    claimedAt: number("claimedAt"),
    claimId: text("claimId"),
    confirmedAt: text("confirmedAt"),
    decision: text("decision"),
  };
}

/**
 * A code at `nowSeconds`: `closed` when expired or its decision confirmed; `claimed` while a press's
 * unconfirmed claim is fresh (its decision may still be on its way to Step Functions); else `open`
 * (never claimed, or its claim is stale).
 */
export function codeState(item: LinkCodeItem, nowSeconds: number): "open" | "claimed" | "closed" {
  if (nowSeconds >= item.expiresAt || item.confirmedAt !== undefined) return "closed";
  return item.claimedAt !== undefined && item.claimedAt >= nowSeconds - CLAIM_STALE_SECONDS ? "claimed" : "open";
}

/**
 * Claims a code for one POST: true when this request may send the decision. Idempotent for the
 * same claimId (an SDK retry after a lost answer claims again), refused while another request's
 * claim is fresh or once a decision was confirmed. A claim whose decision AWS refused is released
 * at once; one whose decision's fate is unknown goes stale after CLAIM_STALE_SECONDS, so a decision
 * Step Functions never received can be made again, but never while the first may be in flight.
 */
export async function claimLinkCode(
  dynamodb: DynamoDBClient,
  table: string,
  code: string,
  claim: { claimId: string; nowSeconds: number },
): Promise<boolean> {
  return conditionalWrite(() =>
    dynamodb.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { codeHash: { S: codeHashOf(code) } },
        UpdateExpression: "SET claimedAt = :now, claimId = :claim",
        ConditionExpression:
          "attribute_exists(codeHash) AND expiresAt > :now AND attribute_not_exists(confirmedAt)" +
          " AND (attribute_not_exists(claimedAt) OR claimId = :claim OR claimedAt < :stale)",
        ExpressionAttributeValues: {
          ":now": { N: String(claim.nowSeconds) },
          ":stale": { N: String(claim.nowSeconds - CLAIM_STALE_SECONDS) },
          ":claim": { S: claim.claimId },
        },
      }),
    ),
  );
}

/** Applies `update` to the code's item only while `claimId` holds it; a claim taken over meanwhile is left alone. */
async function updateOwnClaim(
  dynamodb: DynamoDBClient,
  table: string,
  code: string,
  claimId: string,
  update: string,
  values: Record<string, AttributeValue> = {},
): Promise<void> {
  await conditionalWrite(() =>
    dynamodb.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { codeHash: { S: codeHashOf(code) } },
        UpdateExpression: update,
        ConditionExpression: "claimId = :claim",
        ExpressionAttributeValues: { ...values, ":claim": { S: claimId } },
      }),
    ),
  );
}

/** Records the decision Step Functions confirmed for this claim. */
export async function confirmLinkCode(
  dynamodb: DynamoDBClient,
  table: string,
  code: string,
  claimId: string,
  confirmed: { confirmedAt: string; decision: string },
): Promise<void> {
  await updateOwnClaim(dynamodb, table, code, claimId, "SET confirmedAt = :at, decision = :decision", {
    ":at": { S: confirmed.confirmedAt },
    ":decision": { S: confirmed.decision },
  });
}

/**
 * Frees the code from this claim, only when AWS refused the claim's decision (nothing was
 * recorded), so the link decides again at once.
 */
export async function releaseLinkCode(
  dynamodb: DynamoDBClient,
  table: string,
  code: string,
  claimId: string,
): Promise<void> {
  await updateOwnClaim(dynamodb, table, code, claimId, "REMOVE claimedAt, claimId");
}
