// npm run approvals -- (--stack STACK | --state-machine-arn ARN) [list [--max N]]
// npm run approvals -- [--stack STACK | --state-machine-arn ARN | --bucket NAME] show EXECUTION
// npm run approvals -- (--stack STACK | --bucket NAME) export --from DAY --to DAY --format csv|json [--out FILE]
//
// What waits for approval: the running executions of a stack's approval workflow, each with the
// stage it waits on, for how long and who can decide it; one execution in detail (from the
// decision record once its history is gone); or the decision record of a range of days.
import type { ExecutionListItem, SFNClient } from "@aws-sdk/client-sfn";
import { describe } from "./lib/approvalWorker";
import { UsageError, parseArgsWithOperands } from "./lib/args";
import { isAwsFailure, sfnClient } from "./lib/clients";
import { CliIO, PROCESS_IO, isProgram } from "./lib/cliIO";
import { reportFailure } from "./lib/failures";
import { sfnSdk } from "./lib/sdk";
import {
  ExecutionPosition,
  capacityLine,
  describeExecution,
  isRunning,
  parseJson,
  readPosition,
  requestLines,
  stageLabel,
  stageRows,
  workflowData,
} from "./lib/executionStatus";
import { alignedRows, approverList, cell, formatDuration, formatTime, safeCause, truncate } from "./lib/terminalFormat";
import {
  EXECUTION_ARN,
  WorkflowTarget,
  consoleLink,
  executionArnOf,
  resolveTarget,
  stageInfo,
  targetFromArn,
  targetFromStack,
} from "./lib/workflowTarget";
import { hasControlCharacters } from "../functions/contract";
import { DayRange, MAX_RANGE_DAYS, RecordBucket, parseRange, s3Client } from "./lib/auditExport";
import { ExportSink, fileSink, parseFormat, runExport, showFromRecord } from "./lib/auditExportCommand";
import { terminalSafe } from "./lib/requestView";
import { StackOutputError, readStackOutputs } from "./lib/stackOutputs";

/** Executions `list` shows by default, and at most (each costs a history read). */
const MAX_LISTED_DEFAULT = 50;
const MAX_LISTED_LIMIT = 1000;

const USAGE = `Usage: npm run approvals -- (--stack STACK | --state-machine-arn ARN) [list [--max N]]
       npm run approvals -- [--stack STACK | --state-machine-arn ARN | --bucket NAME] show EXECUTION
       npm run approvals -- (--stack STACK | --bucket NAME) export --from DAY --to DAY --format csv|json [--out FILE]

  list             (the default) the running executions, newest first: the stage each waits on,
                   for how long, and who can decide it
  show EXECUTION   one execution (its ARN, or its name with --stack or --state-machine-arn): status,
                   request, each stage's decision so far, and where it waits now. Once Step Functions
                   has forgotten it (90 days after it ends), from the decision record: the stack's
                   record bucket (or --bucket) is searched day by day for the execution's name
                   (--from/--to narrow the search); with --bucket alone, EXECUTION is its name
  export           the decision record written from --from to --to (UTC days, both included, at most
                   ${MAX_RANGE_DAYS} days), one row per stage decision and one per outcome, oldest first;
                   progress and unreadable records on stderr (docs/audit.md)
  --stack STACK            the approval workflow of this stack (reads its outputs, which also name
                           each stage's mechanism and approvers, and its record bucket; needs the Pulumi CLI)
  --state-machine-arn ARN  this state machine instead (mechanisms and approvers are then unknown)
  --bucket NAME            the decision record in this bucket (the stack output auditBucketName),
                           instead of --stack's
  --max N                  with list: list at most N executions, 1 to ${MAX_LISTED_LIMIT} (default ${MAX_LISTED_DEFAULT}); it says
                           how many more are running
  --from DAY, --to DAY     the UTC days (YYYY-MM-DD) of the records: export needs both; show searches
                           from the first day of the record to the last without them
  --format csv|json        export: CSV (a header row, fixed columns, RFC 4180, text that a spreadsheet
                           would run as a formula starts with ') or JSON (an array of the records as stored)
  --out FILE               export: write FILE (replaced when the export ends) instead of stdout
  --help                   this text

Exit codes: 0 done (also when the history of some executions could not be read: their stage shows
as '?', with the reason under the list); 1 export or show from the record: some records could not
be read or do not match their key (each named on stderr; the rest is written); 2 error (usage,
stack outputs, no record bucket, AWS).`;

let io: CliIO = PROCESS_IO;
const say = (text: string) => {
  io.out(`${text}\n`);
};
/** Histories read at the same time by `list`. */
const PARALLEL_READS = 4;

async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function titleOf(request: unknown): string {
  const title = (request as { title?: unknown } | undefined)?.title;
  return typeof title === "string" ? truncate(cell(title), 40) : "";
}

/** `--max N`: a whole number from 1 to MAX_LISTED_LIMIT. */
function maxOption(raw: string | undefined): number {
  if (raw === undefined) return MAX_LISTED_DEFAULT;
  const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(value >= 1 && value <= MAX_LISTED_LIMIT))
    throw new UsageError(`--max must be a whole number from 1 to ${MAX_LISTED_LIMIT}, got '${cell(raw)}'`);
  return value;
}

async function list(sfn: SFNClient, target: WorkflowTarget, max: number): Promise<number> {
  const running: ExecutionListItem[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(
      new (sfnSdk().ListExecutionsCommand)({
        stateMachineArn: target.stateMachineArn,
        statusFilter: "RUNNING",
        maxResults: 100,
        nextToken,
      }),
    );
    running.push(...(page.executions ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  if (running.length === 0) {
    say(`No execution of ${target.stateMachineName} (${target.region}) is running.`);
    return 0;
  }
  // Newest first (ListExecutions' order); the histories of the first `max` are read.
  const executions = running.slice(0, max);
  const nameOf = (execution: ExecutionListItem) => cell(execution.name ?? execution.executionArn!.split(":").pop());
  // One history that cannot be read (throttling, a permission) leaves its row unknown, not the list.
  const positions = await mapLimited(
    executions,
    PARALLEL_READS,
    async (e): Promise<ExecutionPosition | { unread: string }> => {
      try {
        return await readPosition(sfn, e.executionArn!);
      } catch (error) {
        if (!isAwsFailure(error)) throw error;
        return { unread: truncate(cell(describe(error)), 160) };
      }
    },
  );
  const now = Date.now();
  const rows = executions.map((execution, i) => {
    const position = positions[i];
    if ("unread" in position) return [nameOf(execution), "-", "?", "-", "-", "-"];
    const waiting = position.waiting;
    const info = waiting ? stageInfo(target, waiting.stage) : undefined;
    return [
      nameOf(execution),
      titleOf(position.request) || "-",
      waiting ? cell(waiting.stage) : "-",
      cell(info?.mechanism) || "-",
      waiting
        ? `${formatDuration(now - waiting.since.getTime())}${waiting.capacity ? `, for capacity (attempt ${waiting.capacity.attempts})` : ""}`
        : "-",
      info && info.approvers.length > 0 ? approverList(info.approvers) : "-",
    ];
  });
  const waitingCount = positions.filter((p) => "waiting" in p && p.waiting && !p.waiting.capacity).length;
  const capacityCount = positions.filter((p) => "waiting" in p && p.waiting?.capacity).length;
  const unread = executions.flatMap((execution, i) => {
    const position = positions[i];
    return "unread" in position ? [`? ${nameOf(execution)}: its history could not be read: ${position.unread}`] : [];
  });
  const counted = running.length > executions.length ? `; of the newest ${executions.length}, ` : ", ";
  say(
    `${running.length} running execution${running.length === 1 ? "" : "s"} of ${target.stateMachineName} (${target.region})${counted}${waitingCount} waiting for approval${capacityCount > 0 ? `, ${capacityCount} for capacity` : ""}${unread.length > 0 ? `, ${unread.length} not read` : ""}:`,
  );
  say("");
  say(alignedRows([["EXECUTION", "TITLE", "STAGE", "MECHANISM", "WAITING", "APPROVERS"], ...rows]).join("\n"));
  say("");
  if (unread.length > 0) say(`${unread.join("\n")}\n`);
  const left = running.length - executions.length;
  if (left > 0)
    say(
      `${left} more running execution${left === 1 ? " is" : "s are"} not listed (--max ${max}); raise --max to list them.\n`,
    );
  say(
    `Details: npm run approvals -- ${target.stack ? `--stack ${cell(target.stack)}` : `--state-machine-arn ${cell(target.stateMachineArn)}`} show EXECUTION`,
  );
  return 0;
}

/** Where `show` looks once Step Functions has forgotten an execution. */
interface RecordLookup {
  stack?: string;
  bucket?: string;
  range?: DayRange;
}

/** Bucket names: 3 to 63 lowercase letters, digits, dots and hyphens (S3 general purpose bucket naming rules). */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function bucketOption(raw: string): string {
  if (!BUCKET_NAME.test(raw))
    throw new UsageError(`--bucket '${cell(raw)}' is not an S3 bucket name (3 to 63 of a-z 0-9 . -)`);
  return raw;
}

const BUCKET_INSTEAD = "--bucket NAME, the record bucket (stack output auditBucketName)";

/** The stack's record bucket and Region; no bucket when its decision record is off. */
async function stackRecordBucket(stack: string): Promise<{ bucket?: string; region?: string }> {
  const outputs = await readStackOutputs(stack, BUCKET_INSTEAD);
  const bucket = outputs.auditBucketName;
  const region = outputs.region;
  return {
    bucket: typeof bucket === "string" && BUCKET_NAME.test(bucket) ? bucket : undefined,
    region: typeof region === "string" ? region : undefined,
  };
}

/** `show` from the decision record: its exit code, or why the record cannot tell. */
async function showRecorded(
  lookup: RecordLookup,
  name: string,
  executionArn: string | undefined,
  region: string | undefined,
): Promise<number | { missing: string }> {
  let bucket = lookup.bucket;
  if (!bucket && lookup.stack) {
    const outputs = await stackRecordBucket(lookup.stack);
    if (!outputs.bucket)
      return { missing: `stack '${cell(lookup.stack)}' keeps no decision record (it exports no auditBucketName)` };
    bucket = outputs.bucket;
    region = region ?? outputs.region;
  }
  if (!bucket) return { missing: "give --stack or --bucket to read it from the decision record" };
  const source: RecordBucket = { s3: s3Client(region), bucket };
  io.err(`approvals: reading the decision record in bucket ${cell(bucket)} for '${cell(name)}'\n`);
  const shown = await showFromRecord({
    source,
    name,
    executionArn,
    range: lookup.range,
    say,
    warn: (line) => io.err(`${line}\n`),
  });
  return shown === undefined
    ? {
        missing: `the decision record in bucket ${cell(bucket)} holds no record of it${lookup.range ? ` written from ${lookup.range.from} to ${lookup.range.to}` : ""}`,
      }
    : shown;
}

async function show(target: WorkflowTarget | undefined, execution: string, lookup: RecordLookup): Promise<number> {
  if (hasControlCharacters(execution))
    throw new UsageError(`show '${cell(execution)}': it holds control characters, which no execution ARN or name does`);
  if (!target && !EXECUTION_ARN.test(execution)) {
    if (!lookup.bucket)
      throw new UsageError(
        `show '${cell(execution)}': without --stack or --state-machine-arn, give the execution's ARN`,
      );
    // Only the record knows it: an execution name holds no ':' or '/' (Step Functions' naming rules).
    if (/[:/\s]/.test(execution))
      throw new UsageError(`show '${cell(execution)}' is neither an execution ARN nor an execution name`);
    const recorded = await showRecorded(lookup, execution, undefined, undefined);
    if (typeof recorded === "number") return recorded;
    throw new Error(`there is no execution named '${cell(execution)}': ${recorded.missing}`);
  }
  const executionArn = target ? executionArnOf(target, execution) : execution;
  const region = executionArn.split(":")[3];
  const sfn = sfnClient(region);
  let described: Awaited<ReturnType<typeof describeExecution>>;
  try {
    described = await describeExecution(sfn, executionArn);
  } catch (error) {
    if ((error as { name?: string }).name !== "ExecutionDoesNotExist") throw error;
    // Step Functions keeps an execution 90 days after it ends; the decision record keeps it for years.
    const recorded = await showRecorded(lookup, executionArn.split(":").pop()!, executionArn, region);
    if (typeof recorded === "number") return recorded;
    throw new Error(
      `there is no execution ${cell(executionArn)} (Step Functions forgets an execution 90 days after it ends); ${recorded.missing}`,
    );
  }
  const running = isRunning(described.status);
  const position: ExecutionPosition =
    described.status === "SUCCEEDED" ? { decisions: [] } : await readPosition(sfn, executionArn);
  const result = described.status === "SUCCEEDED" ? workflowData(parseJson(described.output)) : undefined;
  if (result) position.decisions = result.decisions;
  const input = parseJson(described.input);
  const request = typeof input === "object" && input !== null ? input : (result?.request ?? position.request);

  const now = Date.now();
  const start = described.startDate;
  const lines: Array<[string, string]> = [["Execution", cell(described.name ?? executionArn.split(":").pop())]];
  const started = start ? `, started ${formatTime(start)}` : "";
  if (running) {
    lines.push([
      "Status",
      `${cell(described.status)}${started}${start ? ` (${formatDuration(now - start.getTime())} ago)` : ""}`,
    ]);
  } else {
    const stop = described.stopDate;
    lines.push([
      "Status",
      `${cell(described.status)}${started}${stop ? `, ended ${formatTime(stop)}` : ""}${start && stop ? ` (took ${formatDuration(stop.getTime() - start.getTime())})` : ""}`,
    ]);
  }
  if (result?.decision) {
    const last = result.decisions[result.decisions.length - 1];
    const where =
      (result.decision === "rejected" || result.decision === "timed_out") && last
        ? ` at stage ${cell(last.stage)}`
        : "";
    // Only approved=true with an approving decision is an approval (as start-approval's exit code).
    const approving = result.decision === "approved" || result.decision === "auto_approved";
    const consistent = approving ? result.approved === true : result.approved === false;
    lines.push([
      "Decision",
      consistent
        ? `${cell(result.decision)}${where}`
        : `${cell(result.decision)}${where}, but approved is ${String(result.approved)}: not an approval`,
    ]);
  } else if (!running && described.status !== "SUCCEEDED") {
    const error = described.error ?? position.failure?.error;
    const cause = described.cause ?? position.failure?.cause;
    if (error) lines.push(["Error", safeCause(error)]);
    if (cause) lines.push(["Cause", safeCause(cause)]);
  }
  if (running && position.waiting) {
    const info = stageInfo(target, position.waiting.stage);
    const { capacity } = position.waiting;
    lines.push([
      "Waiting",
      capacity
        ? capacityLine(target, { stage: position.waiting.stage, capacity }, now)
        : `on ${stageLabel(position.waiting.stage, info)} for ${formatDuration(now - position.waiting.since.getTime())}, since ${formatTime(position.waiting.since)}`,
    ]);
    if (info && info.approvers.length > 0) lines.push(["Approvers", approverList(info.approvers, 20)]);
  } else if (running && position.state) {
    lines.push(["State", cell(position.state)]);
  }
  lines.push(...requestLines(request));
  lines.push(["ARN", cell(executionArn)], ["Console", cell(consoleLink(executionArn))]);
  say(alignedRows(lines).join("\n"));

  if (result?.decision === "auto_approved") {
    say("\nNo stage ran: the amount is below the auto-approval threshold.");
  } else if ((target?.stages.length ?? 0) > 0 || position.decisions.length > 0 || position.waiting) {
    say(`\nStages\n${stageRows(target, { decisions: position.decisions, at: position.waiting }, !running).join("\n")}`);
  }
  return 0;
}

async function command(argv: string[]): Promise<number> {
  const { values, flags, operands } = parseArgsWithOperands(argv, {
    values: ["stack", "state-machine-arn", "max", "bucket", "from", "to", "format", "out"],
    flags: ["help"],
  });
  if (flags.has("help")) {
    say(USAGE);
    return 0;
  }
  const [command = "list", ...rest] = operands;
  const only = (allowed: string[]) => {
    const other = Object.keys(values).find((option) => !allowed.includes(option));
    if (other) throw new UsageError(`--${other} does not go with ${command}`);
  };
  if (command === "export") {
    only(["stack", "bucket", "from", "to", "format", "out"]);
    if (rest.length > 0) throw new UsageError(`export takes no argument, got '${cell(rest.join(" "))}'`);
    const range = parseRange(values);
    const format = parseFormat(values.format);
    if (!values.stack === !values.bucket)
      throw new UsageError("export reads the decision record of --stack STACK or of --bucket NAME: give one of them");
    let bucket = values.bucket === undefined ? undefined : bucketOption(values.bucket);
    let region: string | undefined;
    if (values.stack) {
      ({ bucket, region } = await stackRecordBucket(values.stack));
      if (!bucket)
        throw new StackOutputError(
          `stack '${cell(values.stack)}' exports no auditBucketName: its decision record is off (sfn-approvals:audit) or not deployed yet ('pulumi up'); or pass --bucket NAME`,
        );
    }
    // A CSV cell may hold escape sequences: a terminal gets them removed, a file or a pipe gets the text.
    const terminal = io === PROCESS_IO && process.stdout.isTTY === true;
    const sink: ExportSink = values.out
      ? fileSink(values.out)
      : { write: (text) => io.out(terminal ? terminalSafe(text) : text), finish: () => undefined, describe: "stdout" };
    return runExport({
      source: { s3: s3Client(region), bucket: bucket! },
      range,
      format,
      sink,
      progress: (line) => io.err(`${line}\n`),
    });
  }
  if (command === "list") {
    only(["stack", "state-machine-arn", "max"]);
    if (rest.length > 0) throw new UsageError(`list takes no argument, got '${cell(rest.join(" "))}'`);
    const max = maxOption(values.max);
    const target = await resolveTarget(values);
    return list(sfnClient(target.region), target, max);
  }
  if (command === "show") {
    if (values.max !== undefined) throw new UsageError("--max goes with list");
    only(["stack", "state-machine-arn", "bucket", "from", "to"]);
    if (rest.length !== 1)
      throw new UsageError("show needs one execution: its ARN, or its name with --stack or --state-machine-arn");
    if (values.stack && values["state-machine-arn"])
      throw new UsageError("give either --stack or --state-machine-arn, not both");
    if (values.stack && values.bucket)
      throw new UsageError("--bucket replaces the record bucket of --stack: give --stack or --bucket");
    const lookup: RecordLookup = {
      stack: values.stack,
      bucket: values.bucket === undefined ? undefined : bucketOption(values.bucket),
      range: values.from !== undefined || values.to !== undefined ? parseRange(values) : undefined,
    };
    const target = values.stack
      ? await targetFromStack(values.stack)
      : values["state-machine-arn"]
        ? targetFromArn(values["state-machine-arn"])
        : undefined;
    return show(target, rest[0], lookup);
  }
  throw new UsageError(`unknown command '${cell(command)}' (list, show or export)`);
}

/** The command with its arguments; it prints to `through` (the terminal, or a test's buffers) and returns the exit code. */
export async function main(argv: string[], through: CliIO = PROCESS_IO): Promise<number> {
  io = through;
  try {
    return await command(argv);
  } catch (error) {
    return reportFailure("approvals", error, USAGE, through.err);
  } finally {
    io = PROCESS_IO;
  }
}

if (isProgram(__filename)) main(process.argv.slice(2)).then((code) => process.exit(code));
