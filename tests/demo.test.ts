// The local sandbox (npm run demo, scripts/demo.ts and scripts/demo/): each committed stack's
// workflow from the request to its final output, with the serialized Lambdas, the approval page on
// 127.0.0.1 and the approval worker. One real process run checks the command and its exit code;
// the other runs call the same code in this process (the approval worker's library instead of its
// CLI), so the program under mocks runs once per stack.
import { expect } from "chai";
import { execFile } from "child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { main } from "../scripts/demo";
import { stackConfig } from "./helpers/stackConfig";
import { NOT_AWS, SandboxIO, SandboxOptions, SandboxResult, libraryWorker, runSandbox } from "../scripts/demo/sandbox";

const ROOT = join(__dirname, "..");
const RELEASE_APPROVER_SESSION = "arn:aws:sts::123456789012:assumed-role/ReleaseApprover/sandbox-approver";

interface Captured extends SandboxIO {
  lines: string[];
  text(): string;
}

/** The run's output, kept; `answers` are typed at the prompts in order; `onLine` sees each line as it is printed. */
function terminal(answers: string[] = [], onLine?: (line: string) => void): Captured {
  const lines: string[] = [];
  return {
    lines,
    text: () => lines.join("\n"),
    say: (text) => {
      for (const line of text.split("\n")) {
        lines.push(line);
        onLine?.(line);
      }
    },
    ask: async (question) => {
      lines.push(question);
      return answers.length > 0 ? answers.shift()! : null;
    },
  };
}

/** The workflow's final output as the run printed it (the JSON after "Final output (execution SUCCEEDED):"). */
function finalOutput(lines: string[]): any {
  const start = lines.indexOf("Final output (execution SUCCEEDED):");
  expect(start, lines.join("\n")).to.be.greaterThan(-1);
  const end = lines.indexOf("}", start);
  return JSON.parse(lines.slice(start + 1, end + 1).join("\n"));
}

describe("sandbox: npm run demo", function () {
  this.timeout(60000);
  let emailDir: string;
  before(() => {
    emailDir = mkdtempSync(join(tmpdir(), "sfn-approvals-demo-"));
  });
  after(() => rmSync(emailDir, { recursive: true, force: true }));

  function sandbox(options: Omit<SandboxOptions, "emailDir" | "runWorker">): Promise<SandboxResult> {
    return runSandbox({ emailDir, runWorker: libraryWorker, ...options });
  }

  it("npm run demo -- --stack dev --decide approve: exits 0 with the approved final output, the approval worker CLI deciding on the sandbox's activity (a real process)", async function () {
    this.timeout(180000);
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("AWS_"))) as Record<
      string,
      string
    >;
    const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(
        "npm",
        ["run", "--silent", "demo", "--", "--stack", "dev", "--decide", "approve"],
        { cwd: ROOT, env, timeout: 170000, maxBuffer: 10 * 1024 * 1024 },
        (error, out) => {
          resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout: out });
        },
      );
    });
    const lines = stdout.trimEnd().split("\n");
    expect(code, stdout).to.equal(0);
    expect(lines[0]).to.equal(NOT_AWS);
    expect(lines[lines.length - 1]).to.equal(NOT_AWS);
    // The real CLI polled the activity and recorded the decision as the stage's approver.
    expect(stdout).to.contain(`    worker | Approving as ${RELEASE_APPROVER_SESSION}`);
    const output = finalOutput(lines);
    expect(output).to.deep.include({ approved: true, decision: "approved" });
    expect(output.stages).to.have.length(1);
    expect(output.stages[0]).to.deep.include({
      approved: true,
      decision: "approved",
      stage: "manager",
      mechanism: "activity",
      approver: RELEASE_APPROVER_SESSION,
      comment: "decided in the sandbox (--decide approve)",
    });
    expect(output.request).to.deep.equal(
      JSON.parse(readFileSync(join(ROOT, "examples", "expense-report.json"), "utf8")),
    );
    expect(lines).to.include("APPROVED (approved)");
  });

  it("dev --decide reject: exits 1 with the stage's rejection as the final output; a request below autoApproveBelow is approved without asking anyone", async () => {
    const io = terminal();
    const result = await sandbox({ stack: "dev", decide: "reject", io });
    expect(result.code, io.text()).to.equal(1);
    const output = finalOutput(io.lines);
    expect(output).to.deep.include({ approved: false, decision: "rejected" });
    expect(output.stages.map((s: any) => [s.stage, s.mechanism, s.decision, s.approver])).to.deep.equal([
      ["manager", "activity", "rejected", RELEASE_APPROVER_SESSION],
    ]);
    expect(io.lines).to.include("NOT APPROVED (rejected)");
    expect(io.lines[0]).to.equal(NOT_AWS);
    expect(io.lines[io.lines.length - 1]).to.equal(NOT_AWS);

    const small = join(emailDir, "small.json");
    writeFileSync(small, JSON.stringify({ title: "Team lunch", amount: 120, currency: "USD" }));
    let workers = 0;
    const auto = terminal();
    const autoResult = await runSandbox({
      stack: "dev",
      decide: "reject",
      io: auto,
      inputFile: small,
      emailDir,
      runWorker: async () => {
        workers += 1;
        return 1;
      },
    });
    expect(autoResult.code, auto.text()).to.equal(0);
    expect(finalOutput(auto.lines)).to.deep.equal({
      approved: true,
      decision: "auto_approved",
      stages: [],
      request: { title: "Team lunch", amount: 120, currency: "USD" },
    });
    expect(workers).to.equal(0);
  });

  it("staging --decide approve: both email stages are decided on the real approval page on 127.0.0.1 (GET the email's link, POST the form); the emails are printed and filed", async () => {
    const io = terminal();
    const result = await sandbox({ stack: "staging", decide: "approve", io });
    expect(result.code, io.text()).to.equal(0);
    const output = finalOutput(io.lines);
    expect(output).to.deep.include({ approved: true, decision: "approved" });
    expect(output.stages.map((s: any) => [s.stage, s.mechanism, s.decision, s.approver])).to.deep.equal([
      ["team-lead", "email-link", "approved", "Sandbox approver (via email link)"],
      ["finance", "sns-callback", "approved", "Sandbox approver (via email link)"],
    ]);
    const text = io.text();
    expect(
      text.match(
        /approver opens the link: GET http:\/\/127\.0\.0\.1:\d+\/decide -> 200 "Approve: Expense report ER98765"/g,
      ),
    ).to.have.length(2);
    expect(text.match(/the page answers 200 "Approved"/g)).to.have.length(2);
    // Each email: printed, and filed with its recipients; its link leads to the local page.
    const files = readdirSync(result.emailFolder!).sort();
    expect(files).to.deep.equal([
      "01-sfn-approvals-staging-team-lead-approvals.txt",
      "02-sfn-approvals-staging-finance-approvals.txt",
    ]);
    const [teamLead, finance] = files.map((f) => readFileSync(join(result.emailFolder!, f), "utf8"));
    expect(teamLead).to.match(
      /^To: lead@example\.com, deputy-lead@example\.com\nTopic: arn:aws:sns:eu-west-1:123456789012:sfn-approvals-staging-team-lead-approvals\nSubject: Approval needed: Expense report ER98765\n/,
    );
    expect(teamLead).to.match(/\nhttp:\/\/127\.0\.0\.1:\d+\/decide\?c=[A-Za-z0-9_-]{43}\n/);
    expect(finance)
      .to.match(/^To: finance@example\.com\n/)
      .and.match(
        /\nhttp:\/\/127\.0\.0\.1:\d+\/decide\?t=[A-Za-z0-9_-]+&e=arn%3Aaws%3Astates%3Aeu-west-1%3A123456789012%3Aexecution%3Asfn-approvals-staging%3Asandbox-[\w-]+&s=finance\n/,
      );
    expect(text).to.contain("    | Review the request and approve or reject it here:");
  });

  it("staging, interactive: the printed link shows the approval page on 127.0.0.1; a person's Reject there ends the request rejected (exit 1)", async () => {
    let pressed: Promise<void> | undefined;
    const statuses: number[] = [];
    const io = terminal([], (line) => {
      const link = /^ {4}\| (http:\/\/127\.0\.0\.1:\d+\/decide\?c=\S+)$/.exec(line)?.[1];
      if (!link) return;
      // A person opens the link in a browser, reads the page, types a name and presses Reject.
      pressed = (async () => {
        const page = await fetch(link);
        const html = await page.text();
        statuses.push(page.status);
        expect(html).to.contain("<title>Approve: Expense report ER98765</title>");
        const code = /<input type="hidden" name="c" value="([A-Za-z0-9_-]{43})">/.exec(html)![1];
        const post = await fetch(link.split("?")[0], {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({
            c: code,
            name: "Lee Lead",
            comment: "not this quarter",
            decision: "reject",
          }).toString(),
        });
        statuses.push(post.status);
        expect(await post.text()).to.contain("<title>Rejected</title>");
      })();
    });
    const result = await sandbox({ stack: "staging", io });
    await pressed;
    expect(statuses).to.deep.equal([200, 200]);
    expect(result.code, io.text()).to.equal(1);
    expect(io.text()).to.contain(
      ">>> Open the link above in a browser (the approval page on 127.0.0.1) and press Approve or Reject.",
    );
    const output = finalOutput(io.lines);
    expect(output.stages.map((s: any) => [s.stage, s.decision, s.approver, s.comment])).to.deep.equal([
      ["team-lead", "rejected", "Lee Lead (via email link)", "not this quarter"],
    ]);
  });

  it("prod --decide approve: the runbook's aws:approve step (2 of 3 approvers) and the pipeline's approval action are answered, and each result function gets AWS's documented event", async () => {
    const io = terminal();
    const result = await sandbox({ stack: "prod", decide: "approve", io });
    expect(result.code, io.text()).to.equal(0);
    const output = finalOutput(io.lines);
    expect(output).to.deep.include({ approved: true, decision: "approved" });
    expect(output.stages.map((s: any) => [s.stage, s.mechanism, s.decision, s.approver])).to.deep.equal([
      [
        "manager",
        "ssm-automation",
        "approved",
        "arn:aws:iam::123456789012:role/ReleaseApprover, arn:aws:iam::123456789012:user/alice",
      ],
      [
        "finance",
        "codepipeline",
        "approved",
        "arn:aws:sts::123456789012:assumed-role/FinanceApprover/sandbox-approver",
      ],
    ]);
    const text = io.text();
    expect(text).to.contain(
      'EventBridge: "EC2 Automation Step Status-change Notification" (Status Success) -> result function stage-manager-result-fn-a1b2c3d',
    );
    expect(text).to.contain(
      'EventBridge: "CodePipeline Action Execution State Change" (state SUCCEEDED) -> result function stage-finance-result-fn-a1b2c3d',
    );
    expect(text).to.contain("stage-manager-start-fn-a1b2c3d log | approval automation started");
    expect(text).to.contain("stage-finance-start-fn-a1b2c3d log | approval pipeline started");
    expect(readdirSync(result.emailFolder!).sort()).to.deep.equal([
      "01-Automation-sfn-approvals-prod-manager.txt",
      "02-sfn-approvals-prod-finance-approval.txt",
    ]);
  });

  it("prod, answered at the prompts: two approvals pass the runbook step, the pipeline's approver rejects; the rejection and the later pipeline FAILED event decide once (exit 1)", async () => {
    const io = terminal(["approve", "", "approve", "fine by me", "reject", "over budget"]);
    const result = await sandbox({ stack: "prod", io });
    expect(result.code, io.text()).to.equal(1);
    const output = finalOutput(io.lines);
    expect(output).to.deep.include({ approved: false, decision: "rejected" });
    expect(output.stages.map((s: any) => [s.stage, s.decision, s.approver, s.comment])).to.deep.equal([
      [
        "manager",
        "approved",
        "arn:aws:iam::123456789012:role/ReleaseApprover, arn:aws:iam::123456789012:user/alice",
        "fine by me",
      ],
      ["finance", "rejected", "arn:aws:sts::123456789012:assumed-role/FinanceApprover/sandbox-approver", "over budget"],
    ]);
    const text = io.text();
    expect(text).to.contain("  arn:aws:iam::123456789012:role/ReleaseApprover: approve, reject or skip? ");
    expect(text).to.contain(
      "  arn:aws:iam::123456789012:role/FinanceApprover: approve or reject the pipeline's approval action? ",
    );
    expect(text).to.contain('"CodePipeline Pipeline Execution State Change" (pipeline FAILED)');
    expect(text).to.contain(
      "stage-finance-result-fn-a1b2c3d log | decision already delivered; repeated or later event ignored",
    );
  });

  it("a config with the deployer's own account id (as the stack files ask) runs as that account", async () => {
    const config = stackConfig("dev", {
      "sfn-approvals:stages": [
        {
          name: "manager",
          mechanism: "activity",
          approvers: ["arn:aws:iam::111122223333:role/ReleaseApprover"],
          timeout: "1h",
        },
      ],
    });
    const io = terminal();
    const result = await sandbox({ stack: "dev", config, decide: "approve", io });
    expect(result.code, io.text()).to.equal(0);
    expect(finalOutput(io.lines).stages[0]).to.deep.include({
      decision: "approved",
      approver: "arn:aws:sts::111122223333:assumed-role/ReleaseApprover/sandbox-approver",
    });
    expect(io.text()).to.contain("activity sfn-approvals-dev-manager: the task waits for a worker");
  });

  it("a problem with the sandbox itself exits 2: an unknown stack, a bad option, an unreadable request, a worker that ends without deciding", async () => {
    const unknown = terminal();
    expect(await main(["--stack", "nope", "--decide", "approve"], unknown)).to.equal(2);
    expect(unknown.text()).to.contain(
      "SANDBOX PROBLEM: unknown stack 'nope': there is no Pulumi.nope.yaml (stacks: dev, prod, staging)",
    );
    expect(unknown.lines[unknown.lines.length - 1]).to.equal(NOT_AWS);
    // The last two are util.parseArgs's own words.
    for (const [argv, message] of [
      [["--decide", "maybe"], /^demo: --decide must be approve or reject, got 'maybe'$/],
      [["--stak", "dev"], /^demo: unknown option --stak \(did you mean --stack\?\)$/],
      [["--decide"], /^demo: .*'--decide <value>' argument missing/],
      [["dev"], /^demo: .*'dev'/],
    ] as const) {
      const usage = terminal();
      expect(await main([...argv], usage), argv.join(" ")).to.equal(2);
      expect(usage.lines[0]).to.match(message);
      expect(usage.text()).to.contain("Usage: npm run demo");
    }
    const missing = terminal();
    expect(
      (await sandbox({ stack: "dev", decide: "approve", io: missing, inputFile: join(emailDir, "nothing.json") })).code,
    ).to.equal(2);
    expect(missing.text()).to.contain("SANDBOX PROBLEM: cannot read the request");

    // The worker exits without a decision: the waiting Task fails with the problem, nothing approves.
    const stuck = terminal();
    const result = await runSandbox({ stack: "dev", decide: "approve", io: stuck, emailDir, runWorker: async () => 1 });
    expect(result.code, stuck.text()).to.equal(2);
    expect(result.problem).to.equal("the approval worker exited with code 1 without a decision");
    expect(result.run).to.deep.include({ status: "FAILED", error: "SandboxProblem" });
    expect(stuck.text()).to.not.contain("APPROVED");
  });
});
