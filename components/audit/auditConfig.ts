// `sfn-approvals:audit`: where and how long the decision record is kept (docs/audit.md).
// STUB by the lead: the audit-store engineer owns this file and replaces the parsing below.

export type AuditMode = "GOVERNANCE" | "COMPLIANCE";

export interface AuditConfig {
  enabled: true;
  /** S3 Object Lock default retention: days or years, never both. */
  retention: { days: number } | { years: number };
  /** The retention as written in config (or the default), for messages and docs. */
  retentionText: string;
  mode: AuditMode;
}

/** The record is on unless config turns it off. */
export type AuditSetting = AuditConfig | { enabled: false };

export const DEFAULT_AUDIT: AuditConfig = {
  enabled: true,
  retention: { years: 7 },
  retentionText: "7y",
  mode: "GOVERNANCE",
};

/** Parses the raw `sfn-approvals:audit` value (undefined when unset); problems go to `problems`. */
export function parseAuditConfig(raw: unknown, problems: string[]): AuditSetting {
  if (raw === undefined) return DEFAULT_AUDIT;
  if (raw === false) return { enabled: false };
  problems.push(`sfn-approvals:audit is not parsed yet`);
  return DEFAULT_AUDIT;
}
