// The codepipeline mechanism: its resources under Pulumi mocks (prod stack, stage "finance"), and
// its two Lambdas, serialized, run with node against a fake CodePipeline + DynamoDB + Step
// Functions endpoint on 127.0.0.1.
import { expect } from "chai";
import { createHash, randomBytes } from "crypto";
import { readFileSync } from "fs";
import { join } from "path";
import { CodePipelineClient } from "@aws-sdk/client-codepipeline";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SFNClient } from "@aws-sdk/client-sfn";
import { deliverPipelineDecision } from "../functions/mechanisms/codePipeline/pipelineResult";
import { RESULT_RESEND } from "../functions/shared/throttledSend";
import { AwsError, FakeAws } from "./helpers/fakeAws";
import { stageDecision } from "../functions/contract";
import { EXPENSE_REPORT } from "./helpers/fixtures";
import { inMemoryAuditBucket, runDefinition } from "./helpers/localStateMachine";
import { ACCOUNT_ID, ProgramRun, RecordedResource, archiveFiles, named, runProgram } from "./helpers/pulumiMocks";
import { HandlerRun, invokeArchive, writeArchive } from "./helpers/serializedHandler";
import { stackConfig } from "./helpers/stackConfig";

const PIPELINE = "sfn-approvals-prod-finance";
const PIPELINE_ARN = `arn:aws:codepipeline:eu-west-1:${ACCOUNT_ID}:${PIPELINE}`;
const TABLE = "sfn-approvals-prod-finance-tokens";
const TABLE_ARN = `arn:aws:dynamodb:eu-west-1:${ACCOUNT_ID}:table/${TABLE}`;
const BUCKET = "stage-finance-artifacts-a1b2c3d";
const BUCKET_ARN = `arn:aws:s3:::${BUCKET}`;
const TOPIC_ARN = `arn:aws:sns:eu-west-1:${ACCOUNT_ID}:sfn-approvals-prod-finance-approval`;
const DLQ_ARN = `arn:aws:sqs:eu-west-1:${ACCOUNT_ID}:stage-finance-decisions-dlq-a1b2c3d`;
const SEVEN_DAYS = 7 * 86400;

function statements(policy: RecordedResource): any[] {
  return JSON.parse(policy.inputs.policy).Statement;
}

function token(): string {
  return `AQCEAAAAKgAAAAMAAAAAAAAAAe${randomBytes(900).toString("base64")}`;
}

/** A sample event of AWS's documentation (tests/fixtures/aws-events), with the page it comes from. */
function awsSample(file: string): { source: { page: string }; event: any } {
  return JSON.parse(readFileSync(join(__dirname, "fixtures", "aws-events", file), "utf8"));
}
const ACTION_SAMPLE = awsSample("codepipeline-action-abandoned.json");
const PIPELINE_SAMPLE = awsSample("codepipeline-pipeline-failed.json");
const STARTED_SAMPLE = awsSample("codepipeline-pipeline-started.json");

/** Who started an execution, in the shape AWS shows (arn:aws:sts::<account>:assumed-role/<role>/<session>). */
function startedByRoleSession(account: string, role: string, session: string): string {
  const sample: string = STARTED_SAMPLE.event.detail["execution-trigger"]["trigger-detail"];
  expect(sample).to.equal("arn:aws:sts::123456789012:assumed-role/Admin/my-user");
  return sample
    .replace("123456789012", account)
    .replace("/Admin/", `/${role}/`)
    .replace(/\/my-user$/, `/${session}`);
}

describe("codepipeline stage (prod 'finance'): resources", () => {
  let prod: ProgramRun;
  before(async () => {
    prod = await runProgram("prod", stackConfig("prod"));
  });

  it("is a V2 pipeline in PARALLEL mode: source, manual approval with the request and a link, record", () => {
    const pipeline = named(prod.resources, "stage-finance-pipeline").inputs;
    expect(pipeline).to.deep.include({
      name: PIPELINE,
      pipelineType: "V2",
      executionMode: "PARALLEL",
      roleArn: `arn:aws:iam::${ACCOUNT_ID}:role/stage-finance-pipeline-role-a1b2c3d`,
      artifactStores: [{ location: BUCKET, type: "S3" }],
    });
    expect(pipeline.variables.map((v: any) => v.name)).to.deep.equal([
      "ApprovalKey",
      "RequestSummary",
      "RequestLink",
      "RequestId",
      "ExecutionName",
    ]);
    expect(pipeline.stages).to.deep.equal([
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
            configuration: { S3Bucket: BUCKET, S3ObjectKey: "request/source.zip", PollForSourceChanges: "false" },
          },
        ],
      },
      {
        name: "Approval",
        // Entered only by a run that carries a request's key: the run CodePipeline starts on creation
        // (default variables) fails here and never mails approvers (VariableCheck rule page).
        beforeEntry: {
          condition: {
            result: "FAIL",
            rules: [
              {
                name: "RequestHasApprovalKey",
                ruleTypeId: { category: "Rule", owner: "AWS", provider: "VariableCheck", version: "1" },
                configuration: { Variable: "#{variables.ApprovalKey}", Operator: "NE", Value: "-" },
              },
            ],
          },
        },
        actions: [
          {
            name: "Approve",
            category: "Approval",
            owner: "AWS",
            provider: "Manual",
            version: "1",
            timeoutInMinutes: 10080,
            configuration: {
              NotificationArn: TOPIC_ARN,
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
              BucketName: BUCKET,
              Extract: "false",
              ObjectKey: "approved/#{variables.RequestId}/#{codepipeline.PipelineExecutionId}.zip",
            },
          },
        ],
      },
    ]);
  });

  it("keeps artifacts in a versioned, encrypted, private, TLS-only bucket", () => {
    expect(named(prod.resources, "stage-finance-artifacts-versioning").inputs.versioningConfiguration).to.deep.equal({
      status: "Enabled",
    });
    expect(named(prod.resources, "stage-finance-artifacts-encryption").inputs.rules).to.deep.equal([
      { applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: true },
    ]);
    expect(named(prod.resources, "stage-finance-artifacts-public-access").inputs).to.include({
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    expect(named(prod.resources, "stage-finance-artifacts-ownership").inputs.rule).to.deep.equal({
      objectOwnership: "BucketOwnerEnforced",
    });
    expect(statements(named(prod.resources, "stage-finance-artifacts-tls-only"))).to.deep.equal([
      {
        Sid: "DenyInsecureTransport",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: [BUCKET_ARN, `${BUCKET_ARN}/*`],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
    ]);
    expect(named(prod.resources, "stage-finance-source").inputs).to.include({
      bucket: BUCKET,
      key: "request/source.zip",
    });
  });

  it("gives the pipeline role what AWS documents for an S3 source, the artifact store, an S3 deploy and SNS notification, on its own bucket and topic, assumed only by CodePipeline for this pipeline", () => {
    const trust = JSON.parse(named(prod.resources, "stage-finance-pipeline-role").inputs.assumeRolePolicy).Statement;
    expect(trust).to.deep.equal([
      {
        Effect: "Allow",
        Principal: { Service: "codepipeline.amazonaws.com" },
        Action: "sts:AssumeRole",
        Condition: { StringEquals: { "aws:SourceAccount": ACCOUNT_ID }, ArnLike: { "aws:SourceArn": PIPELINE_ARN } },
      },
    ]);
    // CodePipeline User Guide: how-to-custom-role.html (service role policy: artifact store),
    // action-reference-S3.html#edit-role-s3source, action-reference-S3Deploy.html#edit-role-s3deploy,
    // approvals-service-role-permissions.html (sns:Publish).
    const inThisAccount = { StringEquals: { "aws:ResourceAccount": ACCOUNT_ID } };
    expect(statements(named(prod.resources, "stage-finance-pipeline-policy"))).to.deep.equal([
      {
        Sid: "CheckBucket",
        Effect: "Allow",
        Action: ["s3:GetBucketVersioning", "s3:GetBucketAcl", "s3:GetBucketLocation"],
        Resource: [BUCKET_ARN],
        Condition: inThisAccount,
      },
      {
        Sid: "ReadSourceAndArtifacts",
        Effect: "Allow",
        Action: ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging"],
        Resource: [`${BUCKET_ARN}/*`],
        Condition: inThisAccount,
      },
      {
        Sid: "WriteArtifactsAndRecords",
        Effect: "Allow",
        Action: ["s3:PutObject", "s3:PutObjectAcl", "s3:PutObjectVersionAcl", "s3:PutObjectTagging"],
        Resource: [`${BUCKET_ARN}/*`],
        Condition: inThisAccount,
      },
      { Sid: "NotifyApprovers", Effect: "Allow", Action: ["sns:Publish"], Resource: [TOPIC_ARN] },
    ]);
    expect(named(prod.resources, "stage-finance-notify-finance-example-com").inputs).to.include({
      topic: TOPIC_ARN,
      protocol: "email",
      endpoint: "finance@example.com",
    });
  });

  it("gives the configured approvers exactly the right to answer this approval action, and nobody else anything", () => {
    const policy = named(prod.resources, "stage-finance-approvers");
    expect(statements(policy)).to.deep.equal([
      {
        Sid: "AnswerThisApproval",
        Effect: "Allow",
        Action: ["codepipeline:PutApprovalResult"],
        Resource: [`${PIPELINE_ARN}/Approval/Approve`],
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
        Resource: [PIPELINE_ARN],
      },
    ]);
    const attachments = prod.resources.filter(
      (r) =>
        r.type === "aws:iam/rolePolicyAttachment:RolePolicyAttachment" ||
        r.type === "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    );
    expect(attachments.map((a) => [a.type, a.inputs.role ?? a.inputs.user, a.inputs.policyArn])).to.deep.equal([
      ["aws:iam/rolePolicyAttachment:RolePolicyAttachment", "FinanceApprover", policy.state.arn],
    ]);
  });

  it("attaches the policy to users and to roles with a path by their names", async () => {
    const run = await runProgram(
      "prod",
      stackConfig("prod", {
        "sfn-approvals:stages": [
          {
            name: "finance",
            mechanism: "codepipeline",
            timeout: "1h",
            approvers: [
              "arn:aws:iam::123456789012:user/carol",
              "arn:aws:iam::123456789012:role/teams/finance/Controller",
            ],
          },
        ],
      }),
    );
    expect(named(run.resources, "stage-finance-approver-user-carol").inputs.user).to.equal("carol");
    expect(named(run.resources, "stage-finance-approver-role-Controller").inputs.role).to.equal("Controller");
    expect(named(run.resources, "stage-finance-pipeline").inputs.stages[1].actions[0].timeoutInMinutes).to.equal(60);
  });

  it("refuses an approver of another account instead of granting a same-named principal of this one", async () => {
    let caught: unknown;
    try {
      await runProgram(
        "prod",
        stackConfig("prod", {
          "sfn-approvals:stages": [
            {
              name: "finance",
              mechanism: "codepipeline",
              timeout: "1h",
              approvers: ["arn:aws:iam::999999999999:role/FinanceApprover"],
            },
          ],
        }),
      );
    } catch (error) {
      caught = error;
    }
    // Refused when the config is read, naming the key (tests/program.test.ts covers every IAM mechanism).
    expect((caught as Error | undefined)?.message).to.equal(
      'Invalid sfn-approvals stack config:\n  - sfn-approvals:stages[0].approvers[0] is "arn:aws:iam::999999999999:role/FinanceApprover": it is in account 999999999999, but this stack deploys to account 123456789012; IAM approvers and readers must be users or roles of that account (a principal of another account cannot act on this account\'s automation executions, pipelines or activities)',
    );
  });

  it("keeps task tokens in an encrypted DynamoDB table with point-in-time recovery and a TTL", () => {
    expect(named(prod.resources, "stage-finance-tokens").inputs).to.deep.include({
      name: TABLE,
      billingMode: "PAY_PER_REQUEST",
      hashKey: "approvalKey",
      attributes: [{ name: "approvalKey", type: "S" }],
      ttl: { attributeName: "expiresAt", enabled: true },
      pointInTimeRecovery: { enabled: true },
      serverSideEncryption: { enabled: true },
    });
  });

  it("scopes both functions to this pipeline, this table and this state machine", () => {
    expect(statements(named(prod.resources, "stage-finance-start-policy")).slice(1)).to.deep.equal([
      {
        Sid: "StartApprovalPipeline",
        Effect: "Allow",
        Action: ["codepipeline:StartPipelineExecution"],
        Resource: [PIPELINE_ARN],
      },
      {
        Sid: "RecordTaskTokens",
        Effect: "Allow",
        Action: ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"],
        Resource: [TABLE_ARN],
      },
    ]);
    expect(statements(named(prod.resources, "stage-finance-result-policy")).slice(1)).to.deep.equal([
      {
        Sid: "ReadApprovalAction",
        Effect: "Allow",
        Action: ["codepipeline:GetPipelineExecution", "codepipeline:ListActionExecutions"],
        Resource: [PIPELINE_ARN],
      },
      {
        Sid: "ReadAndCloseTaskTokens",
        Effect: "Allow",
        Action: ["dynamodb:GetItem", "dynamodb:UpdateItem"],
        Resource: [TABLE_ARN],
      },
      { Sid: "DeadLetterFailedDecisions", Effect: "Allow", Action: ["sqs:SendMessage"], Resource: [DLQ_ARN] },
    ]);
    expect(statements(named(prod.resources, "stage-finance-result-callback"))).to.deep.equal([
      {
        Sid: "SendDecisionToStateMachine",
        Effect: "Allow",
        Action: ["states:SendTaskSuccess", "states:SendTaskFailure"],
        Resource: [`arn:aws:states:eu-west-1:${ACCOUNT_ID}:stateMachine:sfn-approvals-prod`],
      },
    ]);
    const common = { PIPELINE_NAME: PIPELINE, STAGE_NAME: "finance", TABLE_NAME: TABLE };
    expect(named(prod.resources, "stage-finance-start-fn").inputs).to.deep.include({
      runtime: "nodejs24.x",
      memorySize: 128,
      timeout: 30,
      environment: { variables: { ...common, TIMEOUT_SECONDS: String(SEVEN_DAYS) } },
    });
    expect(named(prod.resources, "stage-finance-result-fn").inputs).to.deep.include({
      runtime: "nodejs24.x",
      memorySize: 128,
      timeout: 30,
      environment: {
        variables: {
          ...common,
          APPROVERS: JSON.stringify(["arn:aws:iam::123456789012:role/FinanceApprover"]),
          STARTER_ROLE_ARN: named(prod.resources, "stage-finance-start-role").state.arn,
        },
      },
    });
  });

  it("packages each callback as the handler under 50 KB plus the CodePipeline client it reads new response fields with (the runtime's SDK may predate them), and no other client", async () => {
    const installed = JSON.parse(
      readFileSync(join(__dirname, "..", "node_modules", "@aws-sdk", "client-codepipeline", "package.json"), "utf8"),
    ).version as string;
    // updatedBy and errorDetails arrived last, in 3.515.0 (tests/sdkResponseFields.test.ts).
    expect(installed.split(".").map(Number)[1]).to.be.at.least(515);
    for (const name of ["stage-finance-start-fn", "stage-finance-result-fn"]) {
      const files = await archiveFiles(named(prod.resources, name));
      expect(Buffer.byteLength(files["__index.js"]), name).to.be.below(50 * 1024);
      const packages = Object.keys(files).filter((path) => path !== "__index.js");
      expect(packages, name).to.include("node_modules/@aws-sdk/client-codepipeline");
      expect(
        packages.filter((path) => /client-(sfn|dynamodb|ssm|sns|s3|sts)$/.test(path)),
        name,
      ).to.deep.equal([]);
      expect(
        packages.every((path) => path.startsWith("node_modules/")),
        name,
      ).to.equal(true);
    }
  });

  it("matches every final state of this pipeline's approval action, and every execution that ends without success, and delivers them with retries and a dead-letter queue", () => {
    expect(JSON.parse(named(prod.resources, "stage-finance-decision-rule").inputs.eventPattern)).to.deep.equal({
      source: ["aws.codepipeline"],
      "detail-type": ["CodePipeline Action Execution State Change", "CodePipeline Pipeline Execution State Change"],
      detail: {
        pipeline: [PIPELINE],
        $or: [
          {
            stage: ["Approval"],
            action: ["Approve"],
            type: { category: ["Approval"] },
            state: [{ "anything-but": ["STARTED"] }],
          },
          // Pipeline-level states that end an execution without success (detect-state-changes-cloudwatch-events.html, Detail types).
          { action: [{ exists: false }], state: ["FAILED", "STOPPED", "SUPERSEDED", "CANCELED"] },
        ],
      },
    });
    expect(named(prod.resources, "stage-finance-decisions-target").inputs).to.deep.include({
      retryPolicy: { maximumRetryAttempts: 185, maximumEventAgeInSeconds: 86400 },
      deadLetterConfig: { arn: DLQ_ARN },
    });
    expect(named(prod.resources, "stage-finance-decisions-async").inputs.destinationConfig).to.deep.equal({
      onFailure: { destination: DLQ_ARN },
    });
  });

  it("exports the stage's outputs", () => {
    expect(prod.outputs.stages[1]).to.deep.equal({
      name: "finance",
      mechanism: "codepipeline",
      approvers: ["arn:aws:iam::123456789012:role/FinanceApprover"],
      timeout: "7d",
      pipelineName: PIPELINE,
      approvalActionArn: `${PIPELINE_ARN}/Approval/Approve`,
      approverPolicyArn: `arn:aws:iam::${ACCOUNT_ID}:policy/sfn-approvals/sfn-approvals-prod-finance-approvers`,
      approverPolicyName: "sfn-approvals-prod-finance-approvers",
      approverPolicyPath: "/sfn-approvals/",
      topicArn: TOPIC_ARN,
      artifactBucket: BUCKET,
      tokenTableName: TABLE,
      startFunctionName: "stage-finance-start-fn-a1b2c3d",
      resultFunctionName: "stage-finance-result-fn-a1b2c3d",
      deadLetterQueueUrl: `https://sqs.eu-west-1.amazonaws.com/${ACCOUNT_ID}/stage-finance-decisions-dlq-a1b2c3d`,
    });
  });
});

describe("codepipeline events in these tests (Check B: as AWS documents them)", () => {
  it("start from AWS documentation's sample events, each naming its page", () => {
    for (const sample of [ACTION_SAMPLE, PIPELINE_SAMPLE, STARTED_SAMPLE]) {
      expect(sample.source.page).to.match(
        /^https:\/\/docs\.aws\.amazon\.com\/codepipeline\/latest\/userguide\/detect-state-changes-cloudwatch-events\.html#/,
      );
      expect(sample.event.source).to.equal("aws.codepipeline");
    }
    expect(ACTION_SAMPLE.event["detail-type"]).to.equal("CodePipeline Action Execution State Change");
    expect(PIPELINE_SAMPLE.event["detail-type"]).to.equal("CodePipeline Pipeline Execution State Change");
  });
});

/** A minimal DynamoDB table behind the fake endpoint: PutItem, GetItem, UpdateItem as our handlers use them. */
class FakeTable {
  readonly items = new Map<string, Record<string, any>>();
  failPuts = false;

  install(aws: FakeAws): void {
    aws.on("PutItem", (body) => {
      expect(body.TableName).to.equal(TABLE);
      if (this.failPuts)
        return new AwsError("AccessDeniedException", "User is not authorized to perform: dynamodb:PutItem", 400);
      const key = body.Item.approvalKey.S;
      if (body.ConditionExpression === "attribute_not_exists(approvalKey)" && this.items.has(key)) {
        return new AwsError("ConditionalCheckFailedException", "The conditional request failed");
      }
      this.items.set(key, body.Item);
      return {};
    });
    aws.on("GetItem", (body) => {
      expect(body.ConsistentRead).to.equal(true);
      const item = this.items.get(body.Key.approvalKey.S);
      return item ? { Item: item } : {};
    });
    // Exactly the two updates the handlers send (tokenStore.ts), with their conditions evaluated.
    aws.on("UpdateItem", (body) => {
      const item = this.items.get(body.Key.approvalKey.S);
      const execution = body.ExpressionAttributeValues[":execution"];
      const boundElsewhere = item?.pipelineExecutionId !== undefined && item.pipelineExecutionId.S !== execution.S;
      const failed = () => new AwsError("ConditionalCheckFailedException", "The conditional request failed");
      if (body.UpdateExpression === "SET pipelineExecutionId = :execution") {
        expect(body.ConditionExpression).to.equal(
          "attribute_exists(approvalKey) AND (attribute_not_exists(pipelineExecutionId) OR pipelineExecutionId = :execution)",
        );
        if (!item || boundElsewhere) return failed();
        item.pipelineExecutionId = execution;
        return {};
      }
      expect(body.UpdateExpression).to.equal(
        "SET decidedAt = :decidedAt, decision = :decision, pipelineExecutionId = :execution",
      );
      expect(body.ConditionExpression).to.equal(
        "attribute_exists(approvalKey) AND attribute_not_exists(decidedAt) AND (attribute_not_exists(pipelineExecutionId) OR pipelineExecutionId = :execution)",
      );
      if (!item || item.decidedAt || boundElsewhere) return failed();
      item.decidedAt = body.ExpressionAttributeValues[":decidedAt"];
      item.decision = body.ExpressionAttributeValues[":decision"];
      item.pipelineExecutionId = execution;
      return {};
    });
  }
}

const keyOf = (taskToken: string) => createHash("sha256").update(taskToken).digest("hex");

describe("codepipeline handlers, as deployed (serialized __index.js against a fake AWS endpoint)", function () {
  const aws = new FakeAws();
  const table = new FakeTable();
  let startDir: string;
  let resultDir: string;
  let startEnv: Record<string, string>;
  let resultEnv: Record<string, string>;
  let starterRole: string;
  /** The trigger of an execution the stage's start function started (GetPipelineExecution pipelineExecution.trigger). */
  let STARTER: { triggerType: string; triggerDetail: string };
  const runs: Array<{ run: HandlerRun; token: string }> = [];
  const executionArn = (name: string) => `arn:aws:states:eu-west-1:${ACCOUNT_ID}:execution:sfn-approvals-prod:${name}`;
  const taskEvent = (taskToken: string, name = "er98765-1", request: Record<string, unknown> = EXPENSE_REPORT) => ({
    taskToken,
    request,
    stage: "finance",
    executionArn: executionArn(name),
  });

  before(async () => {
    const prod = await runProgram("prod", stackConfig("prod"));
    const start = named(prod.resources, "stage-finance-start-fn");
    const result = named(prod.resources, "stage-finance-result-fn");
    startDir = writeArchive(await archiveFiles(start));
    resultDir = writeArchive(await archiveFiles(result));
    const url = await aws.start();
    const endpoints = { AWS_ENDPOINT_URL_CODEPIPELINE: url, AWS_ENDPOINT_URL_DYNAMODB: url, AWS_ENDPOINT_URL_SFN: url };
    startEnv = { ...start.inputs.environment.variables, ...endpoints };
    resultEnv = { ...result.inputs.environment.variables, ...endpoints };
    // A Lambda's calls come from a session of its role named after the function.
    starterRole = String(resultEnv.STARTER_ROLE_ARN).split("/").pop()!;
    STARTER = {
      triggerType: "StartPipelineExecution",
      triggerDetail: startedByRoleSession(ACCOUNT_ID, starterRole, start.state.name),
    };
  });
  after(() => aws.stop());
  beforeEach(() => {
    aws.reset();
    table.items.clear();
    table.failPuts = false;
    table.install(aws);
  });

  /** CodePipeline: one new execution id per client token (handed out in order), the same one again for a repeated token. */
  /** StartPipelineExecution, idempotent by clientRequestToken unless `idempotent` is false (a new execution every call). */
  function pipeline(
    ids: string[],
    idempotent = true,
  ): Map<string, { id: string; variables: Array<{ name: string; value: string }> }> {
    const byClientToken = new Map<string, { id: string; variables: Array<{ name: string; value: string }> }>();
    let started = 0;
    aws.on("StartPipelineExecution", (body) => {
      expect(body.name).to.equal(PIPELINE);
      if (!idempotent && byClientToken.has(body.clientRequestToken))
        byClientToken.set(`${body.clientRequestToken}#${started}`, byClientToken.get(body.clientRequestToken)!);
      if (!idempotent || !byClientToken.has(body.clientRequestToken))
        byClientToken.set(body.clientRequestToken, { id: ids[started++], variables: body.variables });
      return { pipelineExecutionId: byClientToken.get(body.clientRequestToken)!.id };
    });
    aws.on("GetPipelineExecution", (body) => {
      const execution = [...byClientToken.values()].find((e) => e.id === body.pipelineExecutionId);
      if (!execution)
        return new AwsError("PipelineExecutionNotFoundException", `${body.pipelineExecutionId} not found`);
      return {
        pipelineExecution: {
          pipelineName: PIPELINE,
          pipelineExecutionId: execution.id,
          status: "InProgress",
          trigger: STARTER,
          variables: execution.variables.map((v) => ({ name: v.name, resolvedValue: v.value })),
        },
      };
    });
    return byClientToken;
  }

  async function invokeStart(event: { taskToken: string }): Promise<HandlerRun> {
    const run = await invokeArchive(startDir, event, startEnv);
    runs.push({ run, token: event.taskToken });
    return run;
  }

  async function invokeResult(event: unknown, taskTokens: string[]): Promise<HandlerRun> {
    const run = await invokeArchive(resultDir, event, resultEnv);
    for (const t of taskTokens) runs.push({ run, token: t });
    return run;
  }

  describe("start function", () => {
    it("records the task token first, then starts one pipeline execution carrying the request and the record's key", async () => {
      const taskToken = token();
      pipeline(["9d7f1c2e-0b6a-4c1e-9d43-2f1a8e5b7c01"]);
      const before = Math.floor(Date.now() / 1000);
      const run = await invokeStart(taskEvent(taskToken));
      expect(run.error).to.equal(undefined);
      expect(run.result).to.deep.equal({ pipelineExecutionId: "9d7f1c2e-0b6a-4c1e-9d43-2f1a8e5b7c01" });
      // The record is bound to the execution just started: only it may decide (UpdateItem).
      expect(aws.operations()).to.deep.equal(["PutItem", "StartPipelineExecution", "UpdateItem"]);
      expect(table.items.get(keyOf(taskToken))!.pipelineExecutionId).to.deep.equal({
        S: "9d7f1c2e-0b6a-4c1e-9d43-2f1a8e5b7c01",
      });
      expect(aws.requests[0].body.Item.requestHash.S).to.match(/^[0-9a-f]{64}$/);
      const put = aws.requests[0].body;
      expect(put.ConditionExpression).to.equal("attribute_not_exists(approvalKey)");
      expect(put.Item).to.deep.include({
        approvalKey: { S: keyOf(taskToken) },
        taskToken: { S: taskToken },
        stage: { S: "finance" },
        executionArn: { S: executionArn("er98765-1") },
        requestId: { S: "ER98765" },
        timeoutSeconds: { N: String(SEVEN_DAYS) },
      });
      expect(Number(put.Item.expiresAt.N) - before).to.be.within(SEVEN_DAYS + 7 * 86400, SEVEN_DAYS + 7 * 86400 + 60);
      const start = aws.requests[1];
      expect(start.target).to.equal("CodePipeline_20150709.StartPipelineExecution");
      expect(start.body.clientRequestToken).to.equal(keyOf(taskToken));
      const variables = Object.fromEntries(start.body.variables.map((v: any) => [v.name, v.value]));
      expect(Object.keys(variables)).to.deep.equal([
        "ApprovalKey",
        "RequestSummary",
        "RequestLink",
        "RequestId",
        "ExecutionName",
      ]);
      expect(variables.ApprovalKey).to.equal(keyOf(taskToken));
      expect(variables.RequestSummary).to.match(
        /^Approval requested: Expense report ER98765 \| Request: ER98765 \| .*Amount: 750\.5 USD/,
      );
      expect(variables.RequestSummary).to.not.match(/[\n\r]/);
      expect(variables.RequestSummary.length).to.be.at.most(500);
      expect(variables).to.include({
        RequestLink: "https://example.com/reports/ER98765",
        RequestId: "ER98765",
        ExecutionName: "er98765-1",
      });
    });

    it("links approvers to the execution in the Step Functions console when the request has no usable link", async () => {
      pipeline(["9d7f1c2e-0b6a-4c1e-9d43-2f1a8e5b7c02"]);
      await invokeStart(
        taskEvent(token(), "deploy-1", { title: "Deploy\nnow", requestId: "DEP 1/2", link: "javascript:alert(1)" }),
      );
      const variables = Object.fromEntries(aws.requests[1].body.variables.map((v: any) => [v.name, v.value]));
      expect(variables.RequestLink).to.equal(
        `https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${executionArn("deploy-1")}`,
      );
      expect(variables.RequestId).to.equal("DEP_1_2");
      expect(variables.RequestSummary).to.equal(
        "Approval requested: Deploy now | Request: DEP 1/2 | Link: javascript:alert(1)",
      );
    });

    it("fits every variable to CodePipeline's 1 to 1000 characters: an empty requestId becomes '-', a link over 1000 characters becomes the console link (never a cut, broken link)", async () => {
      pipeline(["9d7f1c2e-0b6a-4c1e-9d43-2f1a8e5b7c05"]);
      await invokeStart(
        taskEvent(token(), "deploy-2", {
          title: "T".repeat(5000),
          requestId: "",
          requester: "R".repeat(5000),
          link: `https://example.com/${"a".repeat(1000)}`,
        }),
      );
      const variables = Object.fromEntries(aws.requests[1].body.variables.map((v: any) => [v.name, v.value]));
      for (const [name, value] of Object.entries<string>(variables)) expect(value.length, name).to.be.within(1, 1000);
      expect(variables.RequestId).to.equal("-");
      expect(variables.RequestLink).to.equal(
        `https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${executionArn("deploy-2")}`,
      );
    });

    it("is idempotent for a repeated invocation with the same task token", async () => {
      const taskToken = token();
      const starts = pipeline(["9d7f1c2e-0b6a-4c1e-9d43-2f1a8e5b7c03", "9d7f1c2e-0b6a-4c1e-9d43-2f1a8e5b7c04"]);
      const first = await invokeStart(taskEvent(taskToken));
      const second = await invokeStart(taskEvent(taskToken));
      expect(first.result).to.deep.equal({ pipelineExecutionId: "9d7f1c2e-0b6a-4c1e-9d43-2f1a8e5b7c03" });
      expect(second.result).to.deep.equal({ pipelineExecutionId: "9d7f1c2e-0b6a-4c1e-9d43-2f1a8e5b7c03" });
      expect(aws.operations()).to.deep.equal([
        "PutItem",
        "StartPipelineExecution",
        "UpdateItem",
        "PutItem",
        "GetItem",
        "StartPipelineExecution",
        "UpdateItem",
      ]);
      expect(table.items.size).to.equal(1);
      expect(starts.size).to.equal(1);
    });

    it("refuses a second start with the same token but another request (the start function invoked by hand with a stolen token): nothing starts", async () => {
      const taskToken = token();
      const starts = pipeline(["9d7f1c2e-0b6a-4c1e-9d43-2f1a8e5b7c0a", "9d7f1c2e-0b6a-4c1e-9d43-2f1a8e5b7c0b"]);
      expect((await invokeStart(taskEvent(taskToken))).ok).to.equal(true);
      const again = await invokeStart(taskEvent(taskToken, "er98765-1", { title: "Team lunch", amount: 50 }));
      expect(again.ok).to.equal(false);
      expect(again.error!.message).to.match(
        /^RequestConflict: approval key [0-9a-f]{12}\.\.\. was recorded for another request; nothing started$/,
      );
      expect(aws.operations()).to.deep.equal(["PutItem", "StartPipelineExecution", "UpdateItem", "PutItem", "GetItem"]);
      expect(starts.size).to.equal(1);
    });

    it("binds only the first execution: if CodePipeline started a second one for the same token, the start fails (SecondExecution) and that execution never decides", async () => {
      const taskToken = token();
      pipeline(["9d7f1c2e-0b6a-4c1e-9d43-2f1a8e5b7c0c", "9d7f1c2e-0b6a-4c1e-9d43-2f1a8e5b7c0d"], false);
      expect((await invokeStart(taskEvent(taskToken))).ok).to.equal(true);
      const again = await invokeStart(taskEvent(taskToken));
      expect(again.ok).to.equal(false);
      expect(again.error!.message).to.match(
        /^SecondExecution: another pipeline execution is already bound to approval key [0-9a-f]{12}\.\.\.; pipeline execution 9d7f1c2e-0b6a-4c1e-9d43-2f1a8e5b7c0d can never decide it$/,
      );
      expect(table.items.get(keyOf(taskToken))!.pipelineExecutionId).to.deep.equal({
        S: "9d7f1c2e-0b6a-4c1e-9d43-2f1a8e5b7c0c",
      });
    });

    it("starts nothing when the token cannot be recorded", async () => {
      pipeline(["9d7f1c2e-0b6a-4c1e-9d43-2f1a8e5b7c05"]);
      table.failPuts = true;
      const run = await invokeStart(taskEvent(token()));
      expect(run.ok).to.equal(false);
      expect(run.error!.name).to.equal("AccessDeniedException");
      expect(aws.operations()).to.deep.equal(["PutItem"]);
    });

    it("starts nothing, and touches no other request, when the record's key is taken by another task", async () => {
      const taskToken = token();
      pipeline(["9d7f1c2e-0b6a-4c1e-9d43-2f1a8e5b7c06"]);
      table.items.set(keyOf(taskToken), {
        approvalKey: { S: keyOf(taskToken) },
        taskToken: { S: "someone-else" },
        stage: { S: "finance" },
      });
      const run = await invokeStart(taskEvent(taskToken));
      expect(run.ok).to.equal(false);
      expect(run.error!.message).to.match(
        /^TokenConflict: approval key [0-9a-f]{12}\.\.\. is already recorded for another task; nothing started$/,
      );
      expect(aws.operations()).to.deep.equal(["PutItem", "GetItem"]);
      expect(table.items.get(keyOf(taskToken))!.taskToken.S).to.equal("someone-else");
    });

    it("refuses a malformed event and records or starts nothing", async () => {
      pipeline(["9d7f1c2e-0b6a-4c1e-9d43-2f1a8e5b7c07"]);
      for (const bad of [
        { ...taskEvent(token()), request: { amount: 5 } },
        { ...taskEvent(token()), stage: "manager" },
        { ...taskEvent(""), taskToken: "" },
      ]) {
        const run = await invokeStart(bad);
        expect(run.ok).to.equal(false);
        expect(run.error!.message).to.match(/^InvalidEvent: /);
      }
      expect(aws.requests).to.have.length(0);
    });
  });

  describe("result function", () => {
    const EXECUTION = "5f0e4a1b-7c2d-4e3f-8a9b-0c1d2e3f4a5b";
    const CONTROLLER = "arn:aws:sts::123456789012:assumed-role/FinanceApprover/carol";
    const STARTED = 1795334400; // 2026-11-22T08:00:00Z

    /** AWS's sample action event (Action ABANDONED), made this pipeline's approval action: only fields the sample shows change. */
    function actionEvent(
      pipelineExecutionId: string,
      state: string,
      detail: Record<string, unknown> = {},
    ): Record<string, unknown> {
      const sample = ACTION_SAMPLE.event;
      return {
        ...sample,
        account: ACCOUNT_ID,
        time: "2026-11-22T09:00:00Z",
        region: "eu-west-1",
        resources: [PIPELINE_ARN],
        detail: {
          ...sample.detail,
          pipeline: PIPELINE,
          "execution-id": pipelineExecutionId,
          "action-execution-id": `act-${pipelineExecutionId.slice(0, 8)}`,
          stage: "Approval",
          action: "Approve",
          state,
          region: "eu-west-1",
          // The Manual approval action type (action structure reference: Approval / AWS / Manual / 1).
          type: { owner: "AWS", provider: "Manual", category: "Approval", version: "1" },
          ...detail,
        },
      };
    }

    /** AWS's sample pipeline event (Pipeline FAILED), made this pipeline's: only fields the sample shows change. */
    function pipelineEvent(pipelineExecutionId: string, state: string): Record<string, unknown> {
      const sample = PIPELINE_SAMPLE.event;
      return {
        ...sample,
        account: ACCOUNT_ID,
        time: "2026-11-22T09:00:00Z",
        region: "eu-west-1",
        resources: [PIPELINE_ARN],
        detail: { ...sample.detail, pipeline: PIPELINE, "execution-id": pipelineExecutionId, state },
      };
    }

    function actionExecution(pipelineExecutionId: string, fields: Record<string, unknown>): Record<string, unknown> {
      return {
        pipelineExecutionId,
        actionExecutionId: `act-${pipelineExecutionId.slice(0, 8)}`,
        pipelineVersion: 1,
        stageName: "Approval",
        actionName: "Approve",
        startTime: STARTED,
        lastUpdateTime: STARTED + 3600,
        input: { actionTypeId: { category: "Approval", owner: "AWS", provider: "Manual", version: "1" } },
        ...fields,
      };
    }

    function listActions(byExecution: Record<string, Record<string, unknown>>): void {
      aws.on("ListActionExecutions", (body) => {
        expect(body.pipelineName).to.equal(PIPELINE);
        const id = body.filter.pipelineExecutionId;
        const source = actionExecution(id, { actionName: "Request", stageName: "Request", status: "Succeeded" });
        return { actionExecutionDetails: byExecution[id] ? [byExecution[id], source] : [source] };
      });
    }

    /** A started request: its record, and the pipeline execution that carries its key. */
    function waitingRequest(
      pipelineExecutionId: string,
      taskToken: string,
      extra: Record<string, unknown> = {},
      status = "InProgress",
    ): void {
      const key = keyOf(taskToken);
      table.items.set(key, {
        approvalKey: { S: key },
        taskToken: { S: taskToken },
        stage: { S: "finance" },
        executionArn: { S: executionArn("x") },
        requestId: { S: "ER98765" },
        createdAt: { S: "2026-11-22T08:00:00.000Z" },
        timeoutSeconds: { N: String(SEVEN_DAYS) },
        expiresAt: { N: "1796544000" },
        pipelineExecutionId: { S: pipelineExecutionId },
        ...extra,
      });
      executions({ [pipelineExecutionId]: { status, trigger: STARTER, key } });
    }

    /** GetPipelineExecution for these executions: who started each (trigger), its status and its ApprovalKey. */
    function executions(byId: Record<string, { status: string; trigger: unknown; key: string }>): void {
      aws.on("GetPipelineExecution", (body) => {
        const execution = byId[body.pipelineExecutionId];
        if (!execution) return new AwsError("PipelineExecutionNotFoundException", "not found");
        return {
          pipelineExecution: {
            pipelineName: PIPELINE,
            pipelineExecutionId: body.pipelineExecutionId,
            status: execution.status,
            trigger: execution.trigger,
            variables: [
              { name: "ApprovalKey", resolvedValue: execution.key },
              { name: "RequestId", resolvedValue: "ER98765" },
            ],
          },
        };
      });
    }

    it("feeds the handler AWS's sample events with only the fields the samples show changed (Check B)", () => {
      const keys = (o: Record<string, unknown>) => Object.keys(o).sort();
      for (const [variant, sample] of [
        [actionEvent(EXECUTION, "SUCCEEDED"), ACTION_SAMPLE.event],
        [pipelineEvent(EXECUTION, "STOPPED"), PIPELINE_SAMPLE.event],
      ] as const) {
        expect(keys(variant)).to.deep.equal(keys(sample));
        expect(keys(variant.detail as Record<string, unknown>)).to.deep.equal(keys(sample.detail));
      }
      expect(keys((actionEvent(EXECUTION, "FAILED").detail as any).type)).to.deep.equal(
        keys(ACTION_SAMPLE.event.detail.type),
      );
    });

    it("sends the approval of a listed approver with their comment, then closes the record", async () => {
      const taskToken = token();
      waitingRequest(EXECUTION, taskToken);
      listActions({
        [EXECUTION]: actionExecution(EXECUTION, {
          status: "Succeeded",
          updatedBy: CONTROLLER,
          output: { executionResult: { externalExecutionId: "a1", externalExecutionSummary: "budget ok" } },
        }),
      });
      aws.on("SendTaskSuccess", () => ({}));
      const run = await invokeResult(actionEvent(EXECUTION, "SUCCEEDED"), [taskToken]);
      expect(run.error).to.equal(undefined);
      const expected = {
        approved: true,
        decision: "approved",
        stage: "finance",
        mechanism: "codepipeline",
        approver: CONTROLLER,
        comment: "budget ok",
        decidedAt: "2026-11-22T09:00:00Z",
      };
      expect(run.result).to.deep.equal(expected);
      expect(aws.operations()).to.deep.equal([
        "GetPipelineExecution",
        "GetItem",
        "ListActionExecutions",
        "SendTaskSuccess",
        "UpdateItem",
      ]);
      expect(aws.requests[3].body.taskToken).to.equal(taskToken);
      expect(JSON.parse(aws.requests[3].body.output)).to.deep.equal(expected);
      expect(table.items.get(keyOf(taskToken))!.decision).to.deep.equal({ S: "approved" });
      expect(table.items.get(keyOf(taskToken))!.pipelineExecutionId).to.deep.equal({ S: EXECUTION });
    });

    describe("under throttling (issue 17: decisions are not lost under load)", () => {
      const sends = () => aws.requests.filter((r) => r.operation === "SendTaskSuccess");
      function approvedRequest(): string {
        const taskToken = token();
        waitingRequest(EXECUTION, taskToken);
        listActions({
          [EXECUTION]: actionExecution(EXECUTION, {
            status: "Succeeded",
            updatedBy: CONTROLLER,
            output: { executionResult: { externalExecutionSummary: "budget ok" } },
          }),
        });
        return taskToken;
      }
      /** In-process, with the deployed settings and pauses of 1 ms: the attempts, not the waiting, are under test. */
      async function deliverInProcess(maxAttempts: number): Promise<unknown> {
        const credentials = { accessKeyId: "AKIAFAKE", secretAccessKey: "fake" };
        const client = { region: "eu-west-1", endpoint: aws.url, credentials, maxAttempts };
        return deliverPipelineDecision(
          actionEvent(EXECUTION, "SUCCEEDED"),
          {
            pipelineName: PIPELINE,
            stage: "finance",
            tableName: resultEnv.TABLE_NAME,
            approvers: JSON.parse(resultEnv.APPROVERS) as string[],
            starterRoleArn: resultEnv.STARTER_ROLE_ARN,
          },
          {
            codepipeline: new CodePipelineClient(client),
            dynamodb: new DynamoDBClient(client),
            sfn: new SFNClient(client),
          },
          () => new Date(),
          { ...RESULT_RESEND, pausesMs: RESULT_RESEND.pausesMs.map(() => 1) },
        );
      }

      it("as deployed: sends a decision refused for KMS throttling again (the SDK does not), delivers it once, then closes the record", async () => {
        const taskToken = approvedRequest();
        const answers = [
          new AwsError("KmsThrottlingException", "KMS throttled", 400),
          new AwsError("KmsThrottlingException", "KMS throttled", 400),
        ];
        aws.on("SendTaskSuccess", () => answers.shift() ?? {});
        const run = await invokeResult(actionEvent(EXECUTION, "SUCCEEDED"), [taskToken]);
        expect(run.error).to.equal(undefined);
        expect(run.result).to.include({ decision: "approved" });
        expect(sends()).to.have.length(3);
        expect(new Set(sends().map((r) => JSON.stringify(r.body))).size).to.equal(1);
        expect(table.items.get(keyOf(taskToken))!.decision).to.deep.equal({ S: "approved" });
      });

      it("ThrottlingException and KmsThrottlingException a few times, then accepted: exactly one decision, every send the same", async () => {
        const taskToken = approvedRequest();
        const answers = [
          new AwsError("ThrottlingException", "Rate exceeded", 400),
          new AwsError("KmsThrottlingException", "KMS throttled", 400),
          new AwsError("ThrottlingException", "Rate exceeded", 400),
        ];
        aws.on("SendTaskSuccess", () => answers.shift() ?? {});
        expect(await deliverInProcess(1)).to.include({ decision: "approved", approver: CONTROLLER });
        expect(sends()).to.have.length(4);
        expect(new Set(sends().map((r) => JSON.stringify(r.body))).size).to.equal(1);
        expect(sends()[0].body.taskToken).to.equal(taskToken);
        expect(table.items.get(keyOf(taskToken))!.decision).to.deep.equal({ S: "approved" });
      });

      it("always throttled: throws (Lambda retries the event, then the dead-letter queue) and leaves the record undecided, so a retry sends it again", async () => {
        const taskToken = approvedRequest();
        aws.on("SendTaskSuccess", () => new AwsError("KmsThrottlingException", "KMS throttled", 400));
        const error = await deliverInProcess(5).then(
          () => expect.fail("delivered"),
          (e: Error) => e,
        );
        expect(error.message).to.equal(
          `DecisionNotDelivered: sending the decision approved for pipeline execution ${EXECUTION} (stage finance) failed after ${RESULT_RESEND.pausesMs.length + 1} attempts with KmsThrottlingException: KMS throttled`,
        );
        expect(aws.operations()).to.not.include("UpdateItem");
        expect(table.items.get(keyOf(taskToken))!.decision).to.equal(undefined);
        expect(new Set(sends().map((r) => JSON.stringify(r.body))).size).to.equal(1);
      });
    });

    it("drives the prod workflow to its end with that exact output (aws-local-stepfunctions)", async () => {
      const taskToken = token();
      waitingRequest(EXECUTION, taskToken);
      listActions({
        [EXECUTION]: actionExecution(EXECUTION, {
          status: "Succeeded",
          updatedBy: CONTROLLER,
          output: { executionResult: { externalExecutionSummary: "budget ok" } },
        }),
      });
      let delivered: unknown;
      aws.on("SendTaskSuccess", (body) => {
        delivered = JSON.parse(body.output);
        return {};
      });
      await invokeResult(actionEvent(EXECUTION, "SUCCEEDED"), [taskToken]);
      const prod = await runProgram("prod", stackConfig("prod"));
      const definition = JSON.parse(named(prod.resources, "approvals-state-machine").inputs.definition);
      const manager = stageDecision({
        decision: "approved",
        stage: "manager",
        mechanism: "ssm-automation",
        approver: "arn:aws:iam::123456789012:user/alice",
        decidedAt: "2026-11-22T08:30:00Z",
      });
      const result = await runDefinition(definition, EXPENSE_REPORT, {
        taskHandlers: {
          ...inMemoryAuditBucket(definition).handlers,
          "Approval manager": async () => manager,
          "Approval finance": async () => delivered,
        },
        taskToken: "local-token",
      });
      expect(result.status).to.equal("SUCCEEDED");
      expect(result.output).to.deep.equal({
        approved: true,
        decision: "approved",
        stages: [manager, delivered],
        request: EXPENSE_REPORT,
      });
    });

    it("fails the execution when someone who is not an approver answered, even with an approval", async () => {
      for (const [updatedBy, status, state] of [
        ["arn:aws:sts::123456789012:assumed-role/Admin/mallory", "Succeeded", "SUCCEEDED"],
        ["arn:aws:sts::999999999999:assumed-role/FinanceApprover/eve", "Succeeded", "SUCCEEDED"],
        [undefined, "Succeeded", "SUCCEEDED"],
        ["arn:aws:iam::123456789012:user/mallory", "Failed", "FAILED"],
      ] as const) {
        aws.reset();
        table.items.clear();
        table.install(aws);
        const taskToken = token();
        waitingRequest(EXECUTION, taskToken);
        listActions({ [EXECUTION]: actionExecution(EXECUTION, { status, ...(updatedBy ? { updatedBy } : {}) }) });
        aws.on("SendTaskFailure", () => ({})).on("SendTaskSuccess", () => ({}));
        const run = await invokeResult(actionEvent(EXECUTION, state), [taskToken]);
        expect(aws.operations(), String(updatedBy)).to.deep.equal([
          "GetPipelineExecution",
          "GetItem",
          "ListActionExecutions",
          "SendTaskFailure",
          "UpdateItem",
        ]);
        expect(aws.requests[3].body).to.deep.equal({
          taskToken,
          error: "UnauthorizedApprover",
          cause: `The approval of pipeline execution ${EXECUTION} was answered by ${updatedBy ?? "an unknown principal"}, who is not an approver of stage finance; nothing was decided`,
        });
        expect(run.result).to.deep.equal({ failed: "UnauthorizedApprover" });
      }
    });

    it("sends a rejection by a listed approver, naming them", async () => {
      const taskToken = token();
      waitingRequest(EXECUTION, taskToken);
      listActions({
        [EXECUTION]: actionExecution(EXECUTION, {
          status: "Failed",
          updatedBy: CONTROLLER,
          output: { executionResult: { externalExecutionSummary: "over budget" } },
        }),
      });
      aws.on("SendTaskSuccess", () => ({}));
      await invokeResult(actionEvent(EXECUTION, "FAILED"), [taskToken]);
      expect(JSON.parse(aws.requests[3].body.output)).to.deep.equal({
        approved: false,
        decision: "rejected",
        stage: "finance",
        mechanism: "codepipeline",
        approver: CONTROLLER,
        comment: "over budget",
        decidedAt: "2026-11-22T09:00:00Z",
      });
    });

    it("sends timed_out for an approval that failed undecided at the timeout recorded when it started", async () => {
      const taskToken = token();
      waitingRequest(EXECUTION, taskToken, { timeoutSeconds: { N: "3600" } });
      listActions({ [EXECUTION]: actionExecution(EXECUTION, { status: "Failed", lastUpdateTime: STARTED + 3600 }) });
      aws.on("SendTaskSuccess", () => ({}));
      await invokeResult(actionEvent(EXECUTION, "FAILED"), [taskToken]);
      expect(JSON.parse(aws.requests[3].body.output)).to.deep.equal({
        approved: false,
        decision: "timed_out",
        stage: "finance",
        mechanism: "codepipeline",
        approver: null,
        comment: null,
        decidedAt: "2026-11-22T09:00:00Z",
      });
    });

    it("fails the execution (SendTaskFailure) when the approval action broke early without a decision", async () => {
      const taskToken = token();
      waitingRequest(EXECUTION, taskToken);
      listActions({
        [EXECUTION]: actionExecution(EXECUTION, {
          status: "Failed",
          lastUpdateTime: STARTED + 5,
          output: {
            executionResult: {
              errorDetails: { code: "JobFailed", message: "Insufficient permissions to publish to the topic" },
            },
          },
        }),
      });
      aws.on("SendTaskFailure", () => ({}));
      const run = await invokeResult(actionEvent(EXECUTION, "FAILED"), [taskToken]);
      expect(aws.operations()).to.deep.equal([
        "GetPipelineExecution",
        "GetItem",
        "ListActionExecutions",
        "SendTaskFailure",
        "UpdateItem",
      ]);
      expect(aws.requests[3].body).to.deep.equal({
        taskToken,
        error: "ApprovalActionFailed",
        cause: `The approval action of pipeline execution ${EXECUTION} (stage finance) failed without a decision: Insufficient permissions to publish to the topic`,
      });
      expect(run.result).to.deep.equal({ failed: "ApprovalActionFailed" });
    });

    it("fails the execution (ApprovalCanceled), not a rejection, when the pipeline execution was stopped or canceled", async () => {
      const taskToken = token();
      waitingRequest(EXECUTION, taskToken);
      listActions({ [EXECUTION]: actionExecution(EXECUTION, { status: "Abandoned" }) });
      aws.on("SendTaskFailure", () => ({})).on("SendTaskSuccess", () => ({}));
      await invokeResult(actionEvent(EXECUTION, "CANCELED"), [taskToken]);
      expect(aws.operations()).to.deep.equal([
        "GetPipelineExecution",
        "GetItem",
        "ListActionExecutions",
        "SendTaskFailure",
        "UpdateItem",
      ]);
      expect(aws.requests[3].body).to.include({
        error: "ApprovalCanceled",
        cause: `The pipeline execution ${EXECUTION} (stage finance) was stopped or canceled before anyone decided`,
      });
    });

    it("sends nothing twice for a repeated event", async () => {
      const taskToken = token();
      waitingRequest(EXECUTION, taskToken, { decidedAt: { S: "2026-11-22T09:00:00Z" }, decision: { S: "approved" } });
      listActions({ [EXECUTION]: actionExecution(EXECUTION, { status: "Succeeded", updatedBy: CONTROLLER }) });
      aws.on("SendTaskSuccess", () => ({}));
      const run = await invokeResult(actionEvent(EXECUTION, "SUCCEEDED"), [taskToken]);
      expect(run.result).to.deep.equal({ duplicate: true, decision: "approved" });
      expect(aws.operations()).to.deep.equal(["GetPipelineExecution", "GetItem"]);
    });

    it("sends nothing when the event and the action disagree", async () => {
      const taskToken = token();
      waitingRequest(EXECUTION, taskToken);
      listActions({ [EXECUTION]: actionExecution(EXECUTION, { status: "Failed", updatedBy: CONTROLLER }) });
      aws.on("SendTaskSuccess", () => ({}));
      const run = await invokeResult(actionEvent(EXECUTION, "SUCCEEDED"), [taskToken]);
      expect(run.error!.message).to.match(
        /^InconsistentEvent: the event says SUCCEEDED but the approval action .* is 'Failed'; refusing to decide$/,
      );
      expect(aws.operations()).to.deep.equal(["GetPipelineExecution", "GetItem", "ListActionExecutions"]);
    });

    it("sends nothing for a pipeline execution with no recorded token", async () => {
      executions({ [EXECUTION]: { status: "InProgress", trigger: STARTER, key: "0".repeat(64) } });
      aws.on("SendTaskSuccess", () => ({}));
      const run = await invokeResult(actionEvent(EXECUTION, "SUCCEEDED"), []);
      expect(run.error!.message).to.equal(
        `MissingTaskToken: no task token is recorded for pipeline execution ${EXECUTION}; no decision sent`,
      );
      expect(aws.operations()).to.deep.equal(["GetPipelineExecution", "GetItem"]);
    });

    it("ignores, quietly, a pipeline execution started without an approval key (by hand): no request, nothing sent", async () => {
      executions({
        [EXECUTION]: {
          status: "InProgress",
          trigger: {
            triggerType: "StartPipelineExecution",
            triggerDetail: "arn:aws:sts::123456789012:assumed-role/Admin/bob",
          },
          key: "-",
        },
      });
      aws.on("SendTaskSuccess", () => ({}));
      const run = await invokeResult(actionEvent(EXECUTION, "SUCCEEDED"), []);
      expect(run.ok).to.equal(true);
      expect(run.result).to.deep.equal({
        ignored: "it carries the default ApprovalKey '-', so no start function started it",
      });
      expect(aws.operations()).to.deep.equal(["GetPipelineExecution"]);
    });

    // Issue 11, defect 2: "When a pipeline is created, a pipeline execution starts automatically"
    // (CodePipeline User Guide, pipelines-about-starting.html; trigger type CreatePipeline). The
    // Approval stage's entry condition fails that run, so the pipeline FAILS: that event must end quietly.
    it("ignores the run CodePipeline starts when the pipeline is created: nothing sent, nothing thrown (no dead letter, no alarm), the log says why", async () => {
      executions({
        [EXECUTION]: {
          status: "Failed",
          trigger: { triggerType: "CreatePipeline", triggerDetail: "arn:aws:iam::123456789012:user/deployer" },
          key: "-",
        },
      });
      aws.on("SendTaskSuccess", () => ({})).on("SendTaskFailure", () => ({}));
      // The pipeline event, and (had the approval been entered anyway) the approval's own event.
      const runs = await Promise.all([
        invokeResult(pipelineEvent(EXECUTION, "FAILED"), []),
        invokeResult(actionEvent(EXECUTION, "SUCCEEDED"), []),
      ]);
      for (const run of runs) {
        expect(run.ok).to.equal(true);
        expect(run.result).to.deep.equal({
          ignored: "CodePipeline started it when the pipeline was created (trigger CreatePipeline)",
        });
        expect(run.logs).to.contain("no request: pipeline execution ignored");
      }
      expect(aws.operations()).to.deep.equal(["GetPipelineExecution", "GetPipelineExecution"]);
    });

    // Issue 11, defect 3: anyone allowed to start the pipeline can start a look-alike with a waiting
    // request's key; only executions the start function's role started may decide.
    it("lets no look-alike execution decide a waiting request, even with its key and an approver's answer: the request waits, and its own execution decides it", async () => {
      const taskToken = token();
      waitingRequest(EXECUTION, taskToken);
      const [ADMIN_COPY, NAMESAKE_COPY] = [
        "11111111-2222-4333-8444-555555555555",
        "66666666-7777-4888-9999-aaaaaaaaaaaa",
      ];
      executions({
        [EXECUTION]: { status: "InProgress", trigger: STARTER, key: keyOf(taskToken) },
        [ADMIN_COPY]: {
          status: "InProgress",
          trigger: {
            triggerType: "StartPipelineExecution",
            triggerDetail: startedByRoleSession(ACCOUNT_ID, "Admin", "mallory"),
          },
          key: keyOf(taskToken),
        },
        // A role of the same name in another account is another principal.
        [NAMESAKE_COPY]: {
          status: "InProgress",
          trigger: {
            triggerType: "StartPipelineExecution",
            triggerDetail: startedByRoleSession("999999999999", starterRole, "stage-finance-start-fn-a1b2c3d"),
          },
          key: keyOf(taskToken),
        },
      });
      const approved = (id: string) =>
        actionExecution(id, {
          status: "Succeeded",
          updatedBy: CONTROLLER,
          output: { executionResult: { externalExecutionSummary: "ok" } },
        });
      listActions({
        [EXECUTION]: approved(EXECUTION),
        [ADMIN_COPY]: approved(ADMIN_COPY),
        [NAMESAKE_COPY]: approved(NAMESAKE_COPY),
      });
      aws.on("SendTaskSuccess", () => ({})).on("SendTaskFailure", () => ({}));
      const copies = await Promise.all(
        [ADMIN_COPY, NAMESAKE_COPY].map((id) => invokeResult(actionEvent(id, "SUCCEEDED"), [taskToken])),
      );
      expect(copies[0].error!.message).to.equal(
        `ForeignExecution: pipeline execution ${ADMIN_COPY} was started by StartPipelineExecution by arn:aws:sts::123456789012:assumed-role/Admin/mallory, not by this stage's start function; no decision sent`,
      );
      expect(copies[1].error!.message).to.match(
        new RegExp(
          `^ForeignExecution: pipeline execution ${NAMESAKE_COPY} was started by StartPipelineExecution by arn:aws:sts::999999999999:assumed-role/`,
        ),
      );
      expect(aws.operations()).to.deep.equal(["GetPipelineExecution", "GetPipelineExecution"]);
      expect(table.items.get(keyOf(taskToken))!.decidedAt).to.equal(undefined);

      const real = await invokeResult(actionEvent(EXECUTION, "SUCCEEDED"), [taskToken]);
      expect(real.result).to.include({ approved: true, decision: "approved", approver: CONTROLLER });
      expect(aws.requests.filter((r) => r.operation === "SendTaskSuccess").map((r) => r.body.taskToken)).to.deep.equal([
        taskToken,
      ]);
    });

    // Review finding: a second execution the start function itself started for the same token (an
    // invocation by hand) passes the trigger check; only the execution bound to the record decides.
    it("lets no second execution of the start function's role decide: only the execution bound to the record does (UnboundExecution)", async () => {
      const taskToken = token();
      const SECOND = "77777777-8888-4999-aaaa-bbbbbbbbbbbb";
      waitingRequest(EXECUTION, taskToken);
      executions({
        [EXECUTION]: { status: "InProgress", trigger: STARTER, key: keyOf(taskToken) },
        [SECOND]: { status: "InProgress", trigger: STARTER, key: keyOf(taskToken) },
      });
      listActions({ [SECOND]: actionExecution(SECOND, { status: "Succeeded", updatedBy: CONTROLLER }) });
      aws.on("SendTaskSuccess", () => ({}));
      const run = await invokeResult(actionEvent(SECOND, "SUCCEEDED"), [taskToken]);
      expect(run.error!.message).to.equal(
        `UnboundExecution: pipeline execution ${SECOND} is not the one started for this request; no decision sent`,
      );
      expect(aws.operations()).to.deep.equal(["GetPipelineExecution", "GetItem"]);
      // Not bound yet (the start function has not finished): nothing decides, the event is retried.
      table.items.get(keyOf(taskToken))!.pipelineExecutionId = undefined;
      const early = await invokeResult(actionEvent(EXECUTION, "SUCCEEDED"), [taskToken]);
      expect(early.error!.message).to.equal(
        `UnboundExecution: pipeline execution ${EXECUTION} is not the one started for this request (none is bound yet); no decision sent`,
      );
      expect(aws.operations().filter((op) => op.startsWith("SendTask"))).to.deep.equal([]);
    });

    // Review finding: the event names which run of the action ended (action-execution-id); a retried
    // Approval stage has two runs, and one may reject while the other approves.
    it("decides from the action run the event names, and fails the request (ApprovalStageRetried) when the Approval stage ran twice", async () => {
      const taskToken = token();
      waitingRequest(EXECUTION, taskToken);
      const rejected = actionExecution(EXECUTION, {
        actionExecutionId: "run-1",
        status: "Failed",
        updatedBy: CONTROLLER,
      });
      const approved = actionExecution(EXECUTION, {
        actionExecutionId: "run-2",
        status: "Succeeded",
        updatedBy: CONTROLLER,
      });
      listedActions(EXECUTION, [approved, rejected]);
      aws.on("SendTaskFailure", () => ({})).on("SendTaskSuccess", () => ({}));
      const run = await invokeResult(actionEvent(EXECUTION, "FAILED", { "action-execution-id": "run-1" }), [taskToken]);
      expect(run.result).to.deep.equal({ failed: "ApprovalStageRetried" });
      expect(aws.operations()).to.deep.equal([
        "GetPipelineExecution",
        "GetItem",
        "ListActionExecutions",
        "SendTaskFailure",
        "UpdateItem",
      ]);
      expect(aws.requests[3].body).to.deep.include({ taskToken, error: "ApprovalStageRetried" });

      // One run only, but not the one the event names: nothing is decided from another run's answer.
      aws.reset();
      table.items.clear();
      table.install(aws);
      const other = token();
      waitingRequest(EXECUTION, other);
      listedActions(EXECUTION, [approved]);
      aws.on("SendTaskSuccess", () => ({}));
      const mismatch = await invokeResult(actionEvent(EXECUTION, "SUCCEEDED", { "action-execution-id": "run-1" }), [
        other,
      ]);
      expect(mismatch.error!.message).to.equal(
        `ActionNotFound: pipeline execution ${EXECUTION} has no approval action execution run-1`,
      );
      expect(aws.operations()).to.not.include("SendTaskSuccess");
    });

    /** ListActionExecutions for one execution: exactly these action executions. */
    function listedActions(pipelineExecutionId: string, details: Array<Record<string, unknown>>): void {
      aws.on("ListActionExecutions", (body) => ({
        actionExecutionDetails: body.filter.pipelineExecutionId === pipelineExecutionId ? details : [],
      }));
    }

    // Issue 11, defect 4: a pipeline that ends before its approval action sends no action event; the
    // request must end at once (the failed execution raises the workflow's failed-executions alarm).
    it("fails the request at once (ApprovalPipelineFailed) when its pipeline fails or is stopped before the approval action ran", async () => {
      for (const [state, status, source, reason] of [
        [
          "FAILED",
          "Failed",
          {
            status: "Failed",
            output: {
              executionResult: {
                errorDetails: { code: "JobFailed", message: "Insufficient permissions: s3:GetObject" },
              },
            },
          },
          ": Request/Request Failed (Insufficient permissions: s3:GetObject)",
        ],
        ["STOPPED", "Stopped", { status: "Succeeded" }, ""],
      ] as const) {
        aws.reset();
        table.items.clear();
        table.install(aws);
        const taskToken = token();
        waitingRequest(EXECUTION, taskToken, {}, status);
        listedActions(EXECUTION, [
          actionExecution(EXECUTION, { stageName: "Request", actionName: "Request", ...source }),
        ]);
        aws.on("SendTaskFailure", () => ({})).on("SendTaskSuccess", () => ({}));
        const run = await invokeResult(pipelineEvent(EXECUTION, state), [taskToken]);
        expect(run.result, state).to.deep.equal({ failed: "ApprovalPipelineFailed" });
        expect(aws.operations()).to.deep.equal([
          "GetPipelineExecution",
          "GetItem",
          "ListActionExecutions",
          "SendTaskFailure",
          "UpdateItem",
        ]);
        expect(aws.requests[3].body).to.deep.equal({
          taskToken,
          error: "ApprovalPipelineFailed",
          cause: `The approval pipeline execution ${EXECUTION} of stage finance ended ${state} before its approval action ran${reason}`,
        });
        expect(table.items.get(keyOf(taskToken))!.decision).to.deep.equal({ S: "failed:ApprovalPipelineFailed" });
      }
    });

    it("never lets a pipeline that ends after its approval ran (say, the Record stage failed) change the decision, in either order of the events", async () => {
      const taskToken = token();
      waitingRequest(EXECUTION, taskToken, {}, "Failed");
      listedActions(EXECUTION, [
        actionExecution(EXECUTION, { stageName: "Record", actionName: "RecordApproval", status: "Failed" }),
        actionExecution(EXECUTION, {
          status: "Succeeded",
          updatedBy: CONTROLLER,
          output: { executionResult: { externalExecutionSummary: "ok" } },
        }),
      ]);
      aws.on("SendTaskSuccess", () => ({})).on("SendTaskFailure", () => ({}));
      // The pipeline's event first: the approval action ran, so its own event decides.
      const early = await invokeResult(pipelineEvent(EXECUTION, "FAILED"), [taskToken]);
      expect(early.result).to.deep.equal({
        deferred: `the approval action of ${EXECUTION} ran (Succeeded); its event decides`,
      });
      expect(aws.operations()).to.deep.equal(["GetPipelineExecution", "GetItem", "ListActionExecutions"]);
      const decided = await invokeResult(actionEvent(EXECUTION, "SUCCEEDED"), [taskToken]);
      expect(decided.result).to.include({ approved: true, decision: "approved" });
      // The pipeline's event again, after the decision (redelivered, or simply later): nothing changes.
      aws.requests.length = 0;
      const late = await invokeResult(pipelineEvent(EXECUTION, "FAILED"), [taskToken]);
      expect(late.result).to.deep.equal({ duplicate: true, decision: "approved" });
      expect(aws.operations()).to.deep.equal(["GetPipelineExecution", "GetItem"]);
      expect(table.items.get(keyOf(taskToken))!.decision).to.deep.equal({ S: "approved" });
    });

    const foreign: Array<[string, unknown, RegExp]> = [
      [
        "an event for another pipeline",
        actionEvent(EXECUTION, "SUCCEEDED", { pipeline: "deploy-payments" }),
        /the event is for pipeline 'deploy-payments', this function handles 'sfn-approvals-prod-finance'/,
      ],
      [
        "an event of another action",
        actionEvent(EXECUTION, "SUCCEEDED", {
          stage: "Record",
          action: "RecordApproval",
          type: { category: "Deploy" },
        }),
        /expected the approval action 'Approval\/Approve'/,
      ],
      ["a STARTED event", actionEvent(EXECUTION, "STARTED"), /action state 'STARTED' is not a final state/],
      [
        "an event with a malformed execution id",
        actionEvent(EXECUTION, "SUCCEEDED", { "execution-id": "x" }),
        /'detail.execution-id' must be a pipeline execution id/,
      ],
      [
        "an event of another source",
        { ...actionEvent(EXECUTION, "SUCCEEDED"), source: "aws.ssm" },
        /expected source 'aws.codepipeline'/,
      ],
    ];
    for (const [what, event, message] of foreign) {
      it(`sends nothing for ${what} and reports a clear error`, async () => {
        waitingRequest(EXECUTION, token());
        aws.on("SendTaskSuccess", () => ({}));
        const run = await invokeResult(event, []);
        expect(run.ok).to.equal(false);
        expect(run.error!.message).to.match(message);
        expect(aws.requests).to.have.length(0);
      });
    }

    it("keeps two concurrent requests apart: each decision reaches its own task, in any order", async () => {
      const [tokenA, tokenB] = [token(), token()];
      const [idA, idB] = ["aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa", "bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb"];
      pipeline([idA, idB]);
      // Both requests start at the same time; whichever reaches CodePipeline first gets the first id.
      const [startA, startB] = await Promise.all([
        invokeStart(taskEvent(tokenA, "request-a", { title: "Request A", requestId: "A" })),
        invokeStart(taskEvent(tokenB, "request-b", { title: "Request B", requestId: "B" })),
      ]);
      const execOf = new Map([
        [tokenA, startA.result.pipelineExecutionId as string],
        [tokenB, startB.result.pipelineExecutionId as string],
      ]);
      expect(new Set(execOf.values())).to.deep.equal(new Set([idA, idB]));
      expect(table.items.size).to.equal(2);

      // B is rejected and A approved, delivered at the same time: each decision must reach its own token.
      listActions({
        [execOf.get(tokenA)!]: actionExecution(execOf.get(tokenA)!, {
          status: "Succeeded",
          updatedBy: CONTROLLER,
          output: { executionResult: { externalExecutionSummary: "A ok" } },
        }),
        [execOf.get(tokenB)!]: actionExecution(execOf.get(tokenB)!, {
          status: "Failed",
          updatedBy: CONTROLLER,
          output: { executionResult: { externalExecutionSummary: "B no" } },
        }),
      });
      const sent: Array<{ token: string; output: any }> = [];
      aws.on("SendTaskSuccess", (body) => {
        sent.push({ token: body.taskToken, output: JSON.parse(body.output) });
        return {};
      });
      await Promise.all([
        invokeResult(actionEvent(execOf.get(tokenB)!, "FAILED"), [tokenB]),
        invokeResult(actionEvent(execOf.get(tokenA)!, "SUCCEEDED"), [tokenA]),
      ]);
      expect(sent).to.have.length(2);
      const forA = sent.filter((s) => s.token === tokenA);
      const forB = sent.filter((s) => s.token === tokenB);
      expect(forA).to.have.length(1);
      expect(forB).to.have.length(1);
      expect(forA[0].output).to.include({ approved: true, decision: "approved", comment: "A ok" });
      expect(forB[0].output).to.include({ approved: false, decision: "rejected", comment: "B no" });
    });
  });

  after(() => {
    // Nothing the handlers logged or threw contains a task token.
    expect(runs.length).to.be.greaterThan(15);
    for (const { run, token: t } of runs.filter((r) => r.token !== "")) {
      expect(run.logs).to.not.contain(t.slice(40, 100));
      expect(JSON.stringify(run.error ?? {})).to.not.contain(t.slice(40, 100));
    }
  });
});
