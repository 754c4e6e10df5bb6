// The slack mechanism's Block Kit: exact blocks for the sample request, Slack's documented limits
// (docs.slack.dev reference/block-kit) kept for oversized requests, and request text that cannot
// inject mentions or links (Slack "Formatting text": escape &, < and >).
import { expect } from "chai";
import { TRUNCATION_MARK } from "../functions/contract";
import { ACTION_IDS, COMMENT_CALLBACK_IDS } from "../functions/mechanisms/slack/interaction";
import {
  SLACK_LIMITS,
  SlackBlock,
  SlackMessage,
  commentModal,
  detailsText,
  ephemeralReply,
  escapeMrkdwn,
  finalMessage,
  fitEscaped,
  requestMessage,
  userMention,
} from "../functions/mechanisms/slack/message";
import { EXPENSE_REPORT } from "./helpers/fixtures";

const KEY = "k3Y_-0123456789abcdefghijklmnopqrstuvwxyzAB";
const DEADLINE = "2026-11-25T10:00:00Z";
const DECIDE_BY = "<!date^1795600800^{date_short_pretty} at {time}|2026-11-25 10:00 UTC>";
const EVIL = "Pay <!channel> now <https://evil.example|click> & <@U0BOSS>";
const EVIL_ESCAPED = "Pay &lt;!channel&gt; now &lt;https://evil.example|click&gt; &amp; &lt;@U0BOSS&gt;";

const text = (t: string) => ({ type: "mrkdwn", text: t, verbatim: true });
const plain = (t: string) => ({ type: "plain_text", text: t });

/** Every text object of a message or view, with where it sits. */
function texts(value: unknown, path = ""): { path: string; type: string; text: string }[] {
  if (Array.isArray(value)) return value.flatMap((item, index) => texts(item, `${path}[${index}]`));
  if (value === null || typeof value !== "object") return [];
  const object = value as Record<string, unknown>;
  const own =
    (object.type === "mrkdwn" || object.type === "plain_text") && typeof object.text === "string"
      ? [{ path, type: object.type, text: object.text }]
      : [];
  return [...own, ...Object.entries(object).flatMap(([key, item]) => texts(item, `${path}.${key}`))];
}

/** mrkdwn with the markup this file writes removed: what is left must hold no < or > (no mention, no link). */
function withoutOwnMarkup(mrkdwn: string): string {
  return mrkdwn
    .replace(/<@[UW][A-Z0-9]+>/g, "")
    .replace(/<!date\^[0-9]+\^\{date_short_pretty\} at \{time\}\|[0-9: -]+UTC>/g, "")
    .replace(/<https:\/\/[^\s<>|]+\|[^<>]*>/g, "");
}

/** Slack's documented limits, checked on a whole message or view. */
function expectWithinLimits(blocks: SlackBlock[]) {
  expect(blocks.length).to.be.at.most(SLACK_LIMITS.messageBlocks);
  for (const block of blocks) {
    if (block.type === "header") expect((block.text as { text: string }).text.length).to.be.at.most(150);
    if (block.type === "section") {
      const fields = (block.fields as { text: string }[] | undefined) ?? [];
      expect(fields.length).to.be.at.most(10);
      for (const field of fields) expect(field.text.length).to.be.at.most(2000);
      if (block.text) expect((block.text as { text: string }).text.length).to.be.at.most(3000);
    }
    if (block.type === "actions") {
      for (const element of block.elements as { text: { text: string }; value: string; action_id: string }[]) {
        expect(element.text.text.length).to.be.at.most(75);
        expect(element.value.length).to.be.at.most(2000);
        expect(element.action_id.length).to.be.at.most(255);
      }
    }
  }
  for (const t of texts(blocks)) {
    expect(t.text.length, t.path).to.be.greaterThan(0);
    if (t.type === "mrkdwn") expect(withoutOwnMarkup(t.text), t.path).to.not.match(/[<>]|&(?!amp;|lt;|gt;)/);
  }
}

function expectInert(message: SlackMessage) {
  expectWithinLimits(message.blocks);
  expect(withoutOwnMarkup(message.text)).to.not.match(/[<>]/);
  for (const t of texts(message.blocks).filter((t) => t.type === "mrkdwn")) {
    expect(t.text).to.not.include("<!channel>");
    expect(t.text).to.not.include("<https://evil.example");
    expect(t.text).to.not.include("<@U0BOSS>");
  }
}

const SAMPLE_FIELDS = [
  text("*Requester*\nJane Doe &lt;jane@example.com&gt;"),
  text("*Amount*\n750.5 USD"),
  text("*Request ID*\nER98765"),
  text("*Stage*\nfinance"),
  text("*Link*\n<https://example.com/reports/ER98765|https://example.com/reports/ER98765>"),
];
// Details are the requester's free text: plain_text without emoji codes, shown as typed.
const literal = (t: string) => ({ type: "plain_text", text: t, emoji: false });
const SAMPLE_DETAILS = {
  type: "section",
  text: literal("Details\ntransactions:\n• date: 2024-09-20 · description: Flight to New York · amount: 450"),
};

describe("Slack messages", () => {
  it("posts the sample request with its fields, details, deadline, progress and the two buttons", () => {
    const message = requestMessage({
      request: EXPENSE_REPORT,
      stage: "finance",
      requestKey: KEY,
      deadline: DEADLINE,
      required: 2,
      approverCount: 3,
    });
    expect(message).to.deep.equal({
      text: "Approval requested (finance): Expense report ER98765",
      blocks: [
        { type: "header", text: plain("Expense report ER98765") },
        {
          type: "section",
          fields: [...SAMPLE_FIELDS, text(`*Decide by*\n${DECIDE_BY}`), text("*Approvals needed*\n2 of 3 approvers")],
        },
        SAMPLE_DETAILS,
        { type: "section", text: text("No approvals yet: 2 more approvals needed.") },
        {
          type: "actions",
          elements: [
            { type: "button", action_id: ACTION_IDS.approve, text: plain("Approve"), style: "primary", value: KEY },
            { type: "button", action_id: ACTION_IDS.reject, text: plain("Reject"), style: "danger", value: KEY },
          ],
        },
      ],
    });
    expectWithinLimits(message.blocks);
  });

  it("updates the progress after each approval and keeps the buttons", () => {
    const message = requestMessage({
      request: { title: "Deploy" },
      stage: "prod",
      requestKey: KEY,
      deadline: DEADLINE,
      required: 3,
      approverCount: 3,
      approvals: [
        { userId: "U0ALICE", at: "2026-11-22T10:00:00Z" },
        { userId: "W0BOB", at: "2026-11-22T10:05:00Z" },
      ],
    });
    expect(message.blocks.slice(1)).to.deep.equal([
      {
        type: "section",
        fields: [
          text("*Stage*\nprod"),
          text(`*Decide by*\n${DECIDE_BY}`),
          text("*Approvals needed*\n3 of 3 approvers"),
        ],
      },
      { type: "section", text: text("Approved so far: <@U0ALICE>, <@W0BOB> (2 of 3). 1 more approval needed.") },
      message.blocks[3],
    ]);
    expect(message.blocks[3].type).to.equal("actions");
  });

  it("replaces the buttons with who decided, when, and the comment", () => {
    const base = { request: EXPENSE_REPORT, stage: "finance", required: 2 };
    const approved = finalMessage({
      ...base,
      outcome: {
        decision: "approved",
        approvals: [
          { userId: "U0ALICE", at: "2026-11-22T10:00:00Z" },
          { userId: "U0BOB", at: "2026-11-22T11:00:00Z", comment: "fine by me" },
        ],
      },
    });
    expect(approved).to.deep.equal({
      text: "Approved (finance): Expense report ER98765",
      blocks: [
        { type: "header", text: plain("Expense report ER98765") },
        { type: "section", fields: SAMPLE_FIELDS },
        SAMPLE_DETAILS,
        {
          type: "section",
          text: text(
            ":white_check_mark: *Approved* on <!date^1795345200^{date_short_pretty} at {time}|2026-11-22 11:00 UTC> by <@U0ALICE>, <@U0BOB>.\nComment from <@U0BOB>: fine by me",
          ),
        },
      ],
    });
    const rejected = finalMessage({
      ...base,
      outcome: {
        decision: "rejected",
        rejection: { userId: "U0CAROL", at: "2026-11-22T12:00:00Z", comment: EVIL },
        approvals: [{ userId: "U0ALICE", at: "2026-11-22T10:00:00Z" }],
      },
    });
    expect(rejected.text).to.equal("Rejected (finance): Expense report ER98765");
    expect(rejected.blocks[3]).to.deep.equal({
      type: "section",
      text: text(
        `:x: *Rejected* by <@U0CAROL> on <!date^1795348800^{date_short_pretty} at {time}|2026-11-22 12:00 UTC>.\nComment: ${EVIL_ESCAPED}\nApproved before the rejection: <@U0ALICE>.`,
      ),
    });
    expectInert(rejected);
    const timedOut = finalMessage({
      ...base,
      outcome: { decision: "timed_out", at: DEADLINE, approvals: [{ userId: "U0ALICE", at: "2026-11-22T10:00:00Z" }] },
    });
    expect(timedOut.text).to.equal("Timed out (finance): Expense report ER98765");
    expect(timedOut.blocks[3]).to.deep.equal({
      type: "section",
      text: text(
        `:hourglass: *Timed out* on ${DECIDE_BY} with 1 of 2 approvals: approved by <@U0ALICE>. Nothing was approved.`,
      ),
    });
    for (const message of [approved, rejected, timedOut]) {
      expect(message.blocks.map((block) => block.type)).to.not.include("actions");
    }
  });

  it("shows request text inert: no mention, link or markup escapes from a title, requester or details", () => {
    const request = {
      title: EVIL,
      requester: EVIL,
      requestId: "<!here>",
      currency: "<!everyone>",
      amount: 1,
      link: "javascript:alert(1)",
      details: { [EVIL]: [{ note: EVIL }], other: "<#C0GENERAL>" },
    };
    const message = requestMessage({
      request,
      stage: "s",
      requestKey: KEY,
      deadline: DEADLINE,
      required: 1,
      approverCount: 1,
    });
    expectInert(message);
    // The header is plain_text, which takes no markup: shown as typed. Everything in mrkdwn is escaped.
    expect(message.blocks[0]).to.deep.equal({ type: "header", text: plain(EVIL) });
    expect(message.text).to.equal(`Approval requested (s): ${EVIL_ESCAPED}`);
    expect((message.blocks[1].fields as unknown[]).slice(0, 4)).to.deep.equal([
      text(`*Requester*\n${EVIL_ESCAPED}`),
      text("*Amount*\n1 &lt;!everyone&gt;"),
      text("*Request ID*\n&lt;!here&gt;"),
      text("*Stage*\ns"),
    ]);
    // A link that is not https stays text.
    expect((message.blocks[1].fields as unknown[])[4]).to.deep.equal(text("*Link*\njavascript:alert(1)"));
    // Details are plain_text: no markup and no :emoji: codes render, so nothing in them is escaped.
    expect(message.blocks[2]).to.deep.equal({
      type: "section",
      text: literal(`Details\n${EVIL}:\n• note: ${EVIL}\nother: <#C0GENERAL>`),
    });
    // An https link that would close the markup early is not a link.
    for (const link of ["https://a.example/|<!channel>", "https://a.example/>x", "https://a.example/ x"]) {
      const fields = requestMessage({
        request: { title: "t", link },
        stage: "s",
        requestKey: KEY,
        deadline: DEADLINE,
        required: 1,
        approverCount: 1,
      }).blocks[1].fields as { text: string }[];
      expect(fields[1].text).to.equal(`*Link*\n${escapeMrkdwn(link)}`);
    }
    const modal = commentModal({ vote: "reject", requestKey: KEY, request });
    for (const t of texts(modal.blocks).filter((t) => t.type === "mrkdwn")) {
      expect(withoutOwnMarkup(t.text)).to.not.match(/[<>]/);
    }
    expect(userMention("U0ALICE")).to.equal("<@U0ALICE>");
    expect(userMention("<!channel>")).to.equal("&lt;!channel&gt;");
    expect(ephemeralReply("<!channel> you are not an approver")).to.deep.equal({
      response_type: "ephemeral",
      replace_original: false,
      text: "&lt;!channel&gt; you are not an approver",
    });
  });

  it("never lets a link's label hide its host, and drops bidirectional controls from request text", () => {
    const linkField = (link: string) =>
      (
        requestMessage({
          request: { title: "t", link },
          stage: "s",
          requestKey: KEY,
          deadline: DEADLINE,
          required: 1,
          approverCount: 1,
        }).blocks[1].fields as { text: string }[]
      )[1].text;
    // A user name before the host (https://trusted.example@evil.example/) is not a link.
    const userinfo = `https://reports.example.com.${"a".repeat(200)}@evil.example/r`;
    expect(linkField(userinfo)).to.equal(`*Link*\n${userinfo}`);
    expect(linkField("https://reports.example.com:pw@evil.example/")).to.equal(
      "*Link*\nhttps://reports.example.com:pw@evil.example/",
    );
    // A long link is labelled with its host, never a cut URL.
    const long = `https://evil.example/${"a".repeat(300)}`;
    expect(linkField(long)).to.equal(`*Link*\n<${long}|evil.example/…>`);
    // A host too long for a label is not a link.
    const longHost = `https://reports.example.com.${"a".repeat(200)}.evil.example/`;
    expect(linkField(longHost)).to.equal(`*Link*\n${longHost}`);
    // A right-to-left override would show the URL in another order: not a link.
    expect(linkField("https://evil.example/\u202efdp.exe")).to.equal("*Link*\nhttps://evil.example/fdp.exe");
    const message = requestMessage({
      request: { title: "Pay \u202e0001\u202c USD", requester: "\u2066Bob\u2069", details: { "\u202ekey": "\u200fv" } },
      stage: "s",
      requestKey: KEY,
      deadline: DEADLINE,
      required: 1,
      approverCount: 1,
    });
    expect(JSON.stringify(message)).to.not.match(/\\u(061c|200e|200f|202[a-e]|206[6-9])/i);
    expect(JSON.stringify(message)).to.not.match(/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/);
    expect(message.blocks[0]).to.deep.equal({ type: "header", text: plain("Pay 0001 USD") });
    expect(message.blocks[2]).to.deep.equal({ type: "section", text: literal("Details\nkey: v") });
  });

  it("cuts oversized text to Slack's limits, never half an entity", () => {
    const huge = "<&>".repeat(5000);
    const request = {
      title: "T".repeat(500),
      requester: "R".repeat(5000),
      requestId: huge,
      amount: 1e21,
      currency: "C".repeat(3000),
      link: `https://example.com/${"&".repeat(900)}`,
      details: { rows: Array.from({ length: 2000 }, (_, i) => ({ i, text: huge.slice(0, 30) })) },
    };
    const message = requestMessage({
      request,
      stage: "s",
      requestKey: KEY,
      deadline: DEADLINE,
      required: 50,
      approverCount: 50,
      approvals: Array.from({ length: 49 }, (_, i) => ({ userId: `U${"9".repeat(60)}${i}`, at: DEADLINE })),
    });
    expectInert(message);
    const header = (message.blocks[0].text as { text: string }).text;
    expect(header).to.have.length(150);
    expect(header.endsWith(TRUNCATION_MARK)).to.equal(true);
    const fields = message.blocks[1].fields as { text: string }[];
    expect(fields[0].text).to.have.length(2000);
    expect(fields[2].text).to.match(/(&amp;|&lt;|&gt;)\.\.\. \(truncated\)$/);
    // 900 escaped & make the link too long for <url|label>: shown as (cut) text instead.
    expect(fields[4].text.startsWith("*Link*\nhttps://example.com/&amp;")).to.equal(true);
    const details = (message.blocks[2].text as { text: string }).text;
    expect(details).to.have.length.at.most(3000);
    expect(details.endsWith(TRUNCATION_MARK)).to.equal(true);
    const progress = (message.blocks[3].text as { text: string }).text;
    expect(progress).to.match(/ and [0-9]+ more \(49 of 50\)\. 1 more approval needed\.$/);

    const votes = Array.from({ length: 50 }, (_, i) => ({
      userId: `U${"9".repeat(60)}${i}`,
      at: DEADLINE,
      comment: huge,
    }));
    for (const outcome of [
      { decision: "approved" as const, approvals: votes },
      { decision: "rejected" as const, rejection: votes[0], approvals: votes.slice(1) },
      { decision: "timed_out" as const, at: DEADLINE, approvals: votes.slice(1) },
    ]) {
      expectInert(finalMessage({ request, stage: "s", required: 50, outcome }));
    }
    expect(fitEscaped("a&b", 7)).to.equal("a&amp;b");
    expect(fitEscaped("<".repeat(10), 20)).to.equal(`&lt;${TRUNCATION_MARK}`);
    expect(fitEscaped("<".repeat(10), 21)).to.equal(`&lt;${TRUNCATION_MARK}`);
    expect(fitEscaped("ab<", 6)).to.equal("ab&lt;");
  });

  it("asks for a comment in a modal that carries only the request key", () => {
    expect(commentModal({ vote: "reject", requestKey: KEY, request: EXPENSE_REPORT })).to.deep.equal({
      type: "modal",
      callback_id: COMMENT_CALLBACK_IDS.reject,
      private_metadata: KEY,
      title: plain("Reject request"),
      submit: plain("Reject"),
      close: plain("Cancel"),
      blocks: [
        { type: "section", text: text("You are rejecting:\n*Expense report ER98765*") },
        {
          type: "input",
          block_id: "comment",
          optional: false,
          label: plain("Why are you rejecting it?"),
          element: { type: "plain_text_input", action_id: "comment", multiline: true, max_length: 3000 },
        },
      ],
    });
    const approve = commentModal({ vote: "approve", requestKey: KEY, request: { title: "x".repeat(4000) } });
    expect(approve.callback_id).to.equal(COMMENT_CALLBACK_IDS.approve);
    expect(approve.blocks[1].optional).to.equal(true);
    for (const label of [approve.title, approve.submit, approve.close]) expect(label.text.length).to.be.at.most(24);
    expectWithinLimits(approve.blocks);
  });

  it("refuses to build buttons or a modal without a request key", () => {
    const token = `AQCEAAAAKgAAAAMAAAAAAAAAAe+/=${"Zm9v".repeat(20)}`;
    expect(() =>
      requestMessage({
        request: EXPENSE_REPORT,
        stage: "s",
        requestKey: token,
        deadline: DEADLINE,
        required: 1,
        approverCount: 1,
      }),
    ).to.throw("requestMessage needs a request key");
    expect(() => commentModal({ vote: "reject", requestKey: token, request: EXPENSE_REPORT })).to.throw(
      "commentModal needs a request key",
    );
    expect(() =>
      requestMessage({
        request: EXPENSE_REPORT,
        stage: "s",
        requestKey: KEY,
        deadline: "soon",
        required: 1,
        approverCount: 1,
      }),
    ).to.throw("Invalid date 'soon'");
  });

  it("writes details as readable lines", () => {
    expect(detailsText("a\nb")).to.equal("a b");
    expect(detailsText([1, { a: 1, b: [2, 3] }])).to.equal("• 1\n• a: 1 · b: [2,3]");
    expect(detailsText({ n: null, list: [], nested: { deep: { deeper: true } } })).to.equal(
      'n: null\nlist: \nnested: deep: {"deeper":true}',
    );
  });
});
