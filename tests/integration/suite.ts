// The integration suite as a function of its arguments and a host (where it writes, how long it
// waits, how it runs the approval worker, the interrupt signal): tests/integration/run.ts is the
// command line around it, tests/integrationRun.test.ts runs it offline against fakes.
import { CodePipelineClient } from "@aws-sdk/client-codepipeline";
import { IAMClient } from "@aws-sdk/client-iam";
import { SFNClient } from "@aws-sdk/client-sfn";
import { SNSClient } from "@aws-sdk/client-sns";
import { DeleteQueueCommand, GetQueueAttributesCommand, ListQueuesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { SSMClient } from "@aws-sdk/client-ssm";
import { STSClient } from "@aws-sdk/client-sts";
import type { PulumiCommand } from "@pulumi/pulumi/automation";
import { readFileSync } from "fs";
import { join } from "path";
import { WorkerRunner, spawnWorker } from "./deciders";
import { SuiteUsageError, USAGE, parseSuiteArgs } from "./lib/args";
import { formatPrerequisiteLine, prerequisiteLines } from "./lib/prerequisites";
import { SuiteIdentityError, deleteSuiteRole, listSuiteRoles, runnerOf } from "./lib/roles";
import { SignedAws } from "./lib/signedAws";
import { DEFAULT_IT_EMAIL, Mechanism, isEmailMechanism, suiteStackName } from "./lib/stackConfig";
import { AWS_TIMINGS, Timings } from "./lib/timings";
import { MechanismResult, Suite, reasonOf, runMechanism } from "./mechanism";
import { callerIdentity, gatherPrerequisites, regionFromEnv } from "./preflight";
import { Progress, Writer, seconds } from "./progress";
import { PulumiLog, REPO_ROOT, destroyAndRemove, listStacks, pulumiCommand, selectStack } from "./stack";

const REQUEST_FILE = join(REPO_ROOT, "examples", "expense-report.json");

export interface SuiteHost {
  write: Writer;
  /** Aborts on the first SIGINT or SIGTERM: the current requests stop, their stacks are cleaned up. */
  signal: AbortSignal;
  /** Aborts a running `pulumi up` (see Suite.stopPulumi); default: `signal`. */
  stopPulumi?: AbortSignal;
  /** What exists right now (stacks and roles), for the message of a second interrupt. */
  live: Set<string>;
  timings?: Timings;
  runWorker?: WorkerRunner;
  /** The exit code of an interrupted run (130 for SIGINT, 143 for SIGTERM). */
  interruptedCode?: () => number;
  /** The random part of stack names (tests make it predictable). */
  suffix?: () => string;
  /** The CLI the Automation API runs (default: `pulumi` on PATH, checked once). */
  pulumi?: PulumiCommand;
}

function printSummary(
  write: Writer,
  results: MechanismResult[],
  skipped: Array<{ mechanism: Mechanism; why: string }>,
  totalMs: number,
): void {
  write(`\nIntegration suite summary (${seconds(totalMs)}):\n`);
  for (const result of results) {
    const stack = result.created ? result.stackName : "(nothing deployed)";
    write(
      `  ${result.passed ? "PASS" : "FAIL"}  ${result.mechanism.padEnd(15)} ${stack.padEnd(28)} ${seconds(result.ms).padStart(8)}\n`,
    );
    if (result.runs.length > 0)
      write(`        runs: ${result.runs.map((run) => `${run.outcome} ${run.passed ? "ok" : "FAILED"}`).join(", ")}\n`);
    for (const s of result.settlements)
      write(`        ${s.ok ? "ok   " : "WRONG"} ${s.row ? `unknowns #${s.row} ` : ""}[${s.check}] ${s.answer}\n`);
    if (result.reason) write(`        ${result.reason}\n`);
    for (const thing of result.leftBehind) write(`        left behind: ${thing}\n`);
  }
  for (const { mechanism, why } of skipped) write(`  SKIP  ${mechanism.padEnd(15)} (not run: ${why})\n`);
}

/** --cleanup-stale: removes the suite's stacks, roles and inbox queues older than `olderThanMs`. */
async function cleanupStale(args: {
  write: Writer;
  pulumi: PulumiCommand;
  iam: IAMClient;
  sqs: SQSClient;
  olderThanMs: number;
  timings: Timings;
  verbose: boolean;
}): Promise<number> {
  const progress = new Progress(args.write);
  const cutoff = Date.now() - args.olderThanMs;
  const old = (time: Date | string | undefined) =>
    time === undefined ? args.olderThanMs === 0 : new Date(time).getTime() <= cutoff;
  let failures = 0;
  const scope = "cleanup-stale";
  const stacks = await progress.step(
    scope,
    "pulumi stack ls",
    () => listStacks(args.pulumi),
    (list) => `${list.length} stack(s)`,
  );
  const remaining = new Set<string>();
  for (const summary of stacks) {
    const name = suiteStackName(summary.name);
    if (!name) continue;
    if (summary.updateInProgress || !old(summary.lastUpdate)) {
      remaining.add(name);
      progress.line(
        scope,
        `keeping stack ${name}: ${summary.updateInProgress ? "an update is in progress" : `last updated ${summary.lastUpdate ?? "never"}, not older than ${seconds(args.olderThanMs)}`}`,
      );
      continue;
    }
    const log = new PulumiLog(name, args.verbose, args.write);
    try {
      const stack = await selectStack(name, args.pulumi);
      await progress.step(scope, `pulumi destroy and stack rm ${name}`, () =>
        destroyAndRemove(stack, {
          log,
          signal: new AbortController().signal,
          timeoutMs: args.timings.destroyTimeoutMs,
          everyMs: args.timings.progressEveryMs,
          progress: (text) => progress.line(scope, text),
        }),
      );
    } catch (error) {
      failures += 1;
      remaining.add(name);
      progress.line(scope, `could not remove stack ${name}: ${reasonOf(error)}`);
    } finally {
      log.close();
    }
  }
  for (const role of await progress.step(
    scope,
    "IAM ListRoles (the suite's roles)",
    () => listSuiteRoles(args.iam),
    (list) => `${list.length} role(s)`,
  )) {
    const name = role.RoleName!;
    const stackName = name.replace(/^sfn-approvals-/, "").replace(/-(approver|other)$/, "");
    if (remaining.has(stackName) || !old(role.CreateDate)) {
      progress.line(
        scope,
        `keeping role ${name}${remaining.has(stackName) ? ` (its stack ${stackName} remains)` : " (not old enough)"}`,
      );
      continue;
    }
    try {
      await deleteSuiteRole(args.iam, name);
      progress.line(scope, `deleted role ${name}`);
    } catch (error) {
      failures += 1;
      progress.line(scope, `could not delete role ${name}: ${reasonOf(error)}`);
    }
  }
  const { QueueUrls: queues = [] } = await args.sqs.send(new ListQueuesCommand({ QueueNamePrefix: "it-" }));
  for (const queueUrl of queues) {
    const name = queueUrl.split("/").pop() ?? "";
    if (!/^it-(email-link|sns-callback)-[a-z0-9]{4,12}-inbox$/.test(name)) continue;
    try {
      const { Attributes: attributes = {} } = await args.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["CreatedTimestamp"] }),
      );
      const created = attributes.CreatedTimestamp ? new Date(Number(attributes.CreatedTimestamp) * 1000) : undefined;
      if (!old(created)) {
        progress.line(scope, `keeping queue ${name} (not old enough)`);
        continue;
      }
      await args.sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl }));
      progress.line(scope, `deleted queue ${name}`);
    } catch (error) {
      failures += 1;
      progress.line(scope, `could not delete queue ${name}: ${reasonOf(error)}`);
    }
  }
  args.write(failures === 0 ? "cleanup-stale: done\n" : `cleanup-stale: ${failures} item(s) could not be removed\n`);
  return failures === 0 ? 0 : 1;
}

export async function runSuite(argv: string[], host: SuiteHost): Promise<number> {
  const write = host.write;
  const timings = host.timings ?? AWS_TIMINGS;
  let options;
  try {
    options = parseSuiteArgs(argv);
  } catch (error) {
    if (!(error instanceof SuiteUsageError)) throw error;
    write(`test:integration: ${error.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (options.help) {
    write(`${USAGE}\n`);
    return 0;
  }
  const required = options.require || process.env.CI === "true";

  write(
    `sfn-approvals integration suite (${options.cleanupStale ? "--cleanup-stale" : options.mechanisms.join(", ")})\nChecking prerequisites:\n`,
  );
  const facts = await gatherPrerequisites();
  const lines = prerequisiteLines(facts);
  // Deciding as a role the suite creates needs a runner that can assume roles.
  if (facts.aws.ok && options.mechanisms.some((m) => !isEmailMechanism(m))) {
    try {
      runnerOf(facts.aws.arn);
    } catch (error) {
      if (!(error instanceof SuiteIdentityError)) throw error;
      lines.push({ ok: false, item: "Runner identity", text: error.message });
    }
  }
  for (const line of lines) write(`${formatPrerequisiteLine(line)}\n`);
  const region = regionFromEnv();
  if (lines.some((line) => !line.ok) || !facts.aws.ok || !region) {
    if (required) {
      write(
        `integration suite FAILED: prerequisites are missing (${options.require ? "--require" : "CI=true"}); nothing was deployed or tested\n`,
      );
      return 3;
    }
    write(
      "integration suite SKIPPED: prerequisites are missing; nothing was deployed or tested (with --require or CI=true this fails)\n",
    );
    return 0;
  }

  const clients = {
    sfn: new SFNClient({ region: region.name }),
    sns: new SNSClient({ region: region.name }),
    sqs: new SQSClient({ region: region.name }),
    ssm: new SSMClient({ region: region.name }),
    codepipeline: new CodePipelineClient({ region: region.name }),
    iam: new IAMClient({ region: region.name }),
    sts: new STSClient({ region: region.name }),
  };
  const aws = new SignedAws({
    region: region.name,
    credentials: clients.sfn.config.credentials,
    sha256: clients.sfn.config.sha256,
  });
  const pulumi = host.pulumi ?? (await pulumiCommand());
  if (options.cleanupStale) {
    return cleanupStale({
      write,
      pulumi,
      iam: clients.iam,
      sqs: clients.sqs,
      olderThanMs: options.olderThanMs,
      timings,
      verbose: options.verbose,
    });
  }

  const request = JSON.parse(readFileSync(REQUEST_FILE, "utf8")) as Record<string, unknown>;
  const started = Date.now();
  const results: MechanismResult[] = [];
  const skipped: Array<{ mechanism: Mechanism; why: string }> = [];
  let stopped: string | undefined;
  for (const mechanism of options.mechanisms) {
    if (host.signal.aborted) stopped ??= "interrupted";
    if (!stopped) {
      // Credentials run out (an SSO session, a role's hour): stop before deploying anything more.
      const identity = await callerIdentity(region.name);
      if (!identity.ok) {
        stopped = `AWS credentials no longer work (${identity.reason}); renew them (\`aws sso login\`, new keys) and run again`;
        write(`\n${stopped}\n`);
      } else if (identity.arn !== facts.aws.arn) {
        stopped = `the AWS identity changed from ${facts.aws.arn} to ${identity.arn} during the run`;
        write(`\n${stopped}\n`);
      }
    }
    if (stopped) {
      skipped.push({ mechanism, why: stopped });
      continue;
    }
    write("\n");
    const suite: Suite = {
      progress: new Progress(write),
      signal: host.signal,
      stopPulumi: host.stopPulumi ?? host.signal,
      timings,
      region: region.name,
      partition: facts.aws.arn.split(":")[1],
      caller: { arn: facts.aws.arn, account: facts.aws.account },
      runner: isEmailMechanism(mechanism) ? undefined : runnerOf(facts.aws.arn),
      email: process.env.SFN_APPROVALS_IT_EMAIL || DEFAULT_IT_EMAIL,
      keep: options.keep,
      verbose: options.verbose,
      request,
      pulumi,
      clients: { ...clients, aws },
      runWorker: host.runWorker ?? spawnWorker,
      live: host.live,
      suffix: host.suffix,
    };
    results.push(await runMechanism(mechanism, suite));
  }
  printSummary(write, results, skipped, Date.now() - started);
  if (host.signal.aborted) return host.interruptedCode?.() ?? 130;
  if (results.length === 0) {
    write("nothing was tested\n");
    return 1;
  }
  return results.every((result) => result.passed) && skipped.length === 0 ? 0 : 1;
}
