// Runs the Pulumi program (or any component) under pulumi.runtime.setMocks and records every
// resource with its inputs, so tests can assert exact children and their settings.
import * as pulumi from "@pulumi/pulumi";

export const ACCOUNT_ID = "123456789012";
/** The account the mocks answer for (caller identity, ARNs): ACCOUNT_ID, or the stack's own in the sandbox (scripts/demo/). */
export const mockAccount = { id: ACCOUNT_ID };
export const REGION = "eu-west-1";
/** The id of every HTTP API under mocks (as in AWS, 10 lowercase letters and digits). */
export const API_ID = "a1b2c3d4e5";

export interface RecordedResource {
  type: string;
  name: string;
  inputs: Record<string, any>;
  state: Record<string, any>;
  /** The explicit provider's reference ("<urn>::<id>"), when the resource has one. */
  provider?: string;
}

function fakeState(type: string, name: string, inputs: Record<string, any>): Record<string, any> {
  const physical = inputs.name ?? `${name}-a1b2c3d`;
  const arn = (service: string, resource: string) => `arn:aws:${service}:${REGION}:${mockAccount.id}:${resource}`;
  switch (type) {
    case "aws:iam/role:Role":
      return { name: physical, arn: `arn:aws:iam::${mockAccount.id}:role/${physical}` };
    case "aws:lambda/function:Function":
      return { name: physical, arn: arn("lambda", `function:${physical}`), invokeArn: `invoke:${physical}` };
    case "aws:sns/topic:Topic":
      return { name: physical, arn: arn("sns", physical) };
    case "aws:sqs/queue:Queue":
      return {
        name: physical,
        arn: arn("sqs", physical),
        url: `https://sqs.${REGION}.amazonaws.com/${mockAccount.id}/${physical}`,
      };
    case "aws:ssm/document:Document":
      return { name: physical, arn: arn("ssm", `document/${physical}`) };
    case "aws:cloudwatch/eventRule:EventRule":
      return { name: physical, arn: arn("events", `rule/${physical}`) };
    case "aws:cloudwatch/logGroup:LogGroup":
      return { name: physical, arn: arn("logs", `log-group:${physical}`) };
    case "aws:s3/bucket:Bucket":
      return { bucket: physical, arn: `arn:aws:s3:::${physical}` };
    case "aws:dynamodb/table:Table":
      return { name: physical, arn: arn("dynamodb", `table/${physical}`) };
    case "aws:iam/policy:Policy":
      // As in IAM, a policy's ARN holds its path (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns).
      return { name: physical, arn: `arn:aws:iam::${mockAccount.id}:policy${inputs.path ?? "/"}${physical}` };
    case "aws:sfn/stateMachine:StateMachine":
      return { name: physical, arn: arn("states", `stateMachine:${physical}`) };
    case "aws:apigatewayv2/api:Api":
      return {
        name: physical,
        apiEndpoint: `https://${API_ID}.execute-api.${REGION}.amazonaws.com`,
        executionArn: `arn:aws:execute-api:${REGION}:${mockAccount.id}:${API_ID}`,
        arn: `arn:aws:apigateway:${REGION}::/apis/${API_ID}`,
      };
    // As in Secrets Manager: the name, a hyphen and six random characters (CreateSecret, ARN).
    case "aws:secretsmanager/secret:Secret":
      return { name: physical, arn: arn("secretsmanager", `secret:${physical}-AbCdEf`) };
    case "aws:sfn/activity:Activity":
      return { name: physical, arn: arn("states", `activity:${physical}`) };
    // As in Step Functions: a version's ARN is its state machine's and its number, an alias's its name.
    case "aws-native:stepfunctions:StateMachineVersion":
      return { arn: `${inputs.stateMachineArn}:1` };
    case "aws-native:stepfunctions:StateMachineAlias": {
      const version = String(inputs.deploymentPreference?.stateMachineVersionArn);
      return { arn: `${version.slice(0, version.lastIndexOf(":"))}:${inputs.name}` };
    }
    case "aws:kms/key:Key":
      return { keyId: `${name}-0000-key-id`, arn: arn("kms", `key/${name}-0000-key-id`) };
    default:
      return { name: physical, arn: arn("mock", `${type}/${physical}`) };
  }
}

/**
 * What the preview-time IAM checks read under mocks (components/shared/principals.ts, RolePolicyQuota):
 * managed policies already attached to a role (by role name; a role listed in `missingRoles` does not
 * exist), and the account's "Managed policies per role" quota (undefined: Service Quotas refuses the
 * call, as for a deployer without servicequotas:GetServiceQuota). Tests that change them restore them.
 */
export const iamFacts: {
  attachedRolePolicies: Record<string, string[]>;
  missingRoles: string[];
  managedPoliciesPerRole?: number;
  paths: Record<string, string>;
} = { attachedRolePolicies: {}, missingRoles: [], paths: {} };

/** A failed invoke as the engine reports it: Pulumi rethrows `details` (runtime/invoke.js). */
function invokeError(message: string): Error {
  return Object.assign(new Error(message), { details: message });
}

const mocks: pulumi.runtime.Mocks & { recorded: RecordedResource[] } = {
  recorded: [],
  newResource(args) {
    const state = { ...args.inputs, ...fakeState(args.type, args.name, args.inputs) };
    this.recorded.push({
      type: args.type,
      name: args.name,
      inputs: args.inputs,
      state,
      ...(args.provider ? { provider: args.provider } : {}),
    });
    // As in AWS, a bucket's id is its name.
    const id =
      args.type === "aws:s3/bucket:Bucket"
        ? state.bucket
        : args.type === "aws:apigatewayv2/api:Api"
          ? API_ID
          : `${args.name}-id`;
    return { id, state };
  },
  call(args) {
    switch (args.token) {
      case "aws:index/getCallerIdentity:getCallerIdentity":
        return {
          accountId: mockAccount.id,
          arn: `arn:aws:iam::${mockAccount.id}:user/deployer`,
          userId: "AIDEXAMPLE",
          id: mockAccount.id,
        };
      case "aws:index/getRegion:getRegion":
        return {
          name: REGION,
          region: REGION,
          id: REGION,
          description: "Europe (Ireland)",
          endpoint: `ec2.${REGION}.amazonaws.com`,
        };
      case "aws:iam/getSessionContext:getSessionContext":
        // The deployer above is an IAM user: its issuer is itself.
        return {
          arn: args.inputs.arn,
          issuerArn: args.inputs.arn,
          issuerId: "AIDEXAMPLE",
          issuerName: "deployer",
          sessionName: "",
          id: args.inputs.arn,
        };
      case "aws:iam/getRolePolicyAttachments:getRolePolicyAttachments": {
        const role = args.inputs.roleName as string;
        if (iamFacts.missingRoles.includes(role))
          throw invokeError(`NoSuchEntity: The role with name ${role} cannot be found.`);
        const attachedPolicies = (iamFacts.attachedRolePolicies[role] ?? []).map((policyArn) => ({
          policyArn,
          policyName: policyArn.split("/").pop(),
        }));
        return { roleName: role, attachedPolicies, id: role };
      }
      // A user's or role's real ARN, with its path (iamFacts.paths by name; "/" otherwise).
      case "aws:iam/getRole:getRole":
      case "aws:iam/getUser:getUser": {
        const kind = args.token === "aws:iam/getRole:getRole" ? "role" : "user";
        const name = (kind === "role" ? args.inputs.name : args.inputs.userName) as string;
        if (iamFacts.missingRoles.includes(name))
          throw invokeError(`NoSuchEntity: The ${kind} with name ${name} cannot be found.`);
        return {
          ...args.inputs,
          arn: `arn:aws:iam::${mockAccount.id}:${kind}${iamFacts.paths[name] ?? "/"}${name}`,
          path: iamFacts.paths[name] ?? "/",
          id: name,
        };
      }
      case "aws:servicequotas/getServiceQuota:getServiceQuota":
        if (iamFacts.managedPoliciesPerRole === undefined)
          throw invokeError("AccessDeniedException: User is not authorized to perform: servicequotas:GetServiceQuota");
        return {
          ...args.inputs,
          value: iamFacts.managedPoliciesPerRole,
          defaultValue: 10,
          adjustable: true,
          globalQuota: true,
          quotaName: "Managed policies per role",
          serviceName: "AWS Identity and Access Management (IAM)",
          arn: "",
          id: "iam/L-0DA4ABF3",
          usageMetrics: [],
        };
      case "aws:index/getPartition:getPartition":
        return { partition: "aws", dnsSuffix: "amazonaws.com", reverseDnsPrefix: "com.amazonaws", id: "aws" };
      default:
        throw new Error(`Unexpected invoke in tests: ${args.token}`);
    }
  },
};

export function promiseOf<T>(output: pulumi.Input<T>): Promise<T> {
  return new Promise((resolve) =>
    pulumi.output(output).apply((value) => {
      resolve(value as T);
      return value;
    }),
  );
}

/** Resolves nested Outputs (in arrays and objects) to plain values. */
export async function resolveDeep(value: unknown): Promise<any> {
  if (pulumi.Output.isInstance(value)) return resolveDeep(await promiseOf(value as pulumi.Output<unknown>));
  if (value instanceof Promise) return resolveDeep(await value);
  if (Array.isArray(value)) return Promise.all(value.map(resolveDeep));
  if (value !== null && typeof value === "object") {
    const entries = await Promise.all(Object.entries(value).map(async ([k, v]) => [k, await resolveDeep(v)] as const));
    return Object.fromEntries(entries);
  }
  return value;
}

export interface ProgramRun {
  resources: RecordedResource[];
  outputs: Record<string, any>;
}

let unmappedRuns = 0;
let sourceMapsBefore = false;

/**
 * Runs `program` with the given stack config and waits until every resource is registered.
 * Config keys are full keys ("sfn-approvals:stages"); structured values must be JSON strings.
 */
export async function runWithMocks<T>(
  stack: string,
  config: Record<string, string>,
  program: () => T | Promise<T>,
): Promise<{ resources: RecordedResource[]; result: T }> {
  mocks.recorded = [];
  // Like Pulumi's own runtime, a rejected resource input (an error thrown in an apply) fails the run.
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => rejections.push(reason);
  process.on("unhandledRejection", onRejection);
  let result: T | undefined;
  let failure: unknown;
  // Pulumi reads a stack trace for every promise it makes (debuggablePromise, for its leak report);
  // mapped through source maps, that is a tenth of a test file's CPU. Unmapped during the run only:
  // an error's stack is mapped when first read, so a failure read later still points into the .ts.
  if (unmappedRuns++ === 0) {
    sourceMapsBefore = process.sourceMapsEnabled;
    process.setSourceMapsEnabled(false);
  }
  try {
    await pulumi.runtime.setMocks(mocks, "sfn-approvals", stack, false);
    pulumi.runtime.setAllConfig(config);
    result = await program();
    await resolveDeep(result);
  } catch (error) {
    failure = error;
  }
  // Drain every registration of this run, failed or not, so nothing leaks into the next run.
  await pulumi.runtime.disconnect().catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 10));
  if (--unmappedRuns === 0) process.setSourceMapsEnabled(sourceMapsBefore);
  process.off("unhandledRejection", onRejection);
  if (failure !== undefined) throw failure;
  if (rejections.length > 0) throw rejections[0];
  return { resources: [...mocks.recorded], result: result as T };
}

/** The resources the last run registered, also when it failed. */
export function lastRunResources(): RecordedResource[] {
  return [...mocks.recorded];
}

/** Plain objects and arrays frozen all the way down (class instances such as assets are left alone). */
function deepFreeze<T>(value: T): T {
  const prototype = value !== null && typeof value === "object" ? Object.getPrototypeOf(value) : undefined;
  if (
    (prototype === Object.prototype || prototype === Array.prototype || prototype === null) &&
    !Object.isFrozen(value)
  ) {
    Object.freeze(value);
    for (const child of Object.values(value as object)) deepFreeze(child);
  }
  return value;
}

/**
 * Program runs by stack, config and IAM facts: each is made once per process and shared by the test
 * files that ask for it (the program under mocks is most of many files' setup). Frozen, so no test
 * can change what another reads; a failed run is not kept (lastRunResources shows it).
 */
const programRuns = new Map<string, Promise<ProgramRun>>();

/** Runs index.ts for a stack config and resolves its stack outputs. */
export function runProgram(stack: string, config: Record<string, string>): Promise<ProgramRun> {
  const key = JSON.stringify([stack, config, iamFacts]);
  let run = programRuns.get(key);
  if (!run) {
    run = (async () => {
      // Loaded before the run (runWithMocks turns source maps off), so its modules' maps are kept.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const main = require("../../index") as () => Promise<Record<string, unknown>>;
      const { resources, result } = await runWithMocks(stack, config, main);
      return deepFreeze({ resources, outputs: await resolveDeep(result) });
    })();
    programRuns.set(key, run);
    run.catch(() => programRuns.delete(key));
  }
  return run;
}

export function ofType(resources: RecordedResource[], type: string): RecordedResource[] {
  return resources.filter((r) => r.type === type);
}

export function named(resources: RecordedResource[], name: string): RecordedResource {
  const found = resources.filter((r) => r.name === name);
  if (found.length !== 1)
    throw new Error(
      `Expected one resource named ${name}, found ${found.length}: ${resources.map((r) => r.name).join(", ")}`,
    );
  return found[0];
}

/** The serialized __index.js of a CallbackFunction's archive, from the mock inputs. */
/** How archiveFiles names a folder the archive ships (a bundled package): this prefix and its path. */
export const ARCHIVE_FOLDER = "<folder>";

export async function archiveFiles(fn: RecordedResource): Promise<Record<string, string>> {
  const assets = await fn.inputs.code.assets;
  const files: Record<string, string> = {};
  for (const [path, asset] of Object.entries<any>(assets)) {
    // A package folder (a FileArchive, as Pulumi ships a bundled dependency) is named by its path.
    files[path] =
      asset.text !== undefined
        ? String(await asset.text)
        : asset.path !== undefined
          ? `${ARCHIVE_FOLDER}${String(await asset.path)}`
          : `<non-text asset ${Object.keys(asset).join(",")}>`;
  }
  return files;
}
