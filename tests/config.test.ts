import { expect } from "chai";
import { checkAccounts, checkRegions, parseConfig, parseDuration } from "../components/config";
import { ConfigError } from "../components/shared/configError";
import { DEFAULT_AUDIT } from "../components/audit/auditConfig";
import { DEFAULT_ROLLOUT } from "../components/workflow/rolloutConfig";

const ROLE = "arn:aws:iam::123456789012:role/ReleaseApprover";
const USER = "arn:aws:iam::123456789012:user/alice";

function stage(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: "manager",
    mechanism: "ssm-automation",
    approvers: [ROLE],
    notify: ["approvers@example.com"],
    timeout: "3d",
    ...overrides,
  };
}

function emailStage(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: "team-lead", mechanism: "email-link", approvers: ["lead@example.com"], timeout: "2d", ...overrides };
}

function problemsOf(raw: Parameters<typeof parseConfig>[0]): string[] {
  try {
    parseConfig(raw);
  } catch (error) {
    expect(error).to.be.instanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error("expected a ConfigError");
}

describe("config: parseConfig", () => {
  it("parses a valid two-stage config into typed values", () => {
    const config = parseConfig({
      autoApproveBelow: "500",
      stages: [
        stage({ approvers: [ROLE, USER], minRequiredApprovals: 2 }),
        stage({ name: "finance-team", approvers: [USER], notify: undefined, timeout: "90m" }),
      ],
    });
    expect(config).to.deep.equal({
      autoApproveBelow: 500,
      alertEmails: [],
      executionDataReaders: [],
      audit: DEFAULT_AUDIT,
      rollout: DEFAULT_ROLLOUT,
      stages: [
        {
          name: "manager",
          mechanism: "ssm-automation",
          approvers: [ROLE, USER],
          minRequiredApprovals: 2,
          notify: ["approvers@example.com"],
          timeoutSeconds: 259200,
          timeout: "3d",
        },
        {
          name: "finance-team",
          mechanism: "ssm-automation",
          approvers: [USER],
          minRequiredApprovals: 1,
          notify: [],
          timeoutSeconds: 5400,
          timeout: "90m",
        },
      ],
    });
  });

  it("parses a codepipeline stage", () => {
    expect(parseConfig({ stages: [stage({ mechanism: "codepipeline", timeout: "5m" })] }).stages[0]).to.deep.equal({
      name: "manager",
      mechanism: "codepipeline",
      approvers: [ROLE],
      minRequiredApprovals: 1,
      notify: ["approvers@example.com"],
      timeoutSeconds: 300,
      timeout: "5m",
    });
    expect(
      parseConfig({ stages: [stage({ mechanism: "codepipeline", timeout: "60d" })] }).stages[0].timeoutSeconds,
    ).to.equal(5184000);
  });

  it("parses email-link and sns-callback stages, whose approvers are email addresses", () => {
    const config = parseConfig({
      stages: [
        emailStage({ approvers: ["lead@example.com", "deputy.lead+approvals@example.co.uk"] }),
        emailStage({ name: "finance", mechanism: "sns-callback", approvers: ["finance@example.com"], timeout: "360d" }),
      ],
    });
    expect(config.stages).to.deep.equal([
      {
        name: "team-lead",
        mechanism: "email-link",
        approvers: ["lead@example.com", "deputy.lead+approvals@example.co.uk"],
        minRequiredApprovals: 1,
        notify: [],
        timeoutSeconds: 172800,
        timeout: "2d",
      },
      {
        name: "finance",
        mechanism: "sns-callback",
        approvers: ["finance@example.com"],
        minRequiredApprovals: 1,
        notify: [],
        timeoutSeconds: 31104000,
        timeout: "360d",
      },
    ]);
  });

  it("accepts every mechanism of DESIGN.md", () => {
    const stages = [
      stage({ name: "a" }),
      stage({ name: "b", mechanism: "codepipeline" }),
      stage({ name: "c", mechanism: "activity", notify: undefined }),
      emailStage({ name: "d" }),
      emailStage({ name: "e", mechanism: "sns-callback" }),
    ];
    expect(parseConfig({ stages }).stages.map((s) => s.mechanism)).to.deep.equal([
      "ssm-automation",
      "codepipeline",
      "activity",
      "email-link",
      "sns-callback",
    ]);
  });

  it("accepts role ARNs with a path and the aws-us-gov partition", () => {
    const approvers = [
      "arn:aws:iam::123456789012:role/approvers/ReleaseApprover",
      "arn:aws-us-gov:iam::123456789012:user/bob",
    ];
    expect(parseConfig({ stages: [stage({ approvers })] }).stages[0].approvers).to.deep.equal(approvers);
  });

  it("tells escalation topics apart by case (ARNs are case-sensitive), unlike email addresses", () => {
    const targets = ["arn:aws:sns:eu-west-1:123456789012:Oncall", "arn:aws:sns:eu-west-1:123456789012:oncall"];
    expect(parseConfig({ stages: [emailStage({ escalateTo: targets })] }).stages[0].escalateTo).to.deep.equal({
      emails: [],
      topicArns: targets,
    });
  });

  it("leaves autoApproveBelow undefined and alertEmails empty when they are not set", () => {
    const config = parseConfig({ stages: [stage()] });
    expect(config.autoApproveBelow).to.equal(undefined);
    expect(config.alertEmails).to.deep.equal([]);
  });

  it("reads alertEmails", () => {
    expect(parseConfig({ stages: [stage()], alertEmails: ["oncall@example.com"] }).alertEmails).to.deep.equal([
      "oncall@example.com",
    ]);
  });

  const cases: Array<[string, Parameters<typeof parseConfig>[0], string]> = [
    ["missing stages", {}, "sfn-approvals:stages is missing"],
    ["empty stages", { stages: [] }, "sfn-approvals:stages is []: must be a list of 1 to 5 stages"],
    [
      "more than five stages",
      { stages: ["a", "b", "c", "d", "e", "f"].map((name) => stage({ name })) },
      "must be a list of 1 to 5 stages",
    ],
    [
      "a stage that is not an object",
      { stages: ["manager"] },
      'sfn-approvals:stages[0] is "manager": each stage must be an object',
    ],
    [
      "unknown mechanism",
      { stages: [stage({ mechanism: "carrier-pigeon" })] },
      'sfn-approvals:stages[0].mechanism is "carrier-pigeon": must be one of ssm-automation, codepipeline, activity, email-link, sns-callback, slack',
    ],
    [
      "an email-link approver that is an IAM ARN",
      { stages: [emailStage({ approvers: [ROLE] })] },
      `sfn-approvals:stages[0].approvers[0] is "${ROLE}": must be an email address like approver@example.com`,
    ],
    [
      "a malformed sns-callback approver",
      { stages: [emailStage({ mechanism: "sns-callback", approvers: ["finance@"] })] },
      'sfn-approvals:stages[0].approvers[0] is "finance@": must be an email address like approver@example.com',
    ],
    [
      "no email-link approvers",
      { stages: [emailStage({ approvers: [] })] },
      "sfn-approvals:stages[0].approvers is []: must be a non-empty list of email addresses",
    ],
    [
      "an approver address listed twice in another case",
      { stages: [emailStage({ approvers: ["lead@example.com", "Lead@Example.com"] })] },
      'sfn-approvals:stages[0].approvers lists "Lead@Example.com" twice',
    ],
    [
      "more than 50 email approvers",
      { stages: [emailStage({ approvers: Array.from({ length: 51 }, (_, i) => `a${i}@example.com`) })] },
      "sfn-approvals:stages[0].approvers has 51 entries: email-link allows at most 50 approvers",
    ],
    [
      "two approver addresses that differ only in punctuation",
      { stages: [emailStage({ approvers: ["a.b@example.com", "a-b@example.com"] })] },
      'sfn-approvals:stages[0].approvers lists "a.b@example.com" and "a-b@example.com", which differ only in punctuation',
    ],
    [
      "two alert addresses that differ only in punctuation",
      { stages: [stage()], alertEmails: ["on.call@example.com", "on_call@example.com"] },
      'sfn-approvals:alertEmails lists "on.call@example.com" and "on_call@example.com", which differ only in punctuation',
    ],
    [
      "notify on an email-link stage",
      { stages: [emailStage({ notify: ["cc@example.com"] })] },
      "sfn-approvals:stages[0].notify is set, but email-link emails the approval link to the approvers, and whoever has the link can decide",
    ],
    [
      "notify on an sns-callback stage",
      { stages: [emailStage({ mechanism: "sns-callback", notify: ["cc@example.com"] })] },
      "sfn-approvals:stages[0].notify is set, but sns-callback emails the approval link",
    ],
    [
      "an sns-callback stage with a quorum",
      { stages: [emailStage({ mechanism: "sns-callback", minRequiredApprovals: 1 })] },
      "sfn-approvals:stages[0].minRequiredApprovals is set, but only the ssm-automation and slack mechanism supports a quorum",
    ],
    [
      "an email-link timeout above 360 days",
      { stages: [emailStage({ timeout: "361d" })] },
      'sfn-approvals:stages[0].timeout is "361d": an email stage waits at most 360d (a Standard execution lasts at most 365d)',
    ],
    [
      "a codepipeline timeout below 5 minutes",
      { stages: [stage({ mechanism: "codepipeline", timeout: "4m" })] },
      'sfn-approvals:stages[0].timeout is "4m": must be at least 5m for codepipeline',
    ],
    [
      "a codepipeline timeout above 60 days",
      { stages: [stage({ mechanism: "codepipeline", timeout: "61d" })] },
      'sfn-approvals:stages[0].timeout is "61d": a CodePipeline manual approval waits at most 60d',
    ],
    [
      "a codepipeline stage with a quorum",
      { stages: [stage({ mechanism: "codepipeline", minRequiredApprovals: 1 })] },
      "sfn-approvals:stages[0].minRequiredApprovals is set, but only the ssm-automation and slack mechanism supports a quorum",
    ],
    [
      "a codepipeline approver that is an email",
      { stages: [stage({ mechanism: "codepipeline", approvers: ["alice@example.com"] })] },
      'sfn-approvals:stages[0].approvers[0] is "alice@example.com": must be an IAM user or role ARN',
    ],
    [
      "duplicate stage names",
      { stages: [stage(), stage()] },
      'sfn-approvals:stages[1].name is "manager": stage names must be unique (also used by stages[0])',
    ],
    [
      "malformed stage name",
      { stages: [stage({ name: "Manager_1" })] },
      'sfn-approvals:stages[0].name is "Manager_1": must match ^[a-z][a-z0-9-]{0,30}$',
    ],
    ["stage name too long", { stages: [stage({ name: "a".repeat(32) })] }, "sfn-approvals:stages[0].name is"],
    [
      "malformed IAM ARN",
      { stages: [stage({ approvers: ["arn:aws:iam::12345:role/x"] })] },
      'sfn-approvals:stages[0].approvers[0] is "arn:aws:iam::12345:role/x": must be an IAM user or role ARN like arn:aws:iam::123456789012:role/ReleaseApprover',
    ],
    [
      "an email where an ARN belongs",
      { stages: [stage({ approvers: ["alice@example.com"] })] },
      'sfn-approvals:stages[0].approvers[0] is "alice@example.com": must be an IAM user or role ARN',
    ],
    [
      "no approvers",
      { stages: [stage({ approvers: [] })] },
      "sfn-approvals:stages[0].approvers is []: must be a non-empty list of IAM user or role ARNs",
    ],
    [
      "duplicate approver",
      { stages: [stage({ approvers: [ROLE, ROLE] })] },
      `sfn-approvals:stages[0].approvers lists "${ROLE}" twice`,
    ],
    [
      "the same role twice, its names differing only in case (IAM names are not distinguished by case)",
      {
        stages: [
          stage({ approvers: [ROLE, USER, "arn:aws:iam::123456789012:role/releaseapprover"], minRequiredApprovals: 2 }),
        ],
      },
      `sfn-approvals:stages[0].approvers lists "${ROLE}" and "arn:aws:iam::123456789012:role/releaseapprover", which IAM treats as one principal (names are not distinguished by case or path): list it once`,
    ],
    [
      "the same role twice, with and without a path",
      {
        stages: [
          stage({
            mechanism: "activity",
            notify: [],
            approvers: [ROLE, "arn:aws:iam::123456789012:role/teams/ReleaseApprover"],
          }),
        ],
      },
      `sfn-approvals:stages[0].approvers lists "${ROLE}" and "arn:aws:iam::123456789012:role/teams/ReleaseApprover", which IAM treats as one principal`,
    ],
    [
      "the same user twice in a codepipeline stage",
      { stages: [stage({ mechanism: "codepipeline", approvers: [USER, "arn:aws:iam::123456789012:user/ALICE"] })] },
      `sfn-approvals:stages[0].approvers lists "${USER}" and "arn:aws:iam::123456789012:user/ALICE", which IAM treats as one principal`,
    ],
    [
      "an execution data reader that is not an IAM ARN",
      { stages: [stage()], executionDataReaders: ["ops@example.com"] },
      'sfn-approvals:executionDataReaders[0] is "ops@example.com": must be an IAM user or role ARN like arn:aws:iam::123456789012:role/PlatformOperator',
    ],
    [
      "execution data readers that are not a list",
      { stages: [stage()], executionDataReaders: "arn:aws:iam::123456789012:role/Ops" },
      'sfn-approvals:executionDataReaders is "arn:aws:iam::123456789012:role/Ops": must be a list of at most 20 IAM user or role ARNs',
    ],
    [
      "an execution data reader twice",
      { stages: [stage()], executionDataReaders: [ROLE, "arn:aws:iam::123456789012:role/ops/ReleaseApprover"] },
      `sfn-approvals:executionDataReaders lists "${ROLE}" and "arn:aws:iam::123456789012:role/ops/ReleaseApprover", which IAM treats as one principal`,
    ],
    [
      "an unknown key of the namespace",
      { stages: [stage()], keys: ["stages", "autoapproveBelow"] },
      "sfn-approvals:autoapproveBelow is not a known key (did you mean sfn-approvals:autoApproveBelow?)",
    ],
    [
      "more than 10 SSM approvers",
      { stages: [stage({ approvers: Array.from({ length: 11 }, (_, i) => `arn:aws:iam::123456789012:user/u${i}`) })] },
      "sfn-approvals:stages[0].approvers has 11 entries: ssm-automation allows at most 10 approvers",
    ],
    [
      "minRequiredApprovals of 0",
      { stages: [stage({ minRequiredApprovals: 0 })] },
      "sfn-approvals:stages[0].minRequiredApprovals is 0: must be a whole number from 1 to the number of approvers (1)",
    ],
    [
      "minRequiredApprovals above the approver count",
      { stages: [stage({ approvers: [ROLE, USER], minRequiredApprovals: 3 })] },
      "sfn-approvals:stages[0].minRequiredApprovals is 3: must be a whole number from 1 to the number of approvers (2)",
    ],
    [
      "minRequiredApprovals not a whole number",
      { stages: [stage({ minRequiredApprovals: "1" })] },
      'sfn-approvals:stages[0].minRequiredApprovals is "1"',
    ],
    [
      "malformed timeout",
      { stages: [stage({ timeout: "3 days" })] },
      'sfn-approvals:stages[0].timeout is "3 days": must be a whole number followed by s, m, h or d, like 30m, 12h or 3d',
    ],
    [
      "negative timeout",
      { stages: [stage({ timeout: "-1h" })] },
      'sfn-approvals:stages[0].timeout is "-1h": must be a whole number followed by s, m, h or d',
    ],
    [
      "missing timeout",
      { stages: [stage({ timeout: undefined })] },
      "sfn-approvals:stages[0].timeout is undefined: must be a whole number",
    ],
    [
      "timeout below a minute",
      { stages: [stage({ timeout: "30s" })] },
      'sfn-approvals:stages[0].timeout is "30s": must be at least 1m',
    ],
    [
      "timeout above the SSM maximum",
      { stages: [stage({ timeout: "31d" })] },
      'sfn-approvals:stages[0].timeout is "31d": aws:approve allows at most 30d',
    ],
    [
      "malformed notify email",
      { stages: [stage({ notify: ["approvers@example"] })] },
      'sfn-approvals:stages[0].notify[0] is "approvers@example": must be an email address like approvers@example.com',
    ],
    [
      "notify not a list",
      { stages: [stage({ notify: "approvers@example.com" })] },
      'sfn-approvals:stages[0].notify is "approvers@example.com": must be a list of email addresses',
    ],
    [
      "a notify address listed twice",
      { stages: [stage({ notify: ["a@example.com", "A@example.com"] })] },
      'sfn-approvals:stages[0].notify lists "A@example.com" twice',
    ],
    [
      "a malformed alert email",
      { stages: [stage()], alertEmails: ["oncall"] },
      'sfn-approvals:alertEmails[0] is "oncall": must be an email address like oncall@example.com',
    ],
    [
      "alertEmails not a list",
      { stages: [stage()], alertEmails: "oncall@example.com" },
      'sfn-approvals:alertEmails is "oncall@example.com": must be a list of email addresses',
    ],
    [
      "notify on an activity stage",
      { stages: [stage({ mechanism: "activity" })] },
      "sfn-approvals:stages[0].notify is set, but the activity mechanism sends no email",
    ],
    [
      "an activity timeout above 90 days",
      { stages: [stage({ mechanism: "activity", notify: undefined, timeout: "91d" })] },
      'sfn-approvals:stages[0].timeout is "91d": an activity stage waits at most 90d',
    ],
    [
      "remindEvery on an activity stage",
      { stages: [stage({ mechanism: "activity", notify: undefined, remindEvery: "1d" })] },
      "sfn-approvals:stages[0].remindEvery is set, but the activity mechanism sends no email to remind",
    ],
    [
      "remindEvery on an ssm-automation stage without notify",
      { stages: [stage({ notify: undefined, remindEvery: "1d" })] },
      "sfn-approvals:stages[0].remindEvery is set, but reminders go to the stage's notify addresses and there are none",
    ],
    [
      "remindEvery on a codepipeline stage with an empty notify",
      { stages: [stage({ mechanism: "codepipeline", notify: [], remindEvery: "1d" })] },
      "sfn-approvals:stages[0].remindEvery is set, but reminders go to the stage's notify addresses and there are none",
    ],
    [
      "a malformed remindEvery",
      { stages: [emailStage({ remindEvery: "daily" })] },
      'sfn-approvals:stages[0].remindEvery is "daily": must be a whole number followed by s, m, h or d, like 4h or 1d',
    ],
    [
      "remindEvery below five minutes",
      { stages: [emailStage({ remindEvery: "4m" })] },
      'sfn-approvals:stages[0].remindEvery is "4m": must be at least 5m',
    ],
    [
      "remindEvery not shorter than the timeout",
      { stages: [emailStage({ remindEvery: "2d" })] },
      'sfn-approvals:stages[0].remindEvery is "2d": must be shorter than the stage\'s timeout ("2d")',
    ],
    [
      "more than 100 reminders",
      { stages: [emailStage({ timeout: "30d", remindEvery: "6h" })] },
      'sfn-approvals:stages[0].remindEvery is "6h": with timeout "30d" it would send 120 reminders; at most 100 are allowed',
    ],
    [
      "an empty escalateTo",
      { stages: [emailStage({ escalateTo: [] })] },
      "sfn-approvals:stages[0].escalateTo is []: must be a list of 1 to 10 email addresses or SNS topic ARNs",
    ],
    [
      "escalateTo with more than 10 targets",
      { stages: [emailStage({ escalateTo: Array.from({ length: 11 }, (_, i) => `m${i}@example.com`) })] },
      "sfn-approvals:stages[0].escalateTo is",
    ],
    [
      "an escalation target that is neither an email nor an SNS topic",
      { stages: [emailStage({ escalateTo: ["arn:aws:iam::123456789012:role/Boss"] })] },
      'sfn-approvals:stages[0].escalateTo[0] is "arn:aws:iam::123456789012:role/Boss": must be an email address like manager@example.com or an SNS topic ARN',
    ],
    [
      "a FIFO escalation topic",
      { stages: [emailStage({ escalateTo: ["arn:aws:sns:eu-west-1:123456789012:escalations.fifo"] })] },
      'sfn-approvals:stages[0].escalateTo[0] is "arn:aws:sns:eu-west-1:123456789012:escalations.fifo": a FIFO topic needs a message group',
    ],
    [
      "an escalation target listed twice",
      { stages: [emailStage({ escalateTo: ["boss@example.com", "Boss@example.com"] })] },
      'sfn-approvals:stages[0].escalateTo lists "Boss@example.com" twice',
    ],
    [
      "the same escalation topic ARN twice",
      {
        stages: [
          emailStage({
            escalateTo: ["arn:aws:sns:eu-west-1:123456789012:Oncall", "arn:aws:sns:eu-west-1:123456789012:Oncall"],
          }),
        ],
      },
      'sfn-approvals:stages[0].escalateTo lists "arn:aws:sns:eu-west-1:123456789012:Oncall" twice',
    ],
    [
      "escalateAfter without escalateTo",
      { stages: [emailStage({ escalateAfter: "50%" })] },
      "sfn-approvals:stages[0].escalateAfter is set without escalateTo",
    ],
    [
      "escalateAfter of 100%",
      { stages: [emailStage({ escalateTo: ["boss@example.com"], escalateAfter: "100%" })] },
      'sfn-approvals:stages[0].escalateAfter is "100%": must be a share of the timeout from "1%" to "99%"',
    ],
    [
      "escalateAfter as a duration",
      { stages: [emailStage({ escalateTo: ["boss@example.com"], escalateAfter: "1d" })] },
      'sfn-approvals:stages[0].escalateAfter is "1d": must be a share of the timeout',
    ],
    [
      "escalateAfter of 0%",
      { stages: [emailStage({ escalateTo: ["boss@example.com"], escalateAfter: "0%" })] },
      'sfn-approvals:stages[0].escalateAfter is "0%"',
    ],
    [
      "unknown stage key",
      { stages: [stage({ approver: [ROLE] })] },
      "sfn-approvals:stages[0].approver is not a known key",
    ],
    [
      "autoApproveBelow not a number",
      { stages: [stage()], autoApproveBelow: "lots" },
      'sfn-approvals:autoApproveBelow is "lots": must be a positive number',
    ],
    [
      "autoApproveBelow of zero",
      { stages: [stage()], autoApproveBelow: "0" },
      'sfn-approvals:autoApproveBelow is "0": must be a positive number',
    ],
  ];
  for (const [what, raw, message] of cases) {
    it(`rejects ${what} with a message naming key, value and what is allowed`, () => {
      const problems = problemsOf(raw);
      expect(
        problems.some((p) => p.includes(message)),
        `problems: ${JSON.stringify(problems)}`,
      ).to.equal(true);
    });
  }

  it("reports every problem of a config at once, in one error without a stack trace for the user", () => {
    try {
      parseConfig({ stages: [stage({ name: "Bad", timeout: "forever", approvers: ["nobody"] })] });
      expect.fail("expected a ConfigError");
    } catch (error) {
      const e = error as ConfigError;
      expect(e.problems).to.have.length(3);
      expect(e.message).to.match(/^Invalid sfn-approvals stack config:\n  - /);
      // pulumi.RunError is what makes Pulumi print the message alone, without a stack trace.
      expect((e as unknown as { __pulumiRunError: boolean }).__pulumiRunError).to.equal(true);
    }
  });
});

describe("config: approvers who sign in with IAM Identity Center, and where approver policies go (issue 12)", () => {
  // Permission-set roles as IAM Identity Center names them, with and without the Region segment
  // (https://docs.aws.amazon.com/singlesignon/latest/userguide/referencingpermissionsets.html).
  const SSO =
    "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_FinanceApprover_1234567890abcdef";
  const SSO_US_EAST_1 =
    "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_ReleaseApprover_abcdef0123456789";
  const INSTANCE = "arn:aws:sso:::instance/ssoins-1234567890abcdef";
  const SET = "arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-1234567890abcdef";
  const pipeline = (overrides: Record<string, unknown> = {}) =>
    stage({ mechanism: "codepipeline", approvers: [SSO], ...overrides });

  it("accepts Identity Center role ARNs with their path for every IAM mechanism", () => {
    const config = parseConfig({
      stages: [
        stage({ approvers: [SSO, SSO_US_EAST_1] }),
        stage({ name: "finance", mechanism: "codepipeline", approvers: [SSO] }),
        stage({ name: "worker", mechanism: "activity", notify: undefined, approvers: [SSO_US_EAST_1] }),
      ],
    });
    expect(config.stages.map((s) => s.approvers)).to.deep.equal([[SSO, SSO_US_EAST_1], [SSO], [SSO_US_EAST_1]]);
  });

  it("leaves the new keys out when they are not set (attachApproverPolicies defaults to true)", () => {
    const config = parseConfig({ stages: [pipeline()] });
    expect(config).to.not.have.any.keys("attachApproverPolicies", "approverPolicyPrefix", "identityCenter");
    expect(config.stages[0]).to.not.have.any.keys("permissionSets");
  });

  it("reads attachApproverPolicies, approverPolicyPrefix, identityCenter and stages[].permissionSets", () => {
    expect(parseConfig({ stages: [pipeline()], attachApproverPolicies: "false" }).attachApproverPolicies).to.equal(
      false,
    );
    expect(parseConfig({ stages: [pipeline()], attachApproverPolicies: "true" }).attachApproverPolicies).to.equal(true);
    const config = parseConfig({
      approverPolicyPrefix: "sfn-approvals",
      identityCenter: {
        instanceArn: INSTANCE,
        region: "us-east-1",
        roleArn: "arn:aws:iam::111122223333:role/PermissionSetAdmin",
      },
      stages: [
        pipeline({ permissionSets: [SET] }),
        stage({
          name: "worker",
          mechanism: "activity",
          notify: undefined,
          permissionSets: ["arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-abcdef0123456789"],
        }),
      ],
    });
    expect(config.approverPolicyPrefix).to.equal("sfn-approvals");
    expect(config.identityCenter).to.deep.equal({
      instanceArn: INSTANCE,
      region: "us-east-1",
      roleArn: "arn:aws:iam::111122223333:role/PermissionSetAdmin",
    });
    expect(config.stages.map((s) => s.permissionSets)).to.deep.equal([
      [SET],
      ["arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-abcdef0123456789"],
    ]);
  });

  const cases: Array<[string, Parameters<typeof parseConfig>[0], string]> = [
    [
      "attachApproverPolicies that is not true or false",
      { stages: [pipeline()], attachApproverPolicies: "no" },
      'sfn-approvals:attachApproverPolicies is "no": must be true or false',
    ],
    [
      "an approverPolicyPrefix IAM would refuse in a policy name",
      { stages: [pipeline()], approverPolicyPrefix: "team policies" },
      'sfn-approvals:approverPolicyPrefix is "team policies": must be 1 to 64 letters, digits or +=,.@_-',
    ],
    [
      "an identityCenter that is not an object",
      { stages: [pipeline()], identityCenter: INSTANCE },
      `sfn-approvals:identityCenter is "${INSTANCE}": must be an object with instanceArn`,
    ],
    [
      "an identityCenter without instanceArn",
      { stages: [pipeline()], identityCenter: { region: "eu-west-1" } },
      "sfn-approvals:identityCenter.instanceArn is undefined: must be an IAM Identity Center instance ARN like arn:aws:sso:::instance/ssoins-1234567890abcdef",
    ],
    [
      "a malformed instance ARN",
      { stages: [pipeline()], identityCenter: { instanceArn: "arn:aws:sso:::instance/ssoins-123" } },
      'sfn-approvals:identityCenter.instanceArn is "arn:aws:sso:::instance/ssoins-123"',
    ],
    [
      "an identityCenter region that is no Region",
      { stages: [pipeline()], identityCenter: { instanceArn: INSTANCE, region: "Ireland" } },
      'sfn-approvals:identityCenter.region is "Ireland": must be the AWS Region of the Identity Center instance',
    ],
    [
      "an identityCenter roleArn that is a user",
      { stages: [pipeline()], identityCenter: { instanceArn: INSTANCE, roleArn: USER } },
      `sfn-approvals:identityCenter.roleArn is "${USER}": must be an IAM role ARN`,
    ],
    [
      "an unknown key of identityCenter",
      { stages: [pipeline()], identityCenter: { instanceArn: INSTANCE, instance: INSTANCE } },
      "sfn-approvals:identityCenter.instance is not a known key: allowed are instanceArn, region, roleArn",
    ],
    [
      "permissionSets on an ssm-automation stage (aws:approve names approvers; the stack gives them no policy)",
      { stages: [stage({ permissionSets: [SET] })], identityCenter: { instanceArn: INSTANCE } },
      'sfn-approvals:stages[0].permissionSets is set, but "ssm-automation" gives its approvers no policy to attach (only codepipeline and activity do)',
    ],
    [
      "permissionSets on an email stage",
      { stages: [emailStage({ permissionSets: [SET] })], identityCenter: { instanceArn: INSTANCE } },
      'sfn-approvals:stages[0].permissionSets is set, but "email-link" gives its approvers no policy',
    ],
    [
      "an empty permissionSets",
      { stages: [pipeline({ permissionSets: [] })], identityCenter: { instanceArn: INSTANCE } },
      "sfn-approvals:stages[0].permissionSets is []: must be a list of 1 to 10 IAM Identity Center permission set ARNs",
    ],
    [
      "a permission set given by name",
      { stages: [pipeline({ permissionSets: ["FinanceApprover"] })], identityCenter: { instanceArn: INSTANCE } },
      'sfn-approvals:stages[0].permissionSets[0] is "FinanceApprover": must be a permission set ARN like arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-1234567890abcdef',
    ],
    [
      "a permission set twice",
      { stages: [pipeline({ permissionSets: [SET, SET] })], identityCenter: { instanceArn: INSTANCE } },
      `sfn-approvals:stages[0].permissionSets lists "${SET}" twice`,
    ],
    [
      "permissionSets without identityCenter",
      { stages: [pipeline({ permissionSets: [SET] })] },
      "sfn-approvals:stages[0].permissionSets is set without sfn-approvals:identityCenter: name the Identity Center instance",
    ],
    [
      "a permission set of another instance",
      {
        stages: [
          pipeline({ permissionSets: ["arn:aws:sso:::permissionSet/ssoins-0000000000000000/ps-1234567890abcdef"] }),
        ],
        identityCenter: { instanceArn: INSTANCE },
      },
      'sfn-approvals:stages[0].permissionSets[0] is "arn:aws:sso:::permissionSet/ssoins-0000000000000000/ps-1234567890abcdef": it belongs to instance ssoins-0000000000000000, not to the instance of sfn-approvals:identityCenter.instanceArn (ssoins-1234567890abcdef)',
    ],
    [
      "permissionSets with attachApproverPolicies false",
      {
        stages: [pipeline({ permissionSets: [SET] })],
        identityCenter: { instanceArn: INSTANCE },
        attachApproverPolicies: "false",
      },
      "sfn-approvals:stages[0].permissionSets is set, but sfn-approvals:attachApproverPolicies is false (the stack attaches nothing): remove one of them",
    ],
    [
      "a misspelt attachApproverPolicies",
      { stages: [pipeline()], keys: ["stages", "attachapproverpolicies"] },
      "sfn-approvals:attachapproverpolicies is not a known key (did you mean sfn-approvals:attachApproverPolicies?)",
    ],
  ];
  for (const [what, raw, message] of cases) {
    it(`rejects ${what} with a message naming key, value and what is allowed`, () => {
      const problems = problemsOf(raw);
      expect(
        problems.some((p) => p.includes(message)),
        `problems: ${JSON.stringify(problems)}`,
      ).to.equal(true);
    });
  }
});

describe("config: principals", () => {
  it("a user and a role of the same name are two principals; two accounts' roles of one name are two", () => {
    const config = parseConfig({
      stages: [
        stage({ approvers: [USER, "arn:aws:iam::123456789012:role/alice", "arn:aws:iam::210987654321:role/alice"] }),
      ],
    });
    expect(config.stages[0].approvers).to.have.length(3);
  });

  it("checkAccounts accepts principals of the stack's account, and leaves email approvers alone", () => {
    const config = parseConfig({
      executionDataReaders: [ROLE],
      stages: [stage({ approvers: [ROLE, USER] }), emailStage()],
    });
    expect(config.executionDataReaders).to.deep.equal([ROLE]);
    expect(() => checkAccounts(config, "123456789012")).not.to.throw();
    expect(() => checkAccounts(config, "210987654321")).to.throw(ConfigError, "sfn-approvals:stages[0].approvers[0]");
  });

  it("checkAccounts refuses an audit reader of another account", () => {
    const other = "arn:aws:iam::210987654321:role/Auditor";
    const config = parseConfig({ stages: [stage()], audit: { readers: [ROLE, other] } });
    expect(() => checkAccounts(config, "123456789012")).to.throw(
      ConfigError,
      `sfn-approvals:audit.readers[1] is "${other}": it is in account 210987654321`,
    );
  });
});

describe("config: checkRegions", () => {
  it("needs aws-native:region, naming the command and the stack's Region", () => {
    expect(() => checkRegions("eu-west-1", undefined)).to.throw(
      ConfigError,
      "aws-native:region is not set: the workflow's versions and its alias are created with the aws-native provider, which takes its own Region; set it to the stack's Region: pulumi config set aws-native:region eu-west-1",
    );
  });
  it("refuses a Region other than aws:region, and accepts the same one", () => {
    expect(() => checkRegions("eu-west-1", "us-east-1")).to.throw(
      ConfigError,
      'aws-native:region is "us-east-1" but aws:region is "eu-west-1"',
    );
    expect(() => checkRegions("eu-west-1", "eu-west-1")).not.to.throw();
  });
});

describe("config: parseDuration", () => {
  it("converts s, m, h and d", () => {
    expect([parseDuration("45s"), parseDuration("30m"), parseDuration("12h"), parseDuration("3d")]).to.deep.equal([
      45, 1800, 43200, 259200,
    ]);
  });
  it("refuses anything else", () => {
    for (const text of ["", "3", "d", "1.5h", "3w", "-1d", "1h30m"])
      expect(parseDuration(text), text).to.equal(undefined);
  });
});
