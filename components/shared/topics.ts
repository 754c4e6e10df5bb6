// An SNS topic with email subscriptions. Subscriptions are keyed by address, so removing one
// address leaves the other (already confirmed) subscriptions alone.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { emailSuffix } from "./naming";

export function emailTopic(args: {
  /** Pulumi name of the topic; subscriptions are named `${subscriptionPrefix}-${address}`. */
  resourceName: string;
  subscriptionPrefix: string;
  topicName: string;
  displayName: string;
  emails: string[];
  parent: pulumi.Resource;
  /** Where the topic and its subscriptions were parented before (their state stays theirs). */
  formerParent?: pulumi.Resource;
}): aws.sns.Topic {
  const opts: pulumi.CustomResourceOptions = {
    parent: args.parent,
    ...(args.formerParent ? { aliases: [{ parent: args.formerParent }] } : {}),
  };
  const topic = new aws.sns.Topic(args.resourceName, { name: args.topicName, displayName: args.displayName }, opts);
  for (const email of args.emails) {
    new aws.sns.TopicSubscription(
      `${args.subscriptionPrefix}-${emailSuffix(email)}`,
      { topic: topic.arn, protocol: "email", endpoint: email },
      opts,
    );
  }
  return topic;
}
