// The slack mechanism in a stack (index.ts under Pulumi mocks): a slack stage with a quorum, its
// exact resources and IAM, its Task, its stack output, and the Slack app's secrets nowhere but in
// the secret's version (not in any other input, output or Lambda archive).
import { TextDocument, getLanguageService } from "amazon-states-language-service";
import { expect } from "chai";
import {
  CLOSE_MAX_SECONDS,
  FOLLOW_UP_RETRY,
  FOLLOW_UP_TASK_TIMEOUT_SECONDS,
  SLACK_INTERACTIONS_PATH,
} from "../components/mechanisms/slackApproval";
import { MAX_WRITE_SECONDS } from "../components/workflow/auditStates";
import { EXECUTION_TIMEOUT_MARGIN_SECONDS } from "../components/workflow/definition";
import { STAGE_DECIDED_ERROR, followUpStateNames } from "../functions/contract";
import {
  ACCOUNT_ID,
  API_ID,
  ProgramRun,
  RecordedResource,
  archiveFiles,
  named,
  ofType,
  runProgram,
} from "./helpers/pulumiMocks";
import { validateDefinition } from "./helpers/aslLint";
import { stackConfig } from "./helpers/stackConfig";

const BOT_TOKEN = "xoxb-1111-2222-SLACKSTAGETESTBOTTOKEN";
const SIGNING_SECRET = "8f14e45fceea167a5a36dedd4bea2543slackstage";
const APPROVERS = ["U0000000001", "U0000000002", "W0000000003"];
const CHANNEL = "C0123456789";
const PREFIX = "sfn-approvals-dev-ops";
const SECRET_ARN = `arn:aws:secretsmanager:eu-west-1:${ACCOUNT_ID}:secret:${PREFIX}-slack-app-AbCdEf`;
const TABLE = `${PREFIX}-slack-requests`;
const TABLE_ARN = `arn:aws:dynamodb:eu-west-1:${ACCOUNT_ID}:table/${TABLE}`;
const STATE_MACHINE_ARN = `arn:aws:states:eu-west-1:${ACCOUNT_ID}:stateMachine:sfn-approvals-dev`;
const LOGS = `arn:aws:logs:eu-west-1:${ACCOUNT_ID}:log-group:`;

const CONFIG = stackConfig("dev", {
  "sfn-approvals:stages": [
    {
      name: "ops",
      mechanism: "slack",
      approvers: APPROVERS,
      minRequiredApprovals: 2,
      channel: CHANNEL,
      directMessages: true,
      timeout: "1d",
      remindEvery: "4h",
      escalateTo: ["lead@example.com"],
    },
  ],
  "sfn-approvals:slackTeamId": "T0123456789",
  "sfn-approvals:slackBotToken": BOT_TOKEN,
  "sfn-approvals:slackSigningSecret": SIGNING_SECRET,
});

function statementsOf(policy: RecordedResource): any[] {
  return JSON.parse(policy.inputs.policy as string).Statement;
}

describe("slack stage (index.ts under mocks)", () => {
  let run: ProgramRun;
  before(async function () {
    this.timeout(60000);
    run = await runProgram("dev", CONFIG);
  });

  it("keeps the app's bot token and signing secret in one Secrets Manager secret, as a secret value", () => {
    expect(named(run.resources, "stage-ops-slack-app").inputs).to.deep.include({
      name: `${PREFIX}-slack-app`,
      description: "sfn-approvals ops: the Slack app's bot token and signing secret",
    });
    const version = named(run.resources, "stage-ops-slack-app-value");
    expect(version.type).to.equal("aws:secretsmanager/secretVersion:SecretVersion");
    // Pulumi's wire form of a secret value (sig.Secret): encrypted in state, "[secret]" in previews.
    const secretString = version.inputs.secretString as Record<string, unknown>;
    expect(secretString["4dabf18193072939515e22adb298388d"]).to.equal("1b47061264138c4ac30d75fd1eb44270");
    expect(JSON.parse(secretString.value as string)).to.deep.equal({
      botToken: BOT_TOKEN,
      signingSecret: SIGNING_SECRET,
    });
  });

  it("shows neither secret in any other resource input or stack output", () => {
    const others = run.resources.filter((r) => r.name !== "stage-ops-slack-app-value");
    const text = JSON.stringify([others.map((r) => r.inputs), run.outputs]);
    expect(text).to.not.include(BOT_TOKEN);
    expect(text).to.not.include(SIGNING_SECRET);
  });

  it("ships handlers that hold no secret and load the Secrets Manager client at run time", async function () {
    this.timeout(60000);
    for (const name of ["stage-ops-start-fn", "stage-ops-interactions-fn", "stage-ops-follow-up-fn"]) {
      const files = await archiveFiles(named(run.resources, name));
      const code = files["__index.js"];
      // Not bundled: like every SDK client (EXCLUDED_PACKAGES, components/shared/approvalFunction.ts),
      // required from the runtime's SDK as the other clients are.
      expect(Object.keys(files), name).to.deep.equal(["__index.js"]);
      expect(code, name).to.include('require("@aws-sdk/client-secrets-manager/dist-cjs/index.js")');
      expect(code, name).to.not.include(BOT_TOKEN);
      expect(code, name).to.not.include(SIGNING_SECRET);
    }
  });

  it("stores requests in a table keyed by the key's hash, with TTL and point-in-time recovery", () => {
    expect(named(run.resources, "stage-ops-requests").inputs).to.deep.equal({
      name: TABLE,
      billingMode: "PAY_PER_REQUEST",
      hashKey: "keyHash",
      attributes: [{ name: "keyHash", type: "S" }],
      ttl: { attributeName: "expiresAt", enabled: true },
      pointInTimeRecovery: { enabled: true },
      serverSideEncryption: { enabled: true },
    });
  });

  it("gives the start function the stage's settings, and the interaction function the workspace", () => {
    expect(named(run.resources, "stage-ops-start-fn").inputs.environment.variables).to.deep.equal({
      SLACK_STAGE: "ops",
      SLACK_CHANNEL: CHANNEL,
      SLACK_APPROVERS: JSON.stringify(APPROVERS),
      SLACK_REQUIRED: "2",
      SLACK_TIMEOUT_SECONDS: "86400",
      SLACK_TABLE: TABLE,
      SLACK_SECRET_ID: SECRET_ARN,
      // directMessages: true (the start function DMs each approver after the channel message).
      SLACK_DIRECT_MESSAGES: "true",
    });
    expect(named(run.resources, "stage-ops-interactions-fn").inputs.environment.variables).to.deep.equal({
      SLACK_TEAM_ID: "T0123456789",
      SLACK_TABLE: TABLE,
      SLACK_SECRET_ID: SECRET_ARN,
      SLACK_COMMENT_ON_APPROVE: "false",
    });
  });

  it("allows each function exactly what it calls", () => {
    const logs = (fn: string) => ({
      Sid: "WriteOwnLogs",
      Effect: "Allow",
      Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
      Resource: [`${LOGS}/sfn-approvals/dev/${fn}:*`],
    });
    const secret = {
      Sid: "ReadSlackAppSecret",
      Effect: "Allow",
      Action: ["secretsmanager:GetSecretValue"],
      Resource: [SECRET_ARN],
    };
    expect(statementsOf(named(run.resources, "stage-ops-start-policy"))).to.deep.equal([
      logs("stage-ops-start"),
      secret,
      {
        Sid: "StoreSlackRequests",
        Effect: "Allow",
        Action: ["dynamodb:PutItem", "dynamodb:UpdateItem"],
        Resource: [TABLE_ARN],
      },
    ]);
    expect(statementsOf(named(run.resources, "stage-ops-interactions-policy"))).to.deep.equal([
      logs("stage-ops-interactions"),
      secret,
      {
        Sid: "VoteOnSlackRequests",
        Effect: "Allow",
        Action: ["dynamodb:GetItem", "dynamodb:UpdateItem"],
        Resource: [TABLE_ARN],
      },
    ]);
    expect(statementsOf(named(run.resources, "stage-ops-decision"))).to.deep.equal([
      {
        Sid: "SendDecisionToStateMachine",
        Effect: "Allow",
        Action: ["states:SendTaskSuccess"],
        Resource: [STATE_MACHINE_ARN],
      },
    ]);
  });

  it("gives the follow-up function the stage, its table and its secret only, and lets it read and close requests", () => {
    expect(named(run.resources, "stage-ops-follow-up-fn").inputs.environment.variables).to.deep.equal({
      SLACK_STAGE: "ops",
      SLACK_TABLE: TABLE,
      SLACK_SECRET_ID: SECRET_ARN,
    });
    expect(statementsOf(named(run.resources, "stage-ops-follow-up-policy"))).to.deep.equal([
      {
        Sid: "WriteOwnLogs",
        Effect: "Allow",
        Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
        Resource: [`${LOGS}/sfn-approvals/dev/stage-ops-follow-up:*`],
      },
      { Sid: "ReadSlackAppSecret", Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: [SECRET_ARN] },
      {
        Sid: "CloseSlackRequests",
        Effect: "Allow",
        Action: ["dynamodb:GetItem", "dynamodb:UpdateItem"],
        Resource: [TABLE_ARN],
      },
    ]);
  });

  it("alarms when the follow-up function fails (to the stack's alerts)", () => {
    const alarm = named(run.resources, "stage-ops-follow-up-errors-alarm");
    expect(alarm.inputs).to.deep.include({
      namespace: "AWS/Lambda",
      metricName: "Errors",
      dimensions: { FunctionName: "stage-ops-follow-up-fn-a1b2c3d" },
      statistic: "Sum",
      threshold: 0,
    });
    expect(alarm.inputs.alarmActions).to.have.length(1);
  });

  it("alarms on a decision the workflow did not confirm and on a click that failed inside the function (log metric filters)", () => {
    const filters = run.resources.filter((r) => r.type === "aws:cloudwatch/logMetricFilter:LogMetricFilter");
    const metric = { name: `${PREFIX}-slack-decisions-at-risk`, namespace: "sfn-approvals", value: "1" };
    expect(filters.map((f) => f.inputs)).to.deep.equal([
      {
        name: `${PREFIX}-slack-not-confirmed`,
        logGroupName: "/sfn-approvals/dev/stage-ops-interactions",
        pattern: '"slack decision not confirmed"',
        metricTransformation: metric,
      },
      {
        name: `${PREFIX}-slack-failed-clicks`,
        logGroupName: "/sfn-approvals/dev/stage-ops-interactions",
        pattern: '"slack interaction failed"',
        metricTransformation: metric,
      },
    ]);
    const alarm = named(run.resources, "stage-ops-decisions-at-risk-alarm");
    expect(alarm.inputs).to.deep.include({
      namespace: "sfn-approvals",
      metricName: metric.name,
      statistic: "Sum",
      threshold: 0,
      comparisonOperator: "GreaterThanThreshold",
    });
    expect(alarm.inputs.alarmActions).to.have.length(1);
  });

  describe("its states", () => {
    const FUNCTIONS = `arn:aws:lambda:eu-west-1:${ACCOUNT_ID}:function:`;
    const names = followUpStateNames("ops");
    let definition: any;
    let decisionBranch: Record<string, any>;
    before(() => {
      definition = JSON.parse(named(run.resources, "approvals-state-machine").inputs.definition);
      decisionBranch = definition.States[names.wrapper].Branches[0].States;
    });

    it("passes asl-validator, our lint and the Amazon States Language service", async () => {
      expect(validateDefinition(definition)).to.deep.equal([]);
      const document = TextDocument.create("file:///slack.asl.json", "json", 1, JSON.stringify(definition, null, 2));
      const service = getLanguageService({});
      const diagnostics = await service.doValidation(document, service.parseJSONDocument(document));
      expect(diagnostics.map((d) => `line ${d.range.start.line + 1}: ${d.message}`)).to.deep.equal([]);
    });

    it("after the timed-out Pass, a Task invokes the follow-up function to close the request; any failure goes on with the decision unchanged", () => {
      expect(decisionBranch["Approval ops timed out"]).to.deep.include({
        ResultPath: "$.decisions.ops",
        Next: "Close ops request",
      });
      expect(decisionBranch["Close ops request"]).to.deep.equal({
        Type: "Task",
        Comment:
          "Marks the Slack request of stage 'ops' timed out and says so in its message; a failure here leaves the decision timed_out",
        Resource: "arn:aws:states:::lambda:invoke",
        Parameters: {
          FunctionName: `${FUNCTIONS}stage-ops-follow-up-fn-a1b2c3d`,
          Payload: { action: "close", stage: "ops", "executionArn.$": "$$.Execution.Id" },
        },
        TimeoutSeconds: 35,
        ResultPath: null,
        Retry: [{ ErrorEquals: ["States.ALL"], IntervalSeconds: 2, MaxAttempts: 2, BackoffRate: 2 }],
        Catch: [
          // Added by the follow-ups (every Task of the decision branch): a forged decision error fails.
          { ErrorEquals: [STAGE_DECIDED_ERROR], ResultPath: null, Next: names.forged },
          { ErrorEquals: ["States.ALL"], ResultPath: null, Next: names.decided },
        ],
        Next: names.decided,
      });
      expect(FOLLOW_UP_TASK_TIMEOUT_SECONDS).to.equal(35);
      expect(FOLLOW_UP_RETRY.MaxAttempts).to.equal(2);
    });

    it("reminds through the follow-up function (a reply in the thread), not SNS", () => {
      const reminders = definition.States[names.wrapper].Branches[1].States;
      expect(reminders[names.reminderWait]).to.deep.include({ Type: "Wait", Seconds: 14400 });
      expect(reminders[names.reminder]).to.deep.equal({
        Type: "Task",
        QueryLanguage: "JSONata",
        Comment: "Reminds the approvers of stage 'ops' who have not voted that a decision is still needed",
        Resource: "arn:aws:states:::lambda:invoke",
        Arguments: {
          FunctionName: `${FUNCTIONS}stage-ops-follow-up-fn-a1b2c3d`,
          Payload: { action: "remind", stage: "ops", executionArn: "{% $states.context.Execution.Id %}" },
        },
        TimeoutSeconds: 35,
        Output: "{% $states.input %}",
        Retry: [{ ErrorEquals: ["States.ALL"], IntervalSeconds: 2, MaxAttempts: 2, BackoffRate: 2 }],
        Catch: [{ ErrorEquals: ["States.ALL"], Output: "{% $states.input %}", Next: names.reminderNotSent }],
        Next: names.reminderCount,
      });
      // 1d / 4h: five reminders before the timeout, none at it.
      expect(reminders[names.remindersLeft].Choices[0]).to.deep.include({ NumericLessThan: 5 });
    });

    it("lets the state machine invoke exactly the start and follow-up functions", () => {
      const invokes = statementsOf(named(run.resources, "approvals-policy")).filter((s) =>
        s.Action.includes("lambda:InvokeFunction"),
      );
      const fn = (name: string) => `${FUNCTIONS}${name}`;
      expect(invokes).to.deep.equal([
        {
          Sid: "InvokeStartops",
          Effect: "Allow",
          Action: ["lambda:InvokeFunction"],
          Resource: [fn("stage-ops-start-fn-a1b2c3d"), fn("stage-ops-start-fn-a1b2c3d:*")],
        },
        {
          Sid: "InvokeFollowUpops",
          Effect: "Allow",
          Action: ["lambda:InvokeFunction"],
          Resource: [fn("stage-ops-follow-up-fn-a1b2c3d"), fn("stage-ops-follow-up-fn-a1b2c3d:*")],
        },
      ]);
      // Reminders publish to no topic; the escalation does.
      const publish = statementsOf(named(run.resources, "approvals-policy")).find((s) =>
        s.Action.includes("sns:Publish"),
      );
      expect(publish.Resource).to.have.length(1);
      expect(publish.Resource[0]).to.match(/ops-escalation$/);
    });

    it("gives the execution time for the close after the stage's wait (three attempts and their pauses)", () => {
      expect(CLOSE_MAX_SECONDS).to.equal(3 * 35 + 2 + 4);
      // The stage's start may also wait for capacity up to twice its wait (capacityRetry.ts).
      const writes =
        definition.TimeoutSeconds - (86400 + 2 * 86400 + CLOSE_MAX_SECONDS + EXECUTION_TIMEOUT_MARGIN_SECONDS);
      // What is left is the decision record's writes (one stage and the outcome), when the stack keeps one.
      const withRecord = Object.keys(definition.States).some((n) => n.startsWith("Record "));
      expect(writes).to.equal(withRecord ? 2 * MAX_WRITE_SECONDS : 0);
    });
  });

  it("receives Slack's interactions on POST /slack/interactions only, through the interaction function", () => {
    const routes = ofType(run.resources, "aws:apigatewayv2/route:Route").filter((r) => r.name.startsWith("stage-ops"));
    expect(routes.map((r) => r.inputs.routeKey)).to.deep.equal([`POST ${SLACK_INTERACTIONS_PATH}`]);
    expect(named(run.resources, "stage-ops-integration").inputs).to.deep.include({
      integrationType: "AWS_PROXY",
      payloadFormatVersion: "2.0",
    });
    expect(named(run.resources, "stage-ops-invoke").inputs).to.deep.include({
      principal: "apigateway.amazonaws.com",
      sourceArn: `arn:aws:execute-api:eu-west-1:${ACCOUNT_ID}:${API_ID}/*/*${SLACK_INTERACTIONS_PATH}`,
    });
  });

  it("shows the channel, the Interactivity Request URL and the functions the doctor reads in the stack output", () => {
    expect(run.outputs.stages[0]).to.deep.include({
      name: "ops",
      mechanism: "slack",
      approvers: APPROVERS,
      channel: CHANNEL,
      interactivityUrl: `https://${API_ID}.execute-api.eu-west-1.amazonaws.com${SLACK_INTERACTIONS_PATH}`,
      interactionFunctionName: "stage-ops-interactions-fn-a1b2c3d",
      followUpFunctionName: "stage-ops-follow-up-fn-a1b2c3d",
    });
  });
});
