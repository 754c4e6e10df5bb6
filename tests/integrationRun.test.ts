// The integration suite's own orchestration, offline: the real suite (tests/integration/suite.ts,
// the Automation API included) against a fake `pulumi` on PATH (tests/integration/fakes/fakePulumi.js)
// and a fake AWS (tests/integration/fakes/fakeCloud.ts: STS, IAM, SQS, SNS, Step Functions, SSM,
// CodePipeline, Lambda, Logs, EventBridge, CloudWatch and an approval page on 127.0.0.1). Waits are
// milliseconds instead of minutes; the SIGTERM test runs the command line in a child process.
import { SFNClient } from "@aws-sdk/client-sfn";
import { STSClient } from "@aws-sdk/client-sts";
import { expect } from "chai";
import { spawn } from "child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { MECHANISMS, Mechanism } from "./integration/lib/stackConfig";
import { ApprovalWorker, TaskOutcome } from "../scripts/lib/approvalWorker";
import { WorkerRunner } from "./integration/deciders";
import { ACCOUNT, FakeCloud, REGION, RUNNER_KEY, fakeOutputs } from "./integration/fakes/fakeCloud";
import { fakePulumiCommand } from "./integration/fakes/fakePulumiCommand";
import { Timings } from "./integration/lib/timings";
import { runSuite } from "./integration/suite";

const REPO = join(__dirname, "..");
const FAKE_PULUMI = join(__dirname, "integration", "fakes", "fakePulumi.js");

/** The suite's waits, in milliseconds: one AWS second is 1 ms (a 120 s heartbeat waits 120 ms). */
const FAST: Timings = {
  pollMs: 5,
  waitForTaskMs: 3000,
  endGraceMs: 3000,
  propagationMs: 2000,
  propagationPollMs: 5,
  upTimeoutMs: 20000,
  destroyTimeoutMs: 20000,
  progressEveryMs: 60000,
  awsSecondMs: 1,
  submitGraceMs: 0,
  heartbeatMarginMs: 10,
  pageReadyMs: 2000,
  inboxWaitSeconds: 0,
};

interface Env {
  dir: string;
  pulumiDir: string;
  cloud: FakeCloud;
  restore: () => void;
}

/** A fake pulumi on PATH, a fake AWS as every SDK endpoint, the runner's fake credentials. */
async function setUp(
  options: {
    failUp?: Mechanism[];
    stacks?: Record<string, { lastUpdate: string; resources: number }>;
    cloud?: Partial<ConstructorParameters<typeof FakeCloud>[0]>;
  } = {},
): Promise<Env> {
  const dir = mkdtempSync(join(tmpdir(), "sfn-approvals-it-offline-"));
  const bin = join(dir, "bin");
  const pulumiDir = join(dir, "pulumi");
  mkdirSync(bin);
  mkdirSync(pulumiDir);
  // `version` and `whoami` (asked before every run) answered by the shell: a Node start-up costs ~0.3 s.
  writeFileSync(
    join(bin, "pulumi"),
    [
      "#!/bin/sh",
      'case "$1" in',
      '  version) echo "v3.270.0"; exit 0 ;;',
      '  whoami) printf \'{"user":"tester","url":"file://%s"}\\n\' "$FAKE_PULUMI_DIR"; exit 0 ;;',
      "esac",
      `exec "${process.execPath}" "${FAKE_PULUMI}" "$@"`,
      "",
    ].join("\n"),
  );
  chmodSync(join(bin, "pulumi"), 0o755);
  const cloud = new FakeCloud({ pulumiDir, ...options.cloud });
  await cloud.start();
  writeFileSync(
    join(pulumiDir, "scenario.json"),
    JSON.stringify({
      outputs: Object.fromEntries(MECHANISMS.map((m) => [m, fakeOutputs(m, cloud.pageUrl, cloud.aws.url)])),
      failUp: options.failUp ?? [],
      stacks: options.stacks ?? {},
    }),
  );
  const vars: Record<string, string> = {
    PATH: `${bin}:${process.env.PATH ?? ""}`,
    FAKE_PULUMI_DIR: pulumiDir,
    PULUMI_CONFIG_PASSPHRASE: "offline",
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: RUNNER_KEY,
    AWS_SECRET_ACCESS_KEY: "fake-secret",
    AWS_ENDPOINT_URL: cloud.aws.url,
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    HOME: dir,
    // Pulumi logs of the test stacks ($TMPDIR/sfn-approvals-it) go away with the test's directory.
    TMPDIR: dir,
  };
  const saved = Object.fromEntries(Object.keys({ ...vars, CI: "" }).map((key) => [key, process.env[key]]));
  Object.assign(process.env, vars);
  delete process.env.CI;
  return {
    dir,
    pulumiDir,
    cloud,
    restore: () => {
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    },
  };
}

async function tearDown(env: Env | undefined): Promise<void> {
  if (!env) return;
  env.restore();
  await env.cloud.stop();
  rmSync(env.dir, { recursive: true, force: true });
}

/** What the fake pulumi was asked to do, in order. */
function pulumiCalls(env: Env): string[][] {
  return readFileSync(join(env.pulumiDir, "calls.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((line) => (JSON.parse(line) as { args: string[] }).args);
}

function remainingStacks(env: Env): string[] {
  return Object.keys(
    (JSON.parse(readFileSync(join(env.pulumiDir, "state.json"), "utf8")) as { stacks: object }).stacks,
  );
}

/** The approval worker (scripts/lib/approvalWorker.ts) in this process, with the credentials of the environment it is given. */
const workerEnvironments: NodeJS.ProcessEnv[] = [];
const inProcessWorker: WorkerRunner = async (args, env, _signal, onLine) => {
  workerEnvironments.push(env);
  const arg = (name: string) => args[args.indexOf(name) + 1];
  const credentials = {
    accessKeyId: env.AWS_ACCESS_KEY_ID!,
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY!,
    sessionToken: env.AWS_SESSION_TOKEN,
  };
  const worker = new ApprovalWorker(
    new SFNClient({ region: REGION, credentials }),
    new STSClient({ region: REGION, credentials }),
    {
      say: (text) => text.split("\n").forEach(onLine),
      warn: (text) => onLine(text),
      ask: async () => null,
      cancelQuestion: () => undefined,
      inputEnded: () => true,
    },
    {
      activityArn: arg("--activity-arn"),
      workerName: "offline",
      decide: arg("--decide") as "approve" | "reject",
      comment: arg("--comment"),
      heartbeatEverySeconds: 30,
      maxPollFailures: 1,
      retryBaseMs: 1,
    },
  );
  try {
    const codes: Partial<Record<TaskOutcome, number>> = { approved: 0, rejected: 0, "no-task": 3 };
    return codes[await worker.run(true)] ?? 1;
  } catch (error) {
    onLine(`approval-worker: ${(error as Error).message}`);
    return 1;
  }
};

async function runInProcess(
  argv: string[],
  options: {
    signal?: AbortSignal;
    stopPulumi?: AbortSignal;
    timings?: Timings;
    upMs?: number;
    onWrite?: (text: string) => void;
  } = {},
): Promise<{ code: number; output: string; live: Set<string> }> {
  const chunks: string[] = [];
  const live = new Set<string>();
  let n = 0;
  const code = await runSuite(argv, {
    write: (text) => {
      chunks.push(text);
      options.onWrite?.(text);
    },
    signal: options.signal ?? new AbortController().signal,
    stopPulumi: options.stopPulumi,
    live,
    timings: options.timings ?? FAST,
    runWorker: inProcessWorker,
    suffix: () => `t${String(++n).padStart(5, "0")}`,
    pulumi: fakePulumiCommand(process.env.FAKE_PULUMI_DIR!, { upMs: options.upMs }),
  });
  return { code, output: chunks.join(""), live };
}

describe("integration suite orchestration (offline: fake pulumi on PATH, fake AWS)", function () {
  this.timeout(30000);
  let env: Env | undefined;
  afterEach(async () => {
    await tearDown(env);
    env = undefined;
  });

  it("a full run decides every mechanism as the assumed approver role, sees non-approvers refused, rejects, times out, reads the emailed links, settles the open questions and removes everything", async () => {
    env = await setUp({ cloud: { assumeDeniedTimes: 1 } });
    workerEnvironments.length = 0;
    const { code, output, live } = await runInProcess([]);
    const fail = `exit ${code}; output:\n${output}`;
    if (process.env.SHOW_SUITE_OUTPUT) process.stdout.write(output);
    expect(code, fail).to.equal(0);
    for (const mechanism of MECHANISMS)
      expect(output, fail).to.match(new RegExp(`PASS  ${mechanism} +it-${mechanism}-t0000\\d`));
    expect(output.match(/runs: approved ok, rejected ok, timed_out ok/g) ?? [], fail).to.have.length(5);

    // Decisions: by the approver roles' sessions (IAM mechanisms) or on the page; none by the runner.
    const aws = env.cloud.aws;
    const byKey = (operation: string) =>
      aws.requests.filter((r) => r.operation === operation).map((r) => env!.cloud.principals.get(r.accessKeyId));
    const session = (mechanism: Mechanism, n: number, role: "approver" | "other") =>
      `arn:aws:sts::${ACCOUNT}:assumed-role/sfn-approvals-it-${mechanism}-t0000${n}-${role}/sfn-approvals-it-${mechanism}-t0000${n}`;
    expect(
      env.cloud.decisions.map((d) => [d.execution.replace(/^it-[a-z-]+-t0000\d-/, ""), d.via, d.decision, d.by]).sort(),
    ).to.deep.equal(
      [
        ["approve", "PutApprovalResult", "approved", session("codepipeline", 2, "approver")],
        ["approve", "SendAutomationSignal", "approved", session("ssm-automation", 1, "approver")],
        ["approve", "SendTaskSuccess", "approved", session("activity", 3, "approver")],
        ["approve", "approval page", "approved", "sfn-approvals integration suite (via email link)"],
        ["approve", "approval page", "approved", "sfn-approvals integration suite (via email link)"],
        ["reject", "PutApprovalResult", "rejected", session("codepipeline", 2, "approver")],
        ["reject", "SendAutomationSignal", "rejected", session("ssm-automation", 1, "approver")],
        ["reject", "SendTaskSuccess", "rejected", session("activity", 3, "approver")],
        ["reject", "approval page", "rejected", "sfn-approvals integration suite (via email link)"],
        ["reject", "approval page", "rejected", "sfn-approvals integration suite (via email link)"],
      ].sort(),
    );
    // The non-approvers were refused: SSM's own check (IAM allowed the call), IAM for the others.
    expect(byKey("SendAutomationSignal")).to.include(session("ssm-automation", 1, "other"));
    expect(output).to.match(
      /unknowns #21 \[ssm-non-approver-refused\] SSM answered InvalidAutomationSignalException: .* the automation still waits/,
    );
    expect(output).to.match(
      /unknowns #20 \[ssm-client-token\] first start: automation (\S+); the start function again with the same payload: \1; with another request: refused \(Unhandled: IdempotentParameterMismatch/,
    );
    expect(byKey("PutApprovalResult")).to.include(session("codepipeline", 2, "other"));
    expect(output).to.contain(
      "[codepipeline-non-approver-refused] PutApprovalResult by a non-approver: AccessDeniedException",
    );
    expect(byKey("GetActivityTask")).to.include(session("activity", 3, "other"));
    expect(output).to.contain(
      "[activity-non-approver-refused] GetActivityTask by a non-approver: AccessDeniedException",
    );
    // The worker ran with the approver's credentials only.
    expect(workerEnvironments.map((e) => env!.cloud.principals.get(e.AWS_ACCESS_KEY_ID!))).to.deep.equal([
      session("activity", 3, "approver"),
      session("activity", 3, "approver"),
    ]);
    // Everything else (starting, watching, cleaning up) as the runner.
    expect(new Set(byKey("StartExecution"))).to.deep.equal(new Set([env.cloud.principals.get(RUNNER_KEY)]));
    // Roles trusted by the runner only, assumed after a refusal while trust "propagated".
    expect(output).to.contain("AccessDenied while the new role's trust propagates; trying again");
    // The emailed links came from the suite's queue.
    expect(aws.requests.filter((r) => r.operation === "Subscribe").map((r) => r.body.TopicArn)).to.deep.equal([
      `arn:aws:sns:${REGION}:${ACCOUNT}:sfn-approvals-it-email-link-t00004-it-approvals`,
      `arn:aws:sns:${REGION}:${ACCOUNT}:sfn-approvals-it-email-link-t00004-it-escalation`,
      `arn:aws:sns:${REGION}:${ACCOUNT}:sfn-approvals-it-sns-callback-t00005-it-approvals`,
    ]);
    expect(output).to.contain(
      "[email-reminder-and-escalation] while it-email-link-t00004-timeout waited: a reminder arrived, the escalation arrived",
    );
    // The open questions, answered and judged.
    for (const row of [1, 2, 3, 4, 5, 6, 8, 18, 20, 21])
      expect(output).to.match(new RegExp(`ok +unknowns #${row} \\[`));
    expect(output).to.contain('unknowns #2 [ssm-rejected-step-status] StepStatus "Failed"');
    // The stack config named the approver role; everything was removed again.
    const config = pulumiCalls(env).find((args) => args[0] === "config" && args.includes("it-activity-t00003"))!;
    expect(config.find((arg) => arg.startsWith("sfn-approvals:stages="))).to.contain(
      `"approvers":["arn:aws:iam::${ACCOUNT}:role/sfn-approvals-it-activity-t00003-approver"]`,
    );
    expect(pulumiCalls(env).filter((args) => args[0] === "destroy").length).to.equal(5);
    expect(remainingStacks(env)).to.deep.equal([]);
    expect([...env.cloud.roles.keys()]).to.deep.equal([]);
    expect([...env.cloud.queues.values()].filter((q) => !q.deleted)).to.deep.equal([]);
    expect(live.size).to.equal(0);
  });

  it("a failed pulumi up fails its mechanism with Pulumi's error, destroys what was created, deletes the roles and goes on with the next", async () => {
    env = await setUp({ failUp: ["codepipeline"] });
    const { code, output } = await runInProcess(["--mechanism", "codepipeline,sns-callback"]);
    expect(code, output).to.equal(1);
    expect(output).to.match(/FAIL  codepipeline +it-codepipeline-t00001/);
    expect(output).to.contain("creating IAM Role (stage-it-start-role)");
    expect(output).to.contain("pulumi | ");
    expect(output).to.match(/PASS  sns-callback/);
    const calls = pulumiCalls(env)
      .filter((args) => args.includes("it-codepipeline-t00001"))
      .map((args) => args.slice(0, 2).join(" "));
    expect(calls).to.deep.equal([
      "stack init",
      "config set-all",
      "up --yes",
      "destroy --yes",
      "stack history",
      "stack rm",
    ]);
    expect(remainingStacks(env)).to.deep.equal([]);
    expect([...env.cloud.roles.keys()]).to.deep.equal([]);
  });

  it("an AWS answer that contradicts the code's assumption fails the mechanism, saying which row of docs/unknowns.md it settles", async () => {
    env = await setUp({ cloud: { unresolvedVariables: true } });
    const { code, output } = await runInProcess(["--mechanism", "codepipeline"]);
    expect(code, output).to.equal(1);
    expect(output).to.match(/FAIL  codepipeline/);
    expect(output).to.contain("runs: approved ok, rejected ok, timed_out ok");
    expect(output).to.contain(
      'WRONG unknowns #6 [codepipeline-resolved-variables] resolvedConfiguration {"CustomData":"#{variables.RequestSummary}","ExternalEntityLink":"#{variables.RequestLink}"}: NOT resolved',
    );
    expect(remainingStacks(env)).to.deep.equal([]);
  });

  it("a wait that runs out of time prints the dead-letter queue depth, the functions' errors and the rule's failed invocations", async () => {
    env = await setUp({ cloud: { neverWait: true } });
    const { code, output } = await runInProcess(["--mechanism", "ssm-automation"], {
      timings: { ...FAST, waitForTaskMs: 30 },
    });
    expect(code, output).to.equal(1);
    expect(output).to.contain('GAVE UP: gave up after 0.0s waiting for stage "it" to wait for a decision');
    expect(output).to.match(
      /diagnostics: dead-letter queue it-ssm-automation-t00001-dlq: 0 message\(s\) waiting, 0 in flight/,
    );
    expect(output).to.contain("diagnostics: result function it-ssm-automation-t00001-it-result: 1 error(s) logged");
    expect(output).to.contain("ForeignExecution: [redacted]");
    expect(output).to.contain(
      "diagnostics: rule stage-it-decision-rule-1a2b3c4: 2 failed invocation(s) since the run started",
    );
    expect(env.cloud.aws.operations().filter((op) => op === "StopExecution")).to.have.length(3);
    expect(remainingStacks(env)).to.deep.equal([]);
  });

  it("credentials that expire between mechanisms stop the run before the next deploys anything", async () => {
    env = await setUp({ cloud: { runnerExpiresAfter: 2 } });
    const { code, output } = await runInProcess(["--mechanism", "ssm-automation,sns-callback"]);
    expect(code, output).to.equal(1);
    expect(output).to.match(/PASS  ssm-automation/);
    expect(output).to.contain(
      "AWS credentials no longer work (ExpiredToken: The security token included in the request is expired)",
    );
    expect(output).to.match(/SKIP  sns-callback +\(not run: AWS credentials no longer work/);
    expect(pulumiCalls(env).some((args) => args.some((arg) => arg.includes("sns-callback")))).to.equal(false);
  });

  it("without prerequisites it explains what is missing and exits 0, or 3 with --require or CI=true", async () => {
    env = await setUp();
    process.env.AWS_ACCESS_KEY_ID = "AKIAUNKNOWNKEY";
    process.env.PATH = "/nonexistent";
    const skipped = await runInProcess(["--mechanism", "activity"]);
    expect(skipped.code, skipped.output).to.equal(0);
    expect(skipped.output).to.contain("missing  Pulumi CLI: `pulumi` is not on PATH");
    expect(skipped.output).to.contain("missing  AWS credentials: STS GetCallerIdentity failed (InvalidClientTokenId");
    expect(skipped.output).to.contain(
      "integration suite SKIPPED: prerequisites are missing; nothing was deployed or tested",
    );
    const required = await runInProcess(["--mechanism", "activity", "--require"]);
    expect(required.code).to.equal(3);
    expect(required.output).to.contain("integration suite FAILED: prerequisites are missing (--require)");
    process.env.CI = "true";
    expect((await runInProcess([])).code).to.equal(3);
  });

  it("--cleanup-stale removes the suite's stacks, roles and inbox queues older than the limit, and nothing else", async () => {
    const old = new Date(Date.now() - 3 * 3600 * 1000).toISOString();
    env = await setUp({
      stacks: {
        "it-activity-old001": { lastUpdate: old, resources: 12 },
        "it-email-link-new001": { lastUpdate: new Date().toISOString(), resources: 12 },
        dev: { lastUpdate: old, resources: 12 },
      },
    });
    const role = (name: string, created: Date) =>
      env!.cloud.roles.set(name, {
        name,
        arn: `arn:aws:iam::${ACCOUNT}:role/${name}`,
        trust: "{}",
        inline: new Map([["sfn-approvals-it", "{}"]]),
        created,
      });
    role("sfn-approvals-it-activity-old001-approver", new Date(old));
    role("sfn-approvals-it-codepipeline-gone01-other", new Date(old));
    role("sfn-approvals-it-codepipeline-new001-approver", new Date());
    role("ReleaseApprover", new Date(old));
    env.cloud.queues.set(`${env.cloud.aws.url}/${ACCOUNT}/it-email-link-old001-inbox`, {
      name: "it-email-link-old001-inbox",
      arn: "x",
      messages: [],
      created: Date.parse(old),
    });
    env.cloud.queues.set(`${env.cloud.aws.url}/${ACCOUNT}/it-email-link-new001-inbox`, {
      name: "it-email-link-new001-inbox",
      arn: "y",
      messages: [],
      created: Date.now(),
    });
    const { code, output } = await runInProcess(["--cleanup-stale"]);
    expect(code, output).to.equal(0);
    expect(remainingStacks(env).sort()).to.deep.equal(["dev", "it-email-link-new001"]);
    expect(
      pulumiCalls(env)
        .filter((args) => args[0] === "destroy")
        .map((args) => args[args.indexOf("--stack") + 1]),
    ).to.deep.equal(["it-activity-old001"]);
    expect([...env.cloud.roles.keys()].sort()).to.deep.equal([
      "ReleaseApprover",
      "sfn-approvals-it-codepipeline-new001-approver",
    ]);
    expect([...env.cloud.queues.values()].filter((q) => !q.deleted).map((q) => q.name)).to.deep.equal([
      "it-email-link-new001-inbox",
    ]);
    expect(output).to.contain("cleanup-stale: done");
  });

  it("an interrupt during pulumi up cancels the update (SIGINT to the CLI, as on SIGTERM), then destroys and removes the stack and deletes the roles", async () => {
    env = await setUp();
    const interrupt = new AbortController();
    const { code, output } = await runInProcess(["--mechanism", "activity"], {
      signal: interrupt.signal,
      stopPulumi: interrupt.signal,
      upMs: 10000,
      onWrite: (text) => {
        if (text.includes("pulumi up ...")) setTimeout(() => interrupt.abort(), 20);
      },
    });
    expect(code, output).to.equal(130);
    expect(output).to.match(/activity: pulumi up: FAILED after 0\.\ds/);
    expect(output).to.match(/FAIL  activity .*\n(.*\n)*        interrupted/);
    // The cancelled update never reached the fake's state; everything after it did.
    expect(
      pulumiCalls(env)
        .filter((args) => args.includes("it-activity-t00001"))
        .map((args) => args.slice(0, 2).join(" ")),
    ).to.deep.equal(["stack init", "config set-all", "destroy --yes", "stack history", "stack rm"]);
    expect(remainingStacks(env)).to.deep.equal([]);
    expect([...env.cloud.roles.keys()]).to.deep.equal([]);
  });

  it("SIGTERM cleans up like Ctrl-C: the waiting execution is stopped, the stack destroyed and removed, the roles deleted (command line, child process)", async function () {
    // A hang guard, not a time limit: a child process and a fake pulumi per call run about 9 s
    // quiet, and far longer on a busy machine.
    this.timeout(120000);
    env = await setUp({ cloud: { neverWait: true } });
    const child = spawn(
      process.execPath,
      // As `npm run test:integration` starts it (scripts/run.js: the project's cached TypeScript loader).
      ["scripts/run.js", "tests/integration/run.ts", "--mechanism", "ssm-automation"],
      { cwd: REPO, env: process.env, stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    const waiting = new Promise<void>((resolve) => {
      child.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString("utf8");
        if (/waiting until stage "it" waits for a decision \.\.\./.test(output)) resolve();
      });
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    await Promise.race([waiting, exited]);
    child.kill("SIGTERM");
    const code = await exited;
    expect(code, output).to.equal(143);
    expect(output).to.contain("SIGTERM: stopping the current requests and removing what this run created");
    expect(output).to.match(/FAIL  ssm-automation/);
    expect(output).to.contain("interrupted");
    expect(env.cloud.aws.operations().filter((op) => op === "StopExecution").length).to.be.at.least(1);
    expect(pulumiCalls(env).map((args) => args.slice(0, 2).join(" "))).to.include.members([
      "destroy --yes",
      "stack rm",
    ]);
    expect(remainingStacks(env)).to.deep.equal([]);
    expect([...env.cloud.roles.keys()]).to.deep.equal([]);
  });
});
