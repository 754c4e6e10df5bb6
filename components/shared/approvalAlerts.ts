// The operators' topic: alarms of every stage (undeliverable decisions) and of the workflow
// (failed executions) publish here; `alertEmails` are subscribed.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { emailTopic } from "./topics";
import { checkedName, defaultNamePrefix } from "./naming";

export interface ApprovalAlertsArgs {
  emails: string[];
  namePrefix?: string;
}

export class ApprovalAlerts extends pulumi.ComponentResource {
  readonly topic: aws.sns.Topic;

  constructor(name: string, args: ApprovalAlertsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sfn-approvals:index:ApprovalAlerts", name, {}, opts);
    const prefix = args.namePrefix ?? defaultNamePrefix();
    this.topic = emailTopic({
      resourceName: `${name}-topic`,
      subscriptionPrefix: name,
      topicName: checkedName("ApprovalAlerts", "SNS topic", `${prefix}-alerts`, 256),
      displayName: "Approval alerts",
      emails: args.emails,
      parent: this,
    });
    if (args.emails.length === 0) {
      pulumi.log.warn(
        "sfn-approvals:alertEmails is not set: alarms for undeliverable decisions and failed executions go to the alerts topic, which nobody is subscribed to.",
        this,
      );
    }
    this.registerOutputs({ topicArn: this.topic.arn });
  }
}
