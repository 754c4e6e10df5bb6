// Reads the decision record (functions/auditRecord.ts) back from the stack's S3 bucket: the days
// that hold records, the records of a day or of one execution, each parsed and checked against its
// key. `approvals export` and `approvals show` (once the execution history is gone) use it.
// A record that cannot be read is reported with its key and problem, never skipped silently.
import type * as S3Module from "@aws-sdk/client-s3";
import type { S3Client } from "@aws-sdk/client-s3";
import { AUDIT_RECORDS_PREFIX, AuditRecord, auditDatePrefix, parseAuditRecord } from "../../functions/auditRecord";
import { UsageError } from "./args";
import { AwsCallError } from "./failures";
import { cell } from "./terminalFormat";

/* eslint-disable-next-line @typescript-eslint/no-require-imports */
const s3Sdk = (): typeof S3Module => require("@aws-sdk/client-s3");

/** Days one export or search may span at most (ten years and a few leap days). */
export const MAX_RANGE_DAYS = 3660;
/** Objects read at the same time. */
export const PARALLEL_READS = 8;
/** A record holds the request (an execution input is at most 256 KiB) and a few fields: anything far larger is not one. */
export const MAX_RECORD_BYTES = 1024 * 1024;
const DAY_MS = 86400000;

export interface DayRange {
  from: string;
  to: string;
}

/** `--from`/`--to`: a UTC day of the calendar, YYYY-MM-DD. */
export function parseDay(option: string, raw: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(raw))
    throw new UsageError(`--${option} must be a UTC day written YYYY-MM-DD, got '${cell(raw)}'`);
  const date = new Date(`${raw}T00:00:00Z`);
  if (Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== raw)
    throw new UsageError(`--${option} ${raw} is not a day of the calendar`);
  return raw;
}

/** Days from `from` to `to`, both included. */
export function dayCount(range: DayRange): number {
  return Math.round((Date.parse(`${range.to}T00:00:00Z`) - Date.parse(`${range.from}T00:00:00Z`)) / DAY_MS) + 1;
}

/** `--from` and `--to` as a range: both days valid, from <= to, at most MAX_RANGE_DAYS days. */
export function parseRange(values: Record<string, string>): DayRange {
  if (values.from === undefined || values.to === undefined)
    throw new UsageError("give the UTC days of the records: --from YYYY-MM-DD --to YYYY-MM-DD (both included)");
  const range = { from: parseDay("from", values.from), to: parseDay("to", values.to) };
  if (range.from > range.to) throw new UsageError(`--from ${range.from} is after --to ${range.to}`);
  const days = dayCount(range);
  if (days > MAX_RANGE_DAYS)
    throw new UsageError(
      `--from ${range.from} --to ${range.to} spans ${days} days; one run reads at most ${MAX_RANGE_DAYS}: split it`,
    );
  return range;
}

/** The S3 client of the record readers: short calls with the SDK's retries, following a bucket to its Region. */
export function s3Client(region: string | undefined): S3Client {
  return new (s3Sdk().S3Client)({
    ...(region ? { region } : {}),
    followRegionRedirects: true,
    ...(process.env.AWS_MAX_ATTEMPTS ? {} : { maxAttempts: 4 }),
    requestHandler: { requestTimeout: 30000, connectionTimeout: 5000 },
  });
}

export interface RecordBucket {
  s3: S3Client;
  bucket: string;
}

interface ListedObject {
  key: string;
  size?: number;
}

/**
 * Every page of a listing: S3 returns at most 1,000 entries a page and says IsTruncated=true with a
 * NextContinuationToken for the next (ListObjectsV2Output in @aws-sdk/client-s3's
 * dist-types/models/models_0.d.ts), which goes back as ContinuationToken.
 */
async function listAll(
  source: RecordBucket,
  input: { Prefix: string; Delimiter?: string; StartAfter?: string },
  /** Takes a page; false stops the listing. */
  page: (objects: ListedObject[], prefixes: string[]) => boolean,
): Promise<void> {
  let token: string | undefined;
  for (;;) {
    let answer: S3Module.ListObjectsV2CommandOutput;
    try {
      answer = await source.s3.send(
        new (s3Sdk().ListObjectsV2Command)({ Bucket: source.bucket, ...input, ContinuationToken: token }),
      );
    } catch (error) {
      throw bucketError(source, error);
    }
    const objects = (answer.Contents ?? []).flatMap((o) => (o.Key ? [{ key: o.Key, size: o.Size }] : []));
    const prefixes = (answer.CommonPrefixes ?? []).flatMap((p) => (p.Prefix ? [p.Prefix] : []));
    if (!page(objects, prefixes) || !answer.IsTruncated) return;
    if (!answer.NextContinuationToken)
      throw new Error(`S3 said the listing of ${cell(input.Prefix)} goes on but gave no NextContinuationToken`);
    token = answer.NextContinuationToken;
  }
}

/** A missing bucket in words; any other S3 failure as the CLIs say it (scripts/lib/failures.ts). */
function bucketError(source: RecordBucket, error: unknown): Error {
  if ((error as { name?: string }).name === "NoSuchBucket")
    return new Error(
      `S3 has no bucket '${cell(source.bucket)}': check the name (the stack output auditBucketName) and the account`,
    );
  return new AwsCallError("S3", error);
}

/** The days holding records, in order, within `range` when given (one request per 1,000 days). */
export async function listRecordDays(source: RecordBucket, range?: DayRange): Promise<string[]> {
  const days: string[] = [];
  await listAll(
    source,
    {
      Prefix: AUDIT_RECORDS_PREFIX,
      Delimiter: "/",
      // "records/2026-01-01" sorts just before that day's prefix "records/2026-01-01/".
      ...(range ? { StartAfter: `${AUDIT_RECORDS_PREFIX}${range.from}` } : {}),
    },
    (_objects, prefixes) => {
      for (const prefix of prefixes) {
        const day = prefix.slice(AUDIT_RECORDS_PREFIX.length, -1);
        if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) continue;
        if (range && day > range.to) return false;
        if (!range || day >= range.from) days.push(day);
      }
      return true;
    },
  );
  return days.sort();
}

async function listObjects(source: RecordBucket, prefix: string): Promise<ListedObject[]> {
  const objects: ListedObject[] = [];
  await listAll(source, { Prefix: prefix }, (page) => {
    objects.push(...page);
    return true;
  });
  return objects;
}

export type ReadRecord =
  { key: string; stored: string; record: AuditRecord; mismatch?: string } | { key: string; problem: string };

/** Whether a record sits where the workflow writes it: its day and execution name in its key. */
export function keyMismatch(key: string, record: AuditRecord): string | undefined {
  const [, day, name] = key.split("/");
  const recordedDay = new Date(record.recordedAt).toISOString().slice(0, 10);
  if (recordedDay !== day) return `its recordedAt (${cell(record.recordedAt)}) is not on its key's day ${cell(day)}`;
  if (record.execution.name !== name)
    return `its execution name '${cell(record.execution.name)}' is not its key's '${cell(name)}'`;
  return undefined;
}

async function readRecord(source: RecordBucket, object: ListedObject): Promise<ReadRecord> {
  const { key } = object;
  if (object.size !== undefined && object.size > MAX_RECORD_BYTES)
    return { key, problem: `${object.size} bytes, too large for a record (at most ${MAX_RECORD_BYTES})` };
  let stored: string;
  try {
    const answer = await source.s3.send(new (s3Sdk().GetObjectCommand)({ Bucket: source.bucket, Key: key }));
    stored = (await answer.Body?.transformToString("utf-8")) ?? "";
  } catch (error) {
    // Listed a moment ago, gone now: a delete marker hides it (its locked versions stay in the bucket).
    if ((error as { name?: string }).name === "NoSuchKey")
      return { key, problem: "listed, but GetObject says NoSuchKey (deleted since: see its versions)" };
    throw bucketError(source, error);
  }
  const parsed = parseAuditRecord(stored);
  if ("problem" in parsed) return { key, problem: parsed.problem };
  const mismatch = keyMismatch(key, parsed.record);
  return { key, stored, record: parsed.record, ...(mismatch ? { mismatch } : {}) };
}

export async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
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

/** The record order of every output: recordedAt, then execution ARN, then key. */
export function compareRecords(
  a: { key: string; record: AuditRecord },
  b: { key: string; record: AuditRecord },
): number {
  return (
    Date.parse(a.record.recordedAt) - Date.parse(b.record.recordedAt) ||
    (a.record.execution.arn < b.record.execution.arn ? -1 : a.record.execution.arn > b.record.execution.arn ? 1 : 0) ||
    (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
  );
}

/** The records written on one UTC day: the readable ones in record order, and the problems. */
export async function readDay(
  source: RecordBucket,
  day: string,
): Promise<{
  records: Extract<ReadRecord, { record: AuditRecord }>[];
  problems: Extract<ReadRecord, { problem: string }>[];
}> {
  const objects = await listObjects(source, auditDatePrefix(day));
  const read = await mapLimited(objects, PARALLEL_READS, (object) => readRecord(source, object));
  return {
    records: read.filter((r): r is Extract<ReadRecord, { record: AuditRecord }> => "record" in r).sort(compareRecords),
    problems: read.filter((r): r is Extract<ReadRecord, { problem: string }> => "problem" in r),
  };
}

/**
 * The records of the executions named `name`, wherever they are: the key holds the day before the
 * name, so each day holding records (within `range` when given) is asked for its `<name>/` prefix.
 * One LIST request per such day; `progress` hears how far the search is.
 */
export async function findExecutionRecords(
  source: RecordBucket,
  name: string,
  range: DayRange | undefined,
  progress: (searched: number, days: number) => void,
): Promise<{ read: ReadRecord[]; days: number }> {
  const days = await listRecordDays(source, range);
  let searched = 0;
  const found = await mapLimited(days, PARALLEL_READS, async (day) => {
    const objects = await listObjects(source, `${auditDatePrefix(day)}${name}/`);
    searched++;
    progress(searched, days.length);
    return objects;
  });
  const read = await mapLimited(found.flat(), PARALLEL_READS, (object) => readRecord(source, object));
  return { read, days: days.length };
}
