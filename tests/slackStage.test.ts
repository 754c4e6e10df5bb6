// The slack mechanism in a stack (index.ts under Pulumi mocks): a slack stage with a quorum, its
// exact resources and IAM, its Task, its stack output, and the Slack app's secrets nowhere but in
// the secret's version (not in any other input, output or Lambda archive).
import { expect } from "chai";
import { SLACK_INTERACTIONS_PATH } from "../components/mechanisms/slackApproval";
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
      timeout: "1d",
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
    for (const name of ["stage-ops-start-fn", "stage-ops-interactions-fn"]) {
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

  it("shows the channel and the Interactivity Request URL in the stack output", () => {
    expect(run.outputs.stages[0]).to.deep.include({
      name: "ops",
      mechanism: "slack",
      approvers: APPROVERS,
      channel: CHANNEL,
      interactivityUrl: `https://${API_ID}.execute-api.eu-west-1.amazonaws.com${SLACK_INTERACTIONS_PATH}`,
    });
  });
});
