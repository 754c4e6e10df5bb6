// Lambda behind the ssm-automation stage's Task state (lambda:invoke.waitForTaskToken):
// starts one SSM Automation execution of the stage's approval runbook, with the task token
// as a runbook parameter. The runbook's aws:approve step then waits for the approvers.
import { SSMClient, StartAutomationExecutionCommand } from "@aws-sdk/client-ssm";
import { ApprovalRequest, requestProblems, summarizeRequest } from "./contract";

/**
 * SSM caps each automation parameter value at 512 characters (AutomationParameterValue in the
 * SSM API model), while a Step Functions task token may be up to 2048 characters (SendTaskSuccess,
 * taskToken). The token therefore travels as a StringList of chunks, joined again by the result
 * function; the message stays below the same per-value cap.
 */
export const PARAMETER_VALUE_MAX = 500;

export interface StartAutomationEvent {
  taskToken: string;
  request: ApprovalRequest;
  stage: string;
  executionArn: string;
}

export interface StartAutomationSettings {
  documentName: string;
  stage: string;
}

export function splitToken(token: string, size: number = PARAMETER_VALUE_MAX): string[] {
  const chunks: string[] = [];
  for (let i = 0; i < token.length; i += size) chunks.push(token.slice(i, i + size));
  return chunks;
}

/** Validates the Task state's payload; never echoes the token itself in an error. */
export function parseStartAutomationEvent(event: unknown, settings: StartAutomationSettings): StartAutomationEvent {
  if (typeof event !== "object" || event === null) {
    throw new Error("InvalidEvent: expected an object with taskToken, request, stage and executionArn");
  }
  const e = event as Record<string, unknown>;
  if (typeof e.taskToken !== "string" || e.taskToken.length === 0 || e.taskToken.length > 2048) {
    throw new Error("InvalidEvent: 'taskToken' must be a non-empty string of at most 2048 characters");
  }
  const problems = requestProblems(e.request);
  if (problems.length > 0) {
    throw new Error(`InvalidEvent: the request is malformed: ${problems.join("; ")}`);
  }
  if (e.stage !== settings.stage) {
    throw new Error(`InvalidEvent: this function serves stage '${settings.stage}', the event names stage '${String(e.stage)}'`);
  }
  if (typeof e.executionArn !== "string" || !e.executionArn.startsWith("arn:")) {
    throw new Error("InvalidEvent: 'executionArn' must be the ARN of the Step Functions execution");
  }
  return { taskToken: e.taskToken, request: e.request as ApprovalRequest, stage: e.stage, executionArn: e.executionArn };
}

export async function startAutomation(
  event: unknown,
  settings: StartAutomationSettings,
  ssm: SSMClient,
): Promise<{ automationExecutionId: string }> {
  const input = parseStartAutomationEvent(event, settings);
  const executionName = input.executionArn.split(":").pop() ?? input.executionArn;
  const trailer = `\nStage: ${input.stage}\nExecution: ${executionName}`;
  const message = summarizeRequest(input.request, PARAMETER_VALUE_MAX - trailer.length) + trailer;
  const response = await ssm.send(new StartAutomationExecutionCommand({
    DocumentName: settings.documentName,
    Parameters: {
      TaskToken: splitToken(input.taskToken),
      Message: [message],
      RequestId: [input.request.requestId ?? "-"],
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
