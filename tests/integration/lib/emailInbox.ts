// The emails as the suite receives them: an SQS queue subscribed to the stage's topic (and the
// escalation topic), raw delivery, so a message's body is the email's text. The suite opens the
// link an approver gets; an email-link link carries a one-time code that is nowhere else (not in
// the history, only its hash in the page's table), so reading the email is the only way to
// decide such a stage. Same account: SNS confirms an SQS subscription at once, no click needed
// (SNS Developer Guide, "Fanout to Amazon SQS queues").
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  ReceiveMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { SNSClient, SubscribeCommand, UnsubscribeCommand } from "@aws-sdk/client-sns";
import { LINK_PARAMS, PAGE_PATH, decodeToken } from "../../../functions/mechanisms/email/approvalLink";
import { Interrupted, sleep } from "../progress";

/** The queue policy that lets exactly these topics deliver to the queue (SNS to SQS, same account). */
export function inboxQueuePolicy(queueArn: string, topicArns: string[]): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "StageTopicsDeliver",
        Effect: "Allow",
        Principal: { Service: "sns.amazonaws.com" },
        Action: "sqs:SendMessage",
        Resource: queueArn,
        Condition: { ArnEquals: { "aws:SourceArn": topicArns.length === 1 ? topicArns[0] : topicArns } },
      },
    ],
  });
}

function escaped(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

function pageBase(pageUrl: string): string {
  return pageUrl.endsWith(PAGE_PATH) ? pageUrl : `${pageUrl}${PAGE_PATH}`;
}

/** Whether the email names this execution (`Execution: <name>` on a line of its own). */
export function emailOfExecution(message: string, executionName: string): boolean {
  return message.split("\n").includes(`Execution: ${executionName}`);
}

/**
 * The approval link of an email-link email for `executionName`, as the page will take it: the last
 * `<pageUrl>?c=<code>` of a message that names the execution. Reminders (no link) and emails of
 * other executions give undefined.
 */
export function codeLinkInEmail(message: string, pageUrl: string, executionName: string): string | undefined {
  if (!emailOfExecution(message, executionName)) return undefined;
  const links = [
    ...message.matchAll(
      new RegExp(`${escaped(pageBase(pageUrl))}\\?${LINK_PARAMS.code}=([A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])`, "g"),
    ),
  ];
  return links.length > 0 ? links[links.length - 1][0] : undefined;
}

/** The approval link of an sns-callback email: the last `<pageUrl>?t=...&e=...&s=...`, with what it carries. */
export function tokenLinkInEmail(
  message: string,
  pageUrl: string,
  executionName: string,
): { link: string; token: string; executionArn: string; stage: string } | undefined {
  if (!emailOfExecution(message, executionName)) return undefined;
  const links = [
    ...message.matchAll(
      new RegExp(
        `${escaped(pageBase(pageUrl))}\\?${LINK_PARAMS.token}=[A-Za-z0-9_-]+&${LINK_PARAMS.execution}=[^&\\s]+&${LINK_PARAMS.stage}=[^&\\s]+`,
        "g",
      ),
    ),
  ];
  if (links.length === 0) return undefined;
  const link = links[links.length - 1][0];
  const params = new URL(link).searchParams;
  const token = decodeToken(params.get(LINK_PARAMS.token) ?? undefined);
  const executionArn = params.get(LINK_PARAMS.execution);
  const stage = params.get(LINK_PARAMS.stage);
  return token && executionArn && stage ? { link, token, executionArn, stage } : undefined;
}

/** A reminder of components/workflow/stageFollowUps.ts for this execution. */
export function isReminderOf(message: string, executionName: string): boolean {
  return (
    message.startsWith("Reminder: this approval request is still waiting") && emailOfExecution(message, executionName)
  );
}

/** An escalation of components/workflow/stageFollowUps.ts for this execution. */
export function isEscalationOf(message: string, executionName: string): boolean {
  return message.startsWith("Escalation: this approval request has waited") && emailOfExecution(message, executionName);
}

/**
 * An SQS queue subscribed to some topics. Every message received is kept (and deleted from the
 * queue), so the runs of one stack, which share the inbox, each find their own.
 */
export class EmailInbox {
  readonly messages: string[] = [];

  private constructor(
    private readonly sqs: SQSClient,
    private readonly sns: SNSClient,
    readonly queueUrl: string,
    readonly subscriptionArns: string[],
  ) {}

  static async open(args: {
    sqs: SQSClient;
    sns: SNSClient;
    region: string;
    partition: string;
    account: string;
    topicArns: string[];
    queueName: string;
  }): Promise<EmailInbox> {
    const { sqs, sns } = args;
    const queueArn = `arn:${args.partition}:sqs:${args.region}:${args.account}:${args.queueName}`;
    const { QueueUrl: queueUrl } = await sqs.send(
      new CreateQueueCommand({
        QueueName: args.queueName,
        Attributes: { Policy: inboxQueuePolicy(queueArn, args.topicArns), MessageRetentionPeriod: "3600" },
      }),
    );
    if (!queueUrl) throw new Error("SQS CreateQueue returned no QueueUrl");
    const subscriptions: string[] = [];
    try {
      for (const topicArn of args.topicArns) {
        // Same account: SNS confirms an SQS subscription at once (ReturnSubscriptionArn gives its ARN).
        const { SubscriptionArn: arn } = await sns.send(
          new SubscribeCommand({
            TopicArn: topicArn,
            Protocol: "sqs",
            Endpoint: queueArn,
            Attributes: { RawMessageDelivery: "true" },
            ReturnSubscriptionArn: true,
          }),
        );
        if (!arn || !arn.startsWith("arn:"))
          throw new Error(`SNS Subscribe to ${topicArn} returned ${arn ?? "no subscription"}`);
        subscriptions.push(arn);
      }
      return new EmailInbox(sqs, sns, queueUrl, subscriptions);
    } catch (error) {
      await new EmailInbox(sqs, sns, queueUrl, subscriptions).close().catch(() => undefined);
      throw error;
    }
  }

  /** Takes what arrived (long poll up to `waitSeconds`) into `messages`. */
  async receive(waitSeconds: number): Promise<void> {
    const { Messages: received = [] } = await this.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: this.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: waitSeconds }),
    );
    this.messages.push(...received.map((message) => message.Body ?? ""));
    const handles = received
      .map((message, i) => ({ Id: String(i), ReceiptHandle: message.ReceiptHandle }))
      .filter((entry) => entry.ReceiptHandle);
    if (handles.length > 0)
      await this.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: handles }));
  }

  /** The first kept message `pick` maps to a value, receiving more until one does or `timeoutMs` passed. */
  async waitFor<T>(
    pick: (message: string) => T | undefined,
    options: { timeoutMs: number; waitSeconds: number; intervalMs: number; signal: AbortSignal },
  ): Promise<T | undefined> {
    const deadline = Date.now() + options.timeoutMs;
    for (;;) {
      if (options.signal.aborted) throw new Interrupted();
      for (const message of this.messages) {
        const value = pick(message);
        if (value !== undefined) return value;
      }
      if (Date.now() >= deadline) return undefined;
      const before = this.messages.length;
      await this.receive(options.waitSeconds);
      if (this.messages.length === before && options.waitSeconds === 0) await sleep(options.intervalMs, options.signal);
    }
  }

  async close(): Promise<void> {
    for (const arn of this.subscriptionArns) await this.sns.send(new UnsubscribeCommand({ SubscriptionArn: arn }));
    await this.sqs.send(new DeleteQueueCommand({ QueueUrl: this.queueUrl }));
  }
}
