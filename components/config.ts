// Stack config (namespace `sfn-approvals`), parsed once into a typed, validated object.
// Every problem names the key, the bad value and what is allowed; all problems are reported
// together in one ConfigError, which Pulumi prints without a stack trace.
import * as pulumi from "@pulumi/pulumi";
import { MECHANISMS, Mechanism } from "../functions/contract";
import { ConfigError } from "./shared/configError";
import { MECHANISM_DEFINITIONS, MechanismDefinition, mechanismsWith } from "./mechanisms";
import { emailSuffix } from "./shared/naming";
import { AuditSetting, parseAuditConfig } from "./audit/auditConfig";
import { RolloutConfig, parseRolloutConfig } from "./workflow/rolloutConfig";
import { SLACK_USER_ID_PATTERN } from "../functions/mechanisms/slack/interaction";
import { SLACK_APP_KEYS, SlackAppConfig, configSecretKeys, parseSlackApp, parseSlackStageKeys } from "./slackConfig";

export const MIN_TIMEOUT_SECONDS = 60;
export const MAX_STAGES = 5;
export const STAGE_NAME_PATTERN = /^[a-z][a-z0-9-]{0,30}$/;
export const IAM_PRINCIPAL_PATTERN =
  /^arn:aws(-cn|-us-gov)?:iam::\d{12}:(user|role)\/([\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/;
export const EMAIL_PATTERN = /^[^\s@<>()",;:]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$/;

export interface StageConfig {
  name: string;
  mechanism: Mechanism;
  /** IAM user/role ARNs, email addresses or Slack user IDs, depending on the mechanism. */
  approvers: string[];
  /** Mechanisms with a quorum (registry): approvals needed, 1..approvers.length (default 1). */
  minRequiredApprovals: number;
  /** Email addresses subscribed to the stage's notifications. */
  notify: string[];
  timeoutSeconds: number;
  /** The timeout as written in config, for messages and docs. */
  timeout: string;
  /** Reminders to the stage's recipients while it waits (absent: none). */
  remindEverySeconds?: number;
  /** `remindEvery` as written in config. */
  remindEvery?: string;
  /** Who is told once `escalateAfterPercent` of the timeout has passed without a decision. */
  escalateTo?: EscalationTargets;
  /** Share of the timeout (1 to 99 percent) after which `escalateTo` is notified; set when escalateTo is. */
  escalateAfterPercent?: number;
  /** Mechanisms with an approver policy (registry): IAM Identity Center permission sets the stack attaches the stage's approver policy to (set only when configured). */
  permissionSets?: string[];
  /** Mechanisms with a channel (registry, slack): the Slack channel ID the request is posted to. */
  channel?: string;
  /** slack: Approve also opens the comment box (set only when configured). */
  commentOnApprove?: boolean;
  /** slack: each approver also gets a direct message pointing at the request (set only when configured). */
  directMessages?: boolean;
}

export interface EscalationTargets {
  /** Subscribed to a topic the stack creates for this stage's escalations. */
  emails: string[];
  /** Existing SNS topics the state machine publishes to (standard topics, not FIFO). */
  topicArns: string[];
}

export interface ApprovalConfig {
  autoApproveBelow?: number;
  /** Operators notified of undeliverable decisions and failed executions. */
  alertEmails: string[];
  /** IAM users and roles (of the stack's account) who may read execution data in clear: operators. */
  executionDataReaders: string[];
  stages: StageConfig[];
  /** false: the stack attaches its approver policies to no IAM user, role or permission set (absent: true). */
  attachApproverPolicies?: boolean;
  /** Start of the approver policies' names instead of "<project>-<stack>" (set only when configured). */
  approverPolicyPrefix?: string;
  /** The IAM Identity Center instance whose permission sets `stages[].permissionSets` name. */
  identityCenter?: IdentityCenterConfig;
  /** The decision record (docs/audit.md): on by default, off with `audit: false`. */
  audit: AuditSetting;
  /** How a new workflow version takes over new requests (docs/rollout.md). */
  rollout: RolloutConfig;
  /** The Slack app (set only with a slack stage); its secrets are read apart (loadSlackSecrets). */
  slack?: SlackAppConfig;
}

export interface IdentityCenterConfig {
  /** arn:aws:sso:::instance/ssoins-<16 characters> */
  instanceArn: string;
  /** The instance's Region (absent: the stack's). */
  region?: string;
  /** A role that administers the instance (management or delegated administrator account), assumed for the attachments. */
  roleArn?: string;
}

/** Every key of the `sfn-approvals` namespace; any other is refused (a typo must not turn a feature off). */
export const CONFIG_KEYS = [
  "stages",
  "autoApproveBelow",
  "alertEmails",
  "executionDataReaders",
  "attachApproverPolicies",
  "approverPolicyPrefix",
  "identityCenter",
  "audit",
  "rollout",
  ...SLACK_APP_KEYS,
] as const;
export const MAX_EXECUTION_DATA_READERS = 20;

/**
 * The identity of an IAM user or role as IAM sees it: "IAM user, group, role, and policy names must be
 * unique within the account. Names are not distinguished by case" (IAM API Reference, CreateRole and
 * CreateUser, RoleName/UserName), and the path is no part of the name
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-friendly-names).
 * Two ARNs with the same identity are one principal, and must count once toward a quorum.
 */
export function principalIdentity(arn: string): string | undefined {
  const match = /^arn:([a-z-]+):iam::(\d{12}):(user|role)\/(?:.*\/)?([^/]+)$/.exec(arn);
  return match ? `${match[1]}:${match[2]}:${match[3]}/${match[4].toLowerCase()}` : undefined;
}

/** The account of an IAM user or role ARN. */
export function principalAccount(arn: string): string | undefined {
  return /^arn:[a-z-]+:iam::(\d{12}):/.exec(arn)?.[1];
}

/** Problems for a list of IAM principals written twice (by identity), as config key `key`. */
function checkPrincipalDuplicates(key: string, principals: unknown[], problems: string[]): void {
  const seen = new Map<string, string>();
  for (const principal of principals) {
    if (typeof principal !== "string") continue;
    const identity = principalIdentity(principal);
    if (identity === undefined) continue;
    const other = seen.get(identity);
    if (other === undefined) seen.set(identity, principal);
    else if (other === principal)
      problems.push(`${key} lists ${show(principal)} twice: each approver must appear once`);
    else
      problems.push(
        `${key} lists ${show(other)} and ${show(principal)}, which IAM treats as one principal (names are not distinguished by case or path): list it once`,
      );
  }
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** "90s", "30m", "12h", "3d" -> seconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d{1,6})([smhd])$/.exec(text.trim());
  return match ? Number(match[1]) * UNITS[match[2]] : undefined;
}

function show(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text;
}

const STAGE_KEYS = new Set([
  "name",
  "mechanism",
  "approvers",
  "minRequiredApprovals",
  "notify",
  "timeout",
  "remindEvery",
  "escalateTo",
  "escalateAfter",
  "permissionSets",
  "channel",
  "commentOnApprove",
  "directMessages",
]);

// IAM Identity Center ARNs, as the AWS CLI reference gives their patterns
// (https://docs.aws.amazon.com/cli/latest/reference/sso-admin/attach-customer-managed-policy-reference-to-permission-set.html).
export const IDENTITY_CENTER_INSTANCE_PATTERN =
  /^arn:(aws|aws-us-gov|aws-cn):sso:::instance\/((?:ssoins|ins)-[a-zA-Z0-9-.]{16})$/;
export const PERMISSION_SET_PATTERN =
  /^arn:(aws|aws-us-gov|aws-cn):sso:::permissionSet\/((?:ssoins|ins)-[a-zA-Z0-9-.]{16})\/ps-[a-zA-Z0-9-./]{16}$/;
export const IAM_ROLE_PATTERN = /^arn:aws(-cn|-us-gov)?:iam::\d{12}:role\/([\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/;
export const AWS_REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d$/;
/** The approver policy is named <prefix>-<stage>-approvers: with a 31-character stage, 86 characters fit IAM's 128. */
export const APPROVER_POLICY_PREFIX_PATTERN = /^[A-Za-z0-9+=,.@_-]{1,64}$/;
export const MAX_PERMISSION_SETS = 10;

/** Reminders less often than this would only be noise; the shortest stage timeout is longer anyway for the mechanisms that remind. */
export const MIN_REMIND_EVERY_SECONDS = 300;
/** At most this many reminders per stage (timeout / remindEvery): each adds events to the execution's history. */
export const MAX_REMINDERS = 100;
export const MAX_ESCALATION_TARGETS = 10;
export const DEFAULT_ESCALATE_AFTER_PERCENT = 50;
export const SNS_TOPIC_ARN_PATTERN = /^arn:aws(-cn|-us-gov)?:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/;

function parseStage(raw: unknown, index: number, problems: string[]): StageConfig | undefined {
  const at = `sfn-approvals:stages[${index}]`;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    problems.push(`${at} is ${show(raw)}: each stage must be an object with name, mechanism, approvers and timeout`);
    return undefined;
  }
  const stage = raw as Record<string, unknown>;
  const before = problems.length;
  for (const key of Object.keys(stage)) {
    if (!STAGE_KEYS.has(key))
      problems.push(`${at}.${key} is not a known key: allowed are ${[...STAGE_KEYS].join(", ")}`);
  }

  const name = stage.name;
  if (typeof name !== "string" || !STAGE_NAME_PATTERN.test(name)) {
    problems.push(
      `${at}.name is ${show(name)}: must match ^[a-z][a-z0-9-]{0,30}$ (lowercase letter first, then lowercase letters, digits or '-', at most 31 characters)`,
    );
  }

  const mechanism = stage.mechanism;
  let rules: MechanismDefinition | undefined;
  if (typeof mechanism !== "string" || !(MECHANISMS as readonly string[]).includes(mechanism)) {
    problems.push(`${at}.mechanism is ${show(mechanism)}: must be one of ${MECHANISMS.join(", ")}`);
  } else {
    rules = MECHANISM_DEFINITIONS[mechanism as Mechanism];
  }

  const approvers = stage.approvers;
  if (!Array.isArray(approvers) || approvers.length === 0) {
    const kinds = {
      email: "email addresses",
      "slack-user": "Slack user IDs",
      "iam-principal": "IAM user or role ARNs",
    };
    problems.push(
      `${at}.approvers is ${show(approvers)}: must be a non-empty list of ${kinds[rules?.approvers.kind ?? "iam-principal"]}`,
    );
  } else if (rules) {
    if (approvers.length > rules.approvers.max) {
      problems.push(
        `${at}.approvers has ${approvers.length} entries: ${mechanism} allows at most ${rules.approvers.max} approvers`,
      );
    }
    const kind = rules.approvers.kind;
    const pattern = {
      email: EMAIL_PATTERN,
      "slack-user": SLACK_USER_ID_PATTERN,
      "iam-principal": IAM_PRINCIPAL_PATTERN,
    }[kind];
    const like = {
      email: "an email address like approver@example.com",
      // Slack: the member's profile, "Copy member ID".
      "slack-user": "a Slack user ID like U0123456789 (in Slack: the member's profile, Copy member ID)",
      "iam-principal": "an IAM user or role ARN like arn:aws:iam::123456789012:role/ReleaseApprover",
    }[kind];
    approvers.forEach((approver, i) => {
      if (typeof approver !== "string" || !pattern.test(approver))
        problems.push(`${at}.approvers[${i}] is ${show(approver)}: must be ${like}`);
    });
    if (kind === "slack-user") {
      approvers.forEach((approver, i) => {
        if (approvers.indexOf(approver) !== i)
          problems.push(`${at}.approvers lists ${show(approver)} twice: each approver must appear once`);
      });
    } else if (kind === "email") {
      // Email addresses are compared without case: one mailbox, one subscription.
      const seen = new Set<unknown>();
      for (const approver of approvers) {
        const key = typeof approver === "string" ? approver.toLowerCase() : approver;
        if (seen.has(key))
          problems.push(`${at}.approvers lists ${show(approver)} twice: each approver must appear once`);
        seen.add(key);
      }
      checkSubscriptionNames(`${at}.approvers`, approvers, problems);
    } else {
      checkPrincipalDuplicates(`${at}.approvers`, approvers, problems);
    }
  }

  let minRequiredApprovals = 1;
  if (stage.minRequiredApprovals !== undefined) {
    const value = stage.minRequiredApprovals;
    if (!rules?.quorum) {
      problems.push(
        `${at}.minRequiredApprovals is set, but only the ${mechanismsWith("quorum").join(" and ")} mechanism supports a quorum (this stage uses ${show(mechanism)})`,
      );
    } else if (
      typeof value !== "number" ||
      !Number.isInteger(value) ||
      value < 1 ||
      (Array.isArray(approvers) && value > approvers.length)
    ) {
      problems.push(
        `${at}.minRequiredApprovals is ${show(value)}: must be a whole number from 1 to the number of approvers (${Array.isArray(approvers) ? approvers.length : "?"})`,
      );
    } else {
      minRequiredApprovals = value;
    }
  }

  const notify = stage.notify ?? [];
  checkEmails(`${at}.notify`, notify, "approvers@example.com", problems);
  if (rules && rules.notify !== "allowed" && Array.isArray(notify) && notify.length > 0) {
    problems.push(`${at}.notify is set, but ${rules.notify.refused}`);
  }

  const timeout = stage.timeout;
  let timeoutSeconds: number | undefined;
  if (typeof timeout !== "string" || (timeoutSeconds = parseDuration(timeout)) === undefined) {
    problems.push(
      `${at}.timeout is ${show(timeout)}: must be a whole number followed by s, m, h or d, like 30m, 12h or 3d`,
    );
  } else if (timeoutSeconds < (rules?.timeout.minSeconds ?? MIN_TIMEOUT_SECONDS)) {
    problems.push(
      `${at}.timeout is "${timeout}": must be at least ${rules?.timeout.minText ?? "1m"}${rules && rules.timeout.minSeconds > MIN_TIMEOUT_SECONDS ? ` for ${String(mechanism)}` : ""}`,
    );
  } else if (rules && timeoutSeconds > rules.timeout.maxSeconds) {
    problems.push(`${at}.timeout is "${timeout}": ${rules.timeout.maxReason}`);
  }

  const followUps = parseFollowUps(stage, at, rules, notify, timeoutSeconds, problems);
  const permissionSets = parsePermissionSets(stage.permissionSets, at, mechanism, rules, problems);
  const slackKeys = parseSlackStageKeys(stage, at, mechanism, rules, problems);

  if (problems.length > before) return undefined;
  return {
    ...followUps,
    ...slackKeys,
    ...(permissionSets ? { permissionSets } : {}),
    name: name as string,
    mechanism: mechanism as Mechanism,
    approvers: approvers as string[],
    minRequiredApprovals,
    notify: notify as string[],
    timeoutSeconds: timeoutSeconds!,
    timeout: (timeout as string).trim(),
  };
}

/** stages[].permissionSets: permission set ARNs, for a mechanism that gives its approvers a policy. */
function parsePermissionSets(
  value: unknown,
  at: string,
  mechanism: unknown,
  rules: MechanismDefinition | undefined,
  problems: string[],
): string[] | undefined {
  if (value === undefined) return undefined;
  if (!rules?.approverPolicy) {
    problems.push(
      `${at}.permissionSets is set, but ${show(mechanism)} gives its approvers no policy to attach (only ${mechanismsWith("approverPolicy").join(" and ")} do); remove permissionSets`,
    );
    return undefined;
  }
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_PERMISSION_SETS) {
    problems.push(
      `${at}.permissionSets is ${show(value)}: must be a list of 1 to ${MAX_PERMISSION_SETS} IAM Identity Center permission set ARNs like arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-1234567890abcdef`,
    );
    return undefined;
  }
  value.forEach((arn, i) => {
    if (typeof arn !== "string" || !PERMISSION_SET_PATTERN.test(arn)) {
      problems.push(
        `${at}.permissionSets[${i}] is ${show(arn)}: must be a permission set ARN like arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-1234567890abcdef (IAM Identity Center console, Permission sets, the set's ARN)`,
      );
    } else if (value.indexOf(arn) !== i) {
      problems.push(`${at}.permissionSets lists ${show(arn)} twice: each permission set must appear once`);
    }
  });
  return value as string[];
}

/** sfn-approvals:identityCenter: { instanceArn, region?, roleArn? }. */
function parseIdentityCenter(value: unknown, problems: string[]): IdentityCenterConfig | undefined {
  const key = "sfn-approvals:identityCenter";
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    problems.push(
      `${key} is ${show(value)}: must be an object with instanceArn (arn:aws:sso:::instance/ssoins-...) and optionally region and roleArn`,
    );
    return undefined;
  }
  const raw = value as Record<string, unknown>;
  const before = problems.length;
  for (const k of Object.keys(raw)) {
    if (!["instanceArn", "region", "roleArn"].includes(k))
      problems.push(`${key}.${k} is not a known key: allowed are instanceArn, region, roleArn`);
  }
  if (typeof raw.instanceArn !== "string" || !IDENTITY_CENTER_INSTANCE_PATTERN.test(raw.instanceArn)) {
    problems.push(
      `${key}.instanceArn is ${show(raw.instanceArn)}: must be an IAM Identity Center instance ARN like arn:aws:sso:::instance/ssoins-1234567890abcdef (aws sso-admin list-instances)`,
    );
  }
  if (raw.region !== undefined && (typeof raw.region !== "string" || !AWS_REGION_PATTERN.test(raw.region))) {
    problems.push(
      `${key}.region is ${show(raw.region)}: must be the AWS Region of the Identity Center instance, like eu-west-1 (leave it out when it is the stack's Region)`,
    );
  }
  if (raw.roleArn !== undefined && (typeof raw.roleArn !== "string" || !IAM_ROLE_PATTERN.test(raw.roleArn))) {
    problems.push(
      `${key}.roleArn is ${show(raw.roleArn)}: must be an IAM role ARN like arn:aws:iam::111122223333:role/PermissionSetAdmin, in the account that administers the instance (leave it out when pulumi up runs there)`,
    );
  }
  if (problems.length > before) return undefined;
  return {
    instanceArn: raw.instanceArn as string,
    ...(raw.region !== undefined ? { region: raw.region as string } : {}),
    ...(raw.roleArn !== undefined ? { roleArn: raw.roleArn as string } : {}),
  };
}

/** The instance id of an Identity Center instance or permission set ARN ("ssoins-..."). */
function instanceIdOf(arn: string): string | undefined {
  return IDENTITY_CENTER_INSTANCE_PATTERN.exec(arn)?.[2] ?? PERMISSION_SET_PATTERN.exec(arn)?.[2];
}

/** remindEvery, escalateTo and escalateAfter of one stage. */
function parseFollowUps(
  stage: Record<string, unknown>,
  at: string,
  rules: MechanismDefinition | undefined,
  notify: unknown,
  timeoutSeconds: number | undefined,
  problems: string[],
): Pick<StageConfig, "remindEverySeconds" | "remindEvery" | "escalateTo" | "escalateAfterPercent"> {
  const result: Pick<StageConfig, "remindEverySeconds" | "remindEvery" | "escalateTo" | "escalateAfterPercent"> = {};
  const remindEvery = stage.remindEvery;
  if (remindEvery !== undefined) {
    const seconds = typeof remindEvery === "string" ? parseDuration(remindEvery) : undefined;
    if (seconds === undefined) {
      problems.push(
        `${at}.remindEvery is ${show(remindEvery)}: must be a whole number followed by s, m, h or d, like 4h or 1d`,
      );
    } else if (rules && typeof rules.reminders === "object") {
      problems.push(`${at}.remindEvery is set, but ${rules.reminders.refused}`);
    } else if (rules?.reminders === "notify" && !(Array.isArray(notify) && notify.length > 0)) {
      problems.push(
        `${at}.remindEvery is set, but reminders go to the stage's notify addresses and there are none: add notify, or remove remindEvery`,
      );
    } else if (seconds < MIN_REMIND_EVERY_SECONDS) {
      problems.push(`${at}.remindEvery is "${remindEvery}": must be at least 5m`);
    } else if (timeoutSeconds !== undefined && seconds >= timeoutSeconds) {
      problems.push(
        `${at}.remindEvery is "${remindEvery}": must be shorter than the stage's timeout (${show(stage.timeout)}), or no reminder would ever be sent`,
      );
    } else if (timeoutSeconds !== undefined && Math.floor(timeoutSeconds / seconds) > MAX_REMINDERS) {
      problems.push(
        `${at}.remindEvery is "${remindEvery}": with timeout ${show(stage.timeout)} it would send ${Math.floor(timeoutSeconds / seconds)} reminders; at most ${MAX_REMINDERS} are allowed, so remind less often`,
      );
    } else {
      result.remindEverySeconds = seconds;
      result.remindEvery = (remindEvery as string).trim();
    }
  }

  const escalateTo = stage.escalateTo;
  if (escalateTo !== undefined) {
    if (!Array.isArray(escalateTo) || escalateTo.length === 0 || escalateTo.length > MAX_ESCALATION_TARGETS) {
      problems.push(
        `${at}.escalateTo is ${show(escalateTo)}: must be a list of 1 to ${MAX_ESCALATION_TARGETS} email addresses or SNS topic ARNs`,
      );
    } else {
      const targets: EscalationTargets = { emails: [], topicArns: [] };
      const seen = new Set<string>();
      escalateTo.forEach((target, i) => {
        if (typeof target === "string" && EMAIL_PATTERN.test(target)) {
          targets.emails.push(target);
        } else if (typeof target === "string" && SNS_TOPIC_ARN_PATTERN.test(target)) {
          targets.topicArns.push(target);
        } else if (typeof target === "string" && /^arn:[^:]+:sns:.*\.fifo$/.test(target)) {
          problems.push(
            `${at}.escalateTo[${i}] is ${show(target)}: a FIFO topic needs a message group; use a standard SNS topic`,
          );
        } else {
          problems.push(
            `${at}.escalateTo[${i}] is ${show(target)}: must be an email address like manager@example.com or an SNS topic ARN like arn:aws:sns:eu-west-1:123456789012:approvals-escalations`,
          );
        }
        if (typeof target === "string") {
          // Addresses are compared without case; topic ARNs are case-sensitive.
          const key = EMAIL_PATTERN.test(target) ? target.toLowerCase() : target;
          if (seen.has(key))
            problems.push(`${at}.escalateTo lists ${show(target)} twice: each target must appear once`);
          seen.add(key);
        }
      });
      checkSubscriptionNames(`${at}.escalateTo`, targets.emails, problems);
      result.escalateTo = targets;
      result.escalateAfterPercent = DEFAULT_ESCALATE_AFTER_PERCENT;
    }
  }

  const escalateAfter = stage.escalateAfter;
  if (escalateAfter !== undefined) {
    const match = typeof escalateAfter === "string" ? /^(\d{1,2})%$/.exec(escalateAfter.trim()) : null;
    const percent = match ? Number(match[1]) : undefined;
    if (escalateTo === undefined) {
      problems.push(
        `${at}.escalateAfter is set without escalateTo: say who is told (escalateTo), or remove escalateAfter`,
      );
    } else if (percent === undefined || percent < 1 || percent > 99) {
      problems.push(
        `${at}.escalateAfter is ${show(escalateAfter)}: must be a share of the timeout from "1%" to "99%", like "75%"`,
      );
    } else {
      result.escalateAfterPercent = percent;
    }
  }
  return result;
}

/**
 * Subscriptions are named after their address with every other character than a-z and 0-9 turned
 * into '-' (emailSuffix): two different addresses must not end up with the same name.
 */
function checkSubscriptionNames(key: string, emails: unknown[], problems: string[]): void {
  const byName = new Map<string, string>();
  for (const email of emails) {
    if (typeof email !== "string") continue;
    const name = emailSuffix(email);
    const other = byName.get(name);
    if (other !== undefined && other.toLowerCase() !== email.toLowerCase()) {
      problems.push(
        `${key} lists ${show(other)} and ${show(email)}, which differ only in punctuation: their subscriptions would get the same resource name; list one of them`,
      );
    }
    byName.set(name, email);
  }
}

function checkEmails(key: string, value: unknown, example: string, problems: string[]): void {
  if (!Array.isArray(value)) {
    problems.push(`${key} is ${show(value)}: must be a list of email addresses`);
    return;
  }
  checkSubscriptionNames(key, value, problems);
  value.forEach((email, i) => {
    if (typeof email !== "string" || !EMAIL_PATTERN.test(email)) {
      problems.push(`${key}[${i}] is ${show(email)}: must be an email address like ${example}`);
    } else if (
      value.findIndex((other) => typeof other === "string" && other.toLowerCase() === email.toLowerCase()) !== i
    ) {
      problems.push(`${key} lists ${show(email)} twice: each address must appear once`);
    }
  });
}

/** Raw values as read from stack config (strings for scalars, parsed JSON for `stages`). */
export interface RawConfig {
  stages?: unknown;
  autoApproveBelow?: unknown;
  alertEmails?: unknown;
  executionDataReaders?: unknown;
  attachApproverPolicies?: unknown;
  approverPolicyPrefix?: unknown;
  identityCenter?: unknown;
  audit?: unknown;
  rollout?: unknown;
  slackTeamId?: unknown;
  /** The keys Pulumi says were set as secrets ("sfn-approvals:<key>"); absent when it says nothing. */
  secretKeys?: string[];
  /** Every key set in the namespace, without the "sfn-approvals:" prefix (unknown ones are refused). */
  keys?: string[];
}

export function parseConfig(raw: RawConfig): ApprovalConfig {
  const problems: string[] = [];
  for (const key of raw.keys ?? []) {
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) {
      const near = CONFIG_KEYS.find((known) => known.toLowerCase() === key.toLowerCase());
      problems.push(
        `sfn-approvals:${key} is not a known key${near ? ` (did you mean sfn-approvals:${near}?)` : ""}: allowed are ${CONFIG_KEYS.map((k) => `sfn-approvals:${k}`).join(", ")}`,
      );
    }
  }
  let autoApproveBelow: number | undefined;
  if (raw.autoApproveBelow !== undefined) {
    const value =
      typeof raw.autoApproveBelow === "string" && /^\d+(\.\d+)?$/.test(raw.autoApproveBelow.trim())
        ? Number(raw.autoApproveBelow)
        : raw.autoApproveBelow;
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
      problems.push(
        `sfn-approvals:autoApproveBelow is ${show(raw.autoApproveBelow)}: must be a positive number (requests with an amount below it skip approval); remove the key to send every request to the stages`,
      );
    } else {
      autoApproveBelow = value;
    }
  }

  const alertEmails = raw.alertEmails ?? [];
  checkEmails("sfn-approvals:alertEmails", alertEmails, "oncall@example.com", problems);

  const readers = raw.executionDataReaders ?? [];
  if (!Array.isArray(readers) || readers.length > MAX_EXECUTION_DATA_READERS) {
    problems.push(
      `sfn-approvals:executionDataReaders is ${show(readers)}: must be a list of at most ${MAX_EXECUTION_DATA_READERS} IAM user or role ARNs (operators who may read execution data)`,
    );
  } else {
    readers.forEach((reader, i) => {
      if (typeof reader !== "string" || !IAM_PRINCIPAL_PATTERN.test(reader)) {
        problems.push(
          `sfn-approvals:executionDataReaders[${i}] is ${show(reader)}: must be an IAM user or role ARN like arn:aws:iam::123456789012:role/PlatformOperator`,
        );
      }
    });
    checkPrincipalDuplicates("sfn-approvals:executionDataReaders", readers, problems);
  }

  const stages: StageConfig[] = [];
  const stageIndexes = new Map<StageConfig, number>();
  if (raw.stages === undefined) {
    problems.push(
      `sfn-approvals:stages is missing: set a list of 1 to ${MAX_STAGES} stages, each with name, mechanism, approvers and timeout (see docs/configuration.md)`,
    );
  } else if (!Array.isArray(raw.stages) || raw.stages.length === 0 || raw.stages.length > MAX_STAGES) {
    problems.push(`sfn-approvals:stages is ${show(raw.stages)}: must be a list of 1 to ${MAX_STAGES} stages`);
  } else {
    raw.stages.forEach((rawStage, i) => {
      const stage = parseStage(rawStage, i, problems);
      if (stage) {
        stages.push(stage);
        stageIndexes.set(stage, i);
      }
    });
    const names = raw.stages.map((s) =>
      typeof s === "object" && s !== null ? (s as Record<string, unknown>).name : undefined,
    );
    names.forEach((name, i) => {
      if (typeof name === "string" && names.indexOf(name) !== i) {
        problems.push(
          `sfn-approvals:stages[${i}].name is "${name}": stage names must be unique (also used by stages[${names.indexOf(name)}])`,
        );
      }
    });
  }

  let attachApproverPolicies: boolean | undefined;
  if (raw.attachApproverPolicies !== undefined) {
    const value = raw.attachApproverPolicies;
    if (value === true || value === "true") attachApproverPolicies = true;
    else if (value === false || value === "false") attachApproverPolicies = false;
    else
      problems.push(
        `sfn-approvals:attachApproverPolicies is ${show(value)}: must be true or false (false: the stack attaches its approver policies to no IAM user, role or permission set; you attach them)`,
      );
  }

  let approverPolicyPrefix: string | undefined;
  if (raw.approverPolicyPrefix !== undefined) {
    if (
      typeof raw.approverPolicyPrefix !== "string" ||
      !APPROVER_POLICY_PREFIX_PATTERN.test(raw.approverPolicyPrefix)
    ) {
      problems.push(
        `sfn-approvals:approverPolicyPrefix is ${show(raw.approverPolicyPrefix)}: must be 1 to 64 letters, digits or +=,.@_- (the approver policies are named <prefix>-<stage>-approvers)`,
      );
    } else {
      approverPolicyPrefix = raw.approverPolicyPrefix;
    }
  }

  const identityCenter =
    raw.identityCenter === undefined ? undefined : parseIdentityCenter(raw.identityCenter, problems);
  // Attaching to permission sets needs the instance, and the switch that turns attachments off must not be contradicted.
  stages.forEach((stage) => {
    if (stage.permissionSets === undefined) return;
    const at = `sfn-approvals:stages[${stageIndexes.get(stage)}]`;
    if (attachApproverPolicies === false) {
      problems.push(
        `${at}.permissionSets is set, but sfn-approvals:attachApproverPolicies is false (the stack attaches nothing): remove one of them`,
      );
    } else if (raw.identityCenter === undefined) {
      problems.push(
        `${at}.permissionSets is set without sfn-approvals:identityCenter: name the Identity Center instance (instanceArn) its permission sets belong to`,
      );
    } else if (identityCenter) {
      const instance = instanceIdOf(identityCenter.instanceArn);
      stage.permissionSets.forEach((arn, i) => {
        if (instanceIdOf(arn) !== instance)
          problems.push(
            `${at}.permissionSets[${i}] is ${show(arn)}: it belongs to instance ${instanceIdOf(arn)}, not to the instance of sfn-approvals:identityCenter.instanceArn (${instance})`,
          );
      });
    }
  });

  const audit = parseAuditConfig(raw.audit, problems);
  const rollout = parseRolloutConfig(raw.rollout, problems);
  const slackStages = !Array.isArray(raw.stages)
    ? 0
    : raw.stages.filter(
        (s) =>
          typeof s === "object" &&
          s !== null &&
          typeof (s as Record<string, unknown>).mechanism === "string" &&
          MECHANISM_DEFINITIONS[(s as Record<string, unknown>).mechanism as Mechanism]?.channel === true,
      ).length;
  const slack = parseSlackApp(slackStages, raw.slackTeamId, raw.keys, raw.secretKeys, problems);

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    autoApproveBelow,
    alertEmails: alertEmails as string[],
    executionDataReaders: readers as string[],
    stages,
    ...(attachApproverPolicies !== undefined ? { attachApproverPolicies } : {}),
    ...(approverPolicyPrefix !== undefined ? { approverPolicyPrefix } : {}),
    ...(identityCenter ? { identityCenter } : {}),
    audit,
    rollout,
    ...(slack ? { slack } : {}),
  };
}

/**
 * Refuses IAM principals of another account than the stack's. For every IAM mechanism the principal
 * acts on a resource of the stack's account that has no resource policy to admit another account (an
 * SSM automation execution, a CodePipeline action, a Step Functions activity), and the approver
 * policies are attached in the stack's account: another account's principal could never decide.
 */
export function checkAccounts(config: ApprovalConfig, accountId: string): void {
  const problems: string[] = [];
  const check = (key: string, arn: string) => {
    const account = principalAccount(arn);
    if (account !== undefined && account !== accountId) {
      problems.push(
        `${key} is ${show(arn)}: it is in account ${account}, but this stack deploys to account ${accountId}; IAM approvers and readers must be users or roles of that account (a principal of another account cannot act on this account's automation executions, pipelines or activities)`,
      );
    }
  };
  config.stages.forEach((stage, i) => {
    if (MECHANISM_DEFINITIONS[stage.mechanism].approvers.kind !== "iam-principal") return;
    stage.approvers.forEach((arn, j) => check(`sfn-approvals:stages[${i}].approvers[${j}]`, arn));
  });
  config.executionDataReaders.forEach((arn, i) => check(`sfn-approvals:executionDataReaders[${i}]`, arn));
  if (config.audit.enabled) config.audit.readers?.forEach((arn, i) => check(`sfn-approvals:audit.readers[${i}]`, arn));
  if (problems.length > 0) throw new ConfigError(problems);
}

/**
 * The workflow's versions and alias (docs/rollout.md) are aws-native resources, and the aws-native
 * provider reads its Region from `aws-native:region`, not from `aws:region`: both must name the
 * stack's Region, or the alias would be missing or land in another Region than its state machine.
 */
export function checkRegions(awsRegion: string | undefined, nativeRegion: string | undefined): void {
  if (nativeRegion === undefined) {
    throw new ConfigError([
      `aws-native:region is not set: the workflow's versions and its alias are created with the aws-native provider, which takes its own Region; set it to the stack's Region: pulumi config set aws-native:region ${awsRegion ?? "<the value of aws:region>"}`,
    ]);
  }
  if (awsRegion !== undefined && awsRegion !== nativeRegion) {
    throw new ConfigError([
      `aws-native:region is ${show(nativeRegion)} but aws:region is ${show(awsRegion)}: the workflow's alias must be in its state machine's Region; set both to the same Region`,
    ]);
  }
}

/** Reads and validates the `sfn-approvals` namespace of the current stack. */
export function loadConfig(config: pulumi.Config = new pulumi.Config("sfn-approvals")): ApprovalConfig {
  const structured = (key: string): unknown => {
    try {
      return config.getObject<unknown>(key);
    } catch (error) {
      throw new ConfigError([
        `sfn-approvals:${key} is not valid YAML/JSON: ${error instanceof Error ? error.message : String(error)}`,
      ]);
    }
  };
  const prefix = `${config.name}:`;
  const keys = Object.keys(pulumi.runtime.allConfig())
    .filter((key) => key.startsWith(prefix))
    .map((key) => key.slice(prefix.length));
  return parseConfig({
    stages: structured("stages"),
    alertEmails: structured("alertEmails"),
    executionDataReaders: structured("executionDataReaders"),
    identityCenter: structured("identityCenter"),
    audit: structured("audit"),
    rollout: structured("rollout"),
    autoApproveBelow: config.get("autoApproveBelow"),
    attachApproverPolicies: config.get("attachApproverPolicies"),
    approverPolicyPrefix: config.get("approverPolicyPrefix"),
    slackTeamId: config.get("slackTeamId"),
    secretKeys: configSecretKeys(),
    keys,
  });
}
