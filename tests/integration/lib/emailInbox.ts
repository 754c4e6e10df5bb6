// The approval email as the suite receives it: an SQS queue subscribed to the stage's topic (raw
// delivery: a message's body is the email's text), so the suite opens the link an approver gets.
// An email-link link carries a one-time code that is nowhere else (not in the history, only its
// hash in the page's table), so reading the email is the only way to decide such a stage.
//
// SQS is called with its JSON protocol (AWS JSON 1.0, X-Amz-Target AmazonSQS.<Operation>;
// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/sqs-api-requests-json.html),
// signed with Signature V4 (the SDK's own signer, @smithy/signature-v4, which every @aws-sdk client
// depends on): no SQS client is among the project's dependencies.
import { SNSClient, SubscribeCommand, UnsubscribeCommand } from "@aws-sdk/client-sns";
import { SignatureV4 } from "@smithy/signature-v4";
import { PAGE_PATH } from "../../../functions/approvalLink";

/** The signing inputs of any SDK v3 client (its config resolves credentials and the SHA-256 constructor). */
export interface Signing {
  region: string;
  credentials: ConstructorParameters<typeof SignatureV4>[0]["credentials"];
  sha256: ConstructorParameters<typeof SignatureV4>[0]["sha256"];
}

/** A minimal SQS client for the JSON protocol. `endpoint` defaults to the Region's. */
export class SqsJson {
  private readonly signer: SignatureV4;
  private readonly url: URL;

  constructor(signing: Signing, endpoint = `https://sqs.${signing.region}.amazonaws.com/`) {
    this.signer = new SignatureV4({ service: "sqs", region: signing.region, credentials: signing.credentials, sha256: signing.sha256 });
    this.url = new URL(endpoint);
  }

  async call<T = Record<string, unknown>>(operation: string, input: Record<string, unknown>): Promise<T> {
    const body = JSON.stringify(input);
    const signed = await this.signer.sign({
      method: "POST",
      protocol: this.url.protocol,
      hostname: this.url.hostname,
      port: this.url.port ? Number(this.url.port) : undefined,
      path: this.url.pathname,
      query: {},
      headers: { host: this.url.host, "content-type": "application/x-amz-json-1.0", "x-amz-target": `AmazonSQS.${operation}` },
      body,
    });
    // fetch sets Host itself (to the same value).
    const { host: _host, ...headers } = signed.headers;
    const response = await fetch(this.url, { method: "POST", headers, body, signal: AbortSignal.timeout(30000) });
    const text = await response.text();
    if (!response.ok) {
      const type = response.headers.get("x-amzn-query-error") ?? (JSON.parse(text || "{}") as { __type?: string }).__type ?? "";
      throw new Error(`SQS ${operation} failed: ${response.status} ${type}`.trim());
    }
    return JSON.parse(text || "{}") as T;
  }
}

/** The queue policy that lets exactly this topic deliver to the queue (SNS to SQS, same account). */
export function inboxQueuePolicy(queueArn: string, topicArn: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [{
      Sid: "StageTopicDelivers",
      Effect: "Allow",
      Principal: { Service: "sns.amazonaws.com" },
      Action: "sqs:SendMessage",
      Resource: queueArn,
      Condition: { ArnEquals: { "aws:SourceArn": topicArn } },
    }],
  });
}

/**
 * The approval link of an email-link email for `executionName`, as the page will take it: the last
 * `<pageUrl>?c=<code>` of a message that names the execution. Reminders (no link) and emails of
 * other executions give undefined.
 */
export function codeLinkInEmail(message: string, pageUrl: string, executionName: string): string | undefined {
  if (!message.split("\n").includes(`Execution: ${executionName}`)) return undefined;
  const base = pageUrl.endsWith(PAGE_PATH) ? pageUrl : `${pageUrl}${PAGE_PATH}`;
  const escaped = base.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  const links = [...message.matchAll(new RegExp(`${escaped}\\?c=([A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])`, "g"))];
  return links.length > 0 ? links[links.length - 1][0] : undefined;
}

/** An SQS queue subscribed to one topic; `close` unsubscribes and deletes it. */
export class EmailInbox {
  private constructor(private readonly sqs: SqsJson, private readonly sns: SNSClient, readonly queueUrl: string, readonly subscriptionArn: string) {}

  static async open(args: { signing: Signing; account: string; topicArn: string; queueName: string; sns: SNSClient }): Promise<EmailInbox> {
    const { signing, account, topicArn, queueName, sns } = args;
    const sqs = new SqsJson(signing);
    const partition = topicArn.split(":")[1];
    const queueArn = `arn:${partition}:sqs:${signing.region}:${account}:${queueName}`;
    const { QueueUrl: queueUrl } = await sqs.call<{ QueueUrl?: string }>("CreateQueue", { QueueName: queueName, Attributes: { Policy: inboxQueuePolicy(queueArn, topicArn), MessageRetentionPeriod: "3600" } });
    if (!queueUrl) throw new Error("SQS CreateQueue returned no QueueUrl");
    try {
      // Same account: SNS confirms an SQS subscription at once (ReturnSubscriptionArn gives its ARN).
      const { SubscriptionArn: subscriptionArn } = await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: "sqs", Endpoint: queueArn, Attributes: { RawMessageDelivery: "true" }, ReturnSubscriptionArn: true }));
      if (!subscriptionArn || !subscriptionArn.startsWith("arn:")) throw new Error(`SNS Subscribe returned ${subscriptionArn ?? "no subscription"}`);
      return new EmailInbox(sqs, sns, queueUrl, subscriptionArn);
    } catch (error) {
      await sqs.call("DeleteQueue", { QueueUrl: queueUrl }).catch(() => undefined);
      throw error;
    }
  }

  /** The bodies of the messages that arrived (long poll up to `waitSeconds`); each is deleted once read. */
  async receive(waitSeconds = 10): Promise<string[]> {
    const { Messages: messages = [] } = await this.sqs.call<{ Messages?: Array<{ Body?: string; ReceiptHandle?: string }> }>("ReceiveMessage", { QueueUrl: this.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: waitSeconds });
    for (const message of messages) {
      if (message.ReceiptHandle) await this.sqs.call("DeleteMessage", { QueueUrl: this.queueUrl, ReceiptHandle: message.ReceiptHandle });
    }
    return messages.map((message) => message.Body ?? "");
  }

  async close(): Promise<void> {
    await this.sns.send(new UnsubscribeCommand({ SubscriptionArn: this.subscriptionArn }));
    await this.sqs.call("DeleteQueue", { QueueUrl: this.queueUrl });
  }
}
