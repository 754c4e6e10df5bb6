// The local sandbox with a slack stage (npm run demo; scripts/demo/slack.ts, scripts/demo/slackClick.ts):
// the stage's serialized start and interaction functions against the local Slack, Secrets Manager
// and request table; the message printed as the approvers would see it; clicks signed as Slack
// signs them, from --decide, the prompts, and `npm run demo -- slack-click` in another process.
// One stack config for every run, so the program under mocks runs once.
import { expect } from "chai";
import { execFile } from "child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { main } from "../scripts/demo";
import { NOT_AWS, SandboxIO, SandboxResult, runSandbox } from "../scripts/demo/sandbox";
import { SANDBOX_SLACK_APP } from "../scripts/demo/slack";
import type { SlackClickState } from "../scripts/demo/slackClick";
import { stackConfig } from "./helpers/stackConfig";

const ROOT = join(__dirname, "..");
const APPROVERS = ["U0ALICE", "U0BOB", "U0CAROL"];
const CONFIG = stackConfig("dev", {
  "sfn-approvals:stages": [
    {
      name: "ops",
      mechanism: "slack",
      approvers: APPROVERS,
      minRequiredApprovals: 2,
      channel: "C0APPROVALS",
      timeout: "1h",
    },
  ],
  "sfn-approvals:slackTeamId": "T0SANDBOXTEST",
  // As `pulumi config set --secret` leaves them in Pulumi.<stack>.yaml: the sandbox never uses them.
  "sfn-approvals:slackBotToken": { secure: "v1:AAABAHN0YWNrLWJvdC10b2tlbg==" },
  "sfn-approvals:slackSigningSecret": { secure: "v1:AAABAHN0YWNrLXNpZ25pbmc=" },
});
/** The prefix of every task token the sandbox hands out (scripts/demo/stepFunctions.ts newTaskToken). */
const TASK_TOKEN_PREFIX = "AQCEAAAAKgAAAAMAAAAAAAAAA";

interface Captured extends SandboxIO {
  lines: string[];
  text(): string;
}

/** The run's output, kept; `answer` answers each prompt (null: input ended); `onLine` sees each printed line. */
function terminal(
  answer: (question: string) => Promise<string | null> = async () => null,
  onLine?: (line: string) => void,
): Captured {
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
      return answer(question);
    },
  };
}

function finalOutput(lines: string[]): any {
  const start = lines.indexOf("Final output (execution SUCCEEDED):");
  expect(start, lines.join("\n")).to.be.greaterThan(-1);
  return JSON.parse(lines.slice(start + 1, lines.indexOf("}", start) + 1).join("\n"));
}

describe("sandbox: a slack stage (npm run demo)", function () {
  this.timeout(60000);
  let dir: string;
  let stateFile: string;
  /** The state file as the sandbox wrote it when the message was posted, and its mode. */
  let written: { state: SlackClickState; mode: number } | undefined;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "sfn-approvals-demo-slack-"));
    stateFile = join(dir, "state", "slack-click.json");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => {
    written = undefined;
  });

  /** Reads the state file once the sandbox says the message waits for clicks. */
  const watch = (line: string) => {
    if (line.startsWith("  Slack: the message waits for clicks"))
      written = {
        state: JSON.parse(readFileSync(stateFile, "utf8")) as SlackClickState,
        mode: statSync(stateFile).mode & 0o777,
      };
  };

  function sandbox(io: Captured, decide?: "approve" | "reject"): Promise<SandboxResult> {
    return runSandbox({ stack: "dev", config: CONFIG, decide, io, emailDir: dir, slackStateFile: stateFile });
  }

  /** Nothing secret in the output: the app's credentials (the stack's and the sandbox's), the request key, a task token. */
  function expectNoSecrets(text: string): void {
    expect(written, "the state file was written").to.not.equal(undefined);
    for (const secret of [
      SANDBOX_SLACK_APP.botToken,
      SANDBOX_SLACK_APP.signingSecret,
      written!.state.requestKey,
      "AAABAHN0YWNrLWJvdC10b2tlbg",
      TASK_TOKEN_PREFIX,
    ])
      expect(text).to.not.include(secret);
  }

  it("--decide approve: prints the message (title, fields, deadline, buttons) and its updates; two of three approvers click Approve and the run ends approved (exit 0)", async () => {
    const io = terminal(undefined, watch);
    const result = await sandbox(io, "approve");
    const text = io.text();
    expect(result.code, text).to.equal(0);
    expect(finalOutput(io.lines).stages).to.have.length(1);
    expect(finalOutput(io.lines).stages[0]).to.deep.include({
      approved: true,
      decision: "approved",
      stage: "ops",
      mechanism: "slack",
      approver: "U0BOB",
      // users.info of the sandbox's Slack: every user is "Sandbox user <ID>", in the config's workspace.
      approverName: "Sandbox user U0BOB",
      approverTeam: "T0SANDBOXTEST",
    });
    expect(text).to.contain("  SLACK users.info U0BOB: Sandbox user U0BOB");
    expect(io.lines).to.include("APPROVED (approved)");
    // The message the start function posted, as the approvers see it.
    const posted = io.lines.findIndex((l) => /^ {2}SLACK chat\.postMessage to C0APPROVALS, as the app's bot/.test(l));
    expect(posted, text).to.be.greaterThan(-1);
    const message = io.lines.slice(posted + 1, io.lines.indexOf("    | [ Approve ]  [ Reject ]", posted) + 1);
    expect(message.slice(0, 7)).to.deep.equal([
      "    | Expense report ER98765",
      "    | ======================",
      "    | Requester: Jane Doe <jane@example.com>",
      "    | Amount: 750.5 USD",
      "    | Request ID: ER98765",
      "    | Stage: ops",
      "    | Link: https://example.com/reports/ER98765",
    ]);
    expect(message).to.include("    | Approvals needed: 2 of 3 approvers");
    expect(message.some((l) => /^ {4}\| Decide by: \d{4}-\d\d-\d\d \d\d:\d\d UTC$/.test(l))).to.equal(true);
    expect(message).to.include("    | No approvals yet: 2 more approvals needed.");
    // Each click, signed, to the interaction function; each update of the message.
    expect(text).to.contain('  Slack -> POST /slack/interactions: U0ALICE clicks "Approve" (signed)');
    expect(text).to.contain("    | Approved so far: @U0ALICE (1 of 2). 1 more approval needed.");
    expect(text).to.contain('  Slack -> POST /slack/interactions: U0BOB clicks "Approve" (signed)');
    expect(text).to.match(/\n {4}\| :white_check_mark: Approved on .+ by @U0ALICE, @U0BOB\./);
    expect(text).to.not.contain("U0CAROL clicks");
    // The state file for slack-click: only its owner reads it; gone when the run ends.
    expect(written!.mode).to.equal(0o600);
    expect(written!.state).to.deep.include({ teamId: "T0SANDBOXTEST", channel: "C0APPROVALS", required: 2 });
    expect(existsSync(stateFile)).to.equal(false);
    expectNoSecrets(text);
  });

  it("with directMessages: true, prints each approver's direct message: the notice with a link to the request, no buttons", async () => {
    const io = terminal(undefined, watch);
    // The stack config holds each key as JSON text (stackConfig).
    const stages = (JSON.parse(CONFIG["sfn-approvals:stages"]) as Array<Record<string, unknown>>).map((stage) => ({
      ...stage,
      directMessages: true,
    }));
    const config = { ...CONFIG, "sfn-approvals:stages": JSON.stringify(stages) };
    const result = await runSandbox({
      stack: "dev",
      config,
      decide: "approve",
      io,
      emailDir: dir,
      slackStateFile: stateFile,
    });
    const text = io.text();
    expect(result.code, text).to.equal(0);
    expect(text).to.match(
      /\n {2}SLACK chat\.getPermalink of message \d+\.\d+: https:\/\/sandbox\.slack\.com\/archives\/C0APPROVALS\/p\d+\n/,
    );
    for (const approver of APPROVERS) {
      const at = io.lines.findIndex((l) =>
        l.startsWith(
          `  SLACK chat.postMessage to D0${approver.slice(1)} (a direct message to ${approver}), as the app's bot`,
        ),
      );
      expect(at, text).to.be.greaterThan(-1);
      const dm = io.lines.slice(at + 1, at + 7);
      expect(dm.slice(0, 5)).to.deep.equal([
        "    | Approval needed: Expense report ER98765",
        "    | =======================================",
        "    | Stage: ops",
        dm[3],
        "    | Approvals needed: 2 of 3 approvers",
      ]);
      expect(dm[3]).to.match(/^ {4}\| Decide by: \d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
      expect(dm[5]).to.match(
        /^ {4}\| You are one of the approvers\. Approve or reject it on the request message in #C0APPROVALS: Open the request \(https:\/\/sandbox\.slack\.com\/archives\/C0APPROVALS\/p\d+\)$/,
      );
    }
    expect(text).to.not.match(/direct message to [^\n]*\n(?: {4}\|[^\n]*\n)*? {4}\| \[ Approve \]/);
    expectNoSecrets(text);
  });

  it("--decide reject: the first approver's Reject opens the comment modal, submitted with the sandbox's comment; the run ends rejected (exit 1)", async () => {
    const io = terminal(undefined, watch);
    const result = await sandbox(io, "reject");
    const text = io.text();
    expect(result.code, text).to.equal(1);
    expect(finalOutput(io.lines).stages[0]).to.deep.include({
      approved: false,
      decision: "rejected",
      mechanism: "slack",
      approver: "U0ALICE",
      comment: "decided in the sandbox (--decide reject)",
    });
    expect(text).to.contain(
      '  SLACK views.open: the modal "Reject request" opens for the clicker: Why are you rejecting it?',
    );
    expect(text).to.contain('  Slack -> POST /slack/interactions: U0ALICE submits the modal "Reject request" (signed)');
    expect(text).to.match(
      /\n {4}\| :x: Rejected by @U0ALICE on .+\.\n {4}\| Comment: decided in the sandbox \(--decide reject\)/,
    );
    expect(io.lines).to.include("NOT APPROVED (rejected)");
    expectNoSecrets(text);
  });

  it("at the prompts, with clicks from another terminal: a non-approver's slack-click is answered 'not an approver' and changes nothing; an approver approves here; another rejects with slack-click --comment (exit 1)", async function () {
    this.timeout(120000);
    let outsider: { code: number; stdout: string } | undefined;
    let carol: Captured | undefined;
    let whoAsked = 0;
    const io = terminal(async (question) => {
      if (question.startsWith("  Who clicks")) {
        whoAsked += 1;
        if (whoAsked === 1) {
          // Another terminal: the real command, as a person would run it.
          const env = Object.fromEntries(
            Object.entries(process.env).filter(([key]) => !key.startsWith("AWS_")),
          ) as Record<string, string>;
          outsider = await new Promise((resolve) =>
            execFile(
              "npm",
              ["run", "--silent", "demo", "--", "slack-click", "--as", "U0MALLORY", "approve", "--state", stateFile],
              { cwd: ROOT, env, timeout: 60000 },
              (error, stdout) => resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout }),
            ),
          );
          return "1";
        }
        // The same command in this process: Carol rejects with a comment, which decides.
        carol = terminal();
        expect(
          await main(
            ["slack-click", "--as", "U0CAROL", "reject", "--comment", "Budget exceeded", "--state", stateFile],
            carol,
          ),
          carol.text(),
        ).to.equal(0);
        return "";
      }
      if (question === "  U0ALICE clicks approve or reject? ") return "approve";
      return null;
    }, watch);
    const result = await sandbox(io);
    const text = io.text();
    expect(result.code, text).to.equal(1);

    expect(outsider!.code, outsider!.stdout).to.equal(1);
    expect(outsider!.stdout).to.contain(
      "slack-click: U0MALLORY clicks approve on the request of stage ops in C0APPROVALS",
    );
    expect(outsider!.stdout).to.match(
      / {2}U0MALLORY clicks Approve: POST http:\/\/127\.0\.0\.1:\d+\/slack\/interactions \(signed as Slack signs\) -> 200\n/,
    );
    expect(outsider!.stdout).to.contain(
      "  only the clicker sees: You are not an approver of this stage, so your click changed nothing.",
    );
    expect(outsider!.stdout).to.contain("Not counted:");
    // The outsider's click changed nothing: the message's first update is Alice's approval.
    const mallory = io.lines.indexOf(
      '  Slack -> POST /slack/interactions: U0MALLORY clicks "Approve" (signed) -> the interaction function (serialized archive)',
    );
    const alice = io.lines.findIndex((l) =>
      l.startsWith('  Slack -> POST /slack/interactions: U0ALICE clicks "Approve"'),
    );
    const firstUpdate = io.lines.findIndex((l) => l.startsWith("  SLACK chat.update"));
    expect(mallory, text).to.be.greaterThan(-1);
    expect(io.lines.slice(mallory + 1, alice)).to.include(
      "  SLACK ephemeral to U0MALLORY (only they see it): You are not an approver of this stage, so your click changed nothing.",
    );
    expect(firstUpdate).to.be.greaterThan(alice);

    expect(carol!.text()).to.contain('  the comment modal "Reject request" opens: Why are you rejecting it?');
    expect(carol!.text()).to.contain("    | :x: Rejected by @U0CAROL");
    expect(carol!.lines[carol!.lines.length - 1]).to.equal("Recorded.");
    expect(finalOutput(io.lines).stages[0]).to.deep.include({
      decision: "rejected",
      approver: "U0CAROL",
      comment: "Budget exceeded",
    });
    expect(text).to.contain("    | Approved so far: @U0ALICE (1 of 2). 1 more approval needed.");
    expect(io.lines[io.lines.length - 1]).to.equal(NOT_AWS);
    expectNoSecrets(`${text}\n${outsider!.stdout}\n${carol!.text()}`);
  });

  it("slack-click with no sandbox waiting, or a bad argument, exits 2 and says why", async () => {
    const none = terminal();
    expect(await main(["slack-click", "--as", "U0ALICE", "approve", "--state", join(dir, "none.json")], none)).to.equal(
      2,
    );
    expect(none.text()).to.contain("slack-click: no sandbox is waiting for Slack clicks");
    const bad = terminal();
    expect(await main(["slack-click", "--as", "alice", "approve"], bad)).to.equal(2);
    expect(bad.lines[0]).to.equal("slack-click: --as must be a Slack user ID (U… or W…)");
    expect(bad.text()).to.contain("Usage: npm run demo -- slack-click");
  });
});
