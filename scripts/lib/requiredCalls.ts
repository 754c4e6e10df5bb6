// The AWS calls each principal of a deployed stack must be allowed to make: one table (CALLS), each
// row next to the SDK command the code sends or the page that says AWS makes the call. Judged
// offline by tests/iamSimulation.test.ts (iam-simulate over the Service Authorization Reference,
// under mocks) and live by `npm run doctor` (iam:SimulatePrincipalPolicy); both name each row's
// resources from Facts they build their own way.
import { auditRecordKey } from "../../functions/auditRecord";
import { Mechanism, stageStateName } from "../../functions/contract";

/* eslint-disable @typescript-eslint/no-explicit-any -- stage outputs and ASL states are JSON of many shapes; the rows read them as they are */

const SSM_AUTOMATION_ID = "4a5b6c7d-1234-4f00-9abc-0123456789ab";
const PIPELINE_EXECUTION_ID = "0b1c2d3e-5678-4abc-8def-0123456789ab";
export const EXECUTION_NAME = "0a6f1e2d-approval";

/** What a row needs to name the resources of one request. */
export interface Facts {
  stack: string;
  /** The stack's account and an ARN of its Region and account. */
  account: string;
  arn: (service: string, resource: string) => string;
  /** The ARN of a resource of the run by its Pulumi name (e.g. "approvals-state-machine"). */
  arnOf: (pulumiName: string) => string;
  stateMachineArn: string;
  executionArn: string;
  /** The stage's stack output (name, mechanism, approvers and what its mechanism adds). */
  stage: Record<string, any>;
  /** The Lambda function the row is about ("every function" rows) or the stage's functions. */
  fn: LambdaFacts;
  start: LambdaFacts;
  result: LambdaFacts;
  page: LambdaFacts;
  deadLetterQueueArn: string;
  decisionRuleArn: string;
  pipelineArn: string;
  bucketArn: string;
  sourceKey: string;
  tableArn: string;
  /** A Task state of the definition (rows with `task`). */
  task: Record<string, any>;
  /** The execution data key (components/workflow/executionDataKey.ts) and who runs `pulumi up` (under mocks: getCallerIdentity's user). */
  keyArn: string;
  deployer: string;
  /** sfn-approvals:executionDataReaders of the stack's config. */
  readers: string[];
  /** The approval page's link-code table and its HTTP API's id (email-link and sns-callback stacks). */
  linkCodeTableArn: string;
  apiId: string;
  /** The decision record's bucket (components/audit/auditStore.ts); "" when the stack keeps none. */
  auditBucketArn: string;
  /** A slack stage's secret, request table, interaction and follow-up functions (absent when not known). */
  slack?: SlackFacts;
}

export interface SlackFacts {
  secretArn: string;
  requestTableArn: string;
  interaction: LambdaFacts;
  followUp: LambdaFacts;
}

export interface LambdaFacts {
  arn: string;
  roleArn: string;
  logGroupArn: string;
}

export type Part = Mechanism | "workflow" | "approval page" | "every function";
export type Who =
  | "start function"
  | "result function"
  | "page function"
  | "interaction function"
  | "follow-up function"
  | "function"
  | "automation role"
  | "pipeline role"
  | "state machine"
  | "approvers"
  | "deployer"
  | "operators"
  | `service ${string}`;

export interface Call {
  part: Part;
  who: Who;
  /** The SDK command the code sends, or what AWS does on the principal's behalf. */
  sends: string;
  /** Where: the file that sends it, or the page that says AWS makes the call. */
  in: string;
  action: string;
  /** The ARNs the request is authorized against: one per resource type the reference requires ("*" when it lists none). */
  resources: (f: Facts) => string[];
  context?: (f: Facts) => Record<string, string | string[]>;
  /** A Task row: applies to each Task state whose Resource matches (f.task is the state). */
  task?: RegExp;
}

const sourceOf = (f: Facts) => ({ "aws:SourceAccount": f.account, "aws:SourceArn": f.decisionRuleArn });
// The artifact bucket's policy denies requests without TLS; CodePipeline calls S3 over TLS.
const tls = () => ({ "aws:SecureTransport": "true" });
const CP_DOCS =
  "codepipeline/latest/userguide/how-to-custom-role.html, action-reference-S3.html, action-reference-S3Deploy.html";
/**
 * The execution data key (issue 11, defect 12; components/workflow/executionDataKey.ts cites the evidence). Step
 * Functions calls KMS with the encryption context aws:states:stateMachineArn (definition, history)
 * or aws:states:activityArn (activity inputs), valued with the resource's ARN
 * (step-functions/latest/dg/encryption-at-rest.html); the key policy names every principal.
 */
const SFN_KMS_DOCS =
  "step-functions/latest/dg/encryption-at-rest.html; aws-cdk-lib aws-stepfunctions state-machine.ts, activity.ts";
/** A slack stage's facts; rows of slack stages need them. */
const slackOf = (f: Facts): SlackFacts => {
  if (!f.slack)
    throw new Error(`the slack stage ${f.stage.name}'s secret, request table and interaction function are unknown`);
  return f.slack;
};
/** The id of a slack stage's HTTP API, from its Interactivity Request URL (https://<id>.execute-api.…). */
const slackApiId = (f: Facts): string => {
  const id = /^https:\/\/([^.]+)\.execute-api\./.exec(String(f.stage.interactivityUrl))?.[1];
  if (!id) throw new Error(`the slack stage ${f.stage.name}'s interactivityUrl names no HTTP API`);
  return id;
};
const executionData = (f: Facts) => ({ "kms:EncryptionContext:aws:states:stateMachineArn": f.stateMachineArn });
const activityInputs = (f: Facts) => ({ "kms:EncryptionContext:aws:states:activityArn": f.stage.activityArn });
/** An object the source action writes to the artifact store (<pipeline name, 20 characters>/<artifact, 10>/<random>). */
const artifactObject = (f: Facts) => [`${f.bucketArn}/${f.stage.pipelineName.slice(0, 20)}/RequestArt/Ab3dE9x`];

/**
 * Every AWS call each principal must make. To add one (for example the KMS calls of defect 12), append
 * a row next to the others of its principal:
 *   { part: "workflow", who: "state machine", sends: "Step Functions encrypts execution data (encryptionConfiguration)",
 *     in: "components/workflow/approvalWorkflow.ts", action: "kms:GenerateDataKey", resources: (f) => [f.arnOf("<the key's Pulumi name>")] },
 * (under mocks a key needs an ARN of the reference's `key` type: a case for aws:kms/key:Key in
 * fakeState of tests/helpers/pulumiMocks.ts, arn:aws:kms:<region>:<account>:key/<id>).
 * `resources` returns every ARN the request is authorized against (one per resource type the
 * reference requires for the action); a resource policy of that ARN (a key policy, a queue policy)
 * is found by collectPolicies and evaluated with it. `who: "service <principal>"` is an AWS service
 * acting under a resource or trust policy; `context` supplies the condition keys AWS sets.
 */
export const CALLS: Call[] = [
  // ---- ssm-automation --------------------------------------------------------------------------
  // Required resource types: document and automation-execution; automation-definition optional
  // (iam-data data/actions/ssm.json; https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssystemsmanager.html).
  // The definition's version as in AWS's sample step-status event (tests/ssmHandlers.test.ts): 1.
  {
    part: "ssm-automation",
    who: "start function",
    sends: "StartAutomationExecutionCommand",
    in: "functions/mechanisms/ssmAutomation/startAutomation.ts",
    action: "ssm:StartAutomationExecution",
    resources: (f) => [
      f.arn("ssm", `document/${f.stage.documentName}`),
      f.arn("ssm", `automation-definition/${f.stage.documentName}:1`),
      f.arn("ssm", `automation-execution/${SSM_AUTOMATION_ID}`),
    ],
  },
  // The runbook's assumeRole is passed to SSM when the automation starts.
  {
    part: "ssm-automation",
    who: "start function",
    sends: "StartAutomationExecutionCommand",
    in: "functions/mechanisms/ssmAutomation/startAutomation.ts",
    action: "iam:PassRole",
    resources: (f) => [f.stage.automationRoleArn],
    context: () => ({ "iam:PassedToService": "ssm.amazonaws.com" }),
  },
  {
    part: "ssm-automation",
    who: "service ssm.amazonaws.com",
    sends: "runs the runbook as its assumeRole",
    in: "components/mechanisms/ssmAutomationApproval.ts",
    action: "sts:AssumeRole",
    resources: (f) => [f.stage.automationRoleArn],
    context: (f) => ({
      "aws:SourceAccount": f.account,
      "aws:SourceArn": f.arn("ssm", `automation-execution/${SSM_AUTOMATION_ID}`),
    }),
  },
  {
    part: "ssm-automation",
    who: "automation role",
    sends: "aws:approve publishes the request (NotificationArn)",
    in: "components/mechanisms/ssmAutomationApproval.ts",
    action: "sns:Publish",
    resources: (f) => [f.stage.topicArn],
  },
  {
    part: "ssm-automation",
    who: "service events.amazonaws.com",
    sends: "EventBridge rule target invokes the result function",
    in: "components/shared/decisionDeadLetters.ts",
    action: "lambda:InvokeFunction",
    resources: (f) => [f.result.arn],
    context: sourceOf,
  },
  {
    part: "ssm-automation",
    who: "service events.amazonaws.com",
    sends: "EventBridge dead-letters an undeliverable event",
    in: "components/shared/decisionDeadLetters.ts",
    action: "sqs:SendMessage",
    resources: (f) => [f.deadLetterQueueArn],
    context: sourceOf,
  },
  {
    part: "ssm-automation",
    who: "result function",
    sends: "GetAutomationExecutionCommand",
    in: "functions/mechanisms/ssmAutomation/automationResult.ts",
    action: "ssm:GetAutomationExecution",
    resources: (f) => [f.arn("ssm", `automation-execution/${SSM_AUTOMATION_ID}`)],
  },
  {
    part: "ssm-automation",
    who: "result function",
    sends: "SendTaskSuccessCommand",
    in: "functions/mechanisms/ssmAutomation/automationResult.ts",
    action: "states:SendTaskSuccess",
    resources: (f) => [f.stateMachineArn],
  },
  {
    part: "ssm-automation",
    who: "result function",
    sends: "SendTaskFailureCommand",
    in: "functions/mechanisms/ssmAutomation/automationResult.ts",
    action: "states:SendTaskFailure",
    resources: (f) => [f.stateMachineArn],
  },
  // Lambda sends a failed asynchronous invocation to the on-failure destination with the function's role.
  {
    part: "ssm-automation",
    who: "result function",
    sends: "Lambda on-failure destination (FunctionEventInvokeConfig)",
    in: "components/shared/decisionDeadLetters.ts",
    action: "sqs:SendMessage",
    resources: (f) => [f.deadLetterQueueArn],
  },

  // ---- codepipeline ----------------------------------------------------------------------------
  {
    part: "codepipeline",
    who: "start function",
    sends: "PutItemCommand",
    in: "functions/mechanisms/codePipeline/tokenStore.ts",
    action: "dynamodb:PutItem",
    resources: (f) => [f.tableArn],
  },
  {
    part: "codepipeline",
    who: "start function",
    sends: "GetItemCommand",
    in: "functions/mechanisms/codePipeline/tokenStore.ts",
    action: "dynamodb:GetItem",
    resources: (f) => [f.tableArn],
  },
  {
    part: "codepipeline",
    who: "start function",
    sends: "UpdateItemCommand",
    in: "functions/mechanisms/codePipeline/tokenStore.ts",
    action: "dynamodb:UpdateItem",
    resources: (f) => [f.tableArn],
  }, // bindPipelineExecution
  {
    part: "codepipeline",
    who: "start function",
    sends: "StartPipelineExecutionCommand",
    in: "functions/mechanisms/codePipeline/startPipeline.ts",
    action: "codepipeline:StartPipelineExecution",
    resources: (f) => [f.pipelineArn],
  },
  {
    part: "codepipeline",
    who: "service codepipeline.amazonaws.com",
    sends: "runs the pipeline as its service role",
    in: "components/mechanisms/codePipelineApproval.ts",
    action: "sts:AssumeRole",
    resources: (f) => [f.stage.pipelineRoleArn],
    context: (f) => ({ "aws:SourceAccount": f.account, "aws:SourceArn": f.pipelineArn }),
  },
  // The pipeline role on its one bucket (source, artifact store and deploy target), as the CodePipeline
  // User Guide lists them: the artifact store in how-to-custom-role.html ("CodePipeline service role
  // policy"), the S3 source action in action-reference-S3.html#edit-role-s3source, the S3 deploy action
  // in action-reference-S3Deploy.html#edit-role-s3deploy. CodePipeline calls S3 over TLS (the bucket's
  // policy denies anything else).
  ...["s3:GetBucketVersioning", "s3:GetBucketAcl", "s3:GetBucketLocation"].map((action): Call => ({
    part: "codepipeline",
    who: "pipeline role",
    sends: "S3 source action and artifact store: the bucket",
    in: CP_DOCS,
    action,
    resources: (f) => [f.bucketArn],
    context: tls,
  })),
  ...["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging"].map(
    (action): Call => ({
      part: "codepipeline",
      who: "pipeline role",
      sends: "S3 source action reads the source object",
      in: CP_DOCS,
      action,
      resources: (f) => [`${f.bucketArn}/${f.sourceKey}`],
      context: tls,
    }),
  ),
  ...["s3:PutObject", "s3:PutObjectAcl", "s3:PutObjectTagging"].map((action): Call => ({
    part: "codepipeline",
    who: "pipeline role",
    sends: "the source action writes RequestArtifact to the artifact store",
    in: CP_DOCS,
    action,
    resources: artifactObject,
    context: tls,
  })),
  ...["s3:GetObject", "s3:GetObjectVersion"].map((action): Call => ({
    part: "codepipeline",
    who: "pipeline role",
    sends: "the S3 deploy action reads RequestArtifact from the artifact store",
    in: CP_DOCS,
    action,
    resources: artifactObject,
    context: tls,
  })),
  ...["s3:PutObject", "s3:PutObjectAcl", "s3:PutObjectVersionAcl"].map((action): Call => ({
    part: "codepipeline",
    who: "pipeline role",
    sends: "the S3 deploy action writes approved/<RequestId>/<execution>.zip",
    in: CP_DOCS,
    action,
    resources: (f) => [`${f.bucketArn}/approved/ER98765/${PIPELINE_EXECUTION_ID}.zip`],
    context: tls,
  })),
  {
    part: "codepipeline",
    who: "pipeline role",
    sends: "manual approval notification (NotificationArn)",
    in: "codepipeline/latest/userguide/approvals-service-role-permissions.html",
    action: "sns:Publish",
    resources: (f) => [f.stage.topicArn],
  },
  {
    part: "codepipeline",
    who: "service events.amazonaws.com",
    sends: "EventBridge rule target invokes the result function",
    in: "components/shared/decisionDeadLetters.ts",
    action: "lambda:InvokeFunction",
    resources: (f) => [f.result.arn],
    context: sourceOf,
  },
  {
    part: "codepipeline",
    who: "service events.amazonaws.com",
    sends: "EventBridge dead-letters an undeliverable event",
    in: "components/shared/decisionDeadLetters.ts",
    action: "sqs:SendMessage",
    resources: (f) => [f.deadLetterQueueArn],
    context: sourceOf,
  },
  {
    part: "codepipeline",
    who: "result function",
    sends: "GetPipelineExecutionCommand",
    in: "functions/mechanisms/codePipeline/pipelineResult.ts",
    action: "codepipeline:GetPipelineExecution",
    resources: (f) => [f.pipelineArn],
  },
  {
    part: "codepipeline",
    who: "result function",
    sends: "ListActionExecutionsCommand",
    in: "functions/mechanisms/codePipeline/pipelineResult.ts",
    action: "codepipeline:ListActionExecutions",
    resources: (f) => [f.pipelineArn],
  },
  {
    part: "codepipeline",
    who: "result function",
    sends: "GetItemCommand",
    in: "functions/mechanisms/codePipeline/tokenStore.ts",
    action: "dynamodb:GetItem",
    resources: (f) => [f.tableArn],
  },
  {
    part: "codepipeline",
    who: "result function",
    sends: "UpdateItemCommand",
    in: "functions/mechanisms/codePipeline/tokenStore.ts",
    action: "dynamodb:UpdateItem",
    resources: (f) => [f.tableArn],
  },
  {
    part: "codepipeline",
    who: "result function",
    sends: "SendTaskSuccessCommand",
    in: "functions/mechanisms/codePipeline/pipelineResult.ts",
    action: "states:SendTaskSuccess",
    resources: (f) => [f.stateMachineArn],
  },
  {
    part: "codepipeline",
    who: "result function",
    sends: "SendTaskFailureCommand",
    in: "functions/mechanisms/codePipeline/pipelineResult.ts",
    action: "states:SendTaskFailure",
    resources: (f) => [f.stateMachineArn],
  },
  {
    part: "codepipeline",
    who: "result function",
    sends: "Lambda on-failure destination (FunctionEventInvokeConfig)",
    in: "components/shared/decisionDeadLetters.ts",
    action: "sqs:SendMessage",
    resources: (f) => [f.deadLetterQueueArn],
  },
  // Approvers: docs/mechanisms/codepipeline.md's CLI (list-action-executions, put-approval-result) and the console's pipeline pages.
  {
    part: "codepipeline",
    who: "approvers",
    sends: "aws codepipeline put-approval-result",
    in: "README.md (Approving (codepipeline))",
    action: "codepipeline:PutApprovalResult",
    resources: (f) => [f.stage.approvalActionArn],
  },
  {
    part: "codepipeline",
    who: "approvers",
    sends: "aws codepipeline list-action-executions",
    in: "README.md (Approving (codepipeline))",
    action: "codepipeline:ListActionExecutions",
    resources: (f) => [f.pipelineArn],
  },
  {
    part: "codepipeline",
    who: "approvers",
    sends: "console: pipeline page",
    in: "README.md (Approving (codepipeline))",
    action: "codepipeline:GetPipeline",
    resources: (f) => [f.pipelineArn],
  },
  {
    part: "codepipeline",
    who: "approvers",
    sends: "console: pipeline page",
    in: "README.md (Approving (codepipeline))",
    action: "codepipeline:GetPipelineState",
    resources: (f) => [f.pipelineArn],
  },
  {
    part: "codepipeline",
    who: "approvers",
    sends: "console: execution history",
    in: "README.md (Approving (codepipeline))",
    action: "codepipeline:ListPipelineExecutions",
    resources: (f) => [f.pipelineArn],
  },
  {
    part: "codepipeline",
    who: "approvers",
    sends: "console: an execution",
    in: "README.md (Approving (codepipeline))",
    action: "codepipeline:GetPipelineExecution",
    resources: (f) => [f.pipelineArn],
  },

  // ---- activity: the approvers' worker (the state machine's activity Task is a Task row below) ----
  // "No permissions are required to perform this operation": https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html
  {
    part: "activity",
    who: "approvers",
    sends: "GetCallerIdentityCommand",
    in: "scripts/lib/approvalWorker.ts",
    action: "sts:GetCallerIdentity",
    resources: () => ["*"],
  },
  {
    part: "activity",
    who: "approvers",
    sends: "GetActivityTaskCommand",
    in: "scripts/lib/approvalWorker.ts",
    action: "states:GetActivityTask",
    resources: (f) => [f.stage.activityArn],
  },
  {
    part: "activity",
    who: "approvers",
    sends: "SendTaskHeartbeatCommand",
    in: "scripts/lib/approvalWorker.ts",
    action: "states:SendTaskHeartbeat",
    resources: (f) => [f.stage.activityArn],
  },
  {
    part: "activity",
    who: "approvers",
    sends: "SendTaskSuccessCommand",
    in: "scripts/lib/approvalWorker.ts",
    action: "states:SendTaskSuccess",
    resources: (f) => [f.stage.activityArn],
  },
  {
    part: "activity",
    who: "approvers",
    sends: "SendTaskFailureCommand",
    in: "scripts/lib/approvalWorker.ts",
    action: "states:SendTaskFailure",
    resources: (f) => [f.stage.activityArn],
  },
  // The activity's task inputs are encrypted with the execution data key: the worker's GetActivityTask
  // decrypts with the caller's rights (GetActivityTask lists KmsAccessDeniedException: "Either your KMS
  // key policy or API caller does not have the required permissions"). SendTask* need none (their
  // output is encrypted "using the KMS key for the execution role", SendTaskFailure API reference).
  {
    part: "activity",
    who: "approvers",
    sends: "GetActivityTaskCommand (Step Functions decrypts the task input)",
    in: SFN_KMS_DOCS,
    action: "kms:Decrypt",
    resources: (f) => [f.keyArn],
    context: activityInputs,
  },
  // The state machine encrypts the task input it schedules (the execution role, and Step Functions itself as AWS CDK grants it).
  ...["kms:GenerateDataKey", "kms:Decrypt"].flatMap((action): Call[] => [
    {
      part: "activity",
      who: "state machine",
      sends: "the activity Task schedules an encrypted task input",
      in: SFN_KMS_DOCS,
      action,
      resources: (f) => [f.keyArn],
      context: activityInputs,
    },
    {
      part: "activity",
      who: "service states.amazonaws.com",
      sends: "Step Functions encrypts the activity's task input",
      in: SFN_KMS_DOCS,
      action,
      resources: (f) => [f.keyArn],
      context: activityInputs,
    },
    {
      part: "activity",
      who: "deployer",
      sends: "CreateActivity with encryptionConfiguration (pulumi up)",
      in: "components/mechanisms/activityApproval.ts",
      action,
      resources: (f) => [f.keyArn],
      context: activityInputs,
    },
  ]),

  // ---- email-link (the page that decides is "approval page" below) -------------------------------
  {
    part: "email-link",
    who: "start function",
    sends: "PublishCommand",
    in: "functions/mechanisms/email/emailLink.ts",
    action: "sns:Publish",
    resources: (f) => [f.stage.topicArn],
  },
  // The link's one-time code: written by the start function, read and claimed by the page, in the page's table.
  {
    part: "email-link",
    who: "start function",
    sends: "PutItemCommand",
    in: "functions/mechanisms/email/linkCodes.ts",
    action: "dynamodb:PutItem",
    resources: (f) => [f.linkCodeTableArn],
  },
  {
    part: "email-link",
    who: "page function",
    sends: "GetItemCommand",
    in: "functions/mechanisms/email/linkCodes.ts",
    action: "dynamodb:GetItem",
    resources: (f) => [f.linkCodeTableArn],
  },
  {
    part: "email-link",
    who: "page function",
    sends: "UpdateItemCommand",
    in: "functions/mechanisms/email/linkCodes.ts",
    action: "dynamodb:UpdateItem",
    resources: (f) => [f.linkCodeTableArn],
  },

  // ---- the approval page (email-link and sns-callback) ------------------------------------------
  {
    part: "approval page",
    who: "service apigateway.amazonaws.com",
    sends: "GET /decide invokes the page function",
    in: "components/mechanisms/approvalPage.ts",
    action: "lambda:InvokeFunction",
    resources: (f) => [f.page.arn],
    context: (f) => ({
      "aws:SourceAccount": f.account,
      "aws:SourceArn": f.arn("execute-api", `${f.apiId}/$default/GET/decide`),
    }),
  },
  {
    part: "approval page",
    who: "service apigateway.amazonaws.com",
    sends: "POST /decide invokes the page function",
    in: "components/mechanisms/approvalPage.ts",
    action: "lambda:InvokeFunction",
    resources: (f) => [f.page.arn],
    context: (f) => ({
      "aws:SourceAccount": f.account,
      "aws:SourceArn": f.arn("execute-api", `${f.apiId}/$default/POST/decide`),
    }),
  },
  {
    part: "approval page",
    who: "page function",
    sends: "GetExecutionHistoryCommand",
    in: "functions/mechanisms/email/approvalPage.ts",
    action: "states:GetExecutionHistory",
    resources: (f) => [f.executionArn],
  },
  {
    part: "approval page",
    who: "page function",
    sends: "DescribeExecutionCommand",
    in: "functions/mechanisms/email/approvalPage.ts",
    action: "states:DescribeExecution",
    resources: (f) => [f.executionArn],
  },
  {
    part: "approval page",
    who: "page function",
    sends: "SendTaskHeartbeatCommand",
    in: "functions/mechanisms/email/approvalPage.ts",
    action: "states:SendTaskHeartbeat",
    resources: (f) => [f.stateMachineArn],
  },
  {
    part: "approval page",
    who: "page function",
    sends: "SendTaskSuccessCommand",
    in: "functions/mechanisms/email/approvalPage.ts",
    action: "states:SendTaskSuccess",
    resources: (f) => [f.stateMachineArn],
  },
  // DescribeExecution (the request) and GetExecutionHistory with execution data (the token's task)
  // decrypt with the caller's rights ("callers must have kms:Decrypt permission", DescribeExecution API reference).
  {
    part: "approval page",
    who: "page function",
    sends: "DescribeExecution / GetExecutionHistory of an encrypted execution",
    in: SFN_KMS_DOCS,
    action: "kms:Decrypt",
    resources: (f) => [f.keyArn],
    context: executionData,
  },

  // ---- slack: the start function posts the request, the interaction function counts the clicks ----
  // GetSecretValue: reference secretsmanager.json, resource type Secret (required); the request
  // table: dynamodb.json, resource type table. The decision (a rejection too) is SendTaskSuccess.
  ...(["start function", "interaction function", "follow-up function"] as const).map((who): Call => ({
    part: "slack",
    who,
    sends: "GetSecretValueCommand",
    in: "functions/mechanisms/slack/secretsManagerClient.ts",
    action: "secretsmanager:GetSecretValue",
    resources: (f) => [slackOf(f).secretArn],
  })),
  {
    part: "slack",
    who: "start function",
    sends: "PutItemCommand",
    in: "functions/mechanisms/slack/requestStore.ts",
    action: "dynamodb:PutItem",
    resources: (f) => [slackOf(f).requestTableArn],
  }, // createRequest
  {
    part: "slack",
    who: "start function",
    sends: "UpdateItemCommand",
    in: "functions/mechanisms/slack/requestStore.ts",
    action: "dynamodb:UpdateItem",
    resources: (f) => [slackOf(f).requestTableArn],
  }, // bindMessage
  {
    part: "slack",
    who: "service apigateway.amazonaws.com",
    sends: "POST /slack/interactions invokes the interaction function",
    in: "components/mechanisms/slackApproval.ts",
    action: "lambda:InvokeFunction",
    resources: (f) => [slackOf(f).interaction.arn],
    context: (f) => ({
      "aws:SourceAccount": f.account,
      "aws:SourceArn": f.arn("execute-api", `${slackApiId(f)}/$default/POST/slack/interactions`),
    }),
  },
  {
    part: "slack",
    who: "interaction function",
    sends: "GetItemCommand",
    in: "functions/mechanisms/slack/requestStore.ts",
    action: "dynamodb:GetItem",
    resources: (f) => [slackOf(f).requestTableArn],
  }, // getRequest
  {
    part: "slack",
    who: "interaction function",
    sends: "UpdateItemCommand",
    in: "functions/mechanisms/slack/requestStore.ts",
    action: "dynamodb:UpdateItem",
    resources: (f) => [slackOf(f).requestTableArn],
  }, // recordVote, markDelivered
  {
    part: "slack",
    who: "interaction function",
    sends: "SendTaskSuccessCommand",
    in: "functions/mechanisms/slack/interactionHandler.ts",
    action: "states:SendTaskSuccess",
    resources: (f) => [f.stateMachineArn],
  },
  // The follow-up function (followUp.ts): reads the execution's pointer and its requests, closes
  // them on timeout (conditional UpdateItem); Slack's API is its only other call.
  {
    part: "slack",
    who: "follow-up function",
    sends: "GetItemCommand",
    in: "functions/mechanisms/slack/requestStore.ts",
    action: "dynamodb:GetItem",
    resources: (f) => [slackOf(f).requestTableArn],
  }, // requestKeyHashesOf, getRequestByHash
  {
    part: "slack",
    who: "follow-up function",
    sends: "UpdateItemCommand",
    in: "functions/mechanisms/slack/requestStore.ts",
    action: "dynamodb:UpdateItem",
    resources: (f) => [slackOf(f).requestTableArn],
  }, // markTimedOut

  // ---- the workflow: the state machine's role --------------------------------------------------
  {
    part: "workflow",
    who: "service states.amazonaws.com",
    sends: "runs the state machine as its role",
    in: "components/workflow/approvalWorkflow.ts",
    action: "sts:AssumeRole",
    resources: (f) => [f.stage.roleArn],
    context: (f) => ({ "aws:SourceAccount": f.account, "aws:SourceArn": f.stateMachineArn }),
  },
  // Logging to CloudWatch Logs (https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html#cloudwatch-iam-policy).
  ...[
    "CreateLogDelivery",
    "GetLogDelivery",
    "UpdateLogDelivery",
    "DeleteLogDelivery",
    "ListLogDeliveries",
    "PutResourcePolicy",
    "DescribeResourcePolicies",
    "DescribeLogGroups",
  ].map((name): Call => ({
    part: "workflow",
    who: "state machine",
    sends: "CreateStateMachine / UpdateStateMachine with loggingConfiguration",
    in: "step-functions/latest/dg/cw-logs.html",
    action: `logs:${name}`,
    resources: () => ["*"],
  })),
  // The execution data key: the execution role writes and reads execution data; the deployer's
  // CreateStateMachine / UpdateStateMachine encrypt the definition and the provider reads it back
  // (DescribeStateMachine: "callers must have kms:Decrypt permission"); logging to CloudWatch Logs
  // as AWS CDK grants it for an encrypted, logging state machine; operators read executions.
  ...["kms:GenerateDataKey", "kms:Decrypt"].flatMap((action): Call[] => [
    {
      part: "workflow",
      who: "state machine",
      sends: "Step Functions encrypts and decrypts execution data (encryptionConfiguration)",
      in: SFN_KMS_DOCS,
      action,
      resources: (f) => [f.keyArn],
      context: executionData,
    },
    {
      part: "workflow",
      who: "deployer",
      sends: "CreateStateMachine / UpdateStateMachine / DescribeStateMachine (pulumi up)",
      in: "components/workflow/approvalWorkflow.ts",
      action,
      resources: (f) => [f.keyArn],
      context: executionData,
    },
  ]),
  {
    part: "workflow",
    who: "state machine",
    sends: "log delivery of an encrypted state machine",
    in: SFN_KMS_DOCS,
    action: "kms:GenerateDataKey",
    resources: (f) => [f.keyArn],
    context: (f) => ({ "kms:EncryptionContext:SourceArn": f.arn("logs", "*") }),
  },
  {
    part: "workflow",
    who: "service delivery.logs.amazonaws.com",
    sends: "log delivery of an encrypted state machine",
    in: SFN_KMS_DOCS,
    action: "kms:Decrypt",
    resources: (f) => [f.keyArn],
  },
  {
    part: "workflow",
    who: "operators",
    sends: "npm run approvals / start-approval --wait (DescribeExecution, GetExecutionHistory)",
    in: "scripts/lib/executionStatus.ts",
    action: "kms:Decrypt",
    resources: (f) => [f.keyArn],
    context: executionData,
  },
  // Task states: every Task of every generated definition must match one of these rows. A stage's
  // own Task ("Approval <stage>") counts for its mechanism, reminders and escalations for the workflow.
  ...(["ssm-automation", "codepipeline", "email-link", "slack"] as const).map((part): Call => ({
    part,
    who: "state machine",
    sends: "Task arn:aws:states:::lambda:invoke.waitForTaskToken (the stage's start function)",
    in: "components/workflow/asl.ts",
    task: /^arn:aws:states:::lambda:invoke(\.waitForTaskToken)?$/,
    action: "lambda:InvokeFunction",
    resources: (f) => [f.task.Parameters?.FunctionName ?? f.task.Arguments?.FunctionName],
  })),
  // A slack stage's "Close <stage> request" Task and its reminders invoke its follow-up function
  // (lambda:invoke without a token); they count for the workflow (taskPart).
  {
    part: "workflow",
    who: "state machine",
    sends: "Task arn:aws:states:::lambda:invoke (a slack stage's close and reminders)",
    in: "components/mechanisms/slackApproval.ts",
    task: /^arn:aws:states:::lambda:invoke$/,
    action: "lambda:InvokeFunction",
    resources: (f) => [f.task.Parameters?.FunctionName ?? f.task.Arguments?.FunctionName],
  },
  {
    part: "sns-callback",
    who: "state machine",
    sends: "Task arn:aws:states:::sns:publish.waitForTaskToken (the approval email)",
    in: "components/workflow/asl.ts",
    task: /^arn:aws:states:::sns:publish\.waitForTaskToken$/,
    action: "sns:Publish",
    resources: (f) => [f.task.Parameters?.TopicArn ?? f.task.Arguments?.TopicArn],
  },
  {
    part: "workflow",
    who: "state machine",
    sends: "Task arn:aws:states:::sns:publish (reminders, escalations)",
    in: "components/workflow/stageFollowUps.ts",
    task: /^arn:aws:states:::sns:publish$/,
    action: "sns:Publish",
    resources: (f) => [f.task.Parameters?.TopicArn ?? f.task.Arguments?.TopicArn],
  },
  // The decision record: PutObject of one record under records/ of the bucket the Task names
  // (S3 API PutObject; reference s3.json: the object resource, no dependent action). The bucket
  // policy denies requests without TLS, which Step Functions' calls always use.
  {
    part: "workflow",
    who: "state machine",
    sends: "Task arn:aws:states:::aws-sdk:s3:putObject (the decision record)",
    in: "components/workflow/auditStates.ts",
    task: /^arn:aws:states:::aws-sdk:s3:putObject$/,
    action: "s3:PutObject",
    resources: (f) => [
      `arn:aws:s3:::${f.task.Arguments?.Bucket}/${auditRecordKey({ recordedAt: "2026-11-22T10:00:00.000Z", executionName: EXECUTION_NAME, what: "outcome" })}`,
    ],
    context: () => ({ "aws:SecureTransport": "true" }),
  },

  // ---- every Lambda function -----------------------------------------------------------------------
  {
    part: "every function",
    who: "service lambda.amazonaws.com",
    sends: "Lambda assumes the execution role",
    in: "components/shared/approvalFunction.ts",
    action: "sts:AssumeRole",
    resources: (f) => [f.fn.roleArn],
  },
  {
    part: "every function",
    who: "function",
    sends: "the runtime writes the function's logs",
    in: "components/shared/approvalFunction.ts",
    action: "logs:CreateLogStream",
    resources: (f) => [`${f.fn.logGroupArn}:log-stream:2026/11/22/[$LATEST]0123456789abcdef`],
  },
  {
    part: "every function",
    who: "function",
    sends: "the runtime writes the function's logs",
    in: "components/shared/approvalFunction.ts",
    action: "logs:PutLogEvents",
    resources: (f) => [`${f.fn.logGroupArn}:log-stream:2026/11/22/[$LATEST]0123456789abcdef`],
  },
];

/** The part a Task state counts for: its stage's mechanism for the stage's own Task, else the workflow (follow-ups). */
export function taskPart(stages: Array<{ name: string; mechanism: string }>, stateName: string): Part {
  const stage = stages.find((s) => stageStateName(s.name) === stateName);
  return (stage?.mechanism as Mechanism | undefined) ?? "workflow";
}

/** Every Task state of a definition, Parallel branches included. */
export function taskStates(states: Record<string, any>): Array<[string, any]> {
  return Object.entries(states).flatMap(([name, state]) => [
    ...(state.Type === "Task" ? [[name, state] as [string, any]] : []),
    ...((state.Branches ?? []) as Array<{ States: Record<string, any> }>).flatMap((b) => taskStates(b.States)),
  ]);
}
