// The approver policy of a codepipeline or activity stage: a managed policy under a stable name and
// path, attached to the IAM users and roles that config names, to IAM Identity Center permission
// sets, or to nothing (sfn-approvals:attachApproverPolicies: false).
//
// Evidence:
// - IAM Identity Center creates a role AWSReservedSSO_<permission set>_<unique suffix> at
//   role/aws-reserved/sso.amazonaws.com/[<region>/] in each account a permission set is assigned to
//   ("Referencing permission sets in resource policies, Amazon EKS, and AWS KMS",
//   https://docs.aws.amazon.com/singlesignon/latest/userguide/referencingpermissionsets.html). Those
//   roles are managed by Identity Center: AttachRolePolicy on them fails with UnmodifiableEntity, so
//   the stack never tries; a permission set gets the policy as a customer managed policy reference.
// - A reference names a policy by name and path; "You must have an IAM policy that matches the name
//   and path in each AWS account where you want to deploy your permission set"
//   (https://docs.aws.amazon.com/singlesignon/latest/APIReference/API_CustomerManagedPolicyReference.html);
//   "IAM Identity Center fails to assign the permission set if the policy doesn't exist in your
//   member account" (https://docs.aws.amazon.com/singlesignon/latest/userguide/howtocmp.html).
// - aws.ssoadmin.CustomerManagedPolicyAttachment (node_modules/@pulumi/aws/ssoadmin/
//   customerManagedPolicyAttachment.d.ts): instanceArn, permissionSetArn, customerManagedPolicyReference
//   {name, path}, region; "Creating this resource will automatically Provision the Permission Set".
// - IAM quotas, IAM object quotas: "Managed policies attached to an IAM role: 10" (and to an IAM
//   user: 10), adjustable (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html);
//   Service Quotas lists it as IAM quota L-0DA4ABF3 "Managed policies per role", in us-east-1.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError } from "./configError";
import { PolicyStatement, policyDocument } from "./iam";
import { checkedName, defaultNamePrefix } from "./naming";

export interface Principal {
  kind: "user" | "role";
  partition: string;
  account: string;
  /** "/" or "/team/" (IAM paths begin and end with "/"). */
  path: string;
  name: string;
}

/** "arn:aws:iam::123456789012:role/path/Name" -> { kind: "role", account: "123456789012", path: "/path/", name: "Name" } */
export function principalOf(arn: string): Principal {
  const match = /^arn:([a-z-]+):iam::(\d{12}):(user|role)(\/(?:.*\/)?)([^/]+)$/.exec(arn);
  if (!match) throw new pulumi.RunError(`'${arn}' is not an IAM user or role ARN`);
  return { partition: match[1], account: match[2], kind: match[3] as "user" | "role", path: match[4], name: match[5] };
}

/** IAM Identity Center's roles (AWSReservedSSO_*, under /aws-reserved/): only Identity Center changes them. */
export function isIdentityCenterRole(arn: string): boolean {
  const principal = principalOf(arn);
  return (
    principal.kind === "role" &&
    (principal.name.startsWith("AWSReservedSSO_") || principal.path.startsWith("/aws-reserved/"))
  );
}

/** "AWSReservedSSO_FinanceApprover_1234567890abcdef" -> "FinanceApprover" (the suffix is 16 hex digits in AWS's examples). */
export function permissionSetNameOf(arn: string): string | undefined {
  return /^AWSReservedSSO_(.+)_[0-9a-f]{16}$/.exec(principalOf(arn).name)?.[1];
}

/** Every approver policy lives under this path: a permission set references it by name and path. */
export const APPROVER_POLICY_PATH = "/sfn-approvals/";

/** `<prefix>-<stage>-approvers`: the same in every account a stack with this prefix deploys to. */
export function approverPolicyName(component: string, prefix: string, stage: string): string {
  return checkedName(component, "IAM policy", `${prefix}-${stage}-approvers`, 128, /^[\w+=,.@-]+$/);
}

export interface IdentityCenterTarget {
  /** arn:aws:sso:::instance/ssoins-... */
  instanceArn: string;
  /** The instance's Region; absent: the provider's. */
  region?: string;
  /** A provider for the account that administers the instance (absent: the stack's). */
  provider?: pulumi.ProviderResource;
}

/** Where a stage's approver policy goes besides being created. */
export interface ApproverAccess {
  /** false: attach it to no user, role or permission set (sfn-approvals:attachApproverPolicies). Default true. */
  attach?: boolean;
  /** Start of the policy's name (sfn-approvals:approverPolicyPrefix); default: the component's namePrefix. */
  policyNamePrefix?: string;
  /** Permission sets of `identityCenter` that get the policy as a customer managed policy reference. */
  permissionSets?: string[];
  identityCenter?: IdentityCenterTarget;
  /** Checks each role against its managed-policy quota with every policy the stack attaches to it; default: this policy alone. */
  roleQuota?: RolePolicyQuota;
}

/** What a stage's approver policy is and where it went: the stack output `approverPolicies`. */
export interface ApproverPolicyReport {
  stage: string;
  policyName: string;
  policyPath: string;
  policyArn: pulumi.Output<string>;
  /** IAM users and roles the stack attached it to. */
  attachedTo: string[];
  /** Permission sets the stack attached it to (a customer managed policy reference). */
  permissionSets: string[];
  /** Approvers signing in through IAM Identity Center: their permission set must reference the policy. */
  addToPermissionSets: Array<{ permissionSet: string; role: string }>;
  /** Users and roles the stack did not attach it to (attachApproverPolicies: false): give it to them. */
  attachYourself: string[];
}

/**
 * Creates a stage's approver policy and attaches it as `access` says. Attachments name the principal
 * only, in the stack's account: an ARN of another account would otherwise grant the same-named
 * principal here, so such an ARN fails the deployment before anything is attached. Identity Center
 * roles are never attached to; what their permission sets need is said at preview and in the report.
 */
export function createApproverPolicy(args: {
  component: string;
  /** The component's resource name: children are `<resourceName>-approvers...`. */
  resourceName: string;
  /** The stage's component args: its name, approvers, how to attach, and the start of physical names. */
  stageArgs: { stage: string; approvers: string[]; approverAccess?: ApproverAccess; namePrefix?: string };
  description: string;
  statements: PolicyStatement[];
  accountId: pulumi.Output<string>;
  parent: pulumi.Resource;
}): { policy: aws.iam.Policy; report: ApproverPolicyReport } {
  const { stage, approvers } = args.stageArgs;
  const access = args.stageArgs.approverAccess ?? {};
  const attach = access.attach !== false;
  const permissionSets = access.permissionSets ?? [];
  if (!attach && permissionSets.length > 0)
    throw new pulumi.RunError(
      `${args.component}: permission sets are named, but attaching approver policies is turned off`,
    );
  if (permissionSets.length > 0 && !access.identityCenter)
    throw new pulumi.RunError(`${args.component}: permission sets need the Identity Center instance (identityCenter)`);
  const name = approverPolicyName(
    args.component,
    access.policyNamePrefix ?? args.stageArgs.namePrefix ?? defaultNamePrefix(),
    stage,
  );
  const policy = new aws.iam.Policy(
    `${args.resourceName}-approvers`,
    {
      name,
      path: APPROVER_POLICY_PATH,
      description: args.description,
      policy: policyDocument(args.statements),
    },
    { parent: args.parent },
  );

  const identityCenterRoles = approvers.filter(isIdentityCenterRole);
  const plain = approvers.filter((arn) => !isIdentityCenterRole(arn));
  if (attach) {
    const quota =
      access.roleQuota ??
      RolePolicyQuota.of(
        plain.filter((arn) => principalOf(arn).kind === "role").map((role) => ({ role, policyName: name })),
      );
    for (const arn of plain)
      attachToPrincipal({
        component: args.component,
        resourceName: args.resourceName,
        arn,
        policyArn: policy.arn,
        accountId: args.accountId,
        quota,
        parent: args.parent,
      });
  }
  const ic = access.identityCenter;
  for (const permissionSetArn of permissionSets) {
    new aws.ssoadmin.CustomerManagedPolicyAttachment(
      `${args.resourceName}-approvers-${permissionSetArn.split("/").pop()}`,
      {
        instanceArn: ic!.instanceArn,
        permissionSetArn,
        // The policy's own outputs: the reference is made once the policy exists in this account.
        customerManagedPolicyReference: {
          name: policy.name,
          path: policy.path.apply((path) => path ?? APPROVER_POLICY_PATH),
        },
        ...(ic!.region ? { region: ic!.region } : {}),
      },
      { parent: args.parent, ...(ic!.provider ? { provider: ic!.provider } : {}) },
    );
  }

  const report: ApproverPolicyReport = {
    stage,
    policyName: name,
    policyPath: APPROVER_POLICY_PATH,
    policyArn: policy.arn,
    attachedTo: attach ? plain : [],
    permissionSets,
    // With permission sets configured, the stack assumes they are the approvers' (it cannot map a role to its set).
    addToPermissionSets:
      permissionSets.length > 0
        ? []
        : identityCenterRoles.map((role) => ({
            permissionSet: permissionSetNameOf(role) ?? principalOf(role).name,
            role,
          })),
    attachYourself: attach ? [] : plain,
  };
  const reference = `the customer managed policy '${name}' with path '${APPROVER_POLICY_PATH}'`;
  if (report.addToPermissionSets.length > 0) {
    const sets = [...new Set(report.addToPermissionSets.map((r) => `'${r.permissionSet}'`))].join(", ");
    pulumi.log.warn(
      `Stage '${stage}': ${report.addToPermissionSets.map((r) => r.role).join(", ")} sign in through IAM Identity Center, whose roles this stack never changes. Add ${reference} to permission set ${sets} (IAM Identity Center console: the permission set, Permissions policies, Attach customer managed policies), or set sfn-approvals:identityCenter and this stage's permissionSets to let the stack attach it. Every account that permission set is assigned to must have a policy of that name and path (docs/identity-center.md)`,
      args.parent,
    );
  }
  if (report.attachYourself.length > 0) {
    pulumi.log.warn(
      `Stage '${stage}': sfn-approvals:attachApproverPolicies is false, so the stack attached ${reference} to nobody; attach it to ${report.attachYourself.join(", ")} yourself, or they cannot decide`,
      args.parent,
    );
  }
  return { policy, report };
}

function attachToPrincipal(args: {
  component: string;
  resourceName: string;
  arn: string;
  policyArn: pulumi.Output<string>;
  accountId: pulumi.Output<string>;
  quota: RolePolicyQuota;
  parent: pulumi.Resource;
}): void {
  const principal = principalOf(args.arn);
  const principalName = args.accountId.apply((account) => {
    if (principal.account !== account) {
      throw new pulumi.RunError(
        `${args.component}: approver ${args.arn} is not in the stack's account ${account}; approvers of this mechanism must be users or roles of that account`,
      );
    }
    return principal.name;
  });
  const opts = { parent: args.parent };
  if (principal.kind === "role") {
    // Attached only once the role is known to have room for it (its managed-policy quota).
    const role = pulumi
      .all([principalName, args.quota.check(args.arn, args.component, args.parent)])
      .apply(([name]) => name);
    new aws.iam.RolePolicyAttachment(
      `${args.resourceName}-approver-role-${principal.name}`,
      { role, policyArn: args.policyArn },
      opts,
    );
  } else {
    new aws.iam.UserPolicyAttachment(
      `${args.resourceName}-approver-user-${principal.name}`,
      { user: principalName, policyArn: args.policyArn },
      opts,
    );
  }
}

/** AWS's default number of managed policies per role (IAM quotas); an account may have raised it. */
export const DEFAULT_MANAGED_POLICIES_PER_ROLE = 10;
/** Service Quotas: IAM's "Managed policies per role" (global quotas of IAM are read in us-east-1). */
export const MANAGED_POLICIES_PER_ROLE_QUOTA = { serviceCode: "iam", quotaCode: "L-0DA4ABF3", region: "us-east-1" };

/**
 * The preview-time check that a role can take the approver policies this stack attaches to it: the
 * policies already attached (ListAttachedRolePolicies, the stack's own left out) plus the stack's
 * must stay within the account's quota, read from Service Quotas (AWS's default 10 when it cannot be
 * read). Only roles: no invoke lists a user's managed policies, so a user at the limit fails at
 * `pulumi up` with IAM's LimitExceeded. The stack alone never comes near: at most one policy per
 * stage, and 5 stages.
 */
export class RolePolicyQuota {
  private readonly checks = new Map<string, pulumi.Output<void>>();
  private quota?: Promise<{ value: number; source: string }>;

  /** `planned`: for each role (by name, lower case) the names of the approver policies this stack attaches to it. */
  constructor(private readonly planned: Map<string, string[]>) {}

  static of(attachments: Array<{ role: string; policyName: string }>): RolePolicyQuota {
    const planned = new Map<string, string[]>();
    for (const { role, policyName } of attachments) {
      const key = principalOf(role).name.toLowerCase();
      planned.set(key, [...new Set([...(planned.get(key) ?? []), policyName])]);
    }
    return new RolePolicyQuota(planned);
  }

  /** Resolves once the role exists and has room for the stack's policies; fails the preview otherwise. */
  check(roleArn: string, component: string, parent: pulumi.Resource): pulumi.Output<void> {
    const role = principalOf(roleArn).name;
    const key = role.toLowerCase();
    const known = this.checks.get(key);
    if (known) return known;
    const ours = this.planned.get(key) ?? [];
    const isOurs = (policyArn: string) =>
      ours.some((name) => policyArn.endsWith(`:policy${APPROVER_POLICY_PATH}${name}`));
    const checked = pulumi.output(
      aws.iam.getRolePolicyAttachments({ roleName: role }, { parent }).then(
        async (found) => {
          const others = found.attachedPolicies.filter((p) => !isOurs(p.policyArn));
          const total = others.length + ours.length;
          if (total <= DEFAULT_MANAGED_POLICIES_PER_ROLE) return;
          const quota = await this.quotaOf(parent);
          if (total > quota.value) {
            throw new pulumi.RunError(
              `${component}: approver role ${roleArn} has ${others.length} managed policies attached (${others.map((p) => p.policyName).join(", ")}); with this stack's ${ours.join(", ")} it would have ${total}, above the account's quota of ${quota.value} managed policies per role (${quota.source}), and IAM would refuse the attachment (LimitExceeded). Detach a policy from the role, raise the quota (Service Quotas, IAM, "Managed policies per role"), or set sfn-approvals:attachApproverPolicies to false and give the role the approver policy yourself`,
            );
          }
        },
        (error: unknown) => {
          if (error instanceof pulumi.RunError) throw error;
          throw new pulumi.RunError(
            `${component}: the managed policies of approver role ${roleArn} could not be listed (${firstLine(error)}): check that the role exists in the stack's account and that whoever runs pulumi up may call iam:ListAttachedRolePolicies`,
          );
        },
      ),
    );
    this.checks.set(key, checked);
    return checked;
  }

  private quotaOf(parent: pulumi.Resource): Promise<{ value: number; source: string }> {
    this.quota ??= aws.servicequotas.getServiceQuota(MANAGED_POLICIES_PER_ROLE_QUOTA, { parent }).then(
      (found) => ({ value: found.value, source: `Service Quotas ${MANAGED_POLICIES_PER_ROLE_QUOTA.quotaCode}` }),
      (error: unknown) => ({
        value: DEFAULT_MANAGED_POLICIES_PER_ROLE,
        source: `AWS's default; the account's own could not be read: ${firstLine(error)}`,
      }),
    );
    return this.quota;
  }
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0];
}

/**
 * The real ARNs (paths included) of the IAM users and roles that config names under `key`, looked up
 * in IAM: a key policy must name a principal exactly as IAM has it, while config may leave the path
 * out. A principal that does not exist fails the preview with a ConfigError naming its key.
 */
export async function resolvePrincipalArns(key: string, arns: string[]): Promise<string[]> {
  const problems: string[] = [];
  const resolved = await Promise.all(
    arns.map(async (arn, i) => {
      const { kind, name } = principalOf(arn);
      try {
        return kind === "role"
          ? (await aws.iam.getRole({ name })).arn
          : (await aws.iam.getUser({ userName: name })).arn;
      } catch (error) {
        problems.push(
          `${key}[${i}] is "${arn}": IAM has no such ${kind} in this account (${String((error as Error).message ?? error).split("\n")[0]}); name an existing ${kind}`,
        );
        return arn;
      }
    }),
  );
  if (problems.length > 0) throw new ConfigError(problems);
  return resolved;
}
