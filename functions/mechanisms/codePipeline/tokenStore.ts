// Maps an approval request to the task token that waits for it.
//
// Why DynamoDB: a task token is up to 2048 characters (Step Functions API Reference, SendTaskSuccess:
// taskToken 1..2048, as in the current service model). S3 user-defined metadata would not do: it
// is limited to 2 KB for all keys and values together (Amazon S3 User Guide, "Working with object
// metadata").
// A DynamoDB item holds up to 400 KB (Amazon DynamoDB Developer Guide, "Service, account, and table
// quotas": item size), is read back with a strongly consistent GetItem, and expires by TTL.
//
// The record is written BEFORE the pipeline execution starts, under an approval key derived from
// the token; the key travels to the execution as a pipeline variable. So there is never a running
// approval without its record, whatever happens to the start function in between.
import { DynamoDBClient, GetItemCommand, PutItemCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { createHash } from "crypto";
import { conditionalWrite } from "../../shared/conditionalWrite";

export interface TokenRecord {
  approvalKey: string;
  taskToken: string;
  stage: string;
  executionArn: string;
  requestId: string;
  createdAt: string;
  /** The approval action's timeout when the request started, in seconds. */
  timeoutSeconds: number;
  /** Epoch seconds after which DynamoDB may delete the record (TTL). */
  expiresAt: number;
  /** sha256 of the request, its execution and stage: a repeated start must ask for the same request. */
  requestHash?: string;
  /** The one pipeline execution started for this record; only it may decide (bindPipelineExecution). */
  pipelineExecutionId?: string;
  /** Set once the decision was delivered, so a repeated event sends nothing twice. */
  decidedAt?: string;
  decision?: string;
}

/** The key of a task's record: a hash of its token (so the token itself is never an identifier). */
export function approvalKeyOf(taskToken: string): string {
  return createHash("sha256").update(taskToken).digest("hex");
}

/** What a start function was asked: a second start with the same token must ask the same. */
export function requestHashOf(input: { request: unknown; executionArn: string; stage: string }): string {
  return createHash("sha256")
    .update(JSON.stringify([input.request, input.executionArn, input.stage]))
    .digest("hex");
}

/** Stores a new record; false when one already exists under its key. */
export async function putTokenRecord(dynamodb: DynamoDBClient, table: string, record: TokenRecord): Promise<boolean> {
  return conditionalWrite(() =>
    dynamodb.send(
      new PutItemCommand({
        TableName: table,
        Item: {
          approvalKey: { S: record.approvalKey },
          taskToken: { S: record.taskToken },
          stage: { S: record.stage },
          executionArn: { S: record.executionArn },
          requestId: { S: record.requestId },
          createdAt: { S: record.createdAt },
          timeoutSeconds: { N: String(record.timeoutSeconds) },
          expiresAt: { N: String(record.expiresAt) },
          ...(record.requestHash ? { requestHash: { S: record.requestHash } } : {}),
        },
        ConditionExpression: "attribute_not_exists(approvalKey)",
      }),
    ),
  );
}

export async function getTokenRecord(
  dynamodb: DynamoDBClient,
  table: string,
  approvalKey: string,
): Promise<TokenRecord | undefined> {
  const { Item: item } = await dynamodb.send(
    new GetItemCommand({
      TableName: table,
      Key: { approvalKey: { S: approvalKey } },
      ConsistentRead: true,
    }),
  );
  if (!item) return undefined;
  const text = (name: string) => item[name]?.S;
  return {
    approvalKey: text("approvalKey") ?? approvalKey,
    taskToken: text("taskToken") ?? "",
    stage: text("stage") ?? "",
    executionArn: text("executionArn") ?? "",
    requestId: text("requestId") ?? "",
    createdAt: text("createdAt") ?? "",
    timeoutSeconds: Number(item.timeoutSeconds?.N ?? 0),
    expiresAt: Number(item.expiresAt?.N ?? 0),
    decidedAt: text("decidedAt"),
    decision: text("decision"),
    requestHash: text("requestHash"),
    pipelineExecutionId: text("pipelineExecutionId"),
  };
}

/**
 * Binds the record to the pipeline execution its start function started, once: a second execution
 * for the same token (a start function invoked again by hand) can never be bound, and so never
 * decide. The same execution again (an idempotent retry) is fine.
 */
export async function bindPipelineExecution(
  dynamodb: DynamoDBClient,
  table: string,
  approvalKey: string,
  pipelineExecutionId: string,
): Promise<void> {
  const bound = await conditionalWrite(() =>
    dynamodb.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { approvalKey: { S: approvalKey } },
        UpdateExpression: "SET pipelineExecutionId = :execution",
        ConditionExpression:
          "attribute_exists(approvalKey) AND (attribute_not_exists(pipelineExecutionId) OR pipelineExecutionId = :execution)",
        ExpressionAttributeValues: { ":execution": { S: pipelineExecutionId } },
      }),
    ),
  );
  if (!bound) {
    throw new Error(
      `SecondExecution: another pipeline execution is already bound to approval key ${approvalKey.slice(0, 12)}...; pipeline execution ${pipelineExecutionId} can never decide it`,
    );
  }
}

/** Records that the decision was delivered (only once), and for which pipeline execution. */
export async function markDecided(
  dynamodb: DynamoDBClient,
  table: string,
  approvalKey: string,
  fields: { decision: string; decidedAt: string; pipelineExecutionId: string },
): Promise<void> {
  await dynamodb.send(
    new UpdateItemCommand({
      TableName: table,
      Key: { approvalKey: { S: approvalKey } },
      UpdateExpression: "SET decidedAt = :decidedAt, decision = :decision, pipelineExecutionId = :execution",
      ConditionExpression:
        "attribute_exists(approvalKey) AND attribute_not_exists(decidedAt) AND (attribute_not_exists(pipelineExecutionId) OR pipelineExecutionId = :execution)",
      ExpressionAttributeValues: {
        ":decidedAt": { S: fields.decidedAt },
        ":decision": { S: fields.decision },
        ":execution": { S: fields.pipelineExecutionId },
      },
    }),
  );
}
