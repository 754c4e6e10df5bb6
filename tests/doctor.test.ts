// npm run doctor against AWS-protocol fakes on 127.0.0.1 (FakeAws for the JSON and query protocols
// and Lambda's REST routes, a small S3 for the bucket reads) and a fake `pulumi` printing the stack's
// outputs: a healthy stack, one with an unconfirmed subscription and a role missing a permission, one
// with a codepipeline stage and a fault on every other check, one with a slack stage (its secret, its
// request table, its functions' IAM rows), and what it cannot check. Every request is asserted to be a read.
import { expect } from "chai";
import { spawn } from "child_process";
import { createHash } from "crypto";
import { chmodSync, mkdtempSync, writeFileSync } from "fs";
import { IncomingMessage, Server, createServer } from "http";
import { AddressInfo } from "net";
import { tmpdir } from "os";
import { join } from "path";
import { main } from "../scripts/doctor";
import { fakeAwsCliEnv, runInProcess } from "./helpers/cliEnv";
import { AwsError, FakeAws, RecordedRequest, callerIdentityXml, queryXml, xmlText } from "./helpers/fakeAws";

const ROOT = join(__dirname, "..");
const ACCOUNT = "123456789012";
const arn = (service: string, resource: string) => `arn:aws:${service}:eu-west-1:${ACCOUNT}:${resource}`;
const role = (name: string) => `arn:aws:iam::${ACCOUNT}:role/${name}`;
const STATE_MACHINE = arn("states", "stateMachine:sfn-approvals-prod");
const STATE_MACHINE_ROLE = role("approvals-role-1a2b3c4");
const AUTOMATION_ROLE = role("stage-manager-automation-role-9f8e7d6");
const FUNCTIONS: Record<string, { role: string; env?: Record<string, string>; runtime?: string }> = {
  "stage-manager-start-fn-a1b2c3d": { role: role("stage-manager-start-fn-role-1111111") },
  "stage-manager-result-fn-b2c3d4e": { role: role("stage-manager-result-fn-role-2222222") },
  "stage-link-start-fn-c3d4e5f": { role: role("stage-link-start-fn-role-3333333") },
  "approval-page-handler-fn-d4e5f6a": {
    role: role("approval-page-handler-fn-role-4444444"),
    env: { CODE_TABLE_NAME: "approval-page-link-codes-5e6f7a8" },
  },
};
const fnArn = (name: string) => arn("lambda", `function:${name}`);
const MANAGER_TOPIC = arn("sns", "Automation-sfn-approvals-prod-manager-1a2b3c4");
const LINK_TOPIC = arn("sns", "stage-link-topic-2b3c4d5");
const ALERTS_TOPIC = arn("sns", "alerts-3c4d5e6");
const DLQ_URL = `https://sqs.eu-west-1.amazonaws.com/${ACCOUNT}/stage-manager-dead-letters-dlq-6f7a8b9`;
const RULE = "stage-manager-decision-rule-7a8b9c0";
const BUCKET = "sfn-approvals-prod-records-8b9c0d1";
const DEFINITION = JSON.stringify({
  QueryLanguage: "JSONata",
  StartAt: "Approval manager",
  States: {
    "Approval manager": {
      Type: "Task",
      Resource: "arn:aws:states:::lambda:invoke.waitForTaskToken",
      Arguments: { FunctionName: fnArn("stage-manager-start-fn-a1b2c3d"), Payload: {} },
      Next: "Approval link",
    },
    "Approval link": {
      Type: "Task",
      Resource: "arn:aws:states:::lambda:invoke.waitForTaskToken",
      Arguments: { FunctionName: fnArn("stage-link-start-fn-c3d4e5f"), Payload: {} },
      End: true,
    },
  },
});
const OUTPUTS = {
  stateMachineArn: STATE_MACHINE,
  stateMachineName: "sfn-approvals-prod",
  region: "eu-west-1",
  autoApproveBelow: null,
  alertTopicArn: ALERTS_TOPIC,
  executionDataKeyArn: arn("kms", "key/0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"),
  approvalPageUrl: "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/decide",
  approvalPageFunctionName: "approval-page-handler-fn-d4e5f6a",
  workflowDefinitionSha256: createHash("sha256").update(DEFINITION).digest("hex"),
  aliasArn: `${STATE_MACHINE}:live`,
  auditBucketName: BUCKET,
  stages: [
    {
      name: "manager",
      mechanism: "ssm-automation",
      approvers: [role("ReleaseApprover")],
      timeout: "3d",
      documentName: "sfn-approvals-prod-manager",
      topicArn: MANAGER_TOPIC,
      automationRoleArn: AUTOMATION_ROLE,
      startFunctionName: "stage-manager-start-fn-a1b2c3d",
      resultFunctionName: "stage-manager-result-fn-b2c3d4e",
      deadLetterQueueUrl: DLQ_URL,
    },
    {
      name: "link",
      mechanism: "email-link",
      approvers: ["lead@example.com"],
      timeout: "1d",
      topicArn: LINK_TOPIC,
      approvalPageUrl: "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/decide",
      startFunctionName: "stage-link-start-fn-c3d4e5f",
    },
  ],
};
// A stack with a codepipeline stage too (components/mechanisms/codePipelineApproval.ts: its stage
// output, the pipeline's S3 source object, the Approval stage's Approve action).
const PIPELINE = "sfn-approvals-prod-release-pipeline";
const PIPELINE_ROLE = role("stage-release-pipeline-role-5555555");
const ARTIFACTS = "stage-release-artifacts-9c0d1e2";
const SOURCE_KEY = "request/source.zip";
const PIPELINE_RULE = "stage-release-decision-rule-0e1f2a3";
const RELEASE_DLQ_URL = `https://sqs.eu-west-1.amazonaws.com/${ACCOUNT}/stage-release-dead-letters-dlq-1f2a3b4`;
const PIPELINE_FUNCTIONS: typeof FUNCTIONS = {
  "stage-release-start-fn-e5f6a7b": { role: role("stage-release-start-fn-role-6666666") },
  "stage-release-result-fn-f6a7b8c": { role: role("stage-release-result-fn-role-7777777") },
};
const PIPELINE_OUTPUTS = {
  ...OUTPUTS,
  stages: [
    ...OUTPUTS.stages,
    {
      name: "release",
      mechanism: "codepipeline",
      approvers: [role("ReleaseApprover")],
      timeout: "2d",
      pipelineName: PIPELINE,
      approvalActionArn: `${arn("codepipeline", PIPELINE)}/Approval/Approve`,
      topicArn: arn("sns", "stage-release-topic-4d5e6f7"),
      artifactBucket: ARTIFACTS,
      tokenTableName: "stage-release-tokens-8a9b0c1",
      startFunctionName: "stage-release-start-fn-e5f6a7b",
      resultFunctionName: "stage-release-result-fn-f6a7b8c",
      deadLetterQueueUrl: RELEASE_DLQ_URL,
    },
  ],
};
// A stack with a slack stage too (components/mechanisms/slackApproval.ts: its stage output; its
// functions' environment name the secret by ARN and the request table by name).
const SLACK_SECRET = arn("secretsmanager", "secret:sfn-approvals-prod-ops-slack-app-Ab12Cd");
const SLACK_TABLE = "stage-ops-requests-4d5e6f7";
const SLACK_API_ID = "s1l2a3c4k5";
const SLACK_START = "stage-ops-start-fn-1a2b3c4";
const SLACK_INTERACTION = "stage-ops-interactions-fn-2b3c4d5";
const SLACK_FOLLOW_UP = "stage-ops-follow-up-fn-3c4d5e6";
const slackEnv = { SLACK_TABLE, SLACK_SECRET_ID: SLACK_SECRET };
const SLACK_FUNCTIONS: typeof FUNCTIONS = {
  [SLACK_START]: {
    role: role("stage-ops-start-fn-role-8888888"),
    env: { ...slackEnv, SLACK_STAGE: "ops", SLACK_CHANNEL: "C0123456789", SLACK_REQUIRED: "1" },
  },
  [SLACK_INTERACTION]: {
    role: role("stage-ops-interactions-fn-role-9999999"),
    env: { ...slackEnv, SLACK_TEAM_ID: "T0123456789", SLACK_COMMENT_ON_APPROVE: "false" },
  },
  [SLACK_FOLLOW_UP]: { role: role("stage-ops-follow-up-fn-role-0000000"), env: { ...slackEnv, SLACK_STAGE: "ops" } },
};
const SLACK_OUTPUTS = {
  ...OUTPUTS,
  stages: [
    ...OUTPUTS.stages,
    {
      name: "ops",
      mechanism: "slack",
      approvers: ["U0123456789", "U0123456790"],
      timeout: "1d",
      channel: "C0123456789",
      interactivityUrl: `https://${SLACK_API_ID}.execute-api.eu-west-1.amazonaws.com/slack/interactions`,
      startFunctionName: SLACK_START,
      interactionFunctionName: SLACK_INTERACTION,
      followUpFunctionName: SLACK_FOLLOW_UP,
    },
  ],
};
/** What doctor may send: reads only. */
const READ_ONLY = [
  "GetCallerIdentity",
  "DescribeStateMachine",
  "DescribeStateMachineAlias",
  "GetFunctionConfiguration",
  "ListRuleNamesByTarget",
  "DescribeRule",
  "GetQueueAttributes",
  "GetPipeline",
  "ListSubscriptionsByTopic",
  "SimulatePrincipalPolicy",
  "DescribeSecret",
  "DescribeTimeToLive",
];

/** Just enough S3 (REST-XML, path style for an IP endpoint): GetObjectLockConfiguration and GetBucketVersioning. */
class FakeBucketSettings {
  readonly requests: Array<{ method: string; path: string; query: string }> = [];
  /** false: a bucket created without Object Lock. */
  objectLock = true;
  versioning = "Enabled";
  private server?: Server;
  url = "";
  async start(): Promise<void> {
    this.server = createServer((req: IncomingMessage, res) => {
      const [path, query = ""] = (req.url ?? "").split("?");
      this.requests.push({ method: req.method ?? "", path, query });
      req.resume();
      const ns = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"';
      if (!this.objectLock && /(^|&)object-lock(=|&|$)/.test(query)) {
        // A bucket without Object Lock: 404 ObjectLockConfigurationNotFoundError (not in the SDK model; docs/unknowns.md).
        res.writeHead(404, { "content-type": "application/xml" });
        res.end(
          `<Error><Code>ObjectLockConfigurationNotFoundError</Code><Message>Object Lock configuration does not exist for this bucket</Message><BucketName>${BUCKET}</BucketName><RequestId>0A1B2C3D</RequestId></Error>`,
        );
        return;
      }
      // Shapes: S3 API reference, GetObjectLockConfiguration and GetBucketVersioning.
      const body = /(^|&)object-lock(=|&|$)/.test(query)
        ? `<ObjectLockConfiguration ${ns}><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Years>7</Years></DefaultRetention></Rule></ObjectLockConfiguration>`
        : /(^|&)versioning(=|&|$)/.test(query)
          ? `<VersioningConfiguration ${ns}><Status>${this.versioning}</Status></VersioningConfiguration>`
          : undefined;
      res.writeHead(body ? 200 : 405, { "content-type": "application/xml" });
      res.end(body ?? "<Error><Code>MethodNotAllowed</Code><Message>not faked</Message></Error>");
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  stop(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** The list members of a query-protocol request (`Name.member.N`), in order. */
const members = (body: Record<string, string>, name: string): string[] =>
  Object.keys(body)
    .filter((k) => k.startsWith(`${name}.member.`) && /\.member\.\d+$/.test(k))
    .sort((a, b) => Number(a.split(".").pop()) - Number(b.split(".").pop()))
    .map((k) => body[k]);

interface Simulation {
  principal: string;
  actions: string[];
  resources: string[];
  context: Record<string, string>;
}
const simulationOf = (r: RecordedRequest): Simulation => {
  const context: Record<string, string> = {};
  for (let i = 1; r.body[`ContextEntries.member.${i}.ContextKeyName`]; i++)
    context[r.body[`ContextEntries.member.${i}.ContextKeyName`]] = members(
      r.body,
      `ContextEntries.member.${i}.ContextKeyValues`,
    ).join(",");
  return {
    principal: r.body.PolicySourceArn,
    actions: members(r.body, "ActionNames"),
    resources: members(r.body, "ResourceArns"),
    context,
  };
};

describe("npm run doctor", function () {
  this.timeout(30000);
  const aws = new FakeAws();
  const s3 = new FakeBucketSettings();
  const dir = mkdtempSync(join(tmpdir(), "doctor-"));
  const pulumi = join(dir, "pulumi");
  const home = mkdtempSync(join(tmpdir(), "doctor-home-"));
  let env: Record<string, string> = {};

  before(async () => {
    await Promise.all([aws.start(), s3.start()]);
    writeFileSync(
      pulumi,
      `#!/bin/sh\ncase "$*" in\n"stack output --json --stack prod") cat <<'JSON'\n${JSON.stringify(OUTPUTS)}\nJSON\n;;\n` +
        `"stack output --json --stack with-pipeline") cat <<'JSON'\n${JSON.stringify(PIPELINE_OUTPUTS)}\nJSON\n;;\n` +
        `"stack output --json --stack with-slack") cat <<'JSON'\n${JSON.stringify(SLACK_OUTPUTS)}\nJSON\n;;\n` +
        `*) echo "error: no stack named '$5' found" >&2; exit 255 ;;\nesac\n`,
    );
    chmodSync(pulumi, 0o755);
    env = fakeAwsCliEnv({
      HOME: home,
      AWS_ENDPOINT_URL: aws.url,
      AWS_ENDPOINT_URL_S3: s3.url,
      PULUMI_COMMAND: pulumi,
      AWS_MAX_ATTEMPTS: "1",
    });
  });
  after(() => Promise.all([aws.stop(), s3.stop()]));
  beforeEach(() => {
    aws.reset();
    s3.requests.length = 0;
    s3.objectLock = true;
    s3.versioning = "Enabled";
  });

  /** A deployed stack: every answer healthy unless an option says otherwise. */
  function serveStack(
    opts: {
      denied?: (principal: string, action: string, resources: string[]) => boolean;
      pending?: string[];
      /** Function name -> its runtime (default nodejs24.x). */
      runtimes?: Record<string, string>;
      /** Rule name -> its state (default ENABLED). */
      ruleStates?: Record<string, string>;
      /** Queue URL -> [ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible] (default empty). */
      waiting?: Record<string, [number, number]>;
      /** The definition of the version the alias routes to (default the stack's). */
      versionDefinition?: string;
      /** GetPipeline refused. */
      pipelineRefused?: boolean;
      /** SimulatePrincipalPolicy refused for this principal. */
      simulationRefused?: string;
      /** The slack stage's secret: missing, scheduled for deletion, or without a current value. */
      secret?: "missing" | "deleted" | "no current value";
      /** The slack request table: missing, or its TTL (default ENABLED on expiresAt). */
      table?: "missing" | { TimeToLiveStatus: string; AttributeName?: string };
      /** Functions GetFunctionConfiguration does not find. */
      missingFunctions?: string[];
    } = {},
  ) {
    aws
      .on("GetCallerIdentity", () => callerIdentityXml(role("Operator"), ACCOUNT))
      .on("DescribeStateMachine", (body) =>
        body.stateMachineArn === STATE_MACHINE || body.stateMachineArn === `${STATE_MACHINE}:3`
          ? {
              stateMachineArn: body.stateMachineArn,
              name: "sfn-approvals-prod",
              roleArn: STATE_MACHINE_ROLE,
              definition: body.stateMachineArn === STATE_MACHINE ? DEFINITION : (opts.versionDefinition ?? DEFINITION),
              type: "STANDARD",
              creationDate: 1790000000,
            }
          : new AwsError("StateMachineDoesNotExist", `State Machine Does Not Exist: '${body.stateMachineArn}'`),
      )
      .on("DescribeStateMachineAlias", () => ({
        stateMachineAliasArn: `${STATE_MACHINE}:live`,
        name: "live",
        routingConfiguration: [{ stateMachineVersionArn: `${STATE_MACHINE}:3`, weight: 100 }],
      }))
      .on("GetFunctionConfiguration", (body) => {
        const name = String(body.FunctionName).split(":").pop()!;
        const fn = { ...FUNCTIONS, ...PIPELINE_FUNCTIONS, ...SLACK_FUNCTIONS }[name];
        return fn && !opts.missingFunctions?.includes(name)
          ? {
              FunctionName: name,
              FunctionArn: fnArn(name),
              Role: fn.role,
              Runtime: opts.runtimes?.[name] ?? fn.runtime ?? "nodejs24.x",
              LoggingConfig: { LogFormat: "JSON", LogGroup: `/aws/lambda/${name}` },
              ...(fn.env ? { Environment: { Variables: fn.env } } : {}),
            }
          : new AwsError("ResourceNotFoundException", `Function not found: ${fnArn(name)}`, 404);
      })
      // Shape: DescribeSecretResponse (SDK model; timestamps in epoch seconds, awsJson1_1); no value.
      .on("DescribeSecret", (body) =>
        body.SecretId !== SLACK_SECRET || opts.secret === "missing"
          ? new AwsError("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
          : {
              ARN: SLACK_SECRET,
              Name: "sfn-approvals-prod-ops-slack-app",
              LastChangedDate: 1795000000,
              ...(opts.secret === "deleted" ? { DeletedDate: 1796000000 } : {}),
              VersionIdsToStages: {
                "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111": [
                  opts.secret === "no current value" ? "AWSPREVIOUS" : "AWSCURRENT",
                ],
              },
              CreatedDate: 1790000000,
            },
      )
      // Shape: DescribeTimeToLiveOutput { TimeToLiveDescription { TimeToLiveStatus, AttributeName } } (SDK model).
      .on("DescribeTimeToLive", (body) =>
        body.TableName !== SLACK_TABLE || opts.table === "missing"
          ? new AwsError(
              "ResourceNotFoundException",
              `Requested resource not found: Table: ${body.TableName} not found`,
            )
          : { TimeToLiveDescription: opts.table ?? { TimeToLiveStatus: "ENABLED", AttributeName: "expiresAt" } },
      )
      .on("ListRuleNamesByTarget", (body) => ({
        RuleNames:
          body.TargetArn === fnArn("stage-manager-result-fn-b2c3d4e")
            ? [RULE]
            : body.TargetArn === fnArn("stage-release-result-fn-f6a7b8c")
              ? [PIPELINE_RULE]
              : [],
      }))
      .on("DescribeRule", (body) => ({
        Name: body.Name,
        Arn: arn("events", `rule/${body.Name}`),
        State: opts.ruleStates?.[body.Name] ?? "ENABLED",
      }))
      .on("GetQueueAttributes", (body) => {
        const [visible, inFlight] = opts.waiting?.[body.QueueUrl] ?? [0, 0];
        return {
          Attributes: {
            QueueArn: arn("sqs", String(body.QueueUrl).split("/").pop()!),
            ApproximateNumberOfMessages: String(visible),
            ApproximateNumberOfMessagesNotVisible: String(inFlight),
          },
        };
      })
      // Shape: CodePipeline API reference, GetPipeline (PipelineDeclaration: roleArn, stages[].actions[].configuration).
      .on("GetPipeline", (body) =>
        opts.pipelineRefused
          ? new AwsError(
              "AccessDeniedException",
              `User: ${role("Operator")} is not authorized to perform: codepipeline:GetPipeline on resource: ${arn("codepipeline", body.name)}`,
            )
          : body.name !== PIPELINE
            ? new AwsError(
                "PipelineNotFoundException",
                `Account '${ACCOUNT}' does not have a pipeline with name '${body.name}'`,
              )
            : {
                pipeline: {
                  name: PIPELINE,
                  roleArn: PIPELINE_ROLE,
                  artifactStore: { type: "S3", location: ARTIFACTS },
                  stages: [
                    {
                      name: "Request",
                      actions: [
                        {
                          name: "Request",
                          actionTypeId: { category: "Source", owner: "AWS", provider: "S3", version: "1" },
                          configuration: {
                            S3Bucket: ARTIFACTS,
                            S3ObjectKey: SOURCE_KEY,
                            PollForSourceChanges: "false",
                          },
                          outputArtifacts: [{ name: "RequestArtifact" }],
                        },
                      ],
                    },
                    {
                      name: "Approval",
                      actions: [
                        {
                          name: "Approve",
                          actionTypeId: { category: "Approval", owner: "AWS", provider: "Manual", version: "1" },
                        },
                      ],
                    },
                  ],
                  version: 1,
                  pipelineType: "V2",
                  executionMode: "PARALLEL",
                },
                metadata: { pipelineArn: arn("codepipeline", PIPELINE) },
              },
      )
      .on("ListSubscriptionsByTopic", (body) => {
        const subscriptions: Record<string, string[]> = {
          [MANAGER_TOPIC]: ["managers@example.com", ...(opts.pending ?? [])],
          [LINK_TOPIC]: ["lead@example.com"],
          [ALERTS_TOPIC]: ["ops@example.com"],
        };
        const list = (subscriptions[body.TopicArn] ?? [])
          .map(
            (email, i) =>
              `<member><TopicArn>${xmlText(body.TopicArn)}</TopicArn><Protocol>email</Protocol><SubscriptionArn>${
                opts.pending?.includes(email) ? "PendingConfirmation" : `${body.TopicArn}:0a1b2c3d-${i}`
              }</SubscriptionArn><Owner>${ACCOUNT}</Owner><Endpoint>${xmlText(email)}</Endpoint></member>`,
          )
          .join("");
        return queryXml(
          "ListSubscriptionsByTopic",
          `<Subscriptions>${list}</Subscriptions>`,
          "http://sns.amazonaws.com/doc/2010-03-31/",
        );
      })
      .on("SimulatePrincipalPolicy", (body) => {
        const sim = simulationOf({ body } as RecordedRequest);
        if (sim.principal === opts.simulationRefused)
          return new AwsError(
            "AccessDenied",
            `User: ${role("Operator")} is not authorized to perform: iam:SimulatePrincipalPolicy on resource: ${sim.principal}`,
            403,
          );
        const results = sim.actions
          .map(
            (action) =>
              `<member><EvalActionName>${action}</EvalActionName><EvalResourceName>${xmlText(sim.resources[0] ?? "*")}</EvalResourceName><EvalDecision>${
                opts.denied?.(sim.principal, action, sim.resources) ? "implicitDeny" : "allowed"
              }</EvalDecision></member>`,
          )
          .join("");
        return queryXml(
          "SimulatePrincipalPolicy",
          `<EvaluationResults>${results}</EvaluationResults><IsTruncated>false</IsTruncated>`,
        );
      });
  }

  const run = (args: string[], extra: Record<string, string | undefined> = {}) =>
    runInProcess(main, args, { ...env, ...extra });
  const verdictLines = (stdout: string) => stdout.split("\n").filter((l) => /^(ok|FAIL|not checked) /.test(l));

  function expectOnlyReads() {
    expect(aws.requests.map((r) => r.operation).filter((op) => !READ_ONLY.includes(op))).to.deep.equal([]);
    expect(s3.requests.map((r) => `${r.method} ${r.path}?${r.query.split("&")[0]}`).sort()).to.deep.equal(
      [`GET /${BUCKET}/?object-lock=`, `GET /${BUCKET}/?versioning=`].sort(),
    );
  }

  it("a healthy stack: every line ok, exit 0, and only reads, simulating each role's calls of the table", async () => {
    serveStack();
    const result = await run(["--stack", "prod"]);
    expect(result.stderr).to.match(/^Checking sfn-approvals-prod \(eu-west-1\), stack prod\n/);
    expect(result.stderr).to.include("Simulating IAM calls (");
    const lines = verdictLines(result.stdout);
    expect(
      lines.filter((l) => !l.startsWith("ok ")),
      result.stdout,
    ).to.deep.equal([]);
    expect(lines.map((l) => l.replace(/^ok +/, "").split(":")[0])).to.include.members([
      "definition",
      "alias",
      "email subscriptions",
      "alerts topic",
      "EventBridge rule (stage manager)",
      "dead-letter queue (stage manager)",
      "Lambda runtime",
      "decision record",
    ]);
    expect(result.stdout).to.include("email subscriptions: all 3 confirmed, on 3 topics");
    expect(result.stdout).to.include(`decision record: ${BUCKET}: Object Lock with GOVERNANCE retention 7 years`);
    expect(result.code).to.equal(0);
    expectOnlyReads();

    const simulations = aws.requests.filter((r) => r.operation === "SimulatePrincipalPolicy").map(simulationOf);
    // Each role of the stack, and nobody else (services, deployer, operators and kms rows are offline-only).
    expect([...new Set(simulations.map((s) => s.principal))].sort()).to.deep.equal(
      [STATE_MACHINE_ROLE, AUTOMATION_ROLE, ...Object.values(FUNCTIONS).map((f) => f.role)].sort(),
    );
    expect(simulations.flatMap((s) => s.actions).filter((a) => a.startsWith("kms:"))).to.deep.equal([]);
    const find = (principal: string, action: string) =>
      simulations.filter((s) => s.principal === principal && s.actions.includes(action));
    // Rows of the shared table, named from the outputs and AWS's answers.
    expect(find(FUNCTIONS["stage-manager-start-fn-a1b2c3d"].role, "ssm:StartAutomationExecution")).to.deep.equal([
      {
        principal: FUNCTIONS["stage-manager-start-fn-a1b2c3d"].role,
        actions: ["ssm:StartAutomationExecution"],
        resources: [
          arn("ssm", "document/sfn-approvals-prod-manager"),
          arn("ssm", "automation-definition/sfn-approvals-prod-manager:1"),
          arn("ssm", "automation-execution/4a5b6c7d-1234-4f00-9abc-0123456789ab"),
        ],
        context: { "aws:PrincipalArn": FUNCTIONS["stage-manager-start-fn-a1b2c3d"].role },
      },
    ]);
    expect(find(FUNCTIONS["stage-manager-result-fn-b2c3d4e"].role, "sqs:SendMessage")[0].resources).to.deep.equal([
      arn("sqs", "stage-manager-dead-letters-dlq-6f7a8b9"),
    ]);
    expect(find(STATE_MACHINE_ROLE, "lambda:InvokeFunction").map((s) => s.resources)).to.have.deep.members([
      [fnArn("stage-manager-start-fn-a1b2c3d")],
      [fnArn("stage-link-start-fn-c3d4e5f")],
    ]);
    expect(find(FUNCTIONS["approval-page-handler-fn-d4e5f6a"].role, "dynamodb:GetItem")[0].resources).to.deep.equal([
      arn("dynamodb", "table/approval-page-link-codes-5e6f7a8"),
    ]);
    const write = find(STATE_MACHINE_ROLE, "s3:PutObject");
    expect(write).to.have.length(1);
    expect(write[0].resources[0]).to.match(
      new RegExp(`^arn:aws:s3:::${BUCKET}/records/\\d{4}-\\d{2}-\\d{2}/0a6f1e2d-approval/[^/]+-outcome\\.json$`),
    );
    expect(write[0].context).to.deep.equal({ "aws:SecureTransport": "true", "aws:PrincipalArn": STATE_MACHINE_ROLE });
  });

  it("an unconfirmed email subscription and a role missing a permission: FAIL lines naming them and the fix, exit 1", async () => {
    const startRole = FUNCTIONS["stage-manager-start-fn-a1b2c3d"].role;
    serveStack({
      pending: ["new-manager@example.com"],
      denied: (principal, action) => principal === startRole && action === "ssm:StartAutomationExecution",
    });
    const result = await run(["--stack", "prod"]);
    const failed = verdictLines(result.stdout).filter((l) => l.startsWith("FAIL"));
    expect(failed).to.deep.equal([
      "FAIL        email subscriptions: 1 of 4 not confirmed: new-manager@example.com (stage manager); fix: each address opens " +
        'the email "AWS Notification - Subscription Confirmation" and clicks Confirm subscription (docs/operations.md, ' +
        "Confirming the email subscriptions); for an expired link: pulumi refresh --stack prod, then pulumi up --stack prod",
      `FAIL        IAM role/stage-manager-start-fn-role-1111111: refused 1 of 4 calls it needs: ssm:StartAutomationExecution on ` +
        `${arn("ssm", "document/sfn-approvals-prod-manager")} + ${arn("ssm", "automation-definition/sfn-approvals-prod-manager:1")} + ` +
        `${arn("ssm", "automation-execution/4a5b6c7d-1234-4f00-9abc-0123456789ab")} (implicitDeny, start function (stage manager)); ` +
        "fix: pulumi up --refresh --stack prod restores the stack's policies; if it still fails, a permissions boundary or an SCP " +
        `denies it (aws iam simulate-principal-policy --policy-source-arn ${startRole} --action-names ssm:StartAutomationExecution)`,
    ]);
    expect(result.stdout).to.include("ok          alerts topic: 1 confirmed subscriber(s): ops@example.com");
    expect(result.code).to.equal(1);
    expectOnlyReads();
  });

  it("a codepipeline stage and a fault on each other check: each FAIL line and its fix, exit 1, only reads", async () => {
    const stack = "--stack with-pipeline";
    const releaseResult = "stage-release-result-fn-f6a7b8c";
    serveStack({
      versionDefinition: DEFINITION.replace('"End":true', '"End":false'),
      ruleStates: { [RULE]: "DISABLED" },
      waiting: { [RELEASE_DLQ_URL]: [2, 1] },
      runtimes: { "stage-link-start-fn-c3d4e5f": "nodejs16.x", [releaseResult]: "provided.al2023" },
      denied: (principal, action, resources) =>
        principal === PIPELINE_ROLE &&
        action === "s3:GetObject" &&
        resources[0] === `arn:aws:s3:::${ARTIFACTS}/${SOURCE_KEY}`,
    });
    s3.objectLock = false;
    s3.versioning = "Suspended";
    const result = await run(["--stack", "with-pipeline"]);
    const lines = verdictLines(result.stdout);
    expect(
      lines.filter((l) => !l.startsWith("ok ")),
      result.stdout,
    ).to.deep.equal([
      "FAIL        alias: live routes to version 3 100%, none of which runs the stack's definition (a rollout rolled back, " +
        `or the alias was changed outside the stack); fix: see why the rollout stopped (docs/rollout.md), then pulumi up --refresh ${stack}`,
      `FAIL        EventBridge rule (stage manager): ${RULE} is DISABLED: decisions of this stage are not delivered; ` +
        `fix: aws events enable-rule --name ${RULE} --region eu-west-1 (or pulumi up --refresh ${stack})`,
      "FAIL        dead-letter queue (stage release): stage-release-dead-letters-dlq-1f2a3b4 holds about 3 undelivered decision " +
        "event(s): those approvers' decisions never reached the workflow; fix: read them (aws sqs receive-message " +
        `--queue-url ${RELEASE_DLQ_URL} --max-number-of-messages 10 --visibility-timeout 0), find why in the result ` +
        `function's logs (${releaseResult}), ask those approvers to decide again, then aws sqs purge-queue --queue-url ${RELEASE_DLQ_URL}`,
      "FAIL        Lambda runtime: 1 function(s) on a deprecated runtime: stage-link-start-fn-c3d4e5f on nodejs16.x (deprecated " +
        "2024-06-12); fix: set LAMBDA_RUNTIME in components/shared/approvalFunction.ts to a supported runtime " +
        `(https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html), then pulumi up ${stack}`,
      "not checked Lambda runtime: not in the doctor's table of deprecation dates (scripts/lib/doctorRuntimes.ts): " +
        `${releaseResult} on provided.al2023`,
      // Every problem of the bucket at once; Object Lock is turned on in place, versioning first.
      `FAIL        decision record: ${BUCKET}: versioning is Suspended; Object Lock is not enabled: records could be ` +
        `deleted; fix: aws s3api put-bucket-versioning --bucket ${BUCKET} --versioning-configuration Status=Enabled, ` +
        `then aws s3api put-object-lock-configuration --bucket ${BUCKET} --object-lock-configuration ` +
        `ObjectLockEnabled=Enabled, then pulumi up --refresh ${stack} restores the bucket's settings`,
      // The pipeline role and its source object come from GetPipeline.
      "FAIL        IAM role/stage-release-pipeline-role-5555555: refused 1 of 16 calls it needs: s3:GetObject on " +
        `arn:aws:s3:::${ARTIFACTS}/${SOURCE_KEY} (implicitDeny, pipeline role (stage release)); fix: pulumi up --refresh ` +
        `${stack} restores the stack's policies; if it still fails, a permissions boundary or an SCP denies it ` +
        `(aws iam simulate-principal-policy --policy-source-arn ${PIPELINE_ROLE} --action-names s3:GetObject)`,
    ]);
    expect(lines).to.include(`ok          EventBridge rule (stage release): ${PIPELINE_RULE} is ENABLED`);
    expect(lines).to.include(
      "ok          dead-letter queue (stage manager): stage-manager-dead-letters-dlq-6f7a8b9 is empty",
    );
    expect(result.code).to.equal(1);
    // Only reads; with no Object Lock the bucket's versioning is still read.
    expectOnlyReads();
    expect(aws.requests.filter((r) => r.operation === "GetPipeline").map((r) => r.body)).to.deep.equal([
      { name: PIPELINE },
    ]);
    // The version the alias routes to was read, not only the state machine.
    expect(
      aws.requests.filter((r) => r.operation === "DescribeStateMachine").map((r) => r.body.stateMachineArn),
    ).to.deep.equal([STATE_MACHINE, `${STATE_MACHINE}:3`]);
  });

  it("a pipeline and a role it may not read: not checked with AWS's answer, exit 2", async () => {
    serveStack({ pipelineRefused: true, simulationRefused: STATE_MACHINE_ROLE });
    const result = await run(["--stack", "with-pipeline"]);
    const lines = verdictLines(result.stdout);
    expect(
      lines.filter((l) => l.startsWith("FAIL")),
      result.stdout,
    ).to.deep.equal([]);
    expect(lines).to.include(
      "not checked pipeline (stage release): CodePipeline refused the request: AccessDeniedException: User: " +
        `${role("Operator")} is not authorized to perform: codepipeline:GetPipeline on resource: ${arn("codepipeline", PIPELINE)}` +
        ": the pipeline role's calls are not simulated",
    );
    expect(lines.find((l) => l.startsWith("not checked IAM:"))).to.include(
      "by pipeline role (stage release): the principal is unknown",
    );
    const simulated = aws.requests.filter((r) => r.operation === "SimulatePrincipalPolicy").map(simulationOf);
    expect(simulated.map((s) => s.principal)).to.not.include(PIPELINE_ROLE);
    // IAM's refusal named as IAM's, on the record's line as on the role's.
    const refused = `IAM refused the request: AccessDenied: User: ${role("Operator")} is not authorized to perform: iam:SimulatePrincipalPolicy on resource: ${STATE_MACHINE_ROLE}`;
    expect(lines).to.include(`not checked decision record: ${refused}`);
    expect(lines).to.include(`not checked IAM role/approvals-role-1a2b3c4: could not simulate its calls: ${refused}`);
    expect(result.code).to.equal(2);
    expectOnlyReads();
  });

  it("with --state-machine-arn only: what needs the stack's outputs is not checked (not a failure), exit 0", async () => {
    serveStack();
    const result = await run(["--state-machine-arn", STATE_MACHINE]);
    const lines = verdictLines(result.stdout);
    expect(lines.filter((l) => l.startsWith("FAIL"))).to.deep.equal([]);
    for (const check of [
      "definition",
      "alerts topic",
      "EventBridge rules",
      "dead-letter queues",
      "Slack secrets and request tables",
      "decision record",
    ])
      expect(lines).to.include(`not checked ${check}: needs --stack`);
    expect(lines.find((l) => l.startsWith("not checked IAM:"))).to.include(
      "the stages' roles and approvers need --stack",
    );
    // The definition still names the state machine's role and the functions it invokes.
    expect(lines).to.include("ok          Lambda runtime: 2 function(s) on nodejs24.x, not deprecated");
    expect(lines.find((l) => l.startsWith("ok          IAM role/approvals-role-1a2b3c4"))).to.not.equal(undefined);
    expect(result.code).to.equal(0);
    expect(aws.requests.map((r) => r.operation).filter((op) => !READ_ONLY.includes(op))).to.deep.equal([]);
    expect(s3.requests).to.deep.equal([]);
  });

  it("a slack stage: its secret (never its value), its request table's TTL and its three functions' IAM rows, all ok", async () => {
    serveStack();
    const result = await run(["--stack", "with-slack"]);
    const lines = verdictLines(result.stdout);
    expect(
      lines.filter((l) => !l.startsWith("ok ")),
      result.stdout,
    ).to.deep.equal([]);
    expect(lines).to.include.members([
      "ok          Slack secret (stage ops): sfn-approvals-prod-ops-slack-app exists with a current value, last " +
        "changed 2026-11-18 (its value is not read)",
      `ok          Slack request table (stage ops): ${SLACK_TABLE} exists, TTL on expiresAt`,
      "ok          Lambda runtime: 7 function(s) on nodejs24.x, not deprecated",
    ]);
    expect(result.code).to.equal(0);
    expectOnlyReads();
    expect(aws.operations()).to.not.include("GetSecretValue");
    expect(aws.requests.filter((r) => r.operation === "DescribeSecret").map((r) => r.body)).to.deep.equal([
      { SecretId: SLACK_SECRET },
    ]);
    expect(aws.requests.filter((r) => r.operation === "DescribeTimeToLive").map((r) => r.body)).to.deep.equal([
      { TableName: SLACK_TABLE },
    ]);
    // The interaction and follow-up functions are read like the others.
    expect(
      aws.requests
        .filter((r) => r.operation === "GetFunctionConfiguration")
        .map((r) => String(r.body.FunctionName).split(":").pop()),
    ).to.include.members([SLACK_START, SLACK_INTERACTION, SLACK_FOLLOW_UP]);

    // The slack rows of the call table, named from the stage output and the start function's environment.
    const simulations = aws.requests.filter((r) => r.operation === "SimulatePrincipalPolicy").map(simulationOf);
    const table = arn("dynamodb", `table/${SLACK_TABLE}`);
    const callsOf = (principal: string) =>
      simulations
        .filter((s) => s.principal === principal)
        .flatMap((s) => s.actions.map((a) => `${a} ${s.resources.join(" ")}`))
        .filter((c) => !c.startsWith("logs:"))
        .sort();
    expect(callsOf(SLACK_FUNCTIONS[SLACK_START].role)).to.deep.equal(
      [
        `dynamodb:PutItem ${table}`,
        `dynamodb:UpdateItem ${table}`,
        `secretsmanager:GetSecretValue ${SLACK_SECRET}`,
      ].sort(),
    );
    expect(callsOf(SLACK_FUNCTIONS[SLACK_INTERACTION].role)).to.deep.equal(
      [
        `dynamodb:GetItem ${table}`,
        `dynamodb:UpdateItem ${table}`,
        `secretsmanager:GetSecretValue ${SLACK_SECRET}`,
        `states:SendTaskSuccess ${STATE_MACHINE}`,
      ].sort(),
    );
    expect(callsOf(SLACK_FUNCTIONS[SLACK_FOLLOW_UP].role)).to.deep.equal(
      [
        `dynamodb:GetItem ${table}`,
        `dynamodb:UpdateItem ${table}`,
        `secretsmanager:GetSecretValue ${SLACK_SECRET}`,
      ].sort(),
    );
    for (const fn of [SLACK_START, SLACK_INTERACTION, SLACK_FOLLOW_UP])
      expect(
        lines.find((l) => l.startsWith(`ok          IAM ${SLACK_FUNCTIONS[fn].role.split(":").pop()}:`)),
      ).to.not.equal(undefined);
  });

  it("a slack stage's missing secret, disabled TTL, deleted secret, missing table: FAIL lines with the fix, exit 1", async () => {
    const stack = "--stack with-slack";
    serveStack({ secret: "missing", table: { TimeToLiveStatus: "DISABLED" } });
    let result = await run(["--stack", "with-slack"]);
    expect(
      verdictLines(result.stdout).filter((l) => !l.startsWith("ok ")),
      result.stdout,
    ).to.deep.equal([
      `FAIL        Slack secret (stage ops): ${SLACK_SECRET} does not exist: the stage's functions cannot read the ` +
        `Slack app's token and signing secret, every request fails; fix: pulumi up --refresh ${stack} creates it with ` +
        "the value from the stack's config",
      `FAIL        Slack request table (stage ops): ${SLACK_TABLE}: TTL is DISABLED, not on expiresAt: finished ` +
        "requests (their sealed task tokens and votes) are never deleted; fix: aws dynamodb update-time-to-live " +
        `--table-name ${SLACK_TABLE} --time-to-live-specification Enabled=true,AttributeName=expiresAt --region ` +
        `eu-west-1 (or pulumi up --refresh ${stack})`,
    ]);
    expect(result.code).to.equal(1);
    expectOnlyReads();

    // Scheduled for deletion; no table; the interaction function gone: its rows are not named, not "ok".
    aws.reset();
    s3.requests.length = 0;
    serveStack({ secret: "deleted", table: "missing", missingFunctions: [SLACK_INTERACTION] });
    result = await run(["--stack", "with-slack"]);
    const lines = verdictLines(result.stdout);
    expect(lines.filter((l) => l.startsWith("FAIL"))).to.deep.equal([
      "FAIL        Slack secret (stage ops): sfn-approvals-prod-ops-slack-app is scheduled for deletion on " +
        "2026-11-30: the stage's functions cannot read the Slack app's token and signing secret, every request " +
        `fails; fix: aws secretsmanager restore-secret --secret-id ${SLACK_SECRET} --region eu-west-1`,
      `FAIL        Slack request table (stage ops): ${SLACK_TABLE} does not exist: no request can be posted or ` +
        `decided; fix: pulumi up --refresh ${stack} creates it (requests posted before it was lost cannot be decided from Slack)`,
    ]);
    expect(lines.find((l) => l.startsWith(`not checked Lambda runtime (${SLACK_INTERACTION})`))).to.include(
      "ResourceNotFoundException",
    );
    expect(lines.find((l) => l.startsWith("not checked IAM:"))).to.include(
      "by interaction function (stage ops): the principal is unknown",
    );
    expect(result.code).to.equal(1);
    expectOnlyReads();

    // No current value: the functions would read nothing.
    aws.reset();
    s3.requests.length = 0;
    serveStack({ secret: "no current value" });
    result = await run(["--stack", "with-slack"]);
    expect(verdictLines(result.stdout).filter((l) => l.startsWith("FAIL"))).to.deep.equal([
      "FAIL        Slack secret (stage ops): sfn-approvals-prod-ops-slack-app has no current value (no version " +
        `labelled AWSCURRENT): every request fails; fix: pulumi up --refresh ${stack} writes the value from the ` +
        "stack's config (sfn-approvals:slackBotToken, sfn-approvals:slackSigningSecret)",
    ]);
    expectOnlyReads();
  });

  it("cannot check: no credentials, no such state machine, usage: exit 2 and nothing checked", async () => {
    const none = await run(["--state-machine-arn", STATE_MACHINE], {
      AWS_ACCESS_KEY_ID: undefined,
      AWS_SECRET_ACCESS_KEY: undefined,
      AWS_CONFIG_FILE: join(home, "config"),
      AWS_SHARED_CREDENTIALS_FILE: join(home, "credentials"),
    });
    expect(none.stderr).to.match(/doctor: no AWS credentials were found \(CredentialsProviderError: .*\); sign in/);
    expect([none.code, none.stdout, aws.requests.length]).to.deep.equal([2, "", 0]);

    serveStack();
    const missing = await run(["--state-machine-arn", arn("states", "stateMachine:gone")]);
    expect(missing.stderr).to.include("doctor: Step Functions refused the request: StateMachineDoesNotExist");
    expect([missing.code, missing.stdout]).to.deep.equal([2, ""]);

    const usage = await run([]);
    expect(usage.stderr).to.match(/^doctor: give either --stack or --state-machine-arn\n\nUsage: npm run doctor/);
    expect(usage.code).to.equal(2);
  });

  it("a stack that does not exist, as npm run doctor runs: Pulumi's answer, exit 2", async () => {
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      let stdout = "";
      let stderr = "";
      const child = spawn(process.execPath, ["scripts/run.js", "scripts/doctor.ts", "--stack", "nope"], {
        cwd: ROOT,
        env,
      });
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      child.on("exit", (code) => resolve({ code, stdout, stderr }));
    });
    expect(result).to.deep.equal({
      code: 2,
      stdout: "",
      stderr: "doctor: could not read the outputs of stack 'nope': error: no stack named 'nope' found\n",
    });
    expect(aws.requests).to.deep.equal([]);
  });
});
