// Config of the slack mechanism: a stage's approvers (Slack user IDs), quorum, channel,
// commentOnApprove and directMessages; the Slack app's stack keys (the workspace, and the two
// credentials, refused in clear text when Pulumi says which keys are secret); what slack refuses and why.
import * as pulumi from "@pulumi/pulumi";
import { expect } from "chai";
import { parseConfig } from "../components/config";
import { configSecretKeys, loadSlackSecrets } from "../components/slackConfig";
import { ConfigError } from "../components/shared/configError";
import { runWithMocks } from "./helpers/pulumiMocks";

const APPROVERS = ["U0000000001", "U0000000002", "W0000000003"];
const APP_KEYS = ["stages", "slackTeamId", "slackBotToken", "slackSigningSecret"];
const SECRET_KEYS = ["sfn-approvals:slackBotToken", "sfn-approvals:slackSigningSecret"];

function slackStage(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: "ops", mechanism: "slack", approvers: APPROVERS, channel: "C0123456789", timeout: "1d", ...overrides };
}

type Raw = Parameters<typeof parseConfig>[0];
const app = (stages: unknown[], overrides: Partial<Raw> = {}): Raw => ({
  stages,
  slackTeamId: "T0123456789",
  keys: APP_KEYS,
  secretKeys: SECRET_KEYS,
  ...overrides,
});

function problemsOf(raw: Raw): string[] {
  try {
    parseConfig(raw);
  } catch (error) {
    expect(error).to.be.instanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error("expected a ConfigError");
}

describe("config: slack", () => {
  it("parses a slack stage with a quorum, its channel and commentOnApprove, and the workspace", () => {
    const config = parseConfig(
      app([slackStage({ minRequiredApprovals: 2, commentOnApprove: true, escalateTo: ["lead@example.com"] })]),
    );
    expect(config.stages[0]).to.deep.equal({
      name: "ops",
      mechanism: "slack",
      approvers: APPROVERS,
      minRequiredApprovals: 2,
      notify: [],
      channel: "C0123456789",
      commentOnApprove: true,
      timeoutSeconds: 86400,
      timeout: "1d",
      escalateTo: { emails: ["lead@example.com"], topicArns: [] },
      escalateAfterPercent: 50,
    });
    expect(config.slack).to.deep.equal({ teamId: "T0123456789" });
  });

  it("parses directMessages (left out: not set, so off), true or false", () => {
    expect(parseConfig(app([slackStage()])).stages[0]).not.to.have.property("directMessages");
    expect(parseConfig(app([slackStage({ directMessages: true })])).stages[0]).to.deep.include({
      directMessages: true,
    });
    expect(parseConfig(app([slackStage({ directMessages: "false" })])).stages[0]).to.deep.include({
      directMessages: false,
    });
  });

  it("takes remindEvery without notify: reminders are replies in the request message's thread", () => {
    const config = parseConfig(app([slackStage({ remindEvery: "4h" })]));
    expect(config.stages[0]).to.deep.include({ remindEverySeconds: 14400, remindEvery: "4h", notify: [] });
  });

  const at = "sfn-approvals:stages[0]";
  const cases: Array<[string, Raw, string[]]> = [
    [
      "approvers that are not Slack user IDs",
      app([slackStage({ approvers: ["alice@example.com", "u0000000001", "C0123456789"] })]),
      [0, 1, 2].map(
        (i) =>
          `${at}.approvers[${i}] is ${JSON.stringify(["alice@example.com", "u0000000001", "C0123456789"][i])}: must be a Slack user ID like U0123456789 (in Slack: the member's profile, Copy member ID)`,
      ),
    ],
    [
      "an approver twice",
      app([slackStage({ approvers: ["U0000000001", "U0000000001"] })]),
      [`${at}.approvers lists "U0000000001" twice: each approver must appear once`],
    ],
    [
      "51 approvers",
      app([slackStage({ approvers: Array.from({ length: 51 }, (_, i) => `U${String(i).padStart(10, "0")}`) })]),
      [`${at}.approvers has 51 entries: slack allows at most 50 approvers`],
    ],
    [
      "a quorum above the number of approvers",
      app([slackStage({ minRequiredApprovals: 4 })]),
      [`${at}.minRequiredApprovals is 4: must be a whole number from 1 to the number of approvers (3)`],
    ],
    [
      "no channel",
      app([slackStage({ channel: undefined })]),
      [
        `${at}.channel is undefined: must be the ID of the Slack channel the request is posted to, like C0123456789 (public) or G0123456789 (private): in Slack, the channel's details, "Channel ID"`,
      ],
    ],
    [
      "a channel name, or a DM",
      app([slackStage({ channel: "#ops" }), slackStage({ name: "two", channel: "D0123456789" })]),
      [
        `${at}.channel is "#ops": must be the ID of the Slack channel the request is posted to, like C0123456789 (public) or G0123456789 (private): in Slack, the channel's details, "Channel ID"`,
        `sfn-approvals:stages[1].channel is "D0123456789": must be the ID of the Slack channel the request is posted to, like C0123456789 (public) or G0123456789 (private): in Slack, the channel's details, "Channel ID"`,
        "sfn-approvals:stages has 2 slack stages: a Slack app has one interactivity Request URL and the stack one app, so at most one stage may use slack",
      ],
    ],
    [
      "commentOnApprove that is not a boolean",
      app([slackStage({ commentOnApprove: "yes" })]),
      [`${at}.commentOnApprove is "yes": must be true or false (true: Approve also opens the comment box)`],
    ],
    [
      "directMessages that is not a boolean",
      app([slackStage({ directMessages: 1 })]),
      [
        `${at}.directMessages is 1: must be true or false (true: each approver also gets a direct message pointing at the request in the channel)`,
      ],
    ],
    [
      "directMessages on another mechanism",
      {
        stages: [
          {
            name: "lead",
            mechanism: "email-link",
            approvers: ["lead@example.com"],
            timeout: "1d",
            directMessages: true,
          },
        ],
      },
      [`${at}.directMessages is set, but "email-link" posts to no Slack channel; remove directMessages`],
    ],
    [
      "notify (the channel is the notification)",
      app([slackStage({ notify: ["team@example.com"] })]),
      [
        `${at}.notify is set, but slack posts the request to the stage's channel, which is its notification: invite whoever should see it to the channel; remove notify`,
      ],
    ],
    [
      "remindEvery below the minimum (reminders go to the thread, as every stage's within the same bounds)",
      app([slackStage({ remindEvery: "1m" })]),
      [`${at}.remindEvery is "1m": must be at least 5m`],
    ],
    [
      "channel and commentOnApprove on another mechanism",
      {
        stages: [
          {
            name: "lead",
            mechanism: "email-link",
            approvers: ["lead@example.com"],
            timeout: "1d",
            channel: "C0123456789",
            commentOnApprove: true,
          },
        ],
      },
      [
        `${at}.channel is set, but "email-link" posts to no Slack channel; remove channel`,
        `${at}.commentOnApprove is set, but "email-link" posts to no Slack channel; remove commentOnApprove`,
      ],
    ],
    [
      "no workspace, and a malformed one",
      app([slackStage()], { slackTeamId: undefined, keys: ["stages", "slackBotToken", "slackSigningSecret"] }),
      [
        "sfn-approvals:slackTeamId is undefined: a slack stage needs the ID of the Slack workspace whose clicks count, like T0123456789 (Slack: workspace settings, or the team_id of auth.test)",
      ],
    ],
    [
      "missing credentials",
      app([slackStage()], { keys: ["stages", "slackTeamId"] }),
      [
        "sfn-approvals:slackBotToken is missing: a slack stage needs the Slack app's bot token (xoxb-…, OAuth & Permissions); set it with pulumi config set --secret sfn-approvals:slackBotToken",
        "sfn-approvals:slackSigningSecret is missing: a slack stage needs the Slack app's signing secret (Basic Information, App Credentials); set it with pulumi config set --secret sfn-approvals:slackSigningSecret",
      ],
    ],
    [
      "credentials in clear text (Pulumi lists the secret keys)",
      app([slackStage()], { secretKeys: ["sfn-approvals:slackSigningSecret"] }),
      [
        "sfn-approvals:slackBotToken is set in clear text: it is a credential of the Slack app; set it again with pulumi config set --secret sfn-approvals:slackBotToken",
      ],
    ],
    [
      "Slack keys without a slack stage",
      {
        stages: [{ name: "lead", mechanism: "email-link", approvers: ["lead@example.com"], timeout: "1d" }],
        slackTeamId: "T0123456789",
        keys: APP_KEYS,
      },
      [
        "sfn-approvals:slackTeamId is set, but no stage uses slack; remove it",
        "sfn-approvals:slackBotToken is set, but no stage uses slack; remove it",
        "sfn-approvals:slackSigningSecret is set, but no stage uses slack; remove it",
      ],
    ],
  ];
  for (const [what, raw, problems] of cases) {
    it(`refuses ${what}, saying why`, () => {
      expect(problemsOf(raw)).to.deep.equal(problems);
    });
  }

  it("accepts the credentials when Pulumi says nothing about secret keys (it cannot tell)", () => {
    expect(parseConfig(app([slackStage()], { secretKeys: undefined })).slack).to.deep.equal({ teamId: "T0123456789" });
  });

  it("reads Pulumi's list of secret keys from PULUMI_CONFIG_SECRET_KEYS", () => {
    expect(configSecretKeys({ PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(SECRET_KEYS) })).to.deep.equal(SECRET_KEYS);
    expect(configSecretKeys({})).to.equal(undefined);
    expect(configSecretKeys({ PULUMI_CONFIG_SECRET_KEYS: "not json" })).to.equal(undefined);
    expect(configSecretKeys({ PULUMI_CONFIG_SECRET_KEYS: "[1]" })).to.equal(undefined);
  });

  it("loads the credentials as Pulumi secrets", async () => {
    const { result } = await runWithMocks(
      "dev",
      { "sfn-approvals:slackBotToken": "xoxb-1", "sfn-approvals:slackSigningSecret": "s" },
      () => {
        const secrets = loadSlackSecrets();
        return pulumi
          .all([pulumi.isSecret(secrets.botToken), pulumi.isSecret(secrets.signingSecret)])
          .apply(([a, b]) => [a, b]);
      },
    );
    expect(await new Promise((resolve) => result.apply(resolve))).to.deep.equal([true, true]);
  });
});
