// The load run's report as a table (npm run load).
import { MechanismReport } from "./run";
import { LoadQuotas } from "./quotas";

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

export function reportTable(reports: MechanismReport[], quotas: LoadQuotas): string {
  const rows = [
    [
      "mechanism",
      "started",
      "waiting peak",
      "reached",
      "decided",
      "timed out",
      "failed",
      "lost",
      "last reached (sim s)",
      "AWS calls/decision",
      "retries",
      "real s",
    ],
    ...reports.map((r) => [
      r.mechanism,
      `${r.started}/${r.requests}`,
      String(r.waitingPeak),
      String(r.reachedApprover),
      String(r.decided),
      String(r.timedOut),
      String(Object.values(r.failed).reduce((a, b) => a + b, 0)),
      String(r.lost),
      r.lastReachedApproverSeconds === null ? "-" : String(Math.round(r.lastReachedApproverSeconds)),
      r.awsCallsPerDecision === null ? "-" : String(r.awsCallsPerDecision),
      String(r.retries),
      String(Math.round(r.realSeconds)),
    ]),
  ];
  const lines = [table(rows), ""];
  for (const r of reports) {
    const failed = Object.entries(r.failed);
    if (failed.length > 0)
      lines.push(`${r.mechanism} failed by error: ${failed.map(([e, c]) => `${e} ${c}`).join(", ")}`);
    for (const c of r.ceilings)
      lines.push(
        `${r.mechanism} ceiling: ${c.quota} (${c.limit}) first at ${Math.round(c.firstAtSeconds)} s with ${c.openRequests} requests open; ${c.refused} refused or queued`,
      );
    for (const note of r.notes) lines.push(`${r.mechanism}: ${note}`);
  }
  lines.push(
    "",
    "Quotas enforced (defaults; sources in scripts/load/quotas.ts):",
    ...Object.values(quotas).map(
      (q) =>
        `  ${q.what}: ${q.limit}${q.perSecond !== undefined ? ` burst, ${Math.round(q.perSecond * 100) / 100}/s` : ""} — ${q.source}`,
    ),
    "",
    "Simulated time: function runs take none; approver delays, Retry waits, Task timeouts and bucket refills pass",
    "when nothing else runs (the definition is not changed). A model, not AWS.",
  );
  return lines.join("\n");
}
