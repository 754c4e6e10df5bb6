// Lambda behind the EventBridge rule of the stage's approval pipeline. Two kinds of events reach it:
// "CodePipeline Action Execution State Change" for the approval action (a decision), and
// "CodePipeline Pipeline Execution State Change" for an execution that ended without success
// (FAILED, STOPPED, SUPERSEDED, CANCELED), which ends a request whose approval never started.
// It answers a waiting task only for executions this stage's start function started; it looks up
// the task token recorded for the execution, reads who decided from ListActionExecutions, and
// answers the task once. The run CodePipeline starts when the pipeline is created is no request:
// it is logged and ignored. Anything unexpected throws, so the event is retried and ends in the
// dead-letter queue; it never sends what it cannot prove.
import {
  ActionExecutionDetail,
  CodePipelineClient,
  GetPipelineExecutionCommand,
  ListActionExecutionsCommand,
  PipelineExecution,
} from "@aws-sdk/client-codepipeline";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SFNClient, SendTaskFailureCommand, SendTaskSuccessCommand } from "@aws-sdk/client-sfn";
import { deliverToStepFunctions } from "../../shared/callbackTask";
import { StageDecision, StageDecisionKind, stageDecision } from "../../contract";
import { actorIsAnyOf, actorIsPrincipal } from "../../shared/principals";
import { parseEventBridgeEvent } from "../../shared/eventBridge";
import { redactText } from "../../shared/redact";
import { RESULT_RESEND, ResendPolicy } from "../../shared/throttledSend";
import { APPROVAL_KEY_DEFAULT, APPROVAL_KEY_VARIABLE } from "./startPipeline";
import { TokenRecord, getTokenRecord, markDecided } from "./tokenStore";

export const ACTION_DETAIL_TYPE = "CodePipeline Action Execution State Change";
export const PIPELINE_DETAIL_TYPE = "CodePipeline Pipeline Execution State Change";
/**
 * Pipeline execution states that end it without success, with the GetPipelineExecution status each
 * one means (CodePipeline User Guide, "Monitoring CodePipeline events", Detail types:
 * https://docs.aws.amazon.com/codepipeline/latest/userguide/detect-state-changes-cloudwatch-events.html;
 * PipelineExecutionStatus in @aws-sdk/client-codepipeline). STARTED, STOPPING, RESUMED and
 * SUCCEEDED are not matched.
 */
export const PIPELINE_END_STATES = {
  FAILED: "Failed",
  STOPPED: "Stopped",
  SUPERSEDED: "Superseded",
  CANCELED: "Cancelled",
} as const;
export type PipelineEndState = keyof typeof PIPELINE_END_STATES;
export const APPROVAL_STAGE_NAME = "Approval";
export const APPROVAL_ACTION_NAME = "Approve";
export const ACTION_FAILED_ERROR = "ApprovalActionFailed";
/** Sent when the Approval stage of a request's execution ran more than once (retried). */
export const APPROVAL_RETRIED_ERROR = "ApprovalStageRetried";
/** Sent when the pipeline execution of a request ended before its approval action ran. */
export const PIPELINE_FAILED_ERROR = "ApprovalPipelineFailed";
/** A Failed approval nobody decided counts as timed out when it ran this close to its timeout. */
export const TIMEOUT_TOLERANCE_SECONDS = 120;

export interface PipelineResultSettings {
  pipelineName: string;
  stage: string;
  tableName: string;
  /** The IAM user and role ARNs whose answers count. */
  approvers: string[];
  /** ARN of the start function's role: only executions it started may decide a request. */
  starterRoleArn: string;
}

export interface ApprovalEvent {
  kind: "action";
  pipelineExecutionId: string;
  /** detail.action-execution-id (in AWS's sample action events): which run of the action ended. */
  actionExecutionId: string;
  state: string;
}

export interface PipelineEndEvent {
  kind: "pipeline";
  pipelineExecutionId: string;
  state: PipelineEndState;
}

function eventDetail(
  event: unknown,
  settings: PipelineResultSettings,
): { detailType: string; detail: Record<string, unknown>; id: string } {
  const { detailType, detail } = parseEventBridgeEvent(event, "aws.codepipeline", [
    ACTION_DETAIL_TYPE,
    PIPELINE_DETAIL_TYPE,
  ]);
  if (detail.pipeline !== settings.pipelineName) {
    throw new Error(
      `InvalidEvent: the event is for pipeline '${String(detail.pipeline)}', this function handles '${settings.pipelineName}'`,
    );
  }
  const id = detail["execution-id"];
  if (typeof id !== "string" || !/^[0-9a-fA-F-]{36}$/.test(id)) {
    throw new Error(`InvalidEvent: 'detail.execution-id' must be a pipeline execution id, got '${String(id)}'`);
  }
  return { detailType, detail, id };
}

export function parseApprovalEvent(event: unknown, settings: PipelineResultSettings): ApprovalEvent | PipelineEndEvent {
  const { detailType, detail, id } = eventDetail(event, settings);
  if (detailType === PIPELINE_DETAIL_TYPE) {
    if (typeof detail.state !== "string" || !Object.hasOwn(PIPELINE_END_STATES, detail.state)) {
      throw new Error(
        `InvalidEvent: pipeline state '${String(detail.state)}' is not one that ends an execution without success (${Object.keys(PIPELINE_END_STATES).join(", ")})`,
      );
    }
    return { kind: "pipeline", pipelineExecutionId: id, state: detail.state as PipelineEndState };
  }
  const type = detail.type as Record<string, unknown> | undefined;
  if (detail.stage !== APPROVAL_STAGE_NAME || detail.action !== APPROVAL_ACTION_NAME || type?.category !== "Approval") {
    throw new Error(
      `InvalidEvent: expected the approval action '${APPROVAL_STAGE_NAME}/${APPROVAL_ACTION_NAME}', got '${String(detail.stage)}/${String(detail.action)}' (${String(type?.category)})`,
    );
  }
  if (typeof detail.state !== "string" || detail.state === "STARTED") {
    throw new Error(`InvalidEvent: action state '${String(detail.state)}' is not a final state`);
  }
  const actionExecutionId = detail["action-execution-id"];
  if (typeof actionExecutionId !== "string" || actionExecutionId === "") {
    throw new Error(
      `InvalidEvent: 'detail.action-execution-id' must name the action execution, got '${String(actionExecutionId)}'`,
    );
  }
  return { kind: "action", pipelineExecutionId: id, actionExecutionId, state: detail.state };
}

/** What a pipeline execution is to this stage: no request, someone else's look-alike, or a request. */
export type ExecutionOrigin =
  | { kind: "no-request"; why: string }
  | { kind: "foreign"; startedBy: string }
  | { kind: "request"; approvalKey: string };

/**
 * Only executions that this stage's start function started carry a request. The trigger tells who
 * started one (GetPipelineExecution pipelineExecution.trigger: triggerType StartPipelineExecution,
 * triggerDetail the caller's ARN, a role session "arn:aws:sts::<account>:assumed-role/<role>/<session>";
 * CodePipeline API Reference, API_ExecutionTrigger.html; @aws-sdk/client-codepipeline models:
 * ExecutionTrigger, TriggerType). The run CodePipeline starts when the pipeline is created
 * (triggerType CreatePipeline), and any run with the default ApprovalKey, is no request.
 */
export function originOf(execution: PipelineExecution | undefined, starterRoleArn: string): ExecutionOrigin {
  const trigger = execution?.trigger;
  if (trigger?.triggerType === "CreatePipeline") {
    return {
      kind: "no-request",
      why: "CodePipeline started it when the pipeline was created (trigger CreatePipeline)",
    };
  }
  const variables = execution?.variables;
  const approvalKey = variables?.find((v) => v.name === APPROVAL_KEY_VARIABLE)?.resolvedValue;
  if (approvalKey === APPROVAL_KEY_DEFAULT) {
    return {
      kind: "no-request",
      why: `it carries the default ${APPROVAL_KEY_VARIABLE} '${APPROVAL_KEY_DEFAULT}', so no start function started it`,
    };
  }
  const startedBy = trigger?.triggerDetail;
  if (
    trigger?.triggerType !== "StartPipelineExecution" ||
    startedBy === undefined ||
    !actorIsPrincipal(startedBy, starterRoleArn)
  ) {
    return { kind: "foreign", startedBy: `${String(trigger?.triggerType)} by ${String(startedBy)}` };
  }
  if (!approvalKey) {
    throw new Error(
      `MissingTaskToken: pipeline execution ${String(execution?.pipelineExecutionId)} has no ${APPROVAL_KEY_VARIABLE} variable; no decision sent`,
    );
  }
  return { kind: "request", approvalKey };
}

/** Errors sent with SendTaskFailure when an approval ended without a decision anyone may rely on. */
export const UNAUTHORIZED_APPROVER_ERROR = "UnauthorizedApprover";
export const CANCELED_ERROR = "ApprovalCanceled";

export type ActionOutcome = { kind: StageDecisionKind } | { kind: "failure"; error: string; cause: string };

/**
 * Maps the finished approval action to a decision. Only a configured approver's answer counts;
 * anything that ended without one (an unlisted principal, a cancellation, a broken action) fails
 * the execution with a named error instead of posing as a decision.
 */
export function outcomeOfAction(
  action: ActionExecutionDetail,
  record: TokenRecord,
  approvers: string[],
): ActionOutcome {
  const id = action.pipelineExecutionId;
  const answeredBy = action.updatedBy;
  switch (action.status) {
    case "Succeeded":
    case "Failed": {
      if (answeredBy !== undefined || action.status === "Succeeded") {
        if (!actorIsAnyOf(answeredBy, approvers)) {
          return {
            kind: "failure",
            error: UNAUTHORIZED_APPROVER_ERROR,
            cause: `The approval of pipeline execution ${id} was answered by ${answeredBy ?? "an unknown principal"}, who is not an approver of stage ${record.stage}; nothing was decided`,
          };
        }
        return { kind: action.status === "Succeeded" ? "approved" : "rejected" };
      }
      const started = action.startTime?.getTime();
      const ended = action.lastUpdateTime?.getTime();
      const ranSeconds = started !== undefined && ended !== undefined ? (ended - started) / 1000 : 0;
      if (ranSeconds >= record.timeoutSeconds - TIMEOUT_TOLERANCE_SECONDS) return { kind: "timed_out" };
      return {
        kind: "failure",
        error: ACTION_FAILED_ERROR,
        cause: `The approval action of pipeline execution ${id} (stage ${record.stage}) failed without a decision: ${action.output?.executionResult?.errorDetails?.message ?? action.output?.executionResult?.externalExecutionSummary ?? "no details"}`,
      };
    }
    case "Abandoned":
      return {
        kind: "failure",
        error: CANCELED_ERROR,
        cause: `The pipeline execution ${id} (stage ${record.stage}) was stopped or canceled before anyone decided`,
      };
    default:
      throw new Error(`ActionNotFinished: approval action of pipeline execution ${id} is '${String(action.status)}'`);
  }
}

export type PipelineResult =
  | StageDecision
  | { duplicate: true; decision: string }
  | { failed: string }
  | { ignored: string }
  | { deferred: string };

export async function deliverPipelineDecision(
  event: unknown,
  settings: PipelineResultSettings,
  clients: { codepipeline: CodePipelineClient; dynamodb: DynamoDBClient; sfn: SFNClient },
  now: () => Date = () => new Date(),
  resend: ResendPolicy = RESULT_RESEND,
): Promise<PipelineResult> {
  const parsed = parseApprovalEvent(event, settings);
  const id = parsed.pipelineExecutionId;
  const what = parsed.kind === "pipeline" ? `pipeline ${parsed.state}` : `approval action ${parsed.state}`;
  const { pipelineExecution } = await clients.codepipeline.send(
    new GetPipelineExecutionCommand({ pipelineName: settings.pipelineName, pipelineExecutionId: id }),
  );
  const origin = originOf(pipelineExecution, settings.starterRoleArn);
  if (origin.kind === "no-request") {
    // Nobody asked for this run: nothing to answer, nothing to retry, nobody to page.
    console.log(
      JSON.stringify({
        msg: "no request: pipeline execution ignored",
        pipelineExecutionId: id,
        stage: settings.stage,
        event: what,
        why: origin.why,
      }),
    );
    return { ignored: origin.why };
  }
  if (origin.kind === "foreign") {
    // A look-alike: someone allowed to start the pipeline started it with a request's key. It
    // decides nothing; the waiting request keeps waiting, and the dead-letter alarm reports it.
    throw new Error(
      `ForeignExecution: pipeline execution ${id} was started by ${origin.startedBy}, not by this stage's start function; no decision sent`,
    );
  }
  const approvalKey = origin.approvalKey;
  const record = await getTokenRecord(clients.dynamodb, settings.tableName, approvalKey);
  if (!record || record.taskToken === "") {
    throw new Error(`MissingTaskToken: no task token is recorded for pipeline execution ${id}; no decision sent`);
  }
  if (record.stage !== settings.stage) {
    throw new Error(
      `ForeignRecord: the record of pipeline execution ${id} belongs to stage '${record.stage}', not '${settings.stage}'`,
    );
  }
  if (record.pipelineExecutionId !== id) {
    // Not the execution the start function bound to this request (a second start with the same
    // token), or not bound yet (the start function has not finished): never decides; retried.
    throw new Error(
      `UnboundExecution: pipeline execution ${id} is not the one started for this request${record.pipelineExecutionId ? "" : " (none is bound yet)"}; no decision sent`,
    );
  }
  if (record.decidedAt) {
    // Also a pipeline FAILED after the approval (say, the Record stage failed): the decision stands.
    console.log(
      JSON.stringify({
        msg: "decision already delivered; repeated or later event ignored",
        pipelineExecutionId: id,
        event: what,
        decision: record.decision,
      }),
    );
    return { duplicate: true, decision: record.decision ?? "unknown" };
  }

  const { actionExecutionDetails } = await clients.codepipeline.send(
    new ListActionExecutionsCommand({
      pipelineName: settings.pipelineName,
      filter: { pipelineExecutionId: id },
    }),
  );
  const details = (actionExecutionDetails ?? []).filter((a) => a.pipelineExecutionId === id);
  const approvals = details.filter((a) => a.stageName === APPROVAL_STAGE_NAME && a.actionName === APPROVAL_ACTION_NAME);
  if (parsed.kind === "pipeline") {
    return endRequestOfEndedPipeline(
      parsed,
      pipelineExecution,
      details,
      approvals[0],
      record,
      settings,
      clients,
      now,
      resend,
    );
  }
  const forWhat = `for pipeline execution ${id} (stage ${settings.stage})`;
  if (approvals.length > 1) {
    // The Approval stage was retried (RetryStageExecution): one run may have rejected while another
    // approves. No single answer can be trusted, so the request fails instead of deciding.
    const cause = `The approval action of pipeline execution ${id} (stage ${settings.stage}) ran ${approvals.length} times (the stage was retried); nothing was decided`;
    await deliverToStepFunctions(
      () =>
        clients.sfn.send(
          new SendTaskFailureCommand({ taskToken: record.taskToken, error: APPROVAL_RETRIED_ERROR, cause }),
        ),
      `the failure ${forWhat}`,
      resend,
    );
    await markDecided(clients.dynamodb, settings.tableName, approvalKey, {
      decision: `failed:${APPROVAL_RETRIED_ERROR}`,
      decidedAt: now().toISOString(),
      pipelineExecutionId: id,
    });
    console.error(
      JSON.stringify({
        msg: "approval stage retried; execution failed",
        pipelineExecutionId: id,
        error: APPROVAL_RETRIED_ERROR,
        cause,
      }),
    );
    return { failed: APPROVAL_RETRIED_ERROR };
  }
  const action = approvals.find((a) => a.actionExecutionId === parsed.actionExecutionId);
  if (!action) {
    throw new Error(
      `ActionNotFound: pipeline execution ${id} has no approval action execution ${parsed.actionExecutionId}`,
    );
  }
  if ((action.status === "Succeeded") !== (parsed.state === "SUCCEEDED")) {
    throw new Error(
      `InconsistentEvent: the event says ${parsed.state} but the approval action of ${id} is '${String(action.status)}'; refusing to decide`,
    );
  }
  const outcome = outcomeOfAction(action, record, settings.approvers);

  if (outcome.kind === "failure") {
    await deliverToStepFunctions(
      () =>
        clients.sfn.send(
          new SendTaskFailureCommand({
            taskToken: record.taskToken,
            error: outcome.error,
            cause: redactText(outcome.cause, [record.taskToken]),
          }),
        ),
      `the failure ${forWhat}`,
      resend,
    );
    await markDecided(clients.dynamodb, settings.tableName, approvalKey, {
      decision: `failed:${outcome.error}`,
      decidedAt: now().toISOString(),
      pipelineExecutionId: id,
    });
    console.error(
      JSON.stringify({
        msg: "approval ended without a decision; execution failed",
        pipelineExecutionId: id,
        error: outcome.error,
        cause: outcome.cause,
      }),
    );
    return { failed: outcome.error };
  }

  const result = stageDecision({
    decision: outcome.kind,
    stage: settings.stage,
    mechanism: "codepipeline",
    approver: outcome.kind === "timed_out" ? null : (action.updatedBy ?? null),
    comment: outcome.kind === "timed_out" ? null : (action.output?.executionResult?.externalExecutionSummary ?? null),
    decidedAt: action.lastUpdateTime ?? now(),
  });
  await deliverToStepFunctions(
    () => clients.sfn.send(new SendTaskSuccessCommand({ taskToken: record.taskToken, output: JSON.stringify(result) })),
    `the decision ${outcome.kind} ${forWhat}`,
    resend,
  );
  await markDecided(clients.dynamodb, settings.tableName, approvalKey, {
    decision: outcome.kind,
    decidedAt: result.decidedAt,
    pipelineExecutionId: id,
  });
  console.log(JSON.stringify({ msg: "approval decision delivered", pipelineExecutionId: id, ...result }));
  return result;
}

/**
 * A request's pipeline execution ended without success. When its approval action ran, that
 * action's own event decides (a rejection or timeout also fails the pipeline), so nothing is sent
 * here. When it never ran (an earlier action failed, the execution was stopped, superseded or
 * canceled first), no action event will come: the task fails at once instead of waiting out its
 * timeout, and the workflow's failed-executions alarm reports it.
 */
async function endRequestOfEndedPipeline(
  event: PipelineEndEvent,
  execution: PipelineExecution | undefined,
  details: ActionExecutionDetail[],
  action: ActionExecutionDetail | undefined,
  record: TokenRecord,
  settings: PipelineResultSettings,
  clients: { dynamodb: DynamoDBClient; sfn: SFNClient },
  now: () => Date,
  resend: ResendPolicy,
): Promise<PipelineResult> {
  const id = event.pipelineExecutionId;
  const status = execution?.status;
  if (status === "InProgress") {
    // Retried (RESUMED) since the event: it is not over, and its approval may still run.
    console.log(
      JSON.stringify({
        msg: "pipeline execution is running again; nothing sent",
        pipelineExecutionId: id,
        event: event.state,
      }),
    );
    return { ignored: `pipeline execution ${id} is running again` };
  }
  if (!Object.values<string>(PIPELINE_END_STATES).includes(String(status))) {
    throw new Error(
      `InconsistentEvent: the event says ${event.state} but pipeline execution ${id} is '${String(status)}'; refusing to decide`,
    );
  }
  if (action) {
    if (action.status === "InProgress") {
      throw new Error(
        `ActionNotFinished: pipeline execution ${id} ended ${event.state} while its approval action is still 'InProgress'`,
      );
    }
    console.log(
      JSON.stringify({
        msg: "pipeline ended after its approval action ran; the action's event decides",
        pipelineExecutionId: id,
        event: event.state,
        approvalAction: action.status,
      }),
    );
    return { deferred: `the approval action of ${id} ran (${String(action.status)}); its event decides` };
  }
  const broken = details.find((a) => a.status === "Failed" || a.status === "Abandoned");
  const reason = broken
    ? `: ${String(broken.stageName)}/${String(broken.actionName)} ${String(broken.status)}${broken.output?.executionResult?.errorDetails?.message ? ` (${broken.output.executionResult.errorDetails.message})` : ""}`
    : "";
  const cause =
    `The approval pipeline execution ${id} of stage ${settings.stage} ended ${event.state} before its approval action ran${reason}`.slice(
      0,
      4000,
    );
  await deliverToStepFunctions(
    () =>
      clients.sfn.send(
        new SendTaskFailureCommand({
          taskToken: record.taskToken,
          error: PIPELINE_FAILED_ERROR,
          cause: redactText(cause, [record.taskToken]),
        }),
      ),
    `the failure for pipeline execution ${id} (stage ${settings.stage})`,
    resend,
  );
  await markDecided(clients.dynamodb, settings.tableName, record.approvalKey, {
    decision: `failed:${PIPELINE_FAILED_ERROR}`,
    decidedAt: now().toISOString(),
    pipelineExecutionId: id,
  });
  console.error(
    JSON.stringify({
      msg: "approval pipeline ended before its approval; execution failed",
      pipelineExecutionId: id,
      error: PIPELINE_FAILED_ERROR,
      cause,
    }),
  );
  return { failed: PIPELINE_FAILED_ERROR };
}
