// Renders an approval request for a terminal: readable, and safe. Every string from the request is
// stripped of control characters, escape sequences and bidirectional controls, so a request cannot
// move the cursor, recolour, rewrite or reverse what the approver sees.
import { ApprovalRequest, CONTROL_CHARACTERS } from "../../functions/contract";

/**
 * Removes ANSI/terminal escape sequences, control characters (keeps tab and newline) and the
 * bidirectional controls (embeddings, overrides, isolates and marks), which would show text reversed.
 */
export function terminalSafe(text: string): string {
  return text
    .replace(/\u001b\[[0-?]*[ -/]*[@-~]/g, "")
    .replace(/\u001b\][^\u0007\u001b]*(\u0007|\u001b\\)?/g, "")
    .replace(new RegExp(`[${CONTROL_CHARACTERS}]`, "g"), (c) => (c === "\t" || c === "\n" ? c : ""))
    .replace(/[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/g, "");
}

function scalar(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return terminalSafe(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return terminalSafe(JSON.stringify(value));
}

/** An array of flat objects as an aligned table. */
function table(rows: Record<string, unknown>[], indent: string): string[] {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cells = rows.map((r) => columns.map((c) => scalar(r[c])));
  const widths = columns.map((c, i) => Math.min(40, Math.max(c.length, ...cells.map((row) => row[i].length))));
  const line = (values: string[]) =>
    indent +
    values
      .map((v, i) => {
        const cut = v.length > widths[i] ? `${v.slice(0, widths[i] - 1)}…` : v;
        return typeof rows[0][columns[i]] === "number" ? cut.padStart(widths[i]) : cut.padEnd(widths[i]);
      })
      .join("  ")
      .trimEnd();
  return [line(columns.map(terminalSafe)), indent + widths.map((w) => "-".repeat(w)).join("  "), ...cells.map(line)];
}

function details(value: unknown, indent: string): string[] {
  if (Array.isArray(value)) {
    if (value.length > 0 && value.every((v) => typeof v === "object" && v !== null && !Array.isArray(v))) {
      return table(value as Record<string, unknown>[], indent);
    }
    return value.map((v) => `${indent}- ${scalar(v)}`);
  }
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).flatMap(([key, v]) =>
      typeof v === "object" && v !== null
        ? [`${indent}${terminalSafe(key)}:`, ...details(v, `${indent}  `)]
        : [`${indent}${terminalSafe(key)}: ${scalar(v)}`],
    );
  }
  return [`${indent}${scalar(value)}`];
}

export function renderRequest(request: ApprovalRequest, context: { stage: string; executionArn: string }): string {
  const lines = ["", "=".repeat(72), `  ${terminalSafe(request.title)}`, "=".repeat(72)];
  const field = (label: string, value: string | undefined) => {
    if (value) lines.push(`  ${label.padEnd(11)}${value}`);
  };
  field("Request", request.requestId && terminalSafe(request.requestId));
  field("Requester", request.requester && terminalSafe(request.requester));
  if (typeof request.amount === "number") {
    field(
      "Amount",
      `${request.amount.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}${request.currency ? ` ${terminalSafe(request.currency)}` : ""}`,
    );
  }
  field("Link", request.link && terminalSafe(request.link));
  field("Stage", terminalSafe(context.stage));
  field("Execution", terminalSafe(context.executionArn.split(":").pop() ?? context.executionArn));
  if (request.details !== undefined) {
    lines.push("", "  Details", ...details(request.details, "    "));
  }
  lines.push("-".repeat(72), "");
  return lines.join("\n");
}
