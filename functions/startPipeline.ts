// Lambda behind the codepipeline stage's Task state (lambda:invoke.waitForTaskToken): starts one
// execution of the stage's approval pipeline for one request and records which task token waits
// for it. The pipeline runs in PARALLEL mode, so concurrent requests never overtake each other.
import { CodePipelineClient, StartPipelineExecutionCommand, StopPipelineExecutionCommand } from "@aws-sdk/client-codepipeline";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { createHash } from "crypto";
import { executionName, parseCallbackTaskEvent } from "./callbackTask";
import { summarizeRequest } from "./contract";
import { getTokenRecord, putTokenRecord } from "./tokenStore";

/** Pipeline variable values hold at most 1000 characters (PipelineVariable.value: 1..1000). */
export const SUMMARY_MAX = 500;
/** Records outlive the longest approval by a week, then DynamoDB's TTL removes them. */
export const RECORD_RETENTION_SECONDS = 7 * 86400;

export interface StartPipelineSettings {
  pipelineName: string;
  stage: string;
  tableName: string;
  /** The approval action's timeout, for the record's expiry. */
  timeoutSeconds: number;
}

/** The Step Functions console page of an execution: the link approvers get when the request has none. */
export function executionConsoleLink(executionArn: string): string {
  const region = executionArn.split(":")[3] || "us-east-1";
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}

/** Characters allowed in the S3 key of the approval record (pipeline variable RequestId). */
function safeKeyPart(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 100) || "-";
}

export async function startPipeline(
  event: unknown,
  settings: StartPipelineSettings,
  clients: { codepipeline: CodePipelineClient; dynamodb: DynamoDBClient },
  now: () => Date = () => new Date(),
): Promise<{ pipelineExecutionId: string }> {
  const input = parseCallbackTaskEvent(event, settings.stage);
  const link = input.request.link && /^https?:\/\/\S+$/.test(input.request.link) ? input.request.link : executionConsoleLink(input.executionArn);
  // The same task token always maps to the same client token: if this invocation is repeated,
  // CodePipeline returns the execution it already started instead of starting a second one.
  const clientRequestToken = createHash("sha256").update(input.taskToken).digest("hex");
  const { pipelineExecutionId } = await clients.codepipeline.send(new StartPipelineExecutionCommand({
    name: settings.pipelineName,
    clientRequestToken,
    variables: [
      { name: "RequestSummary", value: summarizeRequest(input.request, SUMMARY_MAX) },
      { name: "RequestLink", value: link.slice(0, 1000) },
      { name: "RequestId", value: safeKeyPart(input.request.requestId ?? "-") },
      { name: "ExecutionName", value: executionName(input.executionArn) },
    ],
  }));
  if (!pipelineExecutionId) throw new Error("StartPipelineExecution returned no pipelineExecutionId");

  const createdAt = now();
  let stored: boolean;
  try {
    stored = await putTokenRecord(clients.dynamodb, settings.tableName, {
      pipelineExecutionId,
      taskToken: input.taskToken,
      stage: input.stage,
      executionArn: input.executionArn,
      requestId: input.request.requestId ?? "-",
      createdAt: createdAt.toISOString(),
      expiresAt: Math.floor(createdAt.getTime() / 1000) + settings.timeoutSeconds + RECORD_RETENTION_SECONDS,
    });
    if (!stored) {
      const existing = await getTokenRecord(clients.dynamodb, settings.tableName, pipelineExecutionId);
      if (existing?.taskToken !== input.taskToken) {
        throw new Error(`TokenConflict: pipeline execution ${pipelineExecutionId} is already recorded for another task`);
      }
    }
  } catch (error) {
    // Without its record nobody could deliver this approval: stop the execution so that no
    // approver is asked for a decision that would be lost, then fail the Task.
    await clients.codepipeline.send(new StopPipelineExecutionCommand({
      pipelineName: settings.pipelineName,
      pipelineExecutionId,
      abandon: true,
      reason: "sfn-approvals could not record the waiting task; request abandoned",
    })).catch((stopError: unknown) => console.error(JSON.stringify({ msg: "could not stop pipeline execution", pipelineExecutionId, error: String(stopError) })));
    throw error;
  }
  console.log(JSON.stringify({
    msg: stored ? "approval pipeline started" : "approval pipeline already started for this task",
    stage: input.stage,
    pipeline: settings.pipelineName,
    pipelineExecutionId,
    executionArn: input.executionArn,
  }));
  return { pipelineExecutionId };
}
