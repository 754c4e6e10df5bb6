// parseInteraction on interaction bodies as Slack sends them (tests/helpers/slackInteractions.ts
// builds them after docs.slack.dev's block_actions and view_submission payload references):
// good clicks and comment submissions, and every missing, mistyped or foreign field refused.
import { expect } from "chai";
import {
  ACTION_IDS,
  COMMENT_ACTION_ID,
  COMMENT_BLOCK_ID,
  COMMENT_CALLBACK_IDS,
  REQUEST_KEY_BYTES,
  isRequestKey,
  newRequestKey,
  parseInteraction,
} from "../functions/mechanisms/slack/interaction";
import { blockActionsPayload, viewSubmissionPayload } from "./helpers/slackInteractions";

const KEY = "k3Y_-0123456789abcdefghijklmnopqrstuvwxyzAB";
const RESPONSE_URL = "https://hooks.slack.com/actions/T0FAKETEAM/1234567890/fakeResponseUrlSecret";

function body(payload: unknown): string {
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

function click(overrides: Record<string, unknown> = {}) {
  return {
    ...blockActionsPayload({
      userId: "U0ALICE",
      userName: "alice",
      actionId: ACTION_IDS.approve,
      value: KEY,
      messageTs: "1790000000.000100",
    }),
    ...overrides,
  };
}

function submission(vote: "approve" | "reject", comment: unknown) {
  return viewSubmissionPayload({
    userId: "U0BOB",
    userName: "bob",
    callbackId: COMMENT_CALLBACK_IDS[vote],
    privateMetadata: KEY,
    values: { [COMMENT_BLOCK_ID]: { [COMMENT_ACTION_ID]: { type: "plain_text_input", value: comment } } },
  });
}

function reasonOf(payload: unknown, raw?: string): string {
  const result = parseInteraction(raw ?? body(payload));
  expect(result.ok).to.equal(false);
  return result.ok ? "" : result.reason;
}

describe("Slack interactions", () => {
  it("request keys are 32 random bytes in base64url (43 characters)", () => {
    expect(REQUEST_KEY_BYTES).to.equal(32);
    const keys = new Set(Array.from({ length: 20 }, newRequestKey));
    expect(keys.size).to.equal(20);
    for (const key of keys) expect(key).to.match(/^[A-Za-z0-9_-]{43}$/);
    expect(isRequestKey(KEY)).to.equal(true);
    for (const bad of [KEY.slice(1), `${KEY}A`, `${KEY.slice(1)}=`, `${KEY.slice(1)}+`, 42, null, undefined]) {
      expect(isRequestKey(bad), String(bad)).to.equal(false);
    }
  });

  it("reads a click on Approve or Reject", () => {
    expect(parseInteraction(body(click()))).to.deep.equal({
      ok: true,
      interaction: {
        kind: "block_actions",
        teamId: "T0FAKETEAM",
        userId: "U0ALICE",
        userName: "alice",
        vote: "approve",
        requestKey: KEY,
        channelId: "C0APPROVALS",
        messageTs: "1790000000.000100",
        triggerId: "13345224609.738474920.8088930838d88f008e0",
        responseUrl: RESPONSE_URL,
      },
    });
    const reject = blockActionsPayload({
      userId: "W0CAROL",
      actionId: ACTION_IDS.reject,
      value: KEY,
      messageTs: "1.2",
    });
    const parsed = parseInteraction(body(reject));
    expect(parsed.ok && parsed.interaction.kind === "block_actions" && parsed.interaction.vote).to.equal("reject");
  });

  it("reads a submitted comment modal; an approve comment may be empty, a reject one may not", () => {
    expect(parseInteraction(body(submission("reject", "  Budget exceeded \n")))).to.deep.equal({
      ok: true,
      interaction: {
        kind: "view_submission",
        teamId: "T0FAKETEAM",
        userId: "U0BOB",
        userName: "bob",
        vote: "reject",
        requestKey: KEY,
        comment: "Budget exceeded",
      },
    });
    for (const empty of [null, "", "   "]) {
      const approve = parseInteraction(body(submission("approve", empty)));
      expect(approve.ok && approve.interaction.kind === "view_submission" && approve.interaction.comment).to.equal(
        null,
      );
      expect(reasonOf(submission("reject", empty))).to.equal("a rejection needs a comment");
    }
    expect(reasonOf(submission("approve", 42))).to.equal("the comment is not a string");
  });

  it("refuses bodies that are not one form-encoded JSON payload", () => {
    expect(reasonOf(null, "")).to.equal("the request has no body");
    expect(reasonOf(null, JSON.stringify(click()))).to.equal("the body must hold exactly one payload field");
    expect(reasonOf(null, `${body(click())}&${body(click())}`)).to.equal(
      "the body must hold exactly one payload field",
    );
    expect(reasonOf(null, "payload=%7Bnot%20json")).to.equal("the payload is not JSON");
    expect(reasonOf(null, "payload=%5B1%5D")).to.equal("the payload is not a JSON object");
    expect(reasonOf(null, `payload=${"a".repeat(1_000_001)}`)).to.equal("the request body is too large");
    expect(reasonOf({ ...click(), type: "view_closed" })).to.equal(
      "the payload's type is neither block_actions nor view_submission",
    );
  });

  it("refuses a click with any field missing, mistyped or not ours", () => {
    const cases: [string, Record<string, unknown>][] = [
      ["team is missing or not an object", { team: null }],
      ["team.id is missing or not a non-empty string", { team: { domain: "x" } }],
      ["team.id does not have the expected format", { team: { id: "T0<!channel>" } }],
      ["user.id is missing or not a non-empty string", { user: { name: "alice" } }],
      ["user.id does not have the expected format", { user: { id: "u0alice", name: "alice" } }],
      ["user.name is missing or not a non-empty string", { user: { id: "U0ALICE", name: 7 } }],
      ["actions must hold exactly one action", { actions: [] }],
      ["actions must hold exactly one action", { actions: [click().actions[0], click().actions[0]] }],
      ["actions[0].type is not button", { actions: [{ ...click().actions[0], type: "static_select" }] }],
      [
        "actions[0].action_id is not an action of this app",
        { actions: [{ ...click().actions[0], action_id: "approve" }] },
      ],
      // A task token (or anything but a request key) in the value is refused, never looked up.
      [
        "actions[0].value is not a request key",
        { actions: [{ ...click().actions[0], value: `AQCEAAAAKgAAAAMAAAAAAAAAAe+/=${KEY}` }] },
      ],
      ["actions[0].value is not a request key", { actions: [{ ...click().actions[0], value: undefined }] }],
      ["container is missing or not an object", { container: "message" }],
      ["container.type is not message", { container: { ...click().container, type: "view" } }],
      ["container is an ephemeral message", { container: { ...click().container, is_ephemeral: true } }],
      [
        "container.channel_id does not have the expected format",
        { container: { ...click().container, channel_id: "#approvals" } },
      ],
      [
        "container.message_ts does not have the expected format",
        { container: { ...click().container, message_ts: "1790000000" } },
      ],
      [
        "container.message_ts is missing or not a non-empty string",
        { container: { ...click().container, message_ts: 1790000000.0001 } },
      ],
      ["trigger_id is missing or not a non-empty string", { trigger_id: undefined }],
      ["response_url is missing or not a non-empty string", { response_url: undefined }],
      ["response_url does not point to Slack", { response_url: "https://evil.example/hooks.slack.com/" }],
      ["response_url does not point to Slack", { response_url: "http://hooks.slack.com/actions/T/1/x" }],
    ];
    for (const [reason, overrides] of cases) expect(reasonOf(click(overrides)), reason).to.equal(reason);
    // The sandbox's fake Slack answers on 127.0.0.1: the prefix is the caller's to set.
    const local = parseInteraction(body(click({ response_url: "http://127.0.0.1:4000/response/1" })), {
      responseUrlPrefix: "http://127.0.0.1:4000/",
    });
    expect(local.ok).to.equal(true);
  });

  it("refuses a submission with any field missing, mistyped or not ours", () => {
    const good = submission("reject", "no");
    const view = good.view;
    const cases: [string, Record<string, unknown>][] = [
      ["team is missing or not an object", { team: null }],
      ["user.id is missing or not a non-empty string", { user: {} }],
      ["view is missing or not an object", { view: undefined }],
      ["view.type is not modal", { view: { ...view, type: "home" } }],
      ["view.callback_id is not a view of this app", { view: { ...view, callback_id: "something-else" } }],
      ["view.private_metadata is not a request key", { view: { ...view, private_metadata: "" } }],
      ["view.private_metadata is not a request key", { view: { ...view, private_metadata: `${KEY}:extra` } }],
      ["view.state is missing or not an object", { view: { ...view, state: undefined } }],
      ["view.state.values.comment is missing or not an object", { view: { ...view, state: { values: {} } } }],
      [
        "view.state.values.comment.comment is missing or not an object",
        { view: { ...view, state: { values: { comment: { other: { type: "plain_text_input", value: "x" } } } } } },
      ],
      [
        "the comment input is not a plain_text_input",
        { view: { ...view, state: { values: { comment: { comment: { type: "static_select", value: "x" } } } } } },
      ],
    ];
    for (const [reason, overrides] of cases) expect(reasonOf({ ...good, ...overrides }), reason).to.equal(reason);
  });

  it("never echoes payload values in a reason", () => {
    const secretish = "https://hooks.slack.com/actions/T0FAKETEAM/1/SECRET";
    const reasons = [
      reasonOf(click({ trigger_id: 5, response_url: secretish })),
      reasonOf(click({ actions: [{ ...click().actions[0], value: "AQCEAAAAKgTOKEN" }] })),
      reasonOf(click({ response_url: "https://evil.example/SECRET" })),
    ];
    for (const reason of reasons) {
      expect(reason).to.not.include("SECRET");
      expect(reason).to.not.include("TOKEN");
    }
  });
});
