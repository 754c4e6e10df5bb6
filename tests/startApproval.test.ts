// start-approval as operators run it: the real CLI (scripts/start-approval.ts) in a child process
// against a fake Step Functions endpoint on 127.0.0.1 and a fake `pulumi` (PULUMI_COMMAND) that
// prints the prod stack's outputs. With --wait, the fake's DescribeExecution/GetExecutionHistory
// answers advance poll by poll through a realistic history (whose Task parameters hold task tokens).
import { expect } from "chai";
import { main } from "../scripts/start-approval";
import { CliResult, cliArgs, fakeAwsCliEnv, runInProcess } from "./helpers/cliEnv";
import { ChildProcess, spawn } from "child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { AwsError, FakeAws, FakeExecution, fakeTaskToken, serveExecutions } from "./helpers/fakeAws";

const ROOT = join(__dirname, "..");
const STATE_MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:sfn-approvals-prod";
const EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:sfn-approvals-prod:er98765-1";
const CONSOLE = `https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${EXECUTION}`;
const EXAMPLE = join(ROOT, "examples", "expense-report.json");
const REQUEST = JSON.parse(readFileSync(EXAMPLE, "utf8"));
const MANAGERS = [
  "arn:aws:iam::123456789012:role/ReleaseApprover",
  "arn:aws:iam::123456789012:user/alice",
  "arn:aws:iam::123456789012:user/carol",
];
const FINANCE = "arn:aws:iam::123456789012:role/FinanceApprover";
const ALICE = "arn:aws:iam::123456789012:user/alice";
const BOB = "arn:aws:sts::123456789012:assumed-role/FinanceApprover/bob";
const PROD_OUTPUTS = {
  stateMachineArn: STATE_MACHINE,
  stateMachineName: "sfn-approvals-prod",
  region: "eu-west-1",
  autoApproveBelow: null,
  alertTopicArn: "arn:aws:sns:eu-west-1:123456789012:alerts-1a2b3c4",
  stages: [
    {
      name: "manager",
      mechanism: "ssm-automation",
      approvers: MANAGERS,
      timeout: "3d",
      documentName: "sfn-approvals-prod-manager",
    },
    {
      name: "finance",
      mechanism: "codepipeline",
      approvers: [FINANCE],
      timeout: "7d",
      pipelineName: "sfn-approvals-prod-finance",
    },
  ],
};
const USAGE = "Usage: npm run start-approval";

/** 2026-11-22 10:00:03 UTC, for epoch seconds. */
const utc = (seconds: number) => `${new Date(seconds * 1000).toISOString().slice(0, 19).replace("T", " ")} UTC`;
const nowSeconds = () => Math.floor(Date.now() / 1000);

interface Run {
  /** The process, when started as one (runProcess). */
  child?: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

const dir = mkdtempSync(join(tmpdir(), "start-approval-"));

/** A fake `pulumi` that prints `outputs` for `stack output --json --stack <stack>` and refuses anything else. */
function fakePulumi(stack: string, outputs: object): string {
  const path = join(dir, `pulumi-${stack}-${Math.random().toString(36).slice(2)}`);
  writeFileSync(
    path,
    `#!/bin/sh\n[ "$*" = "stack output --json --stack ${stack}" ] || { echo "unexpected: $*" >&2; exit 3; }\ncat <<'JSON'\n${JSON.stringify(outputs)}\nJSON\n`,
  );
  chmodSync(path, 0o755);
  return path;
}

function requestFile(content: string): string {
  const path = join(dir, `request-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, content);
  return path;
}

describe("start-approval (scripts/start-approval.ts) against a fake Step Functions endpoint", function () {
  this.timeout(60000);
  const aws = new FakeAws();
  let env: Record<string, string>;
  let prodPulumi: string;

  /** Runs the CLI's main in this process (one run at a time); runProcess starts it as npm run does. */
  function run(args: string[], extraEnv: Record<string, string> = {}): Run {
    let result: CliResult | undefined;
    const exited = runInProcess(main, args, { ...env, ...extraEnv }).then((done) => {
      result = done;
      return done.code;
    });
    return { stdout: () => result?.stdout ?? "", stderr: () => result?.stderr ?? "", exited };
  }

  function runProcess(args: string[], extraEnv: Record<string, string> = {}): Run {
    let stdout = "";
    let stderr = "";
    const child = spawn(process.execPath, cliArgs("start-approval", args), {
      cwd: ROOT,
      env: { ...env, ...extraEnv },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    running.add(child);
    const exited = new Promise<number | null>((resolve) =>
      child.on("exit", (code) => {
        running.delete(child);
        resolve(code);
      }),
    );
    return { child, stdout: () => stdout, stderr: () => stderr, exited };
  }
  /** Runs still going after their test (it failed before they ended): ended, so teardown never waits on them. */
  const running = new Set<ChildProcess>();
  afterEach(() => {
    for (const child of running) child.kill("SIGKILL");
    running.clear();
  });

  async function waitFor(check: () => boolean, what: string, timeoutMs = 20000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  before(async () => {
    const url = await aws.start();
    env = fakeAwsCliEnv({
      AWS_ENDPOINT_URL_SFN: url,
      // Test-only: lets --poll-seconds and --status-every go below 1 s, so --wait runs are quick.
      SFN_APPROVALS_TEST_FAST_POLL: "1",
    });
    prodPulumi = fakePulumi("prod", PROD_OUTPUTS);
  });
  after(() => aws.stop());
  beforeEach(() => aws.reset());

  /** StartExecution answers with `execution`; its checkpoints are served to the polls. */
  function serve(execution: FakeExecution): void {
    aws.on("StartExecution", () => ({ executionArn: execution.executionArn, startDate: execution.startDate }));
    serveExecutions(aws, [execution]);
  }

  /** stdout with the elapsed times (which depend on the machine's speed) made constant. */
  const steady = (text: string) => text.replace(/\(\d+s\)/g, "(Ns)").replace(/after \d+s/g, "after Ns");

  function expectNoToken(execution: FakeExecution, output: string): void {
    expect(execution.tokens, "the history holds task tokens").to.not.be.empty;
    for (const token of execution.tokens) {
      expect(JSON.stringify(execution.events), "the served history holds the token").to.contain(token);
      expect(output).to.not.contain(token.slice(20, 60));
    }
  }

  describe("refuses a request that is not one, before starting anything", () => {
    const cases: Array<[string, string, string]> = [
      [
        "no title",
        JSON.stringify({ requestId: "ER1", amount: 10 }),
        "  - 'title' is required and must be a non-empty string",
      ],
      [
        "an empty title",
        JSON.stringify({ title: "" }),
        `  - 'title' is required and must be a non-empty string (it is the string "")`,
      ],
      [
        "the amount as a string",
        JSON.stringify({ title: "Expense", amount: "750.50" }),
        `  - 'amount', when present, must be a number of at least 0 (it is the string "750.50")`,
      ],
      [
        "a negative amount",
        JSON.stringify({ title: "Expense", amount: -5 }),
        "  - 'amount', when present, must be a number of at least 0 (it is -5)",
      ],
      [
        "a requester that is not a string",
        JSON.stringify({ title: "Expense", requester: 42 }),
        "  - 'requester', when present, must be a string (it is 42)",
      ],
      ["an array", JSON.stringify([{ title: "Expense" }]), "  - the request must be a JSON object"],
    ];
    // The runs of these cases, started together (in this process they run one after another).
    const files = cases.map(([, content]) => requestFile(content));
    let runs: Run[] = [];
    let requestsMade = -1;
    before(async () => {
      aws.reset();
      runs = files.map((file) => run(["--state-machine-arn", STATE_MACHINE, "--input", file]));
      await Promise.all(runs.map((r) => r.exited));
      requestsMade = aws.requests.length;
    });
    cases.forEach(([what, , problem], i) => {
      it(`with ${what}`, async () => {
        const cli = runs[i];
        expect(await cli.exited).to.equal(2);
        expect(cli.stderr())
          .to.contain(`start-approval: the request in '${files[i]}' is not a valid approval request`)
          .and.contain(`\n${problem}\n`)
          .and.contain(`See docs/contract.md: only 'title' is required.`);
        expect(cli.stderr()).to.not.contain(USAGE);
        expect(cli.stdout()).to.equal("");
        expect(requestsMade).to.equal(0);
      });
    });

    it("lists every problem of the request, and says what a non-object holds", async () => {
      const several = requestFile(JSON.stringify({ amount: "lots", currency: 3 }));
      const cli = run(["--state-machine-arn", STATE_MACHINE, "--input", several]);
      expect(await cli.exited).to.equal(2);
      expect(cli.stderr()).to.equal(
        [
          `start-approval: the request in '${several}' is not a valid approval request:`,
          "  - 'title' is required and must be a non-empty string",
          `  - 'amount', when present, must be a number of at least 0 (it is the string "lots")`,
          "  - 'currency', when present, must be a string (it is 3)",
          `See docs/contract.md: only 'title' is required.`,
          "",
        ].join("\n"),
      );
      const text = requestFile(`"Expense report"`);
      const other = run(["--state-machine-arn", STATE_MACHINE, "--input", text]);
      expect(await other.exited).to.equal(2);
      expect(other.stderr()).to.contain(
        `is not a valid approval request (it holds the string "Expense report"):\n  - the request must be a JSON object\n`,
      );
    });

    it("when the file is missing", async () => {
      const missing = join(dir, "no-such-request.json");
      const cli = run(["--stack", "prod", "--input", missing], { PULUMI_COMMAND: prodPulumi });
      expect(await cli.exited).to.equal(2);
      expect(cli.stderr()).to.equal(`start-approval: cannot read the request file '${missing}': no such file\n`);
      expect(aws.requests).to.have.length(0);
    });

    it("when the file is not JSON", async () => {
      const bad = requestFile(`{ "title": "Expense", }`);
      const cli = run(["--state-machine-arn", STATE_MACHINE, "--input", bad]);
      expect(await cli.exited).to.equal(2);
      expect(cli.stderr()).to.match(new RegExp(`^start-approval: the request file '${bad}' is not valid JSON: .+\n$`));
      expect(aws.requests).to.have.length(0);
    });

    it("when it is larger than its decision record can carry (half of Step Functions' 256 KiB)", async () => {
      const big = requestFile(JSON.stringify({ title: "Big", details: "x".repeat(131072) }));
      const cli = run(["--state-machine-arn", STATE_MACHINE, "--input", big]);
      expect(await cli.exited).to.equal(2);
      expect(cli.stderr()).to.contain(
        "is 131100 bytes as JSON; at most 131072 (128 KiB) are accepted, so that the decision record",
      );
      expect(aws.requests).to.have.length(0);
    });
  });

  describe("usage errors print the usage and exit 2", () => {
    const cases: Array<[string[], string]> = [
      [["--input", EXAMPLE], "start-approval: give either --stack or --state-machine-arn"],
      [
        ["--stack", "prod", "--state-machine-arn", STATE_MACHINE, "--input", EXAMPLE],
        "start-approval: give either --stack or --state-machine-arn",
      ],
      [["--state-machine-arn", STATE_MACHINE], "start-approval: --input FILE is required"],
      [
        ["--state-machine-arn", "arn:aws:lambda:eu-west-1:123456789012:function:x", "--input", EXAMPLE],
        "is not a Step Functions state machine ARN",
      ],
      [
        ["--state-machine-arn", STATE_MACHINE, "--input", EXAMPLE, "--name", "er 98765"],
        "start-approval: --name 'er 98765' is not a valid execution name: it must not contain whitespace",
      ],
      [
        ["--state-machine-arn", STATE_MACHINE, "--input", EXAMPLE, "--name", "reports/er98765"],
        "start-approval: --name 'reports/er98765' is not a valid execution name: it must not contain '/'",
      ],
      [
        ["--state-machine-arn", STATE_MACHINE, "--input", EXAMPLE, "--name", "a<b>{c}"],
        "it must not contain '<', '>', '{', '}'",
      ],
      [
        ["--state-machine-arn", STATE_MACHINE, "--input", EXAMPLE, "--name", "x".repeat(81)],
        "is not a valid execution name: it must be 1 to 80 characters long (it has 81)",
      ],
      [
        ["--state-machine-arn", STATE_MACHINE, "--input", EXAMPLE, "--name", "bell\u0007"],
        "is not a valid execution name: it must not contain control characters",
      ],
      [
        ["--state-machine-arn", STATE_MACHINE, "--input", EXAMPLE, "--poll-seconds", "1"],
        "start-approval: --poll-seconds goes with --wait",
      ],
      [
        ["--state-machine-arn", STATE_MACHINE, "--input", EXAMPLE, "--wait", "--poll-seconds", "0"],
        "start-approval: --poll-seconds must be a number of seconds from 0.05 to 86400, got '0'",
      ],
      [
        ["--state-machine-arn", `${STATE_MACHINE}\u001b[2J\u001b]0;pwned\u0007`, "--input", EXAMPLE],
        `start-approval: --state-machine-arn '${STATE_MACHINE}' is not a Step Functions state machine ARN (arn:aws:states:REGION:ACCOUNT:stateMachine:NAME); it holds control characters\n`,
      ],
      [
        ["--state-machine-arn", STATE_MACHINE, "--input", EXAMPLE, "\u001b[31mred\u001b[0m\u202eevil"],
        "start-approval: unexpected argument 'redevil'\n",
      ],
      [
        ["--state-machine-arn", STATE_MACHINE, "--input", EXAMPLE, "--\u001b[31mbogus"],
        "start-approval: unknown option --bogus\n",
      ],
      [["--state-machine-arn", STATE_MACHINE, "--input", EXAMPLE, "--bogus"], "start-approval: unknown option --bogus"],
    ];
    let runs: Run[] = [];
    let requestsMade = -1;
    before(async () => {
      aws.reset();
      runs = cases.map(([args]) => run(args, { PULUMI_COMMAND: prodPulumi }));
      await Promise.all(runs.map((r) => r.exited));
      requestsMade = aws.requests.length;
    });
    cases.forEach(([args, message], i) => {
      const shown = args
        .filter((a) => a !== EXAMPLE && a !== STATE_MACHINE)
        .join(" ")
        .replace(
          /[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/g,
          (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
        );
      it(`refuses ${shown.slice(0, 60)}`, async () => {
        expect(await runs[i].exited).to.equal(2);
        expect(runs[i].stderr()).to.contain(message).and.contain(USAGE);
        // What it echoes back of the command line is terminal-safe: no escape sequences, no bidi controls.
        expect(runs[i].stderr()).to.not.match(/[\u001b\u0007\u202a-\u202e]/);
        expect(runs[i].stdout()).to.equal("");
        expect(requestsMade).to.equal(0);
      });
    });

    it("refuses --poll-seconds and --status-every below 1 s (fractional ones only under the test-only SFN_APPROVALS_TEST_FAST_POLL)", async () => {
      const fast = run(["--state-machine-arn", STATE_MACHINE, "--input", EXAMPLE, "--wait", "--poll-seconds", "0.5"], {
        SFN_APPROVALS_TEST_FAST_POLL: "",
      });
      const status = run(
        ["--state-machine-arn", STATE_MACHINE, "--input", EXAMPLE, "--wait", "--status-every", "0.9"],
        { SFN_APPROVALS_TEST_FAST_POLL: "" },
      );
      expect(await fast.exited).to.equal(2);
      expect(fast.stderr()).to.contain(
        "start-approval: --poll-seconds must be a number of seconds from 1 to 86400, got '0.5'\n\nUsage: npm run start-approval",
      );
      expect(await status.exited).to.equal(2);
      expect(status.stderr()).to.contain(
        "start-approval: --status-every must be a number of seconds from 1 to 86400, got '0.9'\n\nUsage: npm run start-approval",
      );
      expect(aws.requests).to.have.length(0);
    });

    it("accepts a name with the characters Step Functions allows", async () => {
      aws.on("StartExecution", () => ({
        executionArn: `${EXECUTION.replace(/er98765-1$/, "ER-98765_v2.1+x=y@z")}`,
        startDate: nowSeconds(),
      }));
      const cli = run(["--state-machine-arn", STATE_MACHINE, "--input", EXAMPLE, "--name", "ER-98765_v2.1+x=y@z"]);
      expect(await cli.exited).to.equal(0);
      expect(aws.requests[0].body.name).to.equal("ER-98765_v2.1+x=y@z");
    });
  });

  it("starts the stack's workflow with the request and the name, and prints the execution and its console page", async () => {
    aws.on("StartExecution", () => ({ executionArn: EXECUTION, startDate: nowSeconds() }));
    const cli = runProcess(["--stack", "prod", "--input", "examples/expense-report.json", "--name", "er98765-1"], {
      PULUMI_COMMAND: prodPulumi,
    });
    expect(await cli.exited).to.equal(0);
    expect(aws.operations()).to.deep.equal(["StartExecution"]);
    expect(aws.requests[0].target).to.equal("AWSStepFunctions.StartExecution");
    expect(aws.requests[0].body).to.deep.equal({
      stateMachineArn: STATE_MACHINE,
      input: JSON.stringify(REQUEST),
      name: "er98765-1",
    });
    expect(cli.stdout()).to.equal(
      [
        `Started "Expense report ER98765" on sfn-approvals-prod (eu-west-1).`,
        `  Execution  ${EXECUTION}`,
        `  Console    ${CONSOLE}`,
        "  Stages     manager (ssm-automation), then finance (codepipeline)",
        "Follow it with: npm run approvals -- --stack prod show er98765-1",
        "",
      ].join("\n"),
    );
    expect(cli.stderr()).to.equal("");
  });

  it("starts through the stack's alias (aliasArn): its current version, as sfn-approvals:rollout shifts it", async () => {
    const alias = `${STATE_MACHINE}:live`;
    aws.on("StartExecution", () => ({ executionArn: EXECUTION, startDate: nowSeconds() }));
    const withAlias = fakePulumi("prod", { ...PROD_OUTPUTS, aliasArn: alias });
    const cli = run(["--stack", "prod", "--input", EXAMPLE, "--name", "er98765-1"], { PULUMI_COMMAND: withAlias });
    expect(await cli.exited).to.equal(0);
    // Executions of every version are named under the unqualified state machine (docs/rollout.md).
    expect(aws.requests[0].body).to.deep.equal({
      stateMachineArn: alias,
      input: JSON.stringify(REQUEST),
      name: "er98765-1",
    });
    expect(cli.stdout()).to.contain(
      `Started "Expense report ER98765" on sfn-approvals-prod (eu-west-1).\n  Execution  ${EXECUTION}\n`,
    );
  });

  it("starts an alias or version ARN given as --state-machine-arn, and ignores an aliasArn output of another state machine", async () => {
    aws.on("StartExecution", () => ({ executionArn: EXECUTION, startDate: nowSeconds() }));
    const version = run(["--state-machine-arn", `${STATE_MACHINE}:3`, "--input", EXAMPLE, "--name", "er98765-1"]);
    expect(await version.exited).to.equal(0);
    expect(aws.requests[0].body.stateMachineArn).to.equal(`${STATE_MACHINE}:3`);
    expect(version.stdout()).to.contain("Follow it with: npm run approvals -- show " + EXECUTION);
    const other = fakePulumi("prod", { ...PROD_OUTPUTS, aliasArn: `${STATE_MACHINE}-other:live` });
    const stack = run(["--stack", "prod", "--input", EXAMPLE, "--name", "er98765-1"], { PULUMI_COMMAND: other });
    expect(await stack.exited).to.equal(0);
    expect(aws.requests[1].body.stateMachineArn).to.equal(STATE_MACHINE);
  });

  it("without --name, names the execution after the request id and a random suffix; with --state-machine-arn, works in the ARN's Region", async () => {
    const arn = "arn:aws:states:us-west-2:123456789012:stateMachine:approvals";
    const execution = "arn:aws:states:us-west-2:123456789012:execution:approvals:0f8e2a4c-1111-2222-3333-444455556666";
    aws.on("StartExecution", () => ({ executionArn: execution, startDate: nowSeconds() }));
    const request = requestFile(JSON.stringify({ title: "Deploy", requestId: "DEP-1" }));
    const cli = run(["--state-machine-arn", arn, "--input", request]);
    expect(await cli.exited).to.equal(0);
    expect(aws.requests[0].body).to.have.all.keys("stateMachineArn", "input", "name");
    expect(aws.requests[0].body).to.deep.include({
      stateMachineArn: arn,
      input: `{"title":"Deploy","requestId":"DEP-1"}`,
    });
    expect(aws.requests[0].body.name).to.match(/^DEP-1-[0-9a-f]{12}$/);
    expect(String(aws.requests[0].headers.authorization)).to.match(/\/us-west-2\/states\/aws4_request/);
    expect(cli.stdout())
      .to.contain(
        `  Console    https://us-west-2.console.aws.amazon.com/states/home?region=us-west-2#/v2/executions/details/${execution}\n`,
      )
      .and.contain(`Follow it with: npm run approvals -- show ${execution}\n`);
  });

  it("reads a relative --input from the folder npm was started in (INIT_CWD)", async () => {
    aws.on("StartExecution", () => ({ executionArn: EXECUTION, startDate: nowSeconds() }));
    const cli = run(["--state-machine-arn", STATE_MACHINE, "--input", "deployment-request.json"], {
      INIT_CWD: join(ROOT, "examples"),
    });
    expect(await cli.exited).to.equal(0);
    expect(JSON.parse(aws.requests[0].body.input)).to.deep.equal(
      JSON.parse(readFileSync(join(ROOT, "examples", "deployment-request.json"), "utf8")),
    );
  });

  it("says when the name is taken, and exits 2", async () => {
    aws.on("StartExecution", () => new AwsError("ExecutionAlreadyExists", `Execution Already Exists: '${EXECUTION}'`));
    const cli = run(["--state-machine-arn", STATE_MACHINE, "--input", EXAMPLE, "--name", "er98765-1"]);
    expect(await cli.exited).to.equal(2);
    expect(cli.stderr()).to.equal(
      "start-approval: an execution named 'er98765-1' already exists for sfn-approvals-prod (an execution's name stays taken for 90 days after it ends); choose another --name\n",
    );
  });

  it("says when the stack outputs cannot be read, and exits 2", async () => {
    const noStack = fakePulumi("prod", {});
    const cli = run(["--stack", "prod", "--input", EXAMPLE], { PULUMI_COMMAND: noStack });
    expect(await cli.exited).to.equal(2);
    expect(cli.stderr()).to.equal(
      "start-approval: stack 'prod' has no stateMachineArn output (is it deployed? 'pulumi up --stack prod'); or pass --state-machine-arn\n",
    );
    const noPulumi = run(["--stack", "prod", "--input", EXAMPLE], { PULUMI_COMMAND: join(dir, "missing-pulumi") });
    expect(await noPulumi.exited).to.equal(2);
    expect(noPulumi.stderr()).to.contain(
      `start-approval: the Pulumi CLI ('${join(dir, "missing-pulumi")}') is not installed or not on PATH`,
    );
    expect(aws.requests).to.have.length(0);
  });

  describe("--wait", () => {
    it("follows both stages to an approval: a line per change, the decision table, exit 0", async () => {
      const t0 = nowSeconds() - 2;
      const execution = new FakeExecution(EXECUTION, REQUEST, t0)
        .start()
        .checkpoint()
        .waitAt("manager", t0 + 1)
        .checkpoint(3)
        .decide({ decision: "approved", approver: ALICE, comment: "looks fine", mechanism: "ssm-automation" }, t0 + 2)
        .waitAt("finance", t0 + 2.5)
        .checkpoint(2)
        .decide({ decision: "approved", approver: BOB, comment: "budget ok", mechanism: "codepipeline" }, t0 + 3)
        .succeed("Approved", { approved: true, decision: "approved" }, t0 + 3.1)
        .checkpoint();
      serve(execution);
      const cli = runProcess(
        ["--stack", "prod", "--input", EXAMPLE, "--name", "er98765-1", "--wait", "--poll-seconds", "0.05"],
        { PULUMI_COMMAND: prodPulumi },
      );
      expect(await cli.exited).to.equal(0);
      expect(steady(cli.stdout()).split("\n")).to.deep.equal([
        `Started "Expense report ER98765" on sfn-approvals-prod (eu-west-1).`,
        `  Execution  ${EXECUTION}`,
        `  Console    ${CONSOLE}`,
        "  Stages     manager (ssm-automation), then finance (codepipeline)",
        "Waiting for the decision, checking every 0.05 s (Ctrl-C stops waiting; the execution goes on).",
        `Waiting on stage manager (ssm-automation) since ${utc(t0 + 1)} (Ns); approvers: ${MANAGERS.join(", ")}`,
        `Stage manager: approved by ${ALICE}: "looks fine"`,
        `Waiting on stage finance (codepipeline) since ${utc(t0 + 2)} (Ns); approvers: ${FINANCE}`,
        "Approved after Ns: Expense report ER98765",
        "  STAGE    MECHANISM       DECISION  AT                       BY                                                          COMMENT",
        `  manager  ssm-automation  approved  ${utc(t0 + 2)}  arn:aws:iam::123456789012:user/alice                        looks fine`,
        `  finance  codepipeline    approved  ${utc(t0 + 3)}  arn:aws:sts::123456789012:assumed-role/FinanceApprover/bob  budget ok`,
        "",
      ]);
      expect(cli.stderr()).to.equal("");
      // One DescribeExecution per checkpoint: it stops as soon as the execution has ended.
      expect(aws.operations().filter((o) => o === "DescribeExecution")).to.have.length(7);
      const histories = aws.requests.filter((r) => r.operation === "GetExecutionHistory");
      expect(histories).to.have.length(6);
      for (const h of histories)
        expect(h.body).to.deep.include({ executionArn: EXECUTION, reverseOrder: true, maxResults: 200 });
      const polls = aws.requests.filter((r) => r.operation === "DescribeExecution").map((r) => r.at);
      for (let i = 1; i < polls.length; i++) expect(polls[i] - polls[i - 1], "time between checks").to.be.at.least(40);
      expectNoToken(execution, cli.stdout() + cli.stderr());
    });

    it("ends at a rejection with exit 1, showing who rejected and why", async () => {
      const t0 = nowSeconds() - 2;
      const execution = new FakeExecution(EXECUTION, REQUEST, t0)
        .start()
        .waitAt("manager", t0 + 0.5)
        .decide({ decision: "approved", approver: ALICE, comment: null, mechanism: "ssm-automation" }, t0 + 1)
        .waitAt("finance", t0 + 1.2)
        .checkpoint(2)
        .decide(
          {
            decision: "rejected",
            approver: BOB,
            comment: "over budget:\nsplit it \u001b[31mplease\u001b[0m",
            mechanism: "codepipeline",
          },
          t0 + 2,
        )
        .succeed("Rejected at finance", { approved: false, decision: "rejected" }, t0 + 2.1)
        .checkpoint();
      serve(execution);
      const cli = run(["--stack", "prod", "--input", EXAMPLE, "--wait", "--poll-seconds", "0.05"], {
        PULUMI_COMMAND: prodPulumi,
      });
      expect(await cli.exited).to.equal(1);
      expect(steady(cli.stdout()).split("\n").slice(5)).to.deep.equal([
        `Stage manager: approved by ${ALICE}`,
        `Waiting on stage finance (codepipeline) since ${utc(t0 + 1)} (Ns); approvers: ${FINANCE}`,
        "Rejected at stage finance after Ns: Expense report ER98765",
        "  STAGE    MECHANISM       DECISION  AT                       BY                                                          COMMENT",
        `  manager  ssm-automation  approved  ${utc(t0 + 1)}  arn:aws:iam::123456789012:user/alice`,
        `  finance  codepipeline    rejected  ${utc(t0 + 2)}  arn:aws:sts::123456789012:assumed-role/FinanceApprover/bob  over budget: split it please`,
        "",
      ]);
      expectNoToken(execution, cli.stdout() + cli.stderr());
    });

    it("ends at a timeout with exit 1", async () => {
      const t0 = nowSeconds() - 2;
      const execution = new FakeExecution(EXECUTION, REQUEST, t0)
        .start()
        .waitAt("manager", t0 + 0.5)
        .checkpoint(2)
        .timeOut("ssm-automation", t0 + 1)
        .succeed("Timed out at manager", { approved: false, decision: "timed_out" }, t0 + 1.1)
        .checkpoint();
      serve(execution);
      const cli = run(["--stack", "prod", "--input", EXAMPLE, "--wait", "--poll-seconds", "0.05"], {
        PULUMI_COMMAND: prodPulumi,
      });
      expect(await cli.exited).to.equal(1);
      expect(steady(cli.stdout()).split("\n").slice(5)).to.deep.equal([
        `Waiting on stage manager (ssm-automation) since ${utc(t0)} (Ns); approvers: ${MANAGERS.join(", ")}`,
        "Timed out at stage manager after Ns: Expense report ER98765",
        "  STAGE    MECHANISM       DECISION     AT                       BY  COMMENT",
        `  manager  ssm-automation  timed_out    ${utc(t0 + 1)}  -`,
        "  finance  codepipeline    not reached",
        "",
      ]);
      expectNoToken(execution, cli.stdout() + cli.stderr());
    });

    it("reports a FAILED execution with its error and cause, and exits 2", async () => {
      const t0 = nowSeconds() - 2;
      const cause =
        "The pipeline execution 0d3c-… of sfn-approvals-prod-finance was stopped while it waited for approval; nothing was decided.";
      const execution = new FakeExecution(EXECUTION, REQUEST, t0)
        .start()
        .waitAt("manager", t0 + 0.5)
        .decide({ decision: "approved", approver: ALICE, comment: "ok", mechanism: "ssm-automation" }, t0 + 1)
        .waitAt("finance", t0 + 1.2)
        .checkpoint()
        .fail("ApprovalCanceled", cause, t0 + 2)
        .checkpoint();
      serve(execution);
      const cli = run(["--stack", "prod", "--input", EXAMPLE, "--wait", "--poll-seconds", "0.05"], {
        PULUMI_COMMAND: prodPulumi,
      });
      expect(await cli.exited).to.equal(2);
      expect(steady(cli.stdout()).split("\n").slice(5)).to.deep.equal([
        `Stage manager: approved by ${ALICE}: "ok"`,
        `Waiting on stage finance (codepipeline) since ${utc(t0 + 1)} (Ns); approvers: ${FINANCE}`,
        "The execution FAILED after Ns: ApprovalCanceled",
        `  Cause: ${cause}`,
        "  STAGE    MECHANISM       DECISION     AT                       BY                                    COMMENT",
        `  manager  ssm-automation  approved     ${utc(t0 + 1)}  arn:aws:iam::123456789012:user/alice  ok`,
        `  finance  codepipeline    no decision  ${utc(t0 + 1)}  -`,
        "Nothing was approved.",
        "",
      ]);
      expectNoToken(execution, cli.stdout() + cli.stderr());
    });

    it("says when an auto-approval threshold applies, and exits 0 on auto_approved", async () => {
      const t0 = nowSeconds() - 1;
      const small = { title: "Taxi receipt", requestId: "ER11111", amount: 42, currency: "EUR" };
      const execution = new FakeExecution(EXECUTION, small, t0)
        .start()
        .checkpoint()
        .succeed("Auto-approved", { approved: true, decision: "auto_approved" }, t0 + 0.1)
        .checkpoint();
      serve(execution);
      const dev = fakePulumi("dev", {
        ...PROD_OUTPUTS,
        autoApproveBelow: 500,
        stages: [{ name: "manager", mechanism: "activity", approvers: [MANAGERS[0]], timeout: "1h" }],
      });
      const cli = run(
        ["--stack", "dev", "--input", requestFile(JSON.stringify(small)), "--wait", "--poll-seconds", "0.05"],
        { PULUMI_COMMAND: dev },
      );
      expect(await cli.exited).to.equal(0);
      expect(steady(cli.stdout()))
        .to.contain(
          "  Amount     42.00 EUR is below the stack's auto-approval threshold (500): approved without asking anyone.\n",
        )
        .and.contain(
          "\nAuto-approved after Ns: Taxi receipt (amount below the auto-approval threshold; no stage ran)\n",
        );
      expect(cli.stdout()).to.not.contain("STAGE");
    });

    it("prints 'still waiting' lines while nothing changes, and stops waiting on Ctrl-C without stopping the execution", async () => {
      const t0 = nowSeconds() - 1;
      const execution = new FakeExecution(EXECUTION, REQUEST, t0)
        .start()
        .waitAt("manager", t0 + 0.5, "activity")
        .checkpoint(100000);
      serve(execution);
      aws.on("StopExecution", () => ({ stopDate: nowSeconds() }));
      const cli = runProcess([
        "--state-machine-arn",
        STATE_MACHINE,
        "--input",
        EXAMPLE,
        "--wait",
        "--poll-seconds",
        "0.05",
        "--status-every",
        "0.3",
      ]);
      await waitFor(() => (cli.stdout().match(/Still waiting/g) ?? []).length >= 2, "two 'still waiting' lines");
      cli.child!.kill("SIGINT");
      expect(await cli.exited).to.equal(130);
      const lines = steady(cli.stdout()).split("\n");
      // Without the stack outputs, the stage's mechanism and approvers are unknown.
      expect(lines.filter((l) => l.startsWith("Waiting on "))).to.deep.equal([
        `Waiting on stage manager since ${utc(t0 + 0.5)} (Ns)`,
      ]);
      const still = lines.filter((l) => l.startsWith("Still waiting"));
      for (const line of still) expect(line).to.match(/^Still waiting on stage manager: \d+s so far$/);
      const checks = aws.requests.filter((r) => r.operation === "DescribeExecution");
      const followedMs = checks[checks.length - 1].at - checks[0].at;
      expect(still.length, "at most one 'still waiting' line per 0.3 s, not one per check").to.be.at.most(
        Math.floor(followedMs / 300) + 1,
      );
      expect(cli.stdout()).to.contain(
        `\nStopped waiting. The execution goes on: ${EXECUTION}\nFollow it with: npm run approvals -- show ${EXECUTION}\n`,
      );
      expect(aws.operations()).to.not.include("StopExecution");
    });

    it("gives up with exit 2 when Step Functions refuses to show the history", async () => {
      const t0 = nowSeconds() - 1;
      serve(
        new FakeExecution(EXECUTION, REQUEST, t0)
          .start()
          .waitAt("manager", t0 + 0.5)
          .checkpoint(10),
      );
      aws.on(
        "GetExecutionHistory",
        () =>
          new AwsError(
            "AccessDeniedException",
            "User: arn:aws:sts::123456789012:assumed-role/Dev/x is not authorized to perform: states:GetExecutionHistory",
          ),
      );
      const cli = run(["--stack", "prod", "--input", EXAMPLE, "--wait", "--poll-seconds", "0.05"], {
        PULUMI_COMMAND: prodPulumi,
      });
      expect(await cli.exited).to.equal(2);
      expect(cli.stderr()).to.equal(
        "start-approval: could not follow the execution: AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/Dev/x is not authorized to perform: states:GetExecutionHistory. " +
          "It goes on; check it with: npm run approvals -- --stack prod show er98765-1\n",
      );
      expect(aws.operations().filter((o) => o === "GetExecutionHistory")).to.have.length(1);
    });
  });

  describe("starting: one execution, whatever the retries", () => {
    /** The execution ARN Step Functions gives an execution of the prod state machine named `name`. */
    const arnOf = (name: string) => `${STATE_MACHINE.replace(":stateMachine:", ":execution:")}:${name}`;
    const startedLines = (name: string) => [
      `Started "Expense report ER98765" on sfn-approvals-prod (eu-west-1).`,
      `  Execution  ${arnOf(name)}`,
      `  Console    https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${arnOf(name)}`,
      "  Stages     manager (ssm-automation), then finance (codepipeline)",
    ];

    it("without --name, retries a StartExecution answered 500 with the same generated name, and reports the one execution", async () => {
      aws.on("StartExecution", (body) =>
        aws.operations().length === 1
          ? new AwsError("InternalFailure", "An internal error occurred", 500)
          : { executionArn: arnOf(body.name), startDate: nowSeconds() },
      );
      const cli = run(["--stack", "prod", "--input", EXAMPLE], { PULUMI_COMMAND: prodPulumi });
      expect(await cli.exited).to.equal(0);
      expect(aws.operations()).to.deep.equal(["StartExecution", "StartExecution"]);
      const [first, second] = aws.requests.map((r) => r.body);
      expect(first.name).to.match(/^ER98765-[0-9a-f]{12}$/);
      expect(first).to.deep.equal({ stateMachineArn: STATE_MACHINE, input: JSON.stringify(REQUEST), name: first.name });
      expect(
        second,
        "the retry sends the same name and input: Step Functions answers it with the same execution",
      ).to.deep.equal(first);
      expect(cli.stdout()).to.equal(
        [...startedLines(first.name), `Follow it with: npm run approvals -- --stack prod show ${first.name}`, ""].join(
          "\n",
        ),
      );
      expect(cli.stderr()).to.equal("");
    });

    it("when the retry finds its generated name taken (the first attempt started it, and it has ended), goes on with that execution", async () => {
      aws.on("StartExecution", (body) =>
        aws.operations().length === 1
          ? new AwsError("InternalFailure", "An internal error occurred", 500)
          : new AwsError("ExecutionAlreadyExists", `Execution Already Exists: '${arnOf(body.name)}'`),
      );
      const cli = run(["--stack", "prod", "--input", EXAMPLE], { PULUMI_COMMAND: prodPulumi });
      expect(await cli.exited).to.equal(0);
      const name = aws.requests[0].body.name;
      expect(aws.requests.map((r) => r.body.name)).to.deep.equal([name, name]);
      expect(cli.stdout()).to.equal(
        [...startedLines(name), `Follow it with: npm run approvals -- --stack prod show ${name}`, ""].join("\n"),
      );
      expect(cli.stderr()).to.equal(
        `Step Functions says execution '${name}' exists: an earlier attempt of this start, whose answer was lost, started it.\n`,
      );
    });

    it("when every attempt fails on Step Functions' side, says the execution may have started and how to check it, and exits 2", async () => {
      aws.on("StartExecution", () => new AwsError("InternalFailure", "An internal error occurred", 500));
      const cli = run(["--stack", "prod", "--input", EXAMPLE], { PULUMI_COMMAND: prodPulumi });
      expect(await cli.exited).to.equal(2);
      const name = aws.requests[0].body.name;
      expect(
        aws.requests.map((r) => r.body.name),
        "the SDK's four attempts",
      ).to.deep.equal([name, name, name, name]);
      expect(cli.stderr()).to.equal(
        "start-approval: could not start the execution: Step Functions failed to answer (HTTP 500): InternalFailure: An internal error occurred. " +
          `The execution '${name}' may have started all the same; check with: npm run approvals -- --stack prod show ${name}\n`,
      );
      expect(cli.stdout()).to.equal("");
    });

    it("when Step Functions cannot be reached, says so (not that it refused), and exits 2", async () => {
      const closed = new FakeAws();
      const url = await closed.start();
      await closed.stop();
      const cli = run(["--state-machine-arn", STATE_MACHINE, "--input", EXAMPLE, "--name", "er98765-1"], {
        AWS_ENDPOINT_URL_SFN: url,
      });
      expect(await cli.exited).to.equal(2);
      expect(cli.stderr()).to.equal(
        `start-approval: could not start the execution: could not reach Step Functions: Error (ECONNREFUSED): connect ECONNREFUSED ${url.replace("http://", "")}\n`,
      );
    });

    it("on Ctrl-C while StartExecution is in flight, says the execution may have started and how to check, and exits 130", async () => {
      let answer: (value: unknown) => void = () => undefined;
      aws.on(
        "StartExecution",
        () =>
          new Promise((resolve) => {
            answer = resolve;
          }),
      );
      const cli = runProcess(["--stack", "prod", "--input", EXAMPLE], { PULUMI_COMMAND: prodPulumi });
      await waitFor(() => aws.operations().includes("StartExecution"), "the StartExecution request");
      cli.child!.kill("SIGINT");
      expect(await cli.exited).to.equal(130);
      const name = aws.requests[0].body.name;
      expect(name).to.match(/^ER98765-[0-9a-f]{12}$/);
      expect(cli.stdout()).to.equal(
        `\nStopped before Step Functions confirmed the start: the execution '${name}' may have started.\nCheck with: npm run approvals -- --stack prod show ${name}\n`,
      );
      expect(cli.stderr()).to.equal("");
      answer({ executionArn: arnOf(name), startDate: nowSeconds() });
    });

    it("prints the title without bidirectional controls, so it cannot show reversed", async () => {
      aws.on("StartExecution", () => ({ executionArn: EXECUTION, startDate: nowSeconds() }));
      const request = requestFile(
        JSON.stringify({ title: "Invoice \u202efdp.exe\u202c for \u2066ACME\u2069\u200f", requestId: "INV-1" }),
      );
      const cli = run(["--stack", "prod", "--input", request, "--name", "er98765-1"], { PULUMI_COMMAND: prodPulumi });
      expect(await cli.exited).to.equal(0);
      expect(cli.stdout().split("\n")[0]).to.equal(
        `Started "Invoice fdp.exe for ACME" on sfn-approvals-prod (eu-west-1).`,
      );
      expect(cli.stdout()).to.not.match(/[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/);
    });
  });

  describe("--wait: what ends it, and what it prints", () => {
    it("exits 2, never 'Approved', when the output says approved: false beside decision 'approved'", async () => {
      const t0 = nowSeconds() - 2;
      const execution = new FakeExecution(EXECUTION, REQUEST, t0)
        .start()
        .waitAt("manager", t0 + 0.5)
        .checkpoint()
        .decide({ decision: "approved", approver: ALICE, comment: "ok", mechanism: "ssm-automation" }, t0 + 1)
        .succeed("Approved", { approved: false, decision: "approved" }, t0 + 1.1)
        .checkpoint();
      serve(execution);
      const cli = run(
        ["--stack", "prod", "--input", EXAMPLE, "--name", "er98765-1", "--wait", "--poll-seconds", "0.05"],
        { PULUMI_COMMAND: prodPulumi },
      );
      expect(await cli.exited).to.equal(2);
      expect(steady(cli.stdout()).split("\n").slice(5)).to.deep.equal([
        `Waiting on stage manager (ssm-automation) since ${utc(t0)} (Ns); approvers: ${MANAGERS.join(", ")}`,
        "The execution SUCCEEDED after Ns, but its output contradicts itself (decision 'approved', approved false): not counted as approved.",
        "  STAGE    MECHANISM       DECISION     AT                       BY                                    COMMENT",
        `  manager  ssm-automation  approved     ${utc(t0 + 1)}  ${ALICE}  ok`,
        "  finance  codepipeline    not reached",
        "",
      ]);
      expect(cli.stdout()).to.not.match(/^Approved/m);
    });

    it("exits 2 on an unknown decision, even one named like a property of every object", async () => {
      const t0 = nowSeconds() - 1;
      const execution = new FakeExecution(EXECUTION, REQUEST, t0)
        .start()
        .checkpoint()
        .succeed("Approved", { approved: true, decision: "toString" }, t0 + 0.1)
        .checkpoint();
      serve(execution);
      const cli = run(["--stack", "prod", "--input", EXAMPLE, "--wait", "--poll-seconds", "0.05"], {
        PULUMI_COMMAND: prodPulumi,
      });
      expect(await cli.exited).to.equal(2);
      expect(steady(cli.stdout()).split("\n").slice(5)).to.deep.equal([
        "The execution SUCCEEDED after Ns with an unknown decision 'toString': not counted as approved.",
        "",
      ]);
      expect(cli.stderr()).to.equal("");
    });

    it("exits 2 when the execution as a whole timed out (TIMED_OUT), unlike a stage's timeout (exit 1)", async () => {
      const t0 = nowSeconds() - 2;
      const execution = new FakeExecution(EXECUTION, REQUEST, t0)
        .start()
        .waitAt("manager", t0 + 0.5)
        .checkpoint()
        .timeOutExecution(t0 + 1.5)
        .checkpoint();
      serve(execution);
      const cli = run(["--stack", "prod", "--input", EXAMPLE, "--wait", "--poll-seconds", "0.05"], {
        PULUMI_COMMAND: prodPulumi,
      });
      expect(await cli.exited).to.equal(2);
      expect(steady(cli.stdout()).split("\n").slice(5)).to.deep.equal([
        `Waiting on stage manager (ssm-automation) since ${utc(t0)} (Ns); approvers: ${MANAGERS.join(", ")}`,
        "The execution TIMED_OUT after Ns: States.Timeout",
        "  Cause: The execution ran longer than its TimeoutSeconds.",
        "  STAGE    MECHANISM       DECISION     AT                       BY  COMMENT",
        `  manager  ssm-automation  no decision  ${utc(t0)}  -`,
        "  finance  codepipeline    not reached",
        "Nothing was approved.",
        "",
      ]);
      const help = run(["--help"]);
      expect(await help.exited).to.equal(0);
      expect(help.stdout())
        .to.contain("1 rejected, or a stage\ntimed out waiting for its decision; 2 error:")
        .and.contain("execution failed, was aborted or timed out as a whole (TIMED_OUT)");
    });

    it("removes a task token from the failure cause it prints", async () => {
      const t0 = nowSeconds() - 2;
      const token = fakeTaskToken("cause");
      const execution = new FakeExecution(EXECUTION, REQUEST, t0)
        .start()
        .waitAt("manager", t0 + 0.5)
        .checkpoint()
        .fail("States.TaskFailed", `SendTaskFailure for {"taskToken":"${token}","stage":"manager"} was refused`, t0 + 1)
        .checkpoint();
      serve(execution);
      const cli = run(["--stack", "prod", "--input", EXAMPLE, "--wait", "--poll-seconds", "0.05"], {
        PULUMI_COMMAND: prodPulumi,
      });
      expect(await cli.exited).to.equal(2);
      const lines = steady(cli.stdout()).split("\n");
      expect(lines.slice(6, 8)).to.deep.equal([
        "The execution FAILED after Ns: States.TaskFailed",
        `  Cause: SendTaskFailure for {"taskToken":"[long value removed]","stage":"manager"} was refused`,
      ]);
      expect(cli.stdout() + cli.stderr()).to.not.contain(token.slice(20, 60));
      expectNoToken(execution, cli.stdout() + cli.stderr());
    });

    it(`gives up with exit 2 after 5 checks in a row fail (throttling), saying so`, async () => {
      const t0 = nowSeconds() - 1;
      serve(
        new FakeExecution(EXECUTION, REQUEST, t0)
          .start()
          .waitAt("manager", t0 + 0.5)
          .checkpoint(10),
      );
      aws.on("DescribeExecution", () => new AwsError("ThrottlingException", "Rate exceeded"));
      // One attempt per check (AWS_MAX_ATTEMPTS, the SDK's setting): the SDK's own backoff would make this test slow.
      const cli = run(["--stack", "prod", "--input", EXAMPLE, "--wait", "--poll-seconds", "0.05"], {
        PULUMI_COMMAND: prodPulumi,
        AWS_MAX_ATTEMPTS: "1",
      });
      expect(await cli.exited).to.equal(2);
      expect(cli.stderr()).to.equal(
        [
          ...Array.from(
            { length: 4 },
            () => "Could not check the execution (ThrottlingException: Rate exceeded); trying again in 0.05 s",
          ),
          "start-approval: could not follow the execution: 5 checks in a row failed, the last with ThrottlingException: Rate exceeded. It goes on; check it with: npm run approvals -- --stack prod show er98765-1",
          "",
        ].join("\n"),
      );
      expect(aws.operations().filter((o) => o === "DescribeExecution")).to.have.length(5);
    });

    it("prints the real time a stage has waited (2 minutes here) and the time the execution took", async () => {
      const now = nowSeconds();
      const t0 = now - 130;
      const execution = new FakeExecution(EXECUTION, REQUEST, t0)
        .start()
        .waitAt("manager", now - 120)
        .checkpoint(2)
        .decide({ decision: "approved", approver: ALICE, comment: null, mechanism: "ssm-automation" }, now - 2)
        .waitAt("finance", now - 1.5)
        .decide({ decision: "approved", approver: BOB, comment: null, mechanism: "codepipeline" }, now - 1)
        .succeed("Approved", { approved: true, decision: "approved" }, now - 1)
        .checkpoint();
      serve(execution);
      const cli = run(["--stack", "prod", "--input", EXAMPLE, "--wait", "--poll-seconds", "0.05"], {
        PULUMI_COMMAND: prodPulumi,
      });
      expect(await cli.exited).to.equal(0);
      const lines = cli.stdout().split("\n");
      // Unlike the other tests, the output is not steady()-ed: the durations are the ones printed.
      expect(lines[5]).to.match(
        new RegExp(
          `^Waiting on stage manager \\(ssm-automation\\) since ${utc(now - 120)} \\(2m 0\\ds\\); approvers: `,
        ),
      );
      expect(lines[6]).to.equal("Approved after 2m 09s: Expense report ER98765");
    });

    it("prints a decision seen while waiting without the escape sequences of its comment", async () => {
      const t0 = nowSeconds() - 2;
      const execution = new FakeExecution(EXECUTION, REQUEST, t0)
        .start()
        .waitAt("manager", t0 + 0.5)
        .checkpoint()
        .decide(
          {
            decision: "approved",
            approver: ALICE,
            comment: "fine \u001b[31mby me\u001b[0m\u001b]0;pwned\u0007\u202e",
            mechanism: "ssm-automation",
          },
          t0 + 1,
        )
        .waitAt("finance", t0 + 1.2)
        .checkpoint()
        .decide({ decision: "approved", approver: BOB, comment: "ok", mechanism: "codepipeline" }, t0 + 1.5)
        .succeed("Approved", { approved: true, decision: "approved" }, t0 + 1.6)
        .checkpoint();
      serve(execution);
      const cli = run(["--stack", "prod", "--input", EXAMPLE, "--wait", "--poll-seconds", "0.05"], {
        PULUMI_COMMAND: prodPulumi,
      });
      expect(await cli.exited).to.equal(0);
      expect(steady(cli.stdout()).split("\n").slice(5, 9)).to.deep.equal([
        `Waiting on stage manager (ssm-automation) since ${utc(t0)} (Ns); approvers: ${MANAGERS.join(", ")}`,
        `Stage manager: approved by ${ALICE}: "fine by me"`,
        `Waiting on stage finance (codepipeline) since ${utc(t0 + 1)} (Ns); approvers: ${FINANCE}`,
        "Approved after Ns: Expense report ER98765",
      ]);
      expect(cli.stdout()).to.not.match(/[\u001b\u0007\u202e]/);
    });
  });
});
