// Issue 12, deliverable 1: approvers who sign in through IAM Identity Center. Their roles
// (AWSReservedSSO_<permission set>_<suffix> under /aws-reserved/sso.amazonaws.com/[<region>/]:
// https://docs.aws.amazon.com/singlesignon/latest/userguide/referencingpermissionsets.html) are
// never changed by the stack; the approver policy has a stable name and path a permission set can
// reference, the stack says at preview what to add where, can attach it through aws.ssoadmin, and
// attaches nothing with attachApproverPolicies: false. Decisions by SSO users (assumed-role sessions
// of those roles) count as the configured role's.
import { expect } from "chai";
import { ActionExecutionDetail } from "@aws-sdk/client-codepipeline";
import { ConfigError } from "../components/shared/configError";
import { deliverAutomationDecision } from "../functions/mechanisms/ssmAutomation/automationResult";
import { outcomeOfAction } from "../functions/mechanisms/codePipeline/pipelineResult";
import { actorIsAnyOf } from "../functions/shared/principals";
import { TokenRecord } from "../functions/mechanisms/codePipeline/tokenStore";
import {
  ACCOUNT_ID,
  ProgramRun,
  RecordedResource,
  iamFacts,
  lastRunResources,
  named,
  ofType,
  runProgram,
} from "./helpers/pulumiMocks";
import { stackConfig } from "./helpers/stackConfig";

/** An Identity Center instance in eu-west-1: the role's path has a Region segment. */
const FINANCE_SSO = `arn:aws:iam::${ACCOUNT_ID}:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_FinanceApprover_1234567890abcdef`;
/** An instance in us-east-1: no Region segment (same page). */
const RELEASE_SSO = `arn:aws:iam::${ACCOUNT_ID}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_ReleaseApprover_abcdef0123456789`;
const CONTROLLER = `arn:aws:iam::${ACCOUNT_ID}:role/teams/Controller`;
const CAROL = `arn:aws:iam::${ACCOUNT_ID}:user/carol`;
const INSTANCE = "arn:aws:sso:::instance/ssoins-1234567890abcdef";
const FINANCE_SET = "arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-1234567890abcdef";
const RELEASE_SET = "arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-abcdef0123456789";
const ATTACHMENTS = [
  "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
  "aws:iam/userPolicyAttachment:UserPolicyAttachment",
  "aws:ssoadmin/customerManagedPolicyAttachment:CustomerManagedPolicyAttachment",
];

/** A codepipeline and an activity stage (the mechanisms with an approver policy), each with an Identity Center approver (with its path). */
function ssoStages(extra: { finance?: Record<string, unknown>; worker?: Record<string, unknown> } = {}) {
  return [
    {
      name: "finance",
      mechanism: "codepipeline",
      approvers: [FINANCE_SSO, CONTROLLER],
      notify: ["finance@example.com"],
      timeout: "1d",
      ...extra.finance,
    },
    { name: "worker", mechanism: "activity", approvers: [RELEASE_SSO], timeout: "1h", ...extra.worker },
  ];
}

/** And an ssm-automation stage: every IAM mechanism. */
const SSM_STAGE = {
  name: "manager",
  mechanism: "ssm-automation",
  approvers: [RELEASE_SSO, `arn:aws:iam::${ACCOUNT_ID}:user/alice`],
  notify: ["managers@example.com"],
  timeout: "1d",
};

function attachments(run: ProgramRun | { resources: RecordedResource[] }): RecordedResource[] {
  return run.resources.filter((r) => ATTACHMENTS.includes(r.type));
}

/** Runs the program and returns the warnings it logged (pulumi.log.warn prints them under mocks). */
async function runCapturing(
  stack: string,
  config: Record<string, string>,
): Promise<{ run: ProgramRun; warnings: string[] }> {
  const warnings: string[] = [];
  const original = console.warn;
  console.warn = (...args: unknown[]) => {
    warnings.push(args.map(String).join(" "));
  };
  try {
    return { run: await runProgram(stack, config), warnings };
  } finally {
    console.warn = original;
  }
}

async function failureOf(stack: string, config: Record<string, string>): Promise<Error> {
  try {
    await runProgram(stack, config);
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected the program to fail");
}

describe("approvers who sign in with IAM Identity Center (issue 12)", function () {
  describe("an AWSReservedSSO_ approver, no Identity Center config", () => {
    let run: ProgramRun;
    let warnings: string[];
    before(async () => {
      ({ run, warnings } = await runCapturing(
        "sso",
        stackConfig("prod", { "sfn-approvals:stages": [SSM_STAGE, ...ssoStages()] }),
      ));
    });

    it("builds every IAM mechanism with role ARNs that carry their path, and attaches nothing to an Identity Center role", () => {
      // Only the plain role of the codepipeline stage gets an attachment, by its name.
      expect(attachments(run).map((a) => [a.name, a.inputs.role])).to.deep.equal([
        ["stage-finance-approver-role-Controller", "Controller"],
      ]);
      expect(
        ofType(run.resources, "aws:ssoadmin/customerManagedPolicyAttachment:CustomerManagedPolicyAttachment"),
      ).to.have.length(0);
      // aws:approve takes role ARNs (SSM document schema, aws:approve Approvers: "An IAM role ARN"); the path stays.
      const runbook = JSON.parse(named(run.resources, "stage-manager-runbook").inputs.content);
      expect(runbook.mainSteps[0].inputs.Approvers).to.deep.equal([
        RELEASE_SSO,
        `arn:aws:iam::${ACCOUNT_ID}:user/alice`,
      ]);
    });

    it("creates each approver policy under a stable name and path a permission set can reference", () => {
      for (const stage of ["finance", "worker"]) {
        const policy = named(run.resources, `stage-${stage}-approvers`);
        expect({ name: policy.inputs.name, path: policy.inputs.path }).to.deep.equal({
          name: `sfn-approvals-sso-${stage}-approvers`,
          path: "/sfn-approvals/",
        });
        expect(policy.state.arn).to.equal(
          `arn:aws:iam::${ACCOUNT_ID}:policy/sfn-approvals/sfn-approvals-sso-${stage}-approvers`,
        );
      }
    });

    it("outputs the policy to reference, and the permission set of each Identity Center approver", () => {
      expect(run.outputs.approverPolicies).to.deep.equal([
        {
          stage: "finance",
          policyName: "sfn-approvals-sso-finance-approvers",
          policyPath: "/sfn-approvals/",
          policyArn: `arn:aws:iam::${ACCOUNT_ID}:policy/sfn-approvals/sfn-approvals-sso-finance-approvers`,
          attachedTo: [CONTROLLER],
          permissionSets: [],
          addToPermissionSets: [{ permissionSet: "FinanceApprover", role: FINANCE_SSO }],
          attachYourself: [],
        },
        {
          stage: "worker",
          policyName: "sfn-approvals-sso-worker-approvers",
          policyPath: "/sfn-approvals/",
          policyArn: `arn:aws:iam::${ACCOUNT_ID}:policy/sfn-approvals/sfn-approvals-sso-worker-approvers`,
          attachedTo: [],
          permissionSets: [],
          addToPermissionSets: [{ permissionSet: "ReleaseApprover", role: RELEASE_SSO }],
          attachYourself: [],
        },
      ]);
      const stage = (name: string) => run.outputs.stages.find((s: { name: string }) => s.name === name);
      expect([stage("finance").approverPolicyName, stage("finance").approverPolicyPath]).to.deep.equal([
        "sfn-approvals-sso-finance-approvers",
        "/sfn-approvals/",
      ]);
      expect([stage("worker").approverPolicyName, stage("worker").approverPolicyPath]).to.deep.equal([
        "sfn-approvals-sso-worker-approvers",
        "/sfn-approvals/",
      ]);
    });

    it("says at preview what to add to which permission set", () => {
      const said = warnings.filter((w) => w.includes("IAM Identity Center"));
      expect(said).to.have.length(2);
      expect(said[0])
        .to.include("Stage 'finance'")
        .and.include(FINANCE_SSO)
        .and.include(
          "Add the customer managed policy 'sfn-approvals-sso-finance-approvers' with path '/sfn-approvals/' to permission set 'FinanceApprover'",
        );
      expect(said[1])
        .to.include("Stage 'worker'")
        .and.include(
          "'sfn-approvals-sso-worker-approvers' with path '/sfn-approvals/' to permission set 'ReleaseApprover'",
        );
    });

    it("names the Identity Center role, with and without its path, as an activity worker in the execution data key's policy", () => {
      const statement = JSON.parse(named(run.resources, "execution-data-key").inputs.policy).Statement.find(
        (s: { Sid: string }) => s.Sid === "WorkersReadworkerTasks",
      );
      // ArnLike's * spans '/', so role/*/Name matches /aws-reserved/sso.amazonaws.com/[<region>/] (tests/iamSimulation.test.ts simulates it).
      expect(statement.Condition.ArnLike["aws:PrincipalArn"]).to.deep.equal([
        `arn:aws:iam::${ACCOUNT_ID}:role/AWSReservedSSO_ReleaseApprover_abcdef0123456789`,
        `arn:aws:iam::${ACCOUNT_ID}:role/*/AWSReservedSSO_ReleaseApprover_abcdef0123456789`,
      ]);
    });
  });

  describe("with sfn-approvals:identityCenter and stages[].permissionSets", () => {
    let run: ProgramRun;
    let warnings: string[];
    before(async () => {
      ({ run, warnings } = await runCapturing(
        "sso",
        stackConfig("prod", {
          "sfn-approvals:identityCenter": {
            instanceArn: INSTANCE,
            region: "eu-west-1",
            roleArn: "arn:aws:iam::111122223333:role/PermissionSetAdmin",
          },
          "sfn-approvals:stages": ssoStages({
            finance: { permissionSets: [FINANCE_SET] },
            worker: { permissionSets: [RELEASE_SET] },
          }),
        }),
      ));
    });

    it("attaches each stage's policy to its permission sets through aws.ssoadmin, by name and path, with the instance's provider", () => {
      const provider = one(run.resources.filter((r) => r.type === "pulumi:providers:aws"));
      expect(provider.name).to.equal("identity-center");
      expect(provider.inputs.region).to.equal("eu-west-1");
      expect(JSON.parse(provider.inputs.assumeRoles)).to.deep.equal([
        { roleArn: "arn:aws:iam::111122223333:role/PermissionSetAdmin", sessionName: "sfn-approvals" },
      ]);
      const attached = ofType(
        run.resources,
        "aws:ssoadmin/customerManagedPolicyAttachment:CustomerManagedPolicyAttachment",
      );
      expect(attached.map((a) => [a.name, a.inputs])).to.deep.equal([
        [
          "stage-finance-approvers-ps-1234567890abcdef",
          {
            instanceArn: INSTANCE,
            permissionSetArn: FINANCE_SET,
            customerManagedPolicyReference: { name: "sfn-approvals-sso-finance-approvers", path: "/sfn-approvals/" },
            region: "eu-west-1",
          },
        ],
        [
          "stage-worker-approvers-ps-abcdef0123456789",
          {
            instanceArn: INSTANCE,
            permissionSetArn: RELEASE_SET,
            customerManagedPolicyReference: { name: "sfn-approvals-sso-worker-approvers", path: "/sfn-approvals/" },
            region: "eu-west-1",
          },
        ],
      ]);
      for (const a of attached) expect(a.provider).to.match(/::pulumi:providers:aws::identity-center::/);
      // Still nothing on the Identity Center roles themselves.
      expect(
        ofType(run.resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment").map((a) => a.inputs.role),
      ).to.deep.equal(["Controller"]);
    });

    it("reports the permission sets and leaves nothing to add by hand", () => {
      expect(
        run.outputs.approverPolicies.map((p: any) => [p.stage, p.permissionSets, p.addToPermissionSets]),
      ).to.deep.equal([
        ["finance", [FINANCE_SET], []],
        ["worker", [RELEASE_SET], []],
      ]);
      expect(warnings.filter((w) => w.includes("IAM Identity Center"))).to.deep.equal([]);
    });
  });

  describe("attachApproverPolicies: false", () => {
    it("attaches nothing, still creates the policies under their names, and says who needs them", async () => {
      const { run, warnings } = await runCapturing(
        "sso",
        stackConfig("prod", {
          "sfn-approvals:attachApproverPolicies": "false",
          "sfn-approvals:stages": ssoStages({ finance: { approvers: [FINANCE_SSO, CONTROLLER, CAROL] } }),
        }),
      );
      expect(attachments(run)).to.deep.equal([]);
      expect(
        ofType(run.resources, "aws:iam/policy:Policy").map((p) => `${p.inputs.path}${p.inputs.name}`),
      ).to.deep.equal([
        "/sfn-approvals/sfn-approvals-sso-finance-approvers",
        "/sfn-approvals/sfn-approvals-sso-worker-approvers",
      ]);
      expect(
        run.outputs.approverPolicies.map((p: any) => [
          p.stage,
          p.attachedTo,
          p.attachYourself,
          p.addToPermissionSets.map((r: any) => r.permissionSet),
        ]),
      ).to.deep.equal([
        ["finance", [], [CONTROLLER, CAROL], ["FinanceApprover"]],
        ["worker", [], [], ["ReleaseApprover"]],
      ]);
      expect(warnings.filter((w) => w.includes("attachApproverPolicies is false"))).to.have.length(1);
      expect(warnings.find((w) => w.includes("attachApproverPolicies is false"))).to.include(
        `attach it to ${CONTROLLER}, ${CAROL} yourself`,
      );
    });

    it("refuses permission sets alongside it, naming both keys", async () => {
      const error = await failureOf(
        "sso",
        stackConfig("prod", {
          "sfn-approvals:attachApproverPolicies": "false",
          "sfn-approvals:identityCenter": { instanceArn: INSTANCE },
          "sfn-approvals:stages": ssoStages({ finance: { permissionSets: [FINANCE_SET] } }),
        }),
      );
      expect(error).to.be.instanceOf(ConfigError);
      expect((error as ConfigError).problems).to.deep.equal([
        "sfn-approvals:stages[0].permissionSets is set, but sfn-approvals:attachApproverPolicies is false (the stack attaches nothing): remove one of them",
      ]);
    });
  });

  describe("a role at its managed-policy quota (IAM quotas: 10 per role by default)", () => {
    /** One role approving two stages: the stack attaches 2 policies to it (activity stages: no Lambda to build, fast). */
    const config = () =>
      stackConfig("dev", {
        "sfn-approvals:stages": ["finance", "worker"].map((name) => ({
          name,
          mechanism: "activity",
          approvers: [`arn:aws:iam::${ACCOUNT_ID}:role/teams/Busy`],
          timeout: "1h",
        })),
      });
    const others = (n: number) => Array.from({ length: n }, (_, i) => `arn:aws:iam::aws:policy/Other${i}`);
    afterEach(() => {
      iamFacts.attachedRolePolicies = {};
      iamFacts.missingRoles = [];
      iamFacts.managedPoliciesPerRole = undefined;
    });

    it("fails the preview naming the role, its policies and the quota, before anything is attached", async () => {
      iamFacts.attachedRolePolicies = { Busy: others(9) };
      const error = await failureOf("quota", config());
      expect(error.message)
        .to.include(
          `approver role arn:aws:iam::${ACCOUNT_ID}:role/teams/Busy has 9 managed policies attached (Other0, Other1`,
        )
        .and.include(
          "with this stack's sfn-approvals-quota-finance-approvers, sfn-approvals-quota-worker-approvers it would have 11, above the account's quota of 10 managed policies per role (AWS's default; the account's own could not be read: AccessDeniedException",
        )
        .and.include("sfn-approvals:attachApproverPolicies to false");
      expect(attachments({ resources: lastRunResources() })).to.deep.equal([]);
    });

    it("uses the account's quota from Service Quotas when it can read it", async () => {
      iamFacts.attachedRolePolicies = { Busy: others(9) };
      iamFacts.managedPoliciesPerRole = 20;
      const run = await runProgram("quota", config());
      expect(attachments(run).map((a) => a.inputs.role)).to.deep.equal(["Busy", "Busy"]);
      iamFacts.managedPoliciesPerRole = 10;
      expect((await failureOf("quota", config())).message).to.include(
        "above the account's quota of 10 managed policies per role (Service Quotas L-0DA4ABF3)",
      );
    });

    it("does not count the stack's own policies twice on the next pulumi up", async () => {
      iamFacts.attachedRolePolicies = {
        Busy: [
          ...others(8),
          `arn:aws:iam::${ACCOUNT_ID}:policy/sfn-approvals/sfn-approvals-quota-finance-approvers`,
          `arn:aws:iam::${ACCOUNT_ID}:policy/sfn-approvals/sfn-approvals-quota-worker-approvers`,
        ],
      };
      const run = await runProgram("quota", config());
      expect(attachments(run)).to.have.length(2);
    });

    it("fails the preview for an approver role that does not exist", async () => {
      iamFacts.missingRoles = ["Busy"];
      expect((await failureOf("quota", config())).message).to.include(
        `the managed policies of approver role arn:aws:iam::${ACCOUNT_ID}:role/teams/Busy could not be listed (NoSuchEntity`,
      );
    });
  });

  describe("decisions by an SSO user: a session of the configured role", () => {
    const session = (role: string, user = "alice@example.com", account = ACCOUNT_ID) =>
      `arn:aws:sts::${account}:assumed-role/${role}/${user}`;

    it("counts a session of an Identity Center role as that role, with or without a Region in the configured path", () => {
      expect(actorIsAnyOf(session("AWSReservedSSO_FinanceApprover_1234567890abcdef"), [FINANCE_SSO])).to.equal(true);
      expect(actorIsAnyOf(session("AWSReservedSSO_ReleaseApprover_abcdef0123456789", "bob"), [RELEASE_SSO])).to.equal(
        true,
      );
      // Another permission set, another assignment (a new suffix), another account: not the approver.
      expect(actorIsAnyOf(session("AWSReservedSSO_Admin_1234567890abcdef"), [FINANCE_SSO])).to.equal(false);
      expect(actorIsAnyOf(session("AWSReservedSSO_FinanceApprover_0000000000000000"), [FINANCE_SSO])).to.equal(false);
      expect(
        actorIsAnyOf(session("AWSReservedSSO_FinanceApprover_1234567890abcdef", "alice", "210987654321"), [
          FINANCE_SSO,
        ]),
      ).to.equal(false);
    });

    it("codepipeline: an approval answered by an SSO user decides; one by another permission set's user fails the execution", () => {
      const record: TokenRecord = {
        approvalKey: "k",
        taskToken: "t",
        stage: "finance",
        executionArn: "arn",
        requestId: "r",
        createdAt: "2026-01-01T00:00:00Z",
        timeoutSeconds: 3600,
        expiresAt: 0,
      };
      const action = (updatedBy: string): ActionExecutionDetail => ({
        pipelineExecutionId: "0b1c2d3e-5678-4abc-8def-0123456789ab",
        status: "Succeeded",
        updatedBy,
      });
      expect(
        outcomeOfAction(action(session("AWSReservedSSO_FinanceApprover_1234567890abcdef")), record, [
          FINANCE_SSO,
          CONTROLLER,
        ]),
      ).to.deep.equal({ kind: "approved" });
      expect(
        outcomeOfAction(action(session("AWSReservedSSO_Admin_1234567890abcdef")), record, [FINANCE_SSO, CONTROLLER]),
      ).to.include({ kind: "failure", error: "UnauthorizedApprover" });
    });

    it("ssm-automation: the decision names the SSO user SSM reports in ApproverDecisions", async () => {
      const approver = session("AWSReservedSSO_ReleaseApprover_abcdef0123456789");
      const sent: any[] = [];
      const ssm = {
        send: async () => ({
          AutomationExecution: {
            DocumentName: "sfn-approvals-sso-manager",
            ExecutedBy: `arn:aws:sts::${ACCOUNT_ID}:assumed-role/stage-manager-start-role-a1b2c3d/fn`,
            Parameters: { TaskToken: ["token"] },
            StepExecutions: [
              {
                StepName: "Approve",
                Action: "aws:approve",
                StepStatus: "Success",
                Outputs: {
                  ApprovalStatus: ["Approved"],
                  ApproverDecisions: [
                    JSON.stringify([
                      {
                        Approver: approver,
                        Decision: "Approve",
                        Comment: "ok",
                        ApprovalDecisionTime: "2026-01-02T03:04:05Z",
                      },
                    ]),
                  ],
                },
              },
            ],
          },
        }),
      };
      const sfn = {
        send: async (command: any) => {
          sent.push(command.input);
          return {};
        },
      };
      const event = {
        source: "aws.ssm",
        "detail-type": "EC2 Automation Step Status-change Notification",
        detail: {
          ExecutionId: "4a5b6c7d-1234-4f00-9abc-0123456789ab",
          Definition: "sfn-approvals-sso-manager",
          StepName: "Approve",
          Action: "aws:approve",
          Status: "Success",
        },
      };
      const result = await deliverAutomationDecision(
        event,
        {
          documentName: "sfn-approvals-sso-manager",
          stage: "manager",
          starterRoleName: "stage-manager-start-role-a1b2c3d",
        },
        { ssm: ssm as any, sfn: sfn as any },
      );
      expect(result).to.include({ decision: "approved", approver, comment: "ok" });
      expect(JSON.parse(sent[0].output)).to.include({ approved: true, approver });
    });
  });
});

function one<T>(items: T[]): T {
  expect(items).to.have.length(1);
  return items[0];
}
