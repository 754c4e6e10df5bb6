// Plain-text formatting of the operating commands: times, durations, amounts and aligned columns.
// Every cell is made terminal-safe and one line, whatever it came from.
import { redactText } from "../../functions/shared/redact";
import { terminalSafe } from "./requestView";

/** A table cell or inline value: no control characters or escape sequences, no line breaks. */
export function cell(value: unknown): string {
  if (value === null || value === undefined) return "";
  const text = typeof value === "string" ? value : String(value);
  return terminalSafe(text).replace(/\s+/g, " ").trim();
}

/** Cuts a one-line text to `max` characters, marking the cut. */
export function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** 2026-11-22 10:00:03 UTC */
export function formatTime(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** 45s, 3m 05s, 2h 05m, 3d 4h */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const pad = (n: number) => String(n).padStart(2, "0");
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${pad(seconds % 60)}s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ${pad(Math.floor(seconds / 60) % 60)}m`;
  return `${Math.floor(seconds / 86400)}d ${Math.floor(seconds / 3600) % 24}h`;
}

/** 750.50 USD */
export function formatAmount(amount: number, currency?: unknown): string {
  const number = amount.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  return typeof currency === "string" && currency !== "" ? `${number} ${cell(currency)}` : number;
}

/** Rows as aligned columns (two spaces apart); the last column is not padded. */
export function alignedRows(rows: string[][], indent = ""): string[] {
  const columns = Math.max(0, ...rows.map((r) => r.length));
  const widths = Array.from({ length: columns }, (_, i) => Math.max(0, ...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((row) =>
    (indent + row.map((value, i) => (i === row.length - 1 ? value : value.padEnd(widths[i]))).join("  ")).trimEnd(),
  );
}

/** A list of approvers for one line: the first few, then how many more. */
export function approverList(approvers: string[], shown = 5): string {
  const names = approvers.map(cell);
  return names.length <= shown
    ? names.join(", ")
    : `${names.slice(0, shown).join(", ")} and ${names.length - shown} more`;
}

/**
 * An error cause for the terminal: one line, at most 1000 characters, and without long opaque
 * values (a task token is 100+ base64 characters; a cause should never show one) or pieces of them.
 */
export function safeCause(text: string): string {
  return truncate(redactText(cell(text).replace(/[A-Za-z0-9+/_=-]{100,}/g, "[long value removed]")), 1000);
}
