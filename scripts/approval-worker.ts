// npm run approval-worker -- --stack dev [--stage NAME] | --activity-arn ARN
//                            [--decide approve|reject --comment TEXT] [--once] [--region REGION]
//
// Long-polls the stage's activity for approval requests and lets the person at the terminal
// approve or reject each one; see docs/mechanisms/activity.md.
import { hostname } from "os";
import { createInterface, Interface } from "readline";
import { ACTIVITY_HEARTBEAT_SECONDS, ACTIVITY_RELEASES } from "../components/mechanisms/activityTiming";
import { ApprovalWorker, TaskOutcome, WorkerIO } from "./lib/approvalWorker";
import { UsageError, parseArgs } from "./lib/args";
import { workerSfnClient } from "./lib/clients";
import { reportFailure } from "./lib/failures";
import { stsSdk } from "./lib/sdk";
import { readStackOutputs } from "./lib/stackOutputs";

const USAGE = `Usage: npm run approval-worker -- (--stack STACK [--stage NAME] | --activity-arn ARN) [options]

  --stack STACK          read the activity ARN from the stack's outputs (needs the Pulumi CLI)
  --stage NAME           which activity stage, when the stack has several
  --activity-arn ARN     the activity to work on, instead of --stack
  --decide approve|reject  decide without asking (automation; needs --once); with --comment TEXT
  --once                 handle at most one request (one 60 s poll), then exit
  --heartbeat-every N    seconds between heartbeats while deciding (default 30)
  --help                 this text

The Region is the activity's own (from its ARN). Approvers without the Pulumi state use
--activity-arn (aws stepfunctions list-activities shows it; the stack output is stages[].activityArn).

Exit codes: 0 decided; 1 no decision sent (input ended, the request was taken back or malformed,
or the decision was not recorded); 2 error: usage, no or expired AWS credentials, stack outputs,
an AWS error; 3 (--once) no request was waiting; 130 interrupted.`;

async function activityFromStack(stack: string, stage: string | undefined): Promise<string> {
  const outputs = await readStackOutputs(stack);
  const activities = (Array.isArray(outputs.stages) ? outputs.stages : []).filter(
    (s) => s !== null && typeof s === "object" && s.mechanism === "activity",
  );
  const chosen = stage ? activities.filter((s) => s.name === stage) : activities;
  if (chosen.length !== 1) {
    const names = activities.map((s) => s.name).join(", ") || "none";
    throw new UsageError(
      stage
        ? `stack '${stack}' has no activity stage named '${stage}' (activity stages: ${names})`
        : `stack '${stack}' has ${activities.length === 0 ? "no activity stage" : `several activity stages (${names}); choose one with --stage`}`,
    );
  }
  return chosen[0].activityArn;
}

/**
 * The terminal: readline is opened at once, so lines typed while no question is open (type-ahead
 * while waiting for a request) are dropped instead of answering the next prompt unseen.
 */
function terminalIO(interactive: boolean): { io: WorkerIO; close(): void; onInterrupt(handler: () => void): void } {
  let ended = !interactive;
  let current: { controller: AbortController; resolve: (answer: string | null) => void } | undefined;
  const interruptHandlers: Array<() => void> = [];
  const rl: Interface | undefined = interactive
    ? createInterface({ input: process.stdin, output: process.stdout })
    : undefined;
  const settle = (answer: string | null) => {
    const open = current;
    current = undefined;
    open?.resolve(answer);
  };
  rl?.on("close", () => {
    ended = true;
    settle(null);
  });
  rl?.on("SIGINT", () => interruptHandlers.forEach((h) => h()));
  return {
    io: {
      say: (text) => {
        process.stdout.write(`${text}\n`);
      },
      warn: (text) => {
        process.stderr.write(`${text}\n`);
      },
      ask: (question) =>
        new Promise((resolve) => {
          if (!rl || ended) {
            resolve(null);
            return;
          }
          const controller = new AbortController();
          current = { controller, resolve };
          rl.question(question, { signal: controller.signal }, (answer) => {
            if (current?.controller === controller) settle(answer);
          });
        }),
      cancelQuestion: () => {
        current?.controller.abort();
        settle(null);
      },
      inputEnded: () => ended,
    },
    close: () => rl?.close(),
    onInterrupt: (handler) => interruptHandlers.push(handler),
  };
}

const EXIT_CODES: Record<TaskOutcome, number> = {
  approved: 0,
  rejected: 0,
  "no-task": 3,
  interrupted: 130,
  invalid: 1,
  lost: 1,
  "not-sent": 1,
};

async function main(): Promise<number> {
  const { values, flags } = parseArgs(process.argv.slice(2), {
    values: ["stack", "stage", "activity-arn", "decide", "comment", "heartbeat-every"],
    flags: ["once", "help"],
  });
  if (flags.has("help")) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!values.stack === !values["activity-arn"]) throw new UsageError("give either --stack or --activity-arn");
  if (values.decide !== undefined && values.decide !== "approve" && values.decide !== "reject")
    throw new UsageError(`--decide must be approve or reject, got '${values.decide}'`);
  if (values.comment !== undefined && values.decide === undefined)
    throw new UsageError("--comment goes with --decide (interactive mode asks for a comment)");
  if (values.decide !== undefined && !flags.has("once"))
    throw new UsageError(
      "--decide needs --once: without it the worker would decide every request that arrives, unattended",
    );
  const heartbeatEvery = Number(values["heartbeat-every"] ?? 30);
  if (!(heartbeatEvery >= 1 && heartbeatEvery < ACTIVITY_HEARTBEAT_SECONDS))
    throw new UsageError(`--heartbeat-every must be 1 to ${ACTIVITY_HEARTBEAT_SECONDS - 1} seconds`);
  if (
    values["activity-arn"] !== undefined &&
    !/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:activity:[A-Za-z0-9_-]+$/.test(values["activity-arn"])
  ) {
    throw new UsageError(`--activity-arn '${values["activity-arn"]}' is not a Step Functions activity ARN`);
  }

  const activityArn = values.stack ? await activityFromStack(values.stack, values.stage) : values["activity-arn"];
  // The activity lives in the Region its ARN names, whatever AWS_REGION says.
  const region = activityArn.split(":")[3];
  const sfn = workerSfnClient(region);
  const sts = new (stsSdk().STSClient)({ region });
  const terminal = terminalIO(values.decide === undefined);
  const worker = new ApprovalWorker(sfn, sts, terminal.io, {
    activityArn,
    workerName: `${hostname()}-${process.pid}`.slice(0, 80),
    decide: values.decide as "approve" | "reject" | undefined,
    comment: values.comment,
    heartbeatEverySeconds: heartbeatEvery,
    maxPollFailures: flags.has("once") ? 5 : undefined,
    retryBaseMs: 1000,
  });
  const interrupt = () => {
    process.stdout.write(`\n${worker.interrupt(ACTIVITY_HEARTBEAT_SECONDS, ACTIVITY_RELEASES)}\n`);
    terminal.close();
    process.exit(130);
  };
  process.on("SIGINT", interrupt);
  terminal.onInterrupt(interrupt);
  try {
    return EXIT_CODES[await worker.run(flags.has("once"))];
  } finally {
    terminal.close();
  }
}

// Never the raw text of an AWS error: it may echo a task token (reportFailure redacts).
main().then(
  (code) => process.exit(code),
  (error: unknown) => process.exit(reportFailure("approval-worker", error, USAGE)),
);
