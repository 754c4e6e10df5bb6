// One mechanism's part of the suite: its approver roles, its ephemeral stack, three requests
// (approve, reject, one left to time out) decided as the approver role, the open AWS questions
// those requests settle, and a clean-up that runs whatever happened (failure, timeout, Ctrl-C,
// SIGTERM): executions stopped, automations cancelled, the inbox deleted, the stack destroyed and
// removed, the roles deleted.
import { CodePipelineClient } from "@aws-sdk/client-codepipeline";
import { IAMClient } from "@aws-sdk/client-iam";
import {
  DescribeExecutionCommand,
  DescribeExecutionOutput,
  DescribeStateMachineCommand,
  GetExecutionHistoryCommand,
  HistoryEvent,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from "@aws-sdk/client-sfn";
import { SNSClient } from "@aws-sdk/client-sns";
import { SQSClient } from "@aws-sdk/client-sqs";
import { SSMClient } from "@aws-sdk/client-ssm";
import { STSClient } from "@aws-sdk/client-sts";
import type { OutputMap, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { randomBytes } from "crypto";
import { parseConfig } from "../../components/config";
import { ConfigError } from "../../components/shared/configError";
import { redactText } from "../../functions/shared/redact";
import {
  DecideContext,
  Decision,
  WorkerRunner,
  answerAsNonApprover,
  approveStep,
  decideCodePipeline,
  decideSsmAutomation,
  decideWithEmailCode,
  decideWithEmailToken,
  decideWithWorker,
  findAutomation,
  findPipelineApproval,
  inspectAnsweredAction,
  pollActivityAsNonApprover,
  startAutomationAgain,
  startPipelineAgain,
} from "./deciders";
import { stageDiagnostics } from "./diagnostics";
import { EmailInbox, isEscalationOf, isReminderOf } from "./lib/emailInbox";
import { callbackInvocationFromHistory, waitingTask } from "./lib/history";
import { readHistoryWithoutKey } from "./lib/keyCheck";
import { expectedOutcome, outcomeProblems } from "./lib/outcome";
import {
  AssumedRole,
  Runner,
  assumeRole,
  createSuiteRole,
  deleteSuiteRole,
  runnerTrustPolicy,
  suiteRoleNames,
  suiteRolePolicy,
} from "./lib/roles";
import { SignedAws } from "./lib/signedAws";
import {
  IT_STAGE,
  IT_TIMEOUTS,
  Mechanism,
  RunPlan,
  isEmailMechanism,
  itStackConfig,
  itTimeoutSeconds,
  rawConfigOf,
  runPlans,
  stackNameFor,
} from "./lib/stackConfig";
import { Timings } from "./lib/timings";
import {
  Settlement,
  judgeApproverDecisions,
  judgeHeartbeatClock,
  judgeLogDelivery,
  judgeRejectedStep,
  judgeResolvedConfiguration,
  judgeSubject,
  rawStep,
} from "./lib/unknowns";
import { GaveUp, Interrupted, Progress, poll, retryWhileDenied, seconds, sleep } from "./progress";
import { PulumiLog, StackOperationOptions, createStack, deploy, destroyAndRemove, manualCleanup } from "./stack";

const PULUMI_LOG_TAIL = 30;

export interface SuiteClients {
  sfn: SFNClient;
  sns: SNSClient;
  sqs: SQSClient;
  ssm: SSMClient;
  codepipeline: CodePipelineClient;
  iam: IAMClient;
  sts: STSClient;
  aws: SignedAws;
}

export interface Suite {
  progress: Progress;
  signal: AbortSignal;
  /**
   * Cancels a running `pulumi up` (the Automation API sends the CLI SIGINT, and Pulumi stops after
   * the operations in flight). Aborted on SIGTERM only: on Ctrl-C the terminal already sent SIGINT to
   * the CLI (same process group), and a second SIGINT makes Pulumi exit without recording what it created.
   */
  stopPulumi: AbortSignal;
  timings: Timings;
  region: string;
  partition: string;
  caller: { arn: string; account: string };
  /** Who runs the suite (the IAM mechanisms' roles trust it). */
  runner?: Runner;
  email: string;
  keep: boolean;
  verbose: boolean;
  request: Record<string, unknown>;
  pulumi: PulumiCommand;
  clients: SuiteClients;
  runWorker: WorkerRunner;
  /** What exists right now (stacks and roles), for the message of a second interrupt. */
  live: Set<string>;
  /** Makes the random part of stack names (tests make it predictable). */
  suffix?: () => string;
}

export interface RunResult {
  outcome: RunPlan["outcome"];
  execution: string;
  passed: boolean;
  reason?: string;
}

export interface MechanismResult {
  mechanism: Mechanism;
  stackName: string;
  passed: boolean;
  reason?: string;
  runs: RunResult[];
  settlements: Settlement[];
  /** The stack was created (false: the mechanism failed before deploying anything). */
  created: boolean;
  /** The stack or roles still exist (--keep, or clean-up failed). */
  leftBehind: string[];
  ms: number;
}

/** The first lines that say what went wrong, not the whole CLI transcript of an Automation API error. */
export function reasonOf(error: unknown): string {
  if (error instanceof ConfigError) return error.message.replace(/\n\s*/g, " ");
  const message = error instanceof Error ? error.message : String(error);
  const lines = message
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
  // An Automation API CommandError: "code: 255", "stdout: ...", "stderr: ...", "err?: Error: Command failed ...".
  const errors = lines.filter((line) => /^error:|error:\s/i.test(line) && !/^(code|err\?):/.test(line));
  return redactText(
    [...new Set(errors.length > 0 ? errors : lines.slice(0, 2))].slice(0, 3).join(" | ").slice(0, 1000),
  );
}

interface StageOutput {
  name: string;
  mechanism: string;
  [handle: string]: unknown;
}

/** The deployed stage's handle (documentName, pipelineName, activityArn, approvalPageUrl, ...). */
function handle(stage: StageOutput, name: string): string {
  const value = stage[name];
  if (typeof value !== "string" || value === "") throw new Error(`the stack output stages[0].${name} is missing`);
  return value;
}

function optionalHandle(stage: StageOutput, name: string): string | undefined {
  return typeof stage[name] === "string" && stage[name] !== "" ? (stage[name] as string) : undefined;
}

export function deployedStage(
  outputs: OutputMap,
  mechanism: Mechanism,
): { stateMachineArn: string; startArn: string; stage: StageOutput } {
  const stateMachineArn = outputs.stateMachineArn?.value as unknown;
  const aliasArn = outputs.aliasArn?.value as unknown;
  const stages = outputs.stages?.value as unknown;
  if (typeof stateMachineArn !== "string") throw new Error("the stack has no stateMachineArn output");
  // Requests start through the workflow's alias (docs/rollout.md), as start-approval does.
  if (typeof aliasArn !== "string" || !aliasArn.startsWith(`${stateMachineArn}:`))
    throw new Error(`the stack's aliasArn output is ${JSON.stringify(aliasArn)}, not an alias of ${stateMachineArn}`);
  if (!Array.isArray(stages) || stages.length !== 1)
    throw new Error(`the stack's stages output should list one stage, got ${JSON.stringify(stages)}`);
  const stage = stages[0] as StageOutput;
  if (stage.name !== IT_STAGE || stage.mechanism !== mechanism)
    throw new Error(`the stack's stage is ${stage.name} (${stage.mechanism}), expected ${IT_STAGE} (${mechanism})`);
  return { stateMachineArn, startArn: aliasArn, stage };
}

async function recentHistory(sfn: SFNClient, executionArn: string): Promise<HistoryEvent[]> {
  const { events = [] } = await sfn.send(
    new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 100, includeExecutionData: true }),
  );
  return events;
}

/** Everything one mechanism's runs share. */
interface MechanismEnv {
  suite: Suite;
  mechanism: Mechanism;
  stackName: string;
  stateMachineArn: string;
  /** The alias StartExecution takes. */
  startArn: string;
  stage: StageOutput;
  approver?: AssumedRole & { roleArn: string };
  other?: AssumedRole & { roleArn: string };
  inbox?: EmailInbox;
  executions: string[];
  cleanups: Array<() => Promise<void>>;
  settle(settlement: Settlement): void;
}

function clientsAs(region: string, role: AssumedRole) {
  const credentials = role.credentials;
  return {
    ssm: new SSMClient({ region, credentials }),
    codepipeline: new CodePipelineClient({ region, credentials }),
    sfn: new SFNClient({ region, credentials }),
  };
}

/** Waits until the execution's stage waits for a decision (watching the execution while it does). */
async function waitUntilWaiting(
  env: MechanismEnv,
  scope: string,
  executionArn: string,
): Promise<{ token?: string; events: HistoryEvent[] }> {
  const { suite, mechanism } = env;
  let newestEvent: string | undefined;
  let scheduledAt: number | undefined;
  let events: HistoryEvent[] = [];
  const state = await suite.progress.step(
    scope,
    `waiting until stage "${IT_STAGE}" waits for a decision`,
    () =>
      poll(
        `stage "${IT_STAGE}" to wait for a decision`,
        async () => {
          events = await recentHistory(suite.clients.sfn, executionArn);
          newestEvent = events[0]?.type;
          const found = waitingTask(events, mechanism === "activity");
          if (found.kind === "ended") throw new Error(found.reason);
          if (found.kind !== "waiting") return undefined;
          // Normally the Task's TaskSubmitted (its Lambda or SNS call returned) comes within seconds;
          // should a Task not record one, the token is usable anyway once it was scheduled.
          scheduledAt ??= Date.now();
          return found.submitted || Date.now() - scheduledAt >= suite.timings.submitGraceMs ? found : undefined;
        },
        {
          timeoutMs: suite.timings.waitForTaskMs,
          intervalMs: suite.timings.pollMs,
          signal: suite.signal,
          lastSeen: () => newestEvent && `newest history event ${newestEvent}`,
        },
      ),
    (s) =>
      s.token
        ? `task token found in the history (${s.token.length} characters), read with the key as the deployer`
        : "activity task scheduled",
  );
  return { token: state.token, events };
}

async function waitForEnd(
  env: MechanismEnv,
  scope: string,
  executionArn: string,
  timeoutMs: number,
): Promise<DescribeExecutionOutput> {
  const { suite } = env;
  return suite.progress.step(
    scope,
    "waiting for the execution to finish",
    () =>
      poll(
        "the execution to finish",
        async () => {
          const execution = await suite.clients.sfn.send(new DescribeExecutionCommand({ executionArn }));
          return execution.status === "RUNNING" ? undefined : execution;
        },
        { timeoutMs, intervalMs: suite.timings.pollMs, signal: suite.signal },
      ),
    (execution) => `${execution.status}`,
  );
}

/** Row 1: an activity request waits past HeartbeatSeconds with no worker; it must still be waiting, never released. */
async function checkHeartbeatClock(
  env: MechanismEnv,
  scope: string,
  executionArn: string,
  events: HistoryEvent[],
): Promise<void> {
  const { suite } = env;
  const scheduled = events.find((event) => event.type === "ActivityScheduled");
  const heartbeatSeconds = scheduled?.activityScheduledEventDetails?.heartbeatInSeconds ?? 0;
  const waitMs = heartbeatSeconds * suite.timings.awsSecondMs + suite.timings.heartbeatMarginMs;
  const t0 = Date.now();
  await suite.progress.step(
    scope,
    `no worker for ${seconds(waitMs)} (HeartbeatSeconds ${heartbeatSeconds} and a margin; docs/unknowns.md row 1)`,
    () => sleep(waitMs, suite.signal),
  );
  env.settle(
    judgeHeartbeatClock(await recentHistory(suite.clients.sfn, executionArn), heartbeatSeconds, Date.now() - t0),
  );
}

/** One request: started, decided (or left to time out) as the approver role, its output checked. */
async function runOne(env: MechanismEnv, plan: RunPlan): Promise<RunResult> {
  const { suite, mechanism, stage } = env;
  const scope = `${mechanism}/${plan.suffix}`;
  const name = `${env.stackName}-${plan.suffix}`;
  const request = plan.title ? { ...suite.request, title: plan.title } : suite.request;
  let executionArn: string | undefined;
  try {
    executionArn = await suite.progress.step(
      scope,
      `StartExecution ${name}${plan.title ? " (title: 120 emoji)" : ""}`,
      async () => {
        const { executionArn: arn } = await suite.clients.sfn.send(
          new StartExecutionCommand({ stateMachineArn: env.startArn, name, input: JSON.stringify(request) }),
        );
        if (!arn) throw new Error("StartExecution returned no executionArn");
        return arn;
      },
    );
    env.executions.push(executionArn);
    const arn = executionArn;
    let waiting: { token?: string; events: HistoryEvent[] };
    try {
      waiting = await waitUntilWaiting(env, scope, arn);
    } catch (error) {
      if (plan.title && !(error instanceof Interrupted)) env.settle(judgeSubject(false, reasonOf(error)));
      throw error;
    }
    const decision: Decision | undefined = plan.outcome === "timed_out" ? undefined : plan.outcome;
    const ctx: DecideContext = {
      scope,
      progress: suite.progress,
      signal: suite.signal,
      timings: suite.timings,
      region: suite.region,
      sfn: suite.clients.sfn,
      executionArn: arn,
      stage: IT_STAGE,
      decision: decision ?? "approved",
      onCleanup: (action) => env.cleanups.push(action),
      settle: env.settle,
    };
    const approver = env.approver;
    const as = approver ? clientsAs(suite.region, approver) : undefined;
    const other = env.other ? clientsAs(suite.region, env.other) : undefined;
    let automationId: string | undefined;
    let pipelineExecutionId: string | undefined;

    if (isEmailMechanism(mechanism) && plan.outcome === "approved") {
      // Read access is not approval power: a reader the key policy does not name sees no token.
      const keyless = await suite.progress.step(
        scope,
        "GetExecutionHistory as a principal the key policy does not name",
        () => readHistoryWithoutKey({ region: suite.region, callerArn: suite.caller.arn, executionArn: arn }),
        (result) => result.answer,
      );
      env.settle({ row: 14, check: "history-without-key", ok: !keyless.tokenVisible, answer: keyless.answer });
      if (keyless.tokenVisible)
        throw new Error("a principal the key policy does not name read the task token from the execution history");
    }

    if (decision) {
      switch (mechanism) {
        case "ssm-automation": {
          const documentName = handle(stage, "documentName");
          const invocation = callbackInvocationFromHistory(waiting.events);
          // Row 20, on the approve run: the start function again, with the same and with another request.
          const again =
            decision === "approved"
              ? async (first: string) => {
                  if (!invocation || !waiting.token)
                    throw new Error("the start function's invocation was not found in the execution history");
                  await startAutomationAgain(ctx, {
                    aws: suite.clients.aws,
                    ssm: suite.clients.ssm,
                    documentName,
                    functionName: invocation.functionName,
                    payload: invocation.payload,
                    first,
                    taskToken: waiting.token,
                  });
                }
              : undefined;
          automationId = await decideSsmAutomation(
            ctx,
            { runner: suite.clients.ssm, approver: as!.ssm, other: decision === "approved" ? other?.ssm : undefined },
            documentName,
            again,
          );
          break;
        }
        case "codepipeline": {
          if (!waiting.token)
            throw new Error("the codepipeline stage's task token was not found in the execution history");
          const pipelineName = handle(stage, "pipelineName");
          const wait = await findPipelineApproval(ctx, suite.clients.codepipeline, pipelineName, waiting.token);
          pipelineExecutionId = wait.pipelineExecutionId;
          if (decision === "approved") {
            env.settle(judgeResolvedConfiguration(wait.action));
            const invocation = callbackInvocationFromHistory(waiting.events);
            if (!invocation) throw new Error("the start function's invocation was not found in the execution history");
            await startPipelineAgain(ctx, {
              aws: suite.clients.aws,
              codepipeline: suite.clients.codepipeline,
              pipelineName,
              functionName: invocation.functionName,
              payload: invocation.payload,
              first: wait.pipelineExecutionId,
              taskToken: waiting.token,
            });
            if (other) await answerAsNonApprover(ctx, other.codepipeline, pipelineName, wait.approvalToken);
          }
          await decideCodePipeline(
            ctx,
            { runner: suite.clients.codepipeline, approver: as!.codepipeline },
            pipelineName,
            wait,
          );
          break;
        }
        case "activity":
          if (decision === "approved") await checkHeartbeatClock(env, scope, arn, waiting.events);
          await decideWithWorker(ctx, {
            activityArn: handle(stage, "activityArn"),
            approver: approver!,
            runWorker: suite.runWorker,
          });
          break;
        case "email-link":
          await decideWithEmailCode(ctx, handle(stage, "approvalPageUrl"), env.inbox!);
          break;
        case "sns-callback":
          await decideWithEmailToken(ctx, handle(stage, "approvalPageUrl"), env.inbox!, waiting.token);
          break;
      }
      if (plan.title) env.settle(judgeSubject(true, `${mechanism}'s email arrived`));
    } else {
      if (mechanism === "ssm-automation")
        automationId = await findAutomation(ctx, suite.clients.ssm, handle(stage, "documentName"), true);
      suite.progress.line(scope, `nobody decides: the stage times out after ${IT_TIMEOUTS[mechanism]}`);
    }

    const budget =
      plan.outcome === "timed_out"
        ? itTimeoutSeconds(mechanism) * suite.timings.awsSecondMs + suite.timings.endGraceMs
        : suite.timings.endGraceMs;
    const final = await waitForEnd(env, scope, arn, budget);
    const expected = expectedOutcome({
      mechanism,
      outcome: plan.outcome,
      stage: IT_STAGE,
      request,
      roleArn: approver?.roleArn,
      sessionArn: approver?.sessionArn,
    });
    const problems = outcomeProblems(final, expected);
    const decided = (JSON.parse(final.output ?? "{}") as { stages?: Array<Record<string, unknown>> }).stages?.[0];
    suite.progress.line(
      scope,
      `output: ${final.status}, decision ${JSON.stringify(decided?.decision)}, approver ${JSON.stringify(decided?.approver)}, comment ${JSON.stringify(decided?.comment)}, decided at ${String(decided?.decidedAt)}`,
    );

    // What each real answer settles (docs/unknowns.md).
    if (automationId) {
      const { step } = await approveStep(suite.clients.ssm, automationId);
      suite.progress.line(
        scope,
        `aws:approve step of automation ${automationId}, as GetAutomationExecution returns it: ${rawStep(step)}`,
      );
      if (plan.outcome === "rejected") env.settle(judgeRejectedStep(step, automationId));
      if (decision) env.settle(judgeApproverDecisions(step, decision === "approved" ? "Approve" : "Reject"));
    }
    if (pipelineExecutionId && approver)
      await inspectAnsweredAction(
        ctx,
        suite.clients.codepipeline,
        handle(stage, "pipelineName"),
        pipelineExecutionId,
        approver.roleArn,
      );
    if (mechanism === "email-link" && plan.outcome === "timed_out") {
      const execution = name;
      const options = {
        timeoutMs: suite.timings.endGraceMs,
        waitSeconds: suite.timings.inboxWaitSeconds,
        intervalMs: suite.timings.pollMs,
        signal: suite.signal,
      };
      const reminder = await env.inbox!.waitFor((m) => (isReminderOf(m, execution) ? m : undefined), options);
      const escalation = await env.inbox!.waitFor((m) => (isEscalationOf(m, execution) ? m : undefined), options);
      env.settle({
        check: "email-reminder-and-escalation",
        ok: Boolean(reminder && escalation),
        answer: `while ${execution} waited: ${reminder ? "a reminder arrived" : "NO reminder arrived"}, ${escalation ? "the escalation arrived" : "NO escalation arrived"}`,
      });
      if (!reminder || !escalation)
        problems.push("the reminder or the escalation of the timed-out request did not arrive");
    }
    if (problems.length > 0) throw new Error(`wrong outcome: ${problems.join("; ")}`);
    return { outcome: plan.outcome, execution: name, passed: true };
  } catch (error) {
    // After Ctrl-C, whatever failed next (the worker the terminal's SIGINT stopped) is the interruption.
    const reason = error instanceof Interrupted || suite.signal.aborted ? "interrupted" : reasonOf(error);
    suite.progress.line(scope, `FAILED: ${reason}`);
    return {
      outcome: plan.outcome,
      execution: name,
      passed: false,
      reason: error instanceof GaveUp ? `GAVE UP: ${reason}` : reason,
    };
  }
}

/** Stops an execution that still runs (nothing may keep waiting once its stack goes). */
async function stopIfRunning(suite: Suite, scope: string, executionArn: string): Promise<void> {
  try {
    const { status } = await suite.clients.sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (status === "RUNNING") {
      await suite.clients.sfn.send(
        new StopExecutionCommand({
          executionArn,
          error: "IntegrationSuiteCleanup",
          cause: "stopped by the sfn-approvals integration suite",
        }),
      );
      suite.progress.line(scope, `stopped execution ${executionArn.split(":").pop()}`);
    }
  } catch (error) {
    suite.progress.line(scope, `warning: could not stop execution ${executionArn}: ${reasonOf(error)}`);
  }
}

export async function runMechanism(mechanism: Mechanism, suite: Suite): Promise<MechanismResult> {
  const { progress, clients } = suite;
  const scope = mechanism;
  const started = Date.now();
  const since = new Date(started);
  const stackName = stackNameFor(mechanism, suite.suffix?.() ?? randomBytes(3).toString("hex"));
  const roleNames = isEmailMechanism(mechanism) ? undefined : suiteRoleNames(stackName);
  const createdRoles: string[] = [];
  const settlements: Settlement[] = [];
  const runs: RunResult[] = [];
  const leftBehind: string[] = [];
  let stack: Stack | undefined;
  let log: PulumiLog | undefined;
  let reason: string | undefined;
  let showPulumiLog = false;
  let gaveUp = false;
  let env: MechanismEnv | undefined;
  const stackOptions = (what: "up" | "destroy", signal: AbortSignal): StackOperationOptions => ({
    log: log!,
    signal,
    timeoutMs: what === "up" ? suite.timings.upTimeoutMs : suite.timings.destroyTimeoutMs,
    progress: (text) => progress.line(scope, text),
    everyMs: suite.timings.progressEveryMs,
  });
  const settle = (settlement: Settlement) => {
    settlements.push(settlement);
    progress.line(
      scope,
      `${settlement.row ? `unknowns #${settlement.row} ` : ""}[${settlement.check}] ${settlement.ok ? "" : "WRONG: "}${settlement.answer}`,
    );
  };

  try {
    // The approver (and a principal that is not one) exist before the stack names them.
    let approverArn: string | undefined;
    let otherArn: string | undefined;
    if (roleNames) {
      const trustPolicy = runnerTrustPolicy(suite.runner!);
      const inlinePolicy = suiteRolePolicy(mechanism, {
        partition: suite.partition,
        region: suite.region,
        account: suite.caller.account,
      });
      for (const [kind, name] of [
        ["approver", roleNames.approver],
        ["other", roleNames.other],
      ] as const) {
        const arn = await progress.step(
          scope,
          `IAM CreateRole ${name} (${kind === "approver" ? "the stage's approver" : "not an approver"}; only ${suite.caller.arn} may assume it)`,
          () =>
            createSuiteRole(clients.iam, {
              name,
              stackName,
              trustPolicy,
              inlinePolicy,
              description: `sfn-approvals integration suite, stack ${stackName}: ${kind === "approver" ? "the stage's approver" : "a principal that is not an approver"}`,
            }),
        );
        createdRoles.push(name);
        suite.live.add(`role ${name}`);
        if (kind === "approver") approverArn = arn;
        else otherArn = arn;
      }
    }
    const approverConfig = isEmailMechanism(mechanism) ? suite.email : approverArn!;
    const config = itStackConfig({ mechanism, region: suite.region, approver: approverConfig });
    parseConfig(rawConfigOf(config));
    progress.line(
      scope,
      `stack ${stackName}: stage "${IT_STAGE}" (${mechanism}), approver ${approverConfig}, timeout ${IT_TIMEOUTS[mechanism]}, Region ${suite.region}`,
    );
    log = new PulumiLog(stackName, suite.verbose, progress.write);
    progress.line(scope, `Pulumi output goes to ${log.path}`);

    stack = await progress.step(scope, `creating stack ${stackName}`, () =>
      createStack(stackName, config, suite.pulumi),
    );
    suite.live.add(`stack ${stackName}`);
    showPulumiLog = true;
    const outputs = await progress.step(scope, "pulumi up", () => deploy(stack!, stackOptions("up", suite.stopPulumi)));
    if (suite.signal.aborted) throw new Interrupted();
    showPulumiLog = false;
    const { stateMachineArn, startArn, stage } = deployedStage(outputs, mechanism);

    // Row 17: the state machine is encrypted with the stack's own key.
    const described = await progress.step(
      scope,
      "DescribeStateMachine: encrypted with the stack's key",
      async () => {
        const answer = await clients.sfn.send(
          new DescribeStateMachineCommand({ stateMachineArn, includedData: "METADATA_ONLY" }),
        );
        const encryption = answer.encryptionConfiguration;
        if (
          encryption?.type !== "CUSTOMER_MANAGED_KMS_KEY" ||
          encryption.kmsKeyId !== outputs.executionDataKeyArn?.value
        ) {
          throw new Error(
            `the state machine's encryptionConfiguration is ${JSON.stringify(encryption)}, expected CUSTOMER_MANAGED_KMS_KEY with ${String(outputs.executionDataKeyArn?.value)}`,
          );
        }
        return answer;
      },
      (answer) =>
        `${answer.encryptionConfiguration?.type}, data keys reused ${answer.encryptionConfiguration?.kmsDataKeyReusePeriodSeconds}s`,
    );

    env = { suite, mechanism, stackName, stateMachineArn, startArn, stage, executions: [], cleanups: [], settle };
    if (roleNames) {
      // A role seconds old may not be assumable yet: retried while its trust propagates.
      const assume = async (name: string, arn: string) => ({
        ...(await progress.step(
          scope,
          `STS AssumeRole ${name}`,
          () =>
            retryWhileDenied(() => assumeRole(clients.sts, arn, `sfn-approvals-${stackName}`.slice(0, 64)), {
              windowMs: suite.timings.propagationMs,
              intervalMs: suite.timings.propagationPollMs,
              signal: suite.signal,
              onRetry: () =>
                progress.line(
                  scope,
                  `AssumeRole ${name}: AccessDenied while the new role's trust propagates; trying again`,
                ),
            }),
          (role) => `session ${role.sessionArn}`,
        )),
        roleArn: arn,
      });
      env.approver = await assume(roleNames.approver, approverArn!);
      env.other = await assume(roleNames.other, otherArn!);
    }

    if (isEmailMechanism(mechanism)) {
      // The emails as sent: the stage topic (requests, reminders) and, for email-link's timeout run, the escalation topic.
      const topicArns = [
        handle(stage, "topicArn"),
        ...(mechanism === "email-link" ? [handle(stage, "escalationTopicArn")] : []),
      ];
      const inbox = await progress.step(
        scope,
        `subscribing an SQS queue to ${topicArns.map((arn) => arn.split(":").pop()).join(" and ")}`,
        () =>
          EmailInbox.open({
            sqs: clients.sqs,
            sns: clients.sns,
            region: suite.region,
            partition: suite.partition,
            account: suite.caller.account,
            topicArns,
            queueName: `${stackName}-inbox`,
          }),
        (value) => value.queueUrl,
      );
      env.inbox = inbox;
      env.cleanups.push(() => inbox.close());
    }

    if (mechanism === "activity" && env.other) {
      const ctx = {
        scope,
        progress,
        signal: suite.signal,
        timings: suite.timings,
        region: suite.region,
        sfn: clients.sfn,
        stage: IT_STAGE,
        onCleanup: () => undefined,
        settle,
      };
      await pollActivityAsNonApprover(ctx, clientsAs(suite.region, env.other).sfn, handle(stage, "activityArn"));
    }

    const plans = runPlans(mechanism);
    const mine = env;
    // An activity's worker takes whichever request waits: its requests run one after the other.
    if (mechanism === "activity") {
      for (const plan of plans) {
        if (suite.signal.aborted) throw new Interrupted();
        runs.push(await runOne(mine, plan));
      }
    } else {
      runs.push(...(await Promise.all(plans.map((plan) => runOne(mine, plan)))));
    }
    if (suite.signal.aborted) throw new Interrupted();

    // Row 18: the state machine's log group holds events of these executions.
    const logGroupArn = described.loggingConfiguration?.destinations?.[0]?.cloudWatchLogsLogGroup?.logGroupArn;
    const logGroup = logGroupArn?.split(":log-group:")[1]?.replace(/:\*$/, "");
    const events = logGroup
      ? await progress.step(scope, `FilterLogEvents ${logGroup}`, () =>
          poll(
            "log events of the executions",
            async () => {
              const found = await clients.aws.filterLogEvents({
                logGroupName: logGroup,
                startTime: since.getTime(),
                limit: 10,
              });
              return found.length > 0 ? found.length : undefined;
            },
            { timeoutMs: suite.timings.endGraceMs, intervalMs: suite.timings.pollMs, signal: suite.signal },
          ).catch((error) => {
            if (error instanceof GaveUp) return 0;
            throw error;
          }),
        )
      : 0;
    settle(judgeLogDelivery(logGroup, events));

    gaveUp = runs.some((run) => run.reason?.startsWith("GAVE UP"));
    const failedRuns = runs.filter((run) => !run.passed);
    const wrong = settlements.filter((s) => !s.ok);
    if (failedRuns.length > 0 || wrong.length > 0) {
      reason = [
        ...failedRuns.map((run) => `${run.outcome} run: ${run.reason}`),
        ...wrong.map((s) => `${s.row ? `unknowns #${s.row} ` : ""}[${s.check}]: ${s.answer}`),
      ].join("; ");
    }
  } catch (error) {
    gaveUp ||= error instanceof GaveUp;
    // An update Ctrl-C cancelled (the terminal's SIGINT reached Pulumi) is an interruption too.
    reason = error instanceof Interrupted || suite.signal.aborted ? "interrupted" : reasonOf(error);
    progress.line(scope, `FAILED: ${reason}`);
    if (showPulumiLog && log && !suite.verbose) {
      progress.write(
        `    last lines of ${log.path}:\n${log
          .tail(PULUMI_LOG_TAIL)
          .map((line) => `    pulumi | ${line}`)
          .join("\n")}\n`,
      );
    }
  } finally {
    if (gaveUp && env) {
      // A wait ran out of time: where a decision may have got stuck.
      const lines = await stageDiagnostics({
        outputs: {
          deadLetterQueueUrl: optionalHandle(env.stage, "deadLetterQueueUrl"),
          startFunctionName: optionalHandle(env.stage, "startFunctionName"),
          resultFunctionName: optionalHandle(env.stage, "resultFunctionName"),
        },
        sqs: clients.sqs,
        aws: clients.aws,
        since,
      });
      for (const line of lines) progress.line(scope, `diagnostics: ${line}`);
    }
    // Nothing may keep waiting once the stack goes: an execution still at its stage, an automation
    // at aws:approve. With --keep everything stays as it is, for debugging.
    if (suite.keep) {
      if (env?.executions.length)
        progress.line(
          scope,
          `--keep: executions are left as they are (a waiting stage times out after ${IT_TIMEOUTS[mechanism]})`,
        );
    } else {
      for (const executionArn of env?.executions ?? []) await stopIfRunning(suite, scope, executionArn);
      for (const cleanup of env?.cleanups ?? []) {
        try {
          await cleanup();
        } catch (error) {
          progress.line(scope, `warning: clean-up step failed: ${reasonOf(error)}`);
        }
      }
    }
    let stackGone = stack === undefined;
    if (stack && log) {
      if (suite.keep) {
        leftBehind.push(`stack ${stackName}`);
        progress.line(
          scope,
          `--keep: stack ${stackName} stays deployed; remove it later with: ${manualCleanup(stackName)}`,
        );
      } else {
        // A fresh signal: the clean-up of an interrupted run must not be interrupted by the same signal.
        const cleanupSignal = new AbortController().signal;
        try {
          await progress.step(scope, `pulumi destroy and stack rm ${stackName}`, () =>
            destroyAndRemove(stack!, stackOptions("destroy", cleanupSignal)),
          );
          suite.live.delete(`stack ${stackName}`);
          stackGone = true;
        } catch (error) {
          leftBehind.push(`stack ${stackName}`);
          const why = reasonOf(error);
          reason = reason
            ? `${reason}; and destroying the stack failed: ${why}`
            : `destroying the stack failed: ${why}`;
          progress.line(scope, `stack ${stackName} is left behind: remove it with: ${manualCleanup(stackName)}`);
          if (!suite.verbose)
            progress.write(
              `${log
                .tail(PULUMI_LOG_TAIL)
                .map((line) => `    pulumi | ${line}`)
                .join("\n")}\n`,
            );
        }
      }
    }
    for (const name of createdRoles) {
      // The stack's attachments go with the stack: a role is deleted only once the stack is gone.
      if (suite.keep || !stackGone) {
        leftBehind.push(`role ${name}`);
        continue;
      }
      try {
        await deleteSuiteRole(clients.iam, name);
        suite.live.delete(`role ${name}`);
        progress.line(scope, `deleted role ${name}`);
      } catch (error) {
        leftBehind.push(`role ${name}`);
        progress.line(
          scope,
          `warning: could not delete role ${name}: ${reasonOf(error)} (npm run test:integration -- --cleanup-stale removes it)`,
        );
      }
    }
    log?.close();
  }
  return {
    mechanism,
    stackName,
    passed: reason === undefined,
    reason,
    runs,
    settlements,
    created: stack !== undefined,
    leftBehind,
    ms: Date.now() - started,
  };
}
