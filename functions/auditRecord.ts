// The decision record (docs/audit.md): one JSON object per stage decision and per final outcome,
// written by the workflow itself (an S3 PutObject SDK integration) into the stack's Object Lock
// bucket, and read back by `npm run approvals -- export`. Plain TypeScript with no Pulumi import.
import { MECHANISMS, Mechanism, StageDecision, StageDecisionKind, WorkflowDecisionKind } from "./contract";

export const AUDIT_RECORD_SCHEMA = "sfn-approvals.audit-record.v1";
/** Every record's key starts with this, then the UTC date it was written: records/2026-12-02/... */
export const AUDIT_RECORDS_PREFIX = "records/";

/** How a request ended: the workflow's own decision, or `failed` (a malformed request or answer, a broken stage). */
export type AuditOutcome = WorkflowDecisionKind | "failed";
export const AUDIT_OUTCOMES: readonly AuditOutcome[] = ["approved", "rejected", "timed_out", "auto_approved", "failed"];

interface AuditRecordBase {
  schema: typeof AUDIT_RECORD_SCHEMA;
  /** When the workflow wrote the record (the recording state's entered time, ISO 8601 UTC). */
  recordedAt: string;
  execution: {
    arn: string;
    name: string;
    startedAt: string;
    /** The state machine the execution ran ($$.StateMachine.Id). */
    stateMachine: string;
  };
  /** Digest of the workflow's stages, their states and approver lists (the stack output `workflowVersion`). */
  workflowVersion: string;
  /** The request as submitted (the execution input). */
  request: unknown;
}

/** One stage's decision, as the workflow accepted it. */
export interface DecisionRecord extends AuditRecordBase {
  kind: "decision";
  stage: string;
  mechanism: Mechanism;
  /** The stage's approvers in the version that ran (IAM ARNs, email addresses or topic subscribers' addresses). */
  approvers: string[];
  decision: StageDecisionKind;
  approved: boolean;
  approver: string | null;
  /** slack only, absent in other records (and in records written before it existed): the decider's name as Slack shows it. */
  approverName?: string | null;
  /** slack only: the decider's workspace (team) ID. */
  approverTeam?: string | null;
  comment: string | null;
  decidedAt: string;
}

/** How the request ended. */
export interface OutcomeRecord extends AuditRecordBase {
  kind: "outcome";
  outcome: AuditOutcome;
  approved: boolean;
  /** The stage decisions made before the end, in stage order (none when auto-approved). */
  stages: StageDecision[];
  /** With outcome `failed`: the error the execution fails with (its cause stays in the execution history). */
  error?: string;
}

export type AuditRecord = DecisionRecord | OutcomeRecord;

/** The key prefix of the records written on one UTC day (YYYY-MM-DD). */
export function auditDatePrefix(day: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new Error(`'${day}' is not a day (YYYY-MM-DD)`);
  return `${AUDIT_RECORDS_PREFIX}${day}/`;
}

/**
 * The key the workflow writes a record under: records/<day>/<execution name>/<recordedAt>-<what>.json,
 * where <what> is `decision-<stage>` or `outcome`. The time in the key makes every write a new object,
 * so a redriven execution or a reused execution name never replaces a record.
 */
export function auditRecordKey(args: { recordedAt: string; executionName: string; what: string }): string {
  return `${AUDIT_RECORDS_PREFIX}${args.recordedAt.slice(0, 10)}/${args.executionName}/${args.recordedAt}-${args.what}.json`;
}

const isString = (v: unknown): v is string => typeof v === "string";
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Reads one stored record; a record that is not whole is reported, never guessed at. */
export function parseAuditRecord(text: string): { record: AuditRecord } | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { problem: "not JSON" };
  }
  if (!isObject(value)) return { problem: "not a JSON object" };
  if (value.schema !== AUDIT_RECORD_SCHEMA) return { problem: `schema is not ${AUDIT_RECORD_SCHEMA}` };
  const execution = value.execution;
  if (!isObject(execution) || !["arn", "name", "startedAt", "stateMachine"].every((k) => isString(execution[k])))
    return { problem: "execution is not whole (arn, name, startedAt, stateMachine)" };
  if (!isString(value.recordedAt) || Number.isNaN(Date.parse(value.recordedAt)))
    return { problem: "recordedAt is not a time" };
  if (!isString(value.workflowVersion)) return { problem: "workflowVersion is missing" };
  if (typeof value.approved !== "boolean") return { problem: "approved is not a boolean" };
  if (value.kind === "decision") {
    if (!isString(value.stage) || !(MECHANISMS as readonly unknown[]).includes(value.mechanism))
      return { problem: "stage or mechanism is missing" };
    if (!["approved", "rejected", "timed_out"].includes(value.decision as string))
      return { problem: "decision is not approved, rejected or timed_out" };
    if (value.approved !== (value.decision === "approved")) return { problem: "approved and decision disagree" };
    if (!Array.isArray(value.approvers) || !value.approvers.every(isString))
      return { problem: "approvers is not a list" };
    // null reads as absent: the record state leaves the key out, but a JSONata that wrote null for an
    // undefined value (docs/unknowns.md) must not make every timed-out slack record unreadable.
    for (const field of ["approverName", "approverTeam"])
      if (field in value && value[field] !== null && !isString(value[field]))
        return { problem: `${field} is not text` };
    return { record: value as unknown as DecisionRecord };
  }
  if (value.kind === "outcome") {
    if (!AUDIT_OUTCOMES.includes(value.outcome as AuditOutcome)) return { problem: "outcome is not known" };
    if (value.approved !== (value.outcome === "approved" || value.outcome === "auto_approved"))
      return { problem: "approved and outcome disagree" };
    if (!Array.isArray(value.stages)) return { problem: "stages is not a list" };
    return { record: value as unknown as OutcomeRecord };
  }
  return { problem: "kind is not decision or outcome" };
}
