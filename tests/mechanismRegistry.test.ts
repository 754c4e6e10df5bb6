// The mechanism registry (components/mechanisms/index.ts) drives config parsing and the docs: these
// checks run for every mechanism in MECHANISMS, so a new one is checked without new test code.
import { expect } from "chai";
import { readFileSync } from "fs";
import { join } from "path";
import { StageConfig, parseConfig } from "../components/config";
import { MECHANISM_DEFINITIONS, MechanismDefinition, mechanismsWith } from "../components/mechanisms";
import { ConfigError } from "../components/shared/configError";
import { MECHANISMS, Mechanism } from "../functions/contract";
import { runWithMocks } from "./helpers/pulumiMocks";
import * as pulumi from "@pulumi/pulumi";

const ROOT = join(__dirname, "..");
const PAGE_HEADINGS = [
  "Overview",
  "Config keys",
  "Resources and defaults",
  "How approvers decide",
  "Diagram",
  "What it fixes over the public examples",
];

function approver(definition: MechanismDefinition, i: number): string {
  if (definition.approvers.kind === "slack-user") return `U${String(i).padStart(10, "0")}`;
  return definition.approvers.kind === "email"
    ? `approver${i}@example.com`
    : `arn:aws:iam::123456789012:role/Approver${i}`;
}

/** The stack keys a stage of `mechanism` needs besides its own (the Slack app's workspace). */
function stackKeysOf(mechanism: unknown): { slackTeamId?: string } {
  return (MECHANISM_DEFINITIONS as Partial<Record<string, MechanismDefinition>>)[String(mechanism)]?.channel
    ? { slackTeamId: "T0123456789" }
    : {};
}

/** A valid stage of `mechanism` (with notify only where the mechanism takes it), with overrides. */
function stageOf(mechanism: Mechanism, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const definition = MECHANISM_DEFINITIONS[mechanism];
  return {
    name: "review",
    mechanism,
    approvers: [approver(definition, 1)],
    ...(definition.notify === "allowed" ? { notify: ["team@example.com"] } : {}),
    ...(definition.channel ? { channel: "C0123456789" } : {}),
    timeout: `${definition.timeout.minSeconds}s`,
    ...overrides,
  };
}

function problemsOf(stage: Record<string, unknown>): string[] {
  try {
    parseConfig({ stages: [stage], ...stackKeysOf(stage.mechanism) });
  } catch (error) {
    expect(error).to.be.instanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  return [];
}

describe("mechanism registry: every mechanism in MECHANISMS", () => {
  it("has a definition, and nothing else has one", () => {
    expect(Object.keys(MECHANISM_DEFINITIONS)).to.have.members([...MECHANISMS]);
  });

  for (const mechanism of MECHANISMS) {
    const definition = MECHANISM_DEFINITIONS[mechanism];
    describe(mechanism, () => {
      it("accepts its smallest valid stage, and its longest timeout", () => {
        expect(problemsOf(stageOf(mechanism))).to.deep.equal([]);
        expect(definition.timeout.maxSeconds % 86400, "longest wait in whole days").to.equal(0);
        expect(problemsOf(stageOf(mechanism, { timeout: `${definition.timeout.maxSeconds / 86400}d` }))).to.deep.equal(
          [],
        );
      });

      it("refuses a timeout beyond its longest wait and below its shortest, saying why", () => {
        const beyond = `${definition.timeout.maxSeconds / 86400 + 1}d`;
        expect(problemsOf(stageOf(mechanism, { timeout: beyond }))).to.deep.equal([
          `sfn-approvals:stages[0].timeout is "${beyond}": ${definition.timeout.maxReason}`,
        ]);
        expect(problemsOf(stageOf(mechanism, { timeout: `${definition.timeout.minSeconds - 1}s` }))[0]).to.match(
          new RegExp(`must be at least ${definition.timeout.minText}`),
        );
      });

      it(`refuses more than ${definition.approvers.max} approvers, and approvers of the other kind`, () => {
        const many = Array.from({ length: definition.approvers.max + 1 }, (_, i) => approver(definition, i));
        expect(problemsOf(stageOf(mechanism, { approvers: many }))).to.include(
          `sfn-approvals:stages[0].approvers has ${many.length} entries: ${mechanism} allows at most ${definition.approvers.max} approvers`,
        );
        const other =
          definition.approvers.kind === "email" ? "arn:aws:iam::123456789012:role/Approver1" : "approver1@example.com";
        expect(problemsOf(stageOf(mechanism, { approvers: [other] }))).to.have.length(1);
      });

      it(definition.quorum ? "takes minRequiredApprovals" : "refuses minRequiredApprovals", () => {
        const problems = problemsOf(
          stageOf(mechanism, {
            approvers: [approver(definition, 1), approver(definition, 2)],
            minRequiredApprovals: 2,
          }),
        );
        expect(problems).to.deep.equal(
          definition.quorum
            ? []
            : [
                `sfn-approvals:stages[0].minRequiredApprovals is set, but only the ${mechanismsWith("quorum").join(" and ")} mechanism supports a quorum (this stage uses "${mechanism}")`,
              ],
        );
      });

      it(definition.notify === "allowed" ? "takes notify" : "refuses notify, saying why", () => {
        const problems = problemsOf(stageOf(mechanism, { notify: ["team@example.com"] }));
        expect(problems).to.deep.equal(
          definition.notify === "allowed"
            ? []
            : [`sfn-approvals:stages[0].notify is set, but ${definition.notify.refused}`],
        );
      });

      it(`reminds ${definition.reminders === "notify" ? "its notify addresses" : definition.reminders === "approvers" ? "its approvers" : definition.reminders === "thread" ? "in the request message's thread" : "nobody (remindEvery refused)"}`, () => {
        const problems = problemsOf(stageOf(mechanism, { timeout: "2d", remindEvery: "1d" }));
        expect(problems).to.deep.equal(
          typeof definition.reminders === "string"
            ? []
            : [`sfn-approvals:stages[0].remindEvery is set, but ${definition.reminders.refused}`],
        );
      });

      it(
        definition.approverPolicy
          ? "takes permissionSets (its approvers get a policy)"
          : "refuses permissionSets (its approvers get no policy)",
        () => {
          const permissionSets = ["arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-1234567890abcdef"];
          let problems: string[] = [];
          try {
            parseConfig({
              stages: [stageOf(mechanism, { permissionSets })],
              identityCenter: { instanceArn: "arn:aws:sso:::instance/ssoins-1234567890abcdef" },
              ...stackKeysOf(mechanism),
            });
          } catch (error) {
            problems = (error as ConfigError).problems;
          }
          expect(problems).to.deep.equal(
            definition.approverPolicy
              ? []
              : [
                  `sfn-approvals:stages[0].permissionSets is set, but "${mechanism}" gives its approvers no policy to attach (only ${mechanismsWith("approverPolicy").join(" and ")} do); remove permissionSets`,
                ],
          );
        },
      );

      it("builds a component that reminds whom its definition says (reminderTopicArn, or reminderFunctionArn for the thread), and no one else", async () => {
        const stage = parseConfig({ stages: [stageOf(mechanism)], ...stackKeysOf(mechanism) }).stages[0] as StageConfig;
        const defaults = {
          alarmActions: [],
          slack: {
            teamId: "T0123456789",
            secrets: { botToken: pulumi.secret("xoxb-registry"), signingSecret: pulumi.secret("registry-signing") },
          },
          approvalPageUrl: "https://page.example.com/decide",
          linkCodeTable: { name: "codes", arn: "arn:aws:dynamodb:eu-west-1:123456789012:table/codes" },
        };
        const { result } = await runWithMocks("dev", {}, () => {
          const component = definition.create(`stage-${stage.name}`, stage, defaults);
          return {
            mechanism: component.mechanism,
            reminds: component.reminderTopicArn !== undefined,
            remindsInThread: component.reminderFunctionArn !== undefined,
          };
        });
        expect(result).to.deep.equal({
          mechanism,
          reminds: typeof definition.reminders === "string" && definition.reminders !== "thread",
          remindsInThread: definition.reminders === "thread",
        });
      });

      it("has a docs page with the headings every mechanism page has, and says how approvers decide", () => {
        const page = readFileSync(join(ROOT, "docs", "mechanisms", `${mechanism}.md`), "utf8");
        expect(page.match(/^## .+$/gm)?.map((h) => h.slice(3))).to.deep.equal(PAGE_HEADINGS);
        expect(definition.howToDecide).to.match(/^Approvers .+\.$/);
      });
    });
  }
});
