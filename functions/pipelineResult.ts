// Lambda behind the EventBridge rule on "CodePipeline Action Execution State Change" for the
// stage's approval action. It looks up the task token recorded for the pipeline execution, reads
// who decided from ListActionExecutions, and answers the task once. Anything unexpected throws, so
// the event is retried and ends in the dead-letter queue; it never sends what it cannot prove.
import { ActionExecutionDetail, CodePipelineClient, GetPipelineExecutionCommand, ListActionExecutionsCommand } from "@aws-sdk/client-codepipeline";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SFNClient, SendTaskFailureCommand, SendTaskSuccessCommand } from "@aws-sdk/client-sfn";
import { deliverToStepFunctions } from "./callbackTask";
import { StageDecision, StageDecisionKind, stageDecision } from "./contract";
import { actorIsAnyOf } from "./principals";
import { APPROVAL_KEY_VARIABLE } from "./startPipeline";
import { TokenRecord, getTokenRecord, markDecided } from "./tokenStore";

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
  /** The IAM user and role ARNs whose answers count. */
  approvers: string[];
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

/** Errors sent with SendTaskFailure when an approval ended without a decision anyone may rely on. */
export const UNAUTHORIZED_APPROVER_ERROR = "UnauthorizedApprover";
export const CANCELED_ERROR = "ApprovalCanceled";

export type ActionOutcome =
  | { kind: StageDecisionKind }
  | { kind: "failure"; error: string; cause: string };

/**
 * Maps the finished approval action to a decision. Only a configured approver's answer counts;
 * anything that ended without one (an unlisted principal, a cancellation, a broken action) fails
 * the execution with a named error instead of posing as a decision.
 */
export function outcomeOfAction(action: ActionExecutionDetail, record: TokenRecord, approvers: string[]): ActionOutcome {
  const id = action.pipelineExecutionId;
  const answeredBy = action.updatedBy;
  switch (action.status) {
    case "Succeeded":
    case "Failed": {
      if (answeredBy !== undefined || action.status === "Succeeded") {
        if (!actorIsAnyOf(answeredBy, approvers)) {
          return { kind: "failure", error: UNAUTHORIZED_APPROVER_ERROR, cause: `The approval of pipeline execution ${id} was answered by ${answeredBy ?? "an unknown principal"}, who is not an approver of stage ${record.stage}; nothing was decided` };
        }
        return { kind: action.status === "Succeeded" ? "approved" : "rejected" };
      }
      const started = action.startTime?.getTime();
      const ended = action.lastUpdateTime?.getTime();
      const ranSeconds = started !== undefined && ended !== undefined ? (ended - started) / 1000 : 0;
      if (ranSeconds >= record.timeoutSeconds - TIMEOUT_TOLERANCE_SECONDS) return { kind: "timed_out" };
      return { kind: "failure", error: ACTION_FAILED_ERROR, cause: `The approval action of pipeline execution ${id} (stage ${record.stage}) failed without a decision: ${action.output?.executionResult?.errorDetails?.message ?? action.output?.executionResult?.externalExecutionSummary ?? "no details"}` };
    }
    case "Abandoned":
      return { kind: "failure", error: CANCELED_ERROR, cause: `The pipeline execution ${id} (stage ${record.stage}) was stopped or canceled before anyone decided` };
    default:
      throw new Error(`ActionNotFinished: approval action of pipeline execution ${id} is '${String(action.status)}'`);
  }
}

export async function deliverPipelineDecision(
  event: unknown,
  settings: PipelineResultSettings,
  clients: { codepipeline: CodePipelineClient; dynamodb: DynamoDBClient; sfn: SFNClient },
  now: () => Date = () => new Date(),
): Promise<StageDecision | { duplicate: true; decision: string } | { failed: string }> {
  const { pipelineExecutionId: id, state } = parseApprovalEvent(event, settings);
  const { pipelineExecution } = await clients.codepipeline.send(new GetPipelineExecutionCommand({ pipelineName: settings.pipelineName, pipelineExecutionId: id }));
  const approvalKey = pipelineExecution?.variables?.find((v) => v.name === APPROVAL_KEY_VARIABLE)?.resolvedValue;
  const record = approvalKey ? await getTokenRecord(clients.dynamodb, settings.tableName, approvalKey) : undefined;
  if (!approvalKey || !record || record.taskToken === "") {
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
  if ((action.status === "Succeeded") !== (state === "SUCCEEDED")) {
    throw new Error(`InconsistentEvent: the event says ${state} but the approval action of ${id} is '${String(action.status)}'; refusing to decide`);
  }
  const outcome = outcomeOfAction(action, record, settings.approvers);
  const what = `for pipeline execution ${id} (stage ${settings.stage})`;

  if (outcome.kind === "failure") {
    await deliverToStepFunctions(() => clients.sfn.send(new SendTaskFailureCommand({ taskToken: record.taskToken, error: outcome.error, cause: outcome.cause })), `the failure ${what}`);
    await markDecided(clients.dynamodb, settings.tableName, approvalKey, { decision: `failed:${outcome.error}`, decidedAt: now().toISOString(), pipelineExecutionId: id });
    console.error(JSON.stringify({ msg: "approval ended without a decision; execution failed", pipelineExecutionId: id, error: outcome.error, cause: outcome.cause }));
    return { failed: outcome.error };
  }

  const result = stageDecision({
    decision: outcome.kind,
    stage: settings.stage,
    mechanism: "codepipeline",
    approver: outcome.kind === "timed_out" ? null : action.updatedBy ?? null,
    comment: outcome.kind === "timed_out" ? null : action.output?.executionResult?.externalExecutionSummary ?? null,
    decidedAt: action.lastUpdateTime ?? now(),
  });
  await deliverToStepFunctions(() => clients.sfn.send(new SendTaskSuccessCommand({ taskToken: record.taskToken, output: JSON.stringify(result) })),
    `the decision ${outcome.kind} ${what}`);
  await markDecided(clients.dynamodb, settings.tableName, approvalKey, { decision: outcome.kind, decidedAt: result.decidedAt, pipelineExecutionId: id });
  console.log(JSON.stringify({ msg: "approval decision delivered", pipelineExecutionId: id, ...result }));
  return result;
}
