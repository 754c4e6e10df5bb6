// The approval worker of the activity mechanism, as approvers run it: the real CLI
// (scripts/approval-worker.ts) in a child process against a fake Step Functions + STS endpoint on
// 127.0.0.1, and once through a real terminal (tmux) for an interactive approval and a Ctrl-C.
import { expect } from "chai";
import { cliArgs, fakeAwsCliEnv } from "./helpers/cliEnv";
import { ChildProcess, execFileSync, spawn } from "child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { SFNClient } from "@aws-sdk/client-sfn";
import { STSClient } from "@aws-sdk/client-sts";
import { workerSfnClient } from "../scripts/lib/clients";
import { ApprovalWorker } from "../scripts/lib/approvalWorker";
import { renderRequest } from "../scripts/lib/requestView";
import { AwsError, FakeAws, callerIdentityXml } from "./helpers/fakeAws";
import { EXPENSE_REPORT } from "./helpers/fixtures";

const ROOT = join(__dirname, "..");
const ACTIVITY = "arn:aws:states:eu-west-1:123456789012:activity:sfn-approvals-dev-manager";
const EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:sfn-approvals-dev:er98765-1";
const ME = "arn:aws:sts::123456789012:assumed-role/ReleaseApprover/alice";
const TOKEN = `AAAAKgAAAAIAAAAAAAAAA${"x7Yq".repeat(150)}`;
const TASK_INPUT = JSON.stringify({ request: EXPENSE_REPORT, stage: "manager", executionArn: EXECUTION });
const PROMPT = 'Decision: type "approve" or "reject"';

interface WorkerRun {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Workers still running after their test (it failed before stopping them): ended, so teardown never waits on them. */
const running = new Set<ChildProcess>();

function startWorker(args: string[], env: Record<string, string>): WorkerRun {
  let output = "";
  const child = spawn(process.execPath, cliArgs("approval-worker", args), {
    cwd: ROOT,
    env: fakeAwsCliEnv({
      ...env,
    }),
    stdio: ["pipe", "pipe", "pipe"],
  });
  child.stdout!.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr!.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  running.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  return { child, output: () => output, exited };
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 20000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("approval worker (scripts/approval-worker.ts) against a fake Step Functions endpoint", function () {
  this.timeout(60000);
  const aws = new FakeAws();
  let endpoints: Record<string, string>;

  before(async () => {
    const url = await aws.start();
    endpoints = { AWS_ENDPOINT_URL_SFN: url, AWS_ENDPOINT_URL_STS: url };
  });
  after(() => aws.stop());
  beforeEach(() => {
    aws.reset();
    aws.on("GetCallerIdentity", () => callerIdentityXml(ME));
  });
  afterEach(() => {
    for (const child of running) child.kill("SIGKILL");
    running.clear();
  });

  /** One task on the first poll, nothing after that. */
  function oneTask(input = TASK_INPUT): void {
    let given = false;
    aws.on("GetActivityTask", () => {
      if (given) return {};
      given = true;
      return { taskToken: TOKEN, input };
    });
  }

  const sentDecisions = () =>
    aws.requests.filter((r) => r.operation === "SendTaskSuccess" || r.operation === "SendTaskFailure");

  it("approves non-interactively with a comment, as the caller's identity", async () => {
    oneTask();
    aws.on("SendTaskSuccess", () => ({}));
    const before = Date.now();
    const worker = startWorker(
      ["--activity-arn", ACTIVITY, "--once", "--decide", "approve", "--comment", "receipts checked"],
      endpoints,
    );
    expect(await worker.exited).to.equal(0);
    const poll = aws.requests.find((r) => r.operation === "GetActivityTask")!;
    expect(poll.body.activityArn).to.equal(ACTIVITY);
    expect(poll.body.workerName).to.match(/^.+-\d+$/);
    const [sent] = sentDecisions();
    expect(sent.operation).to.equal("SendTaskSuccess");
    expect(sent.body.taskToken).to.equal(TOKEN);
    const output = JSON.parse(sent.body.output);
    expect(output).to.deep.include({
      approved: true,
      decision: "approved",
      stage: "manager",
      mechanism: "activity",
      approver: ME,
      comment: "receipts checked",
    });
    expect(Date.parse(output.decidedAt)).to.be.within(before - 1000, Date.now());
    expect(worker.output())
      .to.contain("Approving as arn:aws:sts::123456789012:assumed-role/ReleaseApprover/alice")
      .and.contain("Expense report ER98765")
      .and.contain("Approved: Expense report ER98765 (stage manager)");
    expect(worker.output()).to.not.contain(TOKEN.slice(20, 80));
  });

  it("rejects non-interactively without a comment", async () => {
    oneTask();
    aws.on("SendTaskSuccess", () => ({}));
    const worker = startWorker(["--activity-arn", ACTIVITY, "--once", "--decide", "reject"], endpoints);
    expect(await worker.exited).to.equal(0);
    expect(JSON.parse(sentDecisions()[0].body.output)).to.deep.include({
      approved: false,
      decision: "rejected",
      comment: null,
      approver: ME,
    });
  });

  it("says so and exits 3 when a poll returns no task", async () => {
    aws.on("GetActivityTask", () => ({}));
    const worker = startWorker(["--activity-arn", ACTIVITY, "--once"], endpoints);
    expect(await worker.exited).to.equal(3);
    expect(worker.output()).to.contain("No approval request arrived during the last poll (60 s).");
    expect(sentDecisions()).to.have.length(0);
  });

  it("asks, keeps the task alive with heartbeats while the person reads, and sends the typed decision and comment", async () => {
    oneTask();
    aws.on("SendTaskHeartbeat", () => ({})).on("SendTaskSuccess", () => ({}));
    const worker = startWorker(["--activity-arn", ACTIVITY, "--once", "--heartbeat-every", "1"], endpoints);
    await waitFor(() => worker.output().includes(PROMPT), "the decision prompt");
    await waitFor(() => aws.operations().filter((o) => o === "SendTaskHeartbeat").length >= 3, "three heartbeats");
    // --heartbeat-every 1: the worker spaces beats at least 1 s apart (Node's setInterval), so three
    // beats span at least 2 s when sent; 1.5 s leaves room for a late arrival of the first at this
    // fake. No upper bound: a busy machine may delay them, and the waitFor above already needs three.
    const beats = aws.requests.filter((r) => r.operation === "SendTaskHeartbeat").map((r) => r.at);
    expect(beats[2] - beats[0], "time from the first to the third heartbeat").to.be.at.least(1500);
    worker.child.stdin!.write("maybe\n");
    await waitFor(() => worker.output().includes('"maybe" is neither approve nor reject.'), "the refusal of 'maybe'");
    worker.child.stdin!.write("approve\n");
    await waitFor(() => worker.output().includes("Comment (optional"), "the comment prompt");
    worker.child.stdin!.write("looks good\n");
    expect(await worker.exited).to.equal(0);
    const heartbeats = aws.requests.filter((r) => r.operation === "SendTaskHeartbeat");
    expect(heartbeats.every((h) => h.body.taskToken === TOKEN)).to.equal(true);
    const success = aws.requests.find((r) => r.operation === "SendTaskSuccess")!;
    expect(JSON.parse(success.body.output)).to.deep.include({
      approved: true,
      decision: "approved",
      comment: "looks good",
    });
  });

  it("keeps working after a decision (without --once): no heartbeat for the decided request, and waits for the next", async () => {
    let polls = 0;
    aws.on("GetActivityTask", () =>
      ++polls === 1 ? { taskToken: TOKEN, input: TASK_INPUT } : new Promise(() => undefined),
    );
    aws.on("SendTaskHeartbeat", () => ({})).on("SendTaskSuccess", () => ({}));
    const worker = startWorker(["--activity-arn", ACTIVITY, "--heartbeat-every", "1"], endpoints);
    await waitFor(() => worker.output().includes(PROMPT), "the decision prompt");
    worker.child.stdin!.write("reject\n");
    await waitFor(() => worker.output().includes("Comment (optional"), "the comment prompt");
    worker.child.stdin!.write("\n");
    await waitFor(() => polls === 2, "the next poll");
    const decidedAt = aws.requests.find((r) => r.operation === "SendTaskSuccess")!.at;
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(aws.requests.filter((r) => r.operation === "SendTaskHeartbeat" && r.at > decidedAt)).to.have.length(0);
    worker.child.kill("SIGINT");
    expect(await worker.exited).to.equal(130);
    expect(worker.output()).to.contain("Stopped. No approval request was held.");
  });

  it("sends nothing on Ctrl-C while holding a task, and says what happens to it", async () => {
    oneTask();
    aws
      .on("SendTaskHeartbeat", () => ({}))
      .on("SendTaskSuccess", () => ({}))
      .on("SendTaskFailure", () => ({}));
    const worker = startWorker(["--activity-arn", ACTIVITY, "--once"], endpoints);
    await waitFor(() => worker.output().includes(PROMPT), "the decision prompt");
    worker.child.kill("SIGINT");
    expect(await worker.exited).to.equal(130);
    expect(worker.output()).to.contain(
      'Stopped. No decision was sent for "Expense report ER98765" (stage manager). Step Functions releases it when its heartbeat expires (within 120 s) and offers it to the next worker; after 3 releases the stage ends as timed_out.',
    );
    expect(sentDecisions()).to.have.length(0);
  });

  it("stops cleanly on Ctrl-C while waiting for a request", async () => {
    aws.on("GetActivityTask", () => new Promise(() => undefined)); // a long poll that never answers
    const worker = startWorker(["--activity-arn", ACTIVITY], endpoints);
    await waitFor(() => worker.output().includes("Waiting for approval requests"), "the waiting message");
    await waitFor(() => aws.operations().includes("GetActivityTask"), "the long poll");
    worker.child.kill("SIGINT");
    expect(await worker.exited).to.equal(130);
    expect(worker.output()).to.contain("Stopped. No approval request was held.");
  });

  it("sends nothing when input ends before a decision", async () => {
    oneTask();
    aws.on("SendTaskHeartbeat", () => ({})).on("SendTaskSuccess", () => ({}));
    const worker = startWorker(["--activity-arn", ACTIVITY, "--once"], endpoints);
    await waitFor(() => worker.output().includes(PROMPT), "the decision prompt");
    worker.child.stdin!.end();
    expect(await worker.exited).to.equal(1);
    expect(worker.output()).to.contain('Input ended before a decision: nothing was sent for "Expense report ER98765".');
    expect(sentDecisions()).to.have.length(0);
  });

  it("after a request is taken back, the next request gets the answer typed for it", async () => {
    const other = TOKEN.replace(/x/g, "z");
    let polls = 0;
    aws.on("GetActivityTask", () => {
      polls++;
      if (polls === 1) return { taskToken: TOKEN, input: TASK_INPUT };
      if (polls === 2)
        return {
          taskToken: other,
          input: JSON.stringify({ request: { title: "Second request" }, stage: "manager", executionArn: EXECUTION }),
        };
      return new Promise(() => undefined);
    });
    aws.on("SendTaskHeartbeat", (body) =>
      body.taskToken === TOKEN ? new AwsError("TaskTimedOut", "Task Timed Out") : {},
    );
    aws.on("SendTaskSuccess", () => ({}));
    const worker = startWorker(["--activity-arn", ACTIVITY, "--heartbeat-every", "1"], endpoints);
    await waitFor(() => worker.output().includes("Second request"), "the second request");
    await waitFor(() => worker.output().split(PROMPT).length === 3, "the second prompt");
    worker.child.stdin!.write("reject\n");
    await waitFor(() => worker.output().split("Comment (optional").length === 2, "the comment prompt");
    worker.child.stdin!.write("not this one\n");
    await waitFor(() => aws.operations().includes("SendTaskSuccess"), "the decision");
    worker.child.kill("SIGINT");
    await worker.exited;
    const sent = aws.requests.filter((r) => r.operation === "SendTaskSuccess");
    expect(sent.map((r) => r.body.taskToken)).to.deep.equal([other]);
    expect(JSON.parse(sent[0].body.output)).to.deep.include({ decision: "rejected", comment: "not this one" });
    expect(worker.output()).to.contain("This request is no longer yours to decide (TaskTimedOut)");
  });

  it("drops lines typed while waiting, so they cannot answer a request nobody has seen", async () => {
    let release!: (value: unknown) => void;
    aws.on(
      "GetActivityTask",
      () =>
        new Promise((resolve) => {
          release = resolve;
        }),
    );
    aws.on("SendTaskHeartbeat", () => ({})).on("SendTaskSuccess", () => ({}));
    const worker = startWorker(["--activity-arn", ACTIVITY, "--once"], endpoints);
    await waitFor(() => aws.operations().includes("GetActivityTask"), "the long poll");
    worker.child.stdin!.write("approve\n\n");
    await new Promise((resolve) => setTimeout(resolve, 300));
    release({ taskToken: TOKEN, input: TASK_INPUT });
    await waitFor(() => worker.output().includes(PROMPT), "the decision prompt");
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(aws.operations()).to.not.include("SendTaskSuccess");
    worker.child.kill("SIGINT");
    expect(await worker.exited).to.equal(130);
    expect(aws.operations()).to.not.include("SendTaskSuccess");
  });

  it("stops taking requests once input has ended", async () => {
    let polls = 0;
    aws.on("GetActivityTask", () =>
      ++polls === 1 ? { taskToken: TOKEN, input: TASK_INPUT } : { taskToken: "another", input: TASK_INPUT },
    );
    aws.on("SendTaskHeartbeat", () => ({})).on("SendTaskSuccess", () => ({}));
    const worker = startWorker(["--activity-arn", ACTIVITY], endpoints);
    await waitFor(() => worker.output().includes(PROMPT), "the decision prompt");
    worker.child.stdin!.end();
    expect(await worker.exited).to.equal(1);
    expect(polls).to.equal(1);
    expect(worker.output()).to.contain(
      "Input ended: no more decisions can be typed, so the worker stops taking requests.",
    );
    expect(aws.operations()).to.not.include("SendTaskSuccess");
  });

  it("retries a throttled poll instead of giving up", async () => {
    let calls = 0;
    aws.on("GetActivityTask", () =>
      ++calls <= 3 ? new AwsError("ThrottlingException", "Rate exceeded") : { taskToken: TOKEN, input: TASK_INPUT },
    );
    aws.on("SendTaskSuccess", () => ({}));
    const worker = startWorker(["--activity-arn", ACTIVITY, "--once", "--decide", "approve"], endpoints);
    expect(await worker.exited).to.equal(0);
    expect(worker.output()).to.match(/Could not reach Step Functions \(ThrottlingException: Rate exceeded\); retrying/);
  });

  it("says a decision may already be recorded when a retry finds the task closed", async () => {
    oneTask();
    let sends = 0;
    aws.on("SendTaskSuccess", () =>
      ++sends <= 3 ? new AwsError("InternalFailure", "try again", 500) : new AwsError("TaskTimedOut", "Task Timed Out"),
    );
    const worker = startWorker(["--activity-arn", ACTIVITY, "--once", "--decide", "approve"], endpoints);
    expect(await worker.exited).to.equal(1);
    expect(worker.output()).to.contain(
      `Your decision may already have been recorded by an earlier attempt (now: TaskTimedOut: Task Timed Out). Check the execution ${EXECUTION}.`,
    );
  });

  describe("a decision refused for throttling (in process, pauses of about 1 ms)", () => {
    /** The worker's own class with its own clients' settings (maxAttempts 3), against the fake endpoint. */
    async function decideOnce(): Promise<{ outcome: string; said: string[] }> {
      const credentials = { accessKeyId: "AKIAFAKE", secretAccessKey: "fake" };
      const client = { region: "eu-west-1", endpoint: aws.url, credentials, maxAttempts: 3 };
      const said: string[] = [];
      const io = {
        say: (text: string) => said.push(text),
        warn: (text: string) => said.push(text),
        ask: async () => null,
        cancelQuestion: () => {},
        inputEnded: () => true,
      };
      const worker = new ApprovalWorker(new SFNClient(client), new STSClient(client), io, {
        activityArn: ACTIVITY,
        workerName: "test",
        decide: "approve",
        heartbeatEverySeconds: 60,
        retryBaseMs: 1,
      });
      return { outcome: await worker.workOnce(), said };
    }

    it("KmsThrottlingException (which the SDK does not retry) is sent again: recorded once, every send the same", async () => {
      oneTask();
      let sends = 0;
      aws.on("SendTaskSuccess", () =>
        ++sends <= 2 ? new AwsError("KmsThrottlingException", "KMS throttled", 400) : {},
      );
      const { outcome, said } = await decideOnce();
      expect(outcome).to.equal("approved");
      const sent = sentDecisions();
      expect(sent.map((r) => r.operation)).to.deep.equal(["SendTaskSuccess", "SendTaskSuccess", "SendTaskSuccess"]);
      expect(new Set(sent.map((r) => JSON.stringify(r.body))).size).to.equal(1);
      expect(said.join("\n")).to.match(
        /Sending the decision failed \(KmsThrottlingException: KMS throttled\); retrying in/,
      );
    });

    it("after a throttled attempt (refused: nothing recorded), a closed task means NOT recorded, never 'may already be recorded'", async () => {
      oneTask();
      let sends = 0;
      aws.on("SendTaskSuccess", () =>
        ++sends === 1
          ? new AwsError("KmsThrottlingException", "KMS throttled", 400)
          : new AwsError("TaskTimedOut", "Task Timed Out"),
      );
      const { outcome, said } = await decideOnce();
      expect(outcome).to.equal("not-sent");
      expect(said).to.include(
        "Your decision was NOT recorded: the request no longer waits for one (TaskTimedOut: Task Timed Out): it expired, or it was decided or released elsewhere.",
      );
      expect(said.join("\n")).to.not.contain("may already have been recorded");
      expect(sentDecisions()).to.have.length(2);
    });

    it("always throttled: five attempts with the same decision, then NOT recorded (the request stays open)", async () => {
      oneTask();
      aws.on("SendTaskSuccess", () => new AwsError("KmsThrottlingException", "KMS throttled", 400));
      const { outcome, said } = await decideOnce();
      expect(outcome).to.equal("not-sent");
      expect(sentDecisions()).to.have.length(5);
      expect(new Set(sentDecisions().map((r) => JSON.stringify(r.body))).size).to.equal(1);
      expect(said[said.length - 1]).to.match(
        /^Your decision was NOT recorded: KmsThrottlingException: KMS throttled\./,
      );
    });

    it("a closed task after a 5xx the SDK sent again (the first try may have counted) 'may already be recorded'", async () => {
      oneTask();
      let sends = 0;
      aws.on("SendTaskSuccess", () =>
        ++sends === 1 ? new AwsError("InternalFailure", "oops", 500) : new AwsError("TaskTimedOut", "Task Timed Out"),
      );
      const { outcome, said } = await decideOnce();
      expect(outcome).to.equal("not-sent");
      expect(sentDecisions()).to.have.length(2);
      expect(said.join("\n")).to.contain("Your decision may already have been recorded by an earlier attempt");
    });
  });

  it("works in the activity's own Region whatever AWS_REGION says", async () => {
    oneTask();
    aws.on("SendTaskSuccess", () => ({}));
    const worker = startWorker(["--activity-arn", ACTIVITY, "--once", "--decide", "reject"], {
      ...endpoints,
      AWS_REGION: "us-east-1",
    });
    expect(await worker.exited).to.equal(0);
    const poll = aws.requests.find((r) => r.operation === "GetActivityTask")!;
    expect(String(poll.headers.authorization)).to.match(/\/eu-west-1\/states\/aws4_request/);
  });

  it("stops asking and sends nothing when the task is no longer the worker's (heartbeat refused)", async () => {
    oneTask();
    aws
      .on(
        "SendTaskHeartbeat",
        () => new AwsError("TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'"),
      )
      .on("SendTaskSuccess", () => ({}));
    const worker = startWorker(["--activity-arn", ACTIVITY, "--once", "--heartbeat-every", "1"], endpoints);
    expect(await worker.exited).to.equal(1);
    expect(worker.output()).to.contain(
      "This request is no longer yours to decide (TaskTimedOut): its heartbeat expired or it was closed. Nothing was sent.",
    );
    expect(sentDecisions()).to.have.length(0);
  });

  it("retries a failed poll with backoff and says so", async () => {
    let calls = 0;
    aws.on("GetActivityTask", () => {
      calls++;
      return calls <= 3
        ? new AwsError("ServiceUnavailable", "Service is unavailable", 503)
        : { taskToken: TOKEN, input: TASK_INPUT };
    });
    aws.on("SendTaskSuccess", () => ({}));
    const worker = startWorker(["--activity-arn", ACTIVITY, "--once", "--decide", "approve"], endpoints);
    expect(await worker.exited).to.equal(0);
    expect(worker.output()).to.match(
      /Could not reach Step Functions \(ServiceUnavailable: Service is unavailable\); retrying in 1\.0 s/,
    );
    expect(sentDecisions().map((r) => r.operation)).to.deep.equal(["SendTaskSuccess"]);
  });

  it("fails a task whose input is malformed instead of deciding it", async () => {
    oneTask(JSON.stringify({ request: { amount: "lots" }, stage: "manager" }));
    aws.on("SendTaskFailure", () => ({})).on("SendTaskSuccess", () => ({}));
    const worker = startWorker(["--activity-arn", ACTIVITY, "--once", "--decide", "approve"], endpoints);
    expect(await worker.exited).to.equal(1);
    const [failure] = sentDecisions();
    expect(failure.operation).to.equal("SendTaskFailure");
    expect(failure.body).to.deep.equal({
      taskToken: TOKEN,
      error: "InvalidApprovalTask",
      cause:
        "The approval task's input is malformed: 'title' is required and must be a non-empty string; 'amount', when present, must be a number of at least 0; 'executionArn' is missing",
    });
  });

  it("removes terminal escape sequences from what the request shows", async () => {
    oneTask(
      JSON.stringify({
        request: { title: "Pay \u001b[2J\u001b[31mnow\u001b[0m\u0007", requester: "x\u001b]0;owned\u0007y" },
        stage: "manager",
        executionArn: EXECUTION,
      }),
    );
    aws.on("SendTaskSuccess", () => ({}));
    const worker = startWorker(["--activity-arn", ACTIVITY, "--once", "--decide", "reject"], endpoints);
    expect(await worker.exited).to.equal(0);
    expect(worker.output()).to.contain("Pay now").and.contain("Requester  xy");
    expect(worker.output()).to.not.match(/[\u0000-\u0008\u000b-\u001f\u007f]/);
  });

  it("reads the activity from the stack's outputs with --stack", async () => {
    const bin = mkdtempSync(join(tmpdir(), "fake-pulumi-"));
    const fakePulumi = join(bin, "pulumi");
    writeFileSync(
      fakePulumi,
      `#!/bin/sh\n[ "$*" = "stack output --json --stack dev" ] || { echo "unexpected: $*" >&2; exit 3; }\necho '${JSON.stringify(
        {
          stateMachineArn: "arn:aws:states:eu-west-1:123456789012:stateMachine:sfn-approvals-dev",
          region: "eu-west-1",
          stages: [{ name: "manager", mechanism: "activity", activityArn: ACTIVITY }],
        },
      )}'\n`,
    );
    chmodSync(fakePulumi, 0o755);
    oneTask();
    aws.on("SendTaskSuccess", () => ({}));
    const worker = startWorker(["--stack", "dev", "--once", "--decide", "approve"], {
      ...endpoints,
      PULUMI_COMMAND: fakePulumi,
    });
    expect(await worker.exited).to.equal(0);
    expect(aws.requests.find((r) => r.operation === "GetActivityTask")!.body.activityArn).to.equal(ACTIVITY);

    const noActivity = startWorker(["--stack", "prod", "--once"], {
      ...endpoints,
      PULUMI_COMMAND: join(bin, "missing-pulumi"),
    });
    expect(await noActivity.exited).to.equal(2);
    expect(noActivity.output()).to.contain(
      `approval-worker: the Pulumi CLI ('${join(bin, "missing-pulumi")}') is not installed or not on PATH; install it, or pass the ARN directly (for the approval worker: --activity-arn, see 'aws stepfunctions list-activities')`,
    );
  });

  it("says there is no activity stage when the stack's stages output is not a list (no TypeError)", async () => {
    const bin = mkdtempSync(join(tmpdir(), "fake-pulumi-"));
    const fakePulumi = join(bin, "pulumi");
    writeFileSync(
      fakePulumi,
      `#!/bin/sh\necho '${JSON.stringify({ stateMachineArn: "arn:aws:states:eu-west-1:123456789012:stateMachine:sfn-approvals-dev", stages: "manager" })}'\n`,
    );
    chmodSync(fakePulumi, 0o755);
    const worker = startWorker(["--stack", "dev", "--once"], { ...endpoints, PULUMI_COMMAND: fakePulumi });
    expect(await worker.exited).to.equal(2);
    expect(worker.output()).to.contain("approval-worker: stack 'dev' has no activity stage\n");
    expect(worker.output()).to.not.contain("TypeError");
    expect(aws.requests.filter((r) => r.operation === "GetActivityTask")).to.have.length(0);
  });

  const usage: Array<[string[], string]> = [
    [["--once"], "approval-worker: give either --stack or --activity-arn"],
    [
      ["--activity-arn", ACTIVITY, "--decide", "maybe"],
      "approval-worker: --decide must be approve or reject, got 'maybe'",
    ],
    [["--activity-arn", ACTIVITY, "--comment", "hi"], "approval-worker: --comment goes with --decide"],
    [
      ["--activity-arn", ACTIVITY, "--decide", "approve"],
      "approval-worker: --decide needs --once: without it the worker would decide every request that arrives, unattended",
    ],
    [["--activity-arn", "arn:aws:lambda:eu-west-1:123456789012:function:x"], "is not a Step Functions activity ARN"],
    [["--activity-arn", ACTIVITY, "--bogus"], "approval-worker: unknown option --bogus"],
  ];
  for (const [args, message] of usage) {
    it(`refuses ${args.join(" ")} with a usage error`, async () => {
      const worker = startWorker(args, endpoints);
      expect(await worker.exited).to.equal(2);
      expect(worker.output()).to.contain(message).and.contain("Usage: npm run approval-worker");
      expect(aws.requests).to.have.length(0);
    });
  }
});

describe("approval worker: its Step Functions client", () => {
  it("waits longer for an answer than GetActivityTask's 60 s long poll", async () => {
    const handler = workerSfnClient("eu-west-1").config.requestHandler as unknown as {
      configProvider: Promise<{ requestTimeout: number }>;
    };
    expect((await handler.configProvider).requestTimeout).to.be.above(60000);
  });
});

describe("approval worker: how a request looks", () => {
  it("renders the expense report readably, with its transactions as a table", () => {
    const text = renderRequest(
      {
        ...EXPENSE_REPORT,
        details: {
          transactions: [
            {
              transactionId: "T001",
              date: "2024-09-20",
              category: "Travel",
              description: "Flight to New York",
              amount: 450,
            },
            {
              transactionId: "T002",
              date: "2024-09-21",
              category: "Accommodation",
              description: "Hotel stay - 2 nights",
              amount: 300.5,
            },
          ],
        },
      },
      { stage: "manager", executionArn: EXECUTION },
    );
    expect(text.split("\n")).to.deep.equal([
      "",
      "=".repeat(72),
      "  Expense report ER98765",
      "=".repeat(72),
      "  Request    ER98765",
      "  Requester  Jane Doe <jane@example.com>",
      "  Amount     750.50 USD",
      "  Link       https://example.com/reports/ER98765",
      "  Stage      manager",
      "  Execution  er98765-1",
      "",
      "  Details",
      "    transactions:",
      "      transactionId  date        category       description            amount",
      "      -------------  ----------  -------------  ---------------------  ------",
      "      T001           2024-09-20  Travel         Flight to New York        450",
      "      T002           2024-09-21  Accommodation  Hotel stay - 2 nights   300.5",
      "-".repeat(72),
      "",
    ]);
  });
});

describe("approval worker in a real terminal (tmux)", function () {
  this.timeout(60000);
  const aws = new FakeAws();
  const socket = `sfn-approvals-test-${process.pid}`;
  const tmux = (...args: string[]) =>
    execFileSync("tmux", ["-L", socket, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const screen = () => tmux("capture-pane", "-p", "-J", "-t", "worker");

  before(async () => {
    try {
      execFileSync("tmux", ["-V"]);
    } catch {
      throw new Error("tmux is not installed: `apt-get install tmux` (.ci/run installs it)");
    }
    await aws.start();
  });
  after(async () => {
    try {
      tmux("kill-server");
    } catch {
      /* already gone */
    }
    await aws.stop();
  });

  function startInTmux(): void {
    const env = {
      AWS_REGION: "eu-west-1",
      AWS_ACCESS_KEY_ID: "AKIAFAKEFORTESTS",
      AWS_SECRET_ACCESS_KEY: "fake-secret-for-tests",
      AWS_EC2_METADATA_DISABLED: "true",
      AWS_ENDPOINT_URL_SFN: aws.url,
      AWS_ENDPOINT_URL_STS: aws.url,
    };
    const command = `cd ${ROOT} && ${process.execPath} ${cliArgs("approval-worker").join(" ")} --activity-arn ${ACTIVITY} --once; echo WORKER_EXIT=$?; sleep 60`;
    tmux(
      "new-session",
      "-d",
      "-s",
      "worker",
      "-x",
      "110",
      "-y",
      "50",
      ...Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
      command,
    );
  }

  beforeEach(() => {
    aws.reset();
    aws
      .on("GetCallerIdentity", () => callerIdentityXml(ME))
      .on("SendTaskHeartbeat", () => ({}))
      .on("SendTaskSuccess", () => ({}));
    let given = false;
    aws.on("GetActivityTask", () => (given ? {} : ((given = true), { taskToken: TOKEN, input: TASK_INPUT })));
  });
  afterEach(() => {
    try {
      tmux("kill-session", "-t", "worker");
    } catch {
      /* already gone */
    }
  });

  it("lets an approver read the request and approve it from the keyboard", async () => {
    startInTmux();
    await waitFor(() => screen().includes("Decision: type"), "the decision prompt on screen");
    const shown = screen();
    expect(shown)
      .to.contain("Expense report ER98765")
      .and.contain("Amount     750.50 USD")
      .and.contain("Requester  Jane Doe <jane@example.com>");
    expect(shown).to.match(/date\s+description\s+amount\n\s+-+\s+-+\s+-+\n\s+2024-09-20\s+Flight to New York\s+450/);
    tmux("send-keys", "-t", "worker", "approve", "Enter");
    await waitFor(() => screen().includes("Comment (optional"), "the comment prompt on screen");
    tmux("send-keys", "-t", "worker", "Receipts attached, fine by me", "Enter");
    await waitFor(() => screen().includes("WORKER_EXIT="), "the worker to exit");
    expect(screen())
      .to.contain(
        "Approved: Expense report ER98765 (stage manager), recorded as arn:aws:sts::123456789012:assumed-role/ReleaseApprover/alice.",
      )
      .and.contain("WORKER_EXIT=0");
    const sent = aws.requests.filter((r) => r.operation === "SendTaskSuccess");
    expect(sent).to.have.length(1);
    expect(JSON.parse(sent[0].body.output)).to.deep.include({
      approved: true,
      decision: "approved",
      comment: "Receipts attached, fine by me",
      approver: ME,
    });
  });

  it("sends nothing when the approver presses Ctrl-C at the prompt", async () => {
    startInTmux();
    await waitFor(() => screen().includes("Decision: type"), "the decision prompt on screen");
    tmux("send-keys", "-t", "worker", "C-c");
    await waitFor(() => screen().includes("WORKER_EXIT="), "the worker to exit");
    expect(screen().replace(/\n/g, " "))
      .to.contain('No decision was sent for "Expense report ER98765"')
      .and.contain("WORKER_EXIT=130");
    expect(
      aws.requests.filter((r) => r.operation === "SendTaskSuccess" || r.operation === "SendTaskFailure"),
    ).to.have.length(0);
  });
});
