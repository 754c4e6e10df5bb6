// The Slack request store against a DynamoDB fake on 127.0.0.1 (tests/helpers/fakeSlackRequestTable.ts)
// that evaluates exactly the expressions the store sends: quorum, rejection, double clicks,
// non-approvers, late votes, concurrent deciding votes, table errors, and the key never stored.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { expect } from "chai";
import { newRequestKey } from "../functions/mechanisms/slack/interaction";
import {
  NewSlackRequest,
  SlackVoteInput,
  bindMessage,
  createRequest,
  getRequest,
  markDelivered,
  markTimedOut,
  openRequestToken,
  recordVote,
  requestKeyHash,
  undeliveredDecision,
} from "../functions/mechanisms/slack/requestStore";
import { AwsError, FakeAws, fakeTaskToken } from "./helpers/fakeAws";
import { FakeSlackRequestTable } from "./helpers/fakeSlackRequestTable";

const TABLE = "sfn-approvals-dev-slack-requests";
const EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:sfn-approvals-dev:run-1";
const TOKEN = fakeTaskToken("slack");
const DEADLINE = "2026-11-25T10:00:00.000Z";
const BEFORE = "2026-11-22T10:00:00.000Z";

describe("Slack request store", () => {
  const aws = new FakeAws();
  let db: DynamoDBClient;
  let table: FakeSlackRequestTable;

  before(async () => {
    await aws.start();
    db = new DynamoDBClient({
      region: "eu-west-1",
      endpoint: aws.url,
      credentials: { accessKeyId: "AKIAFAKE", secretAccessKey: "fake" },
      maxAttempts: 1,
    });
  });
  after(async () => {
    db.destroy();
    await aws.stop();
  });
  beforeEach(() => {
    aws.reset();
    table = new FakeSlackRequestTable(TABLE);
    table.serve(aws);
  });

  function request(overrides: Partial<NewSlackRequest> = {}): NewSlackRequest {
    return {
      requestKey: newRequestKey(),
      taskToken: TOKEN,
      executionArn: EXECUTION,
      stage: "manager",
      approvers: ["U0ALICE", "U0BOB", "W0CAROL"],
      required: 2,
      deadline: DEADLINE,
      ttl: Date.parse(DEADLINE) / 1000 + 86400,
      createdAt: "2026-11-22T09:00:00.000Z",
      ...overrides,
    };
  }

  function vote(requestKey: string, userId: string, overrides: Partial<SlackVoteInput> = {}): SlackVoteInput {
    return {
      requestKey,
      userId,
      vote: "approve",
      comment: null,
      userName: userId.toLowerCase(),
      teamId: "T0FAKETEAM",
      at: BEFORE,
      ...overrides,
    };
  }

  const updates = () => aws.requests.filter((r) => r.operation === "UpdateItem");

  it("stores the request under sha256(key) with the token sealed: the item holds neither the key nor the token", async () => {
    const input = request();
    const keyHash = await createRequest(db, TABLE, input);
    expect(keyHash)
      .to.equal(requestKeyHash(input.requestKey))
      .and.match(/^[0-9a-f]{64}$/);
    const [put] = aws.requests;
    expect(put.operation).to.equal("PutItem");
    expect(put.body.ConditionExpression).to.equal("attribute_not_exists(#keyHash)");
    expect(put.body.ExpressionAttributeNames).to.deep.equal({ "#keyHash": "keyHash" });
    const { sealedToken, ...rest } = put.body.Item;
    expect(rest).to.deep.equal({
      keyHash: { S: keyHash },
      executionArn: { S: EXECUTION },
      stage: { S: "manager" },
      approvers: { SS: ["U0ALICE", "U0BOB", "W0CAROL"] },
      required: { N: "2" },
      approvals: { N: "0" },
      votes: { M: {} },
      status: { S: "waiting" },
      deadline: { S: DEADLINE },
      expiresAt: { N: String(Date.parse(DEADLINE) / 1000 + 86400) },
      createdAt: { S: "2026-11-22T09:00:00.000Z" },
    });
    const stored = JSON.stringify([...table.items.values()]);
    expect(stored).not.to.contain(input.requestKey);
    expect(stored).not.to.contain(TOKEN);
    expect(stored).not.to.contain(TOKEN.slice(20, 60));
    // The sealed token opens only with the key, for this stage and execution.
    expect(openRequestToken(input.requestKey, sealedToken.S, "manager", EXECUTION)).to.equal(TOKEN);
    expect(openRequestToken(input.requestKey, sealedToken.S, "finance", EXECUTION)).to.equal(undefined);
    expect(openRequestToken(input.requestKey, sealedToken.S, "manager", `${EXECUTION}-2`)).to.equal(undefined);
    expect(openRequestToken(newRequestKey(), sealedToken.S, "manager", EXECUTION)).to.equal(undefined);
    // A key is never stored twice.
    await createRequest(db, TABLE, input).then(
      () => expect.fail("a second request with the same key was stored"),
      (error: Error) => expect(error.message).to.equal("a request with this key already exists"),
    );
  });

  it("refuses a request that could not be voted on as configured (no write)", async () => {
    const bad: Array<[Partial<NewSlackRequest>, string]> = [
      [{ requestKey: "short" }, "request key"],
      [{ taskToken: "" }, "task token"],
      [{ approvers: [] }, "1 to 50 approvers"],
      [{ approvers: ["alice"] }, "Slack user ID"],
      [{ approvers: ["U0ALICE", "U0ALICE"] }, "must not repeat"],
      [{ required: 4 }, "required"],
      [{ required: 0 }, "required"],
      [{ deadline: "tomorrow" }, "deadline"],
      [{ ttl: Date.parse(DEADLINE) / 1000 - 1 }, "ttl"],
    ];
    for (const [overrides, message] of bad) {
      await createRequest(db, TABLE, request(overrides)).then(
        () => expect.fail(`accepted ${JSON.stringify(overrides)}`),
        (error: Error) => expect(error.message).to.contain(message),
      );
    }
    expect(aws.requests).to.have.length(0);
  });

  it("binds the posted message once (the same message again is fine, another one is refused)", async () => {
    const keyHash = await createRequest(db, TABLE, request());
    expect(await bindMessage(db, TABLE, keyHash, { channel: "C0APPROVALS", ts: "1535813905.000100" })).to.equal(true);
    expect(await bindMessage(db, TABLE, keyHash, { channel: "C0APPROVALS", ts: "1535813905.000100" })).to.equal(true);
    expect(await bindMessage(db, TABLE, keyHash, { channel: "C0OTHER", ts: "1535813999.000100" })).to.equal(false);
    expect(await bindMessage(db, TABLE, "0".repeat(64), { channel: "C0APPROVALS", ts: "1.2" })).to.equal(false);
    const item = table.items.get(keyHash)!;
    expect([item.channel, item.ts]).to.deep.equal([{ S: "C0APPROVALS" }, { S: "1535813905.000100" }]);
    expect(updates()[0].body).to.deep.include({
      UpdateExpression: "SET #channel = :channel, #ts = :ts",
      ConditionExpression:
        "attribute_exists(#keyHash) AND (attribute_not_exists(#channel) OR (#channel = :channel AND #ts = :ts))",
    });
  });

  it("quorum 2 of 3: the first approval is counted, the second decides approved and returns the token", async () => {
    const input = request();
    const keyHash = await createRequest(db, TABLE, input);
    aws.requests.length = 0;
    const first = await recordVote(db, TABLE, vote(input.requestKey, "U0ALICE", { comment: "  fine by me  " }));
    expect(first.kind).to.equal("counted");
    if (first.kind !== "counted") return;
    expect([first.approvals, first.needed]).to.deep.equal([1, 1]);
    expect(first.record.votes).to.deep.equal([
      {
        userId: "U0ALICE",
        vote: "approve",
        at: BEFORE,
        comment: "fine by me",
        userName: "u0alice",
        teamId: "T0FAKETEAM",
      },
    ]);
    // One consistent read, then one conditional UpdateItem that counts on the count it saw.
    expect(aws.operations()).to.deep.equal(["GetItem", "UpdateItem"]);
    expect(aws.requests[0].body).to.deep.equal({
      TableName: TABLE,
      Key: { keyHash: { S: keyHash } },
      ConsistentRead: true,
    });
    expect(aws.requests[1].body).to.deep.equal({
      TableName: TABLE,
      Key: { keyHash: { S: keyHash } },
      UpdateExpression: "SET #votes.#user = :vote ADD #approvals :inc",
      ConditionExpression:
        "attribute_exists(#keyHash) AND #status = :waiting AND #deadline > :at AND contains(#approvers, :user)" +
        " AND attribute_not_exists(#votes.#user) AND #approvals = :seen",
      ExpressionAttributeNames: {
        "#keyHash": "keyHash",
        "#status": "status",
        "#deadline": "deadline",
        "#approvers": "approvers",
        "#votes": "votes",
        "#user": "U0ALICE",
        "#approvals": "approvals",
      },
      ExpressionAttributeValues: {
        ":waiting": { S: "waiting" },
        ":at": { S: BEFORE },
        ":user": { S: "U0ALICE" },
        ":seen": { N: "0" },
        ":vote": {
          M: {
            vote: { S: "approve" },
            at: { S: BEFORE },
            comment: { S: "fine by me" },
            userName: { S: "u0alice" },
            teamId: { S: "T0FAKETEAM" },
          },
        },
        ":inc": { N: "1" },
      },
      ReturnValues: "ALL_NEW",
    });

    aws.requests.length = 0;
    const at = "2026-11-22T11:00:00.000Z";
    const second = await recordVote(db, TABLE, vote(input.requestKey, "W0CAROL", { at }));
    expect(second.kind).to.equal("decided");
    if (second.kind !== "decided") return;
    expect(second.decision).to.deep.equal({
      approved: true,
      decision: "approved",
      stage: "manager",
      approver: "W0CAROL",
      comment: null,
      decidedAt: at,
    });
    expect(second.approvals).to.equal(2);
    expect(second.taskToken).to.equal(TOKEN);
    expect(second.decidedBy).to.deep.equal({ userId: "W0CAROL", userName: "w0carol", teamId: "T0FAKETEAM" });
    expect(second.record.votes.map((v) => v.userId)).to.deep.equal(["U0ALICE", "W0CAROL"]);
    const decide = aws.requests[1].body;
    expect(decide.UpdateExpression).to.equal(
      "SET #votes.#user = :vote, #status = :decided, #decision = :decision, #decidedBy = :user, #decidedAt = :at" +
        " ADD #approvals :inc",
    );
    expect(decide.ExpressionAttributeValues).to.deep.include({
      ":seen": { N: "1" },
      ":decided": { S: "decided" },
      ":decision": { S: "approved" },
    });
    expect(table.items.get(keyHash)).to.deep.include({
      status: { S: "decided" },
      decision: { S: "approved" },
      decidedBy: { S: "W0CAROL" },
      decidedAt: { S: at },
      approvals: { N: "2" },
    });
  });

  it("a rejection decides rejected at once, with its comment, whatever the quorum", async () => {
    const input = request({ required: 3 });
    await createRequest(db, TABLE, input);
    await recordVote(db, TABLE, vote(input.requestKey, "U0ALICE"));
    const outcome = await recordVote(
      db,
      TABLE,
      vote(input.requestKey, "U0BOB", { vote: "reject", comment: "not this quarter" }),
    );
    expect(outcome.kind).to.equal("decided");
    if (outcome.kind !== "decided") return;
    expect(outcome.decision).to.deep.equal({
      approved: false,
      decision: "rejected",
      stage: "manager",
      approver: "U0BOB",
      comment: "not this quarter",
      decidedAt: BEFORE,
    });
    expect(outcome.approvals).to.equal(1);
    expect(outcome.taskToken).to.equal(TOKEN);
    expect(updates()[1].body.ExpressionAttributeValues[":inc"]).to.deep.equal({ N: "0" });
  });

  it("a second click by the same approver counts once (already_voted, nothing written)", async () => {
    const input = request();
    const keyHash = await createRequest(db, TABLE, input);
    expect((await recordVote(db, TABLE, vote(input.requestKey, "U0ALICE"))).kind).to.equal("counted");
    aws.requests.length = 0;
    for (const again of ["approve", "reject"] as const) {
      const outcome = await recordVote(db, TABLE, vote(input.requestKey, "U0ALICE", { vote: again, comment: "x" }));
      expect(outcome.kind).to.equal("already_voted");
    }
    expect(aws.operations()).to.deep.equal(["GetItem", "GetItem"]);
    expect(table.items.get(keyHash)).to.deep.include({ approvals: { N: "1" }, status: { S: "waiting" } });
  });

  it("a click by someone not among the approvers changes nothing (not_an_approver)", async () => {
    const input = request({ required: 1 });
    const keyHash = await createRequest(db, TABLE, input);
    const before = structuredClone(table.items.get(keyHash));
    aws.requests.length = 0;
    for (const kind of ["approve", "reject"] as const) {
      expect(await recordVote(db, TABLE, vote(input.requestKey, "U0MALLORY", { vote: kind }))).to.deep.equal({
        kind: "not_an_approver",
      });
    }
    expect(aws.operations()).to.deep.equal(["GetItem", "GetItem"]);
    expect(table.items.get(keyHash)).to.deep.equal(before);
  });

  it("a vote after the decision says already_decided and changes nothing", async () => {
    const input = request({ required: 1 });
    const keyHash = await createRequest(db, TABLE, input);
    expect((await recordVote(db, TABLE, vote(input.requestKey, "U0ALICE"))).kind).to.equal("decided");
    const after = structuredClone(table.items.get(keyHash));
    for (const kind of ["approve", "reject"] as const) {
      const outcome = await recordVote(db, TABLE, vote(input.requestKey, "U0BOB", { vote: kind, comment: "no" }));
      expect(outcome.kind).to.equal("already_decided");
      if (outcome.kind === "already_decided") expect(outcome.record.decidedBy).to.equal("U0ALICE");
    }
    expect(updates()).to.have.length(1);
    expect(table.items.get(keyHash)).to.deep.equal(after);
  });

  it("two concurrent deciding votes: exactly one decides, the other sees already_decided", async () => {
    const input = request();
    const keyHash = await createRequest(db, TABLE, input);
    await recordVote(db, TABLE, vote(input.requestKey, "U0ALICE"));
    // Both votes read the item (one approval) before either writes.
    let waiting: Array<() => void> = [];
    table.beforeGet = () =>
      new Promise<void>((resolve) => {
        waiting.push(resolve);
        if (waiting.length === 2) {
          waiting.forEach((go) => go());
          waiting = [];
          table.beforeGet = undefined;
        }
      });
    aws.requests.length = 0;
    const outcomes = await Promise.all([
      recordVote(db, TABLE, vote(input.requestKey, "U0BOB")),
      recordVote(db, TABLE, vote(input.requestKey, "W0CAROL", { vote: "reject", comment: "no" })),
    ]);
    const kinds = outcomes.map((o) => o.kind).sort();
    expect(kinds).to.deep.equal(["already_decided", "decided"]);
    // Both wrote on the count they saw; the second write's condition failed, and a new read told it why.
    const votes = updates().map((r) => r.body.ExpressionAttributeValues[":seen"]);
    expect(votes).to.deep.equal([{ N: "1" }, { N: "1" }]);
    expect(aws.operations().filter((o) => o === "GetItem")).to.have.length(3);
    const winner = outcomes.find((o) => o.kind === "decided")!;
    if (winner.kind !== "decided") return;
    const item = table.items.get(keyHash)!;
    expect(item.decidedBy).to.deep.equal({ S: winner.decision.approver });
    expect(Object.keys(item.votes.M!).sort()).to.deep.equal(["U0ALICE", winner.decision.approver].sort());
  });

  it("concurrent approvals below the quorum are all counted (a lost race reads again and counts)", async () => {
    const input = request({ required: 3 });
    const keyHash = await createRequest(db, TABLE, input);
    let waiting: Array<() => void> = [];
    table.beforeGet = () =>
      new Promise<void>((resolve) => {
        waiting.push(resolve);
        if (waiting.length === 2) {
          waiting.forEach((go) => go());
          waiting = [];
          table.beforeGet = undefined;
        }
      });
    const outcomes = await Promise.all([
      recordVote(db, TABLE, vote(input.requestKey, "U0ALICE")),
      recordVote(db, TABLE, vote(input.requestKey, "U0BOB")),
    ]);
    expect(outcomes.map((o) => (o.kind === "counted" ? o.approvals : o.kind)).sort()).to.deep.equal([1, 2]);
    expect(table.items.get(keyHash)).to.deep.include({ approvals: { N: "2" }, status: { S: "waiting" } });
  });

  it("an unknown key is unknown_request (a value that cannot be a key is not even looked up)", async () => {
    expect(await recordVote(db, TABLE, vote(newRequestKey(), "U0ALICE"))).to.deep.equal({ kind: "unknown_request" });
    expect(aws.operations()).to.deep.equal(["GetItem"]);
    aws.requests.length = 0;
    expect(await recordVote(db, TABLE, vote("not-a-key", "U0ALICE"))).to.deep.equal({ kind: "unknown_request" });
    expect(await getRequest(db, TABLE, "not-a-key")).to.equal(undefined);
    expect(aws.requests).to.have.length(0);
  });

  it("a vote at or after the deadline is expired, and so is any vote once the stage timed out", async () => {
    const input = request({ required: 1 });
    const keyHash = await createRequest(db, TABLE, input);
    expect((await recordVote(db, TABLE, vote(input.requestKey, "U0ALICE", { at: DEADLINE }))).kind).to.equal("expired");
    expect(updates()).to.have.length(0);

    const at = "2026-11-25T10:00:01.000Z";
    const closed = await markTimedOut(db, TABLE, keyHash, at);
    expect(closed).to.deep.include({ status: "timed_out", decidedAt: at, approvals: 0 });
    expect(updates()[0].body).to.deep.include({
      UpdateExpression: "SET #status = :timedOut, #decidedAt = :at",
      ConditionExpression: "attribute_exists(#keyHash) AND #status = :waiting",
      ReturnValues: "ALL_NEW",
    });
    expect((await recordVote(db, TABLE, vote(input.requestKey, "U0BOB"))).kind).to.equal("expired");
    // Only a waiting request times out: not twice, not after a decision, not an unknown one.
    expect(await markTimedOut(db, TABLE, keyHash, at)).to.equal(undefined);
    const decided = request({ required: 1 });
    const decidedHash = await createRequest(db, TABLE, decided);
    await recordVote(db, TABLE, vote(decided.requestKey, "U0ALICE"));
    expect(await markTimedOut(db, TABLE, decidedHash, at)).to.equal(undefined);
    expect(table.items.get(decidedHash)!.status).to.deep.equal({ S: "decided" });
    expect(await markTimedOut(db, TABLE, "0".repeat(64), at)).to.equal(undefined);
  });

  it("a table error throws and decides nothing (read, write, or a malformed item)", async () => {
    const input = request({ required: 1 });
    const keyHash = await createRequest(db, TABLE, input);
    const rejects = async (what: string) =>
      recordVote(db, TABLE, vote(input.requestKey, "U0ALICE")).then(
        (outcome) => expect.fail(`${what}: resolved with ${outcome.kind}`),
        (error: Error) => error,
      );

    aws.on("GetItem", () => new AwsError("InternalServerError", "Internal server error", 500));
    expect((await rejects("read")).name).to.equal("InternalServerError");

    table.serve(aws);
    aws.on("UpdateItem", () => new AwsError("ProvisionedThroughputExceededException", "Rate exceeded"));
    expect((await rejects("write")).name).to.equal("ProvisionedThroughputExceededException");
    expect(table.items.get(keyHash)!.status).to.deep.equal({ S: "waiting" });

    table.serve(aws);
    table.items.get(keyHash)!.status = { S: "approved" };
    expect((await rejects("malformed")).message).to.contain("SlackRequestItemMalformed: status is unknown");

    // A write that answers without the item is not taken as a decision.
    table.items.get(keyHash)!.status = { S: "waiting" };
    aws.on("UpdateItem", () => ({}));
    expect((await rejects("no attributes")).message).to.contain("SlackVoteNotConfirmed");
  });

  it("a decision not yet delivered can be sent again, the same decision with the token, until marked delivered", async () => {
    const input = request();
    const keyHash = await createRequest(db, TABLE, input);
    expect(await undeliveredDecision(db, TABLE, input.requestKey)).to.equal(undefined);
    await recordVote(db, TABLE, vote(input.requestKey, "U0ALICE"));
    expect(await undeliveredDecision(db, TABLE, input.requestKey)).to.equal(undefined);
    const decided = await recordVote(db, TABLE, vote(input.requestKey, "U0BOB", { comment: "ship it" }));
    if (decided.kind !== "decided") return expect.fail(decided.kind);
    const again = await undeliveredDecision(db, TABLE, input.requestKey);
    expect(again?.decision).to.deep.equal(decided.decision);
    expect(again?.taskToken).to.equal(TOKEN);

    const at = "2026-11-22T10:00:02.000Z";
    expect(await markDelivered(db, TABLE, keyHash, at)).to.equal(true);
    expect(await markDelivered(db, TABLE, keyHash, at)).to.equal(false);
    expect(updates().pop()!.body).to.deep.include({
      UpdateExpression: "SET #deliveredAt = :at",
      ConditionExpression: "#status = :decided AND attribute_not_exists(#deliveredAt)",
    });
    expect(await undeliveredDecision(db, TABLE, input.requestKey)).to.equal(undefined);
    expect((await getRequest(db, TABLE, input.requestKey))?.deliveredAt).to.equal(at);
    // A waiting or timed-out request is never marked delivered.
    const waiting = await createRequest(db, TABLE, request());
    expect(await markDelivered(db, TABLE, waiting, at)).to.equal(false);
    await markTimedOut(db, TABLE, waiting, at);
    expect(await markDelivered(db, TABLE, waiting, at)).to.equal(false);
  });
});
