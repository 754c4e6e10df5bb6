// Requests wait, they are not lost (issue 17): a start refused for a quota or throttling reason is
// retried with backoff and full jitter for about the stage's timeout, then the stage ends timed_out
// (components/mechanisms/capacityRetry.ts); any other error still fails at once. The exact Retry and
// Catch per mechanism, the numbers, the execution's budget, flows on aws-local-stepfunctions (the
// runner's retryPauseMs: no real pauses), and the start functions keeping the error names.
import { ConcurrentPipelineExecutionsLimitExceededException } from "@aws-sdk/client-codepipeline";
import { DynamoDBClient, ThrottlingException as DynamoDbThrottlingException } from "@aws-sdk/client-dynamodb";
import { ThrottledException } from "@aws-sdk/client-sns";
import { AutomationExecutionLimitExceededException } from "@aws-sdk/client-ssm";
import { SFNClient } from "@aws-sdk/client-sfn";
import { expect } from "chai";
import {
  CAPACITY_ERRORS,
  CAPACITY_MAX_RETRIES,
  capacityErrors,
  capacityRetrier,
  capacityRetrySeconds,
  noCapacityStateName,
  wantedCapacityWaitSeconds,
} from "../components/mechanisms/capacityRetry";
import { lambdaCallbackTaskStates } from "../components/mechanisms/lambdaCallbackApproval";
import { CLOSE_MAX_SECONDS, closeRequestStateName, slackTaskStates } from "../components/mechanisms/slackApproval";
import { snsCallbackTaskStates } from "../components/mechanisms/snsCallbackApproval";
import { AslStates, TaskState } from "../components/workflow/asl";
import {
  EXECUTION_TIMEOUT_MARGIN_SECONDS,
  MAX_EXECUTION_SECONDS,
  allotCapacityWaits,
  assembleWorkflowDefinition,
  checkExecutionLength,
  stageTaskOptions,
} from "../components/workflow/definition";
import { Mechanism, stageStateName } from "../functions/contract";
import { startPipeline } from "../functions/mechanisms/codePipeline/startPipeline";
import { sendApprovalEmail } from "../functions/mechanisms/email/emailLink";
import { handleFollowUp } from "../functions/mechanisms/slack/followUp";
import { clearSlackSecretsCache } from "../functions/mechanisms/slack/secrets";
import { startSlackRequest } from "../functions/mechanisms/slack/startRequest";
import { startAutomation } from "../functions/mechanisms/ssmAutomation/startAutomation";
import { redactingHandler } from "../functions/shared/redact";
import { validateDefinition } from "./helpers/aslLint";
import { AwsError, FakeAws, fakeTaskToken } from "./helpers/fakeAws";
import { FAKE_BOT_TOKEN, FakeSlack, ratelimited } from "./helpers/fakeSlack";
import { FakeSlackRequestTable } from "./helpers/fakeSlackRequestTable";
import { EXPENSE_REPORT } from "./helpers/fixtures";
import { runDefinition } from "./helpers/localStateMachine";
import { FAKE_SIGNING_SECRET } from "./helpers/slackInteractions";

const FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:sfn-approvals-test-start";
const FOLLOW_UP_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:sfn-approvals-test-follow-up";
const TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:sfn-approvals-test-finance-approvals";
const PAGE_URL = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/decide";
const EXECUTION_ARN = "arn:aws:states:eu-west-1:123456789012:execution:sfn-approvals-test:er98765-1";
const TOKEN = fakeTaskToken("capacity");
const DYNAMODB = ["ProvisionedThroughputExceededException", "RequestLimitExceeded", "ThrottlingException"];
const LAMBDA = "Lambda.TooManyRequestsException";

/** A stage's states as its component builds them, with `capacityWaitSeconds` when given. */
function stageStates(mechanism: Mechanism, stage: string, timeoutSeconds: number, capacityWaitSeconds?: number) {
  const options = stageTaskOptions(stage, false, capacityWaitSeconds);
  if (mechanism === "sns-callback")
    return snsCallbackTaskStates({ options, topicArn: TOPIC_ARN, pageUrl: PAGE_URL, stage, timeoutSeconds });
  if (mechanism === "slack")
    return slackTaskStates({
      options,
      startFunctionArn: FUNCTION_ARN,
      followUpFunctionArn: FOLLOW_UP_ARN,
      stage,
      timeoutSeconds,
    });
  return lambdaCallbackTaskStates({ options, functionArn: FUNCTION_ARN, stage, mechanism, timeoutSeconds });
}

function definitionOf(mechanism: Mechanism, timeoutSeconds: number, capacityWaitSeconds: number) {
  return assembleWorkflowDefinition({
    stages: [
      {
        stage: "manager",
        mechanism,
        maxWaitSeconds: timeoutSeconds,
        ...(mechanism === "slack" ? { afterWaitSeconds: CLOSE_MAX_SECONDS } : {}),
        capacityWaitSeconds,
        states: stageStates(mechanism, "manager", timeoutSeconds, capacityWaitSeconds),
      },
    ],
  });
}

const error = (name: string, message = "refused") => Object.assign(new Error(message), { name });
const decision = (mechanism: Mechanism) => ({
  approved: true,
  decision: "approved",
  stage: "manager",
  mechanism,
  approver: "arn:aws:iam::123456789012:user/alice",
  comment: "ok",
  decidedAt: "2026-11-22T10:00:00Z",
});

describe("capacity retry: the Retry and Catch of every mechanism's start Task", () => {
  const ONE_DAY = 86400;

  it("lists exactly the quota and throttling names of each start path, never a catch-all", () => {
    expect(CAPACITY_ERRORS).to.deep.equal({
      "ssm-automation": [LAMBDA, "AutomationExecutionLimitExceededException", "ThrottlingException"],
      codepipeline: [LAMBDA, "ConcurrentPipelineExecutionsLimitExceededException", "ConflictException", ...DYNAMODB],
      "email-link": [LAMBDA, "ThrottledException", "Throttling", ...DYNAMODB],
      "sns-callback": ["SNS.ThrottledException", "SNS.ThrottlingException", "SNS.Throttling"],
      slack: [LAMBDA, "Slack.ratelimited", ...DYNAMODB],
    });
    expect(capacityErrors("activity")).to.deep.equal([]);
    for (const names of Object.values(CAPACITY_ERRORS)) {
      expect(names).to.not.include.members(["States.ALL"]);
      for (const broad of ["States.ALL", "States.TaskFailed", "States.Timeout", "Error", "Lambda.Unknown"])
        expect(names).to.not.include(broad);
    }
  });

  for (const mechanism of ["ssm-automation", "codepipeline", "email-link", "slack", "sns-callback"] as const) {
    it(`${mechanism}: retries its names with backoff and full jitter for a 1-day stage, then goes to 'no capacity'`, () => {
      const states: AslStates = stageStates(mechanism, "manager", ONE_DAY);
      const task = states["Approval manager"] as TaskState;
      const names = [...CAPACITY_ERRORS[mechanism]];
      expect(task.Retry).to.deep.equal([
        {
          ErrorEquals: names,
          IntervalSeconds: 5,
          MaxAttempts: 199,
          BackoffRate: 2,
          MaxDelaySeconds: 864,
          JitterStrategy: "FULL",
        },
      ]);
      const catchers = task.Catch!.map((c) => [c.ErrorEquals, c.Next]);
      expect(catchers).to.deep.equal([
        [["States.Timeout"], "Approval manager timed out"],
        [names, "Approval manager no capacity"],
      ]);
      const noCapacity = states[noCapacityStateName("Approval manager")] as any;
      expect(noCapacity.Type).to.equal("Pass");
      expect(noCapacity.ResultPath).to.equal("$.decisions.manager");
      expect(noCapacity.Next).to.equal(mechanism === "slack" ? closeRequestStateName("manager") : "Check manager");
      expect(noCapacity.Parameters).to.deep.include({
        approved: false,
        decision: "timed_out",
        stage: "manager",
        mechanism,
        approver: null,
      });
      const errorPath = mechanism === "sns-callback" ? "$.failure.Error" : "$.decisions.manager.Error";
      expect(noCapacity.Parameters["comment.$"]).to.equal(
        `States.Format('No capacity: the request was never sent to the approvers, every start was refused (last error: {})', ${errorPath})`,
      );
    });
  }

  it("activity keeps its own Retry (Step Functions schedules the task; nothing to retry for capacity)", () => {
    expect(wantedCapacityWaitSeconds("activity", ONE_DAY)).to.equal(0);
    expect(wantedCapacityWaitSeconds("email-link", ONE_DAY)).to.equal(2 * ONE_DAY);
  });

  it("every mechanism's definition passes asl-validator and the lint", () => {
    for (const mechanism of ["ssm-automation", "codepipeline", "email-link", "slack", "sns-callback"] as const) {
      expect(validateDefinition(definitionOf(mechanism, ONE_DAY, 2 * ONE_DAY)), mechanism).to.deep.equal([]);
    }
  });
});

describe("capacity retry: the numbers", () => {
  it("1-day and 7-day stages (twice the wait as budget): about the stage's timeout on average, the worst case within the budget", () => {
    const rows = [86400, 604800, 86400 + 900, 604800 + 900].map((wait) => {
      const r = capacityRetrier([LAMBDA], 2 * wait);
      const pauses = capacityRetrySeconds(r, 0);
      expect(capacityRetrySeconds(r)).to.be.at.most(2 * wait);
      // FULL jitter: each pause uniform in [0, cap], so the retries last about half of the caps.
      expect(pauses / 2 / wait).to.be.within(0.9, 1.05);
      return [wait, r.IntervalSeconds, r.MaxDelaySeconds, r.MaxAttempts];
    });
    expect(rows).to.deep.equal([
      [86400, 5, 864, 199],
      [604800, 5, 3600, 341],
      [87300, 5, 873, 199],
      [605700, 5, 3600, 342],
    ]);
  });

  it("stays within the ASL bounds and keeps the history short for any budget", () => {
    for (const budget of [0, 1, 40, 7200, 2 * 30 * 86400, 2 * 360 * 86400, MAX_EXECUTION_SECONDS]) {
      const r = capacityRetrier([LAMBDA], budget);
      // amazon-states-language-service json-schema: IntervalSeconds >= 1, MaxDelaySeconds 1..31622400, MaxAttempts >= 0.
      expect(r.IntervalSeconds).to.be.at.least(1);
      expect(r.MaxDelaySeconds).to.be.within(1, 31_622_400);
      expect(r.MaxAttempts).to.be.within(0, CAPACITY_MAX_RETRIES);
      expect(Number.isInteger(r.MaxAttempts) && Number.isInteger(r.MaxDelaySeconds)).to.equal(true);
      expect(capacityRetrySeconds(r)).to.be.at.most(budget);
    }
    expect(capacityRetrier([LAMBDA], 0).MaxAttempts).to.equal(0);
  });

  it("the execution's timeout counts each stage's capacity wait", () => {
    const definition = definitionOf("ssm-automation", 3600, 7200);
    expect(definition.TimeoutSeconds).to.equal(3600 + 7200 + EXECUTION_TIMEOUT_MARGIN_SECONDS);
  });

  it("gives every stage twice its wait when the year has room, and shares the rest of the year when not; the waits themselves never shrink", () => {
    const day = 86400;
    const stage = (name: string, days: number, wanted: number) => ({ stage: name, maxWaitSeconds: days * day, wanted });
    expect(allotCapacityWaits([stage("a", 7, 14 * day), stage("b", 3, 6 * day)])).to.deep.equal([14 * day, 6 * day]);
    // 200 + 100 days of waits leave 65 days (less the margin) for 600 wanted: shared 2:1.
    const spare = MAX_EXECUTION_SECONDS - 300 * day - EXECUTION_TIMEOUT_MARGIN_SECONDS;
    const shared = allotCapacityWaits([stage("a", 200, 400 * day), stage("b", 100, 200 * day)]);
    expect(shared).to.deep.equal([Math.floor((400 * spare) / 600), Math.floor((200 * spare) / 600)]);
    const length = checkExecutionLength([
      { stage: "a", maxWaitSeconds: 200 * day, capacityWaitSeconds: shared[0] },
      { stage: "b", maxWaitSeconds: 100 * day, capacityWaitSeconds: shared[1] },
    ]);
    expect(length).to.be.at.most(MAX_EXECUTION_SECONDS);
    // An activity stage asks for nothing and gets nothing.
    expect(allotCapacityWaits([stage("a", 1, 0)])).to.deep.equal([0]);
  });
});

describe("capacity retry: flows on aws-local-stepfunctions", () => {
  // A 1-hour stage with a 200 s budget: a few retries, the runner's retryPauseMs 0 (no real pauses).
  const BUDGET = 200;
  const run = (mechanism: Mechanism, handler: (input: any) => Promise<unknown>, extra: Record<string, any> = {}) =>
    runDefinition(definitionOf(mechanism, 3600, BUDGET), EXPENSE_REPORT, {
      taskHandlers: { [stageStateName("manager")]: handler, ...extra },
      taskToken: TOKEN,
      executionArn: EXECUTION_ARN,
      retryPauseMs: 0,
    });
  const attempts = capacityRetrier([], BUDGET).MaxAttempts!;

  it("the budget allows a few retries", () => {
    expect(attempts).to.equal(4);
  });

  it("the start refused twice at the SSM automation limit, then started: the approval proceeds", async () => {
    const calls: unknown[] = [];
    const result = await run("ssm-automation", async (input) => {
      calls.push(input);
      if (calls.length <= 2) throw error("AutomationExecutionLimitExceededException");
      return decision("ssm-automation");
    });
    expect(calls).to.have.length(3);
    expect(result.status).to.equal("SUCCEEDED");
    expect(result.output).to.deep.include({ approved: true, decision: "approved" });
  });

  it("never any capacity: the execution ends timed_out (not FAILED) and the stage's comment names the last error", async () => {
    let calls = 0;
    const result = await run("codepipeline", async () => {
      calls += 1;
      throw error(calls === 1 ? "ConflictException" : "ConcurrentPipelineExecutionsLimitExceededException");
    });
    expect(calls).to.equal(attempts + 1);
    expect(result.status).to.equal("SUCCEEDED");
    expect(result.statesEntered).to.include("Approval manager no capacity");
    expect(result.output.decision).to.equal("timed_out");
    expect(result.output.approved).to.equal(false);
    expect(result.output.stages[0]).to.deep.include({
      approved: false,
      decision: "timed_out",
      stage: "manager",
      mechanism: "codepipeline",
      approver: null,
      comment:
        "No capacity: the request was never sent to the approvers, every start was refused (last error: ConcurrentPipelineExecutionsLimitExceededException)",
    });
  });

  it("a throttled invoke that never clears (Lambda.TooManyRequestsException) also ends timed_out, no longer FAILED", async () => {
    let calls = 0;
    const result = await run("email-link", async () => {
      calls += 1;
      throw error(LAMBDA, "Rate exceeded");
    });
    expect(calls).to.equal(attempts + 1);
    expect(result.status).to.equal("SUCCEEDED");
    expect(result.output.stages[0].comment).to.match(/last error: Lambda\.TooManyRequestsException\)$/);
  });

  for (const [name, message] of [
    ["Error", "TokenConflict: approval key 0123456789ab... is already recorded for another task; nothing started"],
    ["AutomationDefinitionNotFoundException", "not found"],
    ["Lambda.Unknown", "Task timed out after 30.00 seconds"],
    ["Lambda.ServiceException", "service error"],
  ]) {
    it(`an error no retry can fix (${name}) fails the execution at once`, async () => {
      let calls = 0;
      const result = await run("ssm-automation", async () => {
        calls += 1;
        throw error(name, message);
      });
      expect(calls).to.equal(1);
      expect(result).to.deep.include({ status: "FAILED", error: name, cause: message });
    });
  }

  it("with reminders (the follow-up Parallel): no capacity still ends the stage timed_out, the reminders stop", async () => {
    const definition = assembleWorkflowDefinition({
      stages: [
        {
          stage: "manager",
          mechanism: "ssm-automation",
          maxWaitSeconds: 3600,
          capacityWaitSeconds: BUDGET,
          states: lambdaCallbackTaskStates({
            options: stageTaskOptions("manager", true, BUDGET),
            functionArn: FUNCTION_ARN,
            stage: "manager",
            mechanism: "ssm-automation",
            timeoutSeconds: 3600,
          }),
          followUp: {
            followUp: { remindEverySeconds: 1800, maxReminders: 1, reminderTopicArn: TOPIC_ARN },
            timeoutText: "1h",
            approvers: ["arn:aws:iam::123456789012:user/alice"],
          },
        },
      ],
    });
    const result = await runDefinition(definition, EXPENSE_REPORT, {
      taskHandlers: {
        [stageStateName("manager")]: async () => {
          throw error("AutomationExecutionLimitExceededException");
        },
      },
      taskToken: TOKEN,
      executionArn: EXECUTION_ARN,
      retryPauseMs: 0,
    });
    expect(result.status).to.equal("SUCCEEDED");
    expect(result.statesEntered).to.include("Approval manager no capacity");
    expect(result.output.stages[0]).to.deep.include({ decision: "timed_out", mechanism: "ssm-automation" });
    expect(result.output.stages[0].comment).to.match(/last error: AutomationExecutionLimitExceededException\)$/);
  });

  it("sns-callback: a publish that stays throttled ends timed_out with the error named; the error's Cause is not copied", async () => {
    let calls = 0;
    const result = await run("sns-callback", async () => {
      calls += 1;
      throw error("SNS.ThrottledException", "Rate exceeded for token ...");
    });
    expect(calls).to.equal(attempts + 1);
    expect(result.status).to.equal("SUCCEEDED");
    expect(result.output.stages[0]).to.deep.include({
      decision: "timed_out",
      mechanism: "sns-callback",
      comment:
        "No capacity: the request was never sent to the approvers, every start was refused (last error: SNS.ThrottledException)",
    });
    expect(JSON.stringify(result.output)).to.not.include("Rate exceeded");
  });
});

describe("capacity retry: the slack start (fake Slack, fake table) retried after Slack.ratelimited", function () {
  const aws = new FakeAws();
  const slack = new FakeSlack();
  let dynamodb: DynamoDBClient;
  let sfn: SFNClient;
  let table: FakeSlackRequestTable;
  const TABLE = "sfn-approvals-test-manager-slack-requests";
  const SECRET_ID = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:sfn-approvals-test-manager-slack-AbCdEf";
  const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);
  let secretFailure: Error | undefined;
  const env = {
    SLACK_STAGE: "manager",
    SLACK_CHANNEL: "C0APPROVALS",
    SLACK_APPROVERS: JSON.stringify(["U0ALICE", "U0BOB"]),
    SLACK_REQUIRED: "1",
    SLACK_TIMEOUT_SECONDS: "3600",
    SLACK_TABLE: TABLE,
    SLACK_SECRET_ID: SECRET_ID,
    SLACK_TEAM_ID: "T0FAKETEAM",
  };
  const secretsManager = {
    send: async () => {
      if (secretFailure) throw secretFailure;
      return { SecretString: JSON.stringify({ botToken: FAKE_BOT_TOKEN, signingSecret: FAKE_SIGNING_SECRET }) };
    },
  };
  const logs: string[] = [];
  const deps = () => ({
    dynamodb,
    sfn,
    secretsManager,
    env: { ...env, SLACK_API_URL: slack.apiUrl },
    now: () => NOW,
    log: (line: string) => logs.push(line),
  });
  const event = { taskToken: TOKEN, request: EXPENSE_REPORT, stage: "manager", executionArn: EXECUTION_ARN };

  before(async () => {
    await Promise.all([aws.start(), slack.start()]);
    const client = {
      region: "eu-west-1",
      endpoint: aws.url,
      credentials: { accessKeyId: "AKIAFAKE", secretAccessKey: "fake" },
      maxAttempts: 1,
    };
    dynamodb = new DynamoDBClient(client);
    sfn = new SFNClient(client);
  });
  after(async () => {
    dynamodb.destroy();
    sfn.destroy();
    await Promise.all([aws.stop(), slack.stop()]);
  });
  beforeEach(() => {
    aws.reset();
    slack.reset();
    clearSlackSecretsCache();
    table = new FakeSlackRequestTable(TABLE);
    table.serve(aws);
    secretFailure = undefined;
    logs.length = 0;
  });

  const requests = () => [...table.items.values()].filter((item) => item.sealedToken !== undefined);

  it("refused twice, posted on the third attempt: one message, the two unposted requests ended, the approval proceeds", async () => {
    slack.fail("chat.postMessage", ratelimited(30), ratelimited(30));
    const errors: string[] = [];
    const result = await runDefinition(definitionOf("slack", 3600, 200), EXPENSE_REPORT, {
      taskToken: TOKEN,
      executionArn: EXECUTION_ARN,
      retryPauseMs: 0,
      taskHandlers: {
        [stageStateName("manager")]: async (input: { Payload: unknown }) => {
          try {
            await redactingHandler(startSlackRequest)(input.Payload, deps());
          } catch (e) {
            errors.push((e as Error).name);
            throw e;
          }
          return decision("slack");
        },
      },
    });
    expect(errors).to.deep.equal(["Slack.ratelimited", "Slack.ratelimited"]);
    expect(result.status).to.equal("SUCCEEDED");
    expect(result.output.decision).to.equal("approved");
    expect(slack.callsTo("chat.postMessage")).to.have.length(3);
    const items = requests();
    expect(items.map((i) => i.status.S).sort()).to.deep.equal(["timed_out", "timed_out", "waiting"]);
    // Only the posted request has a message; no message carries the key of an ended one.
    expect(items.filter((i) => i.channel !== undefined).map((i) => i.status.S)).to.deep.equal(["waiting"]);
  });

  it("never posted: the stage ends timed_out through 'no capacity', the close finds only ended unposted requests and does not fail", async () => {
    slack.fail("chat.postMessage", ...Array.from({ length: 10 }, () => ratelimited(30)));
    const closes: unknown[] = [];
    const result = await runDefinition(definitionOf("slack", 3600, 200), EXPENSE_REPORT, {
      taskToken: TOKEN,
      executionArn: EXECUTION_ARN,
      retryPauseMs: 0,
      taskHandlers: {
        [stageStateName("manager")]: (input: { Payload: unknown }) =>
          redactingHandler(startSlackRequest)(input.Payload, deps()),
        [closeRequestStateName("manager")]: async (input: { Payload: unknown }) => {
          const answer = await handleFollowUp(input.Payload, deps());
          closes.push(answer);
          return { StatusCode: 200, Payload: answer };
        },
      },
    });
    expect(result.status).to.equal("SUCCEEDED");
    expect(result.statesEntered).to.include.members(["Approval manager no capacity", "Close manager request"]);
    expect(result.output.stages[0]).to.deep.include({ decision: "timed_out", mechanism: "slack" });
    expect(result.output.stages[0].comment).to.match(/last error: Slack\.ratelimited\)$/);
    const items = requests();
    expect(items).to.have.length(attempts());
    expect(items.every((i) => i.status.S === "timed_out" && i.channel === undefined)).to.equal(true);
    expect(closes).to.have.length(1);
    const outcomes = (closes[0] as { requests: Array<{ outcome: string }> }).requests.map((r) => r.outcome);
    expect(outcomes).to.deep.equal(Array.from({ length: attempts() }, () => "no_message"));
    expect(slack.methods().every((m) => m === "chat.postMessage")).to.equal(true);
    function attempts() {
      return capacityRetrier([], 200).MaxAttempts! + 1;
    }
  });

  it("a throttled secret read keeps its name (ThrottlingException, retried); an unreadable secret stays Slack.secret_unavailable", async () => {
    secretFailure = error("ThrottlingException", "Rate exceeded");
    const throttled = await redactingHandler(startSlackRequest)(event, deps()).catch((e: Error) => e);
    expect((throttled as Error).name).to.equal("ThrottlingException");
    expect(requests().map((i) => i.status.S)).to.deep.equal(["timed_out"]);
    clearSlackSecretsCache();
    secretFailure = error("AccessDeniedException", "not allowed");
    const denied = await redactingHandler(startSlackRequest)(event, deps()).catch((e: Error) => e);
    expect((denied as Error).name).to.equal("Slack.secret_unavailable");
    expect(slack.callsTo("chat.postMessage")).to.have.length(0);
  });

  it("a throttled bind after the post is not a capacity error: the Task fails (no second message), the posted request stays", async () => {
    aws.on("UpdateItem", (body: any) =>
      body.UpdateExpression === "SET #channel = :channel, #ts = :ts"
        ? new AwsError("ThrottlingException", "Rate of requests exceeds the allowed throughput.")
        : table["update"](body),
    );
    const failed = await redactingHandler(startSlackRequest)(event, deps()).catch((e: Error) => e);
    expect((failed as Error).name).to.equal("Error");
    expect((failed as Error).message).to.equal(
      "SlackMessageNotBound: the posted message was not recorded in the request's item (ThrottlingException)",
    );
    expect(CAPACITY_ERRORS.slack).to.not.include((failed as Error).name);
    expect(slack.callsTo("chat.postMessage")).to.have.length(1);
    expect(requests().map((i) => i.status.S)).to.deep.equal(["waiting"]);
  });

  it("any other failed post (a message may exist) leaves the request as it is", async () => {
    slack.fail("chat.postMessage", { error: "internal_error", status: 200 });
    const failed = await redactingHandler(startSlackRequest)(event, deps()).catch((e: Error) => e);
    expect((failed as Error).name).to.equal("Slack.internal_error");
    expect(requests().map((i) => i.status.S)).to.deep.equal(["waiting"]);
  });
});

describe("capacity retry: the start functions keep the capacity error names (through redactingHandler)", () => {
  const event = { taskToken: TOKEN, request: EXPENSE_REPORT, stage: "manager", executionArn: EXECUTION_ARN };
  const $metadata = { httpStatusCode: 400 };

  it("ssm-automation: AutomationExecutionLimitExceededException from StartAutomationExecution", async () => {
    const ssm = {
      send: async () => {
        throw new AutomationExecutionLimitExceededException({ message: "limit", $metadata });
      },
    };
    const handler = redactingHandler((e: unknown) =>
      startAutomation(e, { documentName: "sfn-approvals-test-manager", stage: "manager" }, ssm as any),
    );
    const thrown = await handler(event).catch((e: Error) => e);
    expect((thrown as Error).name).to.equal("AutomationExecutionLimitExceededException");
    expect(CAPACITY_ERRORS["ssm-automation"]).to.include((thrown as Error).name);
  });

  const pipelineSettings = {
    pipelineName: "sfn-approvals-test-manager",
    stage: "manager",
    tableName: "sfn-approvals-test-manager-tokens",
    timeoutSeconds: 3600,
  };

  it("codepipeline: ConcurrentPipelineExecutionsLimitExceededException from StartPipelineExecution", async () => {
    const dynamodb = { send: async () => ({}) };
    const codepipeline = {
      send: async () => {
        throw new ConcurrentPipelineExecutionsLimitExceededException({ message: "limit", $metadata });
      },
    };
    const handler = redactingHandler((e: unknown) =>
      startPipeline(e, pipelineSettings, { dynamodb: dynamodb as any, codepipeline: codepipeline as any }),
    );
    const thrown = await handler(event).catch((e: Error) => e);
    expect((thrown as Error).name).to.equal("ConcurrentPipelineExecutionsLimitExceededException");
    expect(CAPACITY_ERRORS.codepipeline).to.include((thrown as Error).name);
  });

  it("codepipeline: a throttled bind after the pipeline started loses its throttling name (never retried: it could start a second execution)", async () => {
    const sent: string[] = [];
    const dynamodb = {
      send: async (command: { constructor: { name: string } }) => {
        sent.push(command.constructor.name);
        if (command.constructor.name === "UpdateItemCommand")
          throw new DynamoDbThrottlingException({ message: "throttled", $metadata });
        return {};
      },
    };
    const codepipeline = { send: async () => ({ pipelineExecutionId: "9d7f1c2e-0b6a-4c1e-9d43-2f1a8e5b7c0d" }) };
    const handler = redactingHandler((e: unknown) =>
      startPipeline(e, pipelineSettings, { dynamodb: dynamodb as any, codepipeline: codepipeline as any }),
    );
    const thrown = (await handler(event).catch((e: Error) => e)) as Error;
    expect(sent).to.deep.equal(["PutItemCommand", "UpdateItemCommand"]);
    expect(thrown.name).to.equal("Error");
    expect(thrown.message).to.equal(
      "PipelineExecutionNotBound: pipeline execution 9d7f1c2e-0b6a-4c1e-9d43-2f1a8e5b7c0d started but its record was not bound (ThrottlingException)",
    );
    expect(CAPACITY_ERRORS.codepipeline).to.not.include(thrown.name);
  });

  it("email-link: SNS ThrottledException from Publish, DynamoDB throttling on the link code", async () => {
    const settings = {
      stage: "manager",
      topicArn: TOPIC_ARN,
      pageUrl: PAGE_URL,
      timeoutSeconds: 3600,
      codeTable: "sfn-approvals-test-link-codes",
    };
    const sns = {
      send: async () => {
        throw new ThrottledException({ message: "throttled", $metadata });
      },
    };
    const published = await redactingHandler((e: unknown) =>
      sendApprovalEmail(e, settings, { sns: sns as any, dynamodb: { send: async () => ({}) } as any }),
    )(event).catch((e: Error) => e);
    expect((published as Error).name).to.equal("ThrottledException");
    const dynamodb = {
      send: async () => {
        throw new DynamoDbThrottlingException({ message: "throttled", $metadata });
      },
    };
    const stored = await redactingHandler((e: unknown) =>
      sendApprovalEmail(e, settings, { sns: sns as any, dynamodb: dynamodb as any }),
    )(event).catch((e: Error) => e);
    expect((stored as Error).name).to.equal("ThrottlingException");
    for (const name of [(published as Error).name, (stored as Error).name])
      expect(CAPACITY_ERRORS["email-link"]).to.include(name);
  });
});
