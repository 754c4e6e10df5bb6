// `approvals export` (the records written between two UTC days, as CSV or JSON) and `approvals
// show` from the decision record once Step Functions has forgotten the execution.
import { closeSync, openSync, renameSync, statSync, unlinkSync, writeSync } from "fs";
import { AuditRecord, DecisionRecord, OutcomeRecord } from "../../functions/auditRecord";
import { UsageError } from "./args";
import {
  DayRange,
  ReadRecord,
  RecordBucket,
  compareRecords,
  dayCount,
  findExecutionRecords,
  listRecordDays,
  readDay,
} from "./auditExport";
import { CSV_HEADER, csvRecordLine, jsonRecordText } from "./auditExportFormat";
import { RecordedDecision, requestLines, stageRows } from "./executionStatus";
import { alignedRows, approverList, cell, formatTime, safeCause } from "./terminalFormat";

/** Exit codes of export (and of show from the record): every record read, some not, or no export at all. */
export const EXIT_ALL_EXPORTED = 0;
export const EXIT_SOME_UNREADABLE = 1;

export type ExportFormat = "csv" | "json";

export function parseFormat(raw: string | undefined): ExportFormat {
  if (raw === "csv" || raw === "json") return raw;
  throw new UsageError(
    raw === undefined ? "export needs --format csv or --format json" : `--format is csv or json, got '${cell(raw)}'`,
  );
}

/** Where the export goes: a file written whole under FILE.partial and renamed at the end, or stdout. */
export interface ExportSink {
  write(text: string): void;
  /** Keeps the output (true) or drops a half-written file (false). */
  finish(keep: boolean): void;
  describe: string;
}

/** Signals that end an export before its end (Ctrl-C, kill). */
const INTERRUPTS: NodeJS.Signals[] = ["SIGINT", "SIGTERM"];

export function fileSink(path: string): ExportSink {
  let isDirectory = false;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch {
    // Not there yet: the export creates it.
  }
  if (isDirectory) throw new UsageError(`--out ${cell(path)} is a directory; name a file`);
  const partial = `${path}.partial`;
  const fd = openSync(partial, "w");
  let open = true;
  const finish = (keep: boolean) => {
    if (!open) return;
    open = false;
    for (const signal of INTERRUPTS) process.off(signal, interrupted);
    closeSync(fd);
    if (keep) renameSync(partial, path);
    else unlinkSync(partial);
  };
  // Ctrl-C or kill while writing: drop the half-written file, then die of the signal as without a
  // listener (Node's default for SIGINT and SIGTERM is to exit; raised again once ours is gone).
  function interrupted(signal: NodeJS.Signals) {
    try {
      finish(false);
    } catch {
      // Already gone: nothing to remove.
    }
    process.kill(process.pid, signal);
  }
  for (const signal of INTERRUPTS) process.on(signal, interrupted);
  return {
    write: (text) => {
      writeSync(fd, text);
    },
    finish,
    describe: cell(path),
  };
}

export interface ExportRun {
  source: RecordBucket;
  range: DayRange;
  format: ExportFormat;
  sink: ExportSink;
  /** Progress and problems, a line at a time (stderr). */
  progress: (line: string) => void;
}

const plural = (n: number, word: string) => `${n.toLocaleString("en-US")} ${word}${n === 1 ? "" : "s"}`;

/**
 * Writes the records written from `range.from` to `range.to` (UTC days, both included), day by day
 * in record order. Returns 0 when every record was exported, 1 when some could not be read (each
 * reported with its key and problem) or do not match their key (exported, and reported).
 */
export async function runExport(run: ExportRun): Promise<number> {
  const { source, range, format, sink, progress } = run;
  let kept = false;
  try {
    progress(
      `export: records written from ${range.from} to ${range.to} (UTC, ${plural(dayCount(range), "day")}) in bucket ${cell(source.bucket)}`,
    );
    const days = await listRecordDays(source, range);
    progress(`export: ${plural(days.length, "day")} of the range ${days.length === 1 ? "holds" : "hold"} records`);
    sink.write(format === "csv" ? CSV_HEADER : "[");
    let exported = 0;
    let decisions = 0;
    let unreadable = 0;
    let mismatched = 0;
    for (const [i, day] of days.entries()) {
      const { records, problems } = await readDay(source, day);
      for (const problem of problems)
        progress(`export: UNREADABLE ${cell(problem.key)}: ${cell(problem.problem)}; it is NOT in the export`);
      for (const { key, stored, record, mismatch } of records) {
        if (mismatch) {
          progress(`export: MISPLACED ${cell(key)}: ${mismatch}; it is in the export`);
          mismatched++;
        }
        sink.write(
          format === "csv" ? csvRecordLine(record, key) : `${exported === 0 ? "\n" : ",\n"}${jsonRecordText(stored)}`,
        );
        exported++;
        if (record.kind === "decision") decisions++;
      }
      unreadable += problems.length;
      progress(
        `export: ${day}: ${plural(records.length, "record")}${problems.length > 0 ? `, ${problems.length} unreadable` : ""} (day ${i + 1} of ${days.length}; ${exported.toLocaleString("en-US")} exported so far)`,
      );
    }
    if (format === "json") sink.write(exported === 0 ? "]\n" : "\n]\n");
    sink.finish(true);
    kept = true;
    progress(
      `export: ${plural(exported, "record")} (${plural(decisions, "decision")}, ${plural(exported - decisions, "outcome")}) written to ${sink.describe}`,
    );
    if (unreadable + mismatched === 0) return EXIT_ALL_EXPORTED;
    const problems = [
      ...(unreadable > 0
        ? [`${plural(unreadable, "record")} could not be read and ${unreadable === 1 ? "is" : "are"} NOT in the export`]
        : []),
      ...(mismatched > 0
        ? [
            `${plural(mismatched, "record")} ${mismatched === 1 ? "does not match its key" : "do not match their keys"} (exported)`,
          ]
        : []),
    ];
    progress(`export: ${problems.join("; ")}: see the lines above (exit code 1)`);
    return EXIT_SOME_UNREADABLE;
  } finally {
    if (!kept) sink.finish(false);
  }
}

type Readable = Extract<ReadRecord, { record: AuditRecord }>;

function asDecision(record: DecisionRecord): RecordedDecision {
  return {
    stage: record.stage,
    decision: record.decision,
    mechanism: record.mechanism,
    approver: record.approver,
    ...(typeof record.approverName === "string" ? { approverName: record.approverName } : {}),
    comment: record.comment,
    decidedAt: record.decidedAt,
  };
}

/** One execution's records as `show` prints them. */
function executionLines(records: Readable[], bucket: string): string[] {
  const first = records[0].record;
  const outcome = [...records].reverse().find((r) => r.record.kind === "outcome")?.record as OutcomeRecord | undefined;
  const decisions = records.flatMap((r) => (r.record.kind === "decision" ? [r.record] : []));
  const started = new Date(first.execution.startedAt);
  const lines: Array<[string, string]> = [
    ["Execution", cell(first.execution.name)],
    [
      "Status",
      `${outcome ? "ended" : "no outcome recorded"}${Number.isNaN(started.getTime()) ? "" : `, started ${formatTime(started)}`}${outcome ? `, outcome recorded ${formatTime(new Date(outcome.recordedAt))}` : ""}`,
    ],
  ];
  if (outcome) {
    const last = outcome.stages[outcome.stages.length - 1] as { stage?: unknown } | undefined;
    const where =
      (outcome.outcome === "rejected" || outcome.outcome === "timed_out") && typeof last?.stage === "string"
        ? ` at stage ${cell(last.stage)}`
        : "";
    lines.push(["Decision", `${cell(outcome.outcome)}${where}`]);
    if (outcome.error) lines.push(["Error", safeCause(outcome.error)]);
  }
  lines.push(["Version", cell(first.workflowVersion)]);
  lines.push(...requestLines(first.request));
  lines.push(
    ["ARN", cell(first.execution.arn)],
    ["Source", `the decision record, ${plural(records.length, "record")} in bucket ${cell(bucket)}`],
  );
  const out = [alignedRows(lines).join("\n")];
  if (outcome?.outcome === "auto_approved")
    out.push("\nNo stage ran: the amount was below the auto-approval threshold.");
  else if (decisions.length > 0) {
    out.push(`\nStages\n${stageRows(undefined, { decisions: decisions.map(asDecision) }, true).join("\n")}`);
    const approvers = [...new Map(decisions.map((d) => [d.stage, d.approvers])).entries()];
    out.push(
      `\nApprovers in the version that ran\n${alignedRows(
        approvers.map(([stage, list]) => [cell(stage), list.length > 0 ? approverList(list, 20) : "-"]),
        "  ",
      ).join("\n")}`,
    );
  }
  return out;
}

export interface RecordShow {
  source: RecordBucket;
  /** The execution's name, and its ARN when known (records of another ARN are left out, and said so). */
  name: string;
  executionArn?: string;
  range?: DayRange;
  say: (text: string) => void;
  warn: (line: string) => void;
}

/**
 * Shows an execution from its records: each execution of that name (a name is free again 90 days
 * after an execution ends) apart, oldest first. Returns undefined when the record holds none.
 */
export async function showFromRecord(show: RecordShow): Promise<number | undefined> {
  const { source, name, executionArn, say, warn } = show;
  const every = 250;
  const { read, days } = await findExecutionRecords(source, name, show.range, (searched, total) => {
    if (searched % every === 0 && searched < total)
      warn(`approvals: searched ${searched} of ${total} days of the decision record for '${cell(name)}'`);
  });
  const problems = read.filter((r): r is Extract<ReadRecord, { problem: string }> => "problem" in r);
  const readable = read.filter((r): r is Readable => "record" in r);
  const mine = readable.filter((r) => !executionArn || r.record.execution.arn === executionArn);
  const others = readable.length - mine.length;
  if (mine.length === 0 && problems.length === 0) {
    if (others > 0)
      warn(
        `approvals: the decision record holds ${plural(others, "record")} of executions named '${cell(name)}' of another state machine`,
      );
    return undefined;
  }
  const executions = new Map<string, Readable[]>();
  for (const r of mine.sort(compareRecords)) {
    const id = `${r.record.execution.arn}\n${r.record.execution.startedAt}`;
    executions.set(id, [...(executions.get(id) ?? []), r]);
  }
  const groups = [...executions.values()];
  say(
    `The execution history of '${cell(name)}' is gone (Step Functions keeps it 90 days after an execution ends); from the decision record (${plural(days, "day")} searched):`,
  );
  for (const [i, records] of groups.entries()) {
    if (groups.length > 1) say(`\n[${i + 1} of ${groups.length}: executions of one name, started at different times]`);
    say(`\n${executionLines(records, source.bucket).join("\n")}`);
  }
  for (const r of mine) if (r.mismatch) warn(`approvals: MISPLACED ${cell(r.key)}: ${r.mismatch}`);
  for (const problem of problems) warn(`approvals: UNREADABLE ${cell(problem.key)}: ${cell(problem.problem)}`);
  if (others > 0)
    warn(
      `approvals: ${plural(others, "record")} of executions named '${cell(name)}' of another state machine not shown`,
    );
  if (problems.length > 0) {
    warn(`approvals: ${plural(problems.length, "record")} of this execution could not be read (exit code 1)`);
    return EXIT_SOME_UNREADABLE;
  }
  return mine.some((r) => r.mismatch) ? EXIT_SOME_UNREADABLE : EXIT_ALL_EXPORTED;
}
