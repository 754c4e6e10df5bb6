// The email mechanisms in the staging stack (Pulumi.staging.yaml: email-link stage
// 'team-lead', then sns-callback stage 'finance'): every resource and input under Pulumi mocks,
// and the deployed code (the serialized __index.js of the email-link start function and of the
// approval page function) run with node against a fake SNS / Step Functions endpoint on 127.0.0.1.
import * as pulumi from "@pulumi/pulumi";
import { expect } from "chai";
import { MAX_WRITE_SECONDS } from "../components/workflow/auditStates";
import { composeApprovalEmail } from "../functions/mechanisms/email/emailLink";
import { ApprovalPage } from "../components/mechanisms/approvalPage";
import { createApprovalStage } from "../components/mechanisms";
import { StageConfig } from "../components/config";
import { Mechanism } from "../functions/contract";
import { ACCESS_LOG_FORMAT } from "../components/mechanisms/approvalPage";
import { JSONATA_URL_SAFE_TOKEN } from "../components/mechanisms/snsCallbackApproval";
import { encodeToken } from "../functions/mechanisms/email/approvalLink";
import { linkParams } from "../functions/mechanisms/email/approvalPage";
import { codeHashOf, openToken } from "../functions/mechanisms/email/linkCodes";
import { allStates } from "./helpers/aslLint";
import { waitingTaskHistory } from "./helpers/executionHistory";
import { AwsError, FakeAws, snsPublishXml } from "./helpers/fakeAws";
import { EXPENSE_REPORT } from "./helpers/fixtures";
import { approvalTarget } from "./helpers/definitionPaths";
import {
  ACCOUNT_ID,
  API_ID,
  ProgramRun,
  RecordedResource,
  archiveFiles,
  named,
  ofType,
  runProgram,
  runWithMocks,
} from "./helpers/pulumiMocks";
import { HandlerRun, invokeArchive, writeArchive } from "./helpers/serializedHandler";
import { stackConfig } from "./helpers/stackConfig";

const STATE_MACHINE_ARN = `arn:aws:states:eu-west-1:${ACCOUNT_ID}:stateMachine:sfn-approvals-staging`;
/** The decision record's bucket as the mocks name it. */
const AUDIT_BUCKET = "audit-bucket-a1b2c3d";
const EXECUTIONS_ARN = `arn:aws:states:eu-west-1:${ACCOUNT_ID}:execution:sfn-approvals-staging:*`;
const EXECUTION_ARN = `arn:aws:states:eu-west-1:${ACCOUNT_ID}:execution:sfn-approvals-staging:er98765-1`;
const PAGE_URL = `https://${API_ID}.execute-api.eu-west-1.amazonaws.com/decide`;
const TEAM_LEAD_TOPIC = `arn:aws:sns:eu-west-1:${ACCOUNT_ID}:sfn-approvals-staging-team-lead-approvals`;
const FINANCE_TOPIC = `arn:aws:sns:eu-west-1:${ACCOUNT_ID}:sfn-approvals-staging-finance-approvals`;
const ALERTS_TOPIC = `arn:aws:sns:eu-west-1:${ACCOUNT_ID}:sfn-approvals-staging-alerts`;
const TEAM_LEAD_ESCALATION_TOPIC = `arn:aws:sns:eu-west-1:${ACCOUNT_ID}:sfn-approvals-staging-team-lead-escalation`;
const FINANCE_ESCALATION_TOPIC = `arn:aws:sns:eu-west-1:${ACCOUNT_ID}:sfn-approvals-staging-finance-escalation`;
const FUNCTION_ARN = `arn:aws:lambda:eu-west-1:${ACCOUNT_ID}:function`;
const START_FN_ARN = `${FUNCTION_ARN}:stage-team-lead-start-fn-a1b2c3d`;
const PAGE_FN_ARN = `${FUNCTION_ARN}:approval-page-handler-fn-a1b2c3d`;
const CODE_TABLE = "sfn-approvals-staging-link-codes";
const CODE_TABLE_ARN = `arn:aws:dynamodb:eu-west-1:${ACCOUNT_ID}:table/${CODE_TABLE}`;
const KEY_ARN = `arn:aws:kms:eu-west-1:${ACCOUNT_ID}:key/execution-data-key-0000-key-id`;
const STAGES: Record<string, Mechanism> = { "team-lead": "email-link", finance: "sns-callback" };
/** A realistic task token: long, with every base64 character that breaks links ('+', '/', '='). */
const TOKEN = `AQCEAAAAKgAAAAMAAAAAAAAAAe+/=${"Zm9v+bar/baz=".repeat(70)}`;
const TWO_DAYS = 2 * 86400;
const EMAIL_CAPACITY_ERRORS = [
  "Lambda.TooManyRequestsException",
  "ThrottledException",
  "Throttling",
  "ProvisionedThroughputExceededException",
  "RequestLimitExceeded",
  "ThrottlingException",
];
const SNS_CAPACITY_ERRORS = ["SNS.ThrottledException", "SNS.ThrottlingException", "SNS.Throttling"];
const THREE_DAYS = 3 * 86400;

function statements(policy: RecordedResource): any[] {
  return JSON.parse(policy.inputs.policy).Statement;
}

function countByType(resources: RecordedResource[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of resources) counts[r.type] = (counts[r.type] ?? 0) + 1;
  return counts;
}

function writeOwnLogs(logGroup: string) {
  return {
    Sid: "WriteOwnLogs",
    Effect: "Allow",
    Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
    Resource: [`arn:aws:logs:eu-west-1:${ACCOUNT_ID}:log-group:${logGroup}:*`],
  };
}

async function caughtError(run: () => Promise<unknown>): Promise<Error | undefined> {
  try {
    await run();
  } catch (error) {
    return error as Error;
  }
  return undefined;
}

/** The one approval link in an email text. */
function linkIn(message: string): URL {
  const links = message.match(/https:\/\/\S+/g)?.filter((url) => url.startsWith(`${PAGE_URL}?`)) ?? [];
  expect(links, "approval links in the email").to.have.length(1);
  return new URL(links[0]);
}

describe("email stages (staging stack, Pulumi mocks): approval page, email-link 'team-lead', sns-callback 'finance'", () => {
  let staging: ProgramRun;
  let definition: any;

  before(async () => {
    staging = await runProgram("staging", stackConfig("staging"));
    definition = JSON.parse(named(staging.resources, "approvals-state-machine").inputs.definition);
  });

  it("creates exactly the expected resources: one page (API, two routes, a stage), two Lambdas, three topics and two escalation topics, no other mechanism", () => {
    expect(countByType(staging.resources)).to.deep.equal({
      "sfn-approvals:index:ApprovalAlerts": 1,
      "sfn-approvals:index:ApprovalPage": 1,
      "sfn-approvals:index:EmailLinkApproval": 1,
      "sfn-approvals:index:SnsCallbackApproval": 1,
      "sfn-approvals:index:StageFollowUps": 1,
      "sfn-approvals:index:ApprovalWorkflow": 1,
      "sfn-approvals:index:ApprovalFunction": 2,
      "aws:apigatewayv2/api:Api": 1,
      "aws:apigatewayv2/integration:Integration": 1,
      "aws:apigatewayv2/route:Route": 2,
      "aws:apigatewayv2/stage:Stage": 1,
      "aws:lambda/permission:Permission": 1,
      "aws:lambda/function:Function": 2,
      "aws:iam/role:Role": 3,
      "aws:iam/rolePolicy:RolePolicy": 3,
      "aws:cloudwatch/logGroup:LogGroup": 4,
      "aws:cloudwatch/metricAlarm:MetricAlarm": 3,
      "aws:sns/topic:Topic": 5,
      "aws:sns/topicSubscription:TopicSubscription": 6,
      "aws:sfn/stateMachine:StateMachine": 1,
      // Issue 11, defect 12: the execution data key, and the page's table of email-link codes.
      "sfn-approvals:index:WorkflowKey": 1,
      "aws:kms/key:Key": 1,
      "aws:kms/alias:Alias": 1,
      "aws:dynamodb/table:Table": 1,
      // The decision record's bucket and its settings (tests/auditStore.test.ts).
      "sfn-approvals:index:AuditStore": 1,
      "aws:s3/bucket:Bucket": 1,
      "aws:s3/bucketVersioning:BucketVersioning": 1,
      "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": 1,
      "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": 1,
      "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": 1,
      "aws:s3/bucketOwnershipControls:BucketOwnershipControls": 1,
      "aws:s3/bucketPolicy:BucketPolicy": 1,
      // The published version and the alias requests start through (tests/rollout.test.ts).
      "sfn-approvals:index:WorkflowRollout": 1,
      "aws-native:stepfunctions:StateMachineVersion": 1,
      "aws-native:stepfunctions:StateMachineAlias": 1,
    });
    expect(
      ofType(staging.resources, "aws:lambda/function:Function")
        .map((r) => r.name)
        .sort(),
    ).to.deep.equal(["approval-page-handler-fn", "stage-team-lead-start-fn"]);
    expect(
      ofType(staging.resources, "aws:iam/role:Role")
        .map((r) => r.name)
        .sort(),
    ).to.deep.equal(["approval-page-handler-role", "approvals-role", "stage-team-lead-start-role"]);
    expect(
      ofType(staging.resources, "aws:cloudwatch/logGroup:LogGroup")
        .map((r) => `${r.name}=${r.inputs.name}:${r.inputs.retentionInDays}`)
        .sort(),
    ).to.deep.equal([
      "approval-page-access-logs=/sfn-approvals/staging/approval-page-access:365",
      "approval-page-handler-logs=/sfn-approvals/staging/approval-page-handler:365",
      "approvals-logs=/aws/vendedlogs/states/sfn-approvals-staging:365",
      "stage-team-lead-start-logs=/sfn-approvals/staging/stage-team-lead-start:365",
    ]);
  });

  describe("approval page", () => {
    it("is an HTTP API named after the project and stack", () => {
      const api = named(staging.resources, "approval-page-api").inputs;
      expect(Object.keys(api).sort()).to.deep.equal(["description", "name", "protocolType"]);
      expect(api).to.include({ name: "sfn-approvals-staging-approval-page", protocolType: "HTTP" });
      expect(api.description).to.contain("sfn-approvals-staging");
    });

    it("integrates the page function as a Lambda proxy, payload format 2.0, within the HTTP API's 30 s", () => {
      expect(named(staging.resources, "approval-page-integration").inputs).to.deep.equal({
        apiId: API_ID,
        integrationType: "AWS_PROXY",
        integrationUri: PAGE_FN_ARN,
        payloadFormatVersion: "2.0",
        timeoutMilliseconds: 29000,
      });
    });

    it("routes exactly GET /decide and POST /decide, both to that integration", () => {
      const routes = ofType(staging.resources, "aws:apigatewayv2/route:Route").map((r) => r.inputs);
      expect(routes.sort((a, b) => a.routeKey.localeCompare(b.routeKey))).to.deep.equal([
        { apiId: API_ID, routeKey: "GET /decide", target: "integrations/approval-page-integration-id" },
        { apiId: API_ID, routeKey: "POST /decide", target: "integrations/approval-page-integration-id" },
      ]);
    });

    it("serves the $default stage, auto-deployed, throttled to 5 requests/s (burst 10), with access logs", () => {
      const stage = named(staging.resources, "approval-page-stage").inputs;
      expect(stage).to.deep.equal({
        apiId: API_ID,
        name: "$default",
        autoDeploy: true,
        defaultRouteSettings: { throttlingRateLimit: 5, throttlingBurstLimit: 10 },
        accessLogSettings: {
          destinationArn: `arn:aws:logs:eu-west-1:${ACCOUNT_ID}:log-group:/sfn-approvals/staging/approval-page-access`,
          format: ACCESS_LOG_FORMAT,
        },
      });
      expect(named(staging.resources, "approval-page-access-logs").inputs).to.deep.equal({
        name: "/sfn-approvals/staging/approval-page-access",
        retentionInDays: 365,
      });
    });

    it("never writes a query string (the link's token) into the access log", () => {
      const format: string = named(staging.resources, "approval-page-stage").inputs.accessLogSettings.format;
      const fields = JSON.parse(format) as Record<string, string>;
      const variables = Object.values(fields).flatMap((value) => value.match(/\$context\.[A-Za-z0-9_.]+/g) ?? []);
      expect(variables.length).to.be.greaterThan(3);
      // Every variable it logs is one that cannot hold the query string.
      const safe = [
        "$context.requestId",
        "$context.requestTime",
        "$context.identity.sourceIp",
        "$context.identity.userAgent",
        "$context.routeKey",
        "$context.status",
        "$context.responseLength",
        "$context.integrationErrorMessage",
      ];
      for (const variable of variables) expect(safe, variable).to.include(variable);
      expect(format).to.not.match(
        /\$context\.path|\$context\.requestOverride|\$context\.resourcePath|querystring|rawQueryString|\$input|\$request\./i,
      );
      expect(Object.keys(fields)).to.include("routeKey");
    });

    it("lets only this API's /decide routes invoke the page function", () => {
      expect(named(staging.resources, "approval-page-invoke").inputs).to.deep.equal({
        action: "lambda:InvokeFunction",
        function: "approval-page-handler-fn-a1b2c3d",
        principal: "apigateway.amazonaws.com",
        sourceArn: `arn:aws:execute-api:eu-west-1:${ACCOUNT_ID}:${API_ID}/*/*/decide`,
      });
    });

    it("gives the page function exactly: its logs, reading this workflow's executions, heartbeat and success on this state machine (no SendTaskFailure)", () => {
      const all = statements(named(staging.resources, "approval-page-handler-policy"));
      expect(all).to.deep.equal([
        writeOwnLogs("/sfn-approvals/staging/approval-page-handler"),
        {
          Sid: "ReadExecutionsOfStateMachine",
          Effect: "Allow",
          Action: ["states:DescribeExecution", "states:GetExecutionHistory"],
          Resource: [EXECUTIONS_ARN],
        },
        {
          Sid: "AnswerTasksOfStateMachine",
          Effect: "Allow",
          Action: ["states:SendTaskHeartbeat", "states:SendTaskSuccess"],
          Resource: [STATE_MACHINE_ARN],
        },
        {
          Sid: "ReadAndClaimLinkCodes",
          Effect: "Allow",
          Action: ["dynamodb:GetItem", "dynamodb:UpdateItem"],
          Resource: [CODE_TABLE_ARN],
        },
        {
          Sid: "DecryptExecutionData",
          Effect: "Allow",
          Action: ["kms:Decrypt"],
          Resource: [KEY_ARN],
          Condition: {
            StringLike: {
              "kms:EncryptionContext:aws:states:stateMachineArn": [STATE_MACHINE_ARN, `${STATE_MACHINE_ARN}:*`],
            },
          },
        },
      ]);
      expect(JSON.stringify(all)).to.not.contain("SendTaskFailure");
      expect(
        JSON.parse(named(staging.resources, "approval-page-handler-role").inputs.assumeRolePolicy).Statement,
      ).to.deep.equal([{ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }]);
    });

    it("deploys the page function with the state machine and the email stages as its settings", () => {
      const fn = named(staging.resources, "approval-page-handler-fn").inputs;
      expect(fn).to.include({
        runtime: "nodejs24.x",
        memorySize: 128,
        timeout: 30,
        handler: "__index.handler",
        role: `arn:aws:iam::${ACCOUNT_ID}:role/approval-page-handler-role-a1b2c3d`,
      });
      expect(fn.loggingConfig).to.deep.equal({
        logFormat: "JSON",
        logGroup: "/sfn-approvals/staging/approval-page-handler",
      });
      expect(fn.environment.variables).to.deep.equal({
        STATE_MACHINE_ARN,
        STAGES: JSON.stringify(STAGES),
        CODE_LINK_MECHANISMS: JSON.stringify(["email-link"]),
        CODE_TABLE_NAME: CODE_TABLE,
      });
      expect(JSON.parse(fn.environment.variables.STAGES)).to.deep.equal(STAGES);
    });

    it("alarms the operators' topic on any 5xx of the page", () => {
      expect(named(staging.resources, "approval-page-errors-alarm").inputs).to.deep.include({
        namespace: "AWS/ApiGateway",
        metricName: "5xx",
        dimensions: { ApiId: API_ID, Stage: "$default" },
        statistic: "Sum",
        period: 300,
        evaluationPeriods: 1,
        threshold: 0,
        comparisonOperator: "GreaterThanThreshold",
        treatMissingData: "notBreaching",
        alarmActions: [ALERTS_TOPIC],
      });
    });

    it("keeps the email-link codes in an encrypted, point-in-time-recoverable, pay-per-request table whose items expire (TTL)", () => {
      expect(named(staging.resources, "approval-page-link-codes").inputs).to.deep.equal({
        name: CODE_TABLE,
        billingMode: "PAY_PER_REQUEST",
        hashKey: "codeHash",
        attributes: [{ name: "codeHash", type: "S" }],
        ttl: { attributeName: "expiresAt", enabled: true },
        pointInTimeRecovery: { enabled: true },
        serverSideEncryption: { enabled: true },
      });
    });
  });

  describe("email-link stage 'team-lead'", () => {
    it("emails through its own topic, one email subscription per approver", () => {
      expect(named(staging.resources, "stage-team-lead-topic").inputs).to.deep.equal({
        name: "sfn-approvals-staging-team-lead-approvals",
        displayName: "Approval team-lead",
      });
      const subscriptions = ofType(staging.resources, "aws:sns/topicSubscription:TopicSubscription").filter((r) =>
        r.name.startsWith("stage-team-lead-"),
      );
      expect(subscriptions.map((r) => [r.name, r.inputs]).sort()).to.deep.equal([
        [
          "stage-team-lead-approver-deputy-lead-example-com",
          { topic: TEAM_LEAD_TOPIC, protocol: "email", endpoint: "deputy-lead@example.com" },
        ],
        [
          "stage-team-lead-approver-lead-example-com",
          { topic: TEAM_LEAD_TOPIC, protocol: "email", endpoint: "lead@example.com" },
        ],
      ]);
    });

    it("deploys the start function with its stage, topic, page URL and timeout", () => {
      const fn = named(staging.resources, "stage-team-lead-start-fn").inputs;
      expect(fn).to.include({
        runtime: "nodejs24.x",
        memorySize: 128,
        timeout: 30,
        handler: "__index.handler",
        role: `arn:aws:iam::${ACCOUNT_ID}:role/stage-team-lead-start-role-a1b2c3d`,
      });
      expect(fn.loggingConfig).to.deep.equal({
        logFormat: "JSON",
        logGroup: "/sfn-approvals/staging/stage-team-lead-start",
      });
      expect(fn.environment.variables).to.deep.equal({
        STAGE_NAME: "team-lead",
        TOPIC_ARN: TEAM_LEAD_TOPIC,
        APPROVAL_PAGE_URL: PAGE_URL,
        TIMEOUT_SECONDS: String(TWO_DAYS),
        CODE_TABLE_NAME: CODE_TABLE,
      });
    });

    it("gives the start function exactly: its logs, sns:Publish on its own topic and PutItem on the page's code table (no key, no read)", () => {
      expect(statements(named(staging.resources, "stage-team-lead-start-policy"))).to.deep.equal([
        writeOwnLogs("/sfn-approvals/staging/stage-team-lead-start"),
        { Sid: "PublishApprovalEmail", Effect: "Allow", Action: ["sns:Publish"], Resource: [TEAM_LEAD_TOPIC] },
        { Sid: "StoreLinkCodes", Effect: "Allow", Action: ["dynamodb:PutItem"], Resource: [CODE_TABLE_ARN] },
      ]);
    });

    it("waits in a lambda:invoke.waitForTaskToken Task for 2 days (in the decision branch of its follow-ups); a timeout becomes timed_out", () => {
      const states = allStates(definition);
      expect(states["Approval team-lead"]).to.deep.equal({
        Type: "Task",
        Comment: "Approval stage 'team-lead' (email-link): waits for the decision",
        Resource: "arn:aws:states:::lambda:invoke.waitForTaskToken",
        Parameters: {
          FunctionName: START_FN_ARN,
          Payload: {
            "taskToken.$": "$$.Task.Token",
            "request.$": "$.request",
            stage: "team-lead",
            "executionArn.$": "$$.Execution.Id",
          },
        },
        TimeoutSeconds: TWO_DAYS,
        ResultPath: "$.decisions.team_lead",
        // Quota and throttling refusals wait for capacity about the stage's 2 days (capacityRetry.ts).
        Retry: [
          {
            ErrorEquals: EMAIL_CAPACITY_ERRORS,
            IntervalSeconds: 5,
            MaxAttempts: 203,
            BackoffRate: 2,
            MaxDelaySeconds: 1728,
            JitterStrategy: "FULL",
          },
        ],
        Catch: [
          // Inside the follow-up Parallel: a failure named like the decision error is refused first.
          {
            ErrorEquals: ["sfn-approvals.StageDecided"],
            ResultPath: null,
            Next: "Approval team-lead forged decision refused",
          },
          {
            ErrorEquals: ["States.Timeout"],
            ResultPath: "$.decisions.team_lead",
            Next: "Approval team-lead timed out",
          },
          {
            ErrorEquals: EMAIL_CAPACITY_ERRORS,
            ResultPath: "$.decisions.team_lead",
            Next: "Approval team-lead no capacity",
          },
        ],
        Next: "Approval team-lead decided",
      });
      expect(states["Approval team-lead timed out"].Next).to.equal("Approval team-lead decided");
      expect(states["Approval team-lead timed out"].Parameters).to.deep.include({
        approved: false,
        decision: "timed_out",
        stage: "team-lead",
        mechanism: "email-link",
      });
    });
  });

  describe("sns-callback stage 'finance'", () => {
    it("has its topic and one email subscription, and no Lambda, role or policy of its own", () => {
      expect(named(staging.resources, "stage-finance-topic").inputs).to.deep.equal({
        name: "sfn-approvals-staging-finance-approvals",
        displayName: "Approval finance",
      });
      expect(named(staging.resources, "stage-finance-approver-finance-example-com").inputs).to.deep.equal({
        topic: FINANCE_TOPIC,
        protocol: "email",
        endpoint: "finance@example.com",
      });
      expect(
        staging.resources
          .filter((r) => r.name.startsWith("stage-finance"))
          .map((r) => `${r.type} ${r.name}`)
          .sort(),
      ).to.deep.equal([
        "aws:sns/topic:Topic stage-finance-topic",
        "aws:sns/topicSubscription:TopicSubscription stage-finance-approver-finance-example-com",
        "sfn-approvals:index:SnsCallbackApproval stage-finance",
      ]);
    });

    it("publishes from the state machine itself (JSONata sns:publish.waitForTaskToken) and waits 3 days; a timeout becomes timed_out", () => {
      const states = allStates(definition);
      const task = states["Approval finance"];
      expect(Object.keys(task).sort()).to.deep.equal([
        "Arguments",
        "Catch",
        "Comment",
        "Next",
        "Output",
        "QueryLanguage",
        "Resource",
        "Retry",
        "TimeoutSeconds",
        "Type",
      ]);
      expect(task).to.deep.include({
        Type: "Task",
        QueryLanguage: "JSONata",
        Resource: "arn:aws:states:::sns:publish.waitForTaskToken",
        TimeoutSeconds: THREE_DAYS,
        Next: "Approval finance decided",
        Catch: [
          {
            ErrorEquals: ["sfn-approvals.StageDecided"],
            Output: "{% $states.input %}",
            Next: "Approval finance forged decision refused",
          },
          { ErrorEquals: ["States.Timeout"], Output: "{% $states.input %}", Next: "Approval finance timed out" },
          {
            ErrorEquals: SNS_CAPACITY_ERRORS,
            Output: "{% $merge([$states.input, {'failure': $states.errorOutput}]) %}",
            Next: "Approval finance no capacity",
          },
        ],
        Retry: [
          {
            ErrorEquals: SNS_CAPACITY_ERRORS,
            IntervalSeconds: 5,
            MaxAttempts: 205,
            BackoffRate: 2,
            MaxDelaySeconds: 2592,
            JitterStrategy: "FULL",
          },
        ],
      });
      expect(Object.keys(task.Arguments).sort()).to.deep.equal(["Message", "Subject", "TopicArn"]);
      expect(task.Arguments.TopicArn).to.equal(FINANCE_TOPIC);
      // The link: the page URL, the token base64url-encoded, this execution, this stage.
      expect(task.Arguments.Message).to.contain(
        `"${PAGE_URL}?t=" & ${JSONATA_URL_SAFE_TOKEN} & '&e=' & $encodeUrlComponent($states.context.Execution.Id) & "&s=finance"`,
      );
      expect(task.Output).to.equal(
        "{% $merge([$states.input, {'decisions': $merge([$states.input.decisions, {'finance': $states.result}])}]) %}",
      );
      // No Lambda on the send path, and nothing of the JSONPath dialect in this JSONata state.
      expect(JSON.stringify(task)).to.not.match(/lambda|"Parameters"|"ResultPath"|\$\$\./);
      expect(states["Approval finance timed out"]).to.deep.include({
        Type: "Pass",
        ResultPath: "$.decisions.finance",
        Next: "Approval finance decided",
      });
      expect(states["Approval finance timed out"].Parameters).to.deep.include({
        approved: false,
        decision: "timed_out",
        stage: "finance",
        mechanism: "sns-callback",
      });
    });
  });

  describe("workflow", () => {
    it("runs auto-approve, then team-lead, then finance, within the sum of their waits and capacity waits", () => {
      expect(definition.States["Check auto-approve"].Default).to.equal("Approval team-lead with follow-ups");
      expect(approvalTarget(definition, "team-lead")).to.equal("Approval finance with follow-ups");
      expect(approvalTarget(definition, "finance")).to.equal("Approved");
      // Each stage's start may wait for capacity up to twice its wait (capacityRetry.ts) before the wait begins.
      expect(definition.TimeoutSeconds).to.equal(3 * (TWO_DAYS + THREE_DAYS) + 600 + 3 * MAX_WRITE_SECONDS);
    });

    it("lets the state machine exactly: invoke the team-lead start function, publish to the finance topic, deliver its logs", () => {
      const all = statements(named(staging.resources, "approvals-policy"));
      expect(all).to.deep.equal([
        {
          Sid: "InvokeStartteamlead",
          Effect: "Allow",
          Action: ["lambda:InvokeFunction"],
          Resource: [START_FN_ARN, `${START_FN_ARN}:*`],
        },
        { Sid: "PublishApprovalEmailfinance", Effect: "Allow", Action: ["sns:Publish"], Resource: [FINANCE_TOPIC] },
        // Reminders go to each stage's approver topic; escalations to the stage's escalation topic.
        {
          Sid: "PublishRemindersAndEscalations",
          Effect: "Allow",
          Action: ["sns:Publish"],
          Resource: [TEAM_LEAD_TOPIC, TEAM_LEAD_ESCALATION_TOPIC, FINANCE_TOPIC, FINANCE_ESCALATION_TOPIC],
        },
        {
          Sid: "DeliverExecutionLogs",
          Effect: "Allow",
          Action: [
            "logs:CreateLogDelivery",
            "logs:GetLogDelivery",
            "logs:UpdateLogDelivery",
            "logs:DeleteLogDelivery",
            "logs:ListLogDeliveries",
            "logs:PutResourcePolicy",
            "logs:DescribeResourcePolicies",
            "logs:DescribeLogGroups",
          ],
          Resource: ["*"],
        },
        // The execution data key (see tests/executionDataKey.test.ts for the key policy's side).
        {
          Sid: "EncryptExecutionData",
          Effect: "Allow",
          Action: ["kms:Decrypt", "kms:GenerateDataKey"],
          Resource: [KEY_ARN],
          Condition: {
            StringLike: {
              "kms:EncryptionContext:aws:states:stateMachineArn": [STATE_MACHINE_ARN, `${STATE_MACHINE_ARN}:*`],
            },
          },
        },
        {
          Sid: "EncryptLogDeliveries",
          Effect: "Allow",
          Action: ["kms:GenerateDataKey"],
          Resource: [KEY_ARN],
          Condition: { StringEquals: { "kms:EncryptionContext:SourceArn": `arn:aws:logs:eu-west-1:${ACCOUNT_ID}:*` } },
        },
        {
          Sid: "WriteDecisionRecords",
          Effect: "Allow",
          Action: ["s3:PutObject"],
          Resource: [`arn:aws:s3:::${AUDIT_BUCKET}/records/*`],
        },
      ]);
      const trust = JSON.parse(named(staging.resources, "approvals-role").inputs.assumeRolePolicy).Statement;
      expect(trust).to.deep.equal([
        {
          Effect: "Allow",
          Principal: { Service: "states.amazonaws.com" },
          Action: "sts:AssumeRole",
          Condition: {
            StringEquals: { "aws:SourceAccount": ACCOUNT_ID },
            ArnLike: { "aws:SourceArn": [STATE_MACHINE_ARN, `${STATE_MACHINE_ARN}:*`] },
          },
        },
      ]);
      expect(named(staging.resources, "approvals-state-machine").inputs).to.include({
        name: "sfn-approvals-staging",
        type: "STANDARD",
      });
    });

    it("exports the approval page URL and each stage with its mechanism's outputs", () => {
      const { workflowVersion, workflowDefinitionSha256, ...outputs } = staging.outputs;
      expect([workflowVersion, workflowDefinitionSha256]).to.satisfy(
        ([v, d]: string[]) => /^[0-9a-f]{16}$/.test(v) && /^[0-9a-f]{64}$/.test(d),
      );
      expect(outputs).to.deep.equal({
        aliasArn: `${STATE_MACHINE_ARN}:live`,
        approvalPageFunctionName: "approval-page-handler-fn-a1b2c3d",
        auditBucketName: AUDIT_BUCKET,
        stateMachineArn: STATE_MACHINE_ARN,
        stateMachineName: "sfn-approvals-staging",
        region: "eu-west-1",
        autoApproveBelow: 500,
        alertTopicArn: ALERTS_TOPIC,
        executionDataKeyArn: KEY_ARN,
        approvalPageUrl: PAGE_URL,
        stages: [
          {
            name: "team-lead",
            mechanism: "email-link",
            approvers: ["lead@example.com", "deputy-lead@example.com"],
            timeout: "2d",
            remindEvery: "12h",
            escalateTo: ["head-of-engineering@example.com"],
            escalateAfter: "75%",
            escalationTopicArn: TEAM_LEAD_ESCALATION_TOPIC,
            topicArn: TEAM_LEAD_TOPIC,
            approvalPageUrl: PAGE_URL,
            startFunctionName: "stage-team-lead-start-fn-a1b2c3d",
          },
          {
            name: "finance",
            mechanism: "sns-callback",
            approvers: ["finance@example.com"],
            timeout: "3d",
            remindEvery: "1d",
            escalateTo: ["cfo-office@example.com"],
            escalateAfter: "50%",
            escalationTopicArn: FINANCE_ESCALATION_TOPIC,
            topicArn: FINANCE_TOPIC,
            approvalPageUrl: PAGE_URL,
          },
        ],
      });
    });

    it("packages both new functions as the handler alone (no node_modules, no Pulumi), under 50 KB (the page: 64 KB), needing only SDK clients the runtime provides", async () => {
      for (const name of ["stage-team-lead-start-fn", "approval-page-handler-fn"]) {
        const files = await archiveFiles(named(staging.resources, name));
        expect(Object.keys(files), name).to.deep.equal(["__index.js"]);
        const code = files["__index.js"];
        // The page holds its HTML and CSS, the history walk and the code table's claim, release and confirmation.
        expect(Buffer.byteLength(code), name).to.be.below((name === "approval-page-handler-fn" ? 64 : 50) * 1024);
        expect(code, name).to.not.match(/@pulumi\//);
        const required = [...code.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]);
        expect(required.length, name).to.be.greaterThan(0);
        for (const module of required)
          expect(module, name).to.match(/^(@aws-sdk\/client-(sns|sfn|dynamodb)\/|crypto$|node:)/);
      }
    });
  });

  describe("contradictory use of the email components", () => {
    const emailStage: StageConfig = {
      name: "team-lead",
      mechanism: "email-link",
      approvers: ["lead@example.com"],
      minRequiredApprovals: 1,
      notify: [],
      timeoutSeconds: 3600,
      timeout: "1h",
    };

    it("an email stage without the approval page fails with a RunError saying what to pass", async () => {
      for (const mechanism of ["email-link", "sns-callback"] as const) {
        const error = await caughtError(() =>
          runWithMocks("staging", {}, () => createApprovalStage({ ...emailStage, mechanism }, { alarmActions: [] })),
        );
        expect(error, mechanism).to.be.instanceOf(pulumi.RunError);
        expect(error!.message).to.equal(
          `Stage 'team-lead': ${mechanism} needs the approval page; create an ApprovalPage and pass its url as approvalPageUrl`,
        );
      }
    });

    it("an ApprovalPage refuses an empty stage map and a stage of another mechanism", async () => {
      const empty = await caughtError(() =>
        runWithMocks(
          "staging",
          {},
          () => new ApprovalPage("page", { stateMachineName: "sfn-approvals-staging", stages: {} }),
        ),
      );
      expect(empty?.message).to.equal("ApprovalPage page: needs at least one stage");
      const other = await caughtError(() =>
        runWithMocks(
          "staging",
          {},
          () =>
            new ApprovalPage("page", {
              stateMachineName: "sfn-approvals-staging",
              stages: { "team-lead": "email-link", manager: "activity" },
            }),
        ),
      );
      expect(other?.message).to.equal(
        "ApprovalPage page: stage 'manager' uses activity; only email-link and sns-callback stages decide on the page",
      );
    });
  });
});

describe("email-link start function (staging 'team-lead'), as deployed: serialized __index.js against a fake SNS and DynamoDB endpoint", function () {
  const aws = new FakeAws();
  let dir: string;
  let env: Record<string, string>;
  const runs: HandlerRun[] = [];
  const event = { taskToken: TOKEN, request: EXPENSE_REPORT, stage: "team-lead", executionArn: EXECUTION_ARN };

  before(async () => {
    const staging = await runProgram("staging", stackConfig("staging"));
    const fn = named(staging.resources, "stage-team-lead-start-fn");
    dir = writeArchive(await archiveFiles(fn));
    const url = await aws.start();
    env = { ...fn.inputs.environment.variables, AWS_ENDPOINT_URL_SNS: url, AWS_ENDPOINT_URL_DYNAMODB: url };
  });
  after(() => aws.stop());
  beforeEach(() => {
    aws.reset();
    aws.on("PutItem", () => ({}));
  });

  async function invoke(input: unknown): Promise<HandlerRun> {
    const run = await invokeArchive(dir, input, env);
    runs.push(run);
    return run;
  }

  it("stores the code's item first (its hash, the token sealed under it), then publishes one email whose link carries only the code", async () => {
    aws.on("Publish", () => snsPublishXml("msg-0001"));
    const before = Date.now();
    const run = await invoke(event);
    const after = Date.now();
    expect(run.error).to.equal(undefined);
    expect(run.result).to.deep.equal({ messageId: "msg-0001" });
    expect(aws.operations()).to.deep.equal(["PutItem", "Publish"]);
    const [put, request] = aws.requests;
    expect(request.target).to.equal("query.Publish");
    expect(Object.keys(request.body).sort()).to.deep.equal(["Action", "Message", "Subject", "TopicArn", "Version"]);
    expect(request.body).to.include({
      Action: "Publish",
      TopicArn: TEAM_LEAD_TOPIC,
      Subject: "Approval needed: Expense report ER98765",
    });
    const message: string = request.body.Message;
    expect(message.split("\n").slice(0, 6)).to.deep.equal([
      "Approval requested: Expense report ER98765",
      "Request: ER98765",
      "Requester: Jane Doe <jane@example.com>",
      "Amount: 750.5 USD",
      "Link: https://example.com/reports/ER98765",
      'Details: {"transactions":[{"date":"2024-09-20","description":"Flight to New York","amount":450}]}',
    ]);
    expect(message).to.contain("\nWorkflow: sfn-approvals-staging\nExecution: er98765-1\nStage: team-lead\n");
    const deadline = Date.parse(/\nDecide by: (\S+)\n/.exec(message)![1]);
    expect(deadline).to.be.within(before + TWO_DAYS * 1000 - 1000, after + TWO_DAYS * 1000);

    // The link: the page and one parameter, c, a 256-bit random code (base64url).
    const link = linkIn(message);
    expect(`${link.origin}${link.pathname}`).to.equal(PAGE_URL);
    expect([...link.searchParams.keys()]).to.deep.equal(["c"]);
    const code = link.searchParams.get("c")!;
    expect(code).to.match(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(code, "base64url")).to.have.length(32);
    // Neither the token (raw or base64url) nor the execution ARN travels in the link; the token is nowhere in the email.
    expect(link.search).to.equal(`?c=${code}`);
    expect(message).to.not.contain(TOKEN.slice(26, 90)).and.not.contain(encodeToken(TOKEN).slice(40, 100));
    // A token link naming this email-link stage opens nothing on the page.
    expect(
      linkParams(
        { t: encodeToken(TOKEN), e: EXECUTION_ARN, s: "team-lead" },
        { stateMachineArn: STATE_MACHINE_ARN, stages: STAGES, codeLinkMechanisms: ["email-link"] },
      ),
    ).to.equal(undefined);

    // The item, written before the email (conditionally: a code is never stored twice): the code's
    // hash, never the code; the token only sealed under the code, bound to stage and execution.
    expect(put.target).to.equal("DynamoDB_20120810.PutItem");
    expect(put.body.TableName).to.equal(CODE_TABLE);
    expect(put.body.ConditionExpression).to.equal("attribute_not_exists(codeHash)");
    const item = put.body.Item;
    expect(Object.keys(item).sort()).to.deep.equal([
      "codeHash",
      "createdAt",
      "executionArn",
      "expiresAt",
      "sealedToken",
      "stage",
    ]);
    expect(item.codeHash).to.deep.equal({ S: codeHashOf(code) });
    expect(item).to.deep.include({ stage: { S: "team-lead" }, executionArn: { S: EXECUTION_ARN } });
    expect(Number(item.expiresAt.N)).to.equal(Math.ceil(deadline / 1000));
    expect(Date.parse(item.createdAt.S)).to.be.within(before, after);
    const stored = JSON.stringify(put.body);
    expect(stored)
      .to.not.contain(code)
      .and.not.contain(TOKEN.slice(26, 90))
      .and.not.contain(encodeToken(TOKEN).slice(40, 100));
    expect(openToken(code, item.sealedToken.S, "team-lead", EXECUTION_ARN)).to.equal(TOKEN);
    expect(openToken(code, item.sealedToken.S, "finance", EXECUTION_ARN), "bound to its stage").to.equal(undefined);
    expect(openToken("A".repeat(43), item.sealedToken.S, "team-lead", EXECUTION_ARN), "only with its code").to.equal(
      undefined,
    );
    // It logged what it did (and, checked after all runs, never the token or the code).
    expect(run.logs).to.contain('"msg":"approval email published"').and.contain("msg-0001").and.not.contain(code);
  });

  it("gives every email its own code, and seals a token of the maximum 2048 characters so that it opens back exactly", async () => {
    aws.on("Publish", () => snsPublishXml("msg-0002"));
    const longest = `${TOKEN}${"/+=x".repeat(512)}`.slice(0, 2048);
    expect((await invoke({ ...event, taskToken: longest })).ok).to.equal(true);
    expect((await invoke(event)).ok).to.equal(true);
    const [first, second] = aws.requests
      .filter((r) => r.operation === "Publish")
      .map((r) => linkIn(r.body.Message).searchParams.get("c")!);
    expect(first).to.not.equal(second);
    const [item] = aws.requests.filter((r) => r.operation === "PutItem").map((r) => r.body.Item);
    expect(openToken(first, item.sealedToken.S, "team-lead", EXECUTION_ARN)).to.equal(longest);
  });

  it("publishes nothing (the task fails) when the code cannot be stored: no email holds a link that could not work", async () => {
    // An error the SDK does not retry: a throttled PutItem would be retried 5 times with up to 15 s
    // of random backoff first, and end the same way.
    aws.on("PutItem", () => new AwsError("AccessDeniedException", "not authorized to perform: dynamodb:PutItem", 400));
    aws.on("Publish", () => snsPublishXml("msg-never"));
    const run = await invoke(event);
    expect(run.ok).to.equal(false);
    expect(aws.operations()).to.not.include("Publish");
  });

  const badEvents: Array<[string, unknown, RegExp]> = [
    [
      "another stage",
      { ...event, stage: "finance" },
      /^InvalidEvent: this function serves stage 'team-lead', the event names stage 'finance'$/,
    ],
    ["no task token", { ...event, taskToken: undefined }, /^InvalidEvent: 'taskToken' must be a non-empty string/],
    ["an empty task token", { ...event, taskToken: "" }, /^InvalidEvent: 'taskToken' must be a non-empty string/],
    [
      "a request without title",
      { ...event, request: { amount: 10 } },
      /^InvalidEvent: the request is malformed: 'title' is required/,
    ],
    [
      "an amount that is not a number",
      { ...event, request: { ...EXPENSE_REPORT, amount: "750.50" } },
      /^InvalidEvent: the request is malformed: 'amount', when present, must be a number/,
    ],
    ["no execution ARN", { ...event, executionArn: undefined }, /^InvalidEvent: 'executionArn' must be the ARN/],
  ];
  for (const [what, bad, message] of badEvents) {
    it(`refuses an event with ${what} (InvalidEvent) and publishes nothing`, async () => {
      aws.on("Publish", () => snsPublishXml("msg-never"));
      const run = await invoke(bad);
      expect(run.ok).to.equal(false);
      expect(run.error!.message).to.match(message);
      // Nothing stored, nothing published.
      expect(aws.requests).to.have.length(0);
    });
  }

  it("fails the task (an error, not a success) when SNS refuses the message", async () => {
    aws.on("Publish", () => new AwsError("AuthorizationError", "User is not authorized to perform: SNS:Publish", 403));
    const run = await invoke(event);
    expect(run.ok).to.equal(false);
    expect(run.result).to.equal(undefined);
    expect(run.error).to.deep.equal({
      name: "AuthorizationErrorException",
      message: "User is not authorized to perform: SNS:Publish",
    });
    expect(aws.operations()).to.deep.equal(["PutItem", "Publish"]);
  });

  it("fails the task when SNS answers without a MessageId", async () => {
    aws.on("Publish", () => "<PublishResponse><PublishResult></PublishResult></PublishResponse>");
    const run = await invoke(event);
    expect(run.ok).to.equal(false);
    expect(run.error!.message).to.equal("EmailNotSent: SNS returned no MessageId");
  });

  after(() => {
    // Across every run above, nothing the function logged or threw holds the token, raw or base64url.
    expect(runs.length).to.be.greaterThan(9);
    for (const run of runs) {
      for (const secret of [TOKEN.slice(26, 90), encodeToken(TOKEN).slice(40, 100)]) {
        expect(run.logs).to.not.contain(secret);
        expect(JSON.stringify(run.error ?? {})).to.not.contain(secret);
      }
    }
  });
});

describe("approval page function (staging), as deployed: logs", function () {
  const aws = new FakeAws();
  let dir: string;
  let env: Record<string, string>;

  before(async () => {
    const staging = await runProgram("staging", stackConfig("staging"));
    const fn = named(staging.resources, "approval-page-handler-fn");
    dir = writeArchive(await archiveFiles(fn));
    const url = await aws.start();
    env = { ...fn.inputs.environment.variables, AWS_ENDPOINT_URL_SFN: url };
  });
  after(() => aws.stop());
  beforeEach(() => aws.reset());

  const post = (fields: Record<string, string>) => ({
    requestContext: { http: { method: "POST", sourceIp: "203.0.113.7", userAgent: "Mozilla/5.0 test" } },
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      t: encodeToken(TOKEN),
      e: EXECUTION_ARN,
      s: "finance",
      name: "Fiona Finance",
      ...fields,
    }).toString(),
    isBase64Encoded: false,
  });

  const waitingAtFinance = () =>
    aws.on("GetExecutionHistory", () =>
      waitingTaskHistory({ stage: "finance", mechanism: "sns-callback", token: TOKEN, executionArn: EXECUTION_ARN }),
    );

  it("records who decided, from where, never the token, for a decision and for a failure", async () => {
    waitingAtFinance();
    aws.on("SendTaskSuccess", () => ({}));
    const decided = await invokeArchive(dir, post({ decision: "approve" }), env);
    expect(decided.result.statusCode).to.equal(200);
    expect(aws.requests.map((r) => [r.operation, r.body.taskToken])).to.deep.equal([
      ["GetExecutionHistory", undefined],
      ["SendTaskSuccess", TOKEN],
    ]);
    const line = decided.logs.split("\n").find((l) => l.includes("approval decision recorded"));
    expect(JSON.parse(line!)).to.deep.include({
      decision: "approved",
      stage: "finance",
      mechanism: "sns-callback",
      approver: "Fiona Finance (via email link)",
      executionArn: EXECUTION_ARN,
      sourceIp: "203.0.113.7",
      userAgent: "Mozilla/5.0 test",
    });

    aws.reset();
    waitingAtFinance();
    aws.on("SendTaskSuccess", () => new AwsError("AccessDeniedException", "not allowed"));
    const failed = await invokeArchive(dir, post({ decision: "reject" }), env);
    expect(failed.result.statusCode).to.equal(503);
    // AWS refused it (status 400): nothing recorded; the line keeps the attempt.
    const refused = failed.logs.split("\n").find((l) => l.includes("approval decision refused by Step Functions"));
    expect(JSON.parse(refused!)).to.deep.include({
      error: "AccessDeniedException",
      decision: "rejected",
      stage: "finance",
      approver: "Fiona Finance (via email link)",
      executionArn: EXECUTION_ARN,
      sourceIp: "203.0.113.7",
    });

    for (const run of [decided, failed]) {
      expect(run.logs).to.not.contain(TOKEN.slice(26, 90));
      expect(run.logs).to.not.contain(encodeToken(TOKEN).slice(40, 100));
    }
  });
});

describe("the approval email's text (both email mechanisms)", () => {
  it("keeps one-line fields on one line, so a request cannot draw a fake link block above the real link, which comes last", () => {
    const email = composeApprovalEmail({
      request: {
        title: "Lunch\n\nReview the request and approve or reject it here:\nhttps://evil.example/decide?t=abc",
        requester: "Eve\r\nX",
        amount: 0.125,
      },
      stage: "team-lead",
      executionArn: "arn:aws:states:eu-west-1:123456789012:execution:sfn-approvals-staging:x-1",
      link: "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/decide?t=REAL&e=x&s=team-lead",
      deadline: new Date("2026-11-24T10:00:00Z"),
    });
    const lines = email.message.split("\n");
    expect(lines.slice(0, 3)).to.deep.equal([
      "Approval requested: Lunch Review the request and approve or reject it here: https://evil.example/decide?t=abc",
      "Requester: Eve X",
      "Amount: 0.125",
    ]);
    const links = email.message.match(/https:\/\/\S+/g)!;
    expect(links[links.length - 1]).to.equal(
      "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/decide?t=REAL&e=x&s=team-lead",
    );
    expect(email.subject).to.equal(
      "Approval needed: Lunch Review the request and approve or reject it here: https://evil.example/decide?t=abc".slice(
        0,
        99,
      ),
    );
    expect(email.subject).to.not.match(/[\u0000-\u001f]/);
  });

  it("keeps a non-ASCII title in the subject, cut at 99 characters", () => {
    const email = composeApprovalEmail({
      request: { title: `Réunion à Zürich ${"é".repeat(120)}` },
      stage: "finance",
      executionArn: "arn:aws:states:eu-west-1:123456789012:execution:sfn-approvals-staging:x-1",
      link: "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/decide?t=T&e=x&s=finance",
      deadline: new Date("2026-11-24T10:00:00Z"),
    });
    expect(Array.from(email.subject)).to.have.length(99);
    expect(email.subject.startsWith("Approval needed: Réunion à Zürich éé")).to.equal(true);
  });
});
