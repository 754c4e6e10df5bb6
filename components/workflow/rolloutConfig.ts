// `sfn-approvals:rollout`: how a new workflow version takes over new requests (docs/rollout.md).
// STUB by the lead: the rollout engineer owns this file and replaces the parsing below.

export interface RolloutConfig {
  /** All at once (dev default), or shifted gradually with rollback on the failed-executions alarm. */
  type: "ALL_AT_ONCE" | "CANARY" | "LINEAR";
}

export const DEFAULT_ROLLOUT: RolloutConfig = { type: "ALL_AT_ONCE" };

/** Parses the raw `sfn-approvals:rollout` value (undefined when unset); problems go to `problems`. */
export function parseRolloutConfig(raw: unknown, problems: string[]): RolloutConfig {
  if (raw === undefined) return DEFAULT_ROLLOUT;
  problems.push(`sfn-approvals:rollout is not parsed yet`);
  return DEFAULT_ROLLOUT;
}
