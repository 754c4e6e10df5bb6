// `sfn-approvals:audit`: where and how long the decision record is kept (docs/audit.md).
// `false` turns it off (dev); absent or `true` keeps it with the defaults; an object sets
// { retention?, mode?, readers? }. Every problem names the key, the value and what is allowed.
//
// Evidence (S3 Object Lock, the store's default retention):
// - API reference, DefaultRetention: Days or Years (integers), never both; Mode GOVERNANCE | COMPLIANCE
//   (https://docs.aws.amazon.com/AmazonS3/latest/API/API_DefaultRetention.html; the SDK model,
//   node_modules/@aws-sdk/client-s3/dist-types/models/models_0.d.ts, interface DefaultRetention).
// - User Guide, Object Lock considerations, "Setting limits on retention periods with a bucket
//   policy": "The maximum retention period is 100 years"
//   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-managing.html); in days that
//   is 36500 (S3 counts a retention year as 365 days, object-lock-configure.html).
import { principalIdentity } from "../config";

export type AuditMode = "GOVERNANCE" | "COMPLIANCE";

export interface AuditConfig {
  enabled: true;
  /** S3 Object Lock default retention: days or years, never both. */
  retention: { days: number } | { years: number };
  /** The retention as written in config (or the default), for messages and docs. */
  retentionText: string;
  mode: AuditMode;
  /** Who may read the records (IAM user/role ARNs); absent: sfn-approvals:executionDataReaders. */
  readers?: string[];
}

/** The record is on unless config turns it off. */
export type AuditSetting = AuditConfig | { enabled: false };

export const DEFAULT_AUDIT: AuditConfig = {
  enabled: true,
  retention: { years: 7 },
  retentionText: "7y",
  mode: "GOVERNANCE",
};

/** S3 Object Lock's longest retention: 100 years, 36500 days. */
export const MAX_RETENTION_YEARS = 100;
export const MAX_RETENTION_DAYS = 36500;
/** As many as sfn-approvals:executionDataReaders allows. */
export const MAX_AUDIT_READERS = 20;
export const AUDIT_KEYS = ["retention", "mode", "readers"] as const;

const KEY = "sfn-approvals:audit";
const IAM_PRINCIPAL = /^arn:aws(-cn|-us-gov)?:iam::\d{12}:(user|role)\/([\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/;
const RETENTION_RULE = `must be a whole number of days or years, like 2555d or 7y (1d to ${MAX_RETENTION_DAYS}d, or 1y to ${MAX_RETENTION_YEARS}y: S3 Object Lock keeps an object at most 100 years)`;

function show(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text;
}

/** "7y" -> { years: 7 }, "2555d" -> { days: 2555 }; undefined when malformed or out of S3's range. */
export function parseRetention(text: string): AuditConfig["retention"] | undefined {
  const match = /^(\d{1,5})([dy])$/.exec(text.trim());
  if (!match) return undefined;
  const amount = Number(match[1]);
  if (amount < 1) return undefined;
  if (match[2] === "y") return amount <= MAX_RETENTION_YEARS ? { years: amount } : undefined;
  return amount <= MAX_RETENTION_DAYS ? { days: amount } : undefined;
}

/** Parses the raw `sfn-approvals:audit` value (undefined when unset); problems go to `problems`. */
export function parseAuditConfig(raw: unknown, problems: string[]): AuditSetting {
  if (raw === undefined || raw === true || raw === "true") return DEFAULT_AUDIT;
  if (raw === false || raw === "false") return { enabled: false };
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    problems.push(
      `${KEY} is ${show(raw)}: must be false (no decision record, for dev) or an object with optional retention, mode and readers, like { retention: 7y, mode: governance }`,
    );
    return DEFAULT_AUDIT;
  }
  const value = raw as Record<string, unknown>;
  for (const key of Object.keys(value)) {
    if (!(AUDIT_KEYS as readonly string[]).includes(key))
      problems.push(`${KEY}.${key} is not a known key: allowed are ${AUDIT_KEYS.join(", ")}`);
  }

  let retention = DEFAULT_AUDIT.retention;
  let retentionText = DEFAULT_AUDIT.retentionText;
  if (value.retention !== undefined) {
    const parsed = typeof value.retention === "string" ? parseRetention(value.retention) : undefined;
    if (parsed === undefined) {
      problems.push(`${KEY}.retention is ${show(value.retention)}: ${RETENTION_RULE}`);
    } else {
      retention = parsed;
      retentionText = (value.retention as string).trim();
    }
  }

  let mode = DEFAULT_AUDIT.mode;
  if (value.mode !== undefined) {
    if (typeof value.mode === "string" && /^(governance|compliance)$/i.test(value.mode)) {
      mode = value.mode.toUpperCase() as AuditMode;
    } else {
      problems.push(
        `${KEY}.mode is ${show(value.mode)}: must be governance (the default: a principal with s3:BypassGovernanceRetention can still delete a record early) or compliance (nobody, the root user included, can delete a record or shorten its retention)`,
      );
    }
  }

  const readers = value.readers === undefined ? undefined : parseReaders(value.readers, problems);
  return { enabled: true, retention, retentionText, mode, ...(readers ? { readers } : {}) };
}

function parseReaders(value: unknown, problems: string[]): string[] | undefined {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_AUDIT_READERS) {
    problems.push(
      `${KEY}.readers is ${show(value)}: must be a list of 1 to ${MAX_AUDIT_READERS} IAM user or role ARNs of the stack's account (who may read the records); remove it to let sfn-approvals:executionDataReaders read them`,
    );
    return undefined;
  }
  const before = problems.length;
  const seen = new Map<string, string>();
  value.forEach((reader, i) => {
    if (typeof reader !== "string" || !IAM_PRINCIPAL.test(reader)) {
      problems.push(
        `${KEY}.readers[${i}] is ${show(reader)}: must be an IAM user or role ARN like arn:aws:iam::123456789012:role/Auditor`,
      );
      return;
    }
    // IAM names are unique without case and whatever the path: two spellings are one principal.
    const identity = principalIdentity(reader)!;
    const other = seen.get(identity);
    if (other !== undefined)
      problems.push(
        other === reader
          ? `${KEY}.readers lists ${show(reader)} twice: each reader must appear once`
          : `${KEY}.readers lists ${show(other)} and ${show(reader)}, which IAM treats as one principal (names are not distinguished by case or path): list it once`,
      );
    seen.set(identity, reader);
  });
  return problems.length > before ? undefined : (value as string[]);
}
