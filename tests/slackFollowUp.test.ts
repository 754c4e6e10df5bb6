// The slack stage's follow-up function (followUp.ts) in-process: requests started by the real start
// function, votes cast by the real interaction function (signed clicks), the request table
// (tests/helpers/fakeSlackRequestTable.ts) behind FakeAws and the fake Slack Web API. "close" runs
// after the stage's Task timed out, "remind" from the reminder branch while it waits.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SFNClient } from "@aws-sdk/client-sfn";
import { expect } from "chai";
import {
  SlackFollowUpDeps,
  handleFollowUp,
  parseFollowUpEvent,
  reminderText,
} from "../functions/mechanisms/slack/followUp";
import { ACTION_IDS } from "../functions/mechanisms/slack/interaction";
import { handleInteraction } from "../functions/mechanisms/slack/interactionHandler";
import { finalMessage, slackDate } from "../functions/mechanisms/slack/message";
import {
  executionPointerKey,
  getRequest,
  recordVote,
  requestKeyHash,
} from "../functions/mechanisms/slack/requestStore";
import { clearSlackSecretsCache } from "../functions/mechanisms/slack/secrets";
import { startSlackRequest } from "../functions/mechanisms/slack/startRequest";
import { FakeAws, fakeTaskToken, serveSecrets } from "./helpers/fakeAws";
import { FAKE_BOT_TOKEN, FakeSlack, ratelimited, slackError } from "./helpers/fakeSlack";
import { FakeSlackRequestTable } from "./helpers/fakeSlackRequestTable";
import { EXPENSE_REPORT } from "./helpers/fixtures";
import { ACCOUNT_ID, archiveFiles, named, runProgram } from "./helpers/pulumiMocks";
import { invokeArchive, writeArchive } from "./helpers/serializedHandler";
import { SLACK_STACK, SLACK_STACK_CONFIG } from "./helpers/slackStack";
import { FAKE_SIGNING_SECRET, blockActionsPayload, httpApiEvent, signedInteraction } from "./helpers/slackInteractions";

const TABLE = "sfn-approvals-dev-ops-slack-requests";
const SECRET_ID = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:sfn-approvals-dev-ops-slack-app-AbCdEf";
const STAGE = "ops";
const CHANNEL = "C0APPROVALS";
const TEAM = "T0FAKETEAM";
const APPROVERS = ["U0ALICE", "U0BOB", "U0CAROL"];
const EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:sfn-approvals-dev:er98765-1";
const TOKEN = fakeTaskToken("slack-follow-up");
/** The handlers' clock (Slack's signatures are checked against it), to the millisecond. */
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000 + 250);
const TIMEOUT_SECONDS = 3600;
const DEADLINE = new Date(NOW.getTime() + TIMEOUT_SECONDS * 1000);
/** When the Task timed out (the close runs then); clicks are still signed "now". */
const AFTER_TIMEOUT = new Date(DEADLINE.getTime() + 1000);

describe("slack follow-up function (close on timeout, reminders in the thread)", function () {
  const aws = new FakeAws();
  const slack = new FakeSlack();
  let dynamodb: DynamoDBClient;
  let sfn: SFNClient;
  let table: FakeSlackRequestTable;
  let logs: string[];
  let keys: string[];
  let secretReads: number;

  const secretsManager = {
    send: async () => {
      secretReads += 1;
      return { SecretString: JSON.stringify({ botToken: FAKE_BOT_TOKEN, signingSecret: FAKE_SIGNING_SECRET }) };
    },
  };
  const env = {
    SLACK_STAGE: STAGE,
    SLACK_CHANNEL: CHANNEL,
    SLACK_APPROVERS: JSON.stringify(APPROVERS),
    SLACK_REQUIRED: "2",
    SLACK_TIMEOUT_SECONDS: String(TIMEOUT_SECONDS),
    SLACK_TABLE: TABLE,
    SLACK_SECRET_ID: SECRET_ID,
    SLACK_TEAM_ID: TEAM,
  };
  const deps = (now: Date = NOW) => ({
    dynamodb,
    sfn,
    secretsManager,
    env: { ...env, SLACK_API_URL: slack.apiUrl },
    now: () => now,
    log: (line: string) => logs.push(line),
  });
  const followUp = (action: string, now: Date, overrides: Partial<SlackFollowUpDeps> = {}) =>
    handleFollowUp({ action, stage: STAGE, executionArn: EXECUTION }, { ...deps(now), ...overrides });

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
    aws.on("SendTaskSuccess", () => ({}));
    logs = [];
    keys = [];
    secretReads = 0;
  });
  afterEach(function () {
    if (this.currentTest?.state !== "passed") return;
    // Slack gets no token or key hash as text; logs hold no token, bot token or request key.
    const toSlack = JSON.stringify(slack.calls.map((c) => c.body));
    for (const secret of [TOKEN, FAKE_BOT_TOKEN, FAKE_SIGNING_SECRET]) expect(toSlack).not.to.include(secret);
    const out = logs.join("\n");
    for (const secret of [TOKEN, FAKE_BOT_TOKEN, FAKE_SIGNING_SECRET, ...keys]) expect(out).not.to.include(secret);
  });

  /** A request as the start function posts it: its key (from the buttons) and its message. */
  async function start(): Promise<{ key: string; ts: string }> {
    const posted = await startSlackRequest(
      { taskToken: TOKEN, request: EXPENSE_REPORT, stage: STAGE, executionArn: EXECUTION },
      deps(),
    );
    const actions = slack.message(posted.channel, posted.ts)!.blocks!.find((b: any) => b.type === "actions") as any;
    const key = actions.elements[0].value as string;
    keys.push(key);
    return { key, ts: posted.ts };
  }

  let triggers = 0;
  async function click(key: string, ts: string, userId: string, vote: "approve" | "reject" = "approve") {
    triggers += 1;
    const payload = blockActionsPayload({
      userId,
      actionId: ACTION_IDS[vote],
      value: key,
      messageTs: ts,
      channelId: CHANNEL,
      triggerId: `13345224609.738474920.${triggers.toString(16).padStart(6, "0")}`,
    });
    return handleInteraction(httpApiEvent(signedInteraction(payload)), deps());
  }

  const timedOutMessage = (approvals: Array<{ userId: string; at: string }>, at: string) =>
    finalMessage({
      request: EXPENSE_REPORT,
      stage: STAGE,
      required: 2,
      outcome: { decision: "timed_out", at, approvals: approvals.map((a) => ({ ...a, comment: null })) },
    });
  const sent = () => aws.requests.filter((r) => r.operation === "SendTaskSuccess");
  const hasButtons = (ts: string) => slack.message(CHANNEL, ts)!.blocks!.some((b: any) => b.type === "actions");

  describe("close", () => {
    it("marks a waiting request timed out and replaces its buttons with the timed-out outcome", async () => {
      const { key, ts } = await start();
      await click(key, ts, "U0ALICE");
      aws.requests.length = 0;
      slack.calls.length = 0;

      const result = await followUp("close", AFTER_TIMEOUT);
      expect(result).to.deep.equal({
        action: "close",
        requests: [{ keyHash: requestKeyHash(key), outcome: "closed" }],
      });
      // The pointer, the request, then the conditional timeout; nothing decided.
      expect(aws.operations()).to.deep.equal(["GetItem", "GetItem", "UpdateItem"]);
      expect(aws.requests[0].body.Key).to.deep.equal({ keyHash: { S: executionPointerKey(EXECUTION, STAGE) } });
      expect(sent()).to.have.length(0);
      const stored = await getRequest(dynamodb, TABLE, key);
      expect(stored).to.include({ status: "timed_out", decidedAt: AFTER_TIMEOUT.toISOString(), approvals: 1 });
      expect(stored!.decision).to.equal(undefined);

      const expected = timedOutMessage([{ userId: "U0ALICE", at: NOW.toISOString() }], AFTER_TIMEOUT.toISOString());
      expect(slack.methods()).to.deep.equal(["chat.update"]);
      expect(slack.callsTo("chat.update")[0].body).to.deep.equal({
        channel: CHANNEL,
        ts,
        text: expected.text,
        blocks: expected.blocks,
      });
      expect(hasButtons(ts)).to.equal(false);
      const shown = slack.message(CHANNEL, ts)!;
      expect(JSON.stringify([shown.text, shown.blocks]))
        .to.include("*Timed out*")
        .and.not.include(key);
    });

    it("a click after the close is told the request timed out, and sends no SendTaskSuccess", async () => {
      const { key, ts } = await start();
      await followUp("close", AFTER_TIMEOUT);
      slack.calls.length = 0;
      const before = JSON.stringify(table.items.get(requestKeyHash(key)));

      const response = await click(key, ts, "U0BOB");
      expect(response.statusCode).to.equal(200);
      expect(sent()).to.have.length(0);
      expect(JSON.stringify(table.items.get(requestKeyHash(key)))).to.equal(before);
      const [ephemeral] = slack.callsTo("chat.postEphemeral").map((c) => c.body);
      expect(ephemeral).to.include({ channel: CHANNEL, user: "U0BOB" });
      expect(ephemeral.text).to.match(/^This request timed out at .+; your click changed nothing\.$/);
    });

    it("after a delivered decision changes nothing: the item stays decided, the message keeps its outcome", async () => {
      const { key, ts } = await start();
      await click(key, ts, "U0ALICE");
      await click(key, ts, "U0BOB");
      expect(sent()).to.have.length(1);
      const item = JSON.stringify(table.items.get(requestKeyHash(key)));
      const message = JSON.stringify(slack.message(CHANNEL, ts));
      aws.requests.length = 0;
      slack.calls.length = 0;

      const result = await followUp("close", AFTER_TIMEOUT);
      expect(result.requests).to.deep.equal([{ keyHash: requestKeyHash(key), outcome: "decided" }]);
      expect(aws.operations()).to.deep.equal(["GetItem", "GetItem"]);
      expect(JSON.stringify(table.items.get(requestKeyHash(key)))).to.equal(item);
      expect(slack.calls).to.have.length(0);
      expect(JSON.stringify(slack.message(CHANNEL, ts))).to.equal(message);
      expect(secretReads).to.equal(1); // the interaction function's only
    });

    it("a vote that decides between its read and its write wins: the item keeps that decision, never timed_out", async () => {
      const { key, ts } = await start();
      await click(key, ts, "U0ALICE");
      const timeoutWrite = (body: any) => String(body.UpdateExpression).includes(":timedOut");
      let raced = false;
      const update = (body: any) => (table as any).update(body);
      aws.on("UpdateItem", async (body) => {
        if (timeoutWrite(body) && !raced) {
          raced = true;
          // Bob's deciding vote lands first (its SendTaskSuccess would find the Task timed out).
          const vote = await recordVote(dynamodb, TABLE, {
            requestKey: key,
            userId: "U0BOB",
            vote: "approve",
            comment: null,
            userName: "bob",
            teamId: TEAM,
            at: NOW,
          });
          expect(vote.kind).to.equal("decided");
        }
        return update(body);
      });

      const result = await followUp("close", AFTER_TIMEOUT);
      expect(result.requests).to.deep.equal([{ keyHash: requestKeyHash(key), outcome: "decided_not_delivered" }]);
      const stored = await getRequest(dynamodb, TABLE, key);
      expect(stored).to.include({ status: "decided", decision: "approved", decidedBy: "U0BOB", approvals: 2 });
      expect(stored!.deliveredAt).to.equal(undefined);
      // The workflow's decision is timed_out: the message says so (the deadline), buttons gone.
      const expected = timedOutMessage(
        [
          { userId: "U0ALICE", at: NOW.toISOString() },
          { userId: "U0BOB", at: NOW.toISOString() },
        ],
        DEADLINE.toISOString(),
      );
      expect(slack.callsTo("chat.update").at(-1)!.body.blocks).to.deep.equal(expected.blocks);
      expect(hasButtons(ts)).to.equal(false);
    });

    it("twice is harmless: the second finds it timed out and sends the same update again", async () => {
      const { key, ts } = await start();
      await followUp("close", AFTER_TIMEOUT);
      const item = JSON.stringify(table.items.get(requestKeyHash(key)));
      const message = JSON.stringify(slack.message(CHANNEL, ts)!.blocks);

      const later = new Date(AFTER_TIMEOUT.getTime() + 5000);
      const result = await followUp("close", later);
      expect(result.requests).to.deep.equal([{ keyHash: requestKeyHash(key), outcome: "already_timed_out" }]);
      expect(JSON.stringify(table.items.get(requestKeyHash(key)))).to.equal(item);
      const [first, second] = slack.callsTo("chat.update");
      expect(second.body).to.deep.equal(first.body);
      expect(JSON.stringify(slack.message(CHANNEL, ts)!.blocks)).to.equal(message);
    });

    it("closes every request of the execution (a retried start posted two)", async () => {
      const one = await start();
      const two = await start();
      const pointer = table.items.get(executionPointerKey(EXECUTION, STAGE))!;
      expect(pointer.keyHashes!.SS).to.have.members([requestKeyHash(one.key), requestKeyHash(two.key)]);
      // The pointer holds hashes only: no key, no token.
      for (const secret of [one.key, two.key, TOKEN]) expect(JSON.stringify(pointer)).not.to.include(secret);

      const result = await followUp("close", AFTER_TIMEOUT);
      expect(result.requests.map((r) => r.outcome)).to.deep.equal(["closed", "closed"]);
      expect(slack.callsTo("chat.update").map((c) => c.body.ts)).to.have.members([one.ts, two.ts]);
      expect(hasButtons(one.ts) || hasButtons(two.ts)).to.equal(false);
    });

    it("a Slack failure fails the call (the workflow retries, then goes on): the request stays timed out, no token in the error", async () => {
      const { key, ts } = await start();
      slack.fail("chat.update", slackError("channel_not_found"));
      const error = await followUp("close", AFTER_TIMEOUT).catch((e: Error) => e);
      expect(error).to.be.instanceOf(Error);
      expect((error as Error).name).to.equal("Slack.channel_not_found");
      expect(`${(error as Error).stack}`).not.to.include(FAKE_BOT_TOKEN);
      expect(await getRequest(dynamodb, TABLE, key)).to.include({ status: "timed_out" });
      expect(hasButtons(ts)).to.equal(true);
      expect(JSON.parse(logs.at(-2)!)).to.include({ level: "error", error: "Slack.channel_not_found", stage: STAGE });

      // The retry finds it timed out and updates the message.
      const retried = await followUp("close", AFTER_TIMEOUT);
      expect(retried.requests[0].outcome).to.equal("already_timed_out");
      expect(hasButtons(ts)).to.equal(false);
    });

    it("finds nothing for an execution without requests (the start function stored none): no Slack call, no secret read", async () => {
      const result = await followUp("close", AFTER_TIMEOUT);
      expect(result).to.deep.equal({ action: "close", requests: [] });
      expect(aws.operations()).to.deep.equal(["GetItem"]);
      expect(slack.calls).to.have.length(0);
      expect(secretReads).to.equal(0);
    });
  });

  describe("remind", () => {
    it("replies in the message's thread naming who has not voted and how many approvals are missing, without buttons", async () => {
      const { key, ts } = await start();
      await click(key, ts, "U0ALICE");
      slack.calls.length = 0;

      const result = await followUp("remind", new Date(NOW.getTime() + 600_000));
      expect(result.requests).to.deep.equal([{ keyHash: requestKeyHash(key), outcome: "reminded" }]);
      expect(slack.methods()).to.deep.equal(["chat.postMessage"]);
      const [reply] = slack.callsTo("chat.postMessage").map((c) => c.body);
      expect(reply).to.deep.equal({
        channel: CHANNEL,
        thread_ts: ts,
        text:
          `:bell: Reminder: this request still needs 1 more approval (1 of 2 so far) and times out on ${slackDate(DEADLINE)}. ` +
          "Not voted yet: <@U0BOB>, <@U0CAROL>.",
      });
      expect(slack.messagesIn(CHANNEL, ts)).to.have.length(1);
      expect(JSON.stringify(reply)).not.to.include(key);
      // Nothing written.
      expect(aws.requests.filter((r) => r.operation === "UpdateItem" || r.operation === "PutItem")).to.have.length(
        2 + 1 + 1, // start: PutItem, pointer, bind; Alice's vote
      );
      expect(await getRequest(dynamodb, TABLE, key)).to.include({ status: "waiting", approvals: 1 });
    });

    it("says nothing once the request is decided, timed out, or past its deadline", async () => {
      const decided = await start();
      await click(decided.key, decided.ts, "U0CAROL", "approve");
      await click(decided.key, decided.ts, "U0BOB", "approve");
      slack.calls.length = 0;
      const afterDecision = await followUp("remind", new Date(NOW.getTime() + 600_000));
      expect(afterDecision.requests.map((r) => r.outcome)).to.deep.equal(["decided"]);

      const late = await followUp("remind", DEADLINE);
      expect(late.requests.map((r) => r.outcome)).to.deep.equal(["decided"]);
      expect(slack.calls).to.have.length(0);
    });

    it("past the deadline of a waiting request: not_waiting, nothing posted", async () => {
      await start();
      const result = await followUp("remind", DEADLINE);
      expect(result.requests.map((r) => r.outcome)).to.deep.equal(["not_waiting"]);
      await followUp("close", AFTER_TIMEOUT);
      slack.calls.length = 0;
      const closed = await followUp("remind", new Date(NOW.getTime() + 600_000));
      expect(closed.requests.map((r) => r.outcome)).to.deep.equal(["not_waiting"]);
      expect(slack.calls).to.have.length(0);
    });

    it("a Slack failure fails the call (the reminder branch skips it): Slack.ratelimited, no token", async () => {
      await start();
      slack.fail("chat.postMessage", ratelimited(30));
      const error = await followUp("remind", new Date(NOW.getTime() + 600_000)).catch((e: Error) => e);
      expect((error as Error).name).to.equal("Slack.ratelimited");
      expect(`${(error as Error).stack}`).not.to.include(FAKE_BOT_TOKEN);
    });

    it("names at most what fits, then how many more", () => {
      const approvers = Array.from({ length: 50 }, (_, i) => `U${"0".repeat(60)}${String(i).padStart(3, "0")}`);
      const text = reminderText({
        approvers,
        votes: [],
        required: 50,
        approvals: 0,
        deadline: DEADLINE.toISOString(),
      } as any);
      expect(text).to.match(/ and \d+ more\.$/);
      expect(text.length).to.be.below(2800);
    });
  });

  describe("the event and the pointer", () => {
    it("refuses another stage, an unknown action and a missing execution ARN, before any call", async () => {
      const bad: Array<[unknown, string]> = [
        [{ action: "close", stage: "other", executionArn: EXECUTION }, "this function serves stage 'ops'"],
        [{ action: "approve", stage: STAGE, executionArn: EXECUTION }, "'action' must be one of close, remind"],
        [{ action: "remind", stage: STAGE }, "'executionArn' must be the ARN"],
        [null, "expected an object"],
      ];
      for (const [event, message] of bad) {
        const error = await handleFollowUp(event, deps()).catch((e: Error) => e);
        expect((error as Error).message, JSON.stringify(event))
          .to.include("InvalidEvent")
          .and.include(message);
      }
      expect(aws.requests).to.have.length(0);
      expect(parseFollowUpEvent({ action: "remind", stage: STAGE, executionArn: EXECUTION }, STAGE)).to.deep.equal({
        action: "remind",
        stage: STAGE,
        executionArn: EXECUTION,
      });
    });

    it("refuses a pointer that names another execution or holds anything but key hashes: nothing closed", async () => {
      const { key, ts } = await start();
      const pointer = table.items.get(executionPointerKey(EXECUTION, STAGE))!;
      for (const tampered of [
        { ...pointer, executionArn: { S: `${EXECUTION}-other` } },
        { ...pointer, keyHashes: { SS: [requestKeyHash(key), "execution:abc"] } },
      ]) {
        table.items.set(executionPointerKey(EXECUTION, STAGE), tampered);
        const error = await followUp("close", AFTER_TIMEOUT).catch((e: Error) => e);
        expect((error as Error).message).to.match(/^SlackRequestItemMalformed: /);
      }
      expect(await getRequest(dynamodb, TABLE, key)).to.include({ status: "waiting" });
      expect(hasButtons(ts)).to.equal(true);
    });

    it("a key hash from the pointer is no key: a click carrying it decides nothing", async () => {
      const { key, ts } = await start();
      const item = JSON.stringify(table.items.get(requestKeyHash(key)));
      for (const user of ["U0ALICE", "U0BOB"]) {
        const response = await click(requestKeyHash(key), ts, user);
        expect(response.statusCode).to.be.within(200, 499);
      }
      expect(sent()).to.have.length(0);
      expect(JSON.stringify(table.items.get(requestKeyHash(key)))).to.equal(item);
      expect(
        aws.requests.filter((r) => r.operation === "UpdateItem" && r.body.ConditionExpression.includes(":seen")),
      ).to.have.length(0);
    });
  });
});

// The follow-up function as deployed: its serialized __index.js (index.ts under mocks) in a child
// process like the Lambda runtime, its clients pointed at FakeAws (Secrets Manager, the table) and
// the fake Slack. A request posted by the deployed start function, then closed; another reminded.
describe("slack follow-up function as deployed (serialized __index.js)", function () {
  this.timeout(20000);
  const { stage, channel, teamId, table, secretArn } = SLACK_STACK;
  const aws = new FakeAws();
  const slack = new FakeSlack({ teamId, channels: [channel] });
  const execution = `arn:aws:states:eu-west-1:${ACCOUNT_ID}:execution:sfn-approvals-dev:er98765-2`;
  let start: { dir: string; env: Record<string, string> };
  let followUpFn: { dir: string; env: Record<string, string> };
  let fakeTable: FakeSlackRequestTable;

  before(async function () {
    this.timeout(90000);
    const [run] = await Promise.all([runProgram("dev", SLACK_STACK_CONFIG), aws.start(), slack.start()]);
    const endpoints = {
      AWS_ENDPOINT_URL_DYNAMODB: aws.url,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.url,
      SLACK_API_URL: slack.apiUrl,
    };
    const deployed = async (name: string) => {
      const fn = named(run.resources, name);
      const files = await archiveFiles(fn);
      expect(Object.keys(files), name).to.deep.equal(["__index.js"]);
      return { dir: writeArchive(files), env: { ...fn.inputs.environment.variables, ...endpoints } };
    };
    [start, followUpFn] = await Promise.all([deployed("stage-ops-start-fn"), deployed("stage-ops-follow-up-fn")]);
  });
  after(() => Promise.all([aws.stop(), slack.stop()]));
  beforeEach(() => {
    aws.reset();
    slack.reset();
    fakeTable = new FakeSlackRequestTable(table);
    fakeTable.serve(aws);
    serveSecrets(aws, {
      [secretArn]: JSON.stringify({ botToken: FAKE_BOT_TOKEN, signingSecret: FAKE_SIGNING_SECRET }),
    });
  });

  async function post(): Promise<string> {
    const run = await invokeArchive(
      start.dir,
      { taskToken: TOKEN, request: EXPENSE_REPORT, stage, executionArn: execution },
      start.env,
    );
    expect(run.ok, run.logs).to.equal(true);
    return run.result.ts as string;
  }

  it("close: marks the request timed out and updates the message; remind: a reply in the thread; nothing secret in its logs", async () => {
    const ts = await post();
    const remind = await invokeArchive(
      followUpFn.dir,
      { action: "remind", stage, executionArn: execution },
      followUpFn.env,
    );
    expect(remind.ok, remind.logs).to.equal(true);
    expect(remind.result.requests.map((r: any) => r.outcome)).to.deep.equal(["reminded"]);
    expect(slack.messagesIn(channel, ts)).to.have.length(1);

    const close = await invokeArchive(
      followUpFn.dir,
      { action: "close", stage, executionArn: execution },
      followUpFn.env,
    );
    expect(close.ok, close.logs).to.equal(true);
    expect(close.result.requests.map((r: any) => r.outcome)).to.deep.equal(["closed"]);
    const item = [...fakeTable.items.values()].find((i) => i.ts?.S === ts)!;
    expect(item.status).to.deep.equal({ S: "timed_out" });
    expect(slack.message(channel, ts)!.blocks!.some((b: any) => b.type === "actions")).to.equal(false);
    expect(slack.calls.every((c) => c.token === "bearer" && c.tokenValid)).to.equal(true);
    for (const secret of [TOKEN, FAKE_BOT_TOKEN, FAKE_SIGNING_SECRET])
      expect(remind.logs + close.logs).not.to.include(secret);
  });

  it("a wrong event fails the invocation with InvalidEvent (the workflow's Catch then goes on), touching nothing", async () => {
    const run = await invokeArchive(
      followUpFn.dir,
      { action: "close", stage: "other", executionArn: execution },
      followUpFn.env,
    );
    expect(run.ok).to.equal(false);
    expect(run.response?.errorMessage).to.include("InvalidEvent");
    expect(aws.requests).to.have.length(0);
    expect(slack.calls).to.have.length(0);
  });
});
