// The customer managed KMS key of a stack's execution data. Step Functions
// encrypts the state machine's definition and execution history, and each activity's task inputs,
// with it (encryptionConfiguration). Task tokens sit in that history (the TaskScheduled event of
// an email stage), so reading it must take more than states:GetExecutionHistory: only the
// principals this key policy names can decrypt, each only for this workflow's data (the
// encryption context Step Functions passes: aws:states:stateMachineArn or aws:states:activityArn).
//
// Evidence:
// - API reference, EncryptionConfiguration: "The execution history and state machine definition
//   will be encrypted with the key applied to the State Machine. Activity inputs will be encrypted
//   with the key applied to the Activity"; kmsDataKeyReusePeriodSeconds 60..900
//   (https://docs.aws.amazon.com/step-functions/latest/apireference/API_EncryptionConfiguration.html).
// - Developer Guide, "Data at rest encryption": the encryption context key is
//   aws:states:stateMachineArn (state machines) or aws:states:activityArn (activities), the value
//   the resource ARN; a kms:ViaService condition on the execution role "can prevent a new execution
//   from starting or cause a running execution to fail", so none is used
//   (https://docs.aws.amazon.com/step-functions/latest/dg/encryption-at-rest.html).
// - SendTaskFailure / StopExecution API pages: "Step Functions will encrypt the error and cause
//   fields using the KMS key for the execution role": callers of SendTask* need no key rights;
//   DescribeExecution / DescribeStateMachine: "callers must have kms:Decrypt permission"
//   (node_modules/@aws-sdk/client-sfn/dist-types/models/models_0.d.ts).
// - AWS CDK (aws-cdk-lib/aws-stepfunctions, state-machine.ts and activity.ts): the execution role
//   gets kms:Decrypt + kms:GenerateDataKey with the state machine's (and each activity's) context,
//   states.amazonaws.com the same on an activity's key, and with logging enabled the role gets
//   kms:GenerateDataKey with kms:EncryptionContext:SourceArn arn:...:logs:<region>:<account>:* and
//   delivery.logs.amazonaws.com kms:Decrypt.
// - AWS KMS Developer Guide, "Default key policy", key administrators: kms:Create*, Describe*,
//   Enable*, List*, Put*, Update*, Revoke*, Disable*, Get*, Delete*, TagResource, UntagResource,
//   ScheduleKeyDeletion, CancelKeyDeletion, RotateKeyOnDemand
//   (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#key-policy-default-allow-administrators).
//   Here the account (root) gets those patterns' actions that apply to one symmetric key, named
//   (KEY_ADMIN_ACTIONS), so IAM policies can administer the key but never use it: every principal
//   that decrypts is named below. kms:CreateGrant is left out: a grant would be a way to decrypt
//   that the key policy does not show.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { PolicyStatement, accountFacts } from "../shared/iam";
import { checkedName, defaultNamePrefix } from "../shared/naming";
import { principalOf } from "../shared/principals";

/**
 * What AWS's default key policy gives key administrators, expanded to the actions of the Service
 * Authorization Reference that apply to a symmetric key (not custom key stores, imported material,
 * asymmetric or multi-Region keys), without kms:CreateGrant: no kms:Decrypt, GenerateDataKey or Encrypt.
 */
export const KEY_ADMIN_ACTIONS = [
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

/** Encrypt (new data keys) and decrypt: what Step Functions needs to write and read execution data. */
export const ENCRYPT_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey"];
export const DECRYPT_ACTIONS = ["kms:Decrypt"];
export const STATE_MACHINE_CONTEXT = "kms:EncryptionContext:aws:states:stateMachineArn";

/**
 * The state machine's encryption context condition: its ARN, or that ARN with a qualifier (":<version>",
 * ":<alias>"), since executions start through the alias and whether Step Functions then names the
 * version in the context no source says (docs/unknowns.md). A state machine name holds no ':', so
 * only this state machine's versions and aliases match.
 */
export function stateMachineContext(arn: pulumi.Input<string>): {
  StringLike: Record<string, pulumi.Input<string>[]>;
} {
  return { StringLike: { [STATE_MACHINE_CONTEXT]: [arn, pulumi.interpolate`${arn}:*`] } };
}
export const ACTIVITY_CONTEXT = "kms:EncryptionContext:aws:states:activityArn";
export const LOG_DELIVERY_CONTEXT = "kms:EncryptionContext:SourceArn";
/** How long Step Functions reuses a data key before it calls GenerateDataKey again (AWS default, as CDK's). */
export const DATA_KEY_REUSE_SECONDS = 300;

export interface ExecutionDataKeyArgs {
  /** The workflow's state machine name (workflowStateMachineName()): its ARN is the encryption context. */
  stateMachineName: string;
  /** Operators who may read execution data in clear (sfn-approvals:executionDataReaders). */
  executionDataReaders: string[];
  /** Start of physical resource names; defaults to "<project>-<stack>". */
  namePrefix?: string;
}

interface ActivityGrant {
  stage: string;
  activityArn: pulumi.Output<string>;
  workers: string[];
}

export class ExecutionDataKey extends pulumi.ComponentResource {
  readonly key: aws.kms.Key;
  readonly alias: aws.kms.Alias;
  readonly arn: pulumi.Output<string>;
  readonly stateMachineArn: pulumi.Output<string>;
  /** The principal running `pulumi up` (an assumed role as its role): Step Functions encrypts the definition with its rights. */
  readonly deployerArn: pulumi.Output<string>;
  /** The key policy as deployed (JSON). */
  readonly policy: pulumi.Output<string>;
  private readonly facts: ReturnType<typeof accountFacts>;
  private readonly activities: ActivityGrant[] = [];
  private readonly readers: Array<{ sid: string; principal: pulumi.Input<string> | pulumi.Input<string>[] }> = [];
  private readonly resolvePolicy: (policy: pulumi.Output<string>) => void;
  private sealed = false;

  constructor(name: string, args: ExecutionDataKeyArgs, opts?: pulumi.ComponentResourceOptions) {
    // The type token keeps the component's first name: a new one would change every URN under it.
    super("sfn-approvals:index:WorkflowKey", name, {}, opts);
    const parent = { parent: this };
    this.facts = accountFacts(parent);
    const { accountId, region, partition } = this.facts;
    const prefix = args.namePrefix ?? defaultNamePrefix();
    this.stateMachineArn = pulumi.interpolate`arn:${partition}:states:${region}:${accountId}:stateMachine:${args.stateMachineName}`;
    // The issuer of an assumed-role session is its role, with the role's path (getCallerIdentity
    // gives the session ARN, which a key policy cannot name).
    this.deployerArn = aws.iam.getSessionContextOutput(
      { arn: aws.getCallerIdentityOutput({}, parent).arn },
      parent,
    ).issuerArn;
    // A key policy names a principal by its exact ARN, path included (index.ts resolves config ARNs
    // with resolvePrincipalArns first).
    if (args.executionDataReaders.length > 0)
      this.readers.push({ sid: "OperatorsReadExecutionData", principal: args.executionDataReaders });

    // The policy names principals that exist only later in the program (the workflow's execution
    // role); it is completed by allowExecutionRole, which the workflow calls last.
    const [policy, resolvePolicy] = pulumi.deferredOutput<string>();
    this.resolvePolicy = resolvePolicy;
    this.policy = policy;
    this.key = new aws.kms.Key(
      `${name}-key`,
      {
        description: `Execution data of ${args.stateMachineName} (Step Functions state machine and activities): task tokens and requests`,
        keyUsage: "ENCRYPT_DECRYPT",
        customerMasterKeySpec: "SYMMETRIC_DEFAULT",
        enableKeyRotation: true,
        deletionWindowInDays: 30,
        policy,
      },
      parent,
    );
    this.arn = this.key.arn;
    this.alias = new aws.kms.Alias(
      `${name}-alias`,
      {
        name: checkedName(
          `ExecutionDataKey ${name}`,
          "KMS alias",
          `alias/${prefix}-execution-data`,
          256,
          /^alias\/[A-Za-z0-9/_-]+$/,
        ),
        targetKeyId: this.key.keyId,
      },
      parent,
    );
    this.registerOutputs({ arn: this.arn });
  }

  /** The encryptionConfiguration of the state machine and of every activity. */
  get encryptionConfiguration(): {
    type: string;
    kmsKeyId: pulumi.Output<string>;
    kmsDataKeyReusePeriodSeconds: number;
  } {
    return {
      type: "CUSTOMER_MANAGED_KMS_KEY",
      kmsKeyId: this.key.arn,
      kmsDataKeyReusePeriodSeconds: DATA_KEY_REUSE_SECONDS,
    };
  }

  /** An activity's ARN from its name (the key policy cannot wait for the activity: the activity waits for the key). */
  activityArn(activityName: string): pulumi.Output<string> {
    const { accountId, region, partition } = this.facts;
    return pulumi.interpolate`arn:${partition}:states:${region}:${accountId}:activity:${activityName}`;
  }

  /** An activity encrypted with this key, and the principals whose workers read its tasks (GetActivityTask). */
  addActivity(stage: string, activityName: string, workers: string[]): pulumi.Output<string> {
    this.checkOpen("addActivity");
    const activityArn = this.activityArn(activityName);
    this.activities.push({ stage, activityArn, workers });
    return activityArn;
  }

  /** A principal that reads this workflow's executions (DescribeExecution, GetExecutionHistory with data). */
  addExecutionReader(sid: string, principalArn: pulumi.Input<string>): void {
    this.checkOpen("addExecutionReader");
    this.readers.push({ sid, principal: principalArn });
  }

  /** An IAM statement that lets its holder decrypt this workflow's execution data (the key policy must name it too). */
  readStatement(sid: string): PolicyStatement {
    return {
      Sid: sid,
      Effect: "Allow",
      Action: DECRYPT_ACTIONS,
      Resource: [this.key.arn],
      Condition: stateMachineContext(this.stateMachineArn),
    };
  }

  /** The IAM statement of an activity's workers: decrypt that activity's task inputs. */
  activityReadStatement(sid: string, activityArn: pulumi.Input<string>): PolicyStatement {
    return {
      Sid: sid,
      Effect: "Allow",
      Action: DECRYPT_ACTIONS,
      Resource: [this.key.arn],
      Condition: { StringEquals: { [ACTIVITY_CONTEXT]: activityArn } },
    };
  }

  /** What the execution role needs in its own IAM policy (the key policy says the same). */
  executionRoleStatements(): pulumi.Output<PolicyStatement[]> {
    const { accountId, region, partition } = this.facts;
    return pulumi.all(this.activities.map((a) => a.activityArn)).apply((activityArns): PolicyStatement[] => [
      {
        Sid: "EncryptExecutionData",
        Effect: "Allow" as const,
        Action: ENCRYPT_ACTIONS,
        Resource: [this.key.arn],
        Condition: stateMachineContext(this.stateMachineArn),
      },
      ...(activityArns.length > 0
        ? [
            {
              Sid: "EncryptActivityInputs",
              Effect: "Allow" as const,
              Action: ENCRYPT_ACTIONS,
              Resource: [this.key.arn],
              Condition: { StringEquals: { [ACTIVITY_CONTEXT]: activityArns } },
            },
          ]
        : []),
      {
        Sid: "EncryptLogDeliveries",
        Effect: "Allow" as const,
        Action: ["kms:GenerateDataKey"],
        Resource: [this.key.arn],
        Condition: {
          StringEquals: {
            [LOG_DELIVERY_CONTEXT]: pulumi.interpolate`arn:${partition}:logs:${region}:${accountId}:*`,
          },
        },
      },
    ]);
  }

  /**
   * The workflow's execution role: the last principal. The key policy is complete from here on
   * (the workflow is built after the approval page and the stages, which register before it).
   */
  allowExecutionRole(roleArn: pulumi.Input<string>): void {
    this.checkOpen("allowExecutionRole");
    this.sealed = true;
    this.resolvePolicy(
      keyPolicy({
        accountId: this.facts.accountId,
        region: this.facts.region,
        partition: this.facts.partition,
        stateMachineArn: this.stateMachineArn,
        deployerArn: this.deployerArn,
        executionRoleArn: pulumi.output(roleArn),
        readers: this.readers,
        activities: this.activities,
      }),
    );
  }

  private checkOpen(what: string): void {
    if (this.sealed)
      throw new pulumi.RunError(
        `ExecutionDataKey: ${what} after the workflow's execution role completed the key policy; create the page and the stages before the workflow`,
      );
  }
}

/** The key policy: administration through IAM, use only by the principals named here, each for this workflow's data only. */
export function keyPolicy(args: {
  accountId: pulumi.Input<string>;
  region: pulumi.Input<string>;
  partition: pulumi.Input<string>;
  stateMachineArn: pulumi.Input<string>;
  deployerArn: pulumi.Input<string>;
  executionRoleArn: pulumi.Input<string>;
  readers: Array<{ sid: string; principal: pulumi.Input<string> | pulumi.Input<string>[] }>;
  activities: Array<{ stage: string; activityArn: pulumi.Input<string>; workers: string[] }>;
}): pulumi.Output<string> {
  const stateMachine = stateMachineContext(args.stateMachineArn);
  // A key policy naming the account root as a principal delegates to every IAM policy of the account.
  const deployerArn = pulumi.output(args.deployerArn).apply((arn) => {
    if (/:root$/.test(arn))
      throw new pulumi.RunError(
        `ExecutionDataKey: pulumi up runs as the account's root user (${arn}); the execution data key would then let every IAM principal of the account decrypt. Deploy as an IAM user or role`,
      );
    return arn;
  });
  const activityArns = args.activities.map((a) => a.activityArn);
  const activities = { StringEquals: { [ACTIVITY_CONTEXT]: activityArns } };
  const statement = (sid: string, principal: unknown, actions: string[], condition?: unknown) => ({
    Sid: sid,
    Effect: "Allow",
    Principal: principal,
    Action: actions,
    Resource: "*",
    ...(condition ? { Condition: condition } : {}),
  });
  const statements: unknown[] = [
    statement(
      "AdministerKeyThroughIam",
      { AWS: pulumi.interpolate`arn:${args.partition}:iam::${args.accountId}:root` },
      KEY_ADMIN_ACTIONS,
    ),
    // CreateStateMachine/UpdateStateMachine encrypt the definition; the provider reads it back with DescribeStateMachine.
    statement("DeployerEncryptsDefinition", { AWS: deployerArn }, ENCRYPT_ACTIONS, stateMachine),
    statement("StateMachineEncryptsExecutionData", { AWS: args.executionRoleArn }, ENCRYPT_ACTIONS, stateMachine),
    // Logging is on (level ALL, without execution data); AWS CDK grants these two for an encrypted, logging state machine.
    statement("StateMachineEncryptsLogDeliveries", { AWS: args.executionRoleArn }, ["kms:GenerateDataKey"], {
      StringEquals: {
        [LOG_DELIVERY_CONTEXT]: pulumi.interpolate`arn:${args.partition}:logs:${args.region}:${args.accountId}:*`,
      },
    }),
    statement("LogDeliveryDecrypts", { Service: "delivery.logs.amazonaws.com" }, DECRYPT_ACTIONS),
  ];
  if (args.activities.length > 0) {
    statements.push(
      statement("DeployerEncryptsActivities", { AWS: deployerArn }, ENCRYPT_ACTIONS, activities),
      statement("StateMachineEncryptsActivityInputs", { AWS: args.executionRoleArn }, ENCRYPT_ACTIONS, activities),
      statement(
        "StepFunctionsEncryptsActivityInputs",
        { Service: "states.amazonaws.com" },
        ENCRYPT_ACTIONS,
        activities,
      ),
    );
  }
  for (const reader of args.readers)
    statements.push(statement(reader.sid, { AWS: reader.principal }, DECRYPT_ACTIONS, stateMachine));
  const sids = new Set<string>();
  for (const activity of args.activities) {
    // The approvers are config ARNs, which may leave out a role's path (their policy attachments use
    // names only); a key policy naming such an ARN as Principal is refused as an invalid principal.
    // So the account is the principal, narrowed to these users or roles by name, whatever their
    // path, and each must also hold the approver policy's ReadThisActivityTasks (attached to exactly them).
    // Stage names keep only letters and digits here ("a-b" and "ab" would meet): a repeat gets a number.
    const base = `WorkersRead${activity.stage.replace(/[^A-Za-z0-9]/g, "")}Tasks`;
    let sid = base;
    for (let n = 2; sids.has(sid); n++) sid = `${base}${n}`;
    sids.add(sid);
    statements.push(
      statement(sid, { AWS: pulumi.interpolate`arn:${args.partition}:iam::${args.accountId}:root` }, DECRYPT_ACTIONS, {
        StringEquals: { [ACTIVITY_CONTEXT]: activity.activityArn },
        ArnLike: { "aws:PrincipalArn": activity.workers.flatMap(principalArnPatterns) },
      }),
    );
  }
  return pulumi.jsonStringify({ Version: "2012-10-17", Statement: statements });
}

/** The ARN patterns of one IAM user or role, with or without a path (names are unique in an account whatever the path). */
export function principalArnPatterns(arn: string): string[] {
  const { account, kind, name } = principalOf(arn);
  const partition = arn.split(":")[1];
  return [`arn:${partition}:iam::${account}:${kind}/${name}`, `arn:${partition}:iam::${account}:${kind}/*/${name}`];
}
