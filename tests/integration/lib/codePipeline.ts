// Finding the approval a codepipeline stage waits for. The stage's pipeline runs in PARALLEL mode,
// where GetPipelineState does not give an approval token: PutApprovalResult then takes the
// approval action's `externalExecutionId` from ListActionExecutions (CodePipeline API reference,
// PutApprovalResult `token`). The pipeline execution of one request is the one whose ApprovalKey
// variable is the hash of the request's task token (functions/mechanisms/codePipeline/startPipeline.ts); other executions
// (the run CodePipeline may start when the pipeline is created) wait with the default key "-".
import type { ActionExecutionDetail, PipelineExecution } from "@aws-sdk/client-codepipeline";
import { APPROVAL_ACTION_NAME, APPROVAL_STAGE_NAME } from "../../../functions/mechanisms/codePipeline/pipelineResult";
import { APPROVAL_KEY_VARIABLE } from "../../../functions/mechanisms/codePipeline/startPipeline";
import { approvalKeyOf } from "../../../functions/mechanisms/codePipeline/tokenStore";

export { APPROVAL_ACTION_NAME, APPROVAL_STAGE_NAME, approvalKeyOf };

/** True when the pipeline execution was started for the task with this token. */
export function isExecutionOfTask(execution: Pick<PipelineExecution, "variables">, taskToken: string): boolean {
  const key = approvalKeyOf(taskToken);
  return (execution.variables ?? []).some(
    (variable) => variable.name === APPROVAL_KEY_VARIABLE && variable.resolvedValue === key,
  );
}

/** The token PutApprovalResult needs in PARALLEL mode: the waiting Approve action's externalExecutionId. */
export function approvalTokenFromActionExecutions(
  details: ActionExecutionDetail[],
  pipelineExecutionId: string,
): string | undefined {
  const waiting = details.find(
    (detail) =>
      detail.pipelineExecutionId === pipelineExecutionId &&
      detail.stageName === APPROVAL_STAGE_NAME &&
      detail.actionName === APPROVAL_ACTION_NAME &&
      detail.status === "InProgress",
  );
  return waiting?.output?.executionResult?.externalExecutionId || undefined;
}
