// Delivery of decision events to a result function so that no decision is lost silently:
// EventBridge retries for a day and dead-letters what it cannot deliver; the function's own
// failures (a bad event, a refused decision, SendTaskSuccess errors) are retried twice by Lambda
// and then sent to the same queue. An alarm fires as soon as anything lands there.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { anyOccurrenceAlarm } from "./alarms";
import { ApprovalFunction } from "./approvalFunction";
import { PolicyStatement, policyDocument } from "./iam";

export const EVENT_RETRY_POLICY = { maximumRetryAttempts: 185, maximumEventAgeInSeconds: 86400 };
export const LAMBDA_ASYNC_RETRIES = 2;
export const DEAD_LETTER_RETENTION_SECONDS = 1209600; // 14 days, the SQS maximum

export class DecisionDeadLetters extends pulumi.ComponentResource {
  readonly queue: aws.sqs.Queue;
  readonly alarm: aws.cloudwatch.MetricAlarm;
  private readonly resourceName: string;

  constructor(
    name: string,
    args: { stage: string; alarmActions?: pulumi.Input<string>[] },
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super("sfn-approvals:index:DecisionDeadLetters", name, {}, opts);
    this.resourceName = name;
    this.queue = new aws.sqs.Queue(
      `${name}-dlq`,
      {
        messageRetentionSeconds: DEAD_LETTER_RETENTION_SECONDS,
        sqsManagedSseEnabled: true,
      },
      { parent: this },
    );
    this.alarm = anyOccurrenceAlarm(
      `${name}-dlq-alarm`,
      {
        description: `Approval decisions of stage ${args.stage} could not be delivered; inspect ${name}-dlq`,
        namespace: "AWS/SQS",
        metricName: "ApproximateNumberOfMessagesVisible",
        dimensions: { QueueName: this.queue.name },
        statistic: "Maximum",
        alarmActions: args.alarmActions,
      },
      { parent: this },
    );
    this.registerOutputs({ queueUrl: this.queue.url });
  }

  /** The statement a result function needs to dead-letter its own failed invocations. */
  sendStatement(): PolicyStatement {
    return {
      Sid: "DeadLetterFailedDecisions",
      Effect: "Allow",
      Action: ["sqs:SendMessage"],
      Resource: [this.queue.arn],
    };
  }

  /** Wires `rule` to `target` with retries and this queue as the dead-letter queue of both hops. */
  deliver(rule: aws.cloudwatch.EventRule, target: ApprovalFunction): void {
    const parent = { parent: this };
    const name = this.resourceName;
    new aws.sqs.QueuePolicy(
      `${name}-dlq-policy`,
      {
        queueUrl: this.queue.url,
        policy: policyDocument([
          {
            Sid: "EventBridgeDeadLetters",
            Effect: "Allow",
            Principal: { Service: "events.amazonaws.com" },
            Action: ["sqs:SendMessage"],
            Resource: [this.queue.arn],
            Condition: { ArnEquals: { "aws:SourceArn": rule.arn } },
          },
        ]),
      },
      parent,
    );
    const permission = new aws.lambda.Permission(
      `${name}-invoke`,
      {
        action: "lambda:InvokeFunction",
        function: target.function.name,
        principal: "events.amazonaws.com",
        sourceArn: rule.arn,
      },
      parent,
    );
    new aws.lambda.FunctionEventInvokeConfig(
      `${name}-async`,
      {
        functionName: target.function.name,
        maximumRetryAttempts: LAMBDA_ASYNC_RETRIES,
        destinationConfig: { onFailure: { destination: this.queue.arn } },
      },
      parent,
    );
    new aws.cloudwatch.EventTarget(
      `${name}-target`,
      {
        rule: rule.name,
        arn: target.function.arn,
        retryPolicy: EVENT_RETRY_POLICY,
        deadLetterConfig: { arn: this.queue.arn },
      },
      { parent: this, dependsOn: [permission] },
    );
  }
}
