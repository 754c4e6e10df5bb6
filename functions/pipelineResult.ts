// Lambda behind the EventBridge rule on "CodePipeline Action Execution State Change" for the
// stage's approval action. It looks up the task token recorded for the pipeline execution, reads
// who decided from ListActionExecutions, and answers the task once. Anything unexpected throws, so
// the event is retried and ends in the dead-letter queue; it never sends what it cannot prove.
import { ActionExecutionDetail, CodePipelineClient, ListActionExecutionsCommand } from "@aws-sdk/client-codepipeline";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SFNClient, SendTaskFailureCommand, SendTaskSuccessCommand } from "@aws-sdk/client-sfn";
import { deliverToStepFunctions } from "./callbackTask";
import { StageDecision, StageDecisionKind, stageDecision } from "./contract";
import { getTokenRecord, markDecided } from "./tokenStore";

export const ACTION_DETAIL_TYPE = "CodePipeline Action Execution State Change";
export const APPROVAL_STAGE_NAME = "Approval";
export const APPROVAL_ACTION_NAME = "Approve";
export const ACTION_FAILED_ERROR = "ApprovalActionFailed";
/** A Failed approval nobody decided counts as timed out when it ran this close to its timeout. */
export const TIMEOUT_TOLERANCE_SECONDS = 120;

export interface PipelineResultSettings {
  pipelineName: string;
  stage: string;
  tableName: string;
  /** The approval action's timeout (timeoutInMinutes * 60). */
  timeoutSeconds: number;
}

export interface ApprovalEvent {
  pipelineExecutionId: string;
  state: string;
}

export function parseApprovalEvent(event: unknown, settings: PipelineResultSettings): ApprovalEvent {
  if (typeof event !== "object" || event === null) {
    throw new Error("InvalidEvent: expected an EventBridge event object");
  }
  const e = event as Record<string, unknown>;
  if (e.source !== "aws.codepipeline" || e["detail-type"] !== ACTION_DETAIL_TYPE) {
    throw new Error(`InvalidEvent: expected source 'aws.codepipeline' and detail-type '${ACTION_DETAIL_TYPE}', got '${String(e.source)}' / '${String(e["detail-type"])}'`);
  }
  const detail = e.detail as Record<string, unknown> | undefined;
  if (typeof detail !== "object" || detail === null) {
    throw new Error("InvalidEvent: the event has no 'detail' object");
  }
  if (detail.pipeline !== settings.pipelineName) {
    throw new Error(`InvalidEvent: the event is for pipeline '${String(detail.pipeline)}', this function handles '${settings.pipelineName}'`);
  }
  const type = detail.type as Record<string, unknown> | undefined;
  if (detail.stage !== APPROVAL_STAGE_NAME || detail.action !== APPROVAL_ACTION_NAME || type?.category !== "Approval") {
    throw new Error(`InvalidEvent: expected the approval action '${APPROVAL_STAGE_NAME}/${APPROVAL_ACTION_NAME}', got '${String(detail.stage)}/${String(detail.action)}' (${String(type?.category)})`);
  }
  const id = detail["execution-id"];
  if (typeof id !== "string" || !/^[0-9a-fA-F-]{36}$/.test(id)) {
    throw new Error(`InvalidEvent: 'detail.execution-id' must be a pipeline execution id, got '${String(id)}'`);
  }
  if (typeof detail.state !== "string" || detail.state === "STARTED") {
    throw new Error(`InvalidEvent: action state '${String(detail.state)}' is not a final state`);
  }
  return { pipelineExecutionId: id, state: detail.state };
}

/** Maps the finished approval action to a decision; "failed" when it broke without a decision. */
export function decisionOfAction(action: ActionExecutionDetail, settings: PipelineResultSettings): StageDecisionKind | "failed" {
  switch (action.status) {
    case "Succeeded":
      return "approved";
    case "Failed": {
      if (action.updatedBy) return "rejected"; // a principal called PutApprovalResult with Rejected
      const started = action.startTime?.getTime();
      const ended = action.lastUpdateTime?.getTime();
      const ranSeconds = started !== undefined && ended !== undefined ? (ended - started) / 1000 : 0;
      return ranSeconds >= settings.timeoutSeconds - TIMEOUT_TOLERANCE_SECONDS ? "timed_out" : "failed";
    }
    case "Abandoned":
      return "rejected"; // the pipeline execution was stopped while it waited
    default:
      throw new Error(`ActionNotFinished: approval action of pipeline execution ${action.pipelineExecutionId} is '${String(action.status)}'`);
  }
}

export async function deliverPipelineDecision(
  event: unknown,
  settings: PipelineResultSettings,
  clients: { codepipeline: CodePipelineClient; dynamodb: DynamoDBClient; sfn: SFNClient },
  now: () => Date = () => new Date(),
): Promise<StageDecision | { duplicate: true; decision: string }> {
  const { pipelineExecutionId: id, state } = parseApprovalEvent(event, settings);
  const record = await getTokenRecord(clients.dynamodb, settings.tableName, id);
  if (!record || record.taskToken === "") {
    throw new Error(`MissingTaskToken: no task token is recorded for pipeline execution ${id}; no decision sent`);
  }
  if (record.stage !== settings.stage) {
    throw new Error(`ForeignRecord: the record of pipeline execution ${id} belongs to stage '${record.stage}', not '${settings.stage}'`);
  }
  if (record.decidedAt) {
    console.log(JSON.stringify({ msg: "decision already delivered; repeated event ignored", pipelineExecutionId: id, decision: record.decision }));
    return { duplicate: true, decision: record.decision ?? "unknown" };
  }

  const { actionExecutionDetails } = await clients.codepipeline.send(new ListActionExecutionsCommand({
    pipelineName: settings.pipelineName,
    filter: { pipelineExecutionId: id },
  }));
  const action = (actionExecutionDetails ?? []).find((a) => a.stageName === APPROVAL_STAGE_NAME && a.actionName === APPROVAL_ACTION_NAME && a.pipelineExecutionId === id);
  if (!action) {
    throw new Error(`ActionNotFound: pipeline execution ${id} has no approval action execution`);
  }
  const decision = decisionOfAction(action, settings);
  if ((decision === "approved") !== (state === "SUCCEEDED")) {
    throw new Error(`InconsistentEvent: the event says ${state} but the approval action of ${id} is '${String(action.status)}'; refusing to decide`);
  }
  const summary = action.output?.executionResult?.externalExecutionSummary;
  const what = `for pipeline execution ${id} (stage ${settings.stage})`;

  if (decision === "failed") {
    const cause = `The approval action of pipeline execution ${id} (stage ${settings.stage}) failed without a decision: ${action.output?.executionResult?.errorDetails?.message ?? summary ?? "no details"}`;
    await deliverToStepFunctions(() => clients.sfn.send(new SendTaskFailureCommand({ taskToken: record.taskToken, error: ACTION_FAILED_ERROR, cause })), `the failure ${what}`);
    await markDecided(clients.dynamodb, settings.tableName, id, "failed", now().toISOString());
    throw new Error(`${ACTION_FAILED_ERROR}: ${cause}`);
  }

  const result = stageDecision({
    decision,
    stage: settings.stage,
    mechanism: "codepipeline",
    approver: decision === "timed_out" ? null : action.updatedBy ?? null,
    comment: decision === "timed_out" ? null : summary ?? (action.status === "Abandoned" ? "pipeline execution stopped before a decision" : null),
    decidedAt: action.lastUpdateTime ?? now(),
  });
  await deliverToStepFunctions(() => clients.sfn.send(new SendTaskSuccessCommand({ taskToken: record.taskToken, output: JSON.stringify(result) })),
    `the decision ${decision} ${what}`);
  await markDecided(clients.dynamodb, settings.tableName, id, decision, result.decidedAt);
  console.log(JSON.stringify({ msg: "approval decision delivered", pipelineExecutionId: id, ...result }));
  return result;
}
