// The email-link mechanism: a Lambda emails a link to the approval page. The link carries a
// one-time code, never the task token; GET only shows the request (mail scanners decide nothing),
// POST decides. Flow and diagram: docs/mechanisms/email-link.md.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { newDynamoDbClient, newSnsClient, requiredEnv } from "../../functions/shared/awsClients";
import { Mechanism } from "../../functions/contract";
import { sendApprovalEmail } from "../../functions/mechanisms/email/emailLink";
import { ApprovalFunction } from "../shared/approvalFunction";
import type { LinkCodeTable } from "./approvalPage";
import { ApprovalStage, ApprovalTaskState, stageStackOutput } from "./approvalStage";
import { TaskStateOptions } from "../workflow/asl";
import { emailTopic } from "../shared/topics";
import { lambdaCallbackTaskState } from "./lambdaCallbackApproval";
import { checkedName, defaultNamePrefix } from "../shared/naming";

export interface EmailApprovalArgs {
  /** Stage name, ^[a-z][a-z0-9-]{0,30}$. */
  stage: string;
  /** Email addresses subscribed to the stage's topic: each gets the email, any one may decide. */
  approvers: string[];
  /** How long the stage waits for a decision, in seconds (60..31536000). */
  timeoutSeconds: number;
  /** The approval page (ApprovalPage.url). */
  approvalPageUrl: pulumi.Input<string>;
  /** email-link: the page's code table (ApprovalPage.linkCodes), where the start function stores each link's code. */
  linkCodeTable?: LinkCodeTable;
  /** Start of physical resource names; defaults to "<project>-<stack>". */
  namePrefix?: string;
}

/** Checks shared by both email mechanisms; returns the stage topic. */
export function approverTopic(
  component: string,
  name: string,
  args: EmailApprovalArgs,
  parent: pulumi.Resource,
): aws.sns.Topic {
  if (args.approvers.length < 1) throw new Error(`${component} ${name}: needs at least one approver email address`);
  if (args.timeoutSeconds < 60 || args.timeoutSeconds > 365 * 86400) {
    throw new Error(`${component} ${name}: timeout must be 60..31536000 seconds, got ${args.timeoutSeconds}`);
  }
  const prefix = `${args.namePrefix ?? defaultNamePrefix()}-${args.stage}`;
  return emailTopic({
    resourceName: `${name}-topic`,
    subscriptionPrefix: `${name}-approver`,
    topicName: checkedName(`${component} ${name}`, "SNS topic", `${prefix}-approvals`, 256),
    displayName: `Approval ${args.stage}`,
    emails: args.approvers,
    parent,
  });
}

export class EmailLinkApproval extends pulumi.ComponentResource implements ApprovalStage {
  readonly stage: string;
  readonly mechanism: Mechanism = "email-link";
  readonly maxWaitSeconds: number;
  readonly topic: aws.sns.Topic;
  readonly reminderTopicArn?: pulumi.Output<string>;
  readonly startFunction: ApprovalFunction;
  readonly stackOutput: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: EmailApprovalArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sfn-approvals:index:EmailLinkApproval", name, {}, opts);
    this.stage = args.stage;
    this.maxWaitSeconds = args.timeoutSeconds;
    if (!args.linkCodeTable)
      throw new Error(
        `EmailLinkApproval ${name}: needs the approval page's code table (linkCodeTable: ApprovalPage.linkCodes)`,
      );
    this.topic = approverTopic("EmailLinkApproval", name, args, this);
    // Reminders go to the approvers, who hold the approval link.
    this.reminderTopicArn = this.topic.arn;

    this.startFunction = new ApprovalFunction(
      `${name}-start`,
      {
        description: `sfn-approvals ${args.stage}: emails the approval link for one request`,
        callback: async (event: unknown) =>
          sendApprovalEmail(
            event,
            {
              stage: requiredEnv("STAGE_NAME"),
              topicArn: requiredEnv("TOPIC_ARN"),
              pageUrl: requiredEnv("APPROVAL_PAGE_URL"),
              timeoutSeconds: Number(requiredEnv("TIMEOUT_SECONDS")),
              codeTable: requiredEnv("CODE_TABLE_NAME"),
            },
            { sns: newSnsClient(), dynamodb: newDynamoDbClient() },
          ),
        environment: {
          STAGE_NAME: args.stage,
          TOPIC_ARN: this.topic.arn,
          APPROVAL_PAGE_URL: args.approvalPageUrl,
          TIMEOUT_SECONDS: String(args.timeoutSeconds),
          CODE_TABLE_NAME: args.linkCodeTable.name,
        },
        statements: [
          { Sid: "PublishApprovalEmail", Effect: "Allow", Action: ["sns:Publish"], Resource: [this.topic.arn] },
          // A new item per email (conditional: a code is never written twice); the function reads nothing back.
          { Sid: "StoreLinkCodes", Effect: "Allow", Action: ["dynamodb:PutItem"], Resource: [args.linkCodeTable.arn] },
        ],
      },
      { parent: this },
    );

    this.stackOutput = stageStackOutput({
      topicArn: this.topic.arn,
      approvalPageUrl: args.approvalPageUrl,
      startFunctionName: this.startFunction.function.name,
    });
    this.registerOutputs({ topicArn: this.topic.arn });
  }

  taskState(options: TaskStateOptions): ApprovalTaskState {
    return lambdaCallbackTaskState(this, options);
  }

  /** The decision comes from the ApprovalPage, which holds its own rights on the state machine. */
  grantTaskResponse(): void {
    // Nothing to grant here: the page's function may answer tasks of the workflow's state machine.
  }
}
