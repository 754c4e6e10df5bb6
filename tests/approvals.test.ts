// `npm run approvals` as operators run it: the real CLI (scripts/approvals.ts) in a child process
// against a fake Step Functions endpoint (ListExecutions, DescribeExecution, GetExecutionHistory
// with realistic histories whose Task parameters hold task tokens) and a fake `pulumi`.
import { HistoryEvent } from "@aws-sdk/client-sfn";
import { expect } from "chai";
import { main } from "../scripts/approvals";
import { cliArgs, fakeAwsCliEnv, runInProcess } from "./helpers/cliEnv";
import { spawn } from "child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { sfnClient } from "../scripts/lib/clients";
import {
  approverLabel,
  decisionLine,
  positionFromEvents,
  readPosition,
  stageRows,
} from "../scripts/lib/executionStatus";
import { decisionKey } from "../functions/contract";
import { FollowUpStage, HistoryBuilder, HistoryEventJson } from "./helpers/executionHistory";
import { AwsError, FakeAws, FakeExecution, serveExecutions } from "./helpers/fakeAws";
import { EXPENSE_REPORT } from "./helpers/fixtures";

const ROOT = join(__dirname, "..");
const STATE_MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:sfn-approvals-prod";
const executionArn = (name: string) => `arn:aws:states:eu-west-1:123456789012:execution:sfn-approvals-prod:${name}`;
const consoleLink = (arn: string) =>
  `https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${arn}`;
const MANAGERS = [
  "arn:aws:iam::123456789012:role/ReleaseApprover",
  "arn:aws:iam::123456789012:user/alice",
  "arn:aws:iam::123456789012:user/carol",
];
const FINANCE = "arn:aws:iam::123456789012:role/FinanceApprover";
const ALICE = "arn:aws:iam::123456789012:user/alice";
const BOB = "arn:aws:sts::123456789012:assumed-role/FinanceApprover/bob";
const DEPLOYMENT = {
  title: "Deploy payments-api v2.14.0 to production",
  requestId: "DEP-2026-1122-01",
  requester: "CI pipeline <ci@example.com>",
};
const PROD_OUTPUTS = {
  stateMachineArn: STATE_MACHINE,
  stateMachineName: "sfn-approvals-prod",
  region: "eu-west-1",
  autoApproveBelow: null,
  stages: [
    { name: "manager", mechanism: "ssm-automation", approvers: MANAGERS, timeout: "3d" },
    { name: "finance", mechanism: "codepipeline", approvers: [FINANCE], timeout: "7d" },
  ],
};
const USAGE = "Usage: npm run approvals";
const HOUR = 3600;

const utc = (seconds: number) => `${new Date(seconds * 1000).toISOString().slice(0, 19).replace("T", " ")} UTC`;
const nowSeconds = () => Math.floor(Date.now() / 1000);
const dir = mkdtempSync(join(tmpdir(), "approvals-"));

function fakePulumi(stack: string, outputs: object): string {
  const path = join(dir, `pulumi-${stack}`);
  writeFileSync(
    path,
    `#!/bin/sh\n[ "$*" = "stack output --json --stack ${stack}" ] || { echo "unexpected: $*" >&2; exit 3; }\ncat <<'JSON'\n${JSON.stringify(outputs)}\nJSON\n`,
  );
  chmodSync(path, 0o755);
  return path;
}

describe("approvals (scripts/approvals.ts) against a fake Step Functions endpoint", function () {
  this.timeout(60000);
  const aws = new FakeAws();
  let env: Record<string, string>;

  before(async () => {
    env = fakeAwsCliEnv({
      AWS_ENDPOINT_URL_SFN: await aws.start(),
      PULUMI_COMMAND: fakePulumi("prod", PROD_OUTPUTS),
    });
  });
  after(() => aws.stop());
  beforeEach(() => aws.reset());

  /**
   * Runs the CLI's main in this process; `extraEnv` adds to the environment, and removes a variable
   * given as undefined. runProcess starts it as npm run does, for the cases about the process.
   */
  function run(
    args: string[],
    extraEnv: Record<string, string | undefined> = {},
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return runInProcess(main, args, { ...env, ...extraEnv });
  }

  function runProcess(
    args: string[],
    extraEnv: Record<string, string | undefined> = {},
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const childEnv = Object.fromEntries(
      Object.entries({ ...env, ...extraEnv }).filter(([, value]) => value !== undefined),
    );
    return new Promise((resolve) => {
      let stdout = "";
      let stderr = "";
      const child = spawn(process.execPath, cliArgs("approvals", args), {
        cwd: ROOT,
        env: childEnv,
        stdio: ["ignore", "pipe", "pipe"],
      });
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      child.on("exit", (code) => resolve({ code, stdout, stderr }));
    });
  }

  /**
   * Three running executions (expense report at finance, a deployment at manager for two days, one
   * just started) and two ended ones. Times are relative to now, 20 s past a whole minute or hour,
   * so the durations shown are stable while the test runs.
   */
  function executions(now: number) {
    const expense = new FakeExecution(executionArn("er98765-1"), EXPENSE_REPORT, now - 5 * HOUR - 20)
      .start()
      .waitAt("manager", now - 5 * HOUR - 19)
      .decide(
        { decision: "approved", approver: ALICE, comment: "receipts checked", mechanism: "ssm-automation" },
        now - 3 * HOUR - 21,
      )
      .waitAt("finance", now - 3 * HOUR - 20);
    const deployment = new FakeExecution(executionArn("dep-2026-1122-01"), DEPLOYMENT, now - 53 * HOUR - 20)
      .start()
      .waitAt("manager", now - 53 * HOUR - 20);
    const fresh = new FakeExecution(
      executionArn("f3c1d2e4-5a6b-4c7d-8e9f-0a1b2c3d4e5f"),
      { title: "Pay \u001b[2J\u001b[31mnow\u001b[0m\u0007 please", amount: 12 },
      now - 1,
    ).start();
    const rejected = new FakeExecution(
      executionArn("er11111"),
      { title: "Team dinner", amount: 900, currency: "EUR" },
      now - 30 * HOUR,
    )
      .start()
      .waitAt("manager", now - 30 * HOUR + 1)
      .decide({ decision: "approved", approver: ALICE, comment: null, mechanism: "ssm-automation" }, now - 29 * HOUR)
      .waitAt("finance", now - 29 * HOUR + 0.2)
      .decide(
        { decision: "rejected", approver: BOB, comment: "not a business expense", mechanism: "codepipeline" },
        now - 28 * HOUR,
      )
      .succeed("Rejected at finance", { approved: false, decision: "rejected" }, now - 28 * HOUR + 0.2);
    const failed = new FakeExecution(executionArn("er22222"), { title: "Broken" }, now - 2 * HOUR)
      .start()
      .waitAt("manager", now - 2 * HOUR + 1)
      .fail("Lambda.ServiceException", "Rate exceeded (Service: Lambda; Status Code: 500)", now - 2 * HOUR + 2);
    return { expense, deployment, fresh, rejected, failed, all: [expense, rejected, deployment, failed, fresh] };
  }

  function expectNoToken(all: FakeExecution[], output: string): void {
    const tokens = all.flatMap((e) => e.tokens);
    expect(tokens).to.not.be.empty;
    for (const token of tokens) expect(output).to.not.contain(token.slice(20, 60));
  }

  describe("list", () => {
    it("lists the running executions: the stage each waits on, for how long, and its approvers from the stack outputs (a real process)", async () => {
      const now = nowSeconds();
      const x = executions(now);
      serveExecutions(aws, x.all, 2);
      const result = await runProcess(["--stack", "prod"]);
      expect(result.code).to.equal(0);
      expect(result.stderr).to.equal("");
      expect(result.stdout.split("\n")).to.deep.equal([
        "3 running executions of sfn-approvals-prod (eu-west-1), 2 waiting for approval:",
        "",
        "EXECUTION                             TITLE                                     STAGE    MECHANISM       WAITING  APPROVERS",
        `er98765-1                             Expense report ER98765                    finance  codepipeline    3h 00m   ${FINANCE}`,
        `dep-2026-1122-01                      Deploy payments-api v2.14.0 to producti…  manager  ssm-automation  2d 5h    ${MANAGERS.join(", ")}`,
        "f3c1d2e4-5a6b-4c7d-8e9f-0a1b2c3d4e5f  Pay now please                            -        -               -        -",
        "",
        "Details: npm run approvals -- --stack prod show EXECUTION",
        "",
      ]);
      // Every page of RUNNING executions, then the newest events of each one's history.
      const lists = aws.requests.filter((r) => r.operation === "ListExecutions").map((r) => r.body);
      expect(lists).to.deep.equal([
        { stateMachineArn: STATE_MACHINE, statusFilter: "RUNNING", maxResults: 100 },
        { stateMachineArn: STATE_MACHINE, statusFilter: "RUNNING", maxResults: 100, nextToken: "list-2" },
      ]);
      const histories = aws.requests.filter((r) => r.operation === "GetExecutionHistory").map((r) => r.body);
      expect(histories.map((h) => h.executionArn).sort()).to.deep.equal(
        [x.expense, x.deployment, x.fresh].map((e) => e.executionArn).sort(),
      );
      for (const h of histories) expect(h).to.deep.include({ reverseOrder: true, maxResults: 200 });
      expectNoToken(x.all, result.stdout);
    });

    it("with --state-machine-arn, lists them without mechanisms and approvers", async () => {
      const now = nowSeconds();
      const x = executions(now);
      serveExecutions(aws, [x.expense, x.rejected]);
      const result = await run(["--state-machine-arn", STATE_MACHINE, "list"]);
      expect(result.code).to.equal(0);
      expect(result.stdout.split("\n")).to.deep.equal([
        "1 running execution of sfn-approvals-prod (eu-west-1), 1 waiting for approval:",
        "",
        "EXECUTION  TITLE                   STAGE    MECHANISM  WAITING  APPROVERS",
        "er98765-1  Expense report ER98765  finance  -          3h 00m   -",
        "",
        `Details: npm run approvals -- --state-machine-arn ${STATE_MACHINE} show EXECUTION`,
        "",
      ]);
    });

    it("says when the stage an execution waits on waits for capacity (issue 17)", async () => {
      const now = nowSeconds();
      const queued = new FakeExecution(executionArn("er55555"), EXPENSE_REPORT, now - HOUR - 20)
        .start()
        .refusedForCapacity("manager", now - HOUR - 20, ["AutomationExecutionLimitExceededException"], 60);
      serveExecutions(aws, [queued]);
      const result = await run(["--state-machine-arn", STATE_MACHINE, "list"]);
      expect(result.code).to.equal(0);
      expect(result.stdout.split("\n").slice(0, 4)).to.deep.equal([
        "1 running execution of sfn-approvals-prod (eu-west-1), 0 waiting for approval, 1 for capacity:",
        "",
        "EXECUTION  TITLE                   STAGE    MECHANISM  WAITING                           APPROVERS",
        "er55555    Expense report ER98765  manager  -          1h 00m, for capacity (attempt 1)  -",
      ]);
    });

    it("says when nothing is running", async () => {
      serveExecutions(aws, []);
      const result = await run(["--stack", "prod", "list"]);
      expect(result.code).to.equal(0);
      expect(result.stdout).to.equal("No execution of sfn-approvals-prod (eu-west-1) is running.\n");
    });

    it("shows an execution whose history cannot be read with stage '?' and the reason, keeps the others, and exits 0", async () => {
      const now = nowSeconds();
      const x = executions(now);
      serveExecutions(aws, x.all);
      aws.on("GetExecutionHistory", (body) =>
        body.executionArn === x.deployment.executionArn
          ? new AwsError("ThrottlingException", "Rate exceeded")
          : x.all.find((e) => e.executionArn === body.executionArn)!.history(body),
      );
      // One attempt per read (AWS_MAX_ATTEMPTS, the SDK's setting): the SDK's backoff on throttling would make this test slow.
      const result = await run(["--stack", "prod"], { AWS_MAX_ATTEMPTS: "1" });
      expect(result.code).to.equal(0);
      expect(result.stderr).to.equal("");
      expect(result.stdout.split("\n")).to.deep.equal([
        "3 running executions of sfn-approvals-prod (eu-west-1), 1 waiting for approval, 1 not read:",
        "",
        "EXECUTION                             TITLE                   STAGE    MECHANISM     WAITING  APPROVERS",
        `er98765-1                             Expense report ER98765  finance  codepipeline  3h 00m   ${FINANCE}`,
        "dep-2026-1122-01                      -                       ?        -             -        -",
        "f3c1d2e4-5a6b-4c7d-8e9f-0a1b2c3d4e5f  Pay now please          -        -             -        -",
        "",
        "? dep-2026-1122-01: its history could not be read: ThrottlingException: Rate exceeded",
        "",
        "Details: npm run approvals -- --stack prod show EXECUTION",
        "",
      ]);
      expect(
        aws.requests
          .filter((r) => r.operation === "GetExecutionHistory")
          .map((r) => r.body.executionArn)
          .sort(),
      ).to.deep.equal([x.expense, x.deployment, x.fresh].map((e) => e.executionArn).sort());
    });

    it("with --max N, reads and lists the newest N and says how many more are running", async () => {
      const now = nowSeconds();
      const x = executions(now);
      serveExecutions(aws, x.all);
      const result = await run(["--stack", "prod", "list", "--max", "2"]);
      expect(result.code).to.equal(0);
      expect(result.stdout.split("\n")).to.deep.equal([
        "3 running executions of sfn-approvals-prod (eu-west-1); of the newest 2, 2 waiting for approval:",
        "",
        "EXECUTION         TITLE                                     STAGE    MECHANISM       WAITING  APPROVERS",
        `er98765-1         Expense report ER98765                    finance  codepipeline    3h 00m   ${FINANCE}`,
        `dep-2026-1122-01  Deploy payments-api v2.14.0 to producti…  manager  ssm-automation  2d 5h    ${MANAGERS.join(", ")}`,
        "",
        "1 more running execution is not listed (--max 2); raise --max to list them.",
        "",
        "Details: npm run approvals -- --stack prod show EXECUTION",
        "",
      ]);
      // Every RUNNING execution is counted; only the listed ones' histories are read.
      expect(
        aws.requests
          .filter((r) => r.operation === "GetExecutionHistory")
          .map((r) => r.body.executionArn)
          .sort(),
      ).to.deep.equal([x.expense, x.deployment].map((e) => e.executionArn).sort());
    });

    it("lists at most 50 executions by default", async () => {
      const now = nowSeconds();
      const many = Array.from({ length: 53 }, (_, i) =>
        new FakeExecution(executionArn(`er${String(i).padStart(5, "0")}`), { title: `Report ${i}` }, now - 60).start(),
      );
      serveExecutions(aws, many);
      const result = await run(["--state-machine-arn", STATE_MACHINE]);
      expect(result.code).to.equal(0);
      const lines = result.stdout.split("\n");
      expect(lines[0]).to.equal(
        "53 running executions of sfn-approvals-prod (eu-west-1); of the newest 50, 0 waiting for approval:",
      );
      expect(lines.filter((l) => /^er\d{5} /.test(l))).to.have.length(50);
      expect(lines.slice(-5)).to.deep.equal([
        "",
        "3 more running executions are not listed (--max 50); raise --max to list them.",
        "",
        `Details: npm run approvals -- --state-machine-arn ${STATE_MACHINE} show EXECUTION`,
        "",
      ]);
      expect(aws.operations().filter((o) => o === "GetExecutionHistory")).to.have.length(50);
    });

    it("prints titles without bidirectional controls, so none shows reversed", async () => {
      const now = nowSeconds();
      const reversed = new FakeExecution(
        executionArn("er33333"),
        { title: "Refund \u202eexe.fdp\u202c \u2067now\u2069\u061c" },
        now - 60,
      ).start();
      serveExecutions(aws, [reversed]);
      const result = await run(["--state-machine-arn", STATE_MACHINE]);
      expect(result.code).to.equal(0);
      expect(result.stdout.split("\n")[3]).to.equal("er33333    Refund exe.fdp now  -      -          -        -");
      expect(result.stdout).to.not.match(/[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/);
    });

    it("exits 2 with Step Functions' message when it refuses", async () => {
      aws.on(
        "ListExecutions",
        () =>
          new AwsError(
            "AccessDeniedException",
            "User: arn:aws:sts::123456789012:assumed-role/Dev/x is not authorized to perform: states:ListExecutions",
          ),
      );
      const result = await run(["--stack", "prod"]);
      expect(result.code).to.equal(2);
      expect(result.stderr).to.equal(
        "approvals: Step Functions refused the request: AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/Dev/x is not authorized to perform: states:ListExecutions\n",
      );
      expect(result.stdout).to.equal("");
    });

    it("says Step Functions could not be reached (not that it refused) when the connection fails, and exits 2", async () => {
      const closed = new FakeAws();
      const url = await closed.start();
      await closed.stop();
      const result = await run(["--state-machine-arn", STATE_MACHINE], { AWS_ENDPOINT_URL_SFN: url });
      expect(result.code).to.equal(2);
      expect(result.stderr).to.equal(
        `approvals: could not reach Step Functions: Error (ECONNREFUSED): connect ECONNREFUSED ${url.replace("http://", "")}\n`,
      );
      expect(result.stdout).to.equal("");
    });

    it("says no AWS credentials were found (not that Step Functions refused) when there are none, and exits 2 (a real process)", async () => {
      const home = mkdtempSync(join(tmpdir(), "approvals-home-"));
      const result = await runProcess(["--state-machine-arn", STATE_MACHINE], {
        AWS_ACCESS_KEY_ID: undefined,
        AWS_SECRET_ACCESS_KEY: undefined,
        HOME: home,
        AWS_CONFIG_FILE: join(home, "config"),
        AWS_SHARED_CREDENTIALS_FILE: join(home, "credentials"),
      });
      expect(result.code).to.equal(2);
      expect(result.stderr).to.equal(
        "approvals: no AWS credentials were found (CredentialsProviderError: Could not load credentials from any providers); " +
          "sign in (e.g. aws sso login) or set AWS_PROFILE, then try again\n",
      );
      expect(aws.requests).to.have.length(0);
    });
  });

  describe("stack outputs that cannot be used", () => {
    const INSTEAD = "or pass the ARN directly (--state-machine-arn, see 'aws stepfunctions list-state-machines')";
    function pulumiScript(name: string, body: string): string {
      const path = join(dir, `pulumi-${name}`);
      writeFileSync(path, `#!/bin/sh\n${body}\n`);
      chmodSync(path, 0o755);
      return path;
    }

    it("without the Pulumi CLI, names the option of this command (--state-machine-arn)", async () => {
      const missing = join(dir, "no-pulumi-here");
      const result = await run(["--stack", "prod"], { PULUMI_COMMAND: missing });
      expect(result.code).to.equal(2);
      expect(result.stderr).to.equal(
        `approvals: the Pulumi CLI ('${missing}') is not installed or not on PATH; install it, ${INSTEAD}\n`,
      );
      expect(aws.requests).to.have.length(0);
    });

    it("says what it printed when the outputs are null or not an object (no TypeError)", async () => {
      const cases: Array<[string, string]> = [
        ["null", "null"],
        ["[]", "an array"],
        ["42", "a number"],
      ];
      for (const [printed, what] of cases) {
        const result = await run(["--stack", "prod"], {
          PULUMI_COMMAND: pulumiScript(`prints-${what.replace(/ /g, "-")}`, `echo '${printed}'`),
        });
        expect(result.code, printed).to.equal(2);
        expect(result.stderr, printed).to.equal(
          `approvals: 'pulumi stack output --json --stack prod' printed ${what}, not the stack's outputs (an object); ${INSTEAD}\n`,
        );
      }
      expect(aws.requests).to.have.length(0);
    });

    it("passes Pulumi's error on as one terminal-safe line", async () => {
      const failing = pulumiScript(
        "failing",
        `printf 'error: \\033[31mno stack named %s found\\033[0m\\033]0;pwned\\007\\n  (run pulumi login)\\n' "'prod'" >&2; exit 255`,
      );
      const result = await run(["--stack", "prod"], { PULUMI_COMMAND: failing });
      expect(result.code).to.equal(2);
      expect(result.stderr).to.equal(
        "approvals: could not read the outputs of stack 'prod': error: no stack named 'prod' found (run pulumi login)\n",
      );
    });
  });

  describe("show", () => {
    it("shows a running execution by name: status, where it waits, on whom, the request and each stage so far (a real process)", async () => {
      const now = nowSeconds();
      const x = executions(now);
      serveExecutions(aws, x.all);
      const result = await runProcess(["--stack", "prod", "show", "er98765-1"]);
      expect(result.code).to.equal(0);
      expect(result.stderr).to.equal("");
      expect(result.stdout.split("\n")).to.deep.equal([
        "Execution  er98765-1",
        `Status     RUNNING, started ${utc(now - 5 * HOUR - 20)} (5h 00m ago)`,
        `Waiting    on stage finance (codepipeline) for 3h 00m, since ${utc(now - 3 * HOUR - 20)}`,
        `Approvers  ${FINANCE}`,
        "Title      Expense report ER98765",
        "Request    ER98765",
        "Requester  Jane Doe <jane@example.com>",
        "Amount     750.50 USD",
        "Link       https://example.com/reports/ER98765",
        `ARN        ${x.expense.executionArn}`,
        `Console    ${consoleLink(x.expense.executionArn)}`,
        "",
        "Stages",
        "  STAGE    MECHANISM       DECISION  AT                       BY                                    COMMENT",
        `  manager  ssm-automation  approved  ${utc(now - 3 * HOUR - 21)}  ${ALICE}  receipts checked`,
        `  finance  codepipeline    waiting   ${utc(now - 3 * HOUR - 20)}  -`,
        "",
      ]);
      expect(aws.requests.map((r) => [r.operation, r.body.executionArn])).to.deep.equal([
        ["DescribeExecution", x.expense.executionArn],
        ["GetExecutionHistory", x.expense.executionArn],
      ]);
      expectNoToken([x.expense], result.stdout);
    });

    it("shows a stage whose start was refused for capacity, its Retry pending: 'waiting for capacity' since the first refusal, the attempt and the last error (issue 17)", async () => {
      const now = nowSeconds();
      const t0 = now - 2 * HOUR - 20;
      const queued = new FakeExecution(executionArn("er55555"), EXPENSE_REPORT, t0)
        .start()
        .refusedForCapacity(
          "manager",
          t0 + 1,
          ["Lambda.TooManyRequestsException", "AutomationExecutionLimitExceededException", "ThrottlingException"],
          1800,
        );
      serveExecutions(aws, [queued]);
      const result = await run(["--stack", "prod", "show", "er55555"]);
      expect(result.code).to.equal(0);
      const firstRefusal = utc(t0 + 1 + 0.3);
      expect(result.stdout.split("\n").slice(0, 4)).to.deep.equal([
        "Execution  er55555",
        `Status     RUNNING, started ${utc(t0)} (2h 00m ago)`,
        `Waiting    for capacity on stage manager (ssm-automation) since ${firstRefusal} (2h 00m), attempt 3, last error ThrottlingException: not sent to the approvers yet`,
        `Approvers  ${MANAGERS.join(", ")}`,
      ]);
      expect(result.stdout.split("\n").slice(-5)).to.deep.equal([
        "Stages",
        "  STAGE    MECHANISM       DECISION              AT                       BY  COMMENT",
        `  manager  ssm-automation  waiting for capacity  ${firstRefusal}  -   attempt 3, last error ThrottlingException`,
        "  finance  codepipeline    pending",
        "",
      ]);
      expectNoToken([queued], result.stdout);
    });

    it("shows an ended execution by ARN, without the stack: its decision and every stage's", async () => {
      const now = nowSeconds();
      const x = executions(now);
      serveExecutions(aws, x.all);
      const result = await run(["show", x.rejected.executionArn]);
      expect(result.code).to.equal(0);
      expect(result.stdout.split("\n")).to.deep.equal([
        "Execution  er11111",
        `Status     SUCCEEDED, started ${utc(now - 30 * HOUR)}, ended ${utc(now - 28 * HOUR)} (took 2h 00m)`,
        "Decision   rejected at stage finance",
        "Title      Team dinner",
        "Amount     900.00 EUR",
        `ARN        ${x.rejected.executionArn}`,
        `Console    ${consoleLink(x.rejected.executionArn)}`,
        "",
        "Stages",
        "  STAGE    MECHANISM       DECISION  AT                       BY                                                          COMMENT",
        `  manager  ssm-automation  approved  ${utc(now - 29 * HOUR)}  ${ALICE}`,
        `  finance  codepipeline    rejected  ${utc(now - 28 * HOUR)}  ${BOB}  not a business expense`,
        "",
      ]);
      // Its output says it all: the history is not read.
      expect(aws.operations()).to.deep.equal(["DescribeExecution"]);
      expect(String(aws.requests[0].headers.authorization)).to.match(/\/eu-west-1\/states\/aws4_request/);
    });

    it("shows a failed execution's error and cause, and the stage it failed in", async () => {
      const now = nowSeconds();
      const x = executions(now);
      serveExecutions(aws, x.all);
      const result = await run(["--stack", "prod", "show", x.failed.executionArn]);
      expect(result.code).to.equal(0);
      expect(result.stdout.split("\n")).to.deep.equal([
        "Execution  er22222",
        `Status     FAILED, started ${utc(now - 2 * HOUR)}, ended ${utc(now - 2 * HOUR + 2)} (took 2s)`,
        "Error      Lambda.ServiceException",
        "Cause      Rate exceeded (Service: Lambda; Status Code: 500)",
        "Title      Broken",
        `ARN        ${x.failed.executionArn}`,
        `Console    ${consoleLink(x.failed.executionArn)}`,
        "",
        "Stages",
        "  STAGE    MECHANISM       DECISION     AT                       BY  COMMENT",
        `  manager  ssm-automation  no decision  ${utc(now - 2 * HOUR + 1)}  -`,
        "  finance  codepipeline    not reached",
        "",
      ]);
      expectNoToken([x.failed], result.stdout);
    });

    it("shows an auto-approved execution", async () => {
      const now = nowSeconds();
      const auto = new FakeExecution(executionArn("taxi"), { title: "Taxi", amount: 42 }, now - 60)
        .start()
        .succeed("Auto-approved", { approved: true, decision: "auto_approved" }, now - 60);
      serveExecutions(aws, [auto]);
      const result = await run(["--stack", "prod", "show", "taxi"]);
      expect(result.code).to.equal(0);
      expect(result.stdout)
        .to.contain("\nDecision   auto_approved\nTitle      Taxi\nAmount     42.00\n")
        .and.contain("\n\nNo stage ran: the amount is below the auto-approval threshold.\n");
    });

    it("does not call an output that says approved: false beside decision 'approved' an approval", async () => {
      const now = nowSeconds();
      const odd = new FakeExecution(executionArn("odd"), { title: "Odd" }, now - 60)
        .start()
        .succeed("Approved", { approved: false, decision: "approved" }, now - 60);
      serveExecutions(aws, [odd]);
      const result = await run(["--stack", "prod", "show", "odd"]);
      expect(result.stdout).to.contain("\nDecision   approved, but approved is false: not an approval\n");
    });

    it("says when there is no such execution, and exits 2", async () => {
      serveExecutions(aws, []);
      const result = await run(["--stack", "prod", "show", "er00000"]);
      expect(result.code).to.equal(2);
      expect(result.stderr).to.equal(
        `approvals: there is no execution ${executionArn("er00000")} (Step Functions forgets an execution 90 days after it ends); stack 'prod' keeps no decision record (it exports no auditBucketName)\n`,
      );
    });

    it("echoes an execution name back without bidirectional controls", async () => {
      serveExecutions(aws, []);
      const result = await run(["--stack", "prod", "show", "er\u202e00000"]);
      expect(result.code).to.equal(2);
      expect(aws.requests.map((r) => r.body.executionArn)).to.deep.equal([executionArn("er\u202e00000")]);
      expect(result.stderr).to.equal(
        `approvals: there is no execution ${executionArn("er00000")} (Step Functions forgets an execution 90 days after it ends); stack 'prod' keeps no decision record (it exports no auditBucketName)\n`,
      );
    });
  });

  describe("usage errors print the usage and exit 2", () => {
    const cases: Array<[string[], string]> = [
      [[], "approvals: give either --stack or --state-machine-arn"],
      [
        ["list", "--stack", "prod", "--state-machine-arn", STATE_MACHINE],
        "approvals: give either --stack or --state-machine-arn",
      ],
      [["--stack", "prod", "list", "everything"], "approvals: list takes no argument, got 'everything'"],
      [
        ["--stack", "prod", "show"],
        "approvals: show needs one execution: its ARN, or its name with --stack or --state-machine-arn",
      ],
      [
        ["show", "er98765-1"],
        "approvals: show 'er98765-1': without --stack or --state-machine-arn, give the execution's ARN",
      ],
      [
        ["--stack", "prod", "show", "arn:aws:states:eu-west-1:123456789012:execution:other-workflow:er1"],
        "approvals: 'arn:aws:states:eu-west-1:123456789012:execution:other-workflow:er1' is not an execution of " +
          STATE_MACHINE,
      ],
      [
        ["--state-machine-arn", "arn:aws:sns:eu-west-1:123456789012:topic"],
        "is not a Step Functions state machine ARN",
      ],
      [["--stack", "prod", "approve", "er1"], "approvals: unknown command 'approve' (list, show or export)"],
      [["--stack", "prod", "--verbose"], "approvals: unknown option --verbose"],
      [["--stack", "prod", "list", "--max", "0"], "approvals: --max must be a whole number from 1 to 1000, got '0'"],
      [["--stack", "prod", "--max", "2.5"], "approvals: --max must be a whole number from 1 to 1000, got '2.5'"],
      [["--stack", "prod", "show", "er98765-1", "--max", "5"], "approvals: --max goes with list"],
      [
        ["--stack", "prod", "show", "er\u001b[2J\u001b]0;pwned\u0007x"],
        "approvals: show 'erx': it holds control characters, which no execution ARN or name does\n",
      ],
      [
        ["show", `${executionArn("er1")}\u001b[31m`],
        `approvals: show '${executionArn("er1")}': it holds control characters, which no execution ARN or name does\n`,
      ],
      [
        ["--state-machine-arn", `${STATE_MACHINE}\u001b[8m`],
        `approvals: --state-machine-arn '${STATE_MACHINE}' is not a Step Functions state machine ARN (arn:aws:states:REGION:ACCOUNT:stateMachine:NAME); it holds control characters\n`,
      ],
      [["--stack", "prod", "\u001b]0;pwned\u0007bogus"], "approvals: unknown command 'bogus' (list, show or export)\n"],
      [["--stack", "prod", "--\u001b[31mverbose"], "approvals: unknown option --verbose\n"],
    ];
    let results: Array<{ code: number | null; stdout: string; stderr: string }> = [];
    let requestsMade = -1;
    before(async () => {
      aws.reset();
      results = await Promise.all(cases.map(([args]) => run(args)));
      requestsMade = aws.requests.length;
    });
    cases.forEach(([args, message], i) => {
      it(`refuses '${args.join(" ").replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)}'`, () => {
        expect(results[i].code).to.equal(2);
        expect(results[i].stderr).to.contain(message).and.contain(USAGE);
        // What it echoes back of the command line is terminal-safe.
        expect(results[i].stderr).to.not.match(/[\u001b\u0007]/);
        expect(results[i].stdout).to.equal("");
        expect(requestsMade).to.equal(0);
      });
    });
  });
});

describe("approvals: reading where an execution stands", () => {
  /** Events as the SDK hands them over (timestamps as Dates). */
  const sdkEvents = (events: Array<Record<string, unknown>>) =>
    events.map((e) => ({ ...e, timestamp: new Date((e.timestamp as number) * 1000) })) as unknown as HistoryEvent[];

  describe("a stage waiting for capacity (its start refused, the Task's Retry pending; issue 17)", () => {
    const T0 = 1795341600;
    const refused = (errors: string[], then: "pending" | "submitted" = "pending") =>
      new FakeExecution(executionArn("er55555"), EXPENSE_REPORT, T0)
        .start()
        .refusedForCapacity("finance", T0 + 10, errors, 60, then);
    const newest = (x: FakeExecution, drop = 0) => sdkEvents([...x.events].reverse().slice(drop));

    it("the newest attempt failed with a capacity error: waiting for capacity since the first refusal, the attempts so far, the last error", () => {
      const x = refused(["ConcurrentPipelineExecutionsLimitExceededException", "ConflictException"]);
      expect(positionFromEvents(newest(x)).waiting).to.deep.equal({
        stage: "finance",
        since: new Date((T0 + 10) * 1000),
        capacity: { since: new Date((T0 + 10.3) * 1000), attempts: 2, lastError: "ConflictException" },
      });
    });

    it("an attempt under way after a refusal (TaskScheduled, TaskStarted) still waits for capacity, counting that attempt", () => {
      const x = refused(["Lambda.TooManyRequestsException"], "submitted");
      // Without its TaskSubmitted: the second attempt runs.
      expect(positionFromEvents(newest(x, 1)).waiting?.capacity).to.deep.equal({
        since: new Date((T0 + 10.3) * 1000),
        attempts: 2,
        lastError: "Lambda.TooManyRequestsException",
      });
    });

    it("once an attempt reached the approvers (TaskSubmitted), the stage just waits", () => {
      const x = refused(["Lambda.TooManyRequestsException", "ThrottlingException"], "submitted");
      expect(positionFromEvents(newest(x)).waiting).to.deep.equal({
        stage: "finance",
        since: new Date((T0 + 10) * 1000),
      });
    });

    it("a failure that is no capacity error (a Lambda service error the Task also retries) is not waiting for capacity", () => {
      const x = refused(["ThrottlingException", "Lambda.ServiceException"]);
      expect(positionFromEvents(newest(x)).waiting).to.deep.equal({
        stage: "finance",
        since: new Date((T0 + 10) * 1000),
      });
    });

    it("the Task events of other branches (a reminder's publish retried for throttling) are not the stage's", () => {
      const h = new HistoryBuilder(executionArn("er98765-follow-ups"), EXPENSE_REPORT);
      const finance = new FollowUpStage(h, {
        stage: "finance",
        mechanism: "codepipeline",
        token: "finance-token",
        executionArn: h.executionArn,
      });
      finance.remind(true);
      // The reminder's publish failed for throttling on every attempt (a capacity name of sns-callback).
      const failures = h.events.filter((e) => e.type === "TaskFailed");
      expect(failures).to.have.length(4);
      for (const e of failures) e.taskFailedEventDetails.error = "SNS.ThrottledException";
      const position = positionFromEvents(sdkEvents(h.newestFirst()));
      expect(position.waiting?.stage).to.equal("finance");
      expect(position.waiting?.capacity).to.equal(undefined);
    });
  });

  it("keys decisions as the workflow does", () => {
    expect(["manager", "team-lead", "a-b-c"].map(decisionKey)).to.deep.equal(["manager", "team_lead", "a_b_c"]);
  });

  it("pages through the newest events until it finds the state the execution is in", async () => {
    const aws = new FakeAws();
    const url = await aws.start();
    const previous = process.env.AWS_ENDPOINT_URL_SFN;
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_SFN: url,
      AWS_ACCESS_KEY_ID: "AKIAFAKEFORTESTS",
      AWS_SECRET_ACCESS_KEY: "fake",
    });
    try {
      const t0 = nowSeconds() - HOUR;
      const execution = new FakeExecution(executionArn("busy"), EXPENSE_REPORT, t0)
        .start()
        .waitAt("manager", t0 + 1, "activity");
      // Released by vanished workers again and again: more events than one page after the state was entered.
      for (let i = 0; i < 70; i++) execution.releaseActivity(t0 + 200 + i * 45);
      serveExecutions(aws, [execution]);
      const position = await readPosition(sfnClient("eu-west-1"), execution.executionArn);
      expect(position.waiting).to.deep.equal({ stage: "manager", since: new Date((t0 + 1) * 1000) });
      expect(position.request).to.deep.equal(EXPENSE_REPORT);
      const pages = aws.requests.map((r) => r.body);
      expect(pages.map((p) => p.nextToken)).to.deep.equal([undefined, "page-200"]);
    } finally {
      if (previous === undefined) delete process.env.AWS_ENDPOINT_URL_SFN;
      else process.env.AWS_ENDPOINT_URL_SFN = previous;
      for (const key of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]) delete process.env[key];
      await aws.stop();
    }
  });

  it("stops paging the history at 15 pages (3,000 events) when the state it waits in is further back", async () => {
    const aws = new FakeAws();
    const url = await aws.start();
    const previous = process.env.AWS_ENDPOINT_URL_SFN;
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_SFN: url,
      AWS_ACCESS_KEY_ID: "AKIAFAKEFORTESTS",
      AWS_SECRET_ACCESS_KEY: "fake",
    });
    try {
      const t0 = nowSeconds() - 30 * HOUR;
      const execution = new FakeExecution(executionArn("stuck"), EXPENSE_REPORT, t0)
        .start()
        .waitAt("manager", t0 + 1, "activity");
      // 3 events per release: 3,300 events newer than the Task's TaskStateEntered, more than 15 pages of 200.
      for (let i = 0; i < 1100; i++) execution.releaseActivity(t0 + 200 + i * 45);
      serveExecutions(aws, [execution]);
      const position = await readPosition(sfnClient("eu-west-1"), execution.executionArn);
      const pages = aws.requests.map((r) => r.body);
      expect(pages.map((p) => p.nextToken)).to.deep.equal([
        undefined,
        ...Array.from({ length: 14 }, (_, n) => `page-${(n + 1) * 200}`),
      ]);
      for (const page of pages)
        expect(page).to.deep.include({ executionArn: execution.executionArn, reverseOrder: true, maxResults: 200 });
      expect(position.waiting, "not found within the pages read").to.equal(undefined);
    } finally {
      if (previous === undefined) delete process.env.AWS_ENDPOINT_URL_SFN;
      else process.env.AWS_ENDPOINT_URL_SFN = previous;
      for (const key of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]) delete process.env[key];
      await aws.stop();
    }
  });

  describe("stages with reminders and escalation (the Task waits in a Parallel branch; reminder and escalation events are newer)", () => {
    const MANAGER_DECISION = {
      stage: "manager",
      decision: "approved",
      mechanism: "ssm-automation",
      approver: ALICE,
      comment: null,
    };
    /**
     * Manager (decided after `managerReminders` reminders; a reminder entered just after the
     * decision), then finance waiting with `financeReminders` reminders (the 2nd could not be
     * published) and an escalation after the 3rd.
     */
    function followUpExecution(managerReminders: number, financeReminders: number) {
      const h = new HistoryBuilder(executionArn("er98765-follow-ups"), EXPENSE_REPORT);
      const manager = new FollowUpStage(h, {
        stage: "manager",
        mechanism: "ssm-automation",
        token: "manager-token",
        executionArn: h.executionArn,
      });
      for (let i = 0; i < managerReminders; i++) manager.remind();
      manager.end({ decision: "approved", approver: ALICE }, true);
      const finance = new FollowUpStage(h, {
        stage: "finance",
        mechanism: "codepipeline",
        token: "finance-token",
        executionArn: h.executionArn,
      });
      for (let i = 1; i <= financeReminders; i++) {
        finance.remind(i === 2);
        if (i === 3) finance.escalate();
      }
      const managerExited = h.events.find(
        (e) => e.type === "TaskStateExited" && e.stateExitedEventDetails.name === "Approval manager",
      )!.id as number;
      return { h, manager, finance, managerExited };
    }
    /** The history up to event `id`, newest first, as the SDK hands it over. */
    const upTo = (h: HistoryBuilder, id: number) => sdkEvents(h.events.slice(0, id).reverse());
    const newestState = (h: HistoryBuilder, id: number) => {
      const event = h.events
        .slice(0, id)
        .reverse()
        .find((e) => e.stateEnteredEventDetails || e.stateExitedEventDetails) as HistoryEventJson;
      return (event.stateEnteredEventDetails ?? event.stateExitedEventDetails).name as string;
    };
    const since = (h: HistoryBuilder, id: number) => new Date(h.events[id - 1].timestamp * 1000);
    const withoutTime = (decisions: Array<{ decidedAt: string | null }>) =>
      decisions.map(({ decidedAt, ...rest }) => rest);

    it("waits on the stage from its Task's TaskStateEntered until its TaskStateExited, whichever branch's event is newest", () => {
      const { h, manager, finance, managerExited } = followUpExecution(4, 6);
      const newestStates = new Set<string>();
      for (let id = manager.taskEntered; id <= h.last; id++) {
        const position = positionFromEvents(upTo(h, id));
        const at = `history up to event ${id} (${h.events[id - 1].type})`;
        expect(position.state, at).to.equal(newestState(h, id));
        expect(position.request, at).to.deep.equal(EXPENSE_REPORT);
        if (id < managerExited) {
          expect(position.waiting, at).to.deep.equal({ stage: "manager", since: since(h, manager.taskEntered) });
          expect(position.decisions, at).to.deep.equal([]);
        } else if (id < finance.taskEntered) {
          expect(position.waiting, at).to.equal(undefined);
        } else {
          expect(position.waiting, at).to.deep.equal({ stage: "finance", since: since(h, finance.taskEntered) });
          expect(withoutTime(position.decisions), at).to.deep.equal([MANAGER_DECISION]);
          newestStates.add(position.state!);
        }
      }
      // The newest state was each of these while finance waited (before, "Approval finance reminder" would have read as a stage "finance reminder").
      expect([...newestStates].sort()).to.deep.equal([
        "Approval finance",
        "Approval finance escalated",
        "Approval finance escalation 1",
        "Approval finance escalation wait",
        "Approval finance reminder",
        "Approval finance reminder counted",
        "Approval finance reminder not sent",
        "Approval finance reminder wait",
        "Approval finance reminders left?",
        "Approval finance reminders start",
      ]);
    });

    it("does not wait once the stage is decided, though a reminder state entered after the decision is newer", () => {
      const { h, managerExited } = followUpExecution(4, 0);
      const received = h.events.find((e) => e.stateEnteredEventDetails?.name === "Approval manager decision received")!
        .id as number;
      const atReceived = positionFromEvents(upTo(h, received));
      expect(atReceived.state).to.equal("Approval manager decision received");
      expect(atReceived.waiting).to.equal(undefined);
      expect(atReceived.decisions, "the Catch's {Error, Cause} is no decision yet").to.deep.equal([]);
      // Just after the decision, the reminder branch entered its publish Task before the Parallel stopped it.
      const race = h.events.find((e) => e.id > managerExited && e.type === "TaskStateEntered")!.id as number;
      expect(h.events[race - 1].stateEnteredEventDetails.name).to.equal("Approval manager reminder");
      const atRace = positionFromEvents(upTo(h, race));
      expect(atRace.state).to.equal("Approval manager reminder");
      expect(atRace.waiting).to.equal(undefined);
      expect(withoutTime(atRace.decisions)).to.deep.equal([MANAGER_DECISION]);
      const checked = positionFromEvents(
        upTo(h, h.events.find((e) => e.stateEnteredEventDetails?.name === "Check manager")!.id),
      );
      expect(checked.waiting).to.equal(undefined);
      expect(withoutTime(checked.decisions)).to.deep.equal([MANAGER_DECISION]);
    });

    /** readPosition of `h`'s execution against a fake Step Functions endpoint that pages it; the GetExecutionHistory requests it sent. */
    async function readServed(h: HistoryBuilder) {
      const aws = new FakeAws();
      const url = await aws.start();
      const previous = process.env.AWS_ENDPOINT_URL_SFN;
      Object.assign(process.env, {
        AWS_ENDPOINT_URL_SFN: url,
        AWS_ACCESS_KEY_ID: "AKIAFAKEFORTESTS",
        AWS_SECRET_ACCESS_KEY: "fake",
      });
      try {
        aws.on("GetExecutionHistory", (body) => h.page(body));
        const position = await readPosition(sfnClient("eu-west-1"), h.executionArn);
        return { position, requests: aws.requests.map((r) => r.body) };
      } finally {
        if (previous === undefined) delete process.env.AWS_ENDPOINT_URL_SFN;
        else process.env.AWS_ENDPOINT_URL_SFN = previous;
        for (const key of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]) delete process.env[key];
        await aws.stop();
      }
    }
    const pageRequests = (h: HistoryBuilder, pages: number) =>
      Array.from({ length: pages }, (_, n) => ({
        executionArn: h.executionArn,
        reverseOrder: true,
        maxResults: 200,
        ...(n > 0 ? { nextToken: `events-from-${n * 200}` } : {}),
      }));

    it("readPosition pages on until it finds the Task's TaskStateEntered behind 20 reminder cycles, and no further", async () => {
      const { h, finance } = followUpExecution(20, 20);
      expect(h.newestFirst().findIndex((e) => e.id === finance.taskEntered)).to.be.within(200, 399);
      expect(h.events.length).to.be.greaterThan(400);
      const { position, requests } = await readServed(h);
      expect(position.waiting).to.deep.equal({ stage: "finance", since: since(h, finance.taskEntered) });
      expect(position.state).to.equal(newestState(h, h.last));
      expect(position.request).to.deep.equal(EXPENSE_REPORT);
      expect(withoutTime(position.decisions)).to.deep.equal([MANAGER_DECISION]);
      expect(requests).to.deep.equal(pageRequests(h, 2));
    });

    it("readPosition finds the Task behind the worst case the config allows: 100 reminders and 10 escalation targets, every publish failed", async () => {
      const h = new HistoryBuilder(executionArn("er98765-unlucky"), EXPENSE_REPORT);
      const finance = new FollowUpStage(
        h,
        { stage: "finance", mechanism: "codepipeline", token: "finance-token", executionArn: h.executionArn },
        { escalationTargets: 10 },
      );
      for (let i = 1; i <= 100; i++) {
        finance.remind(true);
        if (i === 50) finance.escalate(true);
      }
      expect(h.newestFirst()[0].stateExitedEventDetails.name).to.equal("Approval finance reminders done");
      expect(h.newestFirst().findIndex((e) => e.id === finance.taskEntered)).to.be.within(2200, 2399);
      const { position, requests } = await readServed(h);
      expect(position.state).to.equal("Approval finance reminders done");
      expect(position.waiting).to.deep.equal({ stage: "finance", since: since(h, finance.taskEntered) });
      expect(position.request).to.deep.equal(EXPENSE_REPORT);
      expect(requests).to.deep.equal(pageRequests(h, 12));
    });
  });

  it("does not count what a Catch wrote as a decision, and reads a disagreeing decision as the workflow does", () => {
    const t0 = 1795341600;
    const timedOut = new FakeExecution(executionArn("slow"), EXPENSE_REPORT, t0)
      .start()
      .waitAt("manager", t0 + 1)
      .timeOut("ssm-automation", t0 + 100);
    // Newest first, cut just after "Approval manager timed out" was entered: the decision slot holds {Error, Cause}.
    const passEntered = timedOut.events.findIndex(
      (e) => (e.stateEnteredEventDetails as { name?: string } | undefined)?.name === "Approval manager timed out",
    );
    const atPass = positionFromEvents(sdkEvents(timedOut.events.slice(0, passEntered + 1).reverse()));
    expect(atPass.state).to.equal("Approval manager timed out");
    expect(atPass.waiting).to.equal(undefined);
    expect(atPass.decisions).to.deep.equal([]);

    const entered = (decisions: object) => [
      {
        id: 9,
        previousEventId: 8,
        timestamp: t0,
        type: "ChoiceStateEntered",
        stateEnteredEventDetails: {
          name: "Check manager",
          input: JSON.stringify({ request: EXPENSE_REPORT, decisions }),
        },
      },
    ];
    const disagreeing = positionFromEvents(
      sdkEvents(
        entered({
          manager: {
            approved: false,
            decision: "approved",
            stage: "manager",
            mechanism: "activity",
            approver: ALICE,
            comment: null,
            decidedAt: "2026-11-22T10:00:00Z",
          },
        }),
      ),
    );
    expect(disagreeing.decisions.map((d) => d.decision)).to.deep.equal(["rejected"]);
    const malformed = positionFromEvents(
      sdkEvents(
        entered({
          manager: { decision: "approved", stage: "manager" },
          finance: { approved: true, decision: "approved", stage: "manager" },
        }),
      ),
    );
    expect(malformed.decisions, "no boolean 'approved'; a decision under another stage's key").to.deep.equal([]);
  });
});

describe("approvals: a decision's approver name (slack) beside its approver", () => {
  const slack = {
    stage: "ops",
    decision: "approved",
    mechanism: "slack",
    approver: "U0BOB",
    approverName: "Bob Builder",
    comment: null,
    decidedAt: "2026-11-22T10:00:00Z",
  };
  it("shows 'ID (name)' in the decision line and the BY column; a decision without a name is unchanged", () => {
    expect(decisionLine(slack)).to.equal("Stage ops: approved by U0BOB (Bob Builder)");
    expect(stageRows(undefined, { decisions: [slack] }, true)[1]).to.match(/ {2}U0BOB \(Bob Builder\)\s*$/);
    expect(decisionLine({ ...slack, approver: "alice", approverName: undefined, mechanism: "activity" })).to.equal(
      "Stage ops: approved by alice",
    );
    // A name equal to the ID, or terminal escapes in it, add nothing the terminal would act on.
    expect(approverLabel({ approver: "U0BOB", approverName: "U0BOB" })).to.equal("U0BOB");
    expect(approverLabel({ approver: "U0BOB", approverName: "\u001b[31mEve" })).to.not.include("\u001b");
    expect(approverLabel({ approver: null, approverName: "Bob" })).to.equal("");
  });
  it("reads approverName from the workflow's decision JSON", () => {
    const decision = {
      decision: "approved",
      approver: "U0BOB",
      approverName: "Bob Builder",
      comment: null,
      mechanism: "slack",
    };
    const execution = new FakeExecution(
      "arn:aws:states:eu-west-1:123456789012:execution:sfn-approvals-dev:x1",
      EXPENSE_REPORT,
      1_700_000_000,
    )
      .start()
      .waitAt("ops", 1_700_000_001)
      .decide(decision as Parameters<FakeExecution["decide"]>[0], 1_700_000_002);
    const events = execution.history({ reverseOrder: true }).events as HistoryEvent[];
    expect(positionFromEvents(events).decisions.map((d) => [d.approver, d.approverName])).to.deep.equal([
      ["U0BOB", "Bob Builder"],
    ]);
  });
});
