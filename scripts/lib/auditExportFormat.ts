// The two shapes of `approvals export`: CSV (one row per record, fixed columns, RFC 4180) and JSON
// (an array of the records as stored). docs/audit.md describes the columns.
import { AuditRecord } from "../../functions/auditRecord";

/**
 * The CSV header, in the fixed column order; `decision` holds the outcome on an outcome row. A column
 * added later goes at the end, so no column ever moves.
 */
export const CSV_COLUMNS = [
  "execution_name",
  "execution_arn",
  "recorded_at",
  "kind",
  "stage",
  "mechanism",
  "decision",
  "approved",
  "approver",
  "comment",
  "decided_at",
  "request_title",
  "request_id",
  "requester",
  "amount",
  "currency",
  "workflow_version",
  "stage_approvers",
  "error",
  "record_key",
  "approver_name",
  "approver_team",
] as const;

/**
 * Text a spreadsheet would read as a formula gets a leading apostrophe, which spreadsheets take as
 * "this cell is text" and do not show (OWASP ASVS 5.0 V1.2.10: = + - @ tab NUL; OWASP's CSV
 * Injection page adds CR). Only text cells: numbers and booleans the export writes itself are safe.
 */
const FORMULA_START = /^[=+\-@\t\r\0]/;

/** A text cell, guarded against formula injection. */
export function textCell(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

/** RFC 4180 section 2: a field holding a comma, a double quote, CR or LF is quoted, its quotes doubled. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** One CSV line (RFC 4180 ends every line with CRLF). */
export function csvLine(fields: string[]): string {
  return `${fields.map(csvField).join(",")}\r\n`;
}

export const CSV_HEADER = csvLine([...CSV_COLUMNS]);

/** A value of the submitted request (user text), as a cell: text guarded, a number as written, anything else as JSON. */
function requestCell(request: unknown, field: string): string {
  const value =
    typeof request === "object" && request !== null ? (request as Record<string, unknown>)[field] : undefined;
  if (value === undefined || value === null) return "";
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return textCell(typeof value === "string" ? value : JSON.stringify(value));
}

const text = (value: unknown) => (typeof value === "string" ? textCell(value) : "");

/** The CSV line of one record stored under `key`. */
export function csvRecordLine(record: AuditRecord, key: string): string {
  const decision = record.kind === "decision";
  const cells: Record<(typeof CSV_COLUMNS)[number], string> = {
    execution_name: text(record.execution.name),
    execution_arn: text(record.execution.arn),
    recorded_at: text(record.recordedAt),
    kind: record.kind,
    stage: decision ? text(record.stage) : "",
    mechanism: decision ? text(record.mechanism) : "",
    decision: decision ? text(record.decision) : text(record.outcome),
    approved: String(record.approved),
    approver: decision ? text(record.approver) : "",
    comment: decision ? text(record.comment) : "",
    decided_at: decision ? text(record.decidedAt) : "",
    request_title: requestCell(record.request, "title"),
    request_id: requestCell(record.request, "requestId"),
    requester: requestCell(record.request, "requester"),
    amount: requestCell(record.request, "amount"),
    currency: requestCell(record.request, "currency"),
    workflow_version: text(record.workflowVersion),
    // IAM ARNs and email addresses hold no "; " (a list in one cell a spreadsheet shows whole).
    stage_approvers: decision ? textCell(record.approvers.join("; ")) : "",
    error: decision ? "" : text(record.error),
    record_key: textCell(key),
    // slack decisions only; empty for other mechanisms and for records written before these fields.
    approver_name: decision ? text(record.approverName) : "",
    approver_team: decision ? text(record.approverTeam) : "",
  };
  return csvLine(CSV_COLUMNS.map((column) => cells[column]));
}

/**
 * A record's stored text for the JSON array: the same JSON with DEL, the C1 controls, the bidi
 * controls and the Unicode line separators written as \u escapes (valid JSON holds them only inside
 * strings, where the escape means the same character), so the export is safe to print.
 */
export function jsonRecordText(stored: string): string {
  return stored.trim().replace(/[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
  });
}
