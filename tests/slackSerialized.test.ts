// The slack stage's two functions as deployed: their serialized __index.js (index.ts under Pulumi
// mocks, exactly as Pulumi would upload it) run in a child process like the Lambda runtime
// (tests/helpers/serializedHandler.ts), each started once and kept warm. Their clients come from
// the environment: AWS_ENDPOINT_URL_* point at FakeAws (Secrets Manager's GetSecretValue, the
// request table evaluating the store's real expressions, Step Functions) and SLACK_API_URL at
// FakeSlack. The bad inputs, one cheap case each: what the HTTP answer is, what the
// clicker is told, which Slack calls and which SendTaskSuccess calls were really sent. The detail
// of each case is in tests/slackHandlers.test.ts (in-process).
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { expect } from "chai";
import { ACTION_IDS, COMMENT_CALLBACK_IDS } from "../functions/mechanisms/slack/interaction";
import { markTimedOut, requestKeyHash } from "../functions/mechanisms/slack/requestStore";
import { AwsError, FakeAws, RecordedRequest, fakeTaskToken, serveSecrets } from "./helpers/fakeAws";
import { FAKE_BOT_TOKEN, FakeSlack, SlackFailure, ratelimited, slackError, slackUser } from "./helpers/fakeSlack";
import { FakeSlackRequestTable } from "./helpers/fakeSlackRequestTable";
import { EXPENSE_REPORT } from "./helpers/fixtures";
import { ACCOUNT_ID, archiveFiles, named, runProgram } from "./helpers/pulumiMocks";
import { SLACK_STACK, SLACK_STACK_CONFIG } from "./helpers/slackStack";
import { HandlerRun, invokeArchive, writeArchive } from "./helpers/serializedHandler";
import {
  FAKE_SIGNING_SECRET,
  SignedRequest,
  blockActionsPayload,
  fromAnotherTeam,
  httpApiEvent,
  signedInteraction,
  staleInteraction,
  viewSubmissionPayload,
  withBadSignature,
} from "./helpers/slackInteractions";

const { stage: STAGE, channel: CHANNEL, teamId: TEAM, table: TABLE, secretArn: SECRET_ARN } = SLACK_STACK;
const [ALICE, BOB, CAROL] = SLACK_STACK.approvers;
const OUTSIDER = "U0000000009";
const EXECUTION = `arn:aws:states:eu-west-1:${ACCOUNT_ID}:execution:sfn-approvals-dev:er98765-1`;
const TOKEN = fakeTaskToken("slack-serialized");

const ALREADY_VOTED = "You already voted on this request; a vote counts once, so this click changed nothing.";

type Fn = { dir: string; env: Record<string, string> };

describe("slack functions as deployed (serialized __index.js against fake Slack and fake AWS endpoints)", function () {
  this.timeout(20000);
  const aws = new FakeAws();
  const slack = new FakeSlack({
    teamId: TEAM,
    channels: [CHANNEL],
    users: [
      slackUser(ALICE, "alice", "Alice Approver", "Alice", TEAM),
      slackUser(BOB, "bob", "Bob Builder", "bob", TEAM),
      slackUser(CAROL, "carol", "Carol Checker", "", TEAM),
      slackUser(OUTSIDER, "mallory", "Mallory Outsider", "mal", TEAM),
    ],
  });
  let start: Fn;
  let interactions: Fn;
  let dynamodb: DynamoDBClient;
  /** GetSecretValue requests of the warm-up (the secret is read once per warm function). */
  let secretReads: RecordedRequest[];
  let runs: HandlerRun[];
  /** Request keys of this test (in Slack's buttons by design, never in an answer or a log). */
  let keys: string[];
  let triggers = 0;

  const serve = () => {
    new FakeSlackRequestTable(TABLE).serve(aws);
    serveSecrets(aws, {
      [SECRET_ARN]: JSON.stringify({ botToken: FAKE_BOT_TOKEN, signingSecret: FAKE_SIGNING_SECRET }),
    });
    aws.on("SendTaskSuccess", () => ({}));
  };

  before(async function () {
    this.timeout(90000);
    const [run] = await Promise.all([runProgram("dev", SLACK_STACK_CONFIG), aws.start(), slack.start()]);
    const endpoints = {
      AWS_ENDPOINT_URL_DYNAMODB: aws.url,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.url,
      AWS_ENDPOINT_URL_SFN: aws.url,
      SLACK_API_URL: slack.apiUrl,
    };
    const deployed = async (name: string): Promise<Fn> => {
      const fn = named(run.resources, name);
      const files = await archiveFiles(fn);
      expect(Object.keys(files), name).to.deep.equal(["__index.js"]);
      return {
        dir: writeArchive(files),
        env: { ...fn.inputs.environment.variables, ...endpoints },
      };
    };
    [start, interactions] = await Promise.all([deployed("stage-ops-start-fn"), deployed("stage-ops-interactions-fn")]);
    dynamodb = new DynamoDBClient({
      region: "eu-west-1",
      endpoint: aws.url,
      credentials: { accessKeyId: "AKIAFAKE", secretAccessKey: "fake" },
      maxAttempts: 1,
    });
    // Warm-up: each function starts once (its module scope, with the secret, lives on) and reads the secret.
    serve();
    const posted = await postRequest();
    const warm = await invoke(interactions, httpApiEvent(signedInteraction(click(posted.key, posted.ts, OUTSIDER))));
    expect(warm.ok, warm.logs).to.equal(true);
    secretReads = aws.requests.filter((r) => r.operation === "GetSecretValue");
  });
  after(async () => {
    dynamodb?.destroy();
    await Promise.all([aws.stop(), slack.stop()]);
  });
  beforeEach(() => {
    aws.reset();
    slack.reset();
    serve();
    runs = [];
    keys = [];
  });
  afterEach(function () {
    if (this.currentTest?.state !== "passed") return;
    // No task token or Slack secret in any answer, error or log line; Slack got none and only the bot token as Bearer.
    const out = JSON.stringify(runs);
    for (const secret of [TOKEN, FAKE_BOT_TOKEN, FAKE_SIGNING_SECRET, ...keys]) expect(out).not.to.include(secret);
    const toSlack = JSON.stringify(slack.calls.map((c) => c.body));
    for (const secret of [TOKEN, FAKE_BOT_TOKEN, FAKE_SIGNING_SECRET]) expect(toSlack).not.to.include(secret);
    expect(slack.calls.every((c) => c.token === "bearer" && c.tokenValid)).to.equal(true);
  });

  async function invoke(fn: Fn, event: unknown): Promise<HandlerRun> {
    const run = await invokeArchive(fn.dir, event, fn.env);
    runs?.push(run);
    return run;
  }

  /** Runs the start function; returns the request key (from the posted buttons) and where it was posted. */
  async function postRequest(): Promise<{ key: string; ts: string }> {
    const run = await invoke(start, {
      taskToken: TOKEN,
      request: EXPENSE_REPORT,
      stage: STAGE,
      executionArn: EXECUTION,
    });
    expect(run.ok, run.logs).to.equal(true);
    expect(run.result.channel).to.equal(CHANNEL);
    const actions = slack.message(CHANNEL, run.result.ts)!.blocks!.find((b: any) => b.type === "actions") as any;
    keys?.push(actions.elements[0].value);
    return { key: actions.elements[0].value, ts: run.result.ts };
  }

  function click(key: string, ts: string, userId: string, vote: "approve" | "reject" = "approve"): any {
    triggers += 1;
    return blockActionsPayload({
      teamId: TEAM,
      userId,
      actionId: ACTION_IDS[vote],
      value: key,
      messageTs: ts,
      channelId: CHANNEL,
      triggerId: `13345224609.738474920.${triggers.toString(16).padStart(6, "0")}`,
    });
  }

  /** The interaction function's HTTP answer to a request (API Gateway's payload 2.0 event). */
  async function send(request: SignedRequest): Promise<{ statusCode: number; headers: unknown; body: string }> {
    const run = await invoke(interactions, httpApiEvent(request));
    expect(run.ok, run.logs).to.equal(true);
    return run.result;
  }

  const ok = { statusCode: 200, headers: {}, body: "" };
  const sent = () => aws.requests.filter((r) => r.operation === "SendTaskSuccess");
  const votesWritten = () =>
    aws.requests.filter((r) => r.operation === "UpdateItem" && r.body.ConditionExpression.includes(":seen"));
  const ephemerals = () => slack.callsTo("chat.postEphemeral").map((c) => c.body);

  it("reads the Slack secret named in SLACK_SECRET_ID with GetSecretValue at AWS_ENDPOINT_URL_SECRETS_MANAGER, once per warm function", () => {
    expect(secretReads.map((r) => ({ target: r.target, service: r.service, body: r.body }))).to.deep.equal([
      { target: "secretsmanager.GetSecretValue", service: "secretsmanager", body: { SecretId: SECRET_ARN } },
      { target: "secretsmanager.GetSecretValue", service: "secretsmanager", body: { SecretId: SECRET_ARN } },
    ]);
    expect(start.env.SLACK_SECRET_ID).to.equal(SECRET_ARN);
    expect(interactions.env.SLACK_SECRET_ID).to.equal(SECRET_ARN);
  });

  it("bad signature: 401, nothing read or recorded, nothing said in Slack", async () => {
    const { key, ts } = await postRequest();
    aws.requests.length = 0;
    slack.calls.length = 0;
    expect(await send(withBadSignature(signedInteraction(click(key, ts, ALICE))))).to.deep.equal({
      statusCode: 401,
      headers: { "content-type": "text/plain; charset=utf-8" },
      body: "Refused: the X-Slack-Signature does not match the request.",
    });
    expect(aws.requests).to.deep.equal([]);
    expect(slack.calls).to.deep.equal([]);
  });

  it("stale timestamp (6 minutes old): 401, nothing read or recorded", async () => {
    const { key, ts } = await postRequest();
    aws.requests.length = 0;
    slack.calls.length = 0;
    const answer = await send(staleInteraction(click(key, ts, ALICE)));
    expect(answer.statusCode).to.equal(401);
    expect(answer.body).to.equal("Refused: the request is more than 300 seconds old (a replay or a slow delivery).");
    expect(aws.requests).to.deep.equal([]);
    expect(slack.calls).to.deep.equal([]);
  });

  it("replayed request (the same signed click twice): counts once, the replay is told so, nothing sent", async () => {
    const { key, ts } = await postRequest();
    const request = signedInteraction(click(key, ts, ALICE));
    expect(await send(request)).to.deep.equal(ok);
    expect(await send(request)).to.deep.equal(ok);
    expect(votesWritten()).to.have.length(1);
    expect(slack.methods()).to.deep.equal(["chat.postMessage", "chat.update", "chat.postEphemeral"]);
    expect(ephemerals()).to.deep.equal([{ channel: CHANNEL, user: ALICE, text: ALREADY_VOTED }]);
    expect(sent()).to.deep.equal([]);
  });

  it("another workspace: 403, nothing read or recorded", async () => {
    const { key, ts } = await postRequest();
    aws.requests.length = 0;
    slack.calls.length = 0;
    const answer = await send(signedInteraction(fromAnotherTeam(click(key, ts, ALICE))));
    expect(answer.statusCode).to.equal(403);
    expect(answer.body).to.equal("Refused: the request comes from another Slack workspace.");
    expect(aws.requests).to.deep.equal([]);
    expect(slack.calls).to.deep.equal([]);
  });

  it("non-approver: 200, told so, nothing recorded or sent", async () => {
    const { key, ts } = await postRequest();
    expect(await send(signedInteraction(click(key, ts, OUTSIDER)))).to.deep.equal(ok);
    expect(ephemerals()).to.deep.equal([
      {
        channel: CHANNEL,
        user: OUTSIDER,
        text: "You are not an approver of this stage, so your click changed nothing.",
      },
    ]);
    expect(slack.methods()).to.deep.equal(["chat.postMessage", "chat.postEphemeral"]);
    expect(votesWritten()).to.deep.equal([]);
    expect(sent()).to.deep.equal([]);
  });

  it("double click by the same approver (two clicks): the second is told it counts once, nothing sent", async () => {
    const { key, ts } = await postRequest();
    expect(await send(signedInteraction(click(key, ts, BOB)))).to.deep.equal(ok);
    expect(await send(signedInteraction(click(key, ts, BOB)))).to.deep.equal(ok);
    expect(votesWritten()).to.have.length(1);
    expect(slack.callsTo("chat.update")).to.have.length(1);
    expect(ephemerals()).to.deep.equal([{ channel: CHANNEL, user: BOB, text: ALREADY_VOTED }]);
    expect(sent()).to.deep.equal([]);
  });

  it("reject with a comment: the click opens the modal (nothing recorded), its submission decides rejected, sent once", async () => {
    const { key, ts } = await postRequest();
    expect(await send(signedInteraction(click(key, ts, CAROL, "reject")))).to.deep.equal(ok);
    expect(slack.callsTo("views.open").map((c) => c.body.view.callback_id)).to.deep.equal([
      COMMENT_CALLBACK_IDS.reject,
    ]);
    expect(votesWritten()).to.deep.equal([]);
    expect(sent()).to.deep.equal([]);
    const submission = viewSubmissionPayload({
      teamId: TEAM,
      userId: CAROL,
      callbackId: COMMENT_CALLBACK_IDS.reject,
      privateMetadata: key,
      values: { comment: { comment: "Budget exceeded for Q4" } },
    });
    expect(await send(signedInteraction(submission))).to.deep.equal(ok);
    expect(sent().map((r) => r.body.taskToken)).to.deep.equal([TOKEN]);
    expect(JSON.parse(sent()[0].body.output)).to.include({
      approved: false,
      decision: "rejected",
      stage: STAGE,
      mechanism: "slack",
      approver: CAROL,
      comment: "Budget exceeded for Q4",
    });
    expect(slack.callsTo("chat.update").map((c) => c.body.ts)).to.deep.equal([ts]);
    expect(slack.message(CHANNEL, ts)!.blocks!.some((b: any) => b.type === "actions")).to.equal(false);
    expect(ephemerals()).to.deep.equal([]);
  });

  it("quorum 2 of 3: one approval sends nothing, the second sends one approval, a third click is told it was decided", async () => {
    const { key, ts } = await postRequest();
    expect(await send(signedInteraction(click(key, ts, ALICE)))).to.deep.equal(ok);
    expect(sent()).to.deep.equal([]);
    expect(await send(signedInteraction(click(key, ts, BOB)))).to.deep.equal(ok);
    expect(sent().map((r) => r.body.taskToken)).to.deep.equal([TOKEN]);
    expect(JSON.parse(sent()[0].body.output)).to.include({
      approved: true,
      decision: "approved",
      stage: STAGE,
      mechanism: "slack",
      approver: BOB,
      comment: null,
    });
    expect(await send(signedInteraction(click(key, ts, CAROL)))).to.deep.equal(ok);
    expect(sent()).to.have.length(1);
    expect(votesWritten()).to.have.length(2);
    expect(ephemerals()).to.deep.equal([
      {
        channel: CHANNEL,
        user: CAROL,
        text: "This request was already decided (approved); your click changed nothing.",
      },
    ]);
    // The late click shows the same outcome again (repairs a failed update), and changes nothing else.
    const updates = slack.callsTo("chat.update");
    expect(updates).to.have.length(3);
    expect(updates[2].body).to.deep.equal(updates[1].body);
  });

  it("a SendTaskSuccess refused for throttling (ThrottlingException, KmsThrottlingException) is sent again within the click: one decision, every send the same", async () => {
    const answers = [
      new AwsError("ThrottlingException", "Rate exceeded", 400),
      new AwsError("KmsThrottlingException", "KMS throttled", 400),
    ];
    aws.on("SendTaskSuccess", () => answers.shift() ?? {});
    const { key, ts } = await postRequest();
    expect(await send(signedInteraction(click(key, ts, ALICE)))).to.deep.equal(ok);
    expect(await send(signedInteraction(click(key, ts, BOB)))).to.deep.equal(ok);
    expect(sent()).to.have.length(3);
    expect(new Set(sent().map((r) => JSON.stringify(r.body))).size).to.equal(1);
    expect(JSON.parse(sent()[0].body.output)).to.include({ decision: "approved", approver: BOB });
    expect(slack.message(CHANNEL, ts)!.blocks!.some((b: any) => b.type === "actions")).to.equal(false);
    expect(ephemerals()).to.deep.equal([]);
  });

  it("click after the timeout (the item marked timed out): told so, nothing recorded or sent", async () => {
    const { key, ts } = await postRequest();
    const record = await markTimedOut(dynamodb, TABLE, requestKeyHash(key));
    expect(record?.status).to.equal("timed_out");
    expect(await send(signedInteraction(click(key, ts, ALICE)))).to.deep.equal(ok);
    expect(await send(signedInteraction(click(key, ts, BOB, "reject")))).to.deep.equal(ok);
    const sentence = `This request timed out at ${record!.deadline}; your click changed nothing.`;
    expect(ephemerals()).to.deep.equal([
      { channel: CHANNEL, user: ALICE, text: sentence },
      { channel: CHANNEL, user: BOB, text: sentence },
    ]);
    expect(slack.callsTo("views.open")).to.deep.equal([]);
    expect(votesWritten()).to.deep.equal([]);
    expect(sent()).to.deep.equal([]);
  });

  const failures: Array<[string, SlackFailure]> = [
    // Retry-After above what the start function waits (5 s): it fails at once, the Task's Retry may try later.
    ["ratelimited", ratelimited(30)],
    ["channel_not_found", slackError("channel_not_found")],
    ["invalid_auth", slackError("invalid_auth")],
  ];
  for (const [code, failure] of failures) {
    it(`Slack answers ${code} while posting: the start function fails the Task with Slack.${code}, nothing approved, no token anywhere`, async () => {
      slack.fail("chat.postMessage", failure);
      const run = await invoke(start, {
        taskToken: TOKEN,
        request: EXPENSE_REPORT,
        stage: STAGE,
        executionArn: EXECUTION,
      });
      expect(run.ok).to.equal(false);
      expect(run.error!.name).to.equal(`Slack.${code}`);
      // What Step Functions records as the Task's error and cause.
      expect(run.response!.errorType).to.equal(`Slack.${code}`);
      expect(run.response!.errorMessage).to.match(new RegExp(`^Slack chat\\.postMessage failed: ${code}\\b`));
      expect(run.logs).to.include("slack approval request not posted; the Task fails and nothing is approved");
      expect(slack.methods()).to.deep.equal(["chat.postMessage"]);
      expect(aws.operations().filter((o) => o.startsWith("SendTask"))).to.deep.equal([]);
    });
  }
});
