// The Slack Web API client against the fake Slack (tests/helpers/fakeSlack.ts): the exact requests
// each helper sends (JSON with the token only in Authorization: Bearer; users.info and
// conversations.open as forms), Slack's errors as Slack.<code>, Retry-After honoured within a bound,
// 5xx retried, and the token in no recorded call and no error.
import { expect } from "chai";
import { createServer } from "http";
import { AddressInfo } from "net";
import {
  SLACK_API_URL,
  SlackCallOptions,
  callSlack,
  openDm,
  openView,
  postEphemeral,
  postMessage,
  slackApiUrl,
  updateMessage,
  userInfo,
} from "../functions/mechanisms/slack/slackApi";
import { FAKE_BOT_TOKEN, FakeSlack, httpFailure, ratelimited, slackError } from "./helpers/fakeSlack";

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected the call to fail");
}

describe("Slack Web API client", () => {
  const slack = new FakeSlack();
  let waits: number[] = [];
  const options = (extra: Partial<SlackCallOptions> = {}): SlackCallOptions => ({
    token: FAKE_BOT_TOKEN,
    apiUrl: slack.apiUrl,
    sleep: async (ms) => {
      waits.push(ms);
    },
    ...extra,
  });
  const noToken = (error?: Error) => {
    expect(JSON.stringify(slack.calls)).to.not.include(FAKE_BOT_TOKEN);
    if (error) expect(`${error.name} ${error.message} ${error.stack}`).to.not.include(FAKE_BOT_TOKEN);
  };

  before(() => slack.start());
  after(() => slack.stop());
  beforeEach(() => {
    slack.reset();
    waits = [];
  });

  it("takes the API URL from SLACK_API_URL, Slack's own when unset", () => {
    expect(slackApiUrl({})).to.equal(SLACK_API_URL);
    expect(slackApiUrl({ SLACK_API_URL: "http://127.0.0.1:9/api/" })).to.equal("http://127.0.0.1:9/api/");
  });

  it("postMessage POSTs JSON with the token as Bearer and returns channel and ts", async () => {
    const blocks = [{ type: "section", text: { type: "mrkdwn", text: "Deploy?", verbatim: true } }];
    const posted = await postMessage({ channel: "C0APPROVALS", text: "Deploy?", blocks }, options());
    expect(posted.channel).to.equal("C0APPROVALS");
    expect(posted.ts).to.match(/^\d{10}\.\d{6}$/);
    const [call] = slack.calls;
    expect(call).to.deep.include({
      method: "chat.postMessage",
      httpMethod: "POST",
      path: "/api/chat.postMessage",
      contentType: "application/json; charset=utf-8",
      token: "bearer",
      tokenValid: true,
      status: 200,
    });
    expect(call.body).to.deep.equal({ channel: "C0APPROVALS", text: "Deploy?", blocks });
    expect(slack.message("C0APPROVALS", posted.ts)).to.deep.include({ text: "Deploy?", blocks });
    noToken();
  });

  it("updateMessage sends channel, ts, text and blocks; the stored message changes", async () => {
    const posted = await postMessage({ channel: "C0APPROVALS", text: "Deploy?" }, options());
    const blocks = [{ type: "section", text: { type: "mrkdwn", text: "Approved", verbatim: true } }];
    const updated = await updateMessage(
      { channel: posted.channel, ts: posted.ts, text: "Approved", blocks },
      options(),
    );
    expect(updated).to.deep.equal(posted);
    const call = slack.callsTo("chat.update")[0];
    expect(call).to.deep.include({ contentType: "application/json; charset=utf-8", token: "bearer", tokenValid: true });
    expect(call.body).to.deep.equal({ channel: "C0APPROVALS", ts: posted.ts, text: "Approved", blocks });
    expect(slack.message("C0APPROVALS", posted.ts)).to.deep.include({ text: "Approved", blocks });
    noToken();
  });

  it("postEphemeral sends channel, user and text and returns message_ts", async () => {
    const sent = await postEphemeral(
      { channel: "C0APPROVALS", user: "U0MALLORY", text: "You are not an approver of this stage." },
      options(),
    );
    expect(sent.messageTs).to.match(/^\d{10}\.\d{6}$/);
    const call = slack.callsTo("chat.postEphemeral")[0];
    expect(call).to.deep.include({ contentType: "application/json; charset=utf-8", token: "bearer", tokenValid: true });
    expect(call.body).to.deep.equal({
      channel: "C0APPROVALS",
      user: "U0MALLORY",
      text: "You are not an approver of this stage.",
    });
    expect(slack.ephemerals).to.deep.equal([
      {
        channel: "C0APPROVALS",
        user: "U0MALLORY",
        text: "You are not an approver of this stage.",
        message_ts: sent.messageTs,
      },
    ]);
    noToken();
  });

  it("openView sends trigger_id and the view as a JSON object and returns the view's id", async () => {
    const view = { type: "modal", callback_id: "c", title: { type: "plain_text", text: "Reject" }, blocks: [] };
    const trigger = "13345224609.738474920.8088930838d88f008e0";
    const opened = await openView({ trigger_id: trigger, view }, options());
    expect(opened.viewId).to.equal(slack.views[0].id);
    const call = slack.callsTo("views.open")[0];
    expect(call).to.deep.include({ contentType: "application/json; charset=utf-8", token: "bearer", tokenValid: true });
    expect(call.body).to.deep.equal({ trigger_id: trigger, view });
    noToken();
  });

  it("openDm sends users as a form (token in the header, not the body) and returns the DM channel", async () => {
    const channel = await openDm("U0ALICE", options());
    expect(channel).to.equal(slack.dmChannel("U0ALICE"));
    const call = slack.callsTo("conversations.open")[0];
    expect(call).to.deep.include({
      contentType: "application/x-www-form-urlencoded",
      token: "bearer",
      tokenValid: true,
    });
    expect(call.body).to.deep.equal({ users: "U0ALICE" });
    noToken();
  });

  it("userInfo sends user as a form (users.info reads no JSON) and maps the profile", async () => {
    expect(await userInfo("U0ALICE", options())).to.deep.equal({
      id: "U0ALICE",
      teamId: "T0FAKETEAM",
      name: "alice",
      realName: "Alice Approver",
      displayName: "Alice",
      deleted: false,
      isBot: false,
    });
    const call = slack.callsTo("users.info")[0];
    expect(call).to.deep.include({
      contentType: "application/x-www-form-urlencoded",
      token: "bearer",
      tokenValid: true,
    });
    expect(call.body).to.deep.equal({ user: "U0ALICE" });
    noToken();
  });

  it("ratelimited: waits Retry-After seconds, then retries and succeeds", async () => {
    slack.fail("chat.postMessage", ratelimited(1));
    const posted = await postMessage({ channel: "C0APPROVALS", text: "x" }, options());
    expect(waits).to.deep.equal([1000]);
    expect(slack.callsTo("chat.postMessage").map((c) => c.status)).to.deep.equal([429, 200]);
    expect(slack.message("C0APPROVALS", posted.ts)).to.not.equal(undefined);
    expect(slack.messages).to.have.length(1);
  });

  it("waits for real with the default sleep (Retry-After 0 keeps it instant)", async () => {
    slack.fail("chat.postMessage", ratelimited(0));
    await postMessage({ channel: "C0APPROVALS", text: "x" }, { token: FAKE_BOT_TOKEN, apiUrl: slack.apiUrl });
    expect(slack.callsTo("chat.postMessage").map((c) => c.status)).to.deep.equal([429, 200]);
  });

  it("ratelimited beyond maxRetryAfterSeconds fails with Slack.ratelimited without waiting", async () => {
    slack.fail("chat.postMessage", ratelimited(30));
    const error = await failure(postMessage({ channel: "C0APPROVALS", text: "x" }, options()));
    expect(error.name).to.equal("Slack.ratelimited");
    expect(error.message).to.equal("Slack chat.postMessage failed: ratelimited (Retry-After 30 s; 1 attempt(s))");
    expect(waits).to.deep.equal([]);
    expect(slack.callsTo("chat.postMessage")).to.have.length(1);
    expect(slack.messages).to.deep.equal([]);
    noToken(error);
  });

  it("ratelimited on every attempt fails after maxRetries retries", async () => {
    slack.fail("chat.update", ratelimited(1), ratelimited(1), ratelimited(1), ratelimited(1));
    const error = await failure(updateMessage({ channel: "C0APPROVALS", ts: "1.2", text: "x" }, options()));
    expect(error.name).to.equal("Slack.ratelimited");
    expect(waits).to.deep.equal([1000, 1000]);
    expect(slack.callsTo("chat.update")).to.have.length(3);
  });

  it("channel_not_found and invalid_auth fail at once, named Slack.<error>, the message naming method and code", async () => {
    const notFound = await failure(postMessage({ channel: "C0NOWHERE", text: "secret request text" }, options()));
    expect(notFound.name).to.equal("Slack.channel_not_found");
    expect(notFound.message).to.equal("Slack chat.postMessage failed: channel_not_found");
    expect(notFound.message).to.not.include("C0NOWHERE");

    const wrongToken = "xoxb-9999999999-8888888888888-WrongTokenForTheTests00";
    const invalid = await failure(postMessage({ channel: "C0APPROVALS", text: "x" }, options({ token: wrongToken })));
    expect(invalid.name).to.equal("Slack.invalid_auth");
    expect(invalid.message).to.equal("Slack chat.postMessage failed: invalid_auth");
    expect(`${invalid.message} ${invalid.stack} ${JSON.stringify(slack.calls)}`).to.not.include(wrongToken);

    slack.fail("users.info", slackError("user_not_found"));
    expect((await failure(userInfo("U0NOBODY", options()))).name).to.equal("Slack.user_not_found");
    expect(slack.calls.map((c) => c.status)).to.deep.equal([200, 200, 200]);
    expect(waits).to.deep.equal([]);
    noToken(notFound);
  });

  it("HTTP 500 then success: retries after a short backoff", async () => {
    slack.fail("chat.postMessage", httpFailure(500));
    const posted = await postMessage({ channel: "C0APPROVALS", text: "x" }, options());
    expect(slack.callsTo("chat.postMessage").map((c) => c.status)).to.deep.equal([500, 200]);
    expect(waits).to.deep.equal([250]);
    expect(slack.messages.map((m) => m.ts)).to.deep.equal([posted.ts]);
  });

  it("HTTP 500 forever fails with Slack.http_500 after maxRetries retries; nothing posted", async () => {
    slack.fail("chat.postMessage", httpFailure(500), httpFailure(503), httpFailure(500), httpFailure(500));
    const error = await failure(postMessage({ channel: "C0APPROVALS", text: "x" }, options()));
    expect(error.name).to.equal("Slack.http_500");
    expect(error.message).to.equal("Slack chat.postMessage failed: http_500 (3 attempt(s))");
    expect(slack.callsTo("chat.postMessage").map((c) => c.status)).to.deep.equal([500, 503, 500]);
    expect(waits).to.deep.equal([250, 500]);
    expect(slack.messages).to.deep.equal([]);
    noToken(error);
  });

  it("a network error fails with Slack.unreachable, naming neither the URL nor the token", async () => {
    // A port that was just free: nothing listens there.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const error = await failure(
      callSlack(
        "chat.postMessage",
        { channel: "C0APPROVALS", text: "x" },
        options({ apiUrl: `http://127.0.0.1:${port}/api/`, maxRetries: 1 }),
      ),
    );
    expect(error.name).to.equal("Slack.unreachable");
    expect(error.message).to.equal("Slack chat.postMessage failed: unreachable (ECONNREFUSED)");
    expect(waits).to.deep.equal([250]);
    noToken(error);
  });

  it("refuses an API URL that is not https or loopback, and a missing token, before sending anything", async () => {
    for (const apiUrl of ["http://slack.example.com/api/", "https://slack.com/api/?x=1", "not a url"]) {
      expect((await failure(callSlack("auth.test", {}, options({ apiUrl })))).name).to.equal("Slack.invalid_api_url");
    }
    expect((await failure(callSlack("auth.test", {}, options({ token: "" })))).name).to.equal("Slack.not_authed");
    expect(slack.calls).to.deep.equal([]);
  });

  it("a success answer without the fields the helper needs fails as Slack.invalid_response", async () => {
    const fetchImpl = (async () =>
      new Response(JSON.stringify({ ok: true }), { status: 200 })) as unknown as typeof fetch;
    const error = await failure(postMessage({ channel: "C0APPROVALS", text: "x" }, options({ fetchImpl })));
    expect(error.name).to.equal("Slack.invalid_response");
  });
});
