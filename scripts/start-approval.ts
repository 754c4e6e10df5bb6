// npm run start-approval -- (--stack STACK | --state-machine-arn ARN) --input FILE [--name NAME]
//                           [--wait [--poll-seconds N] [--status-every N]]
//
// Checks a request file against the approval contract, starts the stack's approval workflow with
// it, and with --wait follows the execution (which stage waits, on whom, since when) until it
// ends; see docs/operations.md "Start an approval".
import type { SFNClient } from "@aws-sdk/client-sfn";
import { ApprovalRequest, executionNameProblem } from "../functions/contract";
import { describe, isPermanent } from "./lib/approvalWorker";
import { UsageError, parseArgs } from "./lib/args";
import { isAwsFailure, sfnClient, sfnFailure } from "./lib/clients";
import { CliIO, PROCESS_IO, isProgram } from "./lib/cliIO";
import { FailureCause, failureCause, reportFailure } from "./lib/failures";
import { sfnSdk } from "./lib/sdk";
import {
  ExecutionPosition,
  RecordedDecision,
  decisionLine,
  describeExecution,
  isRunning,
  parseJson,
  readPosition,
  stageLabel,
  stageRows,
  waitingLine,
  workflowData,
} from "./lib/executionStatus";
import { generatedExecutionName, readRequestFile } from "./lib/requestInput";
import { cell, formatAmount, formatDuration, safeCause, truncate } from "./lib/terminalFormat";
import {
  WorkflowTarget,
  consoleLink,
  executionArnOf,
  showCommand,
  stageInfo,
  targetFromArn,
  targetFromStack,
} from "./lib/workflowTarget";

const USAGE = `Usage: npm run start-approval -- (--stack STACK | --state-machine-arn ARN) --input FILE [options]

  --stack STACK            start the approval workflow of this stack (reads its outputs; needs the Pulumi CLI)
  --state-machine-arn ARN  start this state machine instead (it runs in its ARN's Region)
  --input FILE             the request, a JSON file (examples/expense-report.json; only "title" is required)
  --name NAME              the execution's name: 1 to 80 characters, no whitespace, none of
                           < > { } [ ] ? * " # % \\ ^ | ~ \` $ & , ; : / (default: the request's
                           requestId and a random suffix, made before the first attempt, so a retried
                           start cannot start a second execution)
  --wait                   follow the execution until it ends: which stage waits, on whom, since when;
                           then print the decision
  --poll-seconds N         with --wait: seconds between checks, at least 1 (default 5)
  --status-every N         with --wait: seconds between "still waiting" lines, at least 1 (default 60)
  --help                   this text

Exit codes: 0 started (without --wait), or approved (also auto-approved); 1 rejected, or a stage
timed out waiting for its decision; 2 error: usage, a bad request file, an AWS error, or the
execution failed, was aborted or timed out as a whole (TIMED_OUT), or its output is not a
consistent approval result; 130 Ctrl-C: stopped waiting (the execution goes on), or stopped before
Step Functions confirmed the start (the execution may have started: the message says how to check).`;

let io: CliIO = PROCESS_IO;
const say = (text: string) => {
  io.out(`${text}\n`);
};
const warn = (text: string) => {
  io.err(`${text}\n`);
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Consecutive failed checks after which --wait gives up. */
const MAX_CHECK_FAILURES = 5;
/**
 * Least --poll-seconds and --status-every: 1 s. Test-only: SFN_APPROVALS_TEST_FAST_POLL=1 lowers it
 * to 0.05 s, so the tests can follow an execution quickly; not for operators.
 */
const minSeconds = () => (process.env.SFN_APPROVALS_TEST_FAST_POLL === "1" ? 0.05 : 1);
const CREDENTIAL_CAUSES: FailureCause[] = ["no-credentials", "expired-credentials"];
/** Connection errors of a request that never left: it cannot have started anything. */
const NOT_SENT_CODES = ["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"];

function secondsOption(values: Record<string, string>, name: string, fallback: number, min: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!(Number.isFinite(value) && value >= min && value <= 86400))
    throw new UsageError(`--${name} must be a number of seconds from ${min} to 86400, got '${cell(raw)}'`);
  return value;
}

/** A failed start after which the execution may have started all the same: Step Functions failed (5xx) or an answer was lost (timeout, dropped connection). */
function mayHaveStarted(error: unknown): boolean {
  const e = error as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined) return status >= 500;
  return (
    isAwsFailure(error) &&
    e.name !== "CredentialsProviderError" &&
    e.name !== "TokenProviderError" &&
    !NOT_SENT_CODES.includes(e.code ?? "")
  );
}

/**
 * Starts the execution under `name`, given (--name) or generated: every attempt of the SDK sends
 * the same name, so a retry after a lost answer returns the execution the first attempt started.
 */
async function start(
  sfn: SFNClient,
  target: WorkflowTarget,
  input: string,
  name: string,
  generated: boolean,
): Promise<{ executionArn: string; startDate?: Date }> {
  try {
    const started = await sfn.send(
      new (sfnSdk().StartExecutionCommand)({ stateMachineArn: target.startArn, input, name }),
    );
    if (!started.executionArn) throw new Error("Step Functions returned no execution ARN");
    return { executionArn: started.executionArn, startDate: started.startDate };
  } catch (error) {
    const kind = (error as { name?: string }).name;
    // No or expired credentials: nothing was sent, and the message is the one every CLI gives.
    if (CREDENTIAL_CAUSES.includes(failureCause(error))) throw error;
    if (kind === "ExecutionAlreadyExists" && generated) {
      // The name was made for this start a moment ago: an earlier attempt started it (its answer was
      // lost) and it has ended since, so the retry is refused instead of answered with it.
      warn(
        `Step Functions says execution '${cell(name)}' exists: an earlier attempt of this start, whose answer was lost, started it.`,
      );
      return { executionArn: executionArnOf(target, name) };
    }
    if (kind === "ExecutionAlreadyExists") {
      throw new Error(
        `an execution named '${cell(name)}' already exists for ${target.stateMachineName} (an execution's name stays taken for 90 days after it ends); choose another --name`,
      );
    }
    if (kind === "StateMachineDoesNotExist") {
      throw new Error(
        `the state machine ${cell(target.startArn)} does not exist (deleted, or are your credentials for another account?)`,
      );
    }
    const maybe = mayHaveStarted(error)
      ? `. The execution '${cell(name)}' may have started all the same; check with: ${showCommand(target, executionArnOf(target, name))}`
      : "";
    throw new Error(`could not start the execution: ${sfnFailure(error)}${maybe}`);
  }
}

function startedLines(target: WorkflowTarget, request: ApprovalRequest, executionArn: string): string[] {
  const lines = [
    `Started "${truncate(cell(request.title), 100)}" on ${target.stateMachineName} (${target.region}).`,
    `  Execution  ${executionArn}`,
    `  Console    ${consoleLink(executionArn)}`,
  ];
  if (
    target.autoApproveBelow !== undefined &&
    typeof request.amount === "number" &&
    request.amount < target.autoApproveBelow
  ) {
    lines.push(
      `  Amount     ${formatAmount(request.amount, request.currency)} is below the stack's auto-approval threshold (${target.autoApproveBelow}): approved without asking anyone.`,
    );
  } else if (target.stages.length > 0) {
    lines.push(
      `  Stages     ${target.stages.map((s) => `${cell(s.name)}${s.mechanism ? ` (${cell(s.mechanism)})` : ""}`).join(", then ")}`,
    );
  }
  return lines;
}

/** The final report of an ended execution; returns the exit code. */
function report(
  target: WorkflowTarget,
  execution: Awaited<ReturnType<typeof describeExecution>>,
  position: ExecutionPosition | undefined,
): number {
  const took =
    execution.startDate && execution.stopDate
      ? ` after ${formatDuration(execution.stopDate.getTime() - execution.startDate.getTime())}`
      : "";
  if (execution.status !== "SUCCEEDED") {
    const error = execution.error ?? position?.failure?.error;
    const cause = execution.cause ?? position?.failure?.cause;
    say(`The execution ${cell(execution.status ?? "ended")}${took}${error ? `: ${safeCause(error)}` : ""}`);
    if (cause) say(`  Cause: ${safeCause(cause)}`);
    if (position && (position.decisions.length > 0 || position.waiting))
      say(stageRows(target, { decisions: position.decisions, at: position.waiting }, true).join("\n"));
    say("Nothing was approved.");
    return 2;
  }
  const result = workflowData(parseJson(execution.output));
  if (!result?.decision || result.approved === undefined) {
    say(
      `The execution SUCCEEDED${took}, but its output is not an approval result ({approved, decision, stages, request}).`,
    );
    return 2;
  }
  const title =
    result.request && typeof (result.request as ApprovalRequest).title === "string"
      ? `: ${truncate(cell((result.request as ApprovalRequest).title), 100)}`
      : "";
  const last: RecordedDecision | undefined = result.decisions[result.decisions.length - 1];
  const at = last ? ` at stage ${cell(last.stage)}` : "";
  // Each decision with its line, exit code, and the `approved` it must come with: only
  // approved=true with "approved" or "auto_approved" approves (exit 0); anything else is no approval.
  const summary = new Map<string, [string, number, boolean]>([
    ["approved", [`Approved${took}${title}`, 0, true]],
    [
      "auto_approved",
      [`Auto-approved${took}${title} (amount below the auto-approval threshold; no stage ran)`, 0, true],
    ],
    ["rejected", [`Rejected${at}${took}${title}`, 1, false]],
    ["timed_out", [`Timed out${at}${took}${title}`, 1, false]],
  ]);
  const known = summary.get(result.decision);
  const [line, code] = !known
    ? [
        `The execution SUCCEEDED${took} with an unknown decision '${cell(result.decision)}': not counted as approved.`,
        2,
      ]
    : known[2] !== result.approved
      ? [
          `The execution SUCCEEDED${took}, but its output contradicts itself (decision '${cell(result.decision)}', approved ${result.approved}): not counted as approved.`,
          2,
        ]
      : known;
  say(line);
  if (result.decisions.length > 0) say(stageRows(target, { decisions: result.decisions }, true).join("\n"));
  return code;
}

/** Follows the execution until it ends; prints a line when something changes, and a "still waiting" line now and then. */
async function follow(
  sfn: SFNClient,
  target: WorkflowTarget,
  executionArn: string,
  pollSeconds: number,
  statusEverySeconds: number,
): Promise<number> {
  say(`Waiting for the decision, checking every ${pollSeconds} s (Ctrl-C stops waiting; the execution goes on).`);
  const seen = new Set<string>();
  let shownWait: string | undefined;
  let lastLineAt = Date.now();
  let failures = 0;
  for (;;) {
    let execution: Awaited<ReturnType<typeof describeExecution>>;
    let position: ExecutionPosition | undefined;
    try {
      execution = await describeExecution(sfn, executionArn);
      // The history is read while it runs (where it waits) and after a failure (what was decided before).
      if (execution.status !== "SUCCEEDED") position = await readPosition(sfn, executionArn);
      failures = 0;
    } catch (error) {
      failures++;
      if (isPermanent(error))
        throw new Error(
          `could not follow the execution: ${describe(error)}. It goes on; check it with: ${showCommand(target, executionArn)}`,
        );
      if (failures >= MAX_CHECK_FAILURES) {
        throw new Error(
          `could not follow the execution: ${failures} checks in a row failed, the last with ${describe(error)}. It goes on; check it with: ${showCommand(target, executionArn)}`,
        );
      }
      warn(`Could not check the execution (${describe(error)}); trying again in ${pollSeconds} s`);
      await sleep(pollSeconds * 1000);
      continue;
    }
    if (!isRunning(execution.status)) return report(target, execution, position);

    const now = Date.now();
    for (const decision of position!.decisions) {
      const key = `${decision.stage}\n${decision.decision}\n${decision.decidedAt}`;
      if (seen.has(key)) continue;
      seen.add(key);
      say(decisionLine(decision));
      lastLineAt = now;
    }
    const waiting = position!.waiting;
    const waitKey = waiting ? `${waiting.stage}\n${waiting.since.getTime()}` : undefined;
    if (waiting && waitKey !== shownWait) {
      say(waitingLine(target, waiting, now));
      lastLineAt = now;
    } else if (now - lastLineAt >= statusEverySeconds * 1000) {
      say(
        waiting
          ? `Still waiting on ${stageLabel(waiting.stage, stageInfo(target, waiting.stage))}: ${formatDuration(now - waiting.since.getTime())} so far`
          : `Still running${position!.state ? ` (state '${cell(position!.state)}')` : ""}, ${formatDuration(now - (execution.startDate?.getTime() ?? now))} since it started`,
      );
      lastLineAt = now;
    }
    shownWait = waitKey;
    await sleep(pollSeconds * 1000);
  }
}

async function command(argv: string[], program: boolean): Promise<number> {
  const { values, flags } = parseArgs(argv, {
    values: ["stack", "state-machine-arn", "input", "name", "poll-seconds", "status-every"],
    flags: ["wait", "help"],
  });
  if (flags.has("help")) {
    say(USAGE);
    return 0;
  }
  if (!values.stack === !values["state-machine-arn"])
    throw new UsageError("give either --stack or --state-machine-arn");
  if (values.input === undefined)
    throw new UsageError("--input FILE is required: the request as JSON (see examples/expense-report.json)");
  if (values.name !== undefined) {
    const problem = executionNameProblem(values.name);
    if (problem) throw new UsageError(`--name '${cell(values.name)}' is not a valid execution name: ${problem}`);
  }
  for (const option of ["poll-seconds", "status-every"]) {
    if (values[option] !== undefined && !flags.has("wait")) throw new UsageError(`--${option} goes with --wait`);
  }
  const pollSeconds = secondsOption(values, "poll-seconds", 5, minSeconds());
  const statusEverySeconds = secondsOption(values, "status-every", 60, minSeconds());
  const arnTarget = values["state-machine-arn"] !== undefined ? targetFromArn(values["state-machine-arn"]) : undefined;

  // The request is checked before anything else runs: a bad file never reaches Step Functions.
  const { request, input } = readRequestFile(values.input, process.env.INIT_CWD);
  const target = arnTarget ?? (await targetFromStack(values.stack));
  const sfn = sfnClient(target.region);
  const name = values.name ?? generatedExecutionName(request);
  // Ctrl-C is handled from before StartExecution is sent: while it is in flight, the execution may
  // have started, and the person should know how to find out.
  let interrupted = () =>
    `Stopped before Step Functions confirmed the start: the execution '${cell(name)}' may have started.\n` +
    `Check with: ${showCommand(target, executionArnOf(target, name))}`;
  if (program) {
    process.on("SIGINT", () => {
      say(`\n${interrupted()}`);
      process.exit(130);
    });
  }
  const { executionArn } = await start(sfn, target, input, name, values.name === undefined);
  interrupted = () =>
    `Stopped waiting. The execution goes on: ${executionArn}\nFollow it with: ${showCommand(target, executionArn)}`;
  say(startedLines(target, request, executionArn).join("\n"));
  if (!flags.has("wait")) {
    say(`Follow it with: ${showCommand(target, executionArn)}`);
    return 0;
  }
  return follow(sfn, target, executionArn, pollSeconds, statusEverySeconds);
}

/**
 * The command with its arguments; it prints to `through` (the terminal, or a test's buffers) and
 * returns the exit code. Ctrl-C is handled only in the program.
 */
export async function main(argv: string[], through: CliIO = PROCESS_IO): Promise<number> {
  io = through;
  try {
    return await command(argv, through === PROCESS_IO);
  } catch (error) {
    // A usage error, a bad request file (RequestInputError), unreadable stack outputs, credentials, AWS.
    return reportFailure("start-approval", error, USAGE, through.err);
  } finally {
    io = PROCESS_IO;
  }
}

if (isProgram(__filename)) main(process.argv.slice(2)).then((code) => process.exit(code));
