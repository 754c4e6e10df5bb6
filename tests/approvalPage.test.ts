// The approval page handler of the email mechanisms: served through a local
// HTTP adapter on 127.0.0.1 that turns requests into API Gateway HTTP API (payload 2.0) events,
// with a fake Step Functions endpoint behind it. The whole suite runs twice: against
// handleApprovalPage called directly, and against the staging stack's page function as deployed
// (its serialized __index.js, run with node per request, settings from its environment).
// Token links (t, e, s) are the sns-callback stage's; the email-link stage takes only a one-time
// code (c), whose item lives in a fake of the page's code table (tests/helpers/fakeCodeTable.ts).
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SFNClient } from "@aws-sdk/client-sfn";
import { expect } from "chai";
import { createHash } from "crypto";
import { decodeToken, encodeToken } from "../functions/mechanisms/email/approvalLink";
import { ApprovalPageSettings, handleApprovalPage } from "../functions/mechanisms/email/approvalPage";
import { PAGE_RESEND } from "../functions/shared/throttledSend";
import { CLAIM_STALE_SECONDS, codeHashOf, newLinkCode, sealToken } from "../functions/mechanisms/email/linkCodes";
import { AwsError, FakeAws } from "./helpers/fakeAws";
import { FakeCodeTable } from "./helpers/fakeCodeTable";
import { FollowUpStage, HistoryBuilder, waitingTaskHistory } from "./helpers/executionHistory";
import { EXPENSE_REPORT } from "./helpers/fixtures";
import { PageHandler, PageServer, serializedPageHandler, startPageServer } from "./helpers/pageServer";
import { archiveFiles, named, runProgram } from "./helpers/pulumiMocks";
import { writeArchive } from "./helpers/serializedHandler";
import { stackConfig } from "./helpers/stackConfig";

const STATE_MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:sfn-approvals-prod";
const EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:sfn-approvals-prod:er98765-1";
const TOKEN = `AQCEAAAAKgAAAAMAAAAAAAAAAe+/=${"Zm9v+bar/baz=".repeat(60)}`;
const SETTINGS: ApprovalPageSettings = {
  stateMachineArn: STATE_MACHINE,
  stages: { review: "email-link", finance: "sns-callback" },
  codeLinkMechanisms: ["email-link"],
  codeTable: "sfn-approvals-prod-link-codes",
};

/** One way to run the page: the settings it answers with, and how to build the handler behind the adapter. */
interface PageUnderTest {
  title: string;
  settings: ApprovalPageSettings;
  /** An execution of settings.stateMachineArn. */
  execution: string;
  /** The settings' email-link stage and sns-callback stage. */
  emailStage: string;
  snsStage: string;
  /** Whether handleApprovalPage itself is under test (so it can be called with events the adapter never sends). */
  direct: boolean;
  handler(sfnEndpoint: string): Promise<PageHandler>;
}

const DIRECT: PageUnderTest = {
  title: "handleApprovalPage",
  settings: SETTINGS,
  execution: EXECUTION,
  emailStage: "review",
  snsStage: "finance",
  direct: true,
  handler: async (sfnEndpoint) => {
    const credentials = { accessKeyId: "AKIAFAKE", secretAccessKey: "fake" };
    const sfn = new SFNClient({ region: "eu-west-1", endpoint: sfnEndpoint, credentials, maxAttempts: 1 });
    const dynamodb = new DynamoDBClient({ region: "eu-west-1", endpoint: sfnEndpoint, credentials, maxAttempts: 1 });
    // Throttled sends go again without their pauses here; the serialized page below waits them out.
    const resend = { ...PAGE_RESEND, sleep: async () => {} };
    return (event) => handleApprovalPage(event, SETTINGS, sfn, dynamodb, resend);
  },
};

const STAGING_SETTINGS: ApprovalPageSettings = {
  stateMachineArn: "arn:aws:states:eu-west-1:123456789012:stateMachine:sfn-approvals-staging",
  stages: { "team-lead": "email-link", finance: "sns-callback" },
  codeLinkMechanisms: ["email-link"],
  codeTable: "sfn-approvals-staging-link-codes",
};

const SERIALIZED: PageUnderTest = {
  title: "the staging stack's page function as deployed, serialized __index.js",
  settings: STAGING_SETTINGS,
  execution: "arn:aws:states:eu-west-1:123456789012:execution:sfn-approvals-staging:er98765-1",
  emailStage: "team-lead",
  snsStage: "finance",
  direct: false,
  handler: async (sfnEndpoint) => {
    const staging = await runProgram("staging", stackConfig("staging"));
    const fn = named(staging.resources, "approval-page-handler-fn");
    const variables: Record<string, string> = fn.inputs.environment.variables;
    // The settings this run assumes are the ones the stack gives its page function.
    expect(variables.STATE_MACHINE_ARN).to.equal(STAGING_SETTINGS.stateMachineArn);
    expect(JSON.parse(variables.STAGES)).to.deep.equal(STAGING_SETTINGS.stages);
    expect(variables.CODE_TABLE_NAME).to.equal(STAGING_SETTINGS.codeTable);
    return serializedPageHandler(writeArchive(await archiveFiles(fn)), {
      ...variables,
      AWS_ENDPOINT_URL_SFN: sfnEndpoint,
      AWS_ENDPOINT_URL_DYNAMODB: sfnEndpoint,
    });
  },
};

for (const page of [DIRECT, SERIALIZED])
  describe(`approval page (email mechanisms): GET shows, POST decides once (${page.title})`, () => {
    const aws = new FakeAws();

    let server: PageServer;
    let handler: PageHandler;
    let base = "";

    before(async () => {
      const url = await aws.start();
      handler = await page.handler(url);
      server = await startPageServer(handler);
      base = server.url;
    });
    after(async () => {
      await server.close();
      await aws.stop();
    });
    /** The execution waits at `stage` for TOKEN (the history the page reads to tie token and stage). */
    const waitingAt = (stage: string, token = TOKEN) =>
      aws.on("GetExecutionHistory", () =>
        waitingTaskHistory({ stage, mechanism: page.settings.stages[stage], token, executionArn: page.execution }),
      );
    let codes: FakeCodeTable;
    beforeEach(() => {
      aws.reset();
      waitingAt(page.snsStage);
      codes = new FakeCodeTable(page.settings.codeTable!);
      codes.serve(aws);
    });

    /** A token link: only the sns-callback stage takes them. */
    const link = (fields: Record<string, string> = {}) =>
      `${base}?${new URLSearchParams({ t: encodeToken(TOKEN), e: page.execution, s: page.snsStage, ...fields })}`;
    const running = (input: unknown = EXPENSE_REPORT) =>
      aws.on("DescribeExecution", () => ({
        executionArn: page.execution,
        stateMachineArn: page.settings.stateMachineArn,
        status: "RUNNING",
        input: JSON.stringify(input),
        startDate: 1795334400,
      }));
    const post = (fields: Record<string, string>, contentType = "application/x-www-form-urlencoded") =>
      fetch(base, {
        method: "POST",
        headers: { "content-type": contentType },
        body: new URLSearchParams({
          t: encodeToken(TOKEN),
          e: page.execution,
          s: page.snsStage,
          name: "Alice Example",
          ...fields,
        }).toString(),
      });
    /** What the email-link start function stores for a task (functions/mechanisms/email/emailLink.ts): returns the link's code. */
    const storeCode = (
      token = TOKEN,
      item: {
        stage?: string;
        executionArn?: string;
        expiresAt?: number;
        claimedAt?: number;
        claimId?: string;
        confirmedAt?: string;
      } = {},
    ) => {
      const code = newLinkCode();
      const stage = item.stage ?? page.emailStage;
      const executionArn = item.executionArn ?? page.execution;
      codes.items.set(codeHashOf(code), {
        codeHash: { S: codeHashOf(code) },
        sealedToken: { S: sealToken(code, token, stage, executionArn) },
        stage: { S: stage },
        executionArn: { S: executionArn },
        createdAt: { S: new Date().toISOString() },
        expiresAt: { N: String(item.expiresAt ?? Math.floor(Date.now() / 1000) + 3600) },
        ...(item.claimedAt !== undefined
          ? { claimedAt: { N: String(item.claimedAt) }, claimId: { S: item.claimId ?? "someone-else" } }
          : {}),
        ...(item.confirmedAt !== undefined ? { confirmedAt: { S: item.confirmedAt } } : {}),
      });
      return code;
    };
    const codeLink = (code: string) => `${base}?c=${code}`;
    const postCode = (code: string, fields: Record<string, string>) =>
      fetch(base, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ c: code, name: "Alice Example", ...fields }).toString(),
      });

    it("encodes tokens URL-safe and decodes them back exactly", () => {
      const encoded = encodeToken(TOKEN);
      expect(encoded).to.match(/^[A-Za-z0-9_-]+$/);
      expect(decodeToken(encoded)).to.equal(TOKEN);
      for (const bad of [undefined, "", "abc", "has space", "plus+sign", "a".repeat(4001)])
        expect(decodeToken(bad), String(bad)).to.equal(undefined);
    });

    it("GET shows the request and a form, and changes nothing", async () => {
      running();
      aws.on("SendTaskHeartbeat", () => ({}));
      const response = await fetch(link());
      const html = await response.text();
      expect(response.status).to.equal(200);
      expect(aws.operations()).to.deep.equal(["DescribeExecution", "GetExecutionHistory", "SendTaskHeartbeat"]);
      expect(aws.requests[0].body).to.deep.equal({ executionArn: page.execution });
      expect(aws.requests[1].body).to.deep.equal({
        executionArn: page.execution,
        reverseOrder: true,
        maxResults: 200,
        includeExecutionData: true,
      });
      expect(aws.requests[2].body).to.deep.equal({ taskToken: TOKEN });
      expect(html)
        .to.contain("<h1>Expense report ER98765</h1>")
        .and.contain("<dd>750.50 USD</dd>")
        .and.contain("Flight to New York");
      expect(html).to.contain('<button class="approve" type="submit" name="decision" value="approve">Approve</button>');
      expect(html).to.contain(`name="t" value="${encodeToken(TOKEN)}"`);
    });

    it("GET many times (as mail scanners do) never decides", async () => {
      running();
      aws
        .on("SendTaskHeartbeat", () => ({}))
        .on("SendTaskSuccess", () => ({}))
        .on("SendTaskFailure", () => ({}));
      for (let i = 0; i < 5; i++) expect((await fetch(link())).status).to.equal(200);
      expect(
        aws
          .operations()
          .filter((o) => o !== "DescribeExecution" && o !== "GetExecutionHistory" && o !== "SendTaskHeartbeat"),
      ).to.deep.equal([]);
      expect(aws.operations()).to.have.length(15);
    });

    it("sends strict security headers, and the CSP admits exactly the page's own inline style", async () => {
      running();
      aws.on("SendTaskHeartbeat", () => ({}));
      const response = await fetch(link());
      const html = await response.text();
      const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1];
      const hash = createHash("sha256").update(style).digest("base64");
      expect(response.headers.get("content-security-policy")).to.equal(
        `default-src 'none'; style-src 'sha256-${hash}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
      );
      expect(response.headers.get("referrer-policy")).to.equal("no-referrer");
      expect(response.headers.get("cache-control")).to.equal("no-store");
      expect(response.headers.get("x-content-type-options")).to.equal("nosniff");
      expect(response.headers.get("x-frame-options")).to.equal("DENY");
      expect(response.headers.get("content-type")).to.equal("text/html; charset=utf-8");
      expect(html).to.not.match(/<script|src=|<link/i);
    });

    it("escapes everything the request says", async () => {
      running({
        title: "<script>alert(1)</script>",
        requester: '"><img src=x onerror=alert(2)>',
        link: "javascript:alert(3)",
        details: { note: "</pre><script>alert(4)</script>" },
      });
      aws.on("SendTaskHeartbeat", () => ({}));
      const html = await (await fetch(link())).text();
      expect(html).to.not.contain("<script").and.not.contain("<img").and.not.contain('href="javascript');
      expect(html)
        .to.contain("&#60;script&#62;alert(1)&#60;/script&#62;")
        .and.contain("&#34;&#62;&#60;img src=x onerror=alert(2)&#62;");
    });

    it("POST approve records the decision contract once and shows the result", async () => {
      aws.on("SendTaskSuccess", () => ({}));
      const before = Date.now();
      const response = await post({ decision: "approve", comment: "ok\nfor Q4" });
      expect(response.status).to.equal(200);
      expect(await response.text())
        .to.contain("<h1>Approved</h1>")
        .and.contain("recorded as Alice Example (via email link)");
      expect(aws.operations()).to.deep.equal(["GetExecutionHistory", "SendTaskSuccess"]);
      expect(aws.requests[1].body.taskToken).to.equal(TOKEN);
      const output = JSON.parse(aws.requests[1].body.output);
      expect(output).to.deep.include({
        approved: true,
        decision: "approved",
        stage: page.snsStage,
        mechanism: "sns-callback",
        approver: "Alice Example (via email link)",
        comment: "ok for Q4",
      });
      expect(Date.parse(output.decidedAt)).to.be.within(before - 1000, Date.now());
    });

    it("POST reject sends a rejection with the stage's own mechanism", async () => {
      aws.on("SendTaskSuccess", () => ({}));
      const response = await post({ decision: "reject" });
      expect(await response.text()).to.contain("<h1>Rejected</h1>");
      expect(aws.operations()).to.deep.equal(["GetExecutionHistory", "SendTaskSuccess"]);
      expect(JSON.parse(aws.requests[1].body.output)).to.deep.include({
        approved: false,
        decision: "rejected",
        stage: page.snsStage,
        mechanism: "sns-callback",
        comment: null,
      });
    });

    it("a second POST, or a POST after the timeout, shows 'Nothing left to decide' (410), not an error", async () => {
      aws.on(
        "SendTaskSuccess",
        () => new AwsError("TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'"),
      );
      const response = await post({ decision: "approve" });
      expect(response.status).to.equal(410);
      expect(await response.text())
        .to.contain("Nothing left to decide")
        .and.contain("This press changed nothing.");
    });

    it("GET of an expired or already decided request shows 'Nothing left to decide' (410)", async () => {
      running();
      aws.on("SendTaskHeartbeat", () => new AwsError("TaskTimedOut", "Task Timed Out"));
      expect((await fetch(link())).status).to.equal(410);
      aws.reset();
      waitingAt(page.snsStage);
      aws.on("DescribeExecution", () => ({
        executionArn: page.execution,
        status: "SUCCEEDED",
        input: JSON.stringify(EXPENSE_REPORT),
      }));
      const response = await fetch(link());
      expect(response.status).to.equal(410);
      expect(aws.operations()).to.deep.equal(["DescribeExecution"]);
    });

    it("a damaged link shows 'This link does not work' (400) and calls nothing", async () => {
      for (const bad of [
        link({ t: "not base64 !" }),
        link({ t: "" }),
        link({ e: "arn:aws:states:eu-west-1:123456789012:execution:someone-elses-machine:x" }),
        link({ s: "unknown-stage" }),
        `${base}?t=${encodeToken(TOKEN)}`,
      ]) {
        const response = await fetch(bad);
        expect(response.status, bad).to.equal(400);
        expect(await response.text()).to.contain("This link does not work");
      }
      expect(aws.requests).to.have.length(0);
    });

    it("a token Step Functions does not know shows 'This link does not work' (400)", async () => {
      aws.on("SendTaskSuccess", () => new AwsError("InvalidToken", "Invalid token"));
      expect((await post({ decision: "approve" })).status).to.equal(400);
    });

    it("an AWS failure while recording shows 'Your decision was not confirmed' (503) after one attempt, never a stack trace", async () => {
      aws.on("SendTaskSuccess", () => new AwsError("ServiceUnavailable", "down", 503));
      const response = await post({ decision: "approve" });
      expect(response.status).to.equal(503);
      const html = await response.text();
      expect(html)
        .to.contain("Your decision was not confirmed")
        .and.contain("may or may not have been recorded")
        .and.contain("in 2 minutes")
        .and.not.match(/at .*\(.*:\d+:\d+\)|Error:/);
      // One attempt only: a retry after a lost answer would be refused, and the page would wrongly say nothing was recorded.
      expect(aws.operations()).to.deep.equal(["GetExecutionHistory", "SendTaskSuccess"]);
    });

    it("Step Functions refusing the decision every time (ThrottlingException, status 400) shows 'Your decision was not recorded' (503) after a few short attempts with the same decision: nothing was recorded, decide again", async () => {
      aws.on("SendTaskSuccess", () => new AwsError("ThrottlingException", "Rate exceeded", 400));
      const response = await post({ decision: "approve" });
      expect(response.status).to.equal(503);
      expect(await response.text())
        .to.contain("Your decision was not recorded")
        .and.contain("nothing was recorded")
        .and.not.contain("may or may not")
        .and.not.contain("Approved");
      const sends = aws.requests.filter((r) => r.operation === "SendTaskSuccess");
      expect(aws.operations()).to.deep.equal([
        "GetExecutionHistory",
        ...Array(PAGE_RESEND.pausesMs.length + 1).fill("SendTaskSuccess"),
      ]);
      expect(new Set(sends.map((r) => JSON.stringify(r.body))).size).to.equal(1);
    });

    it("a decision throttled a few times (ThrottlingException, KmsThrottlingException: refused, nothing recorded) is sent again within the press and recorded once (issue 17)", async () => {
      const answers = [
        new AwsError("ThrottlingException", "Rate exceeded", 400),
        new AwsError("KmsThrottlingException", "KMS throttled", 400),
      ];
      aws.on("SendTaskSuccess", () => answers.shift() ?? {});
      const response = await post({ decision: "approve" });
      expect(response.status).to.equal(200);
      expect(await response.text()).to.contain("<h1>Approved</h1>");
      const sends = aws.requests.filter((r) => r.operation === "SendTaskSuccess");
      expect(sends).to.have.length(3);
      expect(new Set(sends.map((r) => JSON.stringify(r.body))).size).to.equal(1);
      expect(JSON.parse(sends[0].body.output)).to.include({ decision: "approved" });
    });

    it("an AWS failure while loading shows 'Please try again' (503) and decides nothing", async () => {
      aws.on("DescribeExecution", () => new AwsError("ServiceUnavailable", "down", 503));
      const get = await fetch(link());
      expect(get.status).to.equal(503);
      expect(await get.text())
        .to.contain("Please try again")
        .and.contain("nothing was changed");
      aws.reset();
      aws.on("GetExecutionHistory", () => new AwsError("ThrottlingException", "slow down", 400));
      const post503 = await post({ decision: "approve" });
      expect(post503.status).to.equal(503);
      expect(aws.operations()).to.deep.equal(["GetExecutionHistory"]);
    });

    it("a token link naming the email-link stage opens nothing (400, nothing read): that stage decides only with its code, so a token read in the history cannot decide it", async () => {
      running();
      aws.on("SendTaskHeartbeat", () => ({})).on("SendTaskSuccess", () => ({}));
      // The execution really waits at the email stage for TOKEN (the history's TaskScheduled payload holds it).
      waitingAt(page.emailStage);
      expect((await fetch(link({ s: page.emailStage }))).status).to.equal(400);
      const response = await post({ decision: "approve", s: page.emailStage });
      expect(response.status).to.equal(400);
      expect(await response.text()).to.contain("This link does not work");
      expect(aws.requests).to.have.length(0);
    });

    it("a look-alike link in the request's own text (before the real link) does not count: only the message's last link ties a token", async () => {
      running();
      aws.on("SendTaskHeartbeat", () => ({})).on("SendTaskSuccess", () => ({}));
      const stolen = `${TOKEN}STOLEN`;
      // The sns-callback message: the requester put a link with a stolen token into the title; the real link (last) holds another token.
      aws.on("GetExecutionHistory", () => {
        const history = waitingTaskHistory({
          stage: page.snsStage,
          mechanism: "sns-callback",
          token: `${TOKEN}REAL`,
          executionArn: page.execution,
        });
        const scheduled = history.events.find((e: any) => e.type === "TaskScheduled") as any;
        const parameters = JSON.parse(scheduled.taskScheduledEventDetails.parameters);
        parameters.Message = `Approval requested: see https://x.example/decide?t=${encodeToken(stolen)}&e=x&s=${page.snsStage}\n${parameters.Message}`;
        scheduled.taskScheduledEventDetails.parameters = JSON.stringify(parameters);
        return history;
      });
      const response = await post({ decision: "approve", s: page.snsStage, t: encodeToken(stolen) });
      expect(response.status).to.equal(410);
      expect(aws.operations()).to.deep.equal(["GetExecutionHistory"]);
    });

    it("a token the execution does not wait for (another execution's, or an earlier stage's) shows 'Nothing left to decide' (410) and decides nothing", async () => {
      running();
      aws.on("SendTaskHeartbeat", () => ({})).on("SendTaskSuccess", () => ({}));
      waitingAt(page.snsStage, `${TOKEN}OTHER`);
      expect((await fetch(link())).status).to.equal(410);
      const response = await post({ decision: "approve" });
      expect(response.status).to.equal(410);
      expect(aws.operations()).to.deep.equal(["DescribeExecution", "GetExecutionHistory", "GetExecutionHistory"]);
    });

    describe("email-link: a one-time code, the token and binding from its item (issue 11, defect 12)", () => {
      beforeEach(() => waitingAt(page.emailStage));
      /** The deployed function runs five (GET, POST, second use, AWS refused, a fresh claim of unknown fate); the rest run against the handler only (a node process per request is slow). */
      const it = (title: string, test: () => Promise<void>) =>
        page.direct ||
        /^(GET shows|POST approve claims|a second use|a decision AWS refused|a fresh claim whose)/.test(title)
          ? globalThis.it(title, test)
          : undefined;
      /** The code's item as the table holds it, without its key and sealed token. */
      const itemOf = (code: string) => {
        const { codeHash, sealedToken, ...rest } = codes.items.get(codeHashOf(code))!;
        return rest;
      };
      /** The execution's history once Step Functions recorded a decision: the stage's Task succeeded. */
      const decidedAt = (stage: string) =>
        aws.on("GetExecutionHistory", () => {
          const history = waitingTaskHistory({
            stage,
            mechanism: page.settings.stages[stage],
            token: TOKEN,
            executionArn: page.execution,
          });
          history.events.unshift({
            id: 9,
            previousEventId: 8,
            timestamp: 1795341610,
            type: "TaskSucceeded",
            taskSucceededEventDetails: { resourceType: "lambda", resource: "invoke.waitForTaskToken", output: "{}" },
          });
          return history;
        });
      const claims = () => aws.requests.filter((r) => r.operation === "UpdateItem").map((r) => r.body.UpdateExpression);

      it("GET shows the request; the form carries back only the code, never the token", async () => {
        running();
        aws.on("SendTaskHeartbeat", () => ({}));
        const code = storeCode();
        const response = await fetch(codeLink(code));
        const html = await response.text();
        expect(response.status).to.equal(200);
        expect(aws.operations()).to.deep.equal([
          "GetItem",
          "DescribeExecution",
          "GetExecutionHistory",
          "SendTaskHeartbeat",
        ]);
        expect(aws.requests[0].body).to.deep.equal({
          TableName: page.settings.codeTable,
          Key: { codeHash: { S: codeHashOf(code) } },
          ConsistentRead: true,
        });
        expect(aws.requests[1].body).to.deep.equal({ executionArn: page.execution });
        expect(aws.requests[3].body).to.deep.equal({ taskToken: TOKEN });
        expect(html).to.contain("<h1>Expense report ER98765</h1>").and.contain(`<dd>${page.emailStage}</dd>`);
        expect(
          [...html.matchAll(/<input type="hidden" name="(\w+)" value="([^"]*)">/g)].map((m) => [m[1], m[2]]),
        ).to.deep.equal([["c", code]]);
        expect(html).to.not.contain(encodeToken(TOKEN).slice(40, 100));
      });

      it("POST approve claims the code (conditionally), sends the decision once with the email-link stage's mechanism, then marks the code used", async () => {
        aws.on("SendTaskSuccess", () => ({}));
        const code = storeCode();
        const response = await postCode(code, { decision: "approve", comment: "fine" });
        expect(response.status).to.equal(200);
        expect(await response.text()).to.contain("<h1>Approved</h1>");
        expect(aws.operations()).to.deep.equal([
          "GetItem",
          "GetExecutionHistory",
          "UpdateItem",
          "SendTaskSuccess",
          "UpdateItem",
        ]);
        // The claim names no decision; the decision is written only with Step Functions' confirmation, by the same claim.
        expect(claims()).to.deep.equal([
          "SET claimedAt = :now, claimId = :claim",
          "SET confirmedAt = :at, decision = :decision",
        ]);
        const [claim, confirm] = aws.requests.filter((r) => r.operation === "UpdateItem").map((r) => r.body);
        expect(confirm.ConditionExpression).to.equal("claimId = :claim");
        expect(confirm.ExpressionAttributeValues[":claim"]).to.deep.equal(claim.ExpressionAttributeValues[":claim"]);
        const sent = aws.requests.find((r) => r.operation === "SendTaskSuccess")!.body;
        expect(sent.taskToken).to.equal(TOKEN);
        expect(JSON.parse(sent.output)).to.deep.include({
          approved: true,
          decision: "approved",
          stage: page.emailStage,
          mechanism: "email-link",
          approver: "Alice Example (via email link)",
          comment: "fine",
        });
        const item = codes.items.get(codeHashOf(code))!;
        expect(item.decision).to.deep.equal({ S: "approved" });
        expect(item.confirmedAt?.S).to.be.a("string");
      });

      it("a second use of a code is refused (410) without sending anything, by GET and by POST", async () => {
        running();
        aws.on("SendTaskHeartbeat", () => ({})).on("SendTaskSuccess", () => ({}));
        const code = storeCode();
        expect((await postCode(code, { decision: "approve" })).status).to.equal(200);
        aws.requests.length = 0;
        const again = await postCode(code, { decision: "reject" });
        expect(again.status).to.equal(410);
        expect(await again.text())
          .to.contain("Nothing left to decide")
          .and.contain("This press changed nothing.");
        expect((await fetch(codeLink(code))).status).to.equal(410);
        expect(aws.operations()).to.deep.equal(["GetItem", "GetItem"]);
      });

      it("two presses at once: only the one that claims the code sends a decision; the other gets 'being recorded' (409) or, once the first is confirmed, 410", async () => {
        aws.on("SendTaskSuccess", () => ({}));
        const code = storeCode();
        const answers = await Promise.all([
          postCode(code, { decision: "approve" }),
          postCode(code, { decision: "reject" }),
        ]);
        const statuses = answers.map((a) => a.status).sort();
        expect(statuses[0]).to.equal(200);
        expect(statuses[1]).to.be.oneOf([409, 410]);
        expect(aws.operations().filter((o) => o === "SendTaskSuccess")).to.have.length(1);
      });

      it("an unknown, expired or already confirmed code shows 'Nothing left to decide' (410) and decides nothing; a damaged one 'This link does not work' (400) without a look-up", async () => {
        running();
        aws.on("SendTaskHeartbeat", () => ({})).on("SendTaskSuccess", () => ({}));
        const now = Math.floor(Date.now() / 1000);
        for (const code of [
          newLinkCode(),
          storeCode(TOKEN, { expiresAt: now - 1 }),
          storeCode(TOKEN, { claimedAt: now - 600, confirmedAt: "2026-11-22T10:00:00Z" }),
        ]) {
          aws.requests.length = 0;
          expect((await fetch(codeLink(code))).status).to.equal(410);
          const response = await postCode(code, { decision: "approve" });
          expect(response.status).to.equal(410);
          expect(aws.operations()).to.deep.equal(["GetItem", "GetItem"]);
        }
        aws.requests.length = 0;
        for (const bad of [
          `${base}?c=short`,
          `${base}?c=${"a".repeat(44)}`,
          `${base}?c=${newLinkCode()}&t=${encodeToken(TOKEN)}`,
          `${base}?c=${newLinkCode()}&s=${page.emailStage}`,
        ]) {
          const response = await fetch(bad);
          expect(response.status, bad).to.equal(400);
          expect(await response.text()).to.contain("This link does not work");
        }
        expect((await postCode("not-a-code", { decision: "approve" })).status).to.equal(400);
        expect(aws.requests).to.have.length(0);
      });

      it("a code whose item names another stage (an sns-callback stage, an unknown one), another workflow's execution, or an edited token opens nothing (400)", async () => {
        running();
        aws.on("SendTaskHeartbeat", () => ({})).on("SendTaskSuccess", () => ({}));
        const other = storeCode(TOKEN, { stage: page.snsStage });
        const unknown = storeCode(TOKEN, { stage: "unknown-stage" });
        const foreign = storeCode(TOKEN, {
          executionArn: "arn:aws:states:eu-west-1:123456789012:execution:someone-elses-machine:x",
        });
        // The item's stage changed in the table after the start function sealed the token for the email stage.
        const edited = storeCode();
        codes.items.get(codeHashOf(edited))!.executionArn = { S: `${page.execution}-2` };
        for (const code of [other, unknown, foreign, edited]) {
          expect((await fetch(codeLink(code))).status).to.equal(400);
          expect((await postCode(code, { decision: "approve" })).status).to.equal(400);
        }
        expect(aws.operations().filter((o) => o !== "GetItem")).to.deep.equal([]);
      });

      it("a code whose token waits at another stage's Task (per the history) opens nothing (400) and is not claimed", async () => {
        running();
        aws.on("SendTaskHeartbeat", () => ({})).on("SendTaskSuccess", () => ({}));
        waitingAt(page.snsStage);
        const code = storeCode();
        expect((await fetch(codeLink(code))).status).to.equal(400);
        expect((await postCode(code, { decision: "approve" })).status).to.equal(400);
        expect(aws.operations()).to.deep.equal([
          "GetItem",
          "DescribeExecution",
          "GetExecutionHistory",
          "GetItem",
          "GetExecutionHistory",
        ]);
        expect(codes.items.get(codeHashOf(code))!.claimedAt).to.equal(undefined);
      });

      it("a fresh claim whose fate is unknown (the pressing request timed out at API Gateway's 29 s, or lost its answer) while the history still waits: GET and POST say 'being recorded, open again in 2 minutes' (409), never 'already decided', and send nothing; once the claim is stale the link decides", async () => {
        running();
        aws.on("SendTaskHeartbeat", () => ({})).on("SendTaskSuccess", () => ({}));
        const now = Math.floor(Date.now() / 1000);
        const code = storeCode(TOKEN, { claimedAt: now - 5 });
        const before = itemOf(code);
        const get = await fetch(codeLink(code));
        const html = await get.text();
        expect(get.status).to.equal(409);
        expect(html)
          .to.contain("A decision is being recorded")
          .and.contain("in 2 minutes")
          .and.contain("Nothing was changed.")
          .and.not.contain("Nothing left to decide")
          .and.not.contain("<form");
        const post = await postCode(code, { decision: "reject" });
        expect(post.status).to.equal(409);
        expect(await post.text())
          .to.contain("A decision is being recorded")
          .and.contain("This press changed nothing.");
        // It reads the code and the history (does the Task still wait?), and sends and writes nothing.
        expect(aws.operations()).to.deep.equal(["GetItem", "GetExecutionHistory", "GetItem", "GetExecutionHistory"]);
        expect(itemOf(code)).to.deep.equal(before);
        // The claim is older than CLAIM_STALE_SECONDS and never confirmed: the same link shows the form and decides.
        codes.items.get(codeHashOf(code))!.claimedAt = { N: String(now - CLAIM_STALE_SECONDS - 1) };
        expect((await fetch(codeLink(code))).status).to.equal(200);
        expect((await postCode(code, { decision: "approve" })).status).to.equal(200);
        expect(aws.operations().filter((o) => o === "SendTaskSuccess")).to.have.length(1);
      });

      it("a fresh claim while the history shows the Task decided: GET and POST say 'Nothing left to decide' (410), the decision was recorded", async () => {
        aws.on("SendTaskSuccess", () => ({}));
        decidedAt(page.emailStage);
        const code = storeCode(TOKEN, { claimedAt: Math.floor(Date.now() / 1000) - 5 });
        expect((await fetch(codeLink(code))).status).to.equal(410);
        const post = await postCode(code, { decision: "reject" });
        expect(post.status).to.equal(410);
        expect(await post.text()).to.contain("Nothing left to decide");
        expect(aws.operations()).to.deep.equal(["GetItem", "GetExecutionHistory", "GetItem", "GetExecutionHistory"]);
      });

      it("a decision AWS refused (ThrottlingException, an answer with status 400): the page says nothing was recorded, frees the code at once, and the same link decides again", async () => {
        running();
        let refuse = true;
        aws
          .on("SendTaskHeartbeat", () => ({}))
          .on("SendTaskSuccess", () => (refuse ? new AwsError("ThrottlingException", "Rate exceeded", 400) : {}));
        const code = storeCode();
        const refused = await postCode(code, { decision: "approve" });
        expect(refused.status).to.equal(503);
        expect(await refused.text())
          .to.contain("Your decision was not recorded")
          .and.contain("nothing was recorded")
          .and.not.contain("may or may not");
        expect(aws.operations()).to.deep.equal([
          "GetItem",
          "GetExecutionHistory",
          "UpdateItem",
          // Sent again while throttled (refused each time, so never recorded twice), then released.
          ...Array(PAGE_RESEND.pausesMs.length + 1).fill("SendTaskSuccess"),
          "UpdateItem",
        ]);
        // The release: only this press's claim, removed.
        const [claim, release] = aws.requests.filter((r) => r.operation === "UpdateItem").map((r) => r.body);
        expect(release).to.deep.include({
          UpdateExpression: "REMOVE claimedAt, claimId",
          ConditionExpression: "claimId = :claim",
        });
        expect(release.ExpressionAttributeValues).to.deep.equal({
          ":claim": claim.ExpressionAttributeValues[":claim"],
        });
        const item = itemOf(code);
        expect(item.claimedAt).to.equal(undefined);
        expect(item.claimId).to.equal(undefined);
        expect(item.decision).to.equal(undefined);
        // Reopened at once: the form, then a decision.
        refuse = false;
        expect((await fetch(codeLink(code))).status).to.equal(200);
        const decided = await postCode(code, { decision: "reject" });
        expect(decided.status).to.equal(200);
        expect(await decided.text()).to.contain("<h1>Rejected</h1>");
        expect(itemOf(code).decision).to.deep.equal({ S: "rejected" });
      });

      it("every answer of AWS with a 4xx status proves nothing was recorded and frees the code: KMS errors, access denied, bad output (503 'not recorded'), a closed task (410), an unknown token (400)", async () => {
        // The errors SendTaskSuccess declares (all HTTP 400: @aws-sdk/client-sfn dist-types/commands/SendTaskSuccessCommand.d.ts,
        // https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html) and AWS's common ones.
        const cases: Array<[string, number, string]> = [
          ["KmsThrottlingException", 503, "Your decision was not recorded"],
          ["KmsAccessDeniedException", 503, "Your decision was not recorded"],
          ["KmsInvalidStateException", 503, "Your decision was not recorded"],
          ["AccessDeniedException", 503, "Your decision was not recorded"],
          ["InvalidOutput", 503, "Your decision was not recorded"],
          ["TaskTimedOut", 410, "Nothing left to decide"],
          ["TaskDoesNotExist", 410, "Nothing left to decide"],
          ["InvalidToken", 400, "This link does not work"],
        ];
        for (const [type, status, title] of cases) {
          aws.on("SendTaskSuccess", () => new AwsError(type, "refused", 400));
          const code = storeCode();
          const response = await postCode(code, { decision: "approve" });
          expect(response.status, type).to.equal(status);
          expect(await response.text(), type).to.contain(title);
          const item = itemOf(code);
          expect([item.claimedAt, item.claimId, item.decision, item.confirmedAt], type).to.deep.equal([
            undefined,
            undefined,
            undefined,
            undefined,
          ]);
        }
      });

      it("a decision whose answer was lost (the request timed out after Step Functions took it): 'not confirmed, open again in 2 minutes' (503); the claim stays, so nothing is sent again, and a reopened link says 'Nothing left to decide'", async () => {
        const credentials = { accessKeyId: "AKIAFAKE", secretAccessKey: "fake" };
        // A client that stops waiting after 300 ms (no answer, no status), as at API Gateway's or the SDK's timeout.
        const impatient = new SFNClient({
          region: "eu-west-1",
          endpoint: aws.url,
          credentials,
          maxAttempts: 1,
          requestHandler: { requestTimeout: 300, throwOnRequestTimeout: true },
        });
        const dynamodb = new DynamoDBClient({ region: "eu-west-1", endpoint: aws.url, credentials, maxAttempts: 1 });
        const code = storeCode();
        // Step Functions records the decision at once; its answer comes too late.
        aws.on("SendTaskSuccess", async () => {
          decidedAt(page.emailStage);
          await new Promise((resolve) => setTimeout(resolve, 500));
          return {};
        });
        const event = {
          requestContext: { http: { method: "POST", sourceIp: "127.0.0.1", userAgent: "test" } },
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ c: code, name: "Alice Example", decision: "approve" }).toString(),
        };
        const response = await handleApprovalPage(event, page.settings, impatient, dynamodb);
        expect(response.statusCode).to.equal(503);
        expect(response.body)
          .to.contain("Your decision was not confirmed")
          .and.contain("may or may not have been recorded")
          .and.contain("in 2 minutes");
        const item = itemOf(code);
        expect(item.claimedAt).to.not.equal(undefined);
        expect(item.confirmedAt).to.equal(undefined);
        expect(item.decision).to.equal(undefined);
        // Reopened: the history shows the decision, so the page says there is nothing left to decide; a press sends nothing.
        aws.requests.length = 0;
        expect((await fetch(codeLink(code))).status).to.equal(410);
        const again = await postCode(code, { decision: "reject" });
        expect(again.status).to.equal(410);
        expect(aws.operations()).to.deep.equal(["GetItem", "GetExecutionHistory", "GetItem", "GetExecutionHistory"]);
      });

      it("a decision Step Functions did not confirm (503 from AWS: its fate unknown): 'not confirmed, open again in 2 minutes' (503), the code stays claimed, the table names no decision; once the claim is stale the approver decides again, and the table records the decision Step Functions confirmed", async () => {
        aws.on("SendTaskSuccess", () => new AwsError("ServiceUnavailable", "down", 503));
        const code = storeCode();
        const response = await postCode(code, { decision: "approve" });
        expect(response.status).to.equal(503);
        expect(await response.text())
          .to.contain("Your decision was not confirmed")
          .and.contain("in 2 minutes");
        // No release after a server error: the first request may still be recorded.
        expect(aws.operations()).to.deep.equal(["GetItem", "GetExecutionHistory", "UpdateItem", "SendTaskSuccess"]);
        const item = codes.items.get(codeHashOf(code))!;
        expect(item.claimedAt).to.not.equal(undefined);
        expect(item.confirmedAt).to.equal(undefined);
        expect(item.decision).to.equal(undefined);
        // A minute later (the claim made stale here), another press takes the claim over; its fate is unknown too: still no decision in the table.
        item.claimedAt = { N: String(Math.floor(Date.now() / 1000) - CLAIM_STALE_SECONDS - 1) };
        expect((await postCode(code, { decision: "reject" })).status).to.equal(503);
        expect(itemOf(code).decision).to.equal(undefined);
        // Then one that Step Functions confirms: the table says what Step Functions recorded.
        codes.items.get(codeHashOf(code))!.claimedAt = {
          N: String(Math.floor(Date.now() / 1000) - CLAIM_STALE_SECONDS - 1),
        };
        aws.on("SendTaskSuccess", () => ({}));
        expect((await postCode(code, { decision: "approve" })).status).to.equal(200);
        expect(itemOf(code).decision).to.deep.equal({ S: "approved" });
        expect(itemOf(code).confirmedAt?.S).to.be.a("string");
      });

      it("the code table unreachable: 'Please try again' (503), nothing decided", async () => {
        aws.on("GetItem", () => new AwsError("ServiceUnavailable", "down", 503)).on("SendTaskSuccess", () => ({}));
        const code = newLinkCode();
        expect((await fetch(codeLink(code))).status).to.equal(503);
        expect((await postCode(code, { decision: "approve" })).status).to.equal(503);
        expect(aws.operations().filter((o) => o !== "GetItem")).to.deep.equal([]);
      });

      it("a POST with a code but without a decision or a name reads nothing", async () => {
        const code = storeCode();
        expect((await postCode(code, { decision: "maybe" })).status).to.equal(400);
        expect((await postCode(code, { decision: "approve", name: " " })).status).to.equal(400);
        expect(aws.requests).to.have.length(0);
      });
    });

    describe("a stage with reminders and escalation (its Task waits in a Parallel branch; the other branches add newer events)", () => {
      const historyRequest = {
        executionArn: page.execution,
        reverseOrder: true,
        maxResults: 200,
        includeExecutionData: true,
      };
      const historyRequests = () =>
        aws.requests.filter((r) => r.operation === "GetExecutionHistory").map((r) => r.body);
      /** Serves `h` page by page as Step Functions does. */
      const serve = (h: HistoryBuilder) =>
        aws.on("GetExecutionHistory", (body) =>
          body.executionArn === page.execution
            ? h.page(body)
            : new AwsError("ExecutionDoesNotExist", "Execution does not exist"),
        );
      /** The email stage was decided after 40 reminders; the sns stage (TOKEN) now waits with `reminders` reminder cycles behind it, and was escalated after the 20th. */
      function waitingAtSnsStage(reminders: number) {
        const h = new HistoryBuilder(page.execution, EXPENSE_REPORT);
        const first = new FollowUpStage(h, {
          stage: page.emailStage,
          mechanism: "email-link",
          token: `${TOKEN}EARLIER`,
          executionArn: page.execution,
        });
        for (let i = 0; i < 40; i++) first.remind();
        first.end({ decision: "approved", approver: "Lee Lead (via email link)" });
        const stage = new FollowUpStage(h, {
          stage: page.snsStage,
          mechanism: "sns-callback",
          token: TOKEN,
          executionArn: page.execution,
        });
        for (let i = 1; i <= reminders; i++) {
          stage.remind();
          if (i === 20) stage.escalate();
        }
        return { h, stage };
      }

      it("finds the token's TaskScheduled behind 30 reminder cycles (on the second page): GET shows the form and POST decides, reading page by page and no further than needed", async () => {
        const { h, stage } = waitingAtSnsStage(30);
        // The history as the page finds it: the newest TaskScheduled and TaskStateEntered are a reminder's,
        // the token's TaskScheduled lies beyond the first page of 200 events, and there is a third page.
        const newest = h.newestFirst();
        expect(newest.find((e) => e.type === "TaskScheduled")?.taskScheduledEventDetails.resource).to.equal("publish");
        expect(newest.find((e) => e.type === "TaskStateEntered")?.stateEnteredEventDetails.name).to.equal(
          `Approval ${page.snsStage} reminder`,
        );
        expect(newest.findIndex((e) => e.id === stage.taskScheduled)).to.be.within(200, 399);
        expect(newest.findIndex((e) => e.id === stage.taskEntered)).to.be.within(200, 399);
        expect(newest.length).to.be.greaterThan(400);
        serve(h);
        running();
        aws.on("SendTaskHeartbeat", () => ({})).on("SendTaskSuccess", () => ({}));

        const response = await fetch(link({ s: page.snsStage }));
        const html = await response.text();
        expect(response.status).to.equal(200);
        expect(html).to.contain("<h1>Expense report ER98765</h1>").and.contain(`<dd>${page.snsStage}</dd>`);
        expect(html).to.contain(
          '<button class="approve" type="submit" name="decision" value="approve">Approve</button>',
        );
        expect(aws.operations()).to.deep.equal([
          "DescribeExecution",
          "GetExecutionHistory",
          "GetExecutionHistory",
          "SendTaskHeartbeat",
        ]);
        expect(historyRequests()).to.deep.equal([historyRequest, { ...historyRequest, nextToken: "events-from-200" }]);
        expect(aws.requests[3].body).to.deep.equal({ taskToken: TOKEN });

        aws.requests.length = 0;
        const decided = await post({ decision: "approve", s: page.snsStage });
        expect(decided.status).to.equal(200);
        expect(await decided.text()).to.contain("<h1>Approved</h1>");
        expect(aws.operations()).to.deep.equal(["GetExecutionHistory", "GetExecutionHistory", "SendTaskSuccess"]);
        expect(historyRequests()).to.deep.equal([historyRequest, { ...historyRequest, nextToken: "events-from-200" }]);
        expect(aws.requests[2].body.taskToken).to.equal(TOKEN);
        expect(JSON.parse(aws.requests[2].body.output)).to.deep.include({
          approved: true,
          decision: "approved",
          stage: page.snsStage,
          mechanism: "sns-callback",
          approver: "Alice Example (via email link)",
        });
      });

      it("finds it on the first page when it is there, and reads only that page", async () => {
        const { h } = waitingAtSnsStage(3);
        serve(h);
        aws.on("SendTaskSuccess", () => ({}));
        expect((await post({ decision: "reject", s: page.snsStage })).status).to.equal(200);
        expect(historyRequests()).to.deep.equal([historyRequest]);
        expect(aws.operations()).to.deep.equal(["GetExecutionHistory", "SendTaskSuccess"]);
      });

      it("a Task that timed out (TaskTimedOut follows its TaskScheduled) shows 'Nothing left to decide' (410) and decides nothing, while reminders are newer and after the stage moved on", async () => {
        const { h, stage } = waitingAtSnsStage(30);
        stage.end("timed-out", true);
        const timedOut = h.events.find((e) => e.type === "TaskTimedOut" && e.previousEventId > stage.taskScheduled)!;
        expect(
          h.events
            .filter((e) => e.id > timedOut.id && e.type === "TaskStateEntered")
            .map((e) => e.stateEnteredEventDetails.name),
        ).to.deep.equal([`Approval ${page.snsStage} reminder`]);
        serve(h);
        running();
        aws.on("SendTaskHeartbeat", () => ({})).on("SendTaskSuccess", () => ({}));
        // The moment the timeout is recorded (nothing after it yet), then the moment the workflow checks the timed-out decision.
        for (const moment of [timedOut.id, h.last]) {
          aws.requests.length = 0;
          h.shownUpTo = moment;
          const get = await fetch(link({ s: page.snsStage }));
          expect(get.status, `GET at event ${moment}`).to.equal(410);
          expect(await get.text()).to.contain("Nothing left to decide");
          const response = await post({ decision: "approve", s: page.snsStage });
          expect(response.status, `POST at event ${moment}`).to.equal(410);
          expect(await response.text()).to.contain("This press changed nothing.");
          expect(aws.operations()).to.deep.equal([
            "DescribeExecution",
            "GetExecutionHistory",
            "GetExecutionHistory",
            "GetExecutionHistory",
            "GetExecutionHistory",
          ]);
        }
      });

      it("a token link naming the email-link stage is refused before reading the history (400), while its token waits at the sns stage", async () => {
        const { h } = waitingAtSnsStage(30);
        serve(h);
        running();
        aws.on("SendTaskHeartbeat", () => ({})).on("SendTaskSuccess", () => ({}));
        // TOKEN waits at the sns stage; the link says the email stage.
        expect((await fetch(link({ s: page.emailStage }))).status).to.equal(400);
        const response = await post({ decision: "approve", s: page.emailStage });
        expect(response.status).to.equal(400);
        expect(await response.text()).to.contain("This link does not work");
        expect(aws.requests).to.have.length(0);
      });

      it("the code of a stage decided earlier shows 'Nothing left to decide' (410): its token's Task ended, though the code was never used", async () => {
        const { h } = waitingAtSnsStage(30);
        serve(h);
        running();
        aws.on("SendTaskHeartbeat", () => ({})).on("SendTaskSuccess", () => ({}));
        const code = storeCode(`${TOKEN}EARLIER`);
        expect((await fetch(codeLink(code))).status).to.equal(410);
        expect((await postCode(code, { decision: "approve" })).status).to.equal(410);
        expect(
          aws.operations().filter((o) => !["GetItem", "DescribeExecution", "GetExecutionHistory"].includes(o)),
        ).to.deep.equal([]);
      });

      it("finds the token behind the worst case the config allows (100 reminders and 10 escalation targets, every publish failed), on the 12th page", async () => {
        const h = new HistoryBuilder(page.execution, EXPENSE_REPORT);
        const stage = new FollowUpStage(
          h,
          { stage: page.snsStage, mechanism: "sns-callback", token: TOKEN, executionArn: page.execution },
          { escalationTargets: 10 },
        );
        for (let i = 1; i <= 100; i++) {
          stage.remind(true);
          if (i === 50) stage.escalate(true);
        }
        expect(h.newestFirst().findIndex((e) => e.id === stage.taskScheduled)).to.be.within(2200, 2399);
        serve(h);
        aws.on("SendTaskSuccess", () => ({}));
        expect((await post({ decision: "approve" })).status).to.equal(200);
        expect(historyRequests()).to.deep.equal([
          historyRequest,
          ...Array.from({ length: 11 }, (_, n) => ({ ...historyRequest, nextToken: `events-from-${(n + 1) * 200}` })),
        ]);
        expect(aws.operations().slice(-1)).to.deep.equal(["SendTaskSuccess"]);
      });

      it("reads at most 15 pages of 200 events: a token further back does not wait (410)", async () => {
        const h = new HistoryBuilder(page.execution, EXPENSE_REPORT);
        // More reminders than the config allows: only to put the token's TaskScheduled beyond 3,000 events.
        const stage = new FollowUpStage(
          h,
          { stage: page.snsStage, mechanism: "sns-callback", token: TOKEN, executionArn: page.execution },
          { maxReminders: 1000 },
        );
        for (let i = 0; i < 300; i++) stage.remind();
        expect(h.newestFirst().findIndex((e) => e.id === stage.taskScheduled)).to.be.greaterThan(3000);
        serve(h);
        aws.on("SendTaskSuccess", () => ({}));
        expect((await post({ decision: "approve" })).status).to.equal(410);
        expect(historyRequests()).to.deep.equal([
          historyRequest,
          ...Array.from({ length: 14 }, (_, n) => ({ ...historyRequest, nextToken: `events-from-${(n + 1) * 200}` })),
        ]);
        expect(aws.operations()).to.not.include("SendTaskSuccess");
      });
    });

    it("a Task retried after a failed attempt: the new attempt's code waits (its TaskScheduled follows the failed attempt's events), the failed attempt's does not", async () => {
      const h = new HistoryBuilder(page.execution, EXPENSE_REPORT);
      const entered = h.enter("Task", `Approval ${page.emailStage}`);
      const task = { stage: page.emailStage, mechanism: "email-link" as const, executionArn: page.execution };
      const submitted = h.waitingTask({ ...task, token: `${TOKEN}FIRST` }, entered);
      const failed = h.add(
        "TaskFailed",
        {
          taskFailedEventDetails: {
            resourceType: "lambda",
            resource: "invoke.waitForTaskToken",
            error: "Lambda.TooManyRequestsException",
            cause: "Rate exceeded",
          },
        },
        submitted,
      );
      h.waitingTask({ ...task, token: TOKEN }, failed);
      aws.on("GetExecutionHistory", (body) => h.page(body));
      aws.on("SendTaskSuccess", () => ({}));
      // Each attempt's start function stored its own code.
      const first = storeCode(`${TOKEN}FIRST`);
      const second = storeCode(TOKEN);
      expect((await postCode(first, { decision: "approve" })).status).to.equal(410);
      expect((await postCode(second, { decision: "approve" })).status).to.equal(200);
      expect(aws.operations()).to.deep.equal([
        "GetItem",
        "GetExecutionHistory",
        "GetItem",
        "GetExecutionHistory",
        "UpdateItem",
        "SendTaskSuccess",
        "UpdateItem",
      ]);
      expect(aws.requests.find((r) => r.operation === "SendTaskSuccess")!.body.taskToken).to.equal(TOKEN);
    });

    it("refuses a POST that repeats a field (400, nothing read or decided), whichever value comes last", async () => {
      aws.on("SendTaskSuccess", () => ({}));
      const fields = { t: encodeToken(TOKEN), e: page.execution, s: page.snsStage, name: "Alice Example" };
      const repeated: Array<Array<[string, string]>> = [
        [
          ["decision", "reject"],
          ["decision", "approve"],
        ],
        [
          ["decision", "approve"],
          ["decision", "reject"],
        ],
        [
          ["decision", "approve"],
          ["name", "Mallory"],
        ],
        [
          ["decision", "approve"],
          ["s", page.snsStage],
        ],
        [
          ["decision", "approve"],
          ["t", encodeToken(TOKEN)],
        ],
      ];
      for (const extra of repeated) {
        const body = new URLSearchParams([...Object.entries(fields), ...extra]).toString();
        const response = await fetch(base, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body,
        });
        expect(response.status, body).to.equal(400);
        expect(await response.text())
          .to.contain("came more than once")
          .and.contain("nothing was decided");
      }
      expect(aws.requests).to.have.length(0);
    });

    it("refuses a POST without a decision or a name, or not from the form, and records nothing", async () => {
      aws.on("SendTaskSuccess", () => ({}));
      expect((await post({ decision: "yes" })).status).to.equal(400);
      expect((await post({ decision: "approve", name: "  " })).status).to.equal(400);
      expect((await post({ decision: "approve" }, "application/json")).status).to.equal(415);
      // API Gateway has no PUT route (404); the function itself answers any other method with 405.
      expect((await fetch(link(), { method: "PUT" })).status).to.equal(404);
      if (page.direct) {
        expect(
          (
            await handleApprovalPage(
              { requestContext: { http: { method: "PUT" } } },
              SETTINGS,
              new SFNClient({ region: "eu-west-1" }),
            )
          ).statusCode,
        ).to.equal(405);
      }
      expect((await handler({ requestContext: { http: { method: "PUT" } } })).statusCode).to.equal(405);
      expect(aws.requests).to.have.length(0);
    });
  });
