// The sns-callback mechanism: Step Functions publishes the approval email itself
// (sns:publish.waitForTaskToken, no Lambda on the send path); the link carries the token in
// base64url (States.Base64Encode's '+', '/' and '=' would break it) and opens the approval page.
// Flow and diagram: docs/mechanisms/sns-callback.md.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { Mechanism } from "../../functions/contract";
import { ApprovalStage, ApprovalTaskState } from "./base";
import { TaskStateOptions, snsCallbackTaskStates } from "../workflow/asl";
import { EmailApprovalArgs, approverTopic } from "./emailLink";
import { stageStackOutput } from "./callbackStage";

export class SnsCallbackApproval extends pulumi.ComponentResource implements ApprovalStage {
  readonly stage: string;
  readonly mechanism: Mechanism = "sns-callback";
  readonly maxWaitSeconds: number;
  readonly topic: aws.sns.Topic;
  readonly reminderTopicArn?: pulumi.Output<string>;
  readonly stackOutput: pulumi.Output<Record<string, string>>;
  private readonly approvalPageUrl: pulumi.Input<string>;

  constructor(name: string, args: EmailApprovalArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sfn-approvals:index:SnsCallbackApproval", name, {}, opts);
    this.stage = args.stage;
    this.maxWaitSeconds = args.timeoutSeconds;
    this.approvalPageUrl = args.approvalPageUrl;
    this.topic = approverTopic("SnsCallbackApproval", name, args, this);
    // Reminders go to the approvers, who hold the approval link.
    this.reminderTopicArn = this.topic.arn;
    this.stackOutput = stageStackOutput({ topicArn: this.topic.arn, approvalPageUrl: args.approvalPageUrl });
    this.registerOutputs({ topicArn: this.topic.arn });
  }

  taskState(options: TaskStateOptions): ApprovalTaskState {
    return {
      states: pulumi.all([this.topic.arn, this.approvalPageUrl]).apply(([topicArn, pageUrl]) =>
        snsCallbackTaskStates({
          options,
          topicArn,
          pageUrl,
          stage: this.stage,
          timeoutSeconds: this.maxWaitSeconds,
        }),
      ),
      statements: pulumi.output([
        {
          Sid: `PublishApprovalEmail${this.stage.replace(/[^a-z0-9]/gi, "")}`,
          Effect: "Allow" as const,
          Action: ["sns:Publish"],
          Resource: [this.topic.arn],
        },
      ]),
    };
  }

  /** The decision comes from the ApprovalPage, which holds its own rights on the state machine. */
  grantTaskResponse(): void {
    // Nothing to grant here: the page's function may answer tasks of the workflow's state machine.
  }
}
