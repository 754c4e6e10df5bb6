// The config of one ephemeral integration-test stack: a single stage named `it` that uses the
// mechanism under test, a timeout short enough that one request of each run times out, and no
// namePrefix (so every resource is named `sfn-approvals-<stack>...` and the stacks of two runs
// never collide). Every stage escalates (and email-link reminds): the stage then runs inside the
// follow-up Parallel, so the real Step Functions carries the decision out of it (Fail Cause,
// Catch, StringToJson), which no offline test can prove.
import { parseDuration } from "../../../components/config";
import { MECHANISM_DEFINITIONS } from "../../../components/mechanisms";
import { MECHANISMS as ALL_MECHANISMS, Mechanism as AnyMechanism } from "../../../functions/contract";

/**
 * Mechanisms the suite cannot decide on real AWS alone, and why. They stay out of its tables and
 * runs; `--mechanism` refuses them with this reason.
 */
export const IT_UNSUPPORTED = {
  slack:
    "a slack stage is decided by a person clicking in a Slack workspace where the stack's Slack app is installed (Slack signs the click); the suite has no workspace, app or Slack user. It is tested offline against a fake Slack (tests/slack*.test.ts)",
} as const satisfies Partial<Record<AnyMechanism, string>>;

/** The mechanisms the suite runs (MECHANISMS without IT_UNSUPPORTED). */
export type Mechanism = Exclude<AnyMechanism, keyof typeof IT_UNSUPPORTED>;
export const MECHANISMS: readonly Mechanism[] = ALL_MECHANISMS.filter(
  (mechanism): mechanism is Mechanism => !(mechanism in IT_UNSUPPORTED),
);

/** The one stage of every test stack. */
export const IT_STAGE = "it";
/** Where the escalations (and the email mechanisms' requests, unless SFN_APPROVALS_IT_EMAIL says otherwise) go; the suite reads them from its queue. */
export const DEFAULT_IT_EMAIL = "approvals-it@example.com";

/**
 * Each stage's timeout: the request of the timeout run waits exactly this long, the approve and
 * reject runs are decided well before it. codepipeline: CodePipeline's minimum (5m). activity: an
 * approve run waits past HeartbeatSeconds (120 s) before its worker polls (docs/unknowns.md row 1).
 * email-link: a reminder (at 5m, the shortest remindEvery) and the escalation (at 50%) fall before it.
 */
export const IT_TIMEOUTS: Record<Mechanism, string> = {
  "ssm-automation": "3m",
  codepipeline: "5m",
  activity: "4m",
  "email-link": "6m",
  "sns-callback": "3m",
};

/** email-link's reminders: the shortest allowed; one falls before its timeout. */
export const IT_REMIND_EVERY = "5m";

/** Mechanisms whose approvers are email addresses (the rest take IAM user or role ARNs). */
export function isEmailMechanism(mechanism: Mechanism): boolean {
  return MECHANISM_DEFINITIONS[mechanism].approvers.kind === "email";
}

/** `it-<mechanism>-<suffix>`: a stack name Pulumi and every resource name derived from it accept. */
export function stackNameFor(mechanism: Mechanism, suffix: string): string {
  if (!/^[a-z0-9]{4,12}$/.test(suffix))
    throw new Error(`stack name suffix '${suffix}' must be 4 to 12 lowercase letters or digits`);
  return `it-${mechanism}-${suffix}`;
}

/** The stacks this suite creates (what --cleanup-stale may remove). */
export const SUITE_STACK_PATTERN = new RegExp(`^it-(${MECHANISMS.join("|")})-[a-z0-9]{4,12}$`);

/** A stack name, also as the Pulumi Cloud `org/project/stack` form `stack ls` may print, when it is the suite's. */
export function suiteStackName(listed: string): string | undefined {
  const name = listed.split("/").pop() ?? listed;
  return SUITE_STACK_PATTERN.test(name) ? name : undefined;
}

export function mechanismOfStack(stackName: string): Mechanism | undefined {
  return MECHANISMS.find((m) => stackName.startsWith(`it-${m}-`));
}

/** The raw stage, as it is written in a stack file (what parseConfig reads). */
export interface RawStage {
  name: string;
  mechanism: Mechanism;
  approvers: string[];
  timeout: string;
  remindEvery?: string;
  escalateTo: string[];
}

export function itStage(mechanism: Mechanism, approver: string): RawStage {
  return {
    name: IT_STAGE,
    mechanism,
    approvers: [approver],
    timeout: IT_TIMEOUTS[mechanism],
    // Reminders go to notify addresses or email approvers; email-link's timeout run waits for one.
    ...(mechanism === "email-link" ? { remindEvery: IT_REMIND_EVERY } : {}),
    // Told after half the timeout; the timeout runs see it happen.
    escalateTo: [DEFAULT_IT_EMAIL],
  };
}

/** The stage's timeout in seconds. */
export function itTimeoutSeconds(mechanism: Mechanism): number {
  return parseDuration(IT_TIMEOUTS[mechanism])!;
}

/** A config value as the Automation API's setAllConfig takes it. */
export interface ConfigEntry {
  value: string;
  secret?: boolean;
}

/**
 * The whole stack config: the Region and the one stage. `stages` is stored as a JSON string, which
 * the program reads with `config.getObject` like the YAML list of the committed stack files. The
 * stack attaches the approver policies of codepipeline and activity to the suite's approver role,
 * a plain IAM role (the default; `attachApproverPolicies` is not set).
 */
export function itStackConfig(args: {
  mechanism: Mechanism;
  region: string;
  approver: string;
}): Record<string, ConfigEntry> {
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(args.region))
    throw new Error(`'${args.region}' is not an AWS Region name like eu-west-1`);
  return {
    "aws:region": { value: args.region },
    // The workflow's versions and alias are aws-native resources (docs/rollout.md).
    "aws-native:region": { value: args.region },
    "sfn-approvals:stages": { value: JSON.stringify([itStage(args.mechanism, args.approver)]) },
    // The decision record is on, as in production, but kept one day: destroy leaves its bucket
    // (docs/audit.md), which can be emptied and deleted the next day.
    "sfn-approvals:audit": { value: JSON.stringify(IT_AUDIT) },
  };
}

/** The integration stacks' decision record: governance mode, one day. */
export const IT_AUDIT = { retention: "1d", mode: "governance" };

/** The values parseConfig (components/config.ts) takes, from such a config. */
export function rawConfigOf(config: Record<string, ConfigEntry>): {
  stages?: unknown;
  autoApproveBelow?: unknown;
  alertEmails?: unknown;
  audit?: unknown;
  keys: string[];
} {
  const json = (key: string): unknown => (config[key] === undefined ? undefined : JSON.parse(config[key].value));
  return {
    stages: json("sfn-approvals:stages"),
    alertEmails: json("sfn-approvals:alertEmails"),
    autoApproveBelow: config["sfn-approvals:autoApproveBelow"]?.value,
    audit: json("sfn-approvals:audit"),
    keys: Object.keys(config)
      .filter((key) => key.startsWith("sfn-approvals:"))
      .map((key) => key.slice("sfn-approvals:".length)),
  };
}

/** What the suite does with each request of a run. */
export type Outcome = "approved" | "rejected" | "timed_out";

export interface RunPlan {
  outcome: Outcome;
  /** The execution's name suffix: `<stack>-approve`. */
  suffix: string;
  /** Title override: the email reject runs send 120 emoji (docs/unknowns.md row 8). */
  title?: string;
}

/** 120 characters outside the Basic Multilingual Plane: 4 bytes and 2 UTF-16 units each. */
export const EMOJI_TITLE = "\u{1F680}".repeat(120);

/** Approve, reject and time out; the email mechanisms reject a request whose title is 120 emoji. */
export function runPlans(mechanism: Mechanism): RunPlan[] {
  return [
    { outcome: "approved", suffix: "approve" },
    { outcome: "rejected", suffix: "reject", ...(isEmailMechanism(mechanism) ? { title: EMOJI_TITLE } : {}) },
    { outcome: "timed_out", suffix: "timeout" },
  ];
}
