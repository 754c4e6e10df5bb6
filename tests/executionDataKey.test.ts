// The stack's execution data key (components/workflow/executionDataKey.ts). Every stack
// encrypts its state machine and activities with a customer managed key whose policy names each
// principal that may decrypt, for its own encryption context only; nobody else (read access to
// the execution history included) sees the tokens or the requests. Under Pulumi mocks: the exact
// key, alias, key policy, encryptionConfiguration of the state machine and of every activity, and
// the IAM statements that mirror the key policy. tests/iamSimulation.test.ts evaluates the calls.
import * as pulumi from "@pulumi/pulumi";
import { expect } from "chai";
import { ExecutionDataKey } from "../components/workflow/executionDataKey";
import { keyPolicy as buildKeyPolicy } from "../components/workflow/executionDataKey";
import { ConfigError } from "../components/shared/configError";
import {
  ACCOUNT_ID,
  ProgramRun,
  RecordedResource,
  iamFacts,
  named,
  ofType,
  runProgram,
  runWithMocks,
} from "./helpers/pulumiMocks";
import { stackConfig } from "./helpers/stackConfig";

const KEY_ARN = `arn:aws:kms:eu-west-1:${ACCOUNT_ID}:key/execution-data-key-0000-key-id`;
const DEPLOYER = `arn:aws:iam::${ACCOUNT_ID}:user/deployer`;
const ROOT = `arn:aws:iam::${ACCOUNT_ID}:root`;
const ROLE = (name: string) => `arn:aws:iam::${ACCOUNT_ID}:role/${name}-a1b2c3d`;
const STATE_MACHINE = (stack: string) => `arn:aws:states:eu-west-1:${ACCOUNT_ID}:stateMachine:sfn-approvals-${stack}`;
const ACTIVITY = (stack: string, stage: string) =>
  `arn:aws:states:eu-west-1:${ACCOUNT_ID}:activity:sfn-approvals-${stack}-${stage}`;
const READERS = ["arn:aws:iam::123456789012:role/ops/PlatformOperator", "arn:aws:iam::123456789012:user/erin"];
/** AWS's default key administrator patterns (kms:Create*, Describe*, ...) as the actions that apply to this key, without kms:CreateGrant. */
const ADMIN_ACTIONS = [
  "kms:CreateAlias",
  "kms:UpdateAlias",
  "kms:DeleteAlias",
  "kms:DescribeKey",
  "kms:UpdateKeyDescription",
  "kms:EnableKey",
  "kms:DisableKey",
  "kms:EnableKeyRotation",
  "kms:DisableKeyRotation",
  "kms:RotateKeyOnDemand",
  "kms:GetKeyPolicy",
  "kms:PutKeyPolicy",
  "kms:ListKeyPolicies",
  "kms:GetKeyRotationStatus",
  "kms:ListKeyRotations",
  "kms:ListResourceTags",
  "kms:TagResource",
  "kms:UntagResource",
  "kms:ListGrants",
  "kms:RevokeGrant",
  "kms:ScheduleKeyDeletion",
  "kms:CancelKeyDeletion",
];

/** Four mechanisms in one stack (the fifth, codepipeline, adds no key use), two of them activities, and operators who read execution data. */
const ALL = stackConfig("prod", {
  "sfn-approvals:stages": [
    {
      name: "manager",
      mechanism: "ssm-automation",
      approvers: ["arn:aws:iam::123456789012:role/ReleaseApprover"],
      notify: ["m@example.com"],
      timeout: "1d",
    },
    {
      name: "worker",
      mechanism: "activity",
      approvers: ["arn:aws:iam::123456789012:role/ReleaseApprover", "arn:aws:iam::123456789012:user/dave"],
      timeout: "1h",
    },
    { name: "second", mechanism: "activity", approvers: ["arn:aws:iam::123456789012:user/frank"], timeout: "1h" },
    { name: "link", mechanism: "email-link", approvers: ["lead@example.com"], timeout: "1d" },
    { name: "callback", mechanism: "sns-callback", approvers: ["cfo@example.com"], timeout: "1d" },
  ],
  // The operator role is written without its path (/ops/): the key policy must still name its real ARN.
  "sfn-approvals:executionDataReaders": [
    "arn:aws:iam::123456789012:role/PlatformOperator",
    "arn:aws:iam::123456789012:user/erin",
  ],
});

function keyPolicy(run: ProgramRun): any[] {
  return JSON.parse(named(run.resources, "execution-data-key").inputs.policy).Statement;
}

function statements(resource: RecordedResource): any[] {
  return JSON.parse(resource.inputs.policy).Statement;
}

/** The state machine's context: its ARN, or a version's or alias's (executionDataKey.ts stateMachineContext). */
const sm = {
  "kms:EncryptionContext:aws:states:stateMachineArn": [STATE_MACHINE("all"), `${STATE_MACHINE("all")}:*`],
};
const encrypt = (
  sid: string,
  principal: unknown,
  context: Record<string, unknown>,
  actions = ["kms:Decrypt", "kms:GenerateDataKey"],
) => ({
  Sid: sid,
  Effect: "Allow",
  Principal: principal,
  Action: actions,
  Resource: "*",
  Condition: context === sm ? { StringLike: context } : { StringEquals: context },
});

const workers = (stage: string, patterns: string[]) => ({
  Sid: `WorkersRead${stage}Tasks`,
  Effect: "Allow",
  Principal: { AWS: ROOT },
  Action: ["kms:Decrypt"],
  Resource: "*",
  Condition: {
    StringEquals: { "kms:EncryptionContext:aws:states:activityArn": ACTIVITY("all", stage) },
    ArnLike: { "aws:PrincipalArn": patterns },
  },
});

describe("execution data key (issue 11, defect 12): customer managed KMS key of the state machine and activities", () => {
  const runs: Record<string, ProgramRun> = {};
  before(async () => {
    iamFacts.paths = { PlatformOperator: "/ops/" };
    runs.all = await runProgram("all", ALL);
    iamFacts.paths = {};
    runs.staging = await runProgram("staging", stackConfig("staging"));
  });

  it("every committed stack creates one rotating symmetric key with an alias, and encrypts its state machine with it (data keys reused 5 minutes)", async () => {
    for (const stack of ["dev", "staging", "prod"]) {
      const run = stack === "staging" ? runs.staging : await runProgram(stack, stackConfig(stack));
      const [key] = ofType(run.resources, "aws:kms/key:Key");
      expect(ofType(run.resources, "aws:kms/key:Key"), stack).to.have.length(1);
      expect(key.name).to.equal("execution-data-key");
      const { policy, ...settings } = key.inputs;
      expect(settings, stack).to.deep.equal({
        description: `Execution data of sfn-approvals-${stack} (Step Functions state machine and activities): task tokens and requests`,
        keyUsage: "ENCRYPT_DECRYPT",
        customerMasterKeySpec: "SYMMETRIC_DEFAULT",
        enableKeyRotation: true,
        deletionWindowInDays: 30,
      });
      expect(named(run.resources, "execution-data-alias").inputs).to.deep.equal({
        name: `alias/sfn-approvals-${stack}-execution-data`,
        targetKeyId: "execution-data-key-0000-key-id",
      });
      expect(named(run.resources, "approvals-state-machine").inputs.encryptionConfiguration, stack).to.deep.equal({
        type: "CUSTOMER_MANAGED_KMS_KEY",
        kmsKeyId: KEY_ARN,
        kmsDataKeyReusePeriodSeconds: 300,
      });
      expect(run.outputs.executionDataKeyArn).to.equal(KEY_ARN);
    }
  });

  it("encrypts every activity with the same key (replaced rather than updated: its encryption cannot change in place)", () => {
    const activities = ofType(runs.all.resources, "aws:sfn/activity:Activity");
    expect(activities.map((a) => [a.inputs.name, a.inputs.encryptionConfiguration])).to.deep.equal([
      [
        "sfn-approvals-all-worker",
        { type: "CUSTOMER_MANAGED_KMS_KEY", kmsKeyId: KEY_ARN, kmsDataKeyReusePeriodSeconds: 300 },
      ],
      [
        "sfn-approvals-all-second",
        { type: "CUSTOMER_MANAGED_KMS_KEY", kmsKeyId: KEY_ARN, kmsDataKeyReusePeriodSeconds: 300 },
      ],
    ]);
  });

  it("has exactly this key policy: administration through IAM (no use), and use only by the named principals, each for its own encryption context", () => {
    const activities = {
      "kms:EncryptionContext:aws:states:activityArn": [ACTIVITY("all", "worker"), ACTIVITY("all", "second")],
    };
    expect(keyPolicy(runs.all)).to.deep.equal([
      {
        Sid: "AdministerKeyThroughIam",
        Effect: "Allow",
        Principal: { AWS: ROOT },
        Action: ADMIN_ACTIONS,
        Resource: "*",
      },
      encrypt("DeployerEncryptsDefinition", { AWS: DEPLOYER }, sm),
      encrypt("StateMachineEncryptsExecutionData", { AWS: ROLE("approvals-role") }, sm),
      encrypt(
        "StateMachineEncryptsLogDeliveries",
        { AWS: ROLE("approvals-role") },
        { "kms:EncryptionContext:SourceArn": `arn:aws:logs:eu-west-1:${ACCOUNT_ID}:*` },
        ["kms:GenerateDataKey"],
      ),
      {
        Sid: "LogDeliveryDecrypts",
        Effect: "Allow",
        Principal: { Service: "delivery.logs.amazonaws.com" },
        Action: ["kms:Decrypt"],
        Resource: "*",
      },
      encrypt("DeployerEncryptsActivities", { AWS: DEPLOYER }, activities),
      encrypt("StateMachineEncryptsActivityInputs", { AWS: ROLE("approvals-role") }, activities),
      encrypt("StepFunctionsEncryptsActivityInputs", { Service: "states.amazonaws.com" }, activities),
      encrypt("OperatorsReadExecutionData", { AWS: READERS }, sm, ["kms:Decrypt"]),
      encrypt("ApprovalPageReadsExecutionData", { AWS: ROLE("approval-page-handler-role") }, sm, ["kms:Decrypt"]),
      // The account, narrowed to the stage's approvers by name (a config ARN may leave out a role's path).
      workers("worker", [
        "arn:aws:iam::123456789012:role/ReleaseApprover",
        "arn:aws:iam::123456789012:role/*/ReleaseApprover",
        "arn:aws:iam::123456789012:user/dave",
        "arn:aws:iam::123456789012:user/*/dave",
      ]),
      workers("second", ["arn:aws:iam::123456789012:user/frank", "arn:aws:iam::123456789012:user/*/frank"]),
    ]);
  });

  it("gives the account (and so IAM policies, ReadOnlyAccess included) no kms:Decrypt, GenerateDataKey, Encrypt or CreateGrant, no wildcard, and nobody a statement without a context but log delivery", () => {
    for (const run of [runs.all, runs.staging]) {
      const policy = keyPolicy(run);
      const root = policy.filter((s) => JSON.stringify(s.Principal).includes(":root"));
      const [admin, ...workerStatements] = root;
      expect(admin.Sid).to.equal("AdministerKeyThroughIam");
      for (const action of admin.Action)
        expect(action).to.not.match(/^kms:(\*|Decrypt|GenerateDataKey|Encrypt|ReEncrypt|CreateGrant)|\*/);
      // The account's only other statements: decrypting one activity's inputs, for principals of those names.
      for (const statement of workerStatements)
        expect(Object.keys(statement.Condition).sort(), statement.Sid).to.deep.equal(["ArnLike", "StringEquals"]);
      for (const statement of policy) {
        expect(statement.Action).to.not.include("kms:*");
        if (statement.Sid === "AdministerKeyThroughIam" || statement.Sid === "LogDeliveryDecrypts") continue;
        const context = statement.Condition.StringEquals ?? statement.Condition.StringLike;
        expect(Object.keys(context ?? {}), statement.Sid).to.not.deep.equal([]);
        // A StringLike context admits the state machine's ARN and its qualified forms (name:*), nothing wider.
        for (const value of Object.values<string | string[]>(statement.Condition.StringLike ?? {}).flat())
          expect(value, statement.Sid).to.match(/^arn:aws:states:[a-z0-9-]+:\d{12}:stateMachine:[^*:]+(:\*)?$/);
      }
    }
  });

  it("names no reader when none is configured, and no activity statement without activities (staging)", () => {
    expect(keyPolicy(runs.staging).map((s) => s.Sid)).to.deep.equal([
      "AdministerKeyThroughIam",
      "DeployerEncryptsDefinition",
      "StateMachineEncryptsExecutionData",
      "StateMachineEncryptsLogDeliveries",
      "LogDeliveryDecrypts",
      "ApprovalPageReadsExecutionData",
    ]);
  });

  it("mirrors the key policy in IAM: the execution role, the page function and each activity's approver policy (the email-link start function and result functions need none)", () => {
    const kms = (resource: RecordedResource) =>
      statements(resource).filter((s) => JSON.stringify(s.Action).includes("kms:"));
    expect(kms(named(runs.all.resources, "approvals-policy"))).to.deep.equal([
      {
        Sid: "EncryptExecutionData",
        Effect: "Allow",
        Action: ["kms:Decrypt", "kms:GenerateDataKey"],
        Resource: [KEY_ARN],
        Condition: { StringLike: sm },
      },
      {
        Sid: "EncryptActivityInputs",
        Effect: "Allow",
        Action: ["kms:Decrypt", "kms:GenerateDataKey"],
        Resource: [KEY_ARN],
        Condition: {
          StringEquals: {
            "kms:EncryptionContext:aws:states:activityArn": [ACTIVITY("all", "worker"), ACTIVITY("all", "second")],
          },
        },
      },
      {
        Sid: "EncryptLogDeliveries",
        Effect: "Allow",
        Action: ["kms:GenerateDataKey"],
        Resource: [KEY_ARN],
        Condition: { StringEquals: { "kms:EncryptionContext:SourceArn": `arn:aws:logs:eu-west-1:${ACCOUNT_ID}:*` } },
      },
    ]);
    expect(kms(named(runs.all.resources, "approval-page-handler-policy"))).to.deep.equal([
      {
        Sid: "DecryptExecutionData",
        Effect: "Allow",
        Action: ["kms:Decrypt"],
        Resource: [KEY_ARN],
        Condition: { StringLike: sm },
      },
    ]);
    for (const stage of ["worker", "second"]) {
      expect(statements(named(runs.all.resources, `stage-${stage}-approvers`))).to.deep.equal([
        {
          Sid: "WorkThisApprovalActivity",
          Effect: "Allow",
          Action: [
            "states:GetActivityTask",
            "states:SendTaskSuccess",
            "states:SendTaskFailure",
            "states:SendTaskHeartbeat",
          ],
          Resource: [ACTIVITY("all", stage)],
        },
        {
          Sid: "ReadThisActivityTasks",
          Effect: "Allow",
          Action: ["kms:Decrypt"],
          Resource: [KEY_ARN],
          Condition: { StringEquals: { "kms:EncryptionContext:aws:states:activityArn": ACTIVITY("all", stage) } },
        },
      ]);
    }
    for (const policy of ofType(runs.all.resources, "aws:iam/rolePolicy:RolePolicy").filter(
      (p) => !["approvals-policy", "approval-page-handler-policy"].includes(p.name),
    )) {
      expect(kms(policy), policy.name).to.deep.equal([]);
    }
  });

  it("fails the preview, naming the reader, when an executionDataReaders principal does not exist (the key policy could not name it)", async () => {
    iamFacts.missingRoles = ["Ghost"];
    let error: unknown;
    try {
      await runProgram(
        "dev",
        stackConfig("dev", { "sfn-approvals:executionDataReaders": ["arn:aws:iam::123456789012:role/Ghost"] }),
      );
    } catch (caught) {
      error = caught;
    } finally {
      iamFacts.missingRoles = [];
    }
    expect(error).to.be.instanceOf(ConfigError);
    expect((error as ConfigError).problems).to.deep.equal([
      'sfn-approvals:executionDataReaders[0] is "arn:aws:iam::123456789012:role/Ghost": IAM has no such role in this account (NoSuchEntity: The role with name Ghost cannot be found.); name an existing role',
    ]);
  });

  it("gives each activity stage's workers a statement of its own, also for stage names that differ only in punctuation", async () => {
    const run = await runProgram(
      "dev",
      stackConfig("dev", {
        "sfn-approvals:stages": [
          { name: "a-b", mechanism: "activity", approvers: ["arn:aws:iam::123456789012:user/dave"], timeout: "1h" },
          { name: "ab", mechanism: "activity", approvers: ["arn:aws:iam::123456789012:user/frank"], timeout: "1h" },
        ],
      }),
    );
    const sids = keyPolicy(run).map((statement) => statement.Sid);
    expect(sids.filter((sid: string) => sid.startsWith("WorkersRead"))).to.deep.equal([
      "WorkersReadabTasks",
      "WorkersReadabTasks2",
    ]);
    expect(new Set(sids).size).to.equal(sids.length);
  });

  it("refuses a deployment by the account's root user (the key policy would delegate decryption to every IAM policy)", async () => {
    let error: unknown;
    try {
      // The policy's Output fails as a resource input would: the run fails with the error.
      await runWithMocks("dev", {}, () => {
        buildKeyPolicy({
          accountId: ACCOUNT_ID,
          region: "eu-west-1",
          partition: "aws",
          stateMachineArn: STATE_MACHINE("dev"),
          deployerArn: ROOT,
          executionRoleArn: ROLE("approvals-role"),
          readers: [],
          activities: [],
        });
      });
    } catch (caught) {
      error = caught;
    }
    expect((error as Error)?.message).to.match(
      /^ExecutionDataKey: pulumi up runs as the account's root user .*Deploy as an IAM user or role$/,
    );
  });

  it("refuses to register a reader or an activity after the workflow completed the key policy", async () => {
    let error: unknown;
    await runWithMocks("dev", {}, () => {
      const key = new ExecutionDataKey("k", { stateMachineName: "sfn-approvals-dev", executionDataReaders: [] });
      key.allowExecutionRole("arn:aws:iam::123456789012:role/r");
      try {
        key.addExecutionReader("Late", "arn:aws:iam::123456789012:role/late");
      } catch (caught) {
        error = caught;
      }
    });
    expect(error).to.be.instanceOf(pulumi.RunError);
    expect((error as Error).message).to.equal(
      "ExecutionDataKey: addExecutionReader after the workflow's execution role completed the key policy; create the page and the stages before the workflow",
    );
  });
});
