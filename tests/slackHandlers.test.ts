// The slack mechanism's two handlers in-process: the start function (startRequest.ts) posting a
// request to the fake Slack Web API (tests/helpers/fakeSlack.ts) and the interaction function
// (interactionHandler.ts) answering signed interaction requests (tests/helpers/slackInteractions.ts),
// with the request table (tests/helpers/fakeSlackRequestTable.ts) and Step Functions behind FakeAws.
// No task token, bot token, signing secret or request key may reach a log line or a response; no
// task token or secret may reach Slack.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SFNClient } from "@aws-sdk/client-sfn";
import { expect } from "chai";
import { ACTION_IDS, COMMENT_CALLBACK_IDS } from "../functions/mechanisms/slack/interaction";
import {
  HttpApiResponse,
  SLACK_AT_RISK_PHRASES,
  SlackInteractionDeps,
  USER_NAME_TTL_MS,
  clearSlackUserNameCache,
  handleInteraction,
} from "../functions/mechanisms/slack/interactionHandler";
import { commentModal, dmNotice, finalMessage, requestMessage } from "../functions/mechanisms/slack/message";
import { executionPointerKey, getRequest, requestKeyHash } from "../functions/mechanisms/slack/requestStore";
import { clearSlackSecretsCache } from "../functions/mechanisms/slack/secrets";
import { SlackStartDeps, startSlackRequest, storedRequest } from "../functions/mechanisms/slack/startRequest";
import { AwsError, FakeAws, fakeTaskToken } from "./helpers/fakeAws";
import {
  FAKE_BOT_TOKEN,
  FakeSlack,
  SlackFailure,
  httpFailure,
  missingScope,
  ratelimited,
  slackError,
  slackUser,
} from "./helpers/fakeSlack";
import { FakeSlackRequestTable } from "./helpers/fakeSlackRequestTable";
import { EXPENSE_REPORT } from "./helpers/fixtures";
import {
  FAKE_SIGNING_SECRET,
  SignedRequest,
  blockActionsPayload,
  fromAnotherTeam,
  httpApiEvent,
  signedInteraction,
  staleInteraction,
  withBadSignature,
  withTamperedBody,
  viewSubmissionPayload,
} from "./helpers/slackInteractions";

const TABLE = "sfn-approvals-dev-slack-requests";
const SECRET_ID = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:sfn-approvals-dev-slack-AbCdEf";
const STAGE = "manager";
const CHANNEL = "C0APPROVALS";
const TEAM = "T0FAKETEAM";
const APPROVERS = ["U0ALICE", "U0BOB", "U0CAROL"];
const EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:sfn-approvals-dev:er98765-1";
const TOKEN = fakeTaskToken("slack-handlers");
/** The handlers' clock: now (signatures are checked against it), to the millisecond. */
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000 + 123);
const TIMEOUT_SECONDS = 3600;
const DEADLINE = new Date(NOW.getTime() + TIMEOUT_SECONDS * 1000);

describe("Slack handlers (start and interaction functions, in-process, against fake Slack and fake AWS)", function () {
  const aws = new FakeAws();
  const slack = new FakeSlack();
  let dynamodb: DynamoDBClient;
  let sfn: SFNClient;
  let table: FakeSlackRequestTable;
  let logs: string[];
  let responses: HttpApiResponse[];
  /** Request keys of this test (visible in Slack by design, never in a log or a response). */
  let keys: string[];
  let secretReads: number;

  const secretsManager = {
    send: async () => {
      secretReads += 1;
      return { SecretString: JSON.stringify({ botToken: FAKE_BOT_TOKEN, signingSecret: FAKE_SIGNING_SECRET }) };
    },
  };

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
    table = new FakeSlackRequestTable(TABLE);
    table.serve(aws);
    aws.on("SendTaskSuccess", () => ({}));
    logs = [];
    responses = [];
    keys = [];
    secretReads = 0;
  });
  afterEach(function () {
    if (this.currentTest?.state !== "passed") return;
    // Nothing secret left the handlers: Slack got no task token or secret, logs and answers hold none of them nor a key.
    const toSlack = JSON.stringify(slack.calls.map((c) => c.body)) + JSON.stringify(slack.responses);
    for (const secret of [TOKEN, FAKE_BOT_TOKEN, FAKE_SIGNING_SECRET]) expect(toSlack).not.to.include(secret);
    const out = logs.join("\n") + JSON.stringify(responses);
    for (const secret of [TOKEN, FAKE_BOT_TOKEN, FAKE_SIGNING_SECRET, ...keys]) expect(out).not.to.include(secret);
    expect(slack.calls.every((c) => c.token === "bearer" && c.tokenValid)).to.equal(true);
  });

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

  function startDeps(overrides: Partial<SlackStartDeps> = {}): SlackStartDeps {
    return {
      dynamodb,
      secretsManager,
      env: { ...env, SLACK_API_URL: slack.apiUrl },
      now: () => NOW,
      log: (line) => logs.push(line),
      ...overrides,
    };
  }

  function interactionDeps(overrides: Partial<SlackInteractionDeps> = {}): SlackInteractionDeps {
    return {
      dynamodb,
      sfn,
      secretsManager,
      env: { ...env, SLACK_API_URL: slack.apiUrl },
      now: () => NOW,
      log: (line) => logs.push(line),
      ...overrides,
    };
  }

  const taskEvent = { taskToken: TOKEN, request: EXPENSE_REPORT, stage: STAGE, executionArn: EXECUTION };

  /** Starts a request; returns its key (read from the posted buttons) and where it was posted. */
  async function start(deps: Partial<SlackStartDeps> = {}): Promise<{ key: string; channel: string; ts: string }> {
    const posted = await startSlackRequest(taskEvent, startDeps(deps));
    const message = slack.message(posted.channel, posted.ts)!;
    const actions = message.blocks!.find((b: any) => b.type === "actions") as any;
    const key = actions.elements[0].value as string;
    keys.push(key);
    return { key, ...posted };
  }

  async function send(request: SignedRequest, deps: Partial<SlackInteractionDeps> = {}): Promise<HttpApiResponse> {
    const response = await handleInteraction(httpApiEvent(request), interactionDeps(deps));
    responses.push(response);
    return response;
  }

  let triggers = 0;
  function clickPayload(key: string, ts: string, userId: string, vote: "approve" | "reject"): any {
    triggers += 1;
    return blockActionsPayload({
      userId,
      actionId: ACTION_IDS[vote],
      value: key,
      messageTs: ts,
      channelId: CHANNEL,
      triggerId: `13345224609.738474920.${triggers.toString(16).padStart(6, "0")}`,
    });
  }

  const click = (key: string, ts: string, userId: string, vote: "approve" | "reject" = "approve") =>
    send(signedInteraction(clickPayload(key, ts, userId, vote)));

  const submit = (key: string, userId: string, comment: string, vote: "approve" | "reject" = "reject") =>
    send(
      signedInteraction(
        viewSubmissionPayload({
          userId,
          callbackId: COMMENT_CALLBACK_IDS[vote],
          privateMetadata: key,
          values: { comment: { comment } },
        }),
      ),
    );

  const sent = () => aws.requests.filter((r) => r.operation === "SendTaskSuccess");
  const votesWritten = () =>
    aws.requests.filter((r) => r.operation === "UpdateItem" && r.body.ConditionExpression.includes(":seen"));
  const ephemerals = () => slack.callsTo("chat.postEphemeral").map((c) => c.body);
  const record = (key: string) => getRequest(dynamodb, TABLE, key);

  const progress = (key: string, approvals: string[]) =>
    requestMessage({
      request: EXPENSE_REPORT,
      stage: STAGE,
      requestKey: key,
      deadline: DEADLINE,
      required: 2,
      approverCount: 3,
      approvals: approvals.map((userId) => ({ userId, at: NOW.toISOString(), comment: null })),
    });

  describe("start function", () => {
    it("stores the request, posts exactly the request message to the channel, and binds it", async () => {
      const { key, channel, ts } = await start();
      expect(slack.methods()).to.deep.equal(["chat.postMessage"]);
      const expected = requestMessage({
        request: EXPENSE_REPORT,
        stage: STAGE,
        requestKey: key,
        deadline: DEADLINE,
        required: 2,
        approverCount: 3,
      });
      const [post] = slack.callsTo("chat.postMessage");
      expect(post.contentType).to.equal("application/json; charset=utf-8");
      expect(post.body).to.deep.equal({ channel: CHANNEL, text: expected.text, blocks: expected.blocks });
      expect(channel).to.equal(CHANNEL);
      // PutItem, UpdateItem adding it to the execution's pointer (follow-ups), UpdateItem binding the message; no decision.
      expect(aws.operations()).to.deep.equal(["PutItem", "UpdateItem", "UpdateItem"]);
      const stored = await record(key);
      expect(stored).to.include({
        stage: STAGE,
        executionArn: EXECUTION,
        required: 2,
        approvals: 0,
        status: "waiting",
        deadline: DEADLINE.toISOString(),
        channel,
        ts,
      });
      expect(stored!.approvers).to.have.members(APPROVERS);
      expect(stored!.request).to.deep.equal(EXPENSE_REPORT);
      // The table holds the key's hash and the token sealed, neither in clear.
      const item = JSON.stringify([...table.items.values()]);
      expect([...table.items.keys()]).to.deep.equal([requestKeyHash(key), executionPointerKey(EXECUTION, STAGE)]);
      expect(table.items.get(executionPointerKey(EXECUTION, STAGE))!.keyHashes).to.deep.equal({
        SS: [requestKeyHash(key)],
      });
      for (const secret of [TOKEN, key]) expect(item).not.to.include(secret);
      expect(logs).to.have.length(1);
      expect(JSON.parse(logs[0])).to.include({ msg: "slack approval request posted", stage: STAGE, channel, ts });
    });

    it("keeps a huge request small in the item (details as their text), so 50 votes still fit", () => {
      const details = { rows: Array.from({ length: 2000 }, (_, i) => ({ line: i, text: "x".repeat(50) })) };
      const stored = storedRequest({ ...EXPENSE_REPORT, title: "t".repeat(10_000), details });
      expect(stored.title).to.have.length(3000);
      expect(stored.details).to.be.a("string").with.length(3000);
      expect(JSON.stringify(stored).length).to.be.below(8000);
    });

    it("fails the Task with Slack.channel_not_found when posting fails: no decision, no token in the error or logs", async () => {
      slack.fail("chat.postMessage", slackError("channel_not_found"));
      let thrown: Error | undefined;
      await startSlackRequest(taskEvent, startDeps()).catch((error: Error) => (thrown = error));
      expect(thrown?.name).to.equal("Slack.channel_not_found");
      expect(thrown?.message).to.equal("Slack chat.postMessage failed: channel_not_found");
      expect(`${thrown?.stack}`).not.to.include(TOKEN);
      expect(aws.operations()).to.deep.equal(["PutItem", "UpdateItem"]);
      expect(sent()).to.have.length(0);
      expect(JSON.parse(logs[0])).to.include({ level: "error", error: "Slack.channel_not_found", stage: STAGE });
    });

    it("fails the Task on invalid_auth and on a table error, with the error's name and no token", async () => {
      slack.fail("chat.postMessage", slackError("invalid_auth"));
      const auth = await startSlackRequest(taskEvent, startDeps()).catch((error: Error) => error);
      expect((auth as Error).name).to.equal("Slack.invalid_auth");
      aws.on("PutItem", () => new AwsError("ValidationException", `Value '${TOKEN}' at 'item' is invalid`));
      const db = await startSlackRequest(taskEvent, startDeps()).catch((error: Error) => error);
      expect((db as Error).name).to.equal("ValidationException");
      expect((db as Error).message).not.to.include(TOKEN);
      expect(slack.callsTo("chat.postMessage")).to.have.length(1);
      expect(sent()).to.have.length(0);
    });

    it("refuses an event for another stage and a malformed config before anything is stored", async () => {
      const other = await startSlackRequest({ ...taskEvent, stage: "finance" }, startDeps()).catch((e: Error) => e);
      expect((other as Error).message).to.match(/^InvalidEvent: this function serves stage 'manager'/);
      const badEnv = { ...env, SLACK_API_URL: slack.apiUrl, SLACK_REQUIRED: "4" };
      const config = await startSlackRequest(taskEvent, startDeps({ env: badEnv })).catch((e: Error) => e);
      expect((config as Error).message).to.match(/^Configuration error: SLACK_REQUIRED/);
      expect(aws.requests).to.have.length(0);
      expect(slack.calls).to.have.length(0);
    });
  });

  describe("start function: direct messages (directMessages: true)", () => {
    const dmEnv = { ...env, SLACK_DIRECT_MESSAGES: "true" };
    const dmDeps = (overrides: Partial<SlackStartDeps> = {}, extra: Record<string, string> = {}) => ({
      env: { ...dmEnv, SLACK_API_URL: slack.apiUrl, ...extra },
      ...overrides,
    });
    const dmCalls = () => slack.callsTo("chat.postMessage").filter((c) => /^[UW]/.test(c.body.channel));
    const warnings = () => logs.map((line) => JSON.parse(line)).filter((l) => l.level === "warn");
    const notice = (permalink?: string) =>
      dmNotice({
        request: EXPENSE_REPORT,
        stage: STAGE,
        deadline: DEADLINE,
        required: 2,
        approverCount: 3,
        channel: CHANNEL,
        ...(permalink ? { permalink } : {}),
      });
    const permalinkOf = (ts: string) =>
      `https://${slack.teamDomain}.slack.com/archives/${CHANNEL}/p${ts.replace(".", "")}`;

    it("after the channel message is posted and bound, sends each approver exactly the notice (no buttons, no key)", async () => {
      const result = await startSlackRequest(taskEvent, startDeps(dmDeps()));
      const { channel, ts } = result;
      const message = slack.message(channel, ts)!;
      const key = (message.blocks!.find((b: any) => b.type === "actions") as any).elements[0].value as string;
      keys.push(key);
      // The channel message first, then its permalink (a form, as the SDK sends it), then one DM per approver.
      expect(slack.methods().slice(0, 2)).to.deep.equal(["chat.postMessage", "chat.getPermalink"]);
      const [permalinkCall] = slack.callsTo("chat.getPermalink");
      expect(permalinkCall.contentType).to.equal("application/x-www-form-urlencoded");
      expect(permalinkCall.body).to.deep.equal({ channel: CHANNEL, message_ts: ts });
      const expected = notice(permalinkOf(ts));
      expect(dmCalls().map((c) => c.body.channel)).to.have.members(APPROVERS);
      for (const call of dmCalls()) {
        expect(call.body).to.deep.equal({
          channel: call.body.channel,
          text: expected.text,
          blocks: expected.blocks,
          unfurl_links: false,
          unfurl_media: false,
        });
        // Slack put it in the app's DM with that approver.
        expect(call.answer.channel).to.equal(slack.dmChannel(call.body.channel));
      }
      expect(slack.calls).to.have.length(2 + APPROVERS.length);
      expect(expected.text).to.equal(`Approval needed: ${EXPENSE_REPORT.title}`);
      const shown = JSON.stringify(expected.blocks);
      expect(shown)
        .to.include(`<${permalinkOf(ts)}|Open the request>`)
        .and.include(`<#${CHANNEL}>`);
      expect(shown).not.to.include(key);
      expect(expected.blocks.map((b) => b.type)).to.deep.equal(["header", "section", "section"]);
      // The request is the channel's: stored and bound before any DM, nothing written after.
      expect(aws.operations()).to.deep.equal(["PutItem", "UpdateItem", "UpdateItem"]);
      expect(await record(key)).to.include({ status: "waiting", channel, ts });
      expect(result.directMessages).to.deep.equal({ sent: 3, failed: 0, skipped: 0 });
      expect(logs).to.have.length(1);
      expect(JSON.parse(logs[0])).to.deep.include({
        msg: "slack approval request posted",
        directMessages: { sent: 3, failed: 0, skipped: 0 },
      });
    });

    it("the notice shows request text only as plain_text or escaped mrkdwn, and links only an https permalink", () => {
      const hostile = { ...EXPENSE_REPORT, title: "<!channel> & <https://evil.example|click> *now*" };
      const base = {
        request: hostile,
        stage: STAGE,
        deadline: DEADLINE,
        required: 2,
        approverCount: 3,
        channel: CHANNEL,
      };
      const shown = dmNotice({ ...base, permalink: "https://x.slack.com/archives/C0APPROVALS/p1" });
      expect(shown.text).to.equal("Approval needed: &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt; *now*");
      expect(shown.blocks[0]).to.deep.equal({
        type: "header",
        text: { type: "plain_text", text: `Approval needed: ${hostile.title}` },
      });
      const mrkdwnText = JSON.stringify(shown.blocks.slice(1));
      expect(mrkdwnText).not.to.include("<!channel>").and.not.to.include("evil.example");
      expect(mrkdwnText).to.include("<https://x.slack.com/archives/C0APPROVALS/p1|Open the request>");
      for (const permalink of [
        "http://x.slack.com/p1",
        "https://x.slack.com/p1|<!here>",
        "https://u:p@x.slack.com/p1",
      ]) {
        const text = JSON.stringify(dmNotice({ ...base, permalink }).blocks);
        expect(text).not.to.include("Open the request").and.not.to.include("!here");
        expect(text).to.include(`in <#${CHANNEL}>.`);
      }
    });

    it("sends none when directMessages is off (SLACK_DIRECT_MESSAGES false or unset); a malformed value is a config error", async () => {
      const off = await startSlackRequest(taskEvent, startDeps(dmDeps({}, { SLACK_DIRECT_MESSAGES: "false" })));
      keys.push(
        (slack.message(off.channel, off.ts)!.blocks!.find((b: any) => b.type === "actions") as any).elements[0].value,
      );
      expect(slack.methods()).to.deep.equal(["chat.postMessage"]);
      expect(off).not.to.have.property("directMessages");
      const bad = await startSlackRequest(taskEvent, startDeps(dmDeps({}, { SLACK_DIRECT_MESSAGES: "yes" }))).catch(
        (e: Error) => e,
      );
      expect((bad as Error).message).to.equal("Configuration error: SLACK_DIRECT_MESSAGES must be true or false");
    });

    it("a DM that fails (channel_not_found, messages_tab_disabled, ratelimited) is a warning: the Task's request stays posted and bound", async () => {
      // U0GONE is not in the workspace: Slack answers channel_not_found (the app may not DM them).
      const approvers = [...APPROVERS, "U0GONE"];
      slack.failFor("chat.postMessage", (a) => a.channel === "U0BOB", slackError("messages_tab_disabled"));
      slack.failFor("chat.postMessage", (a) => a.channel === "U0CAROL", ratelimited(1));
      const result = await startSlackRequest(
        taskEvent,
        startDeps(dmDeps({}, { SLACK_APPROVERS: JSON.stringify(approvers) })),
      );
      const message = slack.message(result.channel, result.ts)!;
      const key = (message.blocks!.find((b: any) => b.type === "actions") as any).elements[0].value as string;
      keys.push(key);
      expect(result.directMessages).to.deep.equal({ sent: 1, failed: 3, skipped: 0 });
      // One attempt each: a ratelimited DM is not retried.
      expect(dmCalls().map((c) => c.body.channel)).to.have.members(approvers);
      expect(dmCalls().map((c) => c.status)).to.have.members([200, 200, 200, 429]);
      expect(aws.operations()).to.deep.equal(["PutItem", "UpdateItem", "UpdateItem"]);
      expect(await record(key)).to.include({ status: "waiting", channel: result.channel, ts: result.ts, approvals: 0 });
      expect(sent()).to.have.length(0);
      const warned = warnings().map(({ approver, error, msg }) => ({ approver, error, msg }));
      const msg = "slack direct message not sent; the request stays posted in the channel";
      expect(warned).to.have.deep.members([
        { approver: "U0BOB", error: "Slack.messages_tab_disabled", msg },
        { approver: "U0CAROL", error: "Slack.ratelimited", msg },
        { approver: "U0GONE", error: "Slack.channel_not_found", msg },
      ]);
      for (const w of warnings()) expect(w).to.include({ stage: STAGE, executionArn: EXECUTION });
      expect(logs.map((line) => JSON.parse(line)).filter((l) => l.level === "error")).to.have.length(0);
      expect(JSON.parse(logs[logs.length - 1])).to.deep.include({
        msg: "slack approval request posted",
        directMessages: { sent: 1, failed: 3, skipped: 0 },
      });
    });

    it("without a permalink (chat.getPermalink fails) the DMs name the channel; a hung DM is abandoned at its timeout", async () => {
      slack.fail("chat.getPermalink", slackError("message_not_found"));
      // Bob's DM never answers: the call is aborted after callTimeoutMs and the others are sent. The
      // timeout is long enough for the local fake to answer the others on a busy machine (at 50 ms,
      // two suites side by side on 2 cores made a normal DM time out too).
      const hanging: typeof fetch = async (input, init) => {
        if (String(input).endsWith("/chat.postMessage") && String(init?.body).includes('"channel":"U0BOB"')) {
          return new Promise<Response>((_, reject) =>
            init!.signal!.addEventListener("abort", () => reject(init!.signal!.reason)),
          );
        }
        return fetch(input, init);
      };
      const result = await startSlackRequest(
        taskEvent,
        startDeps(dmDeps({ fetchImpl: hanging, dmLimits: { callTimeoutMs: 1500, concurrency: 1 } })),
      );
      const message = slack.message(result.channel, result.ts)!;
      keys.push((message.blocks!.find((b: any) => b.type === "actions") as any).elements[0].value);
      expect(result.directMessages).to.deep.equal({ sent: 2, failed: 1, skipped: 0 });
      const expected = notice();
      for (const call of dmCalls()) expect(call.body.blocks).to.deep.equal(expected.blocks);
      expect(JSON.stringify(expected.blocks)).to.include(`in <#${CHANNEL}>.`).and.not.include("Open the request");
      expect(warnings().map(({ msg, error, approver }) => ({ msg, error, approver }))).to.have.deep.members([
        {
          msg: "slack permalink not read; the direct messages name the channel instead",
          error: "Slack.message_not_found",
          approver: undefined,
        },
        {
          msg: "slack direct message not sent; the request stays posted in the channel",
          error: "Slack.unreachable",
          approver: "U0BOB",
        },
      ]);
    });

    it("bounds the time: 50 approvers at most 5 at a time; past the deadline the rest are skipped, nothing fails", async () => {
      const many = Array.from({ length: 50 }, (_, i) => `U0MANY${String(i).padStart(2, "0")}`);
      for (const id of many) slack.addUser(slackUser(id, id.toLowerCase(), id, id, TEAM));
      let inFlight = 0;
      let most = 0;
      const counting: typeof fetch = async (input, init) => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        try {
          return await fetch(input, init);
        } finally {
          inFlight -= 1;
        }
      };
      const all = await startSlackRequest(
        taskEvent,
        startDeps(dmDeps({ fetchImpl: counting }, { SLACK_APPROVERS: JSON.stringify(many) })),
      );
      keys.push(
        (slack.message(all.channel, all.ts)!.blocks!.find((b: any) => b.type === "actions") as any).elements[0].value,
      );
      expect(all.directMessages).to.deep.equal({ sent: 50, failed: 0, skipped: 0 });
      expect(dmCalls().map((c) => c.body.channel)).to.have.members(many);
      expect(most).to.equal(5);

      // The deadline passed before any DM could start (the clock jumps 25 s a reading): each one is skipped, the Task stands.
      slack.reset();
      logs = [];
      let now = 0;
      const late = await startSlackRequest(taskEvent, startDeps(dmDeps({ clockMs: () => (now += 25_000) })));
      keys.push(
        (slack.message(late.channel, late.ts)!.blocks!.find((b: any) => b.type === "actions") as any).elements[0].value,
      );
      expect(slack.methods()).to.deep.equal(["chat.postMessage"]);
      expect(late.directMessages).to.deep.equal({ sent: 0, failed: 0, skipped: 3 });
      expect(warnings()).to.have.length(1);
      expect(warnings()[0]).to.deep.include({
        msg: "slack direct messages not sent: the start function's time for them ran out",
        approvers: APPROVERS,
      });
    });
  });

  describe("interaction function", () => {
    it("refuses a bad signature with 401 and reads nothing", async () => {
      const { key, ts } = await start();
      aws.requests.length = 0;
      const response = await send(withBadSignature(signedInteraction(clickPayload(key, ts, "U0ALICE", "approve"))));
      expect(response).to.deep.equal({
        statusCode: 401,
        headers: { "content-type": "text/plain; charset=utf-8" },
        body: "Refused: the X-Slack-Signature does not match the request.",
      });
      expect(aws.requests).to.have.length(0);
      expect(slack.methods()).to.deep.equal(["chat.postMessage"]);
    });

    it("refuses a stale timestamp (a replay after 5 minutes) with 401", async () => {
      const { key, ts } = await start();
      aws.requests.length = 0;
      const response = await send(staleInteraction(clickPayload(key, ts, "U0ALICE", "approve")));
      expect(response.statusCode).to.equal(401);
      expect(response.body).to.equal(
        "Refused: the request is more than 300 seconds old (a replay or a slow delivery).",
      );
      expect(aws.requests).to.have.length(0);
    });

    it("refuses a tampered body (another user put in) with 401; a replayed click counts once", async () => {
      const { key, ts } = await start();
      const signed = signedInteraction(clickPayload(key, ts, "U0MALLORY", "approve"));
      const tampered = withTamperedBody(signed, clickPayload(key, ts, "U0ALICE", "approve"));
      expect((await send(tampered)).statusCode).to.equal(401);
      expect(votesWritten()).to.have.length(0);

      const alice = signedInteraction(clickPayload(key, ts, "U0ALICE", "approve"));
      expect((await send(alice)).statusCode).to.equal(200);
      expect((await send(alice)).statusCode).to.equal(200);
      expect(votesWritten()).to.have.length(1);
      expect((await record(key))!.approvals).to.equal(1);
      expect(ephemerals()).to.deep.equal([
        {
          channel: CHANNEL,
          user: "U0ALICE",
          text: "You already voted on this request; a vote counts once, so this click changed nothing.",
        },
      ]);
      expect(sent()).to.have.length(0);
    });

    it("refuses a malformed payload with 400", async () => {
      await start();
      const request = signedInteraction({ type: "block_actions" });
      const response = await send(request);
      expect(response.statusCode).to.equal(400);
      expect(response.body).to.equal("Refused: team is missing or not an object.");
      expect(votesWritten()).to.have.length(0);
    });

    it("refuses a base64 body that is not a Slack form with 400 once its signature holds", async () => {
      await start();
      const body = "payload=%7Bnot-json";
      const timestamp = Math.floor(NOW.getTime() / 1000);
      const { createHmac } = await import("crypto");
      const signature = `v0=${createHmac("sha256", FAKE_SIGNING_SECRET).update(`v0:${timestamp}:${body}`).digest("hex")}`;
      const event = {
        version: "2.0",
        requestContext: { http: { method: "POST", path: "/slack/interactions" } },
        headers: { "x-slack-request-timestamp": String(timestamp), "x-slack-signature": signature },
        body: Buffer.from(body).toString("base64"),
        isBase64Encoded: true,
      };
      const response = await handleInteraction(event, interactionDeps());
      responses.push(response);
      expect(response.statusCode).to.equal(400);
      expect(response.body).to.equal("Refused: the payload is not JSON.");
    });

    it("refuses a click from another workspace with 403 and reads nothing", async () => {
      const { key, ts } = await start();
      aws.requests.length = 0;
      const response = await send(signedInteraction(fromAnotherTeam(clickPayload(key, ts, "U0ALICE", "approve"))));
      expect(response.statusCode).to.equal(403);
      expect(response.body).to.equal("Refused: the request comes from another Slack workspace.");
      expect(aws.requests).to.have.length(0);
    });

    it("tells a non-approver so (ephemeral) and records nothing", async () => {
      const { key, ts } = await start();
      expect((await click(key, ts, "U0MALLORY")).statusCode).to.equal(200);
      expect((await click(key, ts, "U0MALLORY", "reject")).statusCode).to.equal(200);
      const sentence = "You are not an approver of this stage, so your click changed nothing.";
      expect(ephemerals()).to.deep.equal([
        { channel: CHANNEL, user: "U0MALLORY", text: sentence },
        { channel: CHANNEL, user: "U0MALLORY", text: sentence },
      ]);
      expect(votesWritten()).to.have.length(0);
      expect(slack.callsTo("views.open")).to.have.length(0);
      expect(slack.callsTo("chat.update")).to.have.length(0);
      expect((await record(key))!.votes).to.deep.equal([]);
    });

    it("quorum 2 of 3: the first approval updates the progress, the second decides with exactly one SendTaskSuccess", async () => {
      const { key, ts } = await start();
      expect(await click(key, ts, "U0ALICE")).to.deep.equal({ statusCode: 200, headers: {}, body: "" });
      expect(sent()).to.have.length(0);
      const [first] = slack.callsTo("chat.update");
      const afterAlice = progress(key, ["U0ALICE"]);
      expect(first.body).to.deep.equal({ channel: CHANNEL, ts, text: afterAlice.text, blocks: afterAlice.blocks });
      expect(JSON.stringify(first.body.blocks)).to.include(
        "Approved so far: <@U0ALICE> (1 of 2). 1 more approval needed.",
      );

      expect((await click(key, ts, "U0BOB")).statusCode).to.equal(200);
      expect(sent()).to.have.length(1);
      expect(sent()[0].body.taskToken).to.equal(TOKEN);
      expect(JSON.parse(sent()[0].body.output)).to.deep.equal({
        approved: true,
        decision: "approved",
        stage: STAGE,
        mechanism: "slack",
        approver: "U0BOB",
        // Bob's display name (users.info profile.display_name) and the signed payload's team.
        approverName: "bob",
        approverTeam: TEAM,
        comment: null,
        decidedAt: NOW.toISOString().replace(/\.\d{3}Z$/, "Z"),
      });
      const stored = await record(key);
      expect(stored).to.include({ status: "decided", decision: "approved", decidedBy: "U0BOB", approvals: 2 });
      expect(stored!.deliveredAt).to.equal(NOW.toISOString());
      const final = finalMessage({
        request: EXPENSE_REPORT,
        stage: STAGE,
        required: 2,
        outcome: {
          decision: "approved",
          approvals: ["U0ALICE", "U0BOB"].map((userId) => ({ userId, at: NOW.toISOString(), comment: null })),
        },
      });
      const updates = slack.callsTo("chat.update");
      expect(updates).to.have.length(2);
      expect(updates[1].body).to.deep.equal({ channel: CHANNEL, ts, text: final.text, blocks: final.blocks });
      expect(slack.message(CHANNEL, ts)!.blocks!.some((b: any) => b.type === "actions")).to.equal(false);
      const delivered = logs.map((l) => JSON.parse(l)).find((l) => l.msg === "slack decision delivered");
      expect(delivered).to.include({
        approver: "U0BOB",
        approverName: "bob",
        approverNameFrom: "users.info",
        team: TEAM,
        decision: "approved",
      });

      // A third click after the decision says so and sends nothing.
      expect((await click(key, ts, "U0CAROL")).statusCode).to.equal(200);
      expect(sent()).to.have.length(1);
      expect(ephemerals()).to.deep.equal([
        {
          channel: CHANNEL,
          user: "U0CAROL",
          text: "This request was already decided (approved); your click changed nothing.",
        },
      ]);
      // The secret is read once per warm function.
      expect(secretReads).to.equal(1);
    });

    it("reject opens the comment modal (nothing recorded); its submission with a comment decides rejected", async () => {
      const { key, ts } = await start();
      expect(await click(key, ts, "U0CAROL", "reject")).to.deep.equal({ statusCode: 200, headers: {}, body: "" });
      const [open] = slack.callsTo("views.open");
      expect(open.body.trigger_id).to.match(/^13345224609\.738474920\./);
      expect(open.body.view).to.deep.equal(commentModal({ vote: "reject", requestKey: key, request: EXPENSE_REPORT }));
      expect(votesWritten()).to.have.length(0);
      expect(sent()).to.have.length(0);

      expect(await submit(key, "U0CAROL", "  Budget exceeded for Q4  ")).to.deep.equal({
        statusCode: 200,
        headers: {},
        body: "",
      });
      expect(sent()).to.have.length(1);
      expect(JSON.parse(sent()[0].body.output)).to.deep.equal({
        approved: false,
        decision: "rejected",
        stage: STAGE,
        mechanism: "slack",
        approver: "U0CAROL",
        // Carol set no display name: her real name.
        approverName: "Carol Checker",
        approverTeam: TEAM,
        comment: "Budget exceeded for Q4",
        decidedAt: NOW.toISOString().replace(/\.\d{3}Z$/, "Z"),
      });
      const final = finalMessage({
        request: EXPENSE_REPORT,
        stage: STAGE,
        required: 2,
        outcome: {
          decision: "rejected",
          rejection: { userId: "U0CAROL", at: NOW.toISOString(), comment: "Budget exceeded for Q4" },
          approvals: [],
        },
      });
      expect(slack.callsTo("chat.update").map((c) => c.body)).to.deep.equal([
        { channel: CHANNEL, ts, text: final.text, blocks: final.blocks },
      ]);

      // A second submission (the modal submitted again) keeps the modal open and says why.
      const again = await submit(key, "U0BOB", "Me too");
      expect(again.statusCode).to.equal(200);
      expect(JSON.parse(again.body)).to.deep.equal({
        response_action: "errors",
        errors: { comment: "This request was already decided (rejected); your click changed nothing." },
      });
      expect(sent()).to.have.length(1);
    });

    it("with SLACK_COMMENT_ON_APPROVE, Approve opens the modal too; an approval without a comment counts", async () => {
      const { key, ts } = await start();
      const deps = { env: { ...env, SLACK_API_URL: slack.apiUrl, SLACK_COMMENT_ON_APPROVE: "true" } };
      await send(signedInteraction(clickPayload(key, ts, "U0ALICE", "approve")), deps);
      expect(slack.callsTo("views.open").map((c) => c.body.view)).to.deep.equal([
        commentModal({ vote: "approve", requestKey: key, request: EXPENSE_REPORT }),
      ]);
      expect(votesWritten()).to.have.length(0);
      const payload = viewSubmissionPayload({
        userId: "U0ALICE",
        callbackId: COMMENT_CALLBACK_IDS.approve,
        privateMetadata: key,
        values: { comment: { comment: "" } },
      });
      expect(await send(signedInteraction(payload), deps)).to.deep.equal({ statusCode: 200, headers: {}, body: "" });
      const afterAlice = progress(key, ["U0ALICE"]);
      expect(slack.callsTo("chat.update").map((c) => c.body)).to.deep.equal([
        { channel: CHANNEL, ts, text: afterAlice.text, blocks: afterAlice.blocks },
      ]);
      expect(sent()).to.have.length(0);
    });

    it("says a click after the timeout changed nothing (approve and reject), and records nothing", async () => {
      const earlier = new Date(NOW.getTime() - 2 * TIMEOUT_SECONDS * 1000);
      const { key, ts } = await start({ now: () => earlier });
      await click(key, ts, "U0ALICE");
      await click(key, ts, "U0BOB", "reject");
      const deadline = new Date(earlier.getTime() + TIMEOUT_SECONDS * 1000).toISOString();
      const sentence = `This request timed out at ${deadline}; your click changed nothing.`;
      expect(ephemerals()).to.deep.equal([
        { channel: CHANNEL, user: "U0ALICE", text: sentence },
        { channel: CHANNEL, user: "U0BOB", text: sentence },
      ]);
      expect(votesWritten()).to.have.length(0);
      expect(slack.callsTo("views.open")).to.have.length(0);
      expect(sent()).to.have.length(0);
    });

    it("past the deadline, an unconfirmed decision is not sent again: the clicker is told the request timed out", async () => {
      // Decided 20 s before the deadline (10 s ago), but Step Functions never confirmed it; the Task has timed out since.
      const started = new Date(NOW.getTime() - TIMEOUT_SECONDS * 1000 - 10_000);
      const { key, ts } = await start({ now: () => started });
      const before = { now: () => new Date(NOW.getTime() - 20_000) };
      aws.on("SendTaskSuccess", () => new AwsError("InternalFailure", "try later", 500));
      await send(signedInteraction(clickPayload(key, ts, "U0ALICE", "approve")), before);
      await send(signedInteraction(clickPayload(key, ts, "U0BOB", "approve")), before);
      expect(sent()).to.have.length(1);
      expect((await record(key))!.status).to.equal("decided");
      aws.on("SendTaskSuccess", () => ({}));
      const updates = slack.callsTo("chat.update").length;
      await click(key, ts, "U0CAROL", "approve");
      await click(key, ts, "U0ALICE", "reject");
      expect(sent()).to.have.length(1);
      expect(slack.callsTo("views.open")).to.have.length(0);
      expect(slack.callsTo("chat.update")).to.have.length(updates);
      const deadline = new Date(started.getTime() + TIMEOUT_SECONDS * 1000).toISOString();
      expect(
        ephemerals()
          .slice(-2)
          .map((e) => e.text),
      ).to.deep.equal([
        `This request timed out at ${deadline}; your click changed nothing.`,
        `This request timed out at ${deadline}; your click changed nothing.`,
      ]);
    });

    it("a failed chat.update after a delivered decision neither undoes nor repeats it", async () => {
      const { key, ts } = await start();
      await click(key, ts, "U0ALICE");
      slack.fail("chat.update", slackError("message_not_found"));
      expect((await click(key, ts, "U0BOB")).statusCode).to.equal(200);
      expect(sent()).to.have.length(1);
      expect((await record(key))!.deliveredAt).to.equal(NOW.toISOString());
      const failure = logs.map((l) => JSON.parse(l)).find((l) => l.msg === "slack message not updated");
      expect(failure).to.include({ level: "error", error: "Slack.message_not_found" });
      // A later click shows the outcome again (the update is idempotent), still sending nothing.
      await click(key, ts, "U0CAROL");
      expect(sent()).to.have.length(1);
      expect(slack.callsTo("chat.update")).to.have.length(3);
      expect(slack.message(CHANNEL, ts)!.blocks!.some((b: any) => b.type === "actions")).to.equal(false);
    });

    it("sends a throttled SendTaskSuccess again within the click (ThrottlingException, KmsThrottlingException), never a 5xx", async () => {
      const { key, ts } = await start();
      await click(key, ts, "U0ALICE");
      const answers = [
        new AwsError("ThrottlingException", "Rate exceeded", 400),
        new AwsError("KmsThrottlingException", "KMS throttled", 400),
      ];
      aws.on("SendTaskSuccess", () => answers.shift() ?? {});
      await click(key, ts, "U0BOB");
      expect(sent()).to.have.length(3);
      expect(new Set(sent().map((r) => JSON.stringify(r.body))).size).to.equal(1);
      expect((await record(key))!.deliveredAt).to.equal(NOW.toISOString());
      expect(slack.message(CHANNEL, ts)!.blocks!.some((b: any) => b.type === "actions")).to.equal(false);
      expect(ephemerals()).to.deep.equal([]);
    });

    it("a rejection not confirmed is sent again when an approver clicks Reject again (no modal), and the message shows it", async () => {
      const { key, ts } = await start();
      await click(key, ts, "U0CAROL", "reject");
      aws.on("SendTaskSuccess", () => new AwsError("ServiceUnavailable", "try later", 503));
      const answer = await submit(key, "U0CAROL", "Over budget");
      expect(JSON.parse(answer.body).errors.comment).to.equal(
        "Your vote is recorded but the workflow has not confirmed it yet; click again in a minute to resend it.",
      );
      expect(sent()).to.have.length(1);
      aws.on("SendTaskSuccess", () => ({}));
      expect((await click(key, ts, "U0CAROL", "reject")).statusCode).to.equal(200);
      expect(slack.callsTo("views.open")).to.have.length(1);
      expect(sent()).to.have.length(2);
      expect(sent()[1].body).to.deep.equal(sent()[0].body);
      expect(JSON.parse(sent()[1].body.output)).to.include({ decision: "rejected", approver: "U0CAROL" });
      expect((await record(key))!.deliveredAt).to.equal(NOW.toISOString());
      expect(slack.message(CHANNEL, ts)!.blocks!.some((b: any) => b.type === "actions")).to.equal(false);
      expect(ephemerals().map((e) => e.text)).to.deep.equal([
        "This request was already decided (rejected); your click changed nothing.",
      ]);
    });

    it("an unconfirmed SendTaskSuccess keeps the decision; the next click sends the same decision again", async () => {
      const { key, ts } = await start();
      await click(key, ts, "U0ALICE");
      aws.on("SendTaskSuccess", () => new AwsError("InternalFailure", `Value '${TOKEN}' failed`, 500));
      await click(key, ts, "U0BOB");
      expect(sent()).to.have.length(1);
      expect((await record(key))!.deliveredAt).to.equal(undefined);
      expect(ephemerals()[0].text).to.equal(
        "Your vote is recorded but the workflow has not confirmed it yet; click again in a minute to resend it.",
      );
      // The line the stage's log metric filter counts (SLACK_AT_RISK_PHRASES).
      expect(logs.filter((l) => l.includes(SLACK_AT_RISK_PHRASES["not-confirmed"]))).to.have.length(1);
      aws.on("SendTaskSuccess", () => ({}));
      await click(key, ts, "U0CAROL");
      expect(sent()).to.have.length(2);
      expect(sent()[1].body).to.deep.equal(sent()[0].body);
      expect(JSON.parse(sent()[1].body.output)).to.include({ decision: "approved", approver: "U0BOB" });
      expect((await record(key))!.deliveredAt).to.equal(NOW.toISOString());
    });

    it("tells the clicker when the workflow no longer waits (TaskTimedOut) and approves nothing more", async () => {
      const { key, ts } = await start();
      aws.on("SendTaskSuccess", () => new AwsError("TaskTimedOut", "Task Timed Out"));
      await click(key, ts, "U0CAROL", "reject");
      await submit(key, "U0CAROL", "No");
      expect(sent()).to.have.length(1);
      const answer = responses[responses.length - 1];
      expect(JSON.parse(answer.body).errors.comment).to.equal(
        "The workflow no longer waits for this request (it timed out or was stopped); your vote was not used.",
      );
      expect(slack.callsTo("chat.update")).to.have.length(0);
    });

    it("names the decider as Slack shows them: users.info (form, bearer) once per user per warm function, again after the cache's time", async () => {
      const decide = async (at: Date) => {
        const { key } = await start();
        const payload = viewSubmissionPayload({
          userId: "U0CAROL",
          callbackId: COMMENT_CALLBACK_IDS.reject,
          privateMetadata: key,
          values: { comment: { comment: "No" } },
        });
        const timestamp = Math.floor(at.getTime() / 1000);
        expect((await send(signedInteraction(payload, { timestamp }), { now: () => at })).body).to.equal("");
        return JSON.parse(sent()[sent().length - 1].body.output);
      };
      expect(await decide(NOW)).to.deep.include({
        approver: "U0CAROL",
        approverName: "Carol Checker",
        approverTeam: TEAM,
      });
      const [lookup] = slack.callsTo("users.info");
      expect([lookup.contentType, lookup.body, lookup.token]).to.deep.equal([
        "application/x-www-form-urlencoded",
        { user: "U0CAROL" },
        "bearer",
      ]);
      // The next decision by the same user, in the same warm function, asks nothing.
      expect(await decide(NOW)).to.deep.include({ approverName: "Carol Checker" });
      expect(slack.callsTo("users.info")).to.have.length(1);
      // Renamed in Slack: the new display name once the cached one is older than its time.
      slack.addUser(slackUser("U0CAROL", "carol", "Carol Checker", "Carol (Finance)", TEAM));
      const later = new Date(NOW.getTime() + USER_NAME_TTL_MS + 1000);
      expect(await decide(later)).to.deep.include({ approverName: "Carol (Finance)", approverTeam: TEAM });
      expect(slack.callsTo("users.info")).to.have.length(2);
      expect(sent()).to.have.length(3);
    });

    const failures: Array<[string, SlackFailure]> = [
      ["missing_scope", missingScope("users:read")],
      ["user_not_found", slackError("user_not_found")],
      ["ratelimited", ratelimited(30)],
      ["http_500", httpFailure(500)],
    ];
    for (const [code, failure] of failures) {
      it(`decides all the same when users.info fails (${code}): the decision names the payload's user name, once asked`, async () => {
        const { key, ts } = await start();
        await click(key, ts, "U0ALICE");
        slack.fail("users.info", failure);
        expect((await click(key, ts, "U0BOB")).statusCode).to.equal(200);
        expect(sent()).to.have.length(1);
        expect(JSON.parse(sent()[0].body.output)).to.deep.equal({
          approved: true,
          decision: "approved",
          stage: STAGE,
          mechanism: "slack",
          approver: "U0BOB",
          // The signed payload's user.name (slackInteractions.ts: the user ID in lower case).
          approverName: "u0bob",
          approverTeam: TEAM,
          comment: null,
          decidedAt: NOW.toISOString().replace(/\.\d{3}Z$/, "Z"),
        });
        // One attempt, no wait for Retry-After; the decision is delivered and shown.
        expect(slack.callsTo("users.info")).to.have.length(1);
        expect((await record(key))!.deliveredAt).to.equal(NOW.toISOString());
        expect(slack.callsTo("chat.update")).to.have.length(2);
        const lines = logs.map((l) => JSON.parse(l));
        expect(lines.find((l) => l.msg.startsWith("slack user name not read"))).to.deep.equal({
          level: "warn",
          msg: "slack user name not read; the decision names the payload's user name",
          user: "U0BOB",
          error: `Slack.${code}`,
          message: lines.find((l) => l.msg.startsWith("slack user name not read")).message,
        });
        expect(lines.find((l) => l.msg === "slack decision delivered")).to.include({
          approverName: "u0bob",
          approverNameFrom: "payload",
        });
      });
    }

    it("answers an internal error with 200 and a sentence to the clicker; nothing decided", async () => {
      const { key, ts } = await start();
      aws.on("GetItem", () => new AwsError("InternalServerError", "Internal server error", 500));
      expect((await click(key, ts, "U0ALICE")).statusCode).to.equal(200);
      expect(ephemerals()[0].text).to.equal(
        "Your click could not be recorded (an internal error); nothing changed. Please try again shortly.",
      );
      expect(sent()).to.have.length(0);
      // The line the stage's log metric filter counts (SLACK_AT_RISK_PHRASES).
      expect(logs.filter((l) => l.includes(SLACK_AT_RISK_PHRASES["failed-clicks"]))).to.have.length(1);
    });
  });
});
