// The Slack test doubles answer as Slack documents: the Web API's ok/error shapes, 429 with
// Retry-After, the token check, chat.update changing the stored message; signed interaction
// requests verify with a plain HMAC recomputation.
import { expect } from "chai";
import { createHmac, timingSafeEqual } from "crypto";
import { FAKE_BOT_TOKEN, FakeSlack, httpFailure, missingScope, ratelimited, slackError } from "./helpers/fakeSlack";
import {
  FAKE_SIGNING_SECRET,
  blockActionsPayload,
  fromAnotherTeam,
  httpApiEvent,
  signedInteraction,
  staleInteraction,
  viewSubmissionPayload,
  withBadSignature,
  withTamperedBody,
} from "./helpers/slackInteractions";

describe("fake Slack Web API", () => {
  const slack = new FakeSlack();
  before(() => slack.start());
  after(() => slack.stop());
  beforeEach(() => slack.reset());

  const call = async (method: string, args: Record<string, unknown>, token: string | null = FAKE_BOT_TOKEN) => {
    const response = await fetch(`${slack.apiUrl}${method}`, {
      method: "POST",
      headers: {
        "content-type": "application/json; charset=utf-8",
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      },
      body: JSON.stringify(args),
    });
    return { status: response.status, headers: response.headers, body: (await response.json()) as any };
  };

  it("posts a message and answers { ok, channel, ts, message }, recording the call without the token", async () => {
    const blocks = [{ type: "section", text: { type: "mrkdwn", text: "*Deploy* needs approval" } }];
    const { status, body } = await call("chat.postMessage", { channel: "C0APPROVALS", text: "Deploy", blocks });
    expect(status).to.equal(200);
    expect(body).to.deep.include({ ok: true, channel: "C0APPROVALS" });
    expect(body.ts).to.match(/^\d{10}\.\d{6}$/);
    expect(body.message).to.deep.include({ type: "message", ts: body.ts, text: "Deploy", blocks, user: "U0FAKEBOT" });
    expect(slack.message("C0APPROVALS", body.ts)).to.deep.include({ text: "Deploy", blocks });
    const [recorded] = slack.calls;
    expect(recorded).to.deep.include({ method: "chat.postMessage", token: "bearer", tokenValid: true, status: 200 });
    expect(recorded.body).to.deep.equal({ channel: "C0APPROVALS", text: "Deploy", blocks });
    expect(recorded.headers).to.not.have.property("authorization");
    expect(JSON.stringify(slack.calls)).to.not.include(FAKE_BOT_TOKEN);
  });

  it("answers not_authed without a token and invalid_auth for a wrong one, HTTP 200, posting nothing", async () => {
    const missing = await call("chat.postMessage", { channel: "C0APPROVALS", text: "x" }, null);
    const wrong = await call("chat.postMessage", { channel: "C0APPROVALS", text: "x" }, "xoxb-wrong");
    expect([missing.status, missing.body]).to.deep.equal([200, { ok: false, error: "not_authed" }]);
    expect([wrong.status, wrong.body]).to.deep.equal([200, { ok: false, error: "invalid_auth" }]);
    // A token inside a JSON body is not read: JSON needs the Authorization header.
    const inBody = await call("auth.test", { token: FAKE_BOT_TOKEN }, null);
    expect(inBody.body).to.deep.equal({ ok: false, error: "not_authed" });
    expect(slack.calls.map((c) => [c.token, c.tokenValid])).to.deep.equal([
      ["none", false],
      ["bearer", false],
      ["none", false],
    ]);
    expect(slack.messages).to.deep.equal([]);
  });

  it("reads form-encoded arguments with a token field, and JSON strings for blocks", async () => {
    const blocks = [{ type: "section", text: { type: "plain_text", text: "hi" } }];
    const response = await fetch(`${slack.apiUrl}chat.postMessage`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: FAKE_BOT_TOKEN, channel: "C0APPROVALS", blocks: JSON.stringify(blocks) }),
    });
    const body = (await response.json()) as any;
    expect(body.ok).to.equal(true);
    expect(slack.message("C0APPROVALS", body.ts)?.blocks).to.deep.equal(blocks);
    expect(slack.calls[0]).to.deep.include({ token: "argument", tokenValid: true });
    expect(slack.calls[0].body).to.not.have.property("token");
  });

  it("answers channel_not_found for unknown channels and message_not_found for an unknown ts", async () => {
    expect((await call("chat.postMessage", { channel: "C0NOPE", text: "x" })).body).to.deep.equal({
      ok: false,
      error: "channel_not_found",
    });
    expect((await call("chat.update", { channel: "C0NOPE", ts: "1.000001", text: "x" })).body.error).to.equal(
      "channel_not_found",
    );
    expect((await call("chat.update", { channel: "C0APPROVALS", ts: "1.000001", text: "x" })).body.error).to.equal(
      "message_not_found",
    );
    expect((await call("chat.postMessage", { channel: "C0APPROVALS" })).body.error).to.equal("no_text");
  });

  it("chat.update changes the stored message; blocks left out are kept, thread replies stay apart", async () => {
    const posted = (
      await call("chat.postMessage", { channel: "C0APPROVALS", text: "Waiting", blocks: [{ type: "divider" }] })
    ).body;
    const reply = (await call("chat.postMessage", { channel: "C0APPROVALS", text: "Reminder", thread_ts: posted.ts }))
      .body;
    const decided = [{ type: "section", text: { type: "mrkdwn", text: "Approved by <@U0ALICE>" } }];
    const updated = await call("chat.update", {
      channel: "C0APPROVALS",
      ts: posted.ts,
      text: "Approved",
      blocks: decided,
    });
    expect(updated.body).to.deep.include({ ok: true, channel: "C0APPROVALS", ts: posted.ts, text: "Approved" });
    expect(updated.body.message.blocks).to.deep.equal(decided);
    await call("chat.update", { channel: "C0APPROVALS", ts: posted.ts, text: "Approved (final)" });
    expect(slack.message("C0APPROVALS", posted.ts)).to.deep.include({
      text: "Approved (final)",
      blocks: decided,
      previous: [
        { text: "Waiting", blocks: [{ type: "divider" }] },
        { text: "Approved", blocks: decided },
      ],
    });
    expect(slack.messagesIn("C0APPROVALS", posted.ts).map((m) => [m.ts, m.text])).to.deep.equal([
      [reply.ts, "Reminder"],
    ]);
  });

  it("queues failures per method: 429 with Retry-After, channel_not_found, invalid_auth, HTTP 500, then normal answers", async () => {
    slack
      .fail(
        "chat.postMessage",
        ratelimited(7),
        slackError("channel_not_found"),
        slackError("invalid_auth"),
        httpFailure(500),
      )
      .fail("users.info", ratelimited(1));
    const limited = await call("chat.postMessage", { channel: "C0APPROVALS", text: "x" });
    expect(limited.status).to.equal(429);
    expect(limited.headers.get("retry-after")).to.equal("7");
    expect(limited.body).to.deep.equal({ ok: false, error: "ratelimited" });
    const notFound = await call("chat.postMessage", { channel: "C0APPROVALS", text: "x" });
    expect([notFound.status, notFound.body]).to.deep.equal([200, { ok: false, error: "channel_not_found" }]);
    expect((await call("chat.postMessage", { channel: "C0APPROVALS", text: "x" })).body.error).to.equal("invalid_auth");
    const broken = await fetch(`${slack.apiUrl}chat.postMessage`, {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8", authorization: `Bearer ${FAKE_BOT_TOKEN}` },
      body: JSON.stringify({ channel: "C0APPROVALS", text: "x" }),
    });
    expect(broken.status).to.equal(500);
    expect(await broken.text()).to.include("Internal Server Error");
    expect(slack.messages).to.deep.equal([]);
    expect((await call("chat.postMessage", { channel: "C0APPROVALS", text: "x" })).body.ok).to.equal(true);
    expect(slack.callsTo("chat.postMessage").map((c) => c.status)).to.deep.equal([429, 200, 200, 500, 200]);
  });

  it("answers users.info's errors as Slack does: user_not_found, then queued missing_scope (needed, provided) and ratelimited", async () => {
    const form = (user: string) =>
      fetch(`${slack.apiUrl}users.info`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${FAKE_BOT_TOKEN}` },
        body: new URLSearchParams({ user }).toString(),
      }).then(async (r) => ({
        status: r.status,
        retryAfter: r.headers.get("retry-after"),
        body: (await r.json()) as any,
      }));
    expect(await form("U0NOBODY")).to.deep.equal({
      status: 200,
      retryAfter: null,
      body: { ok: false, error: "user_not_found" },
    });
    slack.fail("users.info", missingScope("users:read"), ratelimited(3));
    expect(await form("U0BOB")).to.deep.equal({
      status: 200,
      retryAfter: null,
      body: { ok: false, error: "missing_scope", needed: "users:read", provided: "chat:write" },
    });
    expect(await form("U0BOB")).to.deep.equal({
      status: 429,
      retryAfter: "3",
      body: { ok: false, error: "ratelimited" },
    });
    const bob = await form("U0BOB");
    expect(bob.body.user).to.deep.include({
      id: "U0BOB",
      name: "bob",
      real_name: "Bob Builder",
      team_id: "T0FAKETEAM",
    });
    expect(bob.body.user.profile).to.deep.include({ display_name: "bob", real_name: "Bob Builder" });
    expect(slack.callsTo("users.info").map((c) => [c.contentType, c.body, c.status])).to.deep.equal([
      ["application/x-www-form-urlencoded", { user: "U0NOBODY" }, 200],
      ["application/x-www-form-urlencoded", { user: "U0BOB" }, 200],
      ["application/x-www-form-urlencoded", { user: "U0BOB" }, 429],
      ["application/x-www-form-urlencoded", { user: "U0BOB" }, 200],
    ]);
  });

  it("opens a DM, posts in it, and answers users.info, auth.test, chat.postEphemeral, views.open as documented", async () => {
    const dm = (await call("conversations.open", { users: "U0ALICE" })).body;
    expect(dm).to.deep.equal({ ok: true, channel: { id: "D00ALICE" } });
    expect((await call("conversations.open", { users: "U0ALICE" })).body).to.deep.include({ already_open: true });
    expect((await call("conversations.open", { users: "U0NOBODY" })).body.error).to.equal("user_not_found");
    expect((await call("chat.postMessage", { channel: dm.channel.id, text: "Please approve" })).body.ok).to.equal(true);

    // users.info takes form arguments (its docs list only application/x-www-form-urlencoded).
    const info = await fetch(`${slack.apiUrl}users.info?user=U0ALICE`, {
      headers: { authorization: `Bearer ${FAKE_BOT_TOKEN}` },
    }).then((r) => r.json() as Promise<any>);
    expect(info.ok).to.equal(true);
    expect(info.user).to.deep.include({
      id: "U0ALICE",
      name: "alice",
      real_name: "Alice Approver",
      team_id: "T0FAKETEAM",
    });
    expect(info.user.profile).to.deep.include({ display_name: "Alice", real_name: "Alice Approver" });
    expect((await call("users.info", { user: "U0ALICE" })).body).to.deep.equal({
      ok: false,
      error: "invalid_arguments",
    });

    expect((await call("auth.test", {})).body).to.deep.include({
      ok: true,
      team_id: "T0FAKETEAM",
      user_id: "U0FAKEBOT",
    });

    const ephemeral = await call("chat.postEphemeral", {
      channel: "C0APPROVALS",
      user: "U0MALLORY",
      text: "Not an approver",
    });
    expect(ephemeral.body.ok).to.equal(true);
    expect(slack.ephemerals).to.deep.equal([
      { channel: "C0APPROVALS", user: "U0MALLORY", text: "Not an approver", message_ts: ephemeral.body.message_ts },
    ]);

    const view = {
      type: "modal",
      callback_id: "reject",
      private_metadata: "ref-1",
      title: { type: "plain_text", text: "Reject" },
    };
    const opened = await call("views.open", { trigger_id: "12345.98765.abcd2358fdea", view });
    expect(opened.body.ok).to.equal(true);
    expect(opened.body.view).to.deep.include({
      type: "modal",
      callback_id: "reject",
      private_metadata: "ref-1",
      team_id: "T0FAKETEAM",
    });
    expect((await call("views.open", { trigger_id: "12345.98765.abcd2358fdea", view })).body.error).to.equal(
      "exchanged_trigger_id",
    );
    expect((await call("views.open", { trigger_id: "nope", view })).body.error).to.equal("invalid_trigger_id");
    expect((await call("no.such.method", {})).body).to.deep.equal({ ok: false, error: "unknown_method" });
  });
});

describe("signed Slack interaction requests", () => {
  // Recomputed here as "Verifying requests from Slack" describes, independent of the helper's code.
  const verifies = (secret: string, headers: Record<string, string>, body: string, now = Date.now() / 1000) => {
    const timestamp = headers["x-slack-request-timestamp"];
    if (Math.abs(now - Number(timestamp)) > 300) return false;
    const expected = Buffer.from(`v0=${createHmac("sha256", secret).update(`v0:${timestamp}:${body}`).digest("hex")}`);
    const given = Buffer.from(headers["x-slack-signature"]);
    return expected.length === given.length && timingSafeEqual(expected, given);
  };

  const click = blockActionsPayload({
    userId: "U0ALICE",
    actionId: "approve",
    value: "ref-7f3a",
    messageTs: "1700000001.000001",
    triggerId: "12345.98765.abcd2358fdea",
    responseUrl: "http://127.0.0.1:1/actions/T0FAKETEAM/1/x",
  });

  it("sends payload=<JSON> form-encoded, with a signature that verifies with the signing secret", () => {
    const request = signedInteraction(click);
    expect(request.headers["content-type"]).to.equal("application/x-www-form-urlencoded");
    expect(request.body.startsWith("payload=%7B")).to.equal(true);
    expect(JSON.parse(new URLSearchParams(request.body).get("payload")!)).to.deep.equal(click);
    expect(request.headers["x-slack-signature"]).to.match(/^v0=[0-9a-f]{64}$/);
    expect(verifies(FAKE_SIGNING_SECRET, request.headers, request.body)).to.equal(true);
    expect(click).to.deep.include({ type: "block_actions", trigger_id: "12345.98765.abcd2358fdea" });
    expect(click.container).to.deep.equal({
      type: "message",
      message_ts: "1700000001.000001",
      channel_id: "C0APPROVALS",
      is_ephemeral: false,
    });
    expect(click.actions[0]).to.deep.include({ type: "button", action_id: "approve", value: "ref-7f3a" });
    const event = httpApiEvent(request);
    expect(event).to.deep.include({ body: request.body, isBase64Encoded: false });
    expect(event.requestContext.http.method).to.equal("POST");
  });

  it("gives variants that do not verify: another secret, a stale timestamp, a body changed after signing", () => {
    const good = signedInteraction(click);
    expect(verifies(FAKE_SIGNING_SECRET, withBadSignature(good).headers, good.body)).to.equal(false);
    const stale = staleInteraction(click);
    expect(Number(stale.headers["x-slack-request-timestamp"])).to.be.below(Date.now() / 1000 - 300);
    expect(verifies(FAKE_SIGNING_SECRET, stale.headers, stale.body)).to.equal(false);
    // Stale only by its age: the HMAC itself is right.
    expect(verifies(FAKE_SIGNING_SECRET, stale.headers, stale.body, stale.timestamp)).to.equal(true);
    const tampered = withTamperedBody(good, { ...click, actions: [{ ...click.actions[0], value: "other" }] });
    expect(verifies(FAKE_SIGNING_SECRET, tampered.headers, tampered.body)).to.equal(false);
  });

  it("builds a click from another team and a view_submission with private_metadata and state values", () => {
    const foreign = signedInteraction(fromAnotherTeam(click));
    expect(verifies(FAKE_SIGNING_SECRET, foreign.headers, foreign.body)).to.equal(true);
    expect(foreign.payload.team.id).to.equal("T0OTHERTEAM");
    expect(foreign.payload.user.team_id).to.equal("T0OTHERTEAM");
    const submission = viewSubmissionPayload({
      userId: "U0BOB",
      callbackId: "reject",
      privateMetadata: "ref-7f3a",
      values: { comment: { comment_input: "Budget exceeded" } },
    });
    expect(submission.type).to.equal("view_submission");
    expect(submission.view).to.deep.include({ callback_id: "reject", private_metadata: "ref-7f3a" });
    expect(submission.view.state.values).to.deep.equal({
      comment: { comment_input: { type: "plain_text_input", value: "Budget exceeded" } },
    });
    const request = signedInteraction(submission);
    expect(verifies(FAKE_SIGNING_SECRET, request.headers, request.body)).to.equal(true);
  });
});
