// Lambda behind the ssm-automation stage's Task state (lambda:invoke.waitForTaskToken):
// starts one SSM Automation execution of the stage's approval runbook, with the task token
// as a runbook parameter. The runbook's aws:approve step then waits for the approvers.
import { SSMClient, StartAutomationExecutionCommand } from "@aws-sdk/client-ssm";
import { executionName, parseCallbackTaskEvent } from "./callbackTask";
import { fitText, summarizeRequest } from "./contract";

/**
 * SSM caps each automation parameter value at 512 characters (AutomationParameterValue in the
 * SSM API model), while a Step Functions task token may be up to 2048 characters (Step Functions API
 * Reference, SendTaskSuccess: taskToken 1..2048; earlier models said 1024). The token therefore
 * travels as a StringList of chunks, joined again by the result function; the message stays below
 * the same per-value cap.
 */
export const PARAMETER_VALUE_MAX = 500;

export interface StartAutomationSettings {
  documentName: string;
  stage: string;
}

export function splitToken(token: string, size: number = PARAMETER_VALUE_MAX): string[] {
  const chunks: string[] = [];
  for (let i = 0; i < token.length; i += size) chunks.push(token.slice(i, i + size));
  return chunks;
}

export async function startAutomation(
  event: unknown,
  settings: StartAutomationSettings,
  ssm: SSMClient,
): Promise<{ automationExecutionId: string }> {
  const input = parseCallbackTaskEvent(event, settings.stage);
  const trailer = `\nStage: ${input.stage}\nExecution: ${executionName(input.executionArn)}`;
  const message = summarizeRequest(input.request, PARAMETER_VALUE_MAX - trailer.length) + trailer;
  const response = await ssm.send(new StartAutomationExecutionCommand({
    DocumentName: settings.documentName,
    Parameters: {
      TaskToken: splitToken(input.taskToken),
      Message: [message],
      // An automation parameter value holds 1 to 512 characters: "" or a long id would fail the start.
      RequestId: [fitText(input.request.requestId ?? "-", PARAMETER_VALUE_MAX)],
      ExecutionArn: [input.executionArn],
    },
  }));
  if (!response.AutomationExecutionId) {
    throw new Error("StartAutomationExecution returned no AutomationExecutionId");
  }
  console.log(JSON.stringify({
    msg: "approval automation started",
    stage: input.stage,
    document: settings.documentName,
    automationExecutionId: response.AutomationExecutionId,
    executionArn: input.executionArn,
  }));
  return { automationExecutionId: response.AutomationExecutionId };
}
