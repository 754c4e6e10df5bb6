// The start function of the email-link mechanism: invoked by the stage's
// `lambda:invoke.waitForTaskToken` Task, it stores a one-time code for the task (its hash, and the
// token sealed under it: functions/mechanisms/email/linkCodes.ts) and publishes one approval email to the stage's
// SNS topic (its subscribers are the approvers) with a link to the approval page that carries only
// that code. Opening the link decides nothing. Neither the token nor the code is ever logged.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { codeLink } from "./approvalLink";
import { executionName, parseCallbackTaskEvent } from "../../shared/callbackTask";
import { ApprovalRequest, ONE_LINE_FIELD_MAX, fitText, withoutLineBreaks } from "../../contract";
import { codeHashOf, newLinkCode, putLinkCode, sealToken } from "./linkCodes";

export interface EmailLinkSettings {
  stage: string;
  topicArn: string;
  /** The approval page, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com/decide */
  pageUrl: string;
  /** The stage's timeout: the email says until when the link works. */
  timeoutSeconds: number;
  /** The approval page's code table (ApprovalPage.linkCodes). */
  codeTable: string;
}

export interface ApprovalEmail {
  subject: string;
  message: string;
}

export const DETAILS_MAX_CHARS = 2000;

/**
 * The approval email. The sns-callback Task builds the same text in JSONata
 * (snsCallbackTaskStates in components/mechanisms/snsCallbackApproval.ts); a test holds the two to the same output.
 */
export function composeApprovalEmail(args: {
  request: ApprovalRequest;
  stage: string;
  executionArn: string;
  link: string;
  deadline: Date;
}): ApprovalEmail {
  const { request } = args;
  // One-line fields lose line breaks and control characters: a title cannot draw a fake
  // "approve here" block above the real link, which always comes last.
  const line = (label: string, value: unknown) => (value === undefined ? "" : `${label}: ${oneLine(value)}\n`);
  const parts = executionArn(args.executionArn);
  const message =
    `Approval requested: ${oneLine(request.title)}\n` +
    line("Request", request.requestId) +
    line("Requester", request.requester) +
    (typeof request.amount === "number"
      ? `Amount: ${String(request.amount)}${request.currency !== undefined ? ` ${oneLine(request.currency)}` : ""}\n`
      : "") +
    line("Link", request.link) +
    (request.details !== undefined ? `Details: ${JSON.stringify(request.details).slice(0, DETAILS_MAX_CHARS)}\n` : "") +
    `\nWorkflow: ${parts.stateMachineName}\nExecution: ${parts.name}\nStage: ${args.stage}\n` +
    `Decide by: ${args.deadline.toISOString()}\n\n` +
    `Review the request and approve or reject it here:\n${args.link}\n\n` +
    "Opening the link decides nothing: the page shows the request and asks you to press Approve or Reject. " +
    "The link stops working once someone decides or the request expires. Anyone who has this email can decide, so do not forward it.\n";
  // SNS Publish: "Subjects must be UTF-8 text with no line breaks or control characters, and less
  // than 100 characters long" (SNS API Reference, Publish); cut by code point, never mid-character.
  const subject = Array.from(`Approval needed: ${oneLine(request.title)}`)
    .slice(0, 99)
    .join("");
  return { subject, message };
}

/**
 * A request value as one line of the email (line breaks and control characters become one space, as
 * JSONATA_LINE_BREAKS does in the JSONata emails), cut to ONE_LINE_FIELD_MAX characters (contract.ts).
 */
export function oneLine(value: unknown): string {
  const text = withoutLineBreaks(String(value));
  return text === "" ? "" : fitText(text, ONE_LINE_FIELD_MAX);
}

function executionArn(arn: string): { stateMachineName: string; name: string } {
  const parts = arn.split(":");
  return { stateMachineName: parts[parts.length - 2] ?? "", name: executionName(arn) };
}

export async function sendApprovalEmail(
  event: unknown,
  settings: EmailLinkSettings,
  clients: { sns: SNSClient; dynamodb: DynamoDBClient },
  now: Date = new Date(),
): Promise<{ messageId: string }> {
  const task = parseCallbackTaskEvent(event, settings.stage);
  const deadline = new Date(now.getTime() + settings.timeoutSeconds * 1000);
  // The code is stored before the email goes out: a link in a sent email always has its item.
  const code = newLinkCode();
  await putLinkCode(clients.dynamodb, settings.codeTable, {
    codeHash: codeHashOf(code),
    sealedToken: sealToken(code, task.taskToken, settings.stage, task.executionArn),
    stage: settings.stage,
    executionArn: task.executionArn,
    createdAt: now.toISOString(),
    expiresAt: Math.ceil(deadline.getTime() / 1000),
  });
  const email = composeApprovalEmail({
    request: task.request,
    stage: settings.stage,
    executionArn: task.executionArn,
    link: codeLink(settings.pageUrl, code),
    deadline,
  });
  const result = await clients.sns.send(
    new PublishCommand({ TopicArn: settings.topicArn, Subject: email.subject, Message: email.message }),
  );
  if (!result.MessageId) throw new Error("EmailNotSent: SNS returned no MessageId");
  console.log(
    JSON.stringify({
      msg: "approval email published",
      stage: settings.stage,
      executionArn: task.executionArn,
      messageId: result.MessageId,
    }),
  );
  return { messageId: result.MessageId };
}
