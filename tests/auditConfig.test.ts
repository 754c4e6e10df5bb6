// `sfn-approvals:audit` (components/audit/auditConfig.ts): on by default with 7 years in governance
// mode, off with false, and every bad value refused with a message naming the key, the value and
// what is allowed. The retention bounds are S3 Object Lock's: at most 100 years (36500 days).
import { expect } from "chai";
import { DEFAULT_AUDIT, parseAuditConfig, parseRetention } from "../components/audit/auditConfig";
import { parseConfig } from "../components/config";
import { ConfigError } from "../components/shared/configError";

function parse(raw: unknown): { setting: ReturnType<typeof parseAuditConfig>; problems: string[] } {
  const problems: string[] = [];
  return { setting: parseAuditConfig(raw, problems), problems };
}

const ROLE = "arn:aws:iam::123456789012:role/Auditor";
const USER = "arn:aws:iam::123456789012:user/erin";

describe("config: sfn-approvals:audit", () => {
  it("is on by default: 7 years in governance mode, read by the executionDataReaders", () => {
    expect(parse(undefined)).to.deep.equal({ setting: DEFAULT_AUDIT, problems: [] });
    expect(DEFAULT_AUDIT).to.deep.equal({
      enabled: true,
      retention: { years: 7 },
      retentionText: "7y",
      mode: "GOVERNANCE",
    });
    expect(parse(true).setting).to.equal(DEFAULT_AUDIT);
    expect(parse({}).setting).to.deep.equal(DEFAULT_AUDIT);
  });

  it("is off with false (as YAML or as the string Pulumi stores)", () => {
    expect(parse(false)).to.deep.equal({ setting: { enabled: false }, problems: [] });
    expect(parse("false")).to.deep.equal({ setting: { enabled: false }, problems: [] });
  });

  it("takes retention in days or years, the mode in either case, and readers", () => {
    expect(parse({ retention: "2555d", mode: "compliance", readers: [ROLE, USER] })).to.deep.equal({
      setting: {
        enabled: true,
        retention: { days: 2555 },
        retentionText: "2555d",
        mode: "COMPLIANCE",
        readers: [ROLE, USER],
      },
      problems: [],
    });
    expect(parse({ retention: "10y", mode: "GOVERNANCE" }).setting).to.deep.equal({
      enabled: true,
      retention: { years: 10 },
      retentionText: "10y",
      mode: "GOVERNANCE",
    });
  });

  it("accepts S3 Object Lock's whole range and nothing beyond it (1 day to 100 years)", () => {
    expect(parseRetention("1d")).to.deep.equal({ days: 1 });
    expect(parseRetention("36500d")).to.deep.equal({ days: 36500 });
    expect(parseRetention("100y")).to.deep.equal({ years: 100 });
    for (const text of ["0d", "0y", "36501d", "101y", "7", "7w", "1.5y", "-1y", "7 years", ""])
      expect(parseRetention(text), text).to.equal(undefined);
  });

  it("names the key, the value and what is allowed for every bad value", () => {
    expect(parse("yes").problems).to.deep.equal([
      'sfn-approvals:audit is "yes": must be false (no decision record, for dev) or an object with optional retention, mode and readers, like { retention: 7y, mode: governance }',
    ]);
    expect(parse([]).problems).to.have.length(1);
    expect(parse({ retention: "101y", mode: "legal-hold", retension: "7y" }).problems).to.deep.equal([
      "sfn-approvals:audit.retension is not a known key: allowed are retention, mode, readers",
      'sfn-approvals:audit.retention is "101y": must be a whole number of days or years, like 2555d or 7y (1d to 36500d, or 1y to 100y: S3 Object Lock keeps an object at most 100 years)',
      'sfn-approvals:audit.mode is "legal-hold": must be governance (the default: a principal with s3:BypassGovernanceRetention can still delete a record early) or compliance (nobody, the root user included, can delete a record or shorten its retention)',
    ]);
    expect(parse({ retention: 7 }).problems[0]).to.match(
      /^sfn-approvals:audit\.retention is 7: must be a whole number/,
    );
  });

  it("refuses readers that are not 1 to 20 distinct IAM user or role ARNs", () => {
    expect(parse({ readers: [] }).problems).to.deep.equal([
      "sfn-approvals:audit.readers is []: must be a list of 1 to 20 IAM user or role ARNs of the stack's account (who may read the records); remove it to let sfn-approvals:executionDataReaders read them",
    ]);
    expect(parse({ readers: Array.from({ length: 21 }, (_, i) => `${USER}${i}`) }).problems).to.have.length(1);
    expect(
      parse({ readers: [ROLE, "auditor@example.com", "arn:aws:iam::123456789012:group/Audit"] }).problems,
    ).to.deep.equal([
      'sfn-approvals:audit.readers[1] is "auditor@example.com": must be an IAM user or role ARN like arn:aws:iam::123456789012:role/Auditor',
      'sfn-approvals:audit.readers[2] is "arn:aws:iam::123456789012:group/Audit": must be an IAM user or role ARN like arn:aws:iam::123456789012:role/Auditor',
    ]);
    expect(parse({ readers: [ROLE, ROLE] }).problems).to.deep.equal([
      `sfn-approvals:audit.readers lists "${ROLE}" twice: each reader must appear once`,
    ]);
    expect(parse({ readers: [ROLE, "arn:aws:iam::123456789012:role/audit/auditor"] }).problems).to.deep.equal([
      `sfn-approvals:audit.readers lists "${ROLE}" and "arn:aws:iam::123456789012:role/audit/auditor", which IAM treats as one principal (names are not distinguished by case or path): list it once`,
    ]);
    // A refused list is not kept: the store is never built with half of it.
    expect(parse({ readers: [ROLE, "nope"] }).setting).to.not.have.property("readers");
  });

  it("reaches parseConfig: the stack's config carries the setting, and its problems fail the preview with the others", () => {
    const stages = [{ name: "manager", mechanism: "activity", approvers: [ROLE], timeout: "1h" }];
    expect(parseConfig({ stages, audit: false }).audit).to.deep.equal({ enabled: false });
    expect(parseConfig({ stages, audit: { retention: "30d" } }).audit).to.deep.equal({
      enabled: true,
      retention: { days: 30 },
      retentionText: "30d",
      mode: "GOVERNANCE",
    });
    let error: unknown;
    try {
      parseConfig({ stages, audit: { mode: "strict" } });
    } catch (caught) {
      error = caught;
    }
    expect(error).to.be.instanceOf(ConfigError);
    expect((error as ConfigError).problems).to.have.length(1);
    expect((error as ConfigError).problems[0]).to.match(/^sfn-approvals:audit\.mode is "strict": /);
  });
});
