// Maps a pipeline execution to the task token that waits for its approval.
//
// Why DynamoDB: a task token is up to 2048 characters (SendTaskSuccess, taskToken: 1..2048). The
// seed kept it in S3 user-defined metadata, which is limited to 2 KB for all keys and values
// together (Amazon S3 User Guide, "Working with object metadata"), so real tokens did not fit.
// A DynamoDB item holds up to 400 KB (Amazon DynamoDB Developer Guide, "Service, account, and table
// quotas": item size), is read back with a strongly consistent GetItem, and expires by TTL.
import { ConditionalCheckFailedException, DynamoDBClient, GetItemCommand, PutItemCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb";

export interface TokenRecord {
  pipelineExecutionId: string;
  taskToken: string;
  stage: string;
  executionArn: string;
  requestId: string;
  createdAt: string;
  /** Epoch seconds after which DynamoDB may delete the record (TTL). */
  expiresAt: number;
  /** Set once the decision was delivered, so a repeated event sends nothing twice. */
  decidedAt?: string;
  decision?: string;
}

/** Stores a new record; false when one already exists for this pipeline execution. */
export async function putTokenRecord(dynamodb: DynamoDBClient, table: string, record: TokenRecord): Promise<boolean> {
  try {
    await dynamodb.send(new PutItemCommand({
      TableName: table,
      Item: {
        pipelineExecutionId: { S: record.pipelineExecutionId },
        taskToken: { S: record.taskToken },
        stage: { S: record.stage },
        executionArn: { S: record.executionArn },
        requestId: { S: record.requestId },
        createdAt: { S: record.createdAt },
        expiresAt: { N: String(record.expiresAt) },
      },
      ConditionExpression: "attribute_not_exists(pipelineExecutionId)",
    }));
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException || (error as { name?: string }).name === "ConditionalCheckFailedException") return false;
    throw error;
  }
}

export async function getTokenRecord(dynamodb: DynamoDBClient, table: string, pipelineExecutionId: string): Promise<TokenRecord | undefined> {
  const { Item: item } = await dynamodb.send(new GetItemCommand({
    TableName: table,
    Key: { pipelineExecutionId: { S: pipelineExecutionId } },
    ConsistentRead: true,
  }));
  if (!item) return undefined;
  const text = (name: string) => item[name]?.S;
  return {
    pipelineExecutionId: text("pipelineExecutionId") ?? pipelineExecutionId,
    taskToken: text("taskToken") ?? "",
    stage: text("stage") ?? "",
    executionArn: text("executionArn") ?? "",
    requestId: text("requestId") ?? "",
    createdAt: text("createdAt") ?? "",
    expiresAt: Number(item.expiresAt?.N ?? 0),
    decidedAt: text("decidedAt"),
    decision: text("decision"),
  };
}

/** Records that the decision was delivered (only once). */
export async function markDecided(dynamodb: DynamoDBClient, table: string, pipelineExecutionId: string, decision: string, decidedAt: string): Promise<void> {
  await dynamodb.send(new UpdateItemCommand({
    TableName: table,
    Key: { pipelineExecutionId: { S: pipelineExecutionId } },
    UpdateExpression: "SET decidedAt = :decidedAt, decision = :decision",
    ConditionExpression: "attribute_exists(pipelineExecutionId) AND attribute_not_exists(decidedAt)",
    ExpressionAttributeValues: { ":decidedAt": { S: decidedAt }, ":decision": { S: decision } },
  }));
}
