import { expect } from "chai";
import { parseConfig } from "../components/config";
import { ConfigError } from "../components/shared/configError";
import { DEFAULT_ROLLOUT, parseRolloutConfig, rolloutMinutes } from "../components/workflow/rolloutConfig";

const STAGE = {
  name: "manager",
  mechanism: "activity",
  approvers: ["arn:aws:iam::123456789012:role/ReleaseApprover"],
  timeout: "1h",
};

function parsed(raw: unknown): { rollout: ReturnType<typeof parseRolloutConfig>; problems: string[] } {
  const problems: string[] = [];
  return { rollout: parseRolloutConfig(raw, problems), problems };
}

describe("config: sfn-approvals:rollout", () => {
  it("defaults to all at once when unset, as dev uses", () => {
    expect(parsed(undefined)).to.deep.equal({ rollout: { type: "ALL_AT_ONCE" }, problems: [] });
    expect(DEFAULT_ROLLOUT).to.deep.equal({ type: "ALL_AT_ONCE" });
  });

  it("reads all-at-once, canary and linear with their percentage and interval in minutes", () => {
    expect(parsed({ type: "all-at-once" })).to.deep.equal({ rollout: { type: "ALL_AT_ONCE" }, problems: [] });
    expect(parsed({ type: "canary", percentage: 10, interval: "30m" })).to.deep.equal({
      rollout: { type: "CANARY", percentage: 10, intervalMinutes: 30, interval: "30m" },
      problems: [],
    });
    expect(parsed({ type: "linear", percentage: 25, interval: " 2h " })).to.deep.equal({
      rollout: { type: "LINEAR", percentage: 25, intervalMinutes: 120, interval: "2h" },
      problems: [],
    });
    expect(parsed({ type: "canary", percentage: 99, interval: "1d" }).rollout).to.include({ intervalMinutes: 1440 });
  });

  it("reaches parseConfig's result and its ConfigError", () => {
    const config = parseConfig({ stages: [STAGE], rollout: { type: "linear", percentage: 50, interval: "10m" } });
    expect(config.rollout).to.deep.equal({ type: "LINEAR", percentage: 50, intervalMinutes: 10, interval: "10m" });
    expect(() => parseConfig({ stages: [STAGE], rollout: { type: "blue-green" } }))
      .to.throw(ConfigError)
      .with.property("problems")
      .that.deep.equals(['sfn-approvals:rollout.type is "blue-green": must be one of all-at-once, canary, linear']);
  });

  it("names the key, the value and what is allowed for every bad value", () => {
    const cases: Array<[unknown, string[]]> = [
      [
        "canary",
        [
          'sfn-approvals:rollout is "canary": must be an object with type (all-at-once, canary, linear); canary and linear also take percentage (1 to 99) and interval (like 10m or 1h); see docs/rollout.md',
        ],
      ],
      [{}, ["sfn-approvals:rollout.type is undefined: must be one of all-at-once, canary, linear"]],
      // One spelling only: the AWS enum is not what config takes.
      [{ type: "CANARY" }, ['sfn-approvals:rollout.type is "CANARY": must be one of all-at-once, canary, linear']],
      [
        { type: "canary", percentage: 10, interval: "30m", alarms: ["x"] },
        ["sfn-approvals:rollout.alarms is not a known key: allowed are type, percentage, interval"],
      ],
      [
        { type: "all-at-once", percentage: 10 },
        [
          "sfn-approvals:rollout.percentage is set, but type all-at-once moves every new request at once: remove percentage, or use canary or linear",
        ],
      ],
      [
        { type: "canary", interval: "10m" },
        [
          "sfn-approvals:rollout.percentage is undefined: must be a whole number from 1 to 99 (the share of new requests the new version gets first)",
        ],
      ],
      [
        { type: "linear", percentage: 100, interval: "10m" },
        [
          "sfn-approvals:rollout.percentage is 100: must be a whole number from 1 to 99 (the share of new requests moved to the new version at each step)",
        ],
      ],
      [
        { type: "linear", percentage: 12.5, interval: "10m" },
        [
          "sfn-approvals:rollout.percentage is 12.5: must be a whole number from 1 to 99 (the share of new requests moved to the new version at each step)",
        ],
      ],
      [
        { type: "canary", percentage: "10", interval: "30s" },
        [
          'sfn-approvals:rollout.percentage is "10": must be a whole number from 1 to 99 (the share of new requests the new version gets first)',
          'sfn-approvals:rollout.interval is "30s": must be a whole number of minutes, hours or days from 1m to 2100m (35h), like 10m or 1h',
        ],
      ],
      [
        { type: "canary", percentage: 10, interval: "2d" },
        [
          'sfn-approvals:rollout.interval is "2d": must be a whole number of minutes, hours or days from 1m to 2100m (35h), like 10m or 1h',
        ],
      ],
      [
        { type: "canary", percentage: 10, interval: 30 },
        [
          "sfn-approvals:rollout.interval is 30: must be a whole number of minutes, hours or days from 1m to 2100m (35h), like 10m or 1h",
        ],
      ],
      [
        { type: "linear", percentage: 10, interval: "4h" },
        [
          "sfn-approvals:rollout shifts 10% every 4h: 10 steps take 2400 minutes, more than the 2100 minutes a Step Functions alias deployment may last; raise percentage or shorten interval",
        ],
      ],
    ];
    for (const [raw, problems] of cases) {
      const result = parsed(raw);
      expect(result.problems, JSON.stringify(raw)).to.deep.equal(problems);
      // A refused value is never half-applied.
      expect(result.rollout, JSON.stringify(raw)).to.deep.equal(DEFAULT_ROLLOUT);
    }
  });

  it("allows the longest shift the alias resource accepts: 35 hours", () => {
    // ceil(100 / 33) = 4 steps of 525 minutes: the handler's estimate, exactly its limit.
    const linear = parsed({ type: "linear", percentage: 33, interval: "525m" });
    expect(linear.problems).to.deep.equal([]);
    expect(rolloutMinutes(linear.rollout)).to.equal(2100);
    const canary = parsed({ type: "canary", percentage: 5, interval: "35h" });
    expect(canary.problems).to.deep.equal([]);
    expect(rolloutMinutes(canary.rollout)).to.equal(2100);
    expect(rolloutMinutes(DEFAULT_ROLLOUT)).to.equal(0);
  });
});
