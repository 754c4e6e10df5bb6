// The config of one ephemeral integration-test stack: a single stage named `it` that uses the
// mechanism under test, a short timeout, and no namePrefix (so every resource is named
// `sfn-approvals-<stack>...` and the stacks of two runs never collide). Every stage escalates
// (and the email stages remind): the stage then runs inside the follow-up Parallel, so the real
// Step Functions carries the decision out of it (Fail Cause, Catch, StringToJson), which no
// offline test can prove.
import { MECHANISM_RULES } from "../../../components/config";
import { MECHANISMS, Mechanism } from "../../../functions/contract";

export { MECHANISMS, Mechanism };

/** The one stage of every test stack. */
export const IT_STAGE = "it";
/** Long enough to deploy the decision path, short enough that a forgotten execution ends soon (codepipeline needs at least 5m). */
export const IT_STAGE_TIMEOUT = "15m";
/** Where the email mechanisms send their request; nobody reads it (the suite decides on the page). */
export const DEFAULT_IT_EMAIL = "approvals-it@example.com";

/** Mechanisms whose approvers are email addresses (the rest take IAM user or role ARNs). */
export function isEmailMechanism(mechanism: Mechanism): boolean {
  return MECHANISM_RULES[mechanism].approverKind === "email";
}

/** `it-<mechanism>-<suffix>`: a stack name Pulumi and every resource name derived from it accept. */
export function stackNameFor(mechanism: Mechanism, suffix: string): string {
  if (!/^[a-z0-9]{4,12}$/.test(suffix)) throw new Error(`stack name suffix '${suffix}' must be 4 to 12 lowercase letters or digits`);
  return `it-${mechanism}-${suffix}`;
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

/** Reminders of the email stages: the shortest allowed, two fit in the 15 minutes. */
export const IT_REMIND_EVERY = "5m";

export function itStage(mechanism: Mechanism, approver: string): RawStage {
  return {
    name: IT_STAGE,
    mechanism,
    approvers: [approver],
    timeout: IT_STAGE_TIMEOUT,
    // Reminders go to notify addresses or email approvers; only the email stages have them here.
    ...(isEmailMechanism(mechanism) ? { remindEvery: IT_REMIND_EVERY } : {}),
    // Told after half the timeout (7.5 minutes), normally after the suite has decided.
    escalateTo: [DEFAULT_IT_EMAIL],
  };
}

/** A config value as the Automation API's setAllConfig takes it. */
export interface ConfigEntry {
  value: string;
  secret?: boolean;
}

/**
 * The whole stack config: the Region and the one stage. `stages` is stored as a JSON string, which
 * the program reads with `config.getObject` like the YAML list of the committed stack files.
 */
export function itStackConfig(args: { mechanism: Mechanism; region: string; approver: string }): Record<string, ConfigEntry> {
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(args.region)) throw new Error(`'${args.region}' is not an AWS Region name like eu-west-1`);
  return {
    "aws:region": { value: args.region },
    "sfn-approvals:stages": { value: JSON.stringify([itStage(args.mechanism, args.approver)]) },
  };
}

/** The values parseConfig (components/config.ts) takes, from such a config. */
export function rawConfigOf(config: Record<string, ConfigEntry>): { stages?: unknown; autoApproveBelow?: unknown; alertEmails?: unknown } {
  const json = (key: string): unknown => (config[key] === undefined ? undefined : JSON.parse(config[key].value));
  return {
    stages: json("sfn-approvals:stages"),
    alertEmails: json("sfn-approvals:alertEmails"),
    autoApproveBelow: config["sfn-approvals:autoApproveBelow"]?.value,
  };
}
