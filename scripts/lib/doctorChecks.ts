// The checks of `npm run doctor`: what the deployed stack is (from its outputs and from AWS), then one
// verdict per check. Only Describe/Get/List/Simulate calls: the doctor changes nothing.
import type { ObjectLockConfiguration } from "@aws-sdk/client-s3";
import { createHash } from "crypto";
import { auditRecordKey } from "../../functions/auditRecord";
import { AwsCallError, failureCause, failureMessage } from "./failures";
import type { SLACK_START_ENV } from "../../functions/mechanisms/slack/startRequest";
import {
  DoctorClients,
  codePipelineSdk,
  dynamoDbSdk,
  eventBridgeSdk,
  lambdaSdk,
  s3Sdk,
  secretsManagerSdk,
  snsSdk,
  sqsSdk,
} from "./doctorClients";
import { LiveFacts, SimulatedRequest, liveRequests, simulatePrincipal } from "./doctorIam";
import { DEPRECATION_WARNING_DAYS, runtimeStatus } from "./doctorRuntimes";
import { EXECUTION_NAME, Facts, LambdaFacts, SlackFacts, taskStates } from "./requiredCalls";
import { sfnSdk, stsSdk } from "./sdk";
import { cell, truncate } from "./terminalFormat";
import { WorkflowTarget } from "./workflowTarget";

/* eslint-disable @typescript-eslint/no-explicit-any -- stage outputs and ASL states are JSON of many shapes, read as the call table reads them */

export type Verdict = "ok" | "FAIL" | "not checked";

export interface CheckLine {
  verdict: Verdict;
  check: string;
  text: string;
  /** With FAIL: the command or config change that fixes it. */
  fix?: string;
  /** With "not checked": AWS or the doctor failed (exit 2), not merely "does not apply". */
  unableToCheck?: boolean;
}

export interface DoctorOptions {
  clients: DoctorClients;
  target: WorkflowTarget;
  /** The stack's outputs (`pulumi stack output --json`); undefined with --state-machine-arn. */
  outputs?: Record<string, unknown>;
  now: Date;
  /** Progress, on stderr. */
  progress: (text: string) => void;
}

/** The exit code of a report: 1 when a check fails, 2 when one could not be checked, else 0. */
export function exitCode(lines: CheckLine[]): number {
  if (lines.some((l) => l.verdict === "FAIL")) return 1;
  if (lines.some((l) => l.unableToCheck)) return 2;
  return 0;
}

export function formatLine(line: CheckLine): string {
  const fix = line.verdict === "FAIL" && line.fix ? `; fix: ${line.fix}` : "";
  return `${line.verdict.padEnd(11)} ${line.check}: ${line.text}${fix}`;
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const isCredentialFailure = (error: unknown) => ["no-credentials", "expired-credentials"].includes(failureCause(error));

async function aws<T>(service: string, send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (error) {
    throw new AwsCallError(service, error);
  }
}

const str = (value: unknown): string | undefined => (typeof value === "string" && value !== "" ? value : undefined);
const nameOf = (arn: string) => cell(arn.split(/[:/]/).pop());

interface FunctionInfo extends LambdaFacts {
  name: string;
  runtime?: string;
  environment: Record<string, string>;
}

/** What the doctor learned about the deployed stack before the checks. */
interface Inventory {
  account: string;
  partition: string;
  roleArn: string;
  definition: string;
  states: Record<string, unknown>;
  keyArn?: string;
  stages: Array<Record<string, any>>;
  functions: Map<string, FunctionInfo>;
  /** Functions that could not be described, by the name the stack gave. */
  functionProblems: Map<string, unknown>;
  pageFunction?: string;
  rules: Map<string, { name: string; arn: string; state: string }[]>;
  ruleProblems: Map<string, unknown>;
  pipelines: Map<string, { roleArn?: string; sourceKey?: string }>;
  /** Pipelines that could not be read, by stage name. */
  pipelineProblems: Map<string, unknown>;
  queueArns: Map<string, string>;
}

/** The stage functions the outputs name (a slack stage's interaction and follow-up functions too). */
const STAGE_FUNCTION_OUTPUTS = [
  "startFunctionName",
  "resultFunctionName",
  "interactionFunctionName",
  "followUpFunctionName",
];

/** Function names the outputs and the definition name: stage functions, the page, Task FunctionNames. */
function functionNames(
  stages: Array<Record<string, unknown>>,
  page: string | undefined,
  states: Record<string, unknown>,
) {
  const names = new Set<string>();
  for (const stage of stages)
    for (const key of STAGE_FUNCTION_OUTPUTS) if (str(stage[key])) names.add(stage[key] as string);
  if (page) names.add(page);
  for (const [, state] of taskStates(states as Record<string, any>)) {
    const fn = state.Parameters?.FunctionName ?? state.Arguments?.FunctionName;
    if (/^arn:aws:states:::lambda:invoke/.test(state.Resource) && str(fn)) names.add(fn);
  }
  return names;
}

async function inventory(o: DoctorOptions): Promise<Inventory> {
  const { clients, target } = o;
  o.progress("Reading the state machine");
  const identity = await aws("STS", () => clients.sts.send(new (stsSdk().GetCallerIdentityCommand)({})));
  const account = target.stateMachineArn.split(":")[4];
  if (identity.Account && identity.Account !== account)
    throw new Error(
      `your credentials are for account ${cell(identity.Account)}, the state machine is in account ${account}; use credentials of that account (e.g. AWS_PROFILE)`,
    );
  const machine = await aws("Step Functions", () =>
    clients.sfn.send(new (sfnSdk().DescribeStateMachineCommand)({ stateMachineArn: target.stateMachineArn })),
  );
  const definition = machine.definition ?? "";
  let states: Record<string, unknown>;
  try {
    states = (JSON.parse(definition) as { States?: Record<string, unknown> }).States ?? {};
  } catch {
    states = {};
  }
  const outputs = o.outputs ?? {};
  const stages = Array.isArray(outputs.stages) ? (outputs.stages as Array<Record<string, unknown>>) : [];
  const pageFunction = str(outputs.approvalPageFunctionName);

  o.progress("Reading the Lambda functions");
  const functions = new Map<string, FunctionInfo>();
  const functionProblems = new Map<string, unknown>();
  for (const name of functionNames(stages, pageFunction, states)) {
    try {
      const config = await aws("Lambda", () =>
        clients.lambda.send(new (lambdaSdk().GetFunctionConfigurationCommand)({ FunctionName: name })),
      );
      const logGroup = config.LoggingConfig?.LogGroup ?? `/aws/lambda/${config.FunctionName}`;
      const arn = (config.FunctionArn ?? "").replace(/:\$LATEST$/, "");
      functions.set(name, {
        name: config.FunctionName ?? name,
        arn,
        roleArn: config.Role ?? "",
        logGroupArn: `${arn.split(":function:")[0].replace(":lambda:", ":logs:")}:log-group:${logGroup}`,
        runtime: config.Runtime,
        environment: config.Environment?.Variables ?? {},
      });
    } catch (error) {
      if (isCredentialFailure(error)) throw error;
      functionProblems.set(name, error);
    }
  }

  o.progress("Reading the EventBridge rules, queues and pipelines");
  const rules = new Map<string, { name: string; arn: string; state: string }[]>();
  const ruleProblems = new Map<string, unknown>();
  for (const stage of stages) {
    const fn = str(stage.resultFunctionName) && functions.get(stage.resultFunctionName as string);
    if (!fn) continue;
    try {
      const found: { name: string; arn: string; state: string }[] = [];
      let next: string | undefined;
      do {
        const page = await aws("EventBridge", () =>
          clients.events.send(
            new (eventBridgeSdk().ListRuleNamesByTargetCommand)({
              TargetArn: fn.arn,
              ...(next ? { NextToken: next } : {}),
            }),
          ),
        );
        for (const name of page.RuleNames ?? []) {
          const rule = await aws("EventBridge", () =>
            clients.events.send(new (eventBridgeSdk().DescribeRuleCommand)({ Name: name })),
          );
          found.push({ name, arn: rule.Arn ?? "", state: rule.State ?? "unknown" });
        }
        next = page.NextToken;
      } while (next);
      rules.set(stage.name as string, found);
    } catch (error) {
      if (isCredentialFailure(error)) throw error;
      ruleProblems.set(stage.name as string, error);
    }
  }
  const queueArns = new Map<string, string>();
  const pipelines = new Map<string, { roleArn?: string; sourceKey?: string }>();
  const pipelineProblems = new Map<string, unknown>();
  for (const stage of stages) {
    const pipelineName = str(stage.pipelineName);
    if (!pipelineName) continue;
    try {
      const answer = await aws("CodePipeline", () =>
        clients.codePipeline.send(new (codePipelineSdk().GetPipelineCommand)({ name: pipelineName })),
      );
      pipelines.set(pipelineName, {
        roleArn: answer.pipeline?.roleArn,
        sourceKey: answer.pipeline?.stages?.[0]?.actions?.[0]?.configuration?.S3ObjectKey,
      });
    } catch (error) {
      if (isCredentialFailure(error)) throw error;
      pipelineProblems.set(stage.name as string, error);
    }
  }
  return {
    account,
    partition: target.stateMachineArn.split(":")[1],
    roleArn: machine.roleArn ?? "",
    definition,
    states,
    keyArn: str(outputs.executionDataKeyArn) ?? machine.encryptionConfiguration?.kmsKeyId,
    stages,
    functions,
    functionProblems,
    pageFunction,
    rules,
    ruleProblems,
    pipelines,
    pipelineProblems,
    queueArns,
  };
}

/**
 * The start function's environment names a slack stage's secret (its ARN) and request table (its
 * name), as components/mechanisms/slackApproval.ts sets them; the type ties the names to the function's.
 */
const SLACK_ENV: Pick<typeof SLACK_START_ENV, "secretId" | "table"> = {
  secretId: "SLACK_SECRET_ID",
  table: "SLACK_TABLE",
};

/** A slack stage's secret ARN and request table name, from its start function (undefined when not read). */
function slackResources(inv: Inventory, stage: Record<string, any>) {
  const start = str(stage.startFunctionName) ? inv.functions.get(stage.startFunctionName) : undefined;
  if (!start) return undefined;
  return { secretArn: str(start.environment[SLACK_ENV.secretId]), table: str(start.environment[SLACK_ENV.table]) };
}

function liveFacts(o: DoctorOptions, inv: Inventory): LiveFacts {
  const region = o.target.region;
  const arn = (service: string, resource: string) =>
    `arn:${inv.partition}:${service}:${region}:${inv.account}:${resource}`;
  const fn = (name: unknown) => (str(name) ? inv.functions.get(name as string) : undefined) as LambdaFacts;
  const page = fn(inv.pageFunction);
  const codeTable = inv.pageFunction ? inv.functions.get(inv.pageFunction)?.environment.CODE_TABLE_NAME : undefined;
  const pageUrl = str(o.outputs?.approvalPageUrl);
  const base: LiveFacts["base"] = {
    stack: o.target.stack ?? "",
    account: inv.account,
    arn,
    arnOf: (pulumiName: string) => {
      throw new Error(`names the resource '${pulumiName}' by its Pulumi name, which the doctor cannot look up`);
    },
    stateMachineArn: o.target.stateMachineArn,
    executionArn: arn("states", `execution:${o.target.stateMachineArn.split(":").pop()}:${EXECUTION_NAME}`),
    page,
    keyArn: inv.keyArn ?? "",
    deployer: "",
    readers: [],
    linkCodeTableArn: codeTable ? arn("dynamodb", `table/${codeTable}`) : "",
    apiId: pageUrl ? (/^https:\/\/([^.]+)\./.exec(pageUrl)?.[1] ?? "") : "",
    auditBucketArn: str(o.outputs?.auditBucketName) ? `arn:${inv.partition}:s3:::${o.outputs!.auditBucketName}` : "",
  };
  // Unknown when the start function could not be read: the slack rows then say so (requiredCalls.ts, slackOf).
  const slackFacts = (stage: Record<string, any>): SlackFacts | undefined => {
    const named = slackResources(inv, stage);
    return named
      ? {
          secretArn: named.secretArn ?? "",
          requestTableArn: named.table ? arn("dynamodb", `table/${named.table}`) : "",
          interaction: fn(stage.interactionFunctionName),
          followUp: fn(stage.followUpFunctionName),
        }
      : undefined;
  };
  const stageFacts = (stage: Record<string, any>): Facts => {
    const result = fn(stage.resultFunctionName);
    const pipeline = str(stage.pipelineName) ? inv.pipelines.get(stage.pipelineName) : undefined;
    return {
      ...base,
      stage: { ...stage, pipelineRoleArn: pipeline?.roleArn },
      fn: undefined as unknown as LambdaFacts,
      start: fn(stage.startFunctionName),
      result,
      deadLetterQueueArn: str(stage.deadLetterQueueUrl) ? (inv.queueArns.get(stage.deadLetterQueueUrl) as string) : "",
      decisionRuleArn: str(stage.name) ? (inv.rules.get(stage.name)?.[0]?.arn as string) : "",
      pipelineArn: str(stage.pipelineName) ? arn("codepipeline", stage.pipelineName) : "",
      bucketArn: str(stage.artifactBucket) ? `arn:${inv.partition}:s3:::${stage.artifactBucket}` : "",
      sourceKey: pipeline?.sourceKey as string,
      tableArn: str(stage.tokenTableName) ? arn("dynamodb", `table/${stage.tokenTableName}`) : "",
      task: {},
      ...(stage.mechanism === "slack" ? { slack: slackFacts(stage) } : {}),
    };
  };
  return {
    base,
    stateMachineRoleArn: inv.roleArn,
    definitionStates: inv.states,
    stages: inv.stages,
    functions: uniqueFunctions(inv),
    stageFacts,
  };
}

/** Each function once (the outputs name it, the definition by ARN). */
const uniqueFunctions = (inv: Inventory): FunctionInfo[] => [
  ...new Map([...inv.functions.values()].map((f) => [f.arn, f])).values(),
];

const roleName = (arn: string) => cell(arn.replace(/^arn:[^:]+:iam::\d{12}:/, ""));

async function iamLines(o: DoctorOptions, inv: Inventory): Promise<CheckLine[]> {
  const { requests, unnamed, skipped } = liveRequests(liveFacts(o, inv));
  const byPrincipal = new Map<string, typeof requests>();
  for (const r of requests) byPrincipal.set(r.principal, [...(byPrincipal.get(r.principal) ?? []), r]);
  const lines: CheckLine[] = [];
  let done = 0;
  const total = new Set(requests.map((r) => `${r.principal} ${JSON.stringify([r.resources, r.context])}`)).size;
  for (const [principal, mine] of byPrincipal) {
    const whos = [...new Set(mine.map((r) => r.who))];
    const check = `IAM ${roleName(principal)}`;
    let simulated: SimulatedRequest[];
    try {
      simulated = await simulatePrincipal(o.clients.iam, principal, mine, () => {
        done++;
        o.progress(`Simulating IAM calls (${done}/${total})`);
      });
    } catch (error) {
      if (isCredentialFailure(error)) throw error;
      lines.push({
        verdict: "not checked",
        check,
        text: `could not simulate its calls: ${failureMessage(new AwsCallError("IAM", error))}`,
        unableToCheck: true,
      });
      continue;
    }
    const denied = simulated.filter((r) => r.decision !== "allowed");
    const approver = whos.every((w) => w.startsWith("approvers"));
    if (denied.length === 0) {
      lines.push({
        verdict: "ok",
        check,
        text: `may make all ${simulated.length} call(s) it needs as ${truncate(whos.map(cell).join(", "), 200)}`,
      });
      continue;
    }
    const shown = denied
      .slice(0, 5)
      .map((r) => `${r.action} on ${r.resources.map(cell).join(" + ")} (${r.decision}, ${cell(r.who)})`)
      .join("; ");
    lines.push({
      verdict: "FAIL",
      check,
      text: `refused ${denied.length} of ${simulated.length} calls it needs: ${shown}${denied.length > 5 ? `; and ${denied.length - 5} more` : ""}`,
      fix: approver
        ? `attach the stage's approver policy to ${roleName(principal)} (stack output approverPolicies; docs/identity-center.md), or let the stack attach it (sfn-approvals:attachApproverPolicies) and run pulumi up${o.target.stack ? ` --stack ${cell(o.target.stack)}` : ""}`
        : `pulumi up --refresh${o.target.stack ? ` --stack ${cell(o.target.stack)}` : ""} restores the stack's policies; if it still fails, a permissions boundary or an SCP denies it (aws iam simulate-principal-policy --policy-source-arn ${cell(principal)} --action-names ${denied[0].action})`,
    });
  }
  const skippedText = Object.entries(skipped)
    .map(([why, n]) => `${n} rows ${why}`)
    .join(", ");
  if (unnamed.length > 0 || !o.target.stack) {
    const why = [...new Set(unnamed.map((u) => `${u.action} by ${cell(u.who)}: ${cell(u.why)}`))]
      .slice(0, 5)
      .join("; ");
    lines.push({
      verdict: "not checked",
      check: "IAM",
      text: [
        !o.target.stack ? "the stages' roles and approvers need --stack" : "",
        unnamed.length > 0 ? `${unnamed.length} calls whose principal or resource is unknown (${why})` : "",
        skippedText,
      ]
        .filter(Boolean)
        .join("; "),
    });
  }
  return lines;
}

async function subscriptionsOf(o: DoctorOptions, topicArn: string) {
  const subscriptions: Array<{ protocol: string; endpoint: string; arn: string }> = [];
  let next: string | undefined;
  do {
    const page = await aws("SNS", () =>
      o.clients.sns.send(
        new (snsSdk().ListSubscriptionsByTopicCommand)({ TopicArn: topicArn, ...(next ? { NextToken: next } : {}) }),
      ),
    );
    for (const s of page.Subscriptions ?? [])
      subscriptions.push({ protocol: s.Protocol ?? "", endpoint: s.Endpoint ?? "", arn: s.SubscriptionArn ?? "" });
    next = page.NextToken;
  } while (next);
  return subscriptions;
}

/**
 * A subscription not yet confirmed lists as SubscriptionArn "PendingConfirmation" (SNS API reference,
 * ListSubscriptionsByTopic / Subscription; the SDK model's SubscribeResponse: "the string 'pending
 * confirmation' if the subscription requires confirmation"); a confirmed one as its ARN.
 */
const isPending = (arn: string) => /^pending ?confirmation$/i.test(arn);
const isConfirmed = (arn: string) => arn.startsWith("arn:");

async function subscriptionLines(o: DoctorOptions, inv: Inventory): Promise<CheckLine[]> {
  const stack = o.target.stack ? ` --stack ${cell(o.target.stack)}` : "";
  const topics = new Map<string, string>();
  const alerts = str(o.outputs?.alertTopicArn);
  if (alerts) topics.set(alerts, "alerts");
  for (const stage of inv.stages) {
    if (str(stage.topicArn)) topics.set(stage.topicArn, `stage ${stage.name}`);
    if (str(stage.escalationTopicArn)) topics.set(stage.escalationTopicArn, `stage ${stage.name} escalations`);
  }
  for (const [, state] of taskStates(inv.states as Record<string, any>)) {
    const topic = state.Parameters?.TopicArn ?? state.Arguments?.TopicArn;
    if (/^arn:aws:states:::sns:publish/.test(state.Resource) && str(topic) && !topics.has(topic))
      topics.set(topic, "a topic of the definition");
  }
  const lines: CheckLine[] = [];
  const pending: string[] = [];
  let emails = 0;
  const problems: string[] = [];
  const byTopic = new Map<string, Awaited<ReturnType<typeof subscriptionsOf>>>();
  for (const [topic, label] of topics) {
    o.progress(`Listing the subscriptions of ${label}`);
    try {
      const subscriptions = await subscriptionsOf(o, topic);
      byTopic.set(topic, subscriptions);
      for (const s of subscriptions.filter((s) => /^email/.test(s.protocol))) {
        emails++;
        if (isPending(s.arn)) pending.push(`${cell(s.endpoint)} (${cell(label)})`);
      }
    } catch (error) {
      if (isCredentialFailure(error)) throw error;
      problems.push(`${cell(label)}: ${failureMessage(new AwsCallError("SNS", error))}`);
    }
  }
  if (pending.length > 0)
    lines.push({
      verdict: "FAIL",
      check: "email subscriptions",
      text: `${pending.length} of ${emails} not confirmed: ${truncate(pending.join(", "), 600)}`,
      fix: `each address opens the email "AWS Notification - Subscription Confirmation" and clicks Confirm subscription (docs/operations.md, Confirming the email subscriptions); for an expired link: pulumi refresh${stack}, then pulumi up${stack}`,
    });
  else if (problems.length === 0)
    lines.push({
      verdict: "ok",
      check: "email subscriptions",
      text: `all ${emails} confirmed, on ${topics.size} topics`,
    });
  if (problems.length > 0)
    lines.push({
      verdict: "not checked",
      check: "email subscriptions",
      text: problems.join("; "),
      unableToCheck: true,
    });

  if (!alerts) {
    lines.push({
      verdict: "not checked",
      check: "alerts topic",
      text: o.target.stack ? "the stack has no alertTopicArn output" : "needs --stack",
    });
  } else if (byTopic.has(alerts)) {
    const confirmed = byTopic.get(alerts)!.filter((s) => isConfirmed(s.arn));
    lines.push(
      confirmed.length > 0
        ? {
            verdict: "ok",
            check: "alerts topic",
            text: `${confirmed.length} confirmed subscriber(s): ${truncate(confirmed.map((s) => cell(s.endpoint)).join(", "), 300)}`,
          }
        : {
            verdict: "FAIL",
            check: "alerts topic",
            text: `no confirmed subscriber on ${cell(alerts)}: nobody hears of a lost decision or a failed execution`,
            fix: `pulumi config set --path 'sfn-approvals:alertEmails[0]' ops@example.com${stack} && pulumi up${stack}, then confirm the email (or confirm the pending ones)`,
          },
    );
  }
  return lines;
}

function ruleLines(o: DoctorOptions, inv: Inventory): CheckLine[] {
  const lines: CheckLine[] = [];
  for (const stage of inv.stages.filter((s) => str(s.resultFunctionName))) {
    const check = `EventBridge rule (stage ${cell(stage.name)})`;
    const problem = inv.ruleProblems.get(stage.name) ?? inv.functionProblems.get(stage.resultFunctionName);
    if (problem) {
      lines.push({ verdict: "not checked", check, text: failureMessage(problem), unableToCheck: true });
      continue;
    }
    const rules = inv.rules.get(stage.name) ?? [];
    if (rules.length === 0) {
      lines.push({
        verdict: "FAIL",
        check,
        text: `no rule targets the result function ${cell(stage.resultFunctionName)}: no decision reaches the workflow`,
        fix: `pulumi up --refresh${o.target.stack ? ` --stack ${cell(o.target.stack)}` : ""}`,
      });
      continue;
    }
    for (const rule of rules) {
      // EventBridge rule states: ENABLED, DISABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS (SDK model, RuleState).
      const enabled = rule.state.startsWith("ENABLED");
      lines.push(
        enabled
          ? { verdict: "ok", check, text: `${cell(rule.name)} is ${cell(rule.state)}` }
          : {
              verdict: "FAIL",
              check,
              text: `${cell(rule.name)} is ${cell(rule.state)}: decisions of this stage are not delivered`,
              fix: `aws events enable-rule --name ${cell(rule.name)} --region ${o.target.region} (or pulumi up --refresh${o.target.stack ? ` --stack ${cell(o.target.stack)}` : ""})`,
            },
      );
    }
  }
  return lines;
}

/** A pipeline that could not be read leaves its role's calls unsimulated: AWS refused or failed, exit 2. */
function pipelineLines(inv: Inventory): CheckLine[] {
  return [...inv.pipelineProblems].map(([stage, problem]) => ({
    verdict: "not checked",
    check: `pipeline (stage ${cell(stage)})`,
    text: `${failureMessage(problem)}: the pipeline role's calls are not simulated`,
    unableToCheck: true,
  }));
}

/**
 * A slack stage's secret and request table, as its start function names them (the IAM rows use the
 * same): the secret exists, is not scheduled for deletion and has a current value; the table exists
 * with TTL on expiresAt. The secret's value is never read: DescribeSecret returns its metadata only.
 */
async function slackLines(o: DoctorOptions, inv: Inventory): Promise<CheckLine[]> {
  const stack = o.target.stack ? ` --stack ${cell(o.target.stack)}` : "";
  const refresh = `pulumi up --refresh${stack}`;
  const lines: CheckLine[] = [];
  for (const stage of inv.stages.filter((s) => s.mechanism === "slack")) {
    const secretCheck = `Slack secret (stage ${cell(stage.name)})`;
    const tableCheck = `Slack request table (stage ${cell(stage.name)})`;
    const named = slackResources(inv, stage);
    if (!named) {
      const why = inv.functionProblems.has(stage.startFunctionName)
        ? `the start function ${cell(stage.startFunctionName)} could not be read: ${failureMessage(inv.functionProblems.get(stage.startFunctionName))}`
        : "the stage output names no start function";
      for (const check of [secretCheck, tableCheck])
        lines.push({ verdict: "not checked", check, text: why, unableToCheck: true });
      continue;
    }
    o.progress(`Reading ${secretCheck}`);
    lines.push(await slackSecretLine(o, secretCheck, stage, named.secretArn, refresh));
    o.progress(`Reading ${tableCheck}`);
    lines.push(await slackTableLine(o, tableCheck, stage, named.table, refresh));
  }
  return lines;
}

async function slackSecretLine(
  o: DoctorOptions,
  check: string,
  stage: Record<string, any>,
  secretArn: string | undefined,
  refresh: string,
): Promise<CheckLine> {
  if (!secretArn)
    return {
      verdict: "FAIL",
      check,
      text: `the start function ${cell(stage.startFunctionName)} has no ${SLACK_ENV.secretId}: no request can be posted`,
      fix: refresh,
    };
  try {
    // DescribeSecretResponse: DeletedDate (scheduled for deletion: the value is not accessible),
    // VersionIdsToStages (AWSCURRENT labels the current value); no SecretString (SDK model,
    // @aws-sdk/client-secrets-manager models_0.d.ts). Missing: ResourceNotFoundException.
    const secret = await aws("Secrets Manager", () =>
      o.clients.secretsManager.send(new (secretsManagerSdk().DescribeSecretCommand)({ SecretId: secretArn })),
    );
    const name = cell(secret.Name ?? nameOf(secretArn));
    if (secret.DeletedDate)
      return {
        verdict: "FAIL",
        check,
        text: `${name} is scheduled for deletion on ${secret.DeletedDate.toISOString().slice(0, 10)}: the stage's functions cannot read the Slack app's token and signing secret, every request fails`,
        fix: `aws secretsmanager restore-secret --secret-id ${cell(secretArn)} --region ${o.target.region}`,
      };
    const current = Object.values(secret.VersionIdsToStages ?? {}).some((stages) => stages.includes("AWSCURRENT"));
    if (!current)
      return {
        verdict: "FAIL",
        check,
        text: `${name} has no current value (no version labelled AWSCURRENT): every request fails`,
        fix: `${refresh} writes the value from the stack's config (sfn-approvals:slackBotToken, sfn-approvals:slackSigningSecret)`,
      };
    const changed = secret.LastChangedDate ? `, last changed ${secret.LastChangedDate.toISOString().slice(0, 10)}` : "";
    return {
      verdict: "ok",
      check,
      text: `${name} exists with a current value${changed} (its value is not read)`,
    };
  } catch (error) {
    if (isCredentialFailure(error)) throw error;
    if ((error as AwsCallError).name === "ResourceNotFoundException")
      return {
        verdict: "FAIL",
        check,
        text: `${cell(secretArn)} does not exist: the stage's functions cannot read the Slack app's token and signing secret, every request fails`,
        fix: `${refresh} creates it with the value from the stack's config`,
      };
    return { verdict: "not checked", check, text: failureMessage(error), unableToCheck: true };
  }
}

/** The attribute the request store writes for DynamoDB's TTL (functions/mechanisms/slack/requestStore.ts). */
const SLACK_TTL_ATTRIBUTE = "expiresAt";

async function slackTableLine(
  o: DoctorOptions,
  check: string,
  stage: Record<string, any>,
  table: string | undefined,
  refresh: string,
): Promise<CheckLine> {
  if (!table)
    return {
      verdict: "FAIL",
      check,
      text: `the start function ${cell(stage.startFunctionName)} has no ${SLACK_ENV.table}: no request can be posted`,
      fix: refresh,
    };
  try {
    // DescribeTimeToLiveOutput.TimeToLiveDescription: TimeToLiveStatus (ENABLING, ENABLED, DISABLING,
    // DISABLED), AttributeName; a missing table: ResourceNotFoundException (SDK model, @aws-sdk/client-dynamodb).
    const answer = await aws("DynamoDB", () =>
      o.clients.dynamoDb.send(new (dynamoDbSdk().DescribeTimeToLiveCommand)({ TableName: table })),
    );
    const status = answer.TimeToLiveDescription?.TimeToLiveStatus ?? "DISABLED";
    const attribute = answer.TimeToLiveDescription?.AttributeName;
    if (attribute === SLACK_TTL_ATTRIBUTE && (status === "ENABLED" || status === "ENABLING"))
      return {
        verdict: "ok",
        check,
        text: `${cell(table)} exists, TTL on ${SLACK_TTL_ATTRIBUTE}${status === "ENABLING" ? " (being enabled)" : ""}`,
      };
    return {
      verdict: "FAIL",
      check,
      text: `${cell(table)}: TTL is ${cell(status)}${attribute ? ` on ${cell(attribute)}` : ""}, not on ${SLACK_TTL_ATTRIBUTE}: finished requests (their sealed task tokens and votes) are never deleted`,
      fix:
        status === "DISABLED"
          ? `aws dynamodb update-time-to-live --table-name ${cell(table)} --time-to-live-specification Enabled=true,AttributeName=${SLACK_TTL_ATTRIBUTE} --region ${o.target.region} (or ${refresh})`
          : refresh,
    };
  } catch (error) {
    if (isCredentialFailure(error)) throw error;
    if ((error as AwsCallError).name === "ResourceNotFoundException")
      return {
        verdict: "FAIL",
        check,
        text: `${cell(table)} does not exist: no request can be posted or decided`,
        fix: `${refresh} creates it (requests posted before it was lost cannot be decided from Slack)`,
      };
    return { verdict: "not checked", check, text: failureMessage(error), unableToCheck: true };
  }
}

async function deadLetterLines(o: DoctorOptions, inv: Inventory): Promise<CheckLine[]> {
  const lines: CheckLine[] = [];
  for (const stage of inv.stages.filter((s) => str(s.deadLetterQueueUrl))) {
    const url = stage.deadLetterQueueUrl as string;
    const check = `dead-letter queue (stage ${cell(stage.name)})`;
    o.progress(`Reading ${check}`);
    try {
      const answer = await aws("SQS", () =>
        o.clients.sqs.send(
          new (sqsSdk().GetQueueAttributesCommand)({
            QueueUrl: url,
            AttributeNames: ["QueueArn", "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
          }),
        ),
      );
      const a = answer.Attributes ?? {};
      if (a.QueueArn) inv.queueArns.set(url, a.QueueArn);
      const waiting = Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0);
      lines.push(
        waiting === 0
          ? { verdict: "ok", check, text: `${nameOf(url)} is empty` }
          : {
              verdict: "FAIL",
              check,
              text: `${nameOf(url)} holds about ${waiting} undelivered decision event(s): those approvers' decisions never reached the workflow`,
              fix: `read them (aws sqs receive-message --queue-url ${cell(url)} --max-number-of-messages 10 --visibility-timeout 0), find why in the result function's logs (${cell(stage.resultFunctionName ?? "")}), ask those approvers to decide again, then aws sqs purge-queue --queue-url ${cell(url)}`,
            },
      );
    } catch (error) {
      if (isCredentialFailure(error)) throw error;
      lines.push({
        verdict: "not checked",
        check,
        text: failureMessage(new AwsCallError("SQS", error)),
        unableToCheck: true,
      });
    }
  }
  return lines;
}

function runtimeLines(o: DoctorOptions, inv: Inventory): CheckLine[] {
  const check = "Lambda runtime";
  const lines: CheckLine[] = [];
  for (const [name, problem] of inv.functionProblems)
    lines.push({
      verdict: "not checked",
      check: `${check} (${cell(name)})`,
      text: failureMessage(problem),
      unableToCheck: true,
    });
  const functions = uniqueFunctions(inv);
  if (functions.length === 0) return lines;
  const deprecated: string[] = [];
  const soon: string[] = [];
  const unknown: string[] = [];
  const runtimes = new Set<string>();
  for (const fn of functions) {
    const runtime = fn.runtime ?? "(none: a container image)";
    runtimes.add(runtime);
    const status = runtimeStatus(runtime, o.now);
    if (status.status === "deprecated")
      deprecated.push(`${cell(fn.name)} on ${cell(runtime)} (deprecated ${status.since})`);
    else if (status.status === "unknown") unknown.push(`${cell(fn.name)} on ${cell(runtime)}`);
    else if (status.daysLeft <= DEPRECATION_WARNING_DAYS)
      soon.push(`${cell(runtime)} is deprecated on ${status.deprecates}`);
  }
  if (deprecated.length > 0)
    lines.push({
      verdict: "FAIL",
      check,
      text: `${deprecated.length} function(s) on a deprecated runtime: ${deprecated.join(", ")}`,
      fix: `set LAMBDA_RUNTIME in components/shared/approvalFunction.ts to a supported runtime (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html), then pulumi up${o.target.stack ? ` --stack ${cell(o.target.stack)}` : ""}`,
    });
  // Also beside a FAIL: a runtime the table lacks is not judged, and says so.
  if (unknown.length > 0)
    lines.push({
      verdict: "not checked",
      check,
      text: `not in the doctor's table of deprecation dates (scripts/lib/doctorRuntimes.ts): ${unknown.join(", ")}`,
    });
  if (deprecated.length === 0 && unknown.length === 0)
    lines.push({
      verdict: "ok",
      check,
      text: `${functions.length} function(s) on ${[...runtimes].map(cell).join(", ")}, not deprecated${soon.length > 0 ? ` (but ${[...new Set(soon)].join(", ")})` : ""}`,
    });
  return lines;
}

async function definitionLines(o: DoctorOptions, inv: Inventory): Promise<CheckLine[]> {
  const stack = o.target.stack ? ` --stack ${cell(o.target.stack)}` : "";
  if (!o.target.stack) return [{ verdict: "not checked", check: "definition", text: "needs --stack" }];
  const expected = str(o.outputs?.workflowDefinitionSha256);
  if (!expected)
    return [
      {
        verdict: "not checked",
        check: "definition",
        text: `the stack has no workflowDefinitionSha256 output (deployed by an older version: pulumi up${stack})`,
      },
    ];
  const lines: CheckLine[] = [];
  const deployed = sha256(inv.definition);
  lines.push(
    deployed === expected
      ? {
          verdict: "ok",
          check: "definition",
          text: `the state machine runs the definition the stack built (sha256 ${expected.slice(0, 12)}…)`,
        }
      : {
          verdict: "FAIL",
          check: "definition",
          text: `the state machine's definition (sha256 ${deployed.slice(0, 12)}…) is not the one the stack built (${cell(expected.slice(0, 12))}…): changed outside the stack, or the last pulumi up did not finish`,
          fix: `pulumi up --refresh${stack}`,
        },
  );
  const aliasArn = str(o.outputs?.aliasArn);
  if (!aliasArn) return lines;
  o.progress("Reading the alias");
  try {
    const alias = await aws("Step Functions", () =>
      o.clients.sfn.send(new (sfnSdk().DescribeStateMachineAliasCommand)({ stateMachineAliasArn: aliasArn })),
    );
    const routes = alias.routingConfiguration ?? [];
    const matching: Array<{ version: string; weight: number }> = [];
    for (const route of routes) {
      const version = await aws("Step Functions", () =>
        o.clients.sfn.send(
          new (sfnSdk().DescribeStateMachineCommand)({ stateMachineArn: route.stateMachineVersionArn }),
        ),
      );
      if (sha256(version.definition ?? "") === expected)
        matching.push({ version: nameOf(route.stateMachineVersionArn ?? ""), weight: route.weight ?? 0 });
    }
    const shown = routes.map((r) => `version ${nameOf(r.stateMachineVersionArn ?? "")} ${r.weight ?? 0}%`).join(", ");
    lines.push(
      matching.length === 0
        ? {
            verdict: "FAIL",
            check: "alias",
            text: `${nameOf(aliasArn)} routes to ${shown || "nothing"}, none of which runs the stack's definition (a rollout rolled back, or the alias was changed outside the stack)`,
            fix: `see why the rollout stopped (docs/rollout.md), then pulumi up --refresh${stack}`,
          }
        : {
            verdict: "ok",
            check: "alias",
            text: `${nameOf(aliasArn)} routes ${matching.reduce((n, m) => n + m.weight, 0)}% of new requests to the stack's definition (${shown})`,
          },
    );
  } catch (error) {
    if (isCredentialFailure(error)) throw error;
    lines.push({ verdict: "not checked", check: "alias", text: failureMessage(error), unableToCheck: true });
  }
  return lines;
}

async function recordLines(o: DoctorOptions, inv: Inventory): Promise<CheckLine[]> {
  const check = "decision record";
  const stack = o.target.stack ? ` --stack ${cell(o.target.stack)}` : "";
  if (!o.target.stack) return [{ verdict: "not checked", check, text: "needs --stack" }];
  const bucket = str(o.outputs?.auditBucketName);
  if (!bucket)
    return [
      {
        verdict: "not checked",
        check,
        text: "the stack keeps no decision record (no auditBucketName output: sfn-approvals:audit is off)",
      },
    ];
  o.progress("Reading the decision record's bucket");
  const problems: string[] = [];
  /** Commands to run before pulumi up, and what pulumi up then restores. */
  const commands: string[] = [];
  const restores: string[] = [];
  try {
    let config: ObjectLockConfiguration | undefined;
    try {
      const lock = await aws("S3", () =>
        o.clients.s3.send(new (s3Sdk().GetObjectLockConfigurationCommand)({ Bucket: bucket })),
      );
      config = lock.ObjectLockConfiguration;
    } catch (error) {
      // A bucket without Object Lock answers ObjectLockConfigurationNotFoundError (HTTP 404; not in the
      // SDK model: docs/unknowns.md); any other error is "not checked". The other reads still run.
      if ((error as AwsCallError).name !== "ObjectLockConfigurationNotFoundError") throw error;
    }
    const retention = config?.Rule?.DefaultRetention;
    const versioning = await aws("S3", () =>
      o.clients.s3.send(new (s3Sdk().GetBucketVersioningCommand)({ Bucket: bucket })),
    );
    if (versioning.Status !== "Enabled") {
      problems.push(`versioning is ${cell(versioning.Status ?? "off")}`);
      commands.push(
        `aws s3api put-bucket-versioning --bucket ${cell(bucket)} --versioning-configuration Status=Enabled`,
      );
    }
    if (config?.ObjectLockEnabled !== "Enabled") {
      problems.push("Object Lock is not enabled: records could be deleted");
      // S3 turns Object Lock on for an existing bucket whose versioning is on (SDK model,
      // PutObjectLockConfiguration: "You can enable Object Lock for new or existing buckets";
      // S3 User Guide, object-lock-configure.html#object-lock-configure-existing-bucket).
      commands.push(
        `aws s3api put-object-lock-configuration --bucket ${cell(bucket)} --object-lock-configuration ObjectLockEnabled=Enabled`,
      );
    } else if (!retention?.Mode || !(retention.Days || retention.Years))
      problems.push("Object Lock has no default retention");
    if (problems.length > 0) restores.push("the bucket's settings");
    // The workflow writes records/<day>/<execution>/<time>-<what>.json over TLS (functions/auditRecord.ts).
    const key = auditRecordKey({ recordedAt: o.now.toISOString(), executionName: EXECUTION_NAME, what: "outcome" });
    const [write] = await aws("IAM", () =>
      simulatePrincipal(
        o.clients.iam,
        inv.roleArn,
        [
          {
            principal: inv.roleArn,
            who: "state machine",
            action: "s3:PutObject",
            resources: [`arn:${inv.partition}:s3:::${bucket}/${key}`],
            context: { "aws:SecureTransport": "true", "aws:PrincipalArn": inv.roleArn },
          },
        ],
        () => undefined,
      ),
    );
    if (write.decision !== "allowed") {
      problems.push(
        `the state machine's role ${roleName(inv.roleArn)} may not s3:PutObject ${cell(key)} (${write.decision})`,
      );
      restores.push("the role's policy");
    }
    const lockText = retention
      ? `${cell(retention.Mode)} retention ${retention.Years ? `${retention.Years} years` : `${retention.Days} days`}`
      : "";
    return problems.length > 0
      ? [
          {
            verdict: "FAIL",
            check,
            text: `${cell(bucket)}: ${problems.join("; ")}`,
            fix:
              [...commands, `pulumi up --refresh${stack} restores ${restores.join(" and ")}`].join(", then ") +
              (write.decision !== "allowed"
                ? "; if the write is still refused, a permissions boundary or an SCP denies it"
                : ""),
          },
        ]
      : [
          {
            verdict: "ok",
            check,
            text: `${cell(bucket)}: Object Lock with ${lockText}, versioning on, the workflow may write records/…`,
          },
        ];
  } catch (error) {
    if (isCredentialFailure(error)) throw error;
    return [{ verdict: "not checked", check, text: failureMessage(error), unableToCheck: true }];
  }
}

/** Runs every check, in order; a failed AWS call makes its check "not checked", missing credentials stop everything. */
export async function runChecks(o: DoctorOptions): Promise<CheckLine[]> {
  const inv = await inventory(o);
  const lines: CheckLine[] = [];
  lines.push(...(await definitionLines(o, inv)));
  lines.push(...(await subscriptionLines(o, inv)));
  if (!o.target.stack)
    lines.push(
      { verdict: "not checked", check: "EventBridge rules", text: "needs --stack" },
      { verdict: "not checked", check: "dead-letter queues", text: "needs --stack" },
      { verdict: "not checked", check: "Slack secrets and request tables", text: "needs --stack" },
    );
  lines.push(...ruleLines(o, inv));
  lines.push(...pipelineLines(inv));
  lines.push(...(await slackLines(o, inv)));
  // Before the IAM check: it names each queue by the ARN read here.
  lines.push(...(await deadLetterLines(o, inv)));
  lines.push(...runtimeLines(o, inv));
  lines.push(...(await recordLines(o, inv)));
  o.progress("Simulating IAM calls");
  lines.push(...(await iamLines(o, inv)));
  return lines;
}
