// `sfn-approvals:rollout`: how a new workflow version takes over new requests (docs/rollout.md).
// The values are those of AWS::StepFunctions::StateMachineAlias DeploymentPreference (CloudFormation
// template reference: Percentage 1..99, Interval 1..2100 minutes); the resource's handler also
// refuses a LINEAR shift whose ceil(100 / percentage) * interval exceeds 2100 minutes
// (aws-cloudformation-resource-providers-stepfunctions, statemachinealias ResourceModelUtils).

export type RolloutType = "ALL_AT_ONCE" | "CANARY" | "LINEAR";

export type RolloutConfig =
  | { type: "ALL_AT_ONCE" }
  | {
      /** CANARY: `percentage` at once, the rest after `interval`; LINEAR: `percentage` more every `interval`. */
      type: "CANARY" | "LINEAR";
      /** Share of new requests moved to the new version per step, 1..99. */
      percentage: number;
      /** Minutes between steps, 1..2100 (the alarm is watched all along). */
      intervalMinutes: number;
      /** The interval as written in config, for messages and docs. */
      interval: string;
    };

/** New requests all go to the new version at once (what dev uses). */
export const DEFAULT_ROLLOUT: RolloutConfig = { type: "ALL_AT_ONCE" };

/** How config spells each type. */
export const ROLLOUT_TYPES: Record<string, RolloutType> = {
  "all-at-once": "ALL_AT_ONCE",
  canary: "CANARY",
  linear: "LINEAR",
};
export const MAX_ROLLOUT_MINUTES = 2100;
const KEY = "sfn-approvals:rollout";
const UNITS: Record<string, number> = { m: 1, h: 60, d: 1440 };

function show(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text;
}

/** Minutes between the first and the last shift, as the alias resource's handler estimates them. */
export function rolloutMinutes(rollout: RolloutConfig): number {
  if (rollout.type === "ALL_AT_ONCE") return 0;
  return rollout.type === "CANARY"
    ? rollout.intervalMinutes
    : Math.ceil(100 / rollout.percentage) * rollout.intervalMinutes;
}

/** Parses the raw `sfn-approvals:rollout` value (undefined when unset); problems go to `problems`. */
export function parseRolloutConfig(raw: unknown, problems: string[]): RolloutConfig {
  if (raw === undefined) return DEFAULT_ROLLOUT;
  const types = Object.keys(ROLLOUT_TYPES).join(", ");
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    problems.push(
      `${KEY} is ${show(raw)}: must be an object with type (${types}); canary and linear also take percentage (1 to 99) and interval (like 10m or 1h); see docs/rollout.md`,
    );
    return DEFAULT_ROLLOUT;
  }
  const value = raw as Record<string, unknown>;
  const before = problems.length;
  for (const key of Object.keys(value)) {
    if (!["type", "percentage", "interval"].includes(key))
      problems.push(`${KEY}.${key} is not a known key: allowed are type, percentage, interval`);
  }
  const type = typeof value.type === "string" ? ROLLOUT_TYPES[value.type] : undefined;
  if (type === undefined) {
    problems.push(`${KEY}.type is ${show(value.type)}: must be one of ${types}`);
    return DEFAULT_ROLLOUT;
  }
  if (type === "ALL_AT_ONCE") {
    for (const key of ["percentage", "interval"])
      if (value[key] !== undefined)
        problems.push(
          `${KEY}.${key} is set, but type all-at-once moves every new request at once: remove ${key}, or use canary or linear`,
        );
    return DEFAULT_ROLLOUT;
  }

  const percentage = value.percentage;
  if (typeof percentage !== "number" || !Number.isInteger(percentage) || percentage < 1 || percentage > 99) {
    problems.push(
      `${KEY}.percentage is ${show(percentage)}: must be a whole number from 1 to 99 (the share of new requests ${type === "CANARY" ? "the new version gets first" : "moved to the new version at each step"})`,
    );
  }
  const interval = value.interval;
  const match = typeof interval === "string" ? /^(\d{1,6})([mhd])$/.exec(interval.trim()) : null;
  const intervalMinutes = match ? Number(match[1]) * UNITS[match[2]] : undefined;
  if (intervalMinutes === undefined || intervalMinutes < 1 || intervalMinutes > MAX_ROLLOUT_MINUTES) {
    problems.push(
      `${KEY}.interval is ${show(interval)}: must be a whole number of minutes, hours or days from 1m to ${MAX_ROLLOUT_MINUTES}m (35h), like 10m or 1h`,
    );
  }
  if (problems.length > before) return DEFAULT_ROLLOUT;
  const rollout: RolloutConfig = {
    type,
    percentage: percentage as number,
    intervalMinutes: intervalMinutes!,
    interval: (interval as string).trim(),
  };
  const total = rolloutMinutes(rollout);
  if (total > MAX_ROLLOUT_MINUTES) {
    problems.push(
      `${KEY} shifts ${rollout.percentage}% every ${rollout.interval}: ${Math.ceil(100 / rollout.percentage)} steps take ${total} minutes, more than the ${MAX_ROLLOUT_MINUTES} minutes a Step Functions alias deployment may last; raise percentage or shorten interval`,
    );
    return DEFAULT_ROLLOUT;
  }
  return rollout;
}
