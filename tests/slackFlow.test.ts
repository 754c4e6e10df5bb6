// A slack stage end to end: the Task that assembleWorkflowDefinition generates for it
// (lambdaCallbackTaskStates) runs on aws-local-stepfunctions; its local handler is the start
// function (startSlackRequest posting to the fake Slack), then approvers' signed clicks reach the
// interaction function (handleInteraction), and the Task ends with what that function sent with
// SendTaskSuccess to (fake) Step Functions, as a real callback Task does.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SFNClient } from "@aws-sdk/client-sfn";
import { expect } from "chai";
import { lambdaCallbackTaskStates } from "../components/mechanisms/lambdaCallbackApproval";
import { CLOSE_MAX_SECONDS, closeRequestStateName, slackTaskStates } from "../components/mechanisms/slackApproval";
import { assembleWorkflowDefinition, stageTaskOptions } from "../components/workflow/definition";
import { followUpStateNames } from "../functions/contract";
import { handleFollowUp } from "../functions/mechanisms/slack/followUp";
import { ACTION_IDS, COMMENT_CALLBACK_IDS } from "../functions/mechanisms/slack/interaction";
import {
  HttpApiResponse,
  clearSlackUserNameCache,
  handleInteraction,
} from "../functions/mechanisms/slack/interactionHandler";
import { clearSlackSecretsCache } from "../functions/mechanisms/slack/secrets";
import { startSlackRequest } from "../functions/mechanisms/slack/startRequest";
import { FakeAws, fakeTaskToken } from "./helpers/fakeAws";
import { FAKE_BOT_TOKEN, FakeSlack } from "./helpers/fakeSlack";
import { FakeSlackRequestTable } from "./helpers/fakeSlackRequestTable";
import { EXPENSE_REPORT } from "./helpers/fixtures";
import { RunResult, runDefinition } from "./helpers/localStateMachine";
import {
  FAKE_SIGNING_SECRET,
  blockActionsPayload,
  httpApiEvent,
  signedInteraction,
  viewSubmissionPayload,
} from "./helpers/slackInteractions";

const STAGE = "ops";
const TABLE = "sfn-approvals-test-ops-slack-requests";
const SECRET_ID = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:sfn-approvals-test-ops-slack-app-AbCdEf";
const CHANNEL = "C0APPROVALS";
const TEAM = "T0FAKETEAM";
const APPROVERS = ["U0ALICE", "U0BOB", "U0CAROL"];
const FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:sfn-approvals-test-ops-start";
const EXECUTION_ARN = "arn:aws:states:eu-west-1:123456789012:execution:sfn-approvals-test:er98765-1";
const TOKEN = fakeTaskToken("slack-flow");
/** The handlers' clock (Slack's signatures are checked against it). */
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);
const DECIDED_AT = NOW.toISOString().replace(/\.\d{3}Z$/, "Z");

type Vote = { user: string; vote: "approve" | "reject"; comment?: string };

describe("flow: a slack stage's Task answered by the Slack handlers (quorum 2 of 3)", function () {
  const aws = new FakeAws();
  const slack = new FakeSlack();
  let dynamodb: DynamoDBClient;
  let sfn: SFNClient;
  let responses: HttpApiResponse[];

  const definition = assembleWorkflowDefinition({
    stages: [
      {
        stage: STAGE,
        mechanism: "slack",
        maxWaitSeconds: 3600,
        states: lambdaCallbackTaskStates({
          options: stageTaskOptions(STAGE),
          functionArn: FUNCTION_ARN,
          stage: STAGE,
          mechanism: "slack",
          timeoutSeconds: 3600,
        }),
      },
    ],
  });

  const env = {
    SLACK_STAGE: STAGE,
    SLACK_CHANNEL: CHANNEL,
    SLACK_APPROVERS: JSON.stringify(APPROVERS),
    SLACK_REQUIRED: "2",
    SLACK_TIMEOUT_SECONDS: "3600",
    SLACK_TABLE: TABLE,
    SLACK_SECRET_ID: SECRET_ID,
    SLACK_TEAM_ID: TEAM,
  };
  const secretsManager = {
    send: async () => ({
      SecretString: JSON.stringify({ botToken: FAKE_BOT_TOKEN, signingSecret: FAKE_SIGNING_SECRET }),
    }),
  };
  const deps = () => ({
    dynamodb,
    sfn,
    secretsManager,
    env: { ...env, SLACK_API_URL: slack.apiUrl },
    now: () => NOW,
    log: () => undefined,
  });

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
    clearSlackUserNameCache();
    new FakeSlackRequestTable(TABLE).serve(aws);
    responses = [];
  });

  /** Clicks (and comment submissions) of one approver each, through the interaction function. */
  async function vote(key: string, ts: string, votes: Vote[]): Promise<void> {
    let trigger = 0;
    for (const v of votes) {
      trigger += 1;
      const click = blockActionsPayload({
        userId: v.user,
        actionId: ACTION_IDS[v.vote],
        value: key,
        messageTs: ts,
        channelId: CHANNEL,
        triggerId: `13345224609.738474920.${trigger.toString(16).padStart(6, "0")}`,
      });
      responses.push(await handleInteraction(httpApiEvent(signedInteraction(click)), deps()));
      // A rejection (or approval with comments) opens the comment modal; its submission is the vote.
      if (v.comment !== undefined) {
        const submission = viewSubmissionPayload({
          userId: v.user,
          callbackId: COMMENT_CALLBACK_IDS[v.vote],
          privateMetadata: key,
          values: { comment: { comment: v.comment } },
        });
        responses.push(await handleInteraction(httpApiEvent(signedInteraction(submission)), deps()));
      }
    }
  }

  /**
   * Runs the definition; the stage's Task invokes the start function, the votes are cast on the
   * posted message, and the Task's result is the output of the SendTaskSuccess the interaction
   * function sent (the Task fails if none was sent).
   */
  async function runWith(votes: Vote[]): Promise<{ result: RunResult; payloads: unknown[] }> {
    const payloads: unknown[] = [];
    let answer: { taskToken: string; output: string } | undefined;
    aws.on("SendTaskSuccess", (body) => {
      answer = body;
      return {};
    });
    const result = await runDefinition(definition, EXPENSE_REPORT, {
      taskToken: TOKEN,
      executionArn: EXECUTION_ARN,
      retryPauseMs: 0,
      taskHandlers: {
        [stageTaskOptions(STAGE).stateName]: async (input: { FunctionName: string; Payload: unknown }) => {
          expect(input.FunctionName).to.equal(FUNCTION_ARN);
          payloads.push(input.Payload);
          const posted = await startSlackRequest(input.Payload, deps());
          const actions = slack.message(posted.channel, posted.ts)!.blocks!.find((b: any) => b.type === "actions");
          await vote((actions as any).elements[0].value, posted.ts, votes);
          if (!answer) throw new Error("no SendTaskSuccess was sent");
          expect(answer.taskToken).to.equal(TOKEN);
          return JSON.parse(answer.output);
        },
      },
    });
    return { result, payloads };
  }

  const sentDecisions = () => aws.requests.filter((r) => r.operation === "SendTaskSuccess");

  it("two of three approve: the execution ends approved with the second approver's decision, sent once", async () => {
    const { result, payloads } = await runWith([
      { user: "U0ALICE", vote: "approve" },
      { user: "U0BOB", vote: "approve" },
    ]);
    expect(payloads).to.deep.equal([
      { taskToken: TOKEN, request: EXPENSE_REPORT, stage: STAGE, executionArn: EXECUTION_ARN },
    ]);
    expect(result.status).to.equal("SUCCEEDED");
    expect(result.output).to.deep.equal({
      approved: true,
      decision: "approved",
      stages: [
        {
          approved: true,
          decision: "approved",
          stage: STAGE,
          mechanism: "slack",
          approver: "U0BOB",
          approverName: "bob",
          approverTeam: "T0FAKETEAM",
          comment: null,
          decidedAt: DECIDED_AT,
        },
      ],
      request: EXPENSE_REPORT,
    });
    expect(sentDecisions()).to.have.length(1);
    expect(responses.map((r) => r.statusCode)).to.deep.equal([200, 200]);
    expect(slack.methods()).to.deep.equal(["chat.postMessage", "chat.update", "users.info", "chat.update"]);
  });

  it("one approval is not a quorum: no decision is sent, so the Task would keep waiting (here: fails), never approved", async () => {
    const { result } = await runWith([{ user: "U0ALICE", vote: "approve" }]);
    expect(sentDecisions()).to.have.length(0);
    expect(result.status).to.equal("FAILED");
    expect(result.cause).to.include("no SendTaskSuccess was sent");
    expect(result.output).to.equal(undefined);
  });

  it("one rejection with a comment, after an approval: the execution ends rejected with the comment", async () => {
    const { result } = await runWith([
      { user: "U0ALICE", vote: "approve" },
      { user: "U0CAROL", vote: "reject", comment: "Budget exceeded for Q4" },
    ]);
    expect(result.status).to.equal("SUCCEEDED");
    expect(result.output).to.deep.equal({
      approved: false,
      decision: "rejected",
      stages: [
        {
          approved: false,
          decision: "rejected",
          stage: STAGE,
          mechanism: "slack",
          approver: "U0CAROL",
          approverName: "Carol Checker",
          approverTeam: "T0FAKETEAM",
          comment: "Budget exceeded for Q4",
          decidedAt: DECIDED_AT,
        },
      ],
      request: EXPENSE_REPORT,
    });
    expect(sentDecisions()).to.have.length(1);
  });
});

// The timeout path of the generated slack states (slackTaskStates): the Task times out (a real 1 s
// TimeoutSeconds, the library's timer: States.Timeout), the `timed out` Pass writes the decision,
// and "Close ops request" runs the follow-up function, whose result never changes that decision.
describe("flow: a slack stage that times out (the follow-up function closes the request)", function () {
  const aws = new FakeAws();
  const slack = new FakeSlack();
  let dynamodb: DynamoDBClient;
  let sfn: SFNClient;
  const FOLLOW_UP_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:sfn-approvals-test-ops-follow-up";
  const ENTERED = "2026-11-22T11:00:00.123Z";
  const definition = assembleWorkflowDefinition({
    stages: [
      {
        stage: STAGE,
        mechanism: "slack",
        maxWaitSeconds: 1,
        afterWaitSeconds: CLOSE_MAX_SECONDS,
        states: slackTaskStates({
          options: stageTaskOptions(STAGE),
          startFunctionArn: FUNCTION_ARN,
          followUpFunctionArn: FOLLOW_UP_ARN,
          stage: STAGE,
          timeoutSeconds: 1,
        }),
      },
    ],
  });
  const env = {
    SLACK_STAGE: STAGE,
    SLACK_CHANNEL: CHANNEL,
    SLACK_APPROVERS: JSON.stringify(APPROVERS),
    SLACK_REQUIRED: "2",
    SLACK_TIMEOUT_SECONDS: "1",
    SLACK_TABLE: TABLE,
    SLACK_SECRET_ID: SECRET_ID,
    SLACK_TEAM_ID: TEAM,
  };
  const secretsManager = {
    send: async () => ({
      SecretString: JSON.stringify({ botToken: FAKE_BOT_TOKEN, signingSecret: FAKE_SIGNING_SECRET }),
    }),
  };
  const deps = () => ({
    dynamodb,
    sfn,
    secretsManager,
    env: { ...env, SLACK_API_URL: slack.apiUrl },
    now: () => NOW,
    log: () => undefined,
  });

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
    new FakeSlackRequestTable(TABLE).serve(aws);
    aws.on("SendTaskSuccess", () => ({}));
  });

  const TIMED_OUT = {
    approved: false,
    decision: "timed_out",
    stage: STAGE,
    mechanism: "slack",
    approver: null,
    comment: null,
    decidedAt: ENTERED,
  };

  /** Runs the definition: the start function posts, nobody decides; the close Task runs the follow-up function (unless `closeFails`). */
  async function runToTimeout(closeFails?: Error) {
    const posted: Array<{ channel: string; ts: string; key: string }> = [];
    const closes: unknown[] = [];
    const result = await runDefinition(definition, EXPENSE_REPORT, {
      taskToken: TOKEN,
      executionArn: EXECUTION_ARN,
      stateEnteredTime: ENTERED,
      retryPauseMs: 0,
      taskHandlers: {
        [stageTaskOptions(STAGE).stateName]: async (input: { Payload: unknown }) => {
          const message = await startSlackRequest(input.Payload, deps());
          const actions = slack.message(message.channel, message.ts)!.blocks!.find((b: any) => b.type === "actions");
          posted.push({ ...message, key: (actions as any).elements[0].value });
          return new Promise(() => undefined); // nobody decides: the Task's timer ends it
        },
        [closeRequestStateName(STAGE)]: async (input: { FunctionName: string; Payload: unknown }) => {
          expect(input.FunctionName).to.equal(FOLLOW_UP_ARN);
          closes.push(input.Payload);
          if (closeFails) throw closeFails;
          return { StatusCode: 200, Payload: await handleFollowUp(input.Payload, deps()) };
        },
      },
    });
    return { result, posted, closes };
  }

  it("ends timed_out; the follow-up function closed the request and the message says timed out; a later click decides nothing", async () => {
    const { result, posted, closes } = await runToTimeout();
    expect(result.status).to.equal("SUCCEEDED");
    expect(result.statesEntered).to.include.members(["Approval ops timed out", "Close ops request"]);
    expect(result.output).to.deep.equal({
      approved: false,
      decision: "timed_out",
      stages: [TIMED_OUT],
      request: EXPENSE_REPORT,
    });
    expect(closes).to.deep.equal([{ action: "close", stage: STAGE, executionArn: EXECUTION_ARN }]);

    const [{ channel, ts, key }] = posted;
    expect(slack.methods()).to.deep.equal(["chat.postMessage", "chat.update"]);
    const message = slack.message(channel, ts)!;
    expect(message.text).to.match(/^Timed out \(ops\): /);
    expect(JSON.stringify(message.blocks)).to.include("*Timed out*");
    expect(message.blocks!.some((b: any) => b.type === "actions")).to.equal(false);

    // A click on the (stale) button afterwards: told so, nothing sent to Step Functions.
    const click = blockActionsPayload({
      userId: "U0ALICE",
      actionId: ACTION_IDS.approve,
      value: key,
      messageTs: ts,
      channelId: CHANNEL,
      triggerId: "13345224609.738474920.00ff01",
    });
    const response = await handleInteraction(httpApiEvent(signedInteraction(click)), deps());
    expect(response.statusCode).to.equal(200);
    expect(aws.requests.filter((r) => r.operation === "SendTaskSuccess")).to.have.length(0);
    const [ephemeral] = slack.callsTo("chat.postEphemeral").map((c) => c.body);
    expect(ephemeral).to.include({ channel: CHANNEL, user: "U0ALICE" });
    expect(ephemeral.text).to.match(/^This request timed out at .+; your click changed nothing\.$/);
  });

  it("a close that keeps failing is retried twice, then the execution goes on timed_out, the decision unchanged", async () => {
    const { result, closes } = await runToTimeout(
      Object.assign(new Error("Slack chat.update failed: ratelimited"), { name: "Slack.ratelimited" }),
    );
    expect(closes).to.have.length(3);
    expect(result.status).to.equal("SUCCEEDED");
    expect(result.output).to.deep.equal({
      approved: false,
      decision: "timed_out",
      stages: [TIMED_OUT],
      request: EXPENSE_REPORT,
    });
  });
});

// Reminders of a slack stage: the generated Parallel (followUpStates with the stage's follow-up
// function) on aws-local-stepfunctions; each reminder invokes the follow-up function, which replies
// in the request message's thread; the decision then stops the reminders.
describe("flow: a slack stage with reminders in the message's thread", function () {
  const aws = new FakeAws();
  const slack = new FakeSlack();
  let dynamodb: DynamoDBClient;
  let sfn: SFNClient;
  const FOLLOW_UP_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:sfn-approvals-test-ops-follow-up";
  const names = followUpStateNames(STAGE);
  const definition = assembleWorkflowDefinition({
    stages: [
      {
        stage: STAGE,
        mechanism: "slack",
        maxWaitSeconds: 3600,
        afterWaitSeconds: CLOSE_MAX_SECONDS,
        states: slackTaskStates({
          options: stageTaskOptions(STAGE, true),
          startFunctionArn: FUNCTION_ARN,
          followUpFunctionArn: FOLLOW_UP_ARN,
          stage: STAGE,
          timeoutSeconds: 3600,
        }),
        followUp: {
          followUp: { remindEverySeconds: 600, maxReminders: 5, reminderFunctionArn: FOLLOW_UP_ARN },
          timeoutText: "1h",
          approvers: APPROVERS,
        },
      },
    ],
  });
  const env = {
    SLACK_STAGE: STAGE,
    SLACK_CHANNEL: CHANNEL,
    SLACK_APPROVERS: JSON.stringify(APPROVERS),
    SLACK_REQUIRED: "2",
    SLACK_TIMEOUT_SECONDS: "3600",
    SLACK_TABLE: TABLE,
    SLACK_SECRET_ID: SECRET_ID,
    SLACK_TEAM_ID: TEAM,
  };
  const secretsManager = {
    send: async () => ({
      SecretString: JSON.stringify({ botToken: FAKE_BOT_TOKEN, signingSecret: FAKE_SIGNING_SECRET }),
    }),
  };
  const deps = () => ({
    dynamodb,
    sfn,
    secretsManager,
    env: { ...env, SLACK_API_URL: slack.apiUrl },
    now: () => NOW,
    log: () => undefined,
  });

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
    clearSlackUserNameCache();
    new FakeSlackRequestTable(TABLE).serve(aws);
  });

  const signal = () => {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    return { promise, resolve };
  };

  it("reminds in the thread who has not voted, then the quorum decides and the reminders stop", async () => {
    let answer: { taskToken: string; output: string } | undefined;
    aws.on("SendTaskSuccess", (body) => {
      answer = body;
      return {};
    });
    const started = signal();
    const firstReminder = signal();
    const aliceVoted = signal();
    const secondReminder = signal();
    const reminders: unknown[] = [];
    let posted: { channel: string; ts: string; key: string } | undefined;
    const click = (userId: string) =>
      handleInteraction(
        httpApiEvent(
          signedInteraction(
            blockActionsPayload({
              userId,
              actionId: ACTION_IDS.approve,
              value: posted!.key,
              messageTs: posted!.ts,
              channelId: CHANNEL,
              triggerId: `13345224609.738474920.00ee0${reminders.length}`,
            }),
          ),
        ),
        deps(),
      );

    const result = await runDefinition(definition, EXPENSE_REPORT, {
      taskToken: TOKEN,
      executionArn: EXECUTION_ARN,
      retryPauseMs: 0,
      waitMs: { [names.reminderWait]: 10, [names.escalationWait]: 60_000 },
      taskHandlers: {
        [stageTaskOptions(STAGE).stateName]: async (input: { Payload: unknown }) => {
          const message = await startSlackRequest(input.Payload, deps());
          const actions = slack.message(message.channel, message.ts)!.blocks!.find((b: any) => b.type === "actions");
          posted = { ...message, key: (actions as any).elements[0].value };
          started.resolve();
          await firstReminder.promise;
          await click("U0ALICE");
          aliceVoted.resolve();
          await secondReminder.promise;
          await click("U0BOB");
          if (!answer) throw new Error("no SendTaskSuccess was sent");
          return JSON.parse(answer.output);
        },
        [names.reminder]: async (input: { FunctionName: string; Payload: unknown }) => {
          expect(input.FunctionName).to.equal(FOLLOW_UP_ARN);
          reminders.push(input.Payload);
          await started.promise; // here the first wait (10 ms) could end before the request is posted
          const done = await handleFollowUp(input.Payload, deps());
          if (reminders.length === 1) {
            firstReminder.resolve();
            await aliceVoted.promise;
          } else if (reminders.length === 2) {
            secondReminder.resolve();
            // This branch waits here until the decision ends the Parallel (and with it this Task).
            await new Promise(() => undefined);
          }
          return { StatusCode: 200, Payload: done };
        },
      },
    });

    expect(result.status).to.equal("SUCCEEDED");
    expect(result.output).to.deep.include({ approved: true, decision: "approved" });
    expect(result.output.stages[0]).to.deep.include({ decision: "approved", approver: "U0BOB", mechanism: "slack" });
    expect(reminders).to.have.length(2);
    expect(reminders[0]).to.deep.equal({ action: "remind", stage: STAGE, executionArn: EXECUTION_ARN });
    const replies = slack.messagesIn(CHANNEL, posted!.ts);
    expect(replies.map((m) => m.text!.replace(/ and times out on .+?\. /, " … "))).to.deep.equal([
      ":bell: Reminder: this request still needs 2 more approvals (0 of 2 so far) … Not voted yet: <@U0ALICE>, <@U0BOB>, <@U0CAROL>.",
      ":bell: Reminder: this request still needs 1 more approval (1 of 2 so far) … Not voted yet: <@U0BOB>, <@U0CAROL>.",
    ]);
    expect(replies.every((m) => m.blocks === undefined)).to.equal(true);
    expect(count(result.statesEntered, names.reminder)).to.equal(2);
    expect(aws.requests.filter((r) => r.operation === "SendTaskSuccess")).to.have.length(1);
  });
});

function count(states: string[], name: string): number {
  return states.filter((s) => s === name).length;
}
