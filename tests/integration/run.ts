// npm run test:integration -- [--mechanism NAME]... [--keep] [--verbose]
//
// The integration suite: for each approval mechanism, an ephemeral stack (it-<mechanism>-<random>)
// with one stage `it`, deployed with the Pulumi Automation API; an approval started with
// examples/expense-report.json; the approval decided through the mechanism's real API; the
// execution's output checked; the stack destroyed and removed. Every stack encrypts its execution
// data with its own KMS key: the suite checks that the state machine uses it, reads the history as
// the deployer (a principal the key policy names), decides email-link from the email itself (its
// link's one-time code), and, run as an IAM user, reads an email stage's history as a principal the
// key policy does not name. Without the Pulumi CLI, a backend,
// AWS credentials or a Region it deploys nothing, says what is missing and exits 0.
// Not part of `npm test` (no *.test.ts here): it needs an AWS account and takes minutes per mechanism.

import { DescribeExecutionCommand, DescribeExecutionOutput, DescribeStateMachineCommand, GetExecutionHistoryCommand, HistoryEvent, SFNClient, StartExecutionCommand, StopExecutionCommand } from "@aws-sdk/client-sfn";
import { SNSClient } from "@aws-sdk/client-sns";
import type { OutputMap, Stack } from "@pulumi/pulumi/automation";
import { randomBytes } from "crypto";
import { readFileSync } from "fs";
import { join } from "path";
import { ConfigError, parseConfig } from "../../components/config";
import { approveCodePipeline, approveOnPage, approveSsmAutomation, approveWithEmailCode, approveWithWorker, DecideContext } from "./deciders";
import { EmailInbox } from "./lib/emailInbox";
import { readHistoryWithoutKey } from "./lib/keyCheck";
import { SuiteUsageError, USAGE, parseSuiteArgs } from "./lib/args";
import { waitingTask } from "./lib/history";
import { approverArnFromCaller } from "./lib/identity";
import { approvalProblems, expectedApproval } from "./lib/outcome";
import { formatPrerequisiteLine, prerequisiteLines } from "./lib/prerequisites";
import { DEFAULT_IT_EMAIL, IT_STAGE, IT_STAGE_TIMEOUT, Mechanism, isEmailMechanism, itStackConfig, rawConfigOf, stackNameFor } from "./lib/stackConfig";
import { gatherPrerequisites, regionFromEnv } from "./preflight";
import { Interrupted, Progress, poll, seconds } from "./progress";
import { PulumiLog, REPO_ROOT, createStack, deploy, destroyAndRemove, manualCleanup } from "./stack";

const REQUEST_FILE = join(REPO_ROOT, "examples", "expense-report.json");
/** Until the stage's Task waits (Lambda cold start, SSM or CodePipeline starting). */
const WAIT_FOR_TASK_MS = 5 * 60 * 1000;
/** From the decision to the end of the execution (EventBridge and the result function, for SSM and CodePipeline). */
const WAIT_FOR_END_MS = 5 * 60 * 1000;
const POLL_MS = 5000;
/** How long a scheduled Task may go without TaskSubmitted before the suite decides it anyway. */
const SUBMIT_GRACE_MS = 60 * 1000;
const PULUMI_LOG_TAIL = 30;

interface Suite {
  progress: Progress;
  signal: AbortSignal;
  region: string;
  caller: { arn: string; account: string };
  email: string;
  keep: boolean;
  verbose: boolean;
  request: unknown;
  sfn: SFNClient;
  /** Stacks that exist right now (for the message of a second Ctrl-C). */
  live: Set<string>;
}

interface MechanismResult {
  mechanism: Mechanism;
  stackName: string;
  passed: boolean;
  reason?: string;
  /** The stack was created (false: the mechanism failed before deploying anything). */
  created: boolean;
  /** The stack still exists (--keep, or its destroy failed). */
  leftBehind: boolean;
  ms: number;
}

/** The first lines that say what went wrong, not the whole CLI transcript of an Automation API error. */
function reasonOf(error: unknown): string {
  if (error instanceof ConfigError) return error.message.replace(/\n\s*/g, " ");
  const message = error instanceof Error ? error.message : String(error);
  const lines = message.split("\n").map((line) => line.trim()).filter(Boolean);
  // An Automation API CommandError: "code: 255", "stdout: ...", "stderr: ...", "err?: Error: Command failed ...".
  const errors = lines.filter((line) => /^error:|error:\s/i.test(line) && !/^(code|err\?):/.test(line));
  return [...new Set(errors.length > 0 ? errors : lines.slice(0, 2))].slice(0, 3).join(" | ").slice(0, 1000);
}

interface StageOutput {
  name: string;
  mechanism: string;
  [handle: string]: unknown;
}

/** The deployed stage's handle (documentName, pipelineName, activityArn, approvalPageUrl). */
function handle(stage: StageOutput, name: string): string {
  const value = stage[name];
  if (typeof value !== "string" || value === "") throw new Error(`the stack output stages[0].${name} is missing`);
  return value;
}

function deployedStage(outputs: OutputMap, mechanism: Mechanism): { stateMachineArn: string; stage: StageOutput } {
  const stateMachineArn = outputs.stateMachineArn?.value as unknown;
  const stages = outputs.stages?.value as unknown;
  if (typeof stateMachineArn !== "string") throw new Error("the stack has no stateMachineArn output");
  if (!Array.isArray(stages) || stages.length !== 1) throw new Error(`the stack's stages output should list one stage, got ${JSON.stringify(stages)}`);
  const stage = stages[0] as StageOutput;
  if (stage.name !== IT_STAGE || stage.mechanism !== mechanism) throw new Error(`the stack's stage is ${stage.name} (${stage.mechanism}), expected ${IT_STAGE} (${mechanism})`);
  return { stateMachineArn, stage };
}

async function recentHistory(sfn: SFNClient, executionArn: string): Promise<HistoryEvent[]> {
  const { events = [] } = await sfn.send(new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 100, includeExecutionData: true }));
  return events;
}

async function runMechanism(mechanism: Mechanism, suite: Suite): Promise<MechanismResult> {
  const { progress, sfn } = suite;
  const scope = mechanism;
  const started = Date.now();
  const stackName = stackNameFor(mechanism, randomBytes(3).toString("hex"));
  let stack: Stack | undefined;
  let log: PulumiLog | undefined;
  let executionArn: string | undefined;
  let reason: string | undefined;
  let leftBehind = false;
  let showPulumiLog = false;
  const cleanups: Array<() => Promise<void>> = [];

  try {
    // Everything that can be wrong before deploying is checked before deploying.
    const approver = isEmailMechanism(mechanism) ? suite.email : approverArnFromCaller(suite.caller.arn);
    const config = itStackConfig({ mechanism, region: suite.region, approver });
    parseConfig(rawConfigOf(config));
    progress.line(scope, `stack ${stackName}: stage "${IT_STAGE}" (${mechanism}), approver ${approver}, timeout ${IT_STAGE_TIMEOUT}, Region ${suite.region}`);
    log = new PulumiLog(stackName, suite.verbose);
    progress.line(scope, `Pulumi output goes to ${log.path}`);

    stack = await progress.step(scope, `creating stack ${stackName}`, () => createStack(stackName, config));
    suite.live.add(stackName);
    showPulumiLog = true;
    const outputs = await progress.step(scope, "pulumi up", () => deploy(stack!, log!));
    showPulumiLog = false;
    const { stateMachineArn, stage } = deployedStage(outputs, mechanism);

    // The execution data key is in place: the state machine is encrypted with the stack's own key.
    await progress.step(scope, "DescribeStateMachine: encrypted with the stack's key", async () => {
      const { encryptionConfiguration: encryption } = await sfn.send(new DescribeStateMachineCommand({ stateMachineArn, includedData: "METADATA_ONLY" }));
      if (encryption?.type !== "CUSTOMER_MANAGED_KMS_KEY" || encryption.kmsKeyId !== outputs.executionDataKeyArn?.value) {
        throw new Error(`the state machine's encryptionConfiguration is ${JSON.stringify(encryption)}, expected CUSTOMER_MANAGED_KMS_KEY with ${String(outputs.executionDataKeyArn?.value)}`);
      }
      return encryption;
    }, (encryption) => `${encryption.type}, data keys reused ${encryption.kmsDataKeyReusePeriodSeconds}s`);

    // email-link: the email's link holds the one-time code; the suite receives the email in a queue
    // subscribed before the request starts.
    let inbox: EmailInbox | undefined;
    if (mechanism === "email-link") {
      const opened = await progress.step(scope, `subscribing an SQS queue to ${handle(stage, "topicArn").split(":").pop()} (the approvers' email)`, () => EmailInbox.open({
        signing: { region: suite.region, credentials: sfn.config.credentials, sha256: sfn.config.sha256 },
        account: suite.caller.account,
        topicArn: handle(stage, "topicArn"),
        queueName: `${stackName}-inbox`,
        sns: new SNSClient({ region: suite.region }),
      }), (value) => value.queueUrl);
      inbox = opened;
      cleanups.push(() => opened.close());
    }

    const arn = await progress.step(scope, `StartExecution of ${stateMachineArn.split(":").pop()} with examples/expense-report.json`, async () => {
      const { executionArn: started } = await sfn.send(new StartExecutionCommand({ stateMachineArn, name: stackName, input: JSON.stringify(suite.request) }));
      if (!started) throw new Error("StartExecution returned no executionArn");
      return started;
    }, (value) => `execution ${value.split(":").pop()}`);
    executionArn = arn;

    let newestEvent: string | undefined;
    let scheduledAt: number | undefined;
    const waiting = await progress.step(scope, `waiting until stage "${IT_STAGE}" waits for a decision`, () => poll(`stage "${IT_STAGE}" to wait for a decision`, async () => {
      const events = await recentHistory(sfn, arn);
      newestEvent = events[0]?.type;
      const state = waitingTask(events, mechanism === "activity");
      if (state.kind === "ended") throw new Error(state.reason);
      if (state.kind !== "waiting") return undefined;
      // Normally the Task's TaskSubmitted (its Lambda or SNS call returned) comes within seconds;
      // should a Task not record one, the token is usable anyway once it was scheduled.
      scheduledAt ??= Date.now();
      return state.submitted || Date.now() - scheduledAt >= SUBMIT_GRACE_MS ? state : undefined;
    }, { timeoutMs: WAIT_FOR_TASK_MS, intervalMs: POLL_MS, signal: suite.signal, lastSeen: () => newestEvent && `newest history event ${newestEvent}` }), (state) => (state.token ? `task token found in the history (${state.token.length} characters), read with the key as the deployer` : "activity task scheduled"));

    if (isEmailMechanism(mechanism)) {
      // Read access is not approval power: a reader the key policy does not name sees no token.
      const keyless = await progress.step(scope, "GetExecutionHistory as a principal the key policy does not name", () => readHistoryWithoutKey({ region: suite.region, callerArn: suite.caller.arn, executionArn: arn }), (result) => result.answer);
      if (keyless.tokenVisible) throw new Error("a principal the key policy does not name read the task token from the execution history");
    }

    const context: DecideContext = {
      scope, progress, signal: suite.signal, region: suite.region, executionArn: arn, stage: IT_STAGE, taskToken: waiting.token,
      onCleanup: (action) => cleanups.push(action),
    };
    switch (mechanism) {
      case "ssm-automation": await approveSsmAutomation(context, handle(stage, "documentName")); break;
      case "codepipeline": await approveCodePipeline(context, handle(stage, "pipelineName")); break;
      case "activity": await approveWithWorker(context, handle(stage, "activityArn")); break;
      case "email-link": await approveWithEmailCode(context, handle(stage, "approvalPageUrl"), inbox!); break;
      case "sns-callback": await approveOnPage(context, handle(stage, "approvalPageUrl")); break;
    }

    const final = await progress.step(scope, "waiting for the execution to finish", () => poll("the execution to finish", async () => {
      const execution: DescribeExecutionOutput = await sfn.send(new DescribeExecutionCommand({ executionArn: arn }));
      return execution.status === "RUNNING" ? undefined : execution;
    }, { timeoutMs: WAIT_FOR_END_MS, intervalMs: POLL_MS, signal: suite.signal }), (execution) => `${execution.status}`);

    const expected = expectedApproval({ mechanism, stage: IT_STAGE, request: suite.request, callerArn: suite.caller.arn, approver });
    const problems = approvalProblems(final, expected);
    if (problems.length > 0) throw new Error(`wrong outcome: ${problems.join("; ")}`);
    const decision = (JSON.parse(final.output ?? "{}") as { stages: Array<{ approver: string; comment: string | null; decidedAt: string }> }).stages[0];
    progress.line(scope, `output: approved: true, decision: "approved", stages[0]: ${mechanism}, approver ${JSON.stringify(decision.approver)}, comment ${JSON.stringify(decision.comment)}, decided at ${decision.decidedAt}`);
  } catch (error) {
    reason = error instanceof Interrupted ? "interrupted (Ctrl-C)" : reasonOf(error);
    progress.line(scope, `FAILED: ${reason}`);
    if (showPulumiLog && log && !suite.verbose) {
      process.stdout.write(`    last lines of ${log.path}:\n${log.tail(PULUMI_LOG_TAIL).map((line) => `    pulumi | ${line}`).join("\n")}\n`);
    }
  } finally {
    // Nothing may keep waiting once the stack goes: an execution still at its stage, an automation
    // at aws:approve. With --keep everything stays as it is, for debugging.
    if (executionArn && suite.keep) {
      progress.line(scope, `--keep: execution ${executionArn} is left as it is (a waiting stage times out after ${IT_STAGE_TIMEOUT})`);
    } else if (executionArn) {
      try {
        const { status } = await sfn.send(new DescribeExecutionCommand({ executionArn }));
        if (status === "RUNNING") {
          await sfn.send(new StopExecutionCommand({ executionArn, error: "IntegrationSuiteCleanup", cause: "stopped by the sfn-approvals integration suite after a failure" }));
          progress.line(scope, `stopped execution ${executionArn.split(":").pop()}`);
        }
      } catch (error) {
        progress.line(scope, `warning: could not stop execution ${executionArn}: ${reasonOf(error)}`);
      }
    }
    for (const cleanup of suite.keep ? [] : cleanups) {
      try {
        await cleanup();
      } catch (error) {
        progress.line(scope, `warning: clean-up step failed: ${reasonOf(error)}`);
      }
    }
    if (stack && log) {
      if (suite.keep) {
        leftBehind = true;
        progress.line(scope, `--keep: stack ${stackName} stays deployed; remove it later with: ${manualCleanup(stackName)}`);
      } else {
        try {
          await progress.step(scope, `pulumi destroy and stack rm ${stackName}`, () => destroyAndRemove(stack!, log!));
          suite.live.delete(stackName);
        } catch (error) {
          leftBehind = true;
          const why = reasonOf(error);
          reason = reason ? `${reason}; and destroying the stack failed: ${why}` : `destroying the stack failed: ${why}`;
          progress.line(scope, `stack ${stackName} is left behind: remove it with: ${manualCleanup(stackName)}`);
          if (!suite.verbose) process.stdout.write(`${log.tail(PULUMI_LOG_TAIL).map((line) => `    pulumi | ${line}`).join("\n")}\n`);
        }
      }
    }
    log?.close();
  }
  return { mechanism, stackName, passed: reason === undefined, reason, created: stack !== undefined, leftBehind, ms: Date.now() - started };
}

function printSummary(results: MechanismResult[], skipped: Mechanism[], totalMs: number): void {
  process.stdout.write(`\nIntegration suite summary (${seconds(totalMs)}):\n`);
  for (const result of results) {
    const state = result.passed ? "PASS" : "FAIL";
    const stack = result.created ? result.stackName : "(nothing deployed)";
    const left = result.leftBehind ? ` [stack ${result.stackName} left deployed]` : "";
    process.stdout.write(`  ${state}  ${result.mechanism.padEnd(15)} ${stack.padEnd(28)} ${seconds(result.ms).padStart(8)}${left}${result.reason ? `\n        ${result.reason}` : ""}\n`);
  }
  for (const mechanism of skipped) process.stdout.write(`  SKIP  ${mechanism.padEnd(15)} (not run: interrupted)\n`);
}

async function main(): Promise<number> {
  // The AWS SDK's notice about future Node versions would interleave with the progress lines.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  let options;
  try {
    options = parseSuiteArgs(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof SuiteUsageError)) throw error;
    process.stderr.write(`test:integration: ${error.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }

  process.stdout.write(`sfn-approvals integration suite (${options.mechanisms.join(", ")})\nChecking prerequisites:\n`);
  const facts = await gatherPrerequisites();
  const lines = prerequisiteLines(facts);
  for (const line of lines) process.stdout.write(`${formatPrerequisiteLine(line)}\n`);
  const region = regionFromEnv();
  if (lines.some((line) => !line.ok) || !facts.aws.ok || !region) {
    process.stdout.write("integration suite skipped: nothing was deployed\n");
    return 0;
  }

  const controller = new AbortController();
  const suite: Suite = {
    progress: new Progress(),
    signal: controller.signal,
    region: region.name,
    caller: { arn: facts.aws.arn, account: facts.aws.account },
    email: process.env.SFN_APPROVALS_IT_EMAIL || DEFAULT_IT_EMAIL,
    keep: options.keep,
    verbose: options.verbose,
    request: JSON.parse(readFileSync(REQUEST_FILE, "utf8")) as unknown,
    sfn: new SFNClient({ region: region.name }),
    live: new Set(),
  };
  let interrupts = 0;
  process.on("SIGINT", () => {
    interrupts += 1;
    if (interrupts === 1) {
      process.stdout.write("\nInterrupted: stopping the current approval and destroying its stack (Ctrl-C again leaves it behind).\n");
      controller.abort();
      return;
    }
    for (const name of suite.live) process.stdout.write(`left behind: stack ${name}; remove it with: ${manualCleanup(name)}\n`);
    process.exit(130);
  });

  const started = Date.now();
  const results: MechanismResult[] = [];
  for (const mechanism of options.mechanisms) {
    if (controller.signal.aborted) break;
    process.stdout.write("\n");
    results.push(await runMechanism(mechanism, suite));
  }
  const skipped = options.mechanisms.filter((mechanism) => !results.some((result) => result.mechanism === mechanism));
  printSummary(results, skipped, Date.now() - started);
  if (controller.signal.aborted) return 130;
  return results.every((result) => result.passed) ? 0 : 1;
}

main().then((code) => process.exit(code), (error: unknown) => {
  process.stderr.write(`test:integration: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
