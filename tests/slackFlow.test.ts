// A slack stage end to end: the Task that assembleWorkflowDefinition generates for it
// (lambdaCallbackTaskStates) runs on aws-local-stepfunctions; its local handler is the start
// function (startSlackRequest posting to the fake Slack), then approvers' signed clicks reach the
// interaction function (handleInteraction), and the Task ends with what that function sent with
// SendTaskSuccess to (fake) Step Functions, as a real callback Task does.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SFNClient } from "@aws-sdk/client-sfn";
import { expect } from "chai";
import { lambdaCallbackTaskStates } from "../components/mechanisms/lambdaCallbackApproval";
import { assembleWorkflowDefinition, stageTaskOptions } from "../components/workflow/definition";
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
