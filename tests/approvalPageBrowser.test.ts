// The approval page in a real browser: headless Chromium (playwright-core, the system's Chromium)
// at phone width opens an approval link, reads the request and decides. The page is the deployed
// code: the staging stack's serialized page function (__index.js, as Pulumi would upload it) run
// per request by a local API Gateway adapter, with a fake Step Functions endpoint behind it.
// Screenshots go to test-artifacts/ (git-ignored) for a human look.
import { expect } from "chai";
import { randomBytes } from "crypto";
import { existsSync, mkdirSync, readFileSync } from "fs";
import { join } from "path";
import { Browser, BrowserContext, ConsoleMessage, Page, chromium } from "playwright-core";
import { approvalLink, encodeToken } from "../functions/mechanisms/email/approvalLink";
import { waitingTaskHistory } from "./helpers/executionHistory";
import { AwsError, FakeAws } from "./helpers/fakeAws";
import { PageServer, serializedPageHandler, startPageServer } from "./helpers/pageServer";
import { archiveFiles, named, runProgram } from "./helpers/pulumiMocks";
import { writeArchive } from "./helpers/serializedHandler";
import { stackConfig } from "./helpers/stackConfig";

const ROOT = join(__dirname, "..");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const ARTIFACTS = "test-artifacts";
const STATE_MACHINE_ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:sfn-approvals-staging";
const EXECUTION_ARN = "arn:aws:states:eu-west-1:123456789012:execution:sfn-approvals-staging:er98765-2026-11-22";
/** Like a real task token: long, opaque, standard base64 with '+', '/' and '=' padding (1,132 characters). */
const TOKEN = `AQCEAAAAKgAAAAMAAAAAAAAAAe+/${randomBytes(826).toString("base64")}`;
const REPORT_TEXT = readFileSync(join(ROOT, "examples", "expense-report.json"), "utf8");
const REPORT = JSON.parse(REPORT_TEXT) as { title: string; details: { transactions: Array<{ description: string }> } };
const GREEN = "rgb(26, 127, 55)";

/** Error texts without the token, whichever form it travels in (raw, base64url, URL-encoded). */
function redact(text: string): string {
  let out = text;
  for (const form of [TOKEN, encodeToken(TOKEN), encodeURIComponent(TOKEN)]) out = out.split(form).join("<task token>");
  return out;
}

/** Runs a browser step; a failure is rethrown with the token removed (Playwright errors quote URLs). */
async function step<T>(what: string, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    throw new Error(redact(`${what}: ${(error as Error).message}`));
  }
}

describe("approval page in headless Chromium (staging, phone width, the deployed page function)", function () {
  this.timeout(60000);
  const aws = new FakeAws();
  let server: PageServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let link = "";
  /** Console errors, CSP violations and uncaught page errors of the current test. */
  let problems: string[] = [];
  /** Every POST the browser sent in the current test. */
  let posts: string[] = [];

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium not found at ${CHROMIUM}. Install it (Debian/Ubuntu: sudo apt-get install -y chromium; .ci/run does) or set CHROMIUM_PATH to a Chromium executable.`,
      );
    }
    const staging = await runProgram("staging", stackConfig("staging"));
    const fn = named(staging.resources, "approval-page-handler-fn");
    const variables = fn.inputs.environment.variables as Record<string, string>;
    expect(variables).to.deep.equal({
      STATE_MACHINE_ARN,
      STAGES: JSON.stringify({ "team-lead": "email-link", finance: "sns-callback" }),
      CODE_LINK_MECHANISMS: JSON.stringify(["email-link"]),
      CODE_TABLE_NAME: "sfn-approvals-staging-link-codes",
    });
    const dir = writeArchive(await archiveFiles(fn));
    const endpoint = await aws.start();
    server = await startPageServer(serializedPageHandler(dir, { ...variables, AWS_ENDPOINT_URL_SFN: endpoint }));
    link = approvalLink(server.url, TOKEN, EXECUTION_ARN, "finance");
    mkdirSync(join(ROOT, ARTIFACTS), { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
      ],
    });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await aws.stop();
  });

  beforeEach(async () => {
    aws.reset();
    server.events.length = 0;
    problems = [];
    posts = [];
    aws
      .on("DescribeExecution", () => ({
        executionArn: EXECUTION_ARN,
        stateMachineArn: STATE_MACHINE_ARN,
        name: "er98765-2026-11-22",
        status: "RUNNING",
        input: REPORT_TEXT,
        startDate: 1795334400,
      }))
      .on("GetExecutionHistory", waitingAtFinance)
      .on("SendTaskHeartbeat", () => ({}))
      .on("SendTaskSuccess", () => ({}));
    context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 1,
      isMobile: true,
      hasTouch: true,
      locale: "en-US",
    });
    page = await context.newPage();
    watch(page);
  });
  afterEach(async () => {
    await context?.close();
  });

  /** Records the page's console errors, CSP reports, uncaught errors and POSTs. */
  /** The execution waits at stage 'finance' (sns-callback) for TOKEN, as its history shows. */
  const waitingAtFinance = () =>
    waitingTaskHistory({ stage: "finance", mechanism: "sns-callback", token: TOKEN, executionArn: EXECUTION_ARN });

  function watch(p: Page): void {
    p.on("console", (msg: ConsoleMessage) => {
      if (msg.type() === "error" || msg.text().includes("Content Security Policy"))
        problems.push(redact(`console ${msg.type()}: ${msg.text()}`));
    });
    p.on("pageerror", (error) => problems.push(redact(`pageerror: ${error.message}`)));
    p.on("request", (request) => {
      if (request.method() !== "POST") return;
      const url = new URL(request.url());
      posts.push(`POST ${url.origin === new URL(server.url).origin ? url.pathname : url.origin}`);
    });
  }

  async function open(p = page): Promise<void> {
    const response = await step("open the approval link", () => p.goto(link, { waitUntil: "load" }));
    expect(response?.status()).to.equal(200);
    expect((await p.locator("h1").innerText()).trim()).to.equal(REPORT.title);
  }

  /** Presses a button of the form and waits for the page that answers the POST. */
  async function press(button: "Approve" | "Reject", p = page): Promise<{ status: number; h1: string }> {
    const [response] = await step(`press ${button}`, () =>
      Promise.all([
        p.waitForResponse((r) => r.request().method() === "POST" && r.request().isNavigationRequest()),
        p.getByRole("button", { name: button }).click(),
      ]),
    );
    await step("load the result page", () => p.waitForLoadState("load"));
    return { status: response.status(), h1: (await p.locator("h1").innerText()).trim() };
  }

  const methods = () => server.events.map((e) => e.requestContext?.http?.method);

  /** The SendTaskSuccess requests the page function sent, with token check and parsed output. */
  function successes(): Array<{ tokenMatches: boolean; output: Record<string, unknown> }> {
    return aws.requests
      .filter((r) => r.operation === "SendTaskSuccess")
      .map((r) => ({
        tokenMatches: r.body.taskToken === TOKEN,
        output: JSON.parse(r.body.output) as Record<string, unknown>,
      }));
  }

  it("shows the request with styles and tables, reads only, and records an approval from the form", async () => {
    expect(
      ["+", "/", "="].every((c) => TOKEN.includes(c)),
      "the token has '+', '/' and '='",
    ).to.equal(true);
    await open();
    expect(await page.title()).to.equal(`Approve: ${REPORT.title}`);
    // The details render as tables: the transactions as one table with one row per transaction.
    const table = page.locator("table", { has: page.locator("th", { hasText: "description" }) }).last();
    expect(await table.locator("tbody tr").allInnerTexts()).to.have.length(REPORT.details.transactions.length);
    for (const t of REPORT.details.transactions) expect(await table.innerText()).to.contain(t.description);
    // The inline style applied, so the CSP hash admits it; and the page fits the phone's width.
    expect(
      await page
        .getByRole("button", { name: "Approve" })
        .evaluate((el: any) => (globalThis as any).getComputedStyle(el).backgroundColor),
    ).to.equal(GREEN);
    expect(
      await page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]"),
    ).to.deep.equal([390, 390]);
    // Opening the page read the request and checked the token; it decided nothing.
    expect(aws.operations()).to.deep.equal(["DescribeExecution", "GetExecutionHistory", "SendTaskHeartbeat"]);
    expect(aws.requests[0].body).to.deep.equal({ executionArn: EXECUTION_ARN });
    expect(aws.requests[1].body).to.deep.equal({
      executionArn: EXECUTION_ARN,
      reverseOrder: true,
      maxResults: 200,
      includeExecutionData: true,
    });
    expect(aws.requests[2].body.taskToken === TOKEN, "the heartbeat carried the link's task token").to.equal(true);
    await page.screenshot({ path: join(ROOT, ARTIFACTS, "approval-page.png"), fullPage: true });
    console.log(`    screenshot: ${ARTIFACTS}/approval-page.png`);

    await page.getByLabel("Your name").fill("Alice Example");
    await page.getByLabel("Comment (optional)").fill("Receipts checked");
    const before = Date.now();
    const result = await press("Approve");
    expect(result).to.deep.equal({ status: 200, h1: "Approved" });
    expect(await page.locator("main p").innerText()).to.equal(
      "Your decision (approved) for stage finance is recorded as Alice Example (via email link). You can close this page.",
    );
    expect(aws.operations()).to.deep.equal([
      "DescribeExecution",
      "GetExecutionHistory",
      "SendTaskHeartbeat",
      "GetExecutionHistory",
      "SendTaskSuccess",
    ]);
    const [sent] = successes();
    expect(sent.tokenMatches, "SendTaskSuccess carried the link's task token").to.equal(true);
    expect(sent.output).to.deep.include({
      approved: true,
      decision: "approved",
      stage: "finance",
      mechanism: "sns-callback",
      approver: "Alice Example (via email link)",
      comment: "Receipts checked",
    });
    expect(Date.parse(String(sent.output.decidedAt))).to.be.within(before - 1000, Date.now());
    expect(posts).to.deep.equal(["POST /decide"]);
    // The form sent exactly its own fields, the link's token among them unchanged.
    const form = new URLSearchParams(server.events[1].body);
    expect([...form.keys()]).to.deep.equal(["t", "e", "s", "name", "comment", "decision"]);
    expect(form.get("t") === encodeToken(TOKEN), "the form carried the link's token").to.equal(true);
    expect(Object.fromEntries([...form].filter(([k]) => k !== "t"))).to.deep.equal({
      e: EXECUTION_ARN,
      s: "finance",
      name: "Alice Example",
      comment: "Receipts checked",
      decision: "approve",
    });
    await page.screenshot({ path: join(ROOT, ARTIFACTS, "approval-result.png"), fullPage: true });
    console.log(`    screenshot: ${ARTIFACTS}/approval-result.png`);
    expect(problems).to.deep.equal([]);
  });

  it("does not send a decision without a name (the browser's required check), then records a rejection", async () => {
    await open();
    await page.getByRole("button", { name: "Reject" }).click();
    // The browser refuses to submit: the name field is invalid, nothing is posted, the form stays.
    expect(await page.getByLabel("Your name").evaluate((el: any) => el.validity.valueMissing as boolean)).to.equal(
      true,
    );
    await page.waitForTimeout(750);
    expect(posts).to.deep.equal([]);
    expect(methods()).to.deep.equal(["GET"]);
    expect((await page.locator("h1").innerText()).trim()).to.equal(REPORT.title);

    await page.getByLabel("Your name").fill("Bob Example");
    const result = await press("Reject");
    expect(result).to.deep.equal({ status: 200, h1: "Rejected" });
    expect(methods()).to.deep.equal(["GET", "POST"]);
    expect(aws.operations()).to.deep.equal([
      "DescribeExecution",
      "GetExecutionHistory",
      "SendTaskHeartbeat",
      "GetExecutionHistory",
      "SendTaskSuccess",
    ]);
    const [sent] = successes();
    expect(sent.tokenMatches, "SendTaskSuccess carried the link's task token").to.equal(true);
    expect(sent.output).to.deep.include({
      approved: false,
      decision: "rejected",
      stage: "finance",
      mechanism: "sns-callback",
      approver: "Bob Example (via email link)",
      comment: null,
    });
    expect(problems).to.deep.equal([]);
  });

  it("pressing Enter in the name or comment field decides nothing (no implicit submission through the Approve button)", async () => {
    await open();
    await page.getByLabel("Your name").fill("Alice Example");
    await page.getByLabel("Your name").press("Enter");
    await page.getByLabel("Comment (optional)").fill("looks fine");
    await page.getByLabel("Comment (optional)").press("Enter");
    await page.waitForTimeout(750);
    expect(posts).to.deep.equal([]);
    expect(methods()).to.deep.equal(["GET"]);
    expect(successes()).to.have.length(0);
    expect((await page.locator("h1").innerText()).trim()).to.equal(REPORT.title);
    // Only a button decides.
    expect(await press("Approve")).to.deep.equal({ status: 200, h1: "Approved" });
    expect(successes().map((s) => s.output.comment)).to.deep.equal(["looks fine\n"].map((c) => c.trim()));
    expect(problems).to.deep.equal([]);
  });

  it("after a decision, going back or pressing Approve on a page still open shows 'Nothing left to decide' (410)", async () => {
    // The approver opened the link twice (or a colleague on the same topic opened the same email).
    const second = await context.newPage();
    watch(second);
    await open();
    await open(second);
    await page.getByLabel("Your name").fill("Alice Example");
    expect(await press("Approve")).to.deep.equal({ status: 200, h1: "Approved" });
    expect(successes()).to.have.length(1);

    // The task is answered: from now on Step Functions refuses its token, as it does for real.
    aws.reset();
    const closed = () => new AwsError("TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'");
    aws
      .on("DescribeExecution", () => ({
        executionArn: EXECUTION_ARN,
        stateMachineArn: STATE_MACHINE_ARN,
        name: "er98765-2026-11-22",
        status: "RUNNING",
        input: REPORT_TEXT,
        startDate: 1795334400,
      }))
      .on("GetExecutionHistory", waitingAtFinance)
      .on("SendTaskHeartbeat", closed)
      .on("SendTaskSuccess", closed);

    // Back: the page is no-store, so Chromium asks again (no form from a cache), and the GET says it is over.
    const back = await step("go back", () => page.goBack({ waitUntil: "load" }));
    expect(back?.status()).to.equal(410);
    expect((await page.locator("h1").innerText()).trim()).to.equal("Nothing left to decide");
    expect(await page.locator("form").count()).to.equal(0);
    expect(aws.operations()).to.deep.equal(["DescribeExecution", "GetExecutionHistory", "SendTaskHeartbeat"]);

    // The form still open in the other tab: pressing Approve again records nothing and says so.
    await second.getByLabel("Your name").fill("Alice Example");
    expect(await press("Approve", second)).to.deep.equal({ status: 410, h1: "Nothing left to decide" });
    expect(await second.locator("main p").innerText()).to.contain("This press changed nothing.");
    expect(aws.operations()).to.deep.equal([
      "DescribeExecution",
      "GetExecutionHistory",
      "SendTaskHeartbeat",
      "GetExecutionHistory",
      "SendTaskSuccess",
    ]);
    const [refused] = successes();
    expect(refused.tokenMatches, "the refused SendTaskSuccess carried the link's task token").to.equal(true);
    expect(refused.output).to.deep.include({
      decision: "approved",
      stage: "finance",
      approver: "Alice Example (via email link)",
    });
    expect(methods()).to.deep.equal(["GET", "GET", "POST", "GET", "POST"]);
    expect(posts).to.deep.equal(["POST /decide", "POST /decide"]);
    // Chromium logs every 4xx page it loads; those two lines are the 410s themselves, nothing else went wrong.
    const gone = "console error: Failed to load resource: the server responded with a status of 410 (Gone)";
    expect(problems).to.deep.equal([gone, gone]);
  });
});
