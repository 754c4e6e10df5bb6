// The codepipeline mechanism: a V2 pipeline (PARALLEL mode, so no request supersedes another)
// whose manual approval action waits for the approvers. The task token waits in a DynamoDB record
// keyed by the approval (functions/mechanisms/codePipeline/tokenStore.ts); approvers may answer only
// this action. Flow and diagram: docs/mechanisms/codepipeline.md.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { Mechanism } from "../../functions/contract";
import { newCodePipelineClient, newDynamoDbClient, newSfnClient, requiredEnv } from "../../functions/shared/awsClients";
import {
  ACTION_DETAIL_TYPE,
  APPROVAL_ACTION_NAME,
  APPROVAL_STAGE_NAME,
  PIPELINE_DETAIL_TYPE,
  PIPELINE_END_STATES,
  deliverPipelineDecision,
} from "../../functions/mechanisms/codePipeline/pipelineResult";
import {
  APPROVAL_KEY_DEFAULT,
  APPROVAL_KEY_VARIABLE,
  startPipeline,
} from "../../functions/mechanisms/codePipeline/startPipeline";
import { ApprovalFunction } from "../shared/approvalFunction";
import { DecisionDeadLetters } from "../shared/decisionDeadLetters";
import { accountFacts, policyDocument, serviceTrustPolicy } from "../shared/iam";
import { LambdaCallbackApproval, LambdaCallbackStageArgs } from "./lambdaCallbackApproval";
import { stageStackOutput } from "./approvalStage";
import { emailTopic } from "../shared/topics";
import { checkedName, defaultNamePrefix } from "../shared/naming";
import { ApproverAccess, ApproverPolicyReport, createApproverPolicy, principalOf } from "../shared/principals";

/** CodePipeline's manual approval timeout: 5 minutes to 86400 minutes (CodePipeline quotas). */
export const APPROVAL_MIN_SECONDS = 5 * 60;
export const APPROVAL_MAX_SECONDS = 86400 * 60;
/** Time for a decision made just before the approval timeout to be delivered before the Task's own timeout. */
export const PIPELINE_EVENT_GRACE_SECONDS = 900;
/** Shipped in the start and result functions' archives (see bundledPackages). */
export const CODEPIPELINE_CLIENT = "@aws-sdk/client-codepipeline";
export const SOURCE_OBJECT_KEY = "request/source.zip";

export interface CodePipelineApprovalArgs extends LambdaCallbackStageArgs {
  /** IAM user or role ARNs (of the stack's account) that may approve; they get a policy allowing exactly that. */
  approvers: string[];
  /** How long the approval action waits, in seconds (300..5184000, whole minutes are used). */
  timeoutSeconds: number;
  /** Where the approver policy is attached (default: to every approver but IAM Identity Center roles). */
  approverAccess?: ApproverAccess;
}

export class CodePipelineApproval extends LambdaCallbackApproval {
  readonly stage: string;
  readonly mechanism: Mechanism = "codepipeline";
  readonly maxWaitSeconds: number;
  readonly bucket: aws.s3.Bucket;
  readonly topic: aws.sns.Topic;
  readonly reminderTopicArn?: pulumi.Output<string>;
  readonly pipelineRole: aws.iam.Role;
  readonly pipeline: aws.codepipeline.Pipeline;
  readonly tokenTable: aws.dynamodb.Table;
  readonly approverPolicy: aws.iam.Policy;
  readonly approverPolicyReport: ApproverPolicyReport;
  readonly startFunction: ApprovalFunction;
  readonly resultFunction: ApprovalFunction;
  readonly decisionRule: aws.cloudwatch.EventRule;
  readonly deadLetters: DecisionDeadLetters;
  readonly stackOutput: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: CodePipelineApprovalArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sfn-approvals:index:CodePipelineApproval", name, opts);
    if (args.approvers.length < 1) throw new Error(`CodePipelineApproval ${name}: needs at least one approver`);
    const timeoutMinutes = Math.ceil(args.timeoutSeconds / 60);
    if (timeoutMinutes * 60 < APPROVAL_MIN_SECONDS || timeoutMinutes * 60 > APPROVAL_MAX_SECONDS) {
      throw new Error(
        `CodePipelineApproval ${name}: a manual approval waits 5 to 86400 minutes, got ${args.timeoutSeconds} seconds`,
      );
    }
    args.approvers.forEach(principalOf); // a malformed ARN fails here, before any resource
    this.stage = args.stage;
    this.maxWaitSeconds = timeoutMinutes * 60 + PIPELINE_EVENT_GRACE_SECONDS;
    const parent = { parent: this };
    const { accountId, region, partition } = accountFacts(parent);
    const prefix = `${args.namePrefix ?? defaultNamePrefix()}-${args.stage}`;
    const component = `CodePipelineApproval ${name}`;
    const pipelineName = checkedName(component, "pipeline", prefix, 100);
    const pipelineArn = pulumi.interpolate`arn:${partition}:codepipeline:${region}:${accountId}:${pipelineName}`;

    // Artifact store and source: versioned (the S3 source action requires it), encrypted, private, TLS only.
    this.bucket = new aws.s3.Bucket(`${name}-artifacts`, { forceDestroy: true }, parent);
    new aws.s3.BucketVersioning(
      `${name}-artifacts-versioning`,
      {
        bucket: this.bucket.id,
        versioningConfiguration: { status: "Enabled" },
      },
      parent,
    );
    new aws.s3.BucketServerSideEncryptionConfiguration(
      `${name}-artifacts-encryption`,
      {
        bucket: this.bucket.id,
        rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: true }],
      },
      parent,
    );
    const publicAccessBlock = new aws.s3.BucketPublicAccessBlock(
      `${name}-artifacts-public-access`,
      {
        bucket: this.bucket.id,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
      parent,
    );
    new aws.s3.BucketOwnershipControls(
      `${name}-artifacts-ownership`,
      {
        bucket: this.bucket.id,
        rule: { objectOwnership: "BucketOwnerEnforced" },
      },
      parent,
    );
    new aws.s3.BucketPolicy(
      `${name}-artifacts-tls-only`,
      {
        bucket: this.bucket.id,
        policy: pulumi.jsonStringify({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "DenyInsecureTransport",
              Effect: "Deny",
              Principal: "*",
              Action: "s3:*",
              Resource: [this.bucket.arn, pulumi.interpolate`${this.bucket.arn}/*`],
              Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
          ],
        }),
      },
      { parent: this, dependsOn: [publicAccessBlock] },
    );
    // The request itself travels as pipeline variables; the source object is a fixed placeholder.
    const source = new aws.s3.BucketObjectv2(
      `${name}-source`,
      {
        bucket: this.bucket.id,
        key: SOURCE_OBJECT_KEY,
        source: new pulumi.asset.AssetArchive({
          "README.txt": new pulumi.asset.StringAsset(
            `sfn-approvals: placeholder source of the approval pipeline of stage ${args.stage}. The request is in the pipeline variables.\n`,
          ),
        }),
      },
      parent,
    );

    this.topic = emailTopic({
      resourceName: `${name}-topic`,
      subscriptionPrefix: `${name}-notify`,
      topicName: checkedName(component, "SNS topic", `${prefix}-approval`, 256),
      displayName: `Approval ${args.stage}`,
      emails: args.notify,
      parent: this,
    });
    // Reminders go to the notify addresses; without any there is nobody to remind.
    if ((args.notify ?? []).length > 0) this.reminderTopicArn = this.topic.arn;

    this.pipelineRole = new aws.iam.Role(
      `${name}-pipeline-role`,
      {
        description: `Runs the approval pipeline of stage ${args.stage}`,
        assumeRolePolicy: serviceTrustPolicy("codepipeline.amazonaws.com", {
          StringEquals: { "aws:SourceAccount": accountId },
          ArnLike: { "aws:SourceArn": pipelineArn },
        }),
      },
      parent,
    );
    // What AWS documents for this pipeline's parts, on its one bucket (source, artifact store and
    // deploy target) and its topic; the S3 statements keep AWS's aws:ResourceAccount condition.
    // CodePipeline User Guide (https://docs.aws.amazon.com/codepipeline/latest/userguide/):
    //   how-to-custom-role.html "CodePipeline service role policy" (artifact store),
    //   action-reference-S3.html#edit-role-s3source, action-reference-S3Deploy.html#edit-role-s3deploy,
    //   approvals-service-role-permissions.html (sns:Publish; AWS shows "*", here the stage's topic).
    // The VariableCheck rule of the Approval stage needs no permission (rule-reference-VariableCheck.html).
    const inThisAccount = { StringEquals: { "aws:ResourceAccount": accountId } };
    const pipelinePolicy = new aws.iam.RolePolicy(
      `${name}-pipeline-policy`,
      {
        role: this.pipelineRole.id,
        policy: policyDocument([
          // Artifact store, S3 source and S3 deploy: GetBucketVersioning, GetBucketAcl, GetBucketLocation.
          {
            Sid: "CheckBucket",
            Effect: "Allow",
            Action: ["s3:GetBucketVersioning", "s3:GetBucketAcl", "s3:GetBucketLocation"],
            Resource: [this.bucket.arn],
            Condition: inThisAccount,
          },
          // S3 source (GetObject, GetObjectVersion, Get*Tagging) and artifact store reads.
          {
            Sid: "ReadSourceAndArtifacts",
            Effect: "Allow",
            Action: ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging"],
            Resource: [pulumi.interpolate`${this.bucket.arn}/*`],
            Condition: inThisAccount,
          },
          // Artifact store writes (PutObject, PutObjectAcl, PutObjectTagging) and S3 deploy (PutObject,
          // PutObjectAcl, PutObjectVersionAcl). ACLs stay disabled (BucketOwnerEnforced), so the ACL
          // rights grant nothing beyond the owner's.
          {
            Sid: "WriteArtifactsAndRecords",
            Effect: "Allow",
            Action: ["s3:PutObject", "s3:PutObjectAcl", "s3:PutObjectVersionAcl", "s3:PutObjectTagging"],
            Resource: [pulumi.interpolate`${this.bucket.arn}/*`],
            Condition: inThisAccount,
          },
          { Sid: "NotifyApprovers", Effect: "Allow", Action: ["sns:Publish"], Resource: [this.topic.arn] },
        ]),
      },
      parent,
    );

    this.pipeline = new aws.codepipeline.Pipeline(
      `${name}-pipeline`,
      {
        name: pipelineName,
        pipelineType: "V2",
        // PARALLEL: every request runs on its own; SUPERSEDED (the V1 default) would let a
        // newer request overtake one that waits for approval, which then never gets a decision.
        executionMode: "PARALLEL",
        roleArn: this.pipelineRole.arn,
        artifactStores: [{ location: this.bucket.bucket, type: "S3" }],
        variables: [
          {
            name: APPROVAL_KEY_VARIABLE,
            defaultValue: APPROVAL_KEY_DEFAULT,
            description: "Key of the waiting task's record (set by the start function)",
          },
          { name: "RequestSummary", defaultValue: "-", description: "Summary of the request shown to approvers" },
          {
            name: "RequestLink",
            defaultValue: "https://console.aws.amazon.com/states/home",
            description: "Link to the request",
          },
          { name: "RequestId", defaultValue: "-", description: "requestId of the request" },
          { name: "ExecutionName", defaultValue: "-", description: "Name of the waiting Step Functions execution" },
        ],
        stages: [
          {
            name: "Request",
            actions: [
              {
                name: "Request",
                category: "Source",
                owner: "AWS",
                provider: "S3",
                version: "1",
                outputArtifacts: ["RequestArtifact"],
                configuration: { S3Bucket: this.bucket.bucket, S3ObjectKey: source.key, PollForSourceChanges: "false" },
              },
            ],
          },
          {
            name: APPROVAL_STAGE_NAME,
            // CodePipeline starts a run when the pipeline is created ("When a pipeline is created, a
            // pipeline execution starts automatically": CodePipeline User Guide, pipelines-about-starting.html),
            // with the default variables. That run, and any run not started with a request's key, must
            // not mail approvers: the stage is entered only when ApprovalKey is not its default, else the
            // stage (so the execution) fails and the result function logs and ignores it.
            // Stage conditions: stage-conditions.html; VariableCheck rule (category Rule, owner AWS,
            // provider VariableCheck, version 1; configuration Variable, Value, Operator EQ|CONTAINS|MATCHES|NE):
            // https://docs.aws.amazon.com/codepipeline/latest/userguide/rule-reference-VariableCheck.html
            beforeEntry: {
              condition: {
                result: "FAIL",
                rules: [
                  {
                    name: "RequestHasApprovalKey",
                    ruleTypeId: { category: "Rule", owner: "AWS", provider: "VariableCheck", version: "1" },
                    configuration: {
                      Variable: `#{variables.${APPROVAL_KEY_VARIABLE}}`,
                      Operator: "NE",
                      Value: APPROVAL_KEY_DEFAULT,
                    },
                  },
                ],
              },
            },
            actions: [
              {
                name: APPROVAL_ACTION_NAME,
                category: "Approval",
                owner: "AWS",
                provider: "Manual",
                version: "1",
                timeoutInMinutes: timeoutMinutes,
                configuration: {
                  NotificationArn: this.topic.arn,
                  CustomData: "#{variables.RequestSummary}",
                  ExternalEntityLink: "#{variables.RequestLink}",
                },
              },
            ],
          },
          {
            name: "Record",
            actions: [
              {
                name: "RecordApproval",
                category: "Deploy",
                owner: "AWS",
                provider: "S3",
                version: "1",
                inputArtifacts: ["RequestArtifact"],
                configuration: {
                  BucketName: this.bucket.bucket,
                  Extract: "false",
                  ObjectKey: "approved/#{variables.RequestId}/#{codepipeline.PipelineExecutionId}.zip",
                },
              },
            ],
          },
        ],
      },
      { parent: this, dependsOn: [pipelinePolicy, source] },
    );

    // Token records: 400 KB items (a token is at most 2 KB), encrypted, point-in-time recovery, TTL.
    this.tokenTable = new aws.dynamodb.Table(
      `${name}-tokens`,
      {
        name: checkedName(component, "DynamoDB table", `${prefix}-tokens`, 255),
        billingMode: "PAY_PER_REQUEST",
        hashKey: "approvalKey",
        attributes: [{ name: "approvalKey", type: "S" }],
        ttl: { attributeName: "expiresAt", enabled: true },
        pointInTimeRecovery: { enabled: true },
        serverSideEncryption: { enabled: true },
      },
      parent,
    );

    // Exactly the right to answer this approval action, plus reading the pipeline to find it.
    ({ policy: this.approverPolicy, report: this.approverPolicyReport } = createApproverPolicy({
      component,
      resourceName: name,
      stageArgs: args,
      description: `Approve or reject stage ${args.stage} of sfn-approvals (pipeline ${pipelineName})`,
      statements: [
        {
          Sid: "AnswerThisApproval",
          Effect: "Allow",
          Action: ["codepipeline:PutApprovalResult"],
          Resource: [pulumi.interpolate`${pipelineArn}/${APPROVAL_STAGE_NAME}/${APPROVAL_ACTION_NAME}`],
        },
        {
          Sid: "SeeThisPipeline",
          Effect: "Allow",
          Action: [
            "codepipeline:GetPipeline",
            "codepipeline:GetPipelineState",
            "codepipeline:GetPipelineExecution",
            "codepipeline:ListPipelineExecutions",
            "codepipeline:ListActionExecutions",
          ],
          Resource: [pipelineArn],
        },
      ],
      accountId,
      parent: this,
    }));

    const common = { PIPELINE_NAME: this.pipeline.name, STAGE_NAME: args.stage, TABLE_NAME: this.tokenTable.name };
    this.startFunction = new ApprovalFunction(
      `${name}-start`,
      {
        description: `sfn-approvals ${args.stage}: starts the approval pipeline for one request`,
        // variables, trigger and updatedBy are newer than the runtime's SDK is known to have (3.188.0):
        // ship the client that has them (>= 3.515.0; tests/sdkResponseFields.test.ts).
        bundledPackages: [CODEPIPELINE_CLIENT],
        callback: async (event: unknown) =>
          startPipeline(
            event,
            {
              pipelineName: requiredEnv("PIPELINE_NAME"),
              stage: requiredEnv("STAGE_NAME"),
              tableName: requiredEnv("TABLE_NAME"),
              timeoutSeconds: Number(requiredEnv("TIMEOUT_SECONDS")),
            },
            { codepipeline: newCodePipelineClient(), dynamodb: newDynamoDbClient() },
          ),
        environment: { ...common, TIMEOUT_SECONDS: String(timeoutMinutes * 60) },
        statements: [
          {
            Sid: "StartApprovalPipeline",
            Effect: "Allow",
            Action: ["codepipeline:StartPipelineExecution"],
            Resource: [pipelineArn],
          },
          {
            Sid: "RecordTaskTokens",
            Effect: "Allow",
            Action: ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"],
            Resource: [this.tokenTable.arn],
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
        description: `sfn-approvals ${args.stage}: sends the pipeline approval decision to Step Functions`,
        // variables, trigger and updatedBy are newer than the runtime's SDK is known to have (3.188.0):
        // ship the client that has them (>= 3.515.0; tests/sdkResponseFields.test.ts).
        bundledPackages: [CODEPIPELINE_CLIENT],
        callback: async (event: unknown) =>
          deliverPipelineDecision(
            event,
            {
              pipelineName: requiredEnv("PIPELINE_NAME"),
              stage: requiredEnv("STAGE_NAME"),
              tableName: requiredEnv("TABLE_NAME"),
              approvers: JSON.parse(requiredEnv("APPROVERS")) as string[],
              starterRoleArn: requiredEnv("STARTER_ROLE_ARN"),
            },
            { codepipeline: newCodePipelineClient(), dynamodb: newDynamoDbClient(), sfn: newSfnClient() },
          ),
        // Only these principals' answers count, whoever else holds PutApprovalResult; and only
        // executions the start function's role started (its ARN: account and name) carry a request.
        environment: {
          ...common,
          APPROVERS: JSON.stringify(args.approvers),
          STARTER_ROLE_ARN: this.startFunction.role.arn,
        },
        statements: [
          {
            Sid: "ReadApprovalAction",
            Effect: "Allow",
            Action: ["codepipeline:GetPipelineExecution", "codepipeline:ListActionExecutions"],
            Resource: [pipelineArn],
          },
          {
            Sid: "ReadAndCloseTaskTokens",
            Effect: "Allow",
            Action: ["dynamodb:GetItem", "dynamodb:UpdateItem"],
            Resource: [this.tokenTable.arn],
          },
          this.deadLetters.sendStatement(),
        ],
      },
      parent,
    );

    // One rule (the dead-letter set-up delivers one rule to the function), two kinds of events told
    // apart by $or inside detail: pipeline-level events have no "action" field. Operators $or,
    // anything-but and exists: EventBridge User Guide, eb-create-pattern-operators.html. Event
    // shapes and states: CodePipeline User Guide, detect-state-changes-cloudwatch-events.html.
    this.decisionRule = new aws.cloudwatch.EventRule(
      `${name}-decision-rule`,
      {
        description: `approval action of ${pipelineName} finished, or an execution of it ended without success`,
        eventPattern: pulumi.jsonStringify({
          source: ["aws.codepipeline"],
          "detail-type": [ACTION_DETAIL_TYPE, PIPELINE_DETAIL_TYPE],
          detail: {
            pipeline: [this.pipeline.name],
            $or: [
              {
                stage: [APPROVAL_STAGE_NAME],
                action: [APPROVAL_ACTION_NAME],
                type: { category: ["Approval"] },
                // Every final state (SUCCEEDED, FAILED, CANCELED, ABANDONED): only STARTED is not.
                state: [{ "anything-but": ["STARTED"] }],
              },
              {
                // An execution that ended before its approval could decide: the request fails at once instead of waiting out its timeout.
                action: [{ exists: false }],
                state: Object.keys(PIPELINE_END_STATES),
              },
            ],
          },
        }),
      },
      parent,
    );
    this.deadLetters.deliver(this.decisionRule, this.resultFunction);

    this.stackOutput = stageStackOutput({
      pipelineName: this.pipeline.name,
      approvalActionArn: pulumi.interpolate`${pipelineArn}/${APPROVAL_STAGE_NAME}/${APPROVAL_ACTION_NAME}`,
      approverPolicyArn: this.approverPolicy.arn,
      approverPolicyName: this.approverPolicyReport.policyName,
      approverPolicyPath: this.approverPolicyReport.policyPath,
      topicArn: this.topic.arn,
      artifactBucket: this.bucket.bucket,
      tokenTableName: this.tokenTable.name,
      startFunctionName: this.startFunction.function.name,
      resultFunctionName: this.resultFunction.function.name,
      deadLetterQueueUrl: this.deadLetters.queue.url,
    });
    this.registerOutputs({ stackOutput: this.stackOutput });
  }
}
