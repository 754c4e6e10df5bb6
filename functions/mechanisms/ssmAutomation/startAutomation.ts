// Lambda behind the ssm-automation stage's Task state (lambda:invoke.waitForTaskToken):
// starts one SSM Automation execution of the stage's approval runbook, with the task token
// as a runbook parameter. The runbook's aws:approve step then waits for the approvers.
import { SSMClient, StartAutomationExecutionCommand } from "@aws-sdk/client-ssm";
import { createHash } from "crypto";
import { executionName, parseCallbackTaskEvent } from "../../shared/callbackTask";
import { fitText, summarizeRequest } from "../../contract";

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

/**
 * The automation's idempotency token, derived from the task token and stage: a second start for the
 * same task (the start function invoked again, by a retry or by hand with a token read from the
 * automation's parameters) gets the same ClientToken, so SSM returns the first automation or, with
 * other parameters (another request), refuses with IdempotentParameterMismatch ("returned when an
 * idempotent operation is retried and the parameters don't match the original call", SSM API model
 * in @aws-sdk/client-ssm; ClientToken "enforces the UUID format"). Approvers can never be shown one
 * request while their answer decides another.
 */
export function automationClientToken(taskToken: string, stage: string): string {
  const hex = createHash("sha256").update(`${stage}\n${taskToken}`).digest("hex");
  // RFC 4122 layout: version 4 and variant bits set, the rest from the hash.
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
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
  const response = await ssm.send(
    new StartAutomationExecutionCommand({
      DocumentName: settings.documentName,
      ClientToken: automationClientToken(input.taskToken, input.stage),
      Parameters: {
        TaskToken: splitToken(input.taskToken),
        Message: [message],
        // An automation parameter value holds 1 to 512 characters: "" or a long id would fail the start.
        RequestId: [fitText(input.request.requestId ?? "-", PARAMETER_VALUE_MAX)],
        ExecutionArn: [input.executionArn],
      },
    }),
  );
  if (!response.AutomationExecutionId) {
    throw new Error("StartAutomationExecution returned no AutomationExecutionId");
  }
  console.log(
    JSON.stringify({
      msg: "approval automation started",
      stage: input.stage,
      document: settings.documentName,
      automationExecutionId: response.AutomationExecutionId,
      executionArn: input.executionArn,
    }),
  );
  return { automationExecutionId: response.AutomationExecutionId };
}
