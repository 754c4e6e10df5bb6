// The staging stack's generated state machine (email-link stage 'team-lead', then sns-callback
// stage 'finance', autoApproveBelow 500), run with aws-local-stepfunctions end to end: the
// email-link Task's payload goes to the real start function (publishing to a recording SNS
// client), the sns-callback Task's JSONata Arguments are evaluated as Step Functions would
// (tests/helpers/localStateMachine.ts), the approver opens the link in each email on the real
// approval page (behind the local HTTP adapter) and presses a button; the page's SendTaskSuccess
// reaches a fake Step Functions endpoint that completes the waiting Task. The email-link code
// lives in a fake of the page's code table (written by the start function, claimed by the page).
import { allStates } from "./helpers/aslLint";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { PublishCommandInput, SNSClient } from "@aws-sdk/client-sns";
import { SFNClient } from "@aws-sdk/client-sfn";
import { expect } from "chai";
import { readFileSync } from "fs";
import { join } from "path";
import { stageTaskOptions } from "../components/workflow/definition";
import { decodeToken } from "../functions/mechanisms/email/approvalLink";
import { handleApprovalPage } from "../functions/mechanisms/email/approvalPage";
import { Mechanism, StageDecision } from "../functions/contract";
import { composeApprovalEmail, sendApprovalEmail } from "../functions/mechanisms/email/emailLink";
import { waitingTaskHistory } from "./helpers/executionHistory";
import { AwsError, FakeAws } from "./helpers/fakeAws";
import { FakeCodeTable } from "./helpers/fakeCodeTable";
import { DEFAULT_ENTERED_TIME, inMemoryAuditBucket, runDefinition, RunResult } from "./helpers/localStateMachine";
import { PageServer, startPageServer } from "./helpers/pageServer";
import { named, ofType, runProgram } from "./helpers/pulumiMocks";
import { stackConfig } from "./helpers/stackConfig";

const EXPENSE = JSON.parse(readFileSync(join(__dirname, "..", "examples", "expense-report.json"), "utf8"));
const STATE_MACHINE_ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:sfn-approvals-staging";
const EXECUTION_ARN = "arn:aws:states:eu-west-1:123456789012:execution:sfn-approvals-staging:ER98765-1";
const PAGE_URL = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/decide";
const TEAM_LEAD_TOPIC = "arn:aws:sns:eu-west-1:123456789012:sfn-approvals-staging-team-lead-approvals";
const FINANCE_TOPIC = "arn:aws:sns:eu-west-1:123456789012:sfn-approvals-staging-finance-approvals";
const CODE_TABLE = "sfn-approvals-staging-link-codes";
/** A realistic task token: long, with every base64 character that breaks links. */
const TOKEN = `AQCEAAAAKgAAAAMAAAAAAAAAAe+/=${"Zm9v+bar/baz=".repeat(70)}`;

/** What Step Functions does with a waiting task: SendTaskSuccess completes it once; then it is gone. */
class WaitingTasks {
  private waiting:
    { token: string; stage: string; mechanism: Mechanism; resolve: (output: unknown) => void } | undefined;
  /** The stage whose Task was scheduled last, and its token (what the execution history shows). */
  private last: { token: string; stage: string; mechanism: Mechanism } | undefined;
  running = true;

  wait(token: string, stage: string, mechanism: Mechanism): Promise<unknown> {
    if (this.waiting) throw new Error("two tasks waiting at once");
    this.last = { token, stage, mechanism };
    return new Promise((resolve) => {
      this.waiting = { token, stage, mechanism, resolve };
    });
  }

  isWaiting(token: string): boolean {
    return this.waiting?.token === token;
  }

  /** Wires the fake Step Functions endpoint the approval page calls. */
  serve(aws: FakeAws): void {
    aws.on("DescribeExecution", (body) =>
      body.executionArn === EXECUTION_ARN
        ? {
            executionArn: EXECUTION_ARN,
            stateMachineArn: STATE_MACHINE_ARN,
            status: this.running ? "RUNNING" : "SUCCEEDED",
            input: JSON.stringify(EXPENSE),
            startDate: 1795341600,
          }
        : new AwsError("ExecutionDoesNotExist", "Execution does not exist"),
    );
    aws.on("GetExecutionHistory", (body) => {
      if (body.executionArn !== EXECUTION_ARN) return new AwsError("ExecutionDoesNotExist", "Execution does not exist");
      return this.last
        ? waitingTaskHistory({ ...this.last, executionArn: EXECUTION_ARN, request: EXPENSE })
        : { events: [] };
    });
    aws.on("SendTaskHeartbeat", (body) =>
      this.isWaiting(body.taskToken) ? {} : new AwsError("TaskDoesNotExist", "Task does not exist anymore"),
    );
    aws.on("SendTaskSuccess", (body) => {
      if (!this.waiting || this.waiting.token !== body.taskToken)
        return new AwsError("TaskDoesNotExist", "Task does not exist anymore");
      const { resolve } = this.waiting;
      this.waiting = undefined;
      resolve(JSON.parse(body.output));
      return {};
    });
  }
}

interface Email extends PublishCommandInput {
  via: "email-link start function" | "sns-callback Task";
}

/** The link of an approval email. */
function linkIn(email: Email): string {
  const links = (email.Message ?? "").match(/https:\/\/\S+/g)?.filter((url) => url.startsWith(`${PAGE_URL}?`)) ?? [];
  expect(links, "approval links in the email").to.have.length(1);
  return links[0];
}

describe("flows: email approvals end to end (staging: email-link 'team-lead', then sns-callback 'finance')", function () {
  this.timeout(60000);
  const aws = new FakeAws();
  let page: PageServer;
  let definition: any;
  let tasks: WaitingTasks;
  let emails: Email[];
  let codes: FakeCodeTable;
  let dynamodb: DynamoDBClient;

  before(async () => {
    const run = await runProgram("staging", stackConfig("staging"));
    const machines = ofType(run.resources, "aws:sfn/stateMachine:StateMachine");
    expect(machines).to.have.length(1);
    definition = JSON.parse(machines[0].inputs.definition);
    // The page's settings, exactly as the deployed function gets them.
    const env = named(run.resources, "approval-page-handler-fn").inputs.environment.variables;
    const settings = {
      stateMachineArn: env.STATE_MACHINE_ARN,
      stages: JSON.parse(env.STAGES),
      codeLinkMechanisms: JSON.parse(env.CODE_LINK_MECHANISMS),
      codeTable: env.CODE_TABLE_NAME,
    };
    expect(settings).to.deep.equal({
      stateMachineArn: STATE_MACHINE_ARN,
      stages: { "team-lead": "email-link", finance: "sns-callback" },
      codeLinkMechanisms: ["email-link"],
      codeTable: CODE_TABLE,
    });
    expect(named(run.resources, "stage-team-lead-start-fn").inputs.environment.variables.CODE_TABLE_NAME).to.equal(
      CODE_TABLE,
    );
    const endpoint = await aws.start();
    const credentials = { accessKeyId: "AKIAFAKE", secretAccessKey: "fake" };
    const sfn = new SFNClient({ region: "eu-west-1", endpoint, credentials, maxAttempts: 1 });
    dynamodb = new DynamoDBClient({ region: "eu-west-1", endpoint, credentials, maxAttempts: 1 });
    page = await startPageServer((event) => handleApprovalPage(event, settings, sfn, dynamodb));
  });
  after(async () => {
    await page.close();
    await aws.stop();
  });
  beforeEach(() => {
    aws.reset();
    tasks = new WaitingTasks();
    tasks.serve(aws);
    codes = new FakeCodeTable(CODE_TABLE);
    codes.serve(aws);
    emails = [];
  });

  /** The approver: opens the email's link (GET), then presses a button (POST) unless `decide` is undefined. */
  async function approverOpens(
    email: Email,
    decide?: { decision: "approve" | "reject"; name: string; comment?: string },
  ): Promise<{ get: Response; post?: Response; postHtml?: string }> {
    const local = linkIn(email).replace(PAGE_URL, page.url);
    const get = await fetch(local);
    const html = await get.text();
    if (!decide) return { get };
    expect(get.status, html).to.equal(200);
    // The form posts back the hidden fields of the page, as a browser would.
    const hidden = Object.fromEntries(
      [...html.matchAll(/<input type="hidden" name="(\w+)" value="([^"]*)">/g)].map((m) => [
        m[1],
        m[2].replace(/&#(\d+);/g, (_, c) => String.fromCharCode(Number(c))),
      ]),
    );
    const post = await fetch(page.url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        ...hidden,
        name: decide.name,
        comment: decide.comment ?? "",
        decision: decide.decision,
      }).toString(),
    });
    return { get, post, postHtml: await post.text() };
  }

  /** Runs the staging workflow; `onEmail` plays the approver for each email as it arrives. */
  function runStaging(
    input: unknown,
    onEmail: (email: Email) => Promise<void>,
    machine: any = definition,
  ): Promise<RunResult> {
    // A failing approver (an assertion in onEmail) fails the waiting Task at once with its error,
    // instead of leaving it to wait for its timeout.
    let approverFailed: Promise<never> = new Promise(() => undefined);
    const deliver = (email: Email) => {
      emails.push(email);
      approverFailed = onEmail(email).then(() => new Promise<never>(() => undefined));
    };
    const sns = {
      send: async (command: { input: PublishCommandInput }) => {
        deliver({ ...command.input, via: "email-link start function" });
        return { MessageId: `msg-${emails.length}` };
      },
    } as unknown as SNSClient;
    return runDefinition(machine, input, {
      taskToken: TOKEN,
      executionArn: EXECUTION_ARN,
      taskHandlers: {
        ...inMemoryAuditBucket(machine).handlers,
        // lambda:invoke.waitForTaskToken: the start function runs with the Task's payload; the
        // Task then waits for the page's SendTaskSuccess.
        [stageTaskOptions("team-lead").stateName]: async (params: { FunctionName: string; Payload: any }) => {
          const decided = tasks.wait(params.Payload.taskToken, "team-lead", "email-link");
          await sendApprovalEmail(
            params.Payload,
            {
              stage: "team-lead",
              topicArn: TEAM_LEAD_TOPIC,
              pageUrl: PAGE_URL,
              timeoutSeconds: 172800,
              codeTable: CODE_TABLE,
            },
            { sns, dynamodb },
          );
          return Promise.race([decided, approverFailed]);
        },
        // sns:publish.waitForTaskToken: Step Functions publishes the evaluated Arguments itself.
        [stageTaskOptions("finance").stateName]: async (publish: PublishCommandInput) => {
          const decided = tasks.wait(TOKEN, "finance", "sns-callback");
          deliver({ ...publish, via: "sns-callback Task" });
          return Promise.race([decided, approverFailed]);
        },
      },
    });
  }

  it("both approve from their emails: the expense report ends approved with both decisions, each recorded once", async () => {
    const before = Date.now();
    const result = await runStaging(EXPENSE, async (email) => {
      const name = email.TopicArn === TEAM_LEAD_TOPIC ? "Lee Lead" : "Fay Finance";
      await approverOpens(email, { decision: "approve", name, comment: `ok from ${name}` });
    });
    expect(result.status, JSON.stringify(result)).to.equal("SUCCEEDED");
    expect(emails.map((e) => [e.via, e.TopicArn])).to.deep.equal([
      ["email-link start function", TEAM_LEAD_TOPIC],
      ["sns-callback Task", FINANCE_TOPIC],
    ]);
    const stages = result.output.stages as StageDecision[];
    expect(stages.map(({ decidedAt, ...rest }) => rest)).to.deep.equal([
      {
        approved: true,
        decision: "approved",
        stage: "team-lead",
        mechanism: "email-link",
        approver: "Lee Lead (via email link)",
        comment: "ok from Lee Lead",
      },
      {
        approved: true,
        decision: "approved",
        stage: "finance",
        mechanism: "sns-callback",
        approver: "Fay Finance (via email link)",
        comment: "ok from Fay Finance",
      },
    ]);
    for (const stage of stages) expect(Date.parse(stage.decidedAt)).to.be.within(before - 1000, Date.now());
    expect(result.output).to.deep.include({ approved: true, decision: "approved", request: EXPENSE });
    const show = ["DescribeExecution", "GetExecutionHistory", "SendTaskHeartbeat"];
    const decide = ["GetExecutionHistory", "SendTaskSuccess"];
    // The email-link stage: the start function stores the code; the page looks it up on GET and on
    // POST, claims it before SendTaskSuccess and marks it confirmed after.
    expect(aws.operations()).to.deep.equal([
      "PutItem",
      "GetItem",
      ...show,
      "GetItem",
      "GetExecutionHistory",
      "UpdateItem",
      "SendTaskSuccess",
      "UpdateItem",
      ...show,
      ...decide,
    ]);
    expect(
      [...codes.items.values()].map((item) => [item.stage.S, item.decision?.S, item.confirmedAt !== undefined]),
    ).to.deep.equal([["team-lead", "approved", true]]);
  });

  it("the sns-callback email, built by the state machine in JSONata, says exactly what the email-link function's email says", async () => {
    await runStaging(EXPENSE, async (email) => {
      await approverOpens(email, { decision: "approve", name: "A" });
    });
    const finance = emails.find((e) => e.via === "sns-callback Task")!;
    // Same request, stage, execution and link as the JSONata Task had; the deadline is the state's
    // entered time (the local runner's fixed $$.State.EnteredTime) plus the stage's 3 days.
    const expected = composeApprovalEmail({
      request: EXPENSE,
      stage: "finance",
      executionArn: EXECUTION_ARN,
      link: `${PAGE_URL}?t=${Buffer.from(TOKEN).toString("base64url")}&e=${encodeURIComponent(EXECUTION_ARN)}&s=finance`,
      deadline: new Date(Date.parse(DEFAULT_ENTERED_TIME) + 259200 * 1000),
    });
    expect({ Subject: finance.Subject, Message: finance.Message }).to.deep.equal({
      Subject: expected.subject,
      Message: expected.message,
    });
    expect(finance.Subject).to.equal("Approval needed: Expense report ER98765");
  });

  it("the email-link link carries only a one-time code, the sns-callback link the token URL-safe (base64url, no + / =); both arrive intact", async () => {
    await runStaging(EXPENSE, async (email) => {
      await approverOpens(email, { decision: "approve", name: "A" });
    });
    expect(emails).to.have.length(2);
    const [teamLead, finance] = emails.map((email) => new URL(linkIn(email)));
    expect([...teamLead.searchParams.keys()]).to.deep.equal(["c"]);
    expect(teamLead.searchParams.get("c")).to.match(/^[A-Za-z0-9_-]{43}$/);
    expect(emails[0].Message)
      .to.not.contain(Buffer.from(TOKEN).toString("base64url").slice(40, 100))
      .and.not.contain(TOKEN.slice(26, 90));
    expect(finance.searchParams.get("t")).to.match(/^[A-Za-z0-9_-]+$/);
    expect(decodeToken(finance.searchParams.get("t")!)).to.equal(TOKEN);
    expect(finance.searchParams.get("e")).to.equal(EXECUTION_ARN);
    // Each parameter is name=value with nothing a mail client or parser could alter in the value.
    for (const link of [teamLead, finance])
      for (const pair of link.search.slice(1).split("&")) expect(pair).to.match(/^[tesc]=[A-Za-z0-9_%.-]+$/);
    const tokenSent = aws.requests.filter((r) => r.operation === "SendTaskSuccess").map((r) => r.body.taskToken);
    expect(tokenSent).to.deep.equal([TOKEN, TOKEN]);
  });

  it("an email-link code decides once: a second press on the team lead's email, or its link opened again, changes nothing (410), and finance still decides", async () => {
    let teamLeadEmail: Email | undefined;
    let press: ((decision: string) => Promise<Response>) | undefined;
    let secondPress: Response | undefined;
    const result = await runStaging(EXPENSE, async (email) => {
      if (email.TopicArn === TEAM_LEAD_TOPIC) {
        teamLeadEmail = email;
        const html = await (await fetch(linkIn(email).replace(PAGE_URL, page.url))).text();
        const code = /<input type="hidden" name="c" value="([A-Za-z0-9_-]{43})">/.exec(html)![1];
        press = (decision) =>
          fetch(page.url, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body: new URLSearchParams({ c: code, name: "Lee Lead", decision }).toString(),
          });
        expect((await press("approve")).status).to.equal(200);
        return;
      }
      // While finance waits, the team lead presses again (a double click, or a forwarded email).
      secondPress = await press!("reject");
      await approverOpens(email, { decision: "approve", name: "Fay Finance" });
    });
    expect(secondPress!.status).to.equal(410);
    expect(await secondPress!.text())
      .to.contain("Nothing left to decide")
      .and.contain("This press changed nothing.");
    expect((await fetch(linkIn(teamLeadEmail!).replace(PAGE_URL, page.url))).status).to.equal(410);
    expect(result.output).to.deep.include({ approved: true, decision: "approved" });
    expect(result.output.stages[0]).to.deep.include({
      stage: "team-lead",
      decision: "approved",
      approver: "Lee Lead (via email link)",
    });
    expect(aws.operations().filter((op) => op === "SendTaskSuccess")).to.have.length(2);
  });

  it("the finance approver rejects: the execution ends rejected, with the team lead's approval kept", async () => {
    const result = await runStaging(EXPENSE, async (email) => {
      const finance = email.TopicArn === FINANCE_TOPIC;
      await approverOpens(email, {
        decision: finance ? "reject" : "approve",
        name: finance ? "Fay Finance" : "Lee Lead",
        comment: finance ? "No receipt for the hotel" : "",
      });
    });
    expect(result.status).to.equal("SUCCEEDED");
    expect(result.output).to.deep.include({ approved: false, decision: "rejected" });
    expect(result.output.stages.map((s: StageDecision) => [s.stage, s.decision, s.approver, s.comment])).to.deep.equal([
      ["team-lead", "approved", "Lee Lead (via email link)", null],
      ["finance", "rejected", "Fay Finance (via email link)", "No receipt for the hotel"],
    ]);
  });

  it("the team lead rejects: finance gets no email", async () => {
    const result = await runStaging(EXPENSE, async (email) => {
      await approverOpens(email, { decision: "reject", name: "Lee Lead" });
    });
    expect(result.output).to.deep.include({ approved: false, decision: "rejected" });
    expect(emails.map((e) => e.via)).to.deep.equal(["email-link start function"]);
    expect(result.statesEntered).to.not.include("Approval finance");
  });

  it("a mail scanner that opens every link (GET) many times approves nothing: the stage times out", async () => {
    // The finance Task waits 1 s here instead of 3 days (the library enforces TimeoutSeconds).
    const short = JSON.parse(JSON.stringify(definition));
    allStates(short)["Approval finance"].TimeoutSeconds = 1;
    let scans = 0;
    const result = await runStaging(
      EXPENSE,
      async (email) => {
        if (email.TopicArn === TEAM_LEAD_TOPIC) {
          await approverOpens(email, { decision: "approve", name: "Lee Lead" });
          return;
        }
        for (let i = 0; i < 5; i++) {
          const { get } = await approverOpens(email);
          expect(get.status).to.equal(200);
          scans += 1;
        }
      },
      short,
    );
    expect(scans).to.equal(5);
    expect(result.status).to.equal("SUCCEEDED");
    expect(result.output).to.deep.include({ approved: false, decision: "timed_out" });
    expect(result.output.stages[1]).to.deep.include({
      stage: "finance",
      decision: "timed_out",
      mechanism: "sns-callback",
      approver: null,
    });
    expect(aws.operations().filter((op) => op === "SendTaskSuccess")).to.have.length(1);
  });

  it("a second press after the decision, and a press after the execution ended, show 'Nothing left to decide' (410)", async () => {
    let financeEmail: Email | undefined;
    const result = await runStaging(EXPENSE, async (email) => {
      if (email.TopicArn === FINANCE_TOPIC) financeEmail = email;
      await approverOpens(email, { decision: "approve", name: "First" });
    });
    expect(result.output.decision).to.equal("approved");
    tasks.running = false;
    // The GET already says so (the execution is no longer running), and so does the POST.
    expect((await fetch(linkIn(financeEmail!).replace(PAGE_URL, page.url))).status).to.equal(410);
    const post = await fetch(page.url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `${new URL(linkIn(financeEmail!)).searchParams}&name=Second&decision=reject`,
    });
    expect(post.status).to.equal(410);
    expect(await post.text()).to.contain("Nothing left to decide");
    expect(result.output.stages[1].approver).to.equal("First (via email link)");
  });

  it("an expense report below 500 is approved automatically: no email is sent", async () => {
    const small = { ...EXPENSE, amount: 250 };
    const result = await runStaging(small, async () => {
      throw new Error("no email expected");
    });
    expect(result.output).to.deep.equal({ approved: true, decision: "auto_approved", stages: [], request: small });
    expect(emails).to.deep.equal([]);
    expect(aws.requests).to.deep.equal([]);
  });
});
