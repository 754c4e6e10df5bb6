// Lambda behind the codepipeline stage's Task state (lambda:invoke.waitForTaskToken): records the
// task token, then starts one execution of the stage's approval pipeline for the request. The
// pipeline runs in PARALLEL mode, so concurrent requests never overtake each other.
import { CodePipelineClient, StartPipelineExecutionCommand } from "@aws-sdk/client-codepipeline";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { executionName, parseCallbackTaskEvent } from "../../shared/callbackTask";
import { summarizeRequest } from "../../contract";
import { approvalKeyOf, bindPipelineExecution, getTokenRecord, putTokenRecord, requestHashOf } from "./tokenStore";

/** Pipeline variable values hold at most 1000 characters (PipelineVariable.value: 1..1000, pattern .*). */
export const SUMMARY_MAX = 500;
/** Records outlive the longest approval by a week, then DynamoDB's TTL removes them. */
export const RECORD_RETENTION_SECONDS = 7 * 86400;
/** The pipeline variable that tells the result function which record belongs to an execution. */
export const APPROVAL_KEY_VARIABLE = "ApprovalKey";
/** Its default: an execution that still carries it was not started by the start function. */
export const APPROVAL_KEY_DEFAULT = "-";

/** DynamoDB's throttling errors (@aws-sdk/client-dynamodb models/errors.d.ts), as the Task's Retry lists them. */
const BIND_THROTTLING_NAMES = ["ProvisionedThroughputExceededException", "RequestLimitExceeded", "ThrottlingException"];

export interface StartPipelineSettings {
  pipelineName: string;
  stage: string;
  tableName: string;
  /** The approval action's timeout, kept in the record for the result function. */
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
  const approvalKey = approvalKeyOf(input.taskToken);
  const requestHash = requestHashOf(input);
  const createdAt = now();
  const stored = await putTokenRecord(clients.dynamodb, settings.tableName, {
    approvalKey,
    taskToken: input.taskToken,
    stage: input.stage,
    executionArn: input.executionArn,
    requestId: input.request.requestId ?? "-",
    createdAt: createdAt.toISOString(),
    timeoutSeconds: settings.timeoutSeconds,
    expiresAt: Math.floor(createdAt.getTime() / 1000) + settings.timeoutSeconds + RECORD_RETENTION_SECONDS,
    requestHash,
  });
  if (!stored) {
    // A repeated invocation for the same task finds its own record; anything else is refused
    // before a pipeline execution exists, so no other request is touched.
    const existing = await getTokenRecord(clients.dynamodb, settings.tableName, approvalKey);
    if (existing?.taskToken !== input.taskToken || existing.stage !== input.stage) {
      throw new Error(
        `TokenConflict: approval key ${approvalKey.slice(0, 12)}... is already recorded for another task; nothing started`,
      );
    }
    // The same token with another request (the start function invoked by hand with a stolen token):
    // approvers would see that request while their answer decides the waiting one.
    if (existing.requestHash !== requestHash) {
      throw new Error(
        `RequestConflict: approval key ${approvalKey.slice(0, 12)}... was recorded for another request; nothing started`,
      );
    }
  }

  // A variable value holds at most 1000 characters: a longer link is replaced, never cut into a broken one.
  const link =
    input.request.link && input.request.link.length <= 1000 && /^https?:\/\/\S+$/.test(input.request.link)
      ? input.request.link
      : executionConsoleLink(input.executionArn);
  // The approval key doubles as the client token, so a repeated invocation asks CodePipeline for
  // the same execution again rather than a second one.
  const { pipelineExecutionId } = await clients.codepipeline.send(
    new StartPipelineExecutionCommand({
      name: settings.pipelineName,
      clientRequestToken: approvalKey,
      variables: [
        { name: APPROVAL_KEY_VARIABLE, value: approvalKey },
        { name: "RequestSummary", value: summarizeRequest(input.request, SUMMARY_MAX, true) },
        { name: "RequestLink", value: link },
        { name: "RequestId", value: safeKeyPart(input.request.requestId ?? "-") },
        { name: "ExecutionName", value: executionName(input.executionArn) },
      ],
    }),
  );
  if (!pipelineExecutionId) throw new Error("StartPipelineExecution returned no pipelineExecutionId");
  // Only this execution may decide the request (the result function checks the binding). The
  // pipeline runs already: a throttled bind must not reach the Task's capacity retry
  // (components/mechanisms/capacityRetry.ts), where a new attempt could start a second execution.
  await bindPipelineExecution(clients.dynamodb, settings.tableName, approvalKey, pipelineExecutionId).catch(
    (error: unknown) => {
      const name = (error as { name?: unknown })?.name;
      if (typeof name !== "string" || !BIND_THROTTLING_NAMES.includes(name)) throw error;
      throw new Error(
        `PipelineExecutionNotBound: pipeline execution ${pipelineExecutionId} started but its record was not bound (${name})`,
      );
    },
  );
  console.log(
    JSON.stringify({
      msg: stored ? "approval pipeline started" : "approval pipeline started again for the same task",
      stage: input.stage,
      pipeline: settings.pipelineName,
      pipelineExecutionId,
      executionArn: input.executionArn,
    }),
  );
  return { pipelineExecutionId };
}
