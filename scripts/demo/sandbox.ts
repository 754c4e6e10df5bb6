// The local sandbox (`npm run demo`): runs a stack's real workflow on this machine with no AWS
// account. The Pulumi program runs under mocks (tests/helpers/pulumiMocks.ts), which gives the
// generated state machine definition and every Lambda's serialized archive exactly as `pulumi up`
// would deploy them; the definition runs on aws-local-stepfunctions (tests/helpers/localStateMachine.ts),
// each Lambda runs from its archive in a child node process (tests/helpers/serializedHandler.ts),
// the approval page runs behind a local HTTP adapter on 127.0.0.1 (tests/helpers/pageServer.ts),
// and every AWS API they call is answered by the local models of ./stepFunctions.ts and ./services.ts.
// Approvers answer as they would in AWS: from the email's link on the page, through the approval
// worker on the stage's activity, or by answering the runbook step or pipeline action, after which
// the EventBridge event AWS documents reaches the stage's result function; a slack stage's message
// is posted to a local Slack and its clicks reach the interaction function signed (./slack.ts).
// These pieces are the tests' own helpers, shared rather than copied, so the sandbox runs what the
// tests check.
//
// It is a sandbox, not AWS: nothing it shows proves IAM permissions or AWS service behaviour.

import { spawn } from "child_process";
import { randomBytes } from "crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import { join, relative } from "path";
import { SFNClient } from "@aws-sdk/client-sfn";
import { STSClient } from "@aws-sdk/client-sts";
import { S3_PUT_OBJECT_RESOURCE } from "../../components/workflow/auditStates";
import { AuditRecord, parseAuditRecord } from "../../functions/auditRecord";
import { tokensIn } from "../../functions/mechanisms/email/approvalPage";
import { stageOfStateName } from "../../functions/contract";
import { AslBranch, AslDefinition, TaskState } from "../../components/workflow/asl";
import { EventBridgeEvent } from "../../functions/shared/eventBridge";
import { AwsError, FakeAws } from "../../tests/helpers/fakeAws";
import { RunEvent, RunResult, TaskHandler, runDefinition } from "../../tests/helpers/localStateMachine";
import { PageServer, serializedPageHandler, startPageServer } from "../../tests/helpers/pageServer";
import {
  ACCOUNT_ID,
  RecordedResource,
  archiveFiles,
  mockAccount,
  ofType,
  runProgram,
} from "../../tests/helpers/pulumiMocks";
import { HandlerRun, invokeArchive, writeArchive } from "../../tests/helpers/serializedHandler";
import { stackConfig } from "../../tests/helpers/stackConfig";
import { ApprovalWorker, WorkerIO } from "../lib/approvalWorker";
import { DEFAULT_EMAIL_DIR, DEFAULT_INPUT, NOT_AWS, ROOT, knownStacks } from "./basics";
import { approvalActionEvent, automationStepEvent, pipelineFailedEvent } from "./events";
import {
  Automation,
  Delivery,
  PipelineExecution,
  SandboxCodePipeline,
  SandboxSns,
  SandboxSsm,
  SandboxTables,
  approveStepOf,
} from "./services";
import { SANDBOX_SLACK_APP, SandboxSecretsManager, SandboxSlack, withSandboxSlackApp } from "./slack";
import { DEFAULT_SLACK_STATE, SlackClickState, clickAs, removeClickState, writeClickState } from "./slackClick";
import { SandboxStepFunctions, TaskOutcome } from "./stepFunctions";

export { NOT_AWS, knownStacks } from "./basics";

// None of the developer's AWS_* settings (credentials, profile, endpoints): nothing here may reach AWS.
for (const key of Object.keys(process.env)) if (key.startsWith("AWS_")) delete process.env[key];

export type Decide = "approve" | "reject";

export interface SandboxIO {
  /** A line for the person (or the CI log) following the run. */
  say(text: string): void;
  /** Asks the person a question; null when no answer can come (input ended). */
  ask(question: string): Promise<string | null>;
}

/** Runs the approval worker on an activity; returns its exit code. */
export type WorkerRunner = (args: {
  activityArn: string;
  decide?: Decide;
  comment?: string;
  env: Record<string, string>;
  interactive: boolean;
  say: (text: string) => void;
}) => Promise<number>;

export interface SandboxOptions {
  stack: string;
  /** The stack's config as setAllConfig takes it; defaults to Pulumi.<stack>.yaml (tests/helpers/stackConfig.ts). */
  config?: Record<string, string>;
  /** Every stage is answered by the sandbox itself (no person needed). */
  decide?: Decide;
  /** The request (the execution input); defaults to examples/expense-report.json. */
  inputFile?: string;
  /** Where emails are written, one folder per run. */
  emailDir?: string;
  io: SandboxIO;
  /** The approval worker; defaults to the real CLI (npm run approval-worker) in a child process. */
  runWorker?: WorkerRunner;
  /** With `decide`: a run that has not ended after this long is a sandbox problem (default 300 s). */
  decideTimeoutSeconds?: number;
  /** Where a slack stage's click state is written for `npm run demo -- slack-click` (default .sandbox/slack-click.json). */
  slackStateFile?: string;
}

export interface SandboxResult {
  /** 0 approved, 1 not approved (rejected, timed out, failed), 2 a problem with the sandbox itself. */
  code: 0 | 1 | 2;
  run?: RunResult;
  problem?: string;
  emailFolder?: string;
}

/** A problem with the sandbox itself (not the workflow's answer): exit code 2. */
export class SandboxProblem extends Error {}

/** A stage as the stack's `stages` output describes it (index.ts): the fields the sandbox reads. */
interface StageOutput {
  name: string;
  mechanism: string;
  approvers: string[];
  topicArn?: string;
  documentName?: string;
  pipelineName?: string;
  activityArn?: string;
  startFunctionName?: string;
  resultFunctionName?: string;
  channel?: string;
  interactivityUrl?: string;
}

/** The stack outputs the sandbox reads (index.ts). */
interface StackOutputs {
  /** What requests start through (docs/rollout.md); the sandbox's execution runs its one version. */
  aliasArn?: string;
  stateMachineArn: string;
  stateMachineName: string;
  region: string;
  autoApproveBelow: number | null;
  approvalPageUrl?: string;
  stages: StageOutput[];
}

interface Generated {
  resources: RecordedResource[];
  outputs: StackOutputs;
}

/** A codepipeline stage in a Pipeline resource's inputs: the fields of its approval action the sandbox reads. */
interface PipelineStageInput {
  name: string;
  actions?: Array<{ configuration?: { NotificationArn?: string; CustomData?: string; ExternalEntityLink?: string } }>;
}

/**
 * The one AWS account the config's IAM ARNs name, if there is one: the mocks then answer as that
 * account, so a config with the deployer's own account id runs as it would deploy.
 */
export function configAccount(config: Record<string, string>): string | undefined {
  const accounts = new Set(
    Object.values(config).flatMap((value) =>
      [...value.matchAll(/arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):/g)].map((m) => m[1]),
    ),
  );
  return accounts.size === 1 ? [...accounts][0] : undefined;
}

/** The outputs carry the state machine and its stages (each named, with its mechanism). */
function isStackOutputs(outputs: Record<string, unknown>): outputs is Record<string, unknown> & StackOutputs {
  const { stateMachineArn, stages } = outputs;
  return (
    typeof stateMachineArn === "string" &&
    Array.isArray(stages) &&
    stages.every((stage) => typeof stage?.name === "string" && typeof stage.mechanism === "string")
  );
}

/** The program runs once per stack config and process (it is deterministic for a config). */
const generated = new Map<string, Promise<Generated>>();
function generate(stack: string, config: Record<string, string>): Promise<Generated> {
  const key = JSON.stringify([stack, config]);
  let run = generated.get(key);
  if (!run) {
    mockAccount.id = configAccount(config) ?? ACCOUNT_ID;
    run = runProgram(stack, config)
      .then(({ resources, outputs }) => {
        if (!isStackOutputs(outputs)) throw new Error("its stack outputs lack the state machine or its stages");
        return { resources, outputs };
      })
      .finally(() => {
        mockAccount.id = ACCOUNT_ID;
      });
    generated.set(key, run);
    run.catch(() => generated.delete(key));
  }
  return run;
}

/** The Task states of a definition (Parallel branches included), by name. */
function taskStates(
  scope: AslDefinition | AslBranch,
  found: Record<string, TaskState> = {},
): Record<string, TaskState> {
  for (const [name, state] of Object.entries(scope.States ?? {})) {
    if (state.Type === "Task") found[name] = state;
    if (state.Type === "Parallel") for (const branch of state.Branches ?? []) taskStates(branch, found);
  }
  return found;
}

/** A Task's timeout or heartbeat when it is a number of seconds (not a JSONata expression). */
function seconds(value: number | string | undefined): number | undefined {
  return typeof value === "number" ? value : undefined;
}

/** A principal as the AWS APIs report who acted: an IAM user as it is, a role as a session of it. */
function actingAs(principal: string): string {
  const role = /^arn:([a-z-]+):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(principal);
  return role ? `arn:${role[1]}:sts::${role[2]}:assumed-role/${role[3]}/sandbox-approver` : principal;
}

/** The `msg` of each JSON line a handler logged (its structured logs), else the line. */
function logLines(logs: string): string[] {
  return logs
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .map((line) => {
      try {
        const parsed = JSON.parse(line) as { msg?: unknown };
        return typeof parsed.msg === "string" ? parsed.msg : line;
      } catch {
        return line;
      }
    });
}

/** The default worker: the real approval worker CLI, run with npm as a person would run it. */
export const cliWorker: WorkerRunner = ({ activityArn, decide, comment, env, interactive, say }) =>
  new Promise((resolve, reject) => {
    const args = [
      "run",
      "--silent",
      "approval-worker",
      "--",
      "--activity-arn",
      activityArn,
      "--once",
      ...(decide ? ["--decide", decide, "--comment", comment ?? ""] : []),
    ];
    const child = spawn("npm", args, { cwd: ROOT, env, stdio: interactive ? "inherit" : ["ignore", "pipe", "pipe"] });
    const prefix = (stream: NodeJS.ReadableStream | null) =>
      stream?.on("data", (chunk: Buffer) => {
        for (const line of chunk.toString("utf8").split("\n")) if (line.trim() !== "") say(`    worker | ${line}`);
      });
    prefix(child.stdout);
    prefix(child.stderr);
    child.on("error", reject);
    child.on("close", (code) => resolve(code ?? 1));
  });

/**
 * The approval worker's own code (scripts/lib/approvalWorker.ts, which the CLI wraps) in this
 * process: the same polls, heartbeats and decision, without the CLI's start-up time (the tests).
 */
export const libraryWorker: WorkerRunner = async ({ activityArn, decide, comment, env, say }) => {
  const region = activityArn.split(":")[3];
  const credentials = { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY };
  const sfn = new SFNClient({ region, endpoint: env.AWS_ENDPOINT_URL_SFN, credentials, maxAttempts: 1 });
  const sts = new STSClient({ region, endpoint: env.AWS_ENDPOINT_URL_STS, credentials, maxAttempts: 1 });
  const io: WorkerIO = {
    say: (text) => text.split("\n").forEach((line) => say(`    worker | ${line}`)),
    warn: (text) => say(`    worker | ${text}`),
    ask: async () => null,
    cancelQuestion: () => undefined,
    inputEnded: () => true,
  };
  const worker = new ApprovalWorker(sfn, sts, io, {
    activityArn,
    workerName: "sandbox-worker",
    decide,
    comment,
    heartbeatEverySeconds: 30,
    maxPollFailures: 1,
    retryBaseMs: 100,
  });
  const outcome = await worker.run(true);
  return outcome === "approved" || outcome === "rejected" ? 0 : 1;
};

export async function runSandbox(options: SandboxOptions): Promise<SandboxResult> {
  const { io, stack, decide } = options;
  const say = io.say;
  const cleanup: Array<() => unknown> = [];
  let problem: string | undefined;
  /** The outcome is known: what approvers still do no longer changes it. */
  let finished = false;
  try {
    say(NOT_AWS);
    if (!knownStacks().includes(stack))
      throw new SandboxProblem(
        `unknown stack '${stack}': there is no Pulumi.${stack}.yaml (stacks: ${knownStacks().join(", ")})`,
      );
    const inputFile = options.inputFile ?? DEFAULT_INPUT;
    let request: unknown;
    try {
      request = JSON.parse(readFileSync(inputFile, "utf8"));
    } catch (error) {
      throw new SandboxProblem(`cannot read the request ${inputFile}: ${(error as Error).message}`);
    }

    say(`Stack ${stack}: running the Pulumi program under mocks (no AWS account, no Pulumi state)...`);
    let program: Generated;
    try {
      // A slack stage runs with the sandbox's own Slack app credentials (./slack.ts), never the stack's.
      program = await generate(stack, withSandboxSlackApp(options.config ?? stackConfig(stack)));
    } catch (error) {
      throw new SandboxProblem(`the program failed for stack '${stack}': ${(error as Error).message}`);
    }
    const { resources, outputs } = program;
    const machines = ofType(resources, "aws:sfn/stateMachine:StateMachine");
    if (machines.length !== 1)
      throw new SandboxProblem(`stack '${stack}' generated ${machines.length} state machines, expected 1`);
    const stages = outputs.stages;
    const functions = ofType(resources, "aws:lambda/function:Function");
    const account = String(outputs.stateMachineArn).split(":")[4];
    const region = String(outputs.region);
    say(
      `  workflow ${outputs.stateMachineName}: ${stages.map((s) => `${s.name} (${s.mechanism})`).join(", then ")}${outputs.autoApproveBelow !== null ? `; requests below ${outputs.autoApproveBelow} are approved automatically` : ""}`,
    );
    say(
      `  ${functions.length === 0 ? "no Lambda functions" : `${functions.length} Lambda functions, run from their serialized archives`}; account ${account}${account === ACCOUNT_ID ? " (the mocks' own)" : " (the config's)"}, Region ${region} (the mocks' own)`,
    );

    // ---- the local AWS endpoints ----
    const endpoint = async (name: string) => {
      const aws = new FakeAws();
      await aws.start();
      cleanup.push(() => aws.stop());
      return { name, aws };
    };
    const [sfnApi, ssmApi, pipelineApi, snsApi, dynamoApi, secretsApi, otherApi] = await Promise.all(
      ["sfn", "ssm", "codepipeline", "sns", "dynamodb", "secretsmanager", "other"].map(endpoint),
    );
    // Any other service the code might call is refused locally: nothing reaches AWS.
    otherApi.aws.otherwise(() => new AwsError("SandboxUnknownService", "the sandbox does not model this service"));
    const endpoints: Record<string, string> = {
      AWS_ENDPOINT_URL: otherApi.aws.url,
      AWS_ENDPOINT_URL_SFN: sfnApi.aws.url,
      AWS_ENDPOINT_URL_STS: sfnApi.aws.url,
      AWS_ENDPOINT_URL_SSM: ssmApi.aws.url,
      AWS_ENDPOINT_URL_CODEPIPELINE: pipelineApi.aws.url,
      AWS_ENDPOINT_URL_SNS: snsApi.aws.url,
      AWS_ENDPOINT_URL_DYNAMODB: dynamoApi.aws.url,
      // The SDK's service-specific endpoint: AWS_ENDPOINT_URL_ and the service ID "Secrets Manager"
      // in upper case, words joined by "_" (@smithy/core getEndpointUrlConfig; AWS SDKs and Tools
      // Reference Guide, "Service-specific endpoints").
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsApi.aws.url,
    };
    new SandboxSecretsManager(resources).serve(secretsApi.aws);

    // ---- the approval page, and the definition and functions pointed at it ----
    let page: PageServer | undefined;
    let pageBase: { mock: string; local: string } | undefined;
    const pageFn = functions.find((f) => f.name === "approval-page-handler-fn");
    if (outputs.approvalPageUrl && pageFn) {
      const dir = writeArchive(await archiveFiles(pageFn));
      cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
      const handler = serializedPageHandler(dir, { ...pageFn.inputs.environment.variables, ...endpoints });
      let answering = 0;
      page = await startPageServer(async (event) => {
        answering += 1;
        try {
          return await handler(event);
        } finally {
          answering -= 1;
        }
      });
      // A press that decided the last stage is still being answered: its answer goes out first
      // (closing the server closes only idle connections at once).
      cleanup.push(async () => {
        for (let waited = 0; answering > 0 && waited < 3000; waited += 50)
          await new Promise((resolve) => setTimeout(resolve, 50));
        await new Promise((resolve) => setImmediate(resolve));
        await page!.close();
      });
      // The page's API Gateway URL (the mocks' own) becomes the local page's, wherever it appears.
      pageBase = {
        mock: String(outputs.approvalPageUrl).replace(/\/decide$/, ""),
        local: page.url.replace(/\/decide$/, ""),
      };
      say(
        `  approval page: ${page.url} (the page function's serialized archive, behind a local adapter; in AWS: ${outputs.approvalPageUrl})`,
      );
    }
    const local = (text: string) => (pageBase ? text.split(pageBase.mock).join(pageBase.local) : text);
    const definition: AslDefinition = JSON.parse(local(machines[0].inputs.definition));

    const archives = new Map<string, string>();
    const functionNamed = (name: string | undefined) =>
      functions.find((f) => f.state.name === name || f.state.arn === name);
    const invoke = async (fn: RecordedResource, event: unknown): Promise<HandlerRun> => {
      let dir = archives.get(fn.name);
      if (!dir) {
        dir = writeArchive(await archiveFiles(fn));
        archives.set(fn.name, dir);
        const made = dir;
        cleanup.push(() => rmSync(made, { recursive: true, force: true }));
      }
      const variables = Object.fromEntries(
        Object.entries<string>(fn.inputs.environment?.variables ?? {}).map(([k, v]) => [k, local(String(v))]),
      );
      const run = await invokeArchive(dir, event, { ...variables, ...endpoints });
      for (const line of logLines(run.logs)) say(`    ${fn.state.name} log | ${line}`);
      return run;
    };
    // ---- Slack (a slack stage): a local Web API and the interaction function's endpoint ----
    const slackStages = stages.filter((s) => s.mechanism === "slack");
    const startEnv = (stage: StageOutput): Record<string, string> =>
      functionNamed(stage.startFunctionName)?.inputs.environment?.variables ?? {};
    /** A slack stage's interaction function: the one reading the same request table with a workspace. */
    const interactionFunction = (stage: StageOutput) =>
      functions.find(
        (f) =>
          f.inputs.environment?.variables?.SLACK_TEAM_ID !== undefined &&
          f.inputs.environment?.variables?.SLACK_TABLE === startEnv(stage).SLACK_TABLE,
      );
    let slack: SandboxSlack | undefined;
    if (slackStages.length > 0) {
      const interactions = interactionFunction(slackStages[0]);
      if (!interactions)
        throw new SandboxProblem(`stage ${slackStages[0].name} has no interaction function reading its request table`);
      slack = new SandboxSlack(say, {
        teamId: String(interactions.inputs.environment.variables.SLACK_TEAM_ID),
        channels: slackStages.map((s) => String(startEnv(s).SLACK_CHANNEL)),
        approvers: slackStages.flatMap((s) => s.approvers),
      });
      await slack.start(async (event) => {
        const run = await invoke(interactions, event);
        if (!run.ok) throw new Error(`${run.error?.name}: ${run.error?.message}`);
        return run.result;
      });
      const started = slack;
      cleanup.push(() => started.stop());
      // The functions call the local Slack in place of https://slack.com/api/ (functions/mechanisms/slack/slackApi.ts).
      endpoints.SLACK_API_URL = slack.fake.apiUrl;
      say(
        `  Slack: a local Web API on ${slack.fake.url} (workspace ${slack.options.teamId}, channel ${slack.options.channels.join(", ")}); the app's bot token and signing secret are made for this run and kept in the local Secrets Manager; clicks reach POST ${slack.interactionsUrl} (the interaction function's serialized archive; in AWS: ${slackStages[0].interactivityUrl ?? "the stage's interactivityUrl"})`,
      );
    }

    /** A Lambda's calls are signed by a session of its role, named after the function. */
    const sessionOf = (fn: RecordedResource | undefined) =>
      `arn:aws:sts::${account}:assumed-role/${String(fn?.inputs.role ?? "unknown")
        .split("/")
        .pop()}/${fn?.state.name}`;

    // ---- the execution ----
    const executionName = `sandbox-${new Date()
      .toISOString()
      .replace(/[-:]/g, "")
      .replace(/\.\d+Z$/, "")}-${randomBytes(2).toString("hex")}`;
    const executionArn = `${String(outputs.stateMachineArn).replace(":stateMachine:", ":execution:")}:${executionName}`;
    const sfn = new SandboxStepFunctions(outputs.stateMachineArn, executionArn, request);
    if (outputs.aliasArn) sfn.startedThrough(outputs.aliasArn, `${outputs.stateMachineArn}:1`);
    sfn.serve(sfnApi.aws);
    // A worker's long poll must not hold its endpoint open once the run is over.
    cleanup.push(() => sfn.releasePollers());
    for (const s of stages) if (s.activityArn) sfn.activities.add(s.activityArn);
    sfn.onTaskClosed = (stateName, outcome, how) => {
      if (how === "timed-out") say(`  Step Functions: ${stateName} timed out`);
      else if (how === "aborted") say(`  Step Functions: ${stateName} stopped (the execution ended)`);
      else if ("output" in outcome) {
        const d = outcome.output as { decision?: unknown; approver?: unknown };
        say(`  Step Functions: SendTaskSuccess resumes ${stateName}: ${String(d?.decision)} by ${String(d?.approver)}`);
      } else say(`  Step Functions: ${stateName} failed: ${outcome.error}`);
    };

    /** Ends the run as a sandbox problem: every waiting Task fails, so the execution stops. */
    const fail = (why: string) => {
      if (finished) return;
      if (!problem) {
        problem = why;
        say(`  SANDBOX PROBLEM: ${why}`);
      }
      sfn.abort(why);
    };
    /** Approvers act once the service call that asked them has returned (as people would, later). */
    const pending: Array<() => Promise<void>> = [];
    /** What approvers are doing; the run waits for them to finish before it reports. */
    const acting: Array<Promise<void>> = [];
    const act = (action: () => Promise<void>) => {
      acting.push(action().catch((error: unknown) => fail((error as Error).message)));
    };
    const flush = () => {
      for (const action of pending.splice(0)) act(action);
    };

    // ---- emails ----
    const emailFolder = join(options.emailDir ?? DEFAULT_EMAIL_DIR, executionName);
    const subscribers = (topicArn: string) =>
      ofType(resources, "aws:sns/topicSubscription:TopicSubscription")
        .filter((s) => s.inputs.topic === topicArn)
        .map((s) => String(s.inputs.endpoint));
    let emails = 0;
    const deliver = (delivery: Delivery, { approval, note }: { approval: boolean; note?: string }) => {
      emails += 1;
      const to = subscribers(delivery.topicArn);
      mkdirSync(emailFolder, { recursive: true });
      const file = join(emailFolder, `${String(emails).padStart(2, "0")}-${delivery.topicArn.split(":").pop()}.txt`);
      const text = `To: ${to.join(", ") || "(no email subscribers)"}\nTopic: ${delivery.topicArn}\nSubject: ${delivery.subject ?? ""}\n${note ? `Note: ${note}\n` : ""}\n${delivery.message}`;
      writeFileSync(file, text);
      say(
        `  EMAIL to ${to.join(", ") || "(no email subscribers)"}, via SNS topic ${delivery.topicArn.split(":").pop()}  [saved as ${relative(process.cwd(), file)}]`,
      );
      if (note) say(`    (${note})`);
      say(`    Subject: ${delivery.subject ?? ""}`);
      for (const line of delivery.message.split("\n")) say(`    | ${line}`);
      const links = page
        ? (delivery.message.match(new RegExp(`${page.url.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\?\\S+`, "g")) ?? [])
        : [];
      // The page reads only the last link of a message; so does its approver.
      if (approval && links.length > 0)
        pending.push(() => emailApprover(links[links.length - 1], stageOfTopic(delivery.topicArn)));
    };
    const topics = new Set(ofType(resources, "aws:sns/topic:Topic").map((t) => String(t.state.arn)));
    const sns = new SandboxSns(topics, deliver);
    sns.serve(snsApi.aws);
    const stageOfTopic = (topicArn: string) => stages.find((s) => s.topicArn === topicArn)?.name ?? "?";

    // ---- DynamoDB tables ----
    const tables = new SandboxTables();
    for (const table of ofType(resources, "aws:dynamodb/table:Table")) {
      if (table.inputs.hashKey === "codeHash") tables.addCodeTable(String(table.state.name));
      else if (table.inputs.hashKey === "approvalKey") tables.addTokenTable(String(table.state.name));
      else if (table.inputs.hashKey === "keyHash") tables.addSlackRequestTable(String(table.state.name));
    }
    tables.serve(dynamoApi.aws);

    // ---- Systems Manager ----
    const runbooks = new Map(
      ofType(resources, "aws:ssm/document:Document")
        .filter((d) => d.inputs.documentType === "Automation")
        .map((d) => [String(d.state.name), approveStepOf(String(d.state.name), String(d.inputs.content))] as const),
    );
    const ssm = new SandboxSsm(
      runbooks,
      (document) => sessionOf(functionNamed(stages.find((s) => s.documentName === document)?.startFunctionName)),
      (automation) => {
        const message = automation.step.message.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, name: string) =>
          (automation.parameters[name] ?? []).join(","),
        );
        say(
          `  Systems Manager: automation ${automation.id} of runbook ${automation.step.documentName} waits at its aws:approve step for ${automation.step.minRequiredApprovals} of ${automation.step.approvers.length} approvers`,
        );
        sns.publish(
          {
            topicArn: automation.step.notificationArn,
            subject: `Approval request for automation ${automation.id}`,
            message: `${message}\n\nApprove or reject: aws ssm send-automation-signal --automation-execution-id ${automation.id} --signal-type Approve|Reject`,
          },
          {
            approval: false,
            note: "Systems Manager sends this notice in its own format; shown here: the runbook's Message and how approvers answer",
          },
        );
        pending.push(() => automationApprover(automation));
      },
    );
    ssm.serve(ssmApi.aws);

    // ---- CodePipeline ----
    const pipelineResources = ofType(resources, "aws:codepipeline/pipeline:Pipeline");
    const pipeline = new SandboxCodePipeline(
      new Set(pipelineResources.map((p) => String(p.state.name))),
      (name) => sessionOf(functionNamed(stages.find((s) => s.pipelineName === name)?.startFunctionName)),
      (execution) => {
        const pipelineStages: PipelineStageInput[] | undefined = pipelineResources.find(
          (p) => p.state.name === execution.pipelineName,
        )?.inputs.stages;
        const action = pipelineStages?.find((s) => s.name === "Approval")?.actions?.[0]?.configuration ?? {};
        const variable = (text: string | undefined) =>
          String(text ?? "").replace(
            /#\{variables\.(\w+)\}/g,
            (_, name: string) => execution.variables.find((v) => v.name === name)?.value ?? "",
          );
        say(
          `  CodePipeline: execution ${execution.id} of pipeline ${execution.pipelineName} waits at its manual approval action (Approval/Approve)`,
        );
        if (action.NotificationArn) {
          sns.publish(
            {
              topicArn: action.NotificationArn,
              subject: `APPROVAL NEEDED: ${execution.pipelineName}`,
              message: `${variable(action.CustomData)}\n\nReview: ${variable(action.ExternalEntityLink)}\nApprove or reject in the CodePipeline console, or: aws codepipeline put-approval-result --pipeline-name ${execution.pipelineName} --stage-name Approval --action-name Approve ...`,
            },
            {
              approval: false,
              note: "CodePipeline sends this notice in its own format; shown here: the action's CustomData and link",
            },
          );
        }
        pending.push(() => pipelineApprover(execution));
      },
    );
    pipeline.serve(pipelineApi.aws);

    // ---- approvers ----
    const stageNamed = (name: string) => stages.find((s) => s.name === name);
    const comment = decide ? `decided in the sandbox (--decide ${decide})` : "";

    async function resultFunction(stageName: string, event: EventBridgeEvent, what: string): Promise<void> {
      const fn = functionNamed(stageNamed(stageName)?.resultFunctionName);
      if (!fn) throw new SandboxProblem(`stage ${stageName} has no result function`);
      say(
        `  EventBridge: "${String(event["detail-type"])}" (${what}) -> result function ${fn.state.name} (serialized archive)`,
      );
      const run = await invoke(fn, event);
      if (!run.ok) {
        throw new SandboxProblem(
          `the result function of stage ${stageName} failed (${run.error?.name}: ${run.error?.message}); in AWS, EventBridge would retry it and then put the event in the stage's dead-letter queue while the execution waits`,
        );
      }
    }

    async function automationApprover(automation: Automation): Promise<void> {
      const stage = stages.find((s) => s.documentName === automation.step.documentName)!;
      const approvers = automation.step.approvers;
      let state: "waiting" | "approved" | "rejected" = "waiting";
      if (decide) {
        for (const approver of decide === "approve"
          ? approvers.slice(0, automation.step.minRequiredApprovals)
          : approvers.slice(0, 1)) {
          say(`  approver ${approver}: ${decide === "approve" ? "Approve" : "Reject"} (as SendAutomationSignal)`);
          state = ssm.signal(automation, approver, decide === "approve" ? "Approve" : "Reject", comment);
        }
      } else {
        say(
          `  Answer as the runbook's approvers would (SendAutomationSignal); ${automation.step.minRequiredApprovals} approval(s) approve, one rejection rejects.`,
        );
        while (state === "waiting") {
          for (const approver of approvers.filter((a) => !automation.decisions.some((d) => d.approver === a))) {
            const answer = await askWord(`  ${approver}: approve, reject or skip? `, ["approve", "reject", "skip"]);
            if (answer === "skip") continue;
            const note = (await io.ask("  Comment (optional): ")) ?? "";
            state = ssm.signal(automation, approver, answer === "approve" ? "Approve" : "Reject", note.trim());
            if (state !== "waiting") break;
          }
        }
      }
      say(`  Systems Manager: the aws:approve step ends ${automation.stepStatus} (${state})`);
      await resultFunction(
        stage.name,
        automationStepEvent(automation, account, region),
        `Status ${automation.stepStatus}`,
      );
    }

    async function pipelineApprover(execution: PipelineExecution): Promise<void> {
      const stage = stages.find((s) => s.pipelineName === execution.pipelineName)!;
      const approvers: string[] = stage.approvers;
      let approver = approvers[0];
      let answer: Decide;
      let summary = comment;
      if (decide) {
        answer = decide;
      } else {
        if (approvers.length > 1) {
          approvers.forEach((a, i) => say(`    ${i + 1}. ${a}`));
          const chosen = await askWord(
            `  Answer as which approver (1-${approvers.length})? `,
            approvers.map((_, i) => String(i + 1)),
          );
          approver = approvers[Number(chosen) - 1];
        }
        answer = (await askWord(`  ${approver}: approve or reject the pipeline's approval action? `, [
          "approve",
          "reject",
        ])) as Decide;
        summary = ((await io.ask("  Comment (optional): ")) ?? "").trim();
      }
      say(`  approver ${actingAs(approver)}: ${answer === "approve" ? "Approved" : "Rejected"} (as PutApprovalResult)`);
      pipeline.putApprovalResult(
        execution,
        actingAs(approver),
        answer === "approve" ? "Approved" : "Rejected",
        summary,
      );
      await resultFunction(
        stage.name,
        approvalActionEvent(execution, account, region),
        `state ${execution.approval.status === "Succeeded" ? "SUCCEEDED" : "FAILED"}`,
      );
      // A rejection also fails the pipeline execution, and the rule matches that event too.
      if (execution.status === "Failed")
        await resultFunction(stage.name, pipelineFailedEvent(execution, account, region), "pipeline FAILED");
    }

    async function emailApprover(link: string, stageName: string): Promise<void> {
      if (!decide) {
        say(`  >>> Open the link above in a browser (the approval page on 127.0.0.1) and press Approve or Reject.`);
        return;
      }
      const shown = await fetch(link);
      const html = await shown.text();
      say(
        `  approver opens the link: GET ${page!.url} -> ${shown.status} "${/<title>([^<]*)<\/title>/.exec(html)?.[1] ?? ""}"`,
      );
      if (shown.status !== 200)
        throw new SandboxProblem(
          `the approval page answered ${shown.status} to the link in the email of stage ${stageName}`,
        );
      // The form posts back its hidden fields, as a browser would.
      const hidden = Object.fromEntries(
        [...html.matchAll(/<input type="hidden" name="(\w+)" value="([^"]*)">/g)].map((m) => [
          m[1],
          m[2].replace(/&#(\d+);/g, (_, c) => String.fromCharCode(Number(c))).replace(/&amp;/g, "&"),
        ]),
      );
      say(`  approver presses ${decide === "approve" ? "Approve" : "Reject"}: POST ${page!.url}`);
      const posted = await fetch(page!.url, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ ...hidden, name: "Sandbox approver", comment, decision: decide }).toString(),
      });
      const answer = await posted.text();
      say(`  the page answers ${posted.status} "${/<title>([^<]*)<\/title>/.exec(answer)?.[1] ?? ""}"`);
      if (posted.status !== 200)
        throw new SandboxProblem(`the approval page answered ${posted.status} to the decision of stage ${stageName}`);
    }

    async function askWord(question: string, words: string[]): Promise<string> {
      for (;;) {
        const answer = await io.ask(question);
        if (answer === null)
          throw new SandboxProblem(
            "input ended before a decision (with no one at the terminal, use --decide approve|reject)",
          );
        const word = answer.trim().toLowerCase();
        if (words.includes(word)) return word;
        say(`  Please answer ${words.join(", ")}.`);
      }
    }

    async function activityWorker(activityArn: string): Promise<void> {
      const stage = stages.find((s) => s.activityArn === activityArn)!;
      sfn.callerArn = actingAs(stage.approvers[0]);
      say(
        decide
          ? `  approval worker (npm run approval-worker -- --activity-arn ... --once --decide ${decide}) polls the activity as ${sfn.callerArn}:`
          : `  The approval worker polls the activity as ${sfn.callerArn}; it shows the request and asks for your decision:`,
      );
      const env: Record<string, string> = {
        ...(Object.fromEntries(
          Object.entries(process.env).filter(([key, value]) => !key.startsWith("AWS_") && value !== undefined),
        ) as Record<string, string>),
        AWS_REGION: region,
        AWS_ACCESS_KEY_ID: "AKIASANDBOXAPPROVER",
        AWS_SECRET_ACCESS_KEY: "sandbox-secret",
        AWS_EC2_METADATA_DISABLED: "true",
        ...endpoints,
      };
      const code = await (options.runWorker ?? cliWorker)({
        activityArn,
        decide,
        comment,
        env,
        interactive: !decide,
        say,
      });
      if (code !== 0 && sfn.isWaiting(activityArn))
        throw new SandboxProblem(
          `the approval worker exited with code ${code} without a decision${decide ? "" : " (with no one at the terminal, use --decide approve|reject)"}`,
        );
    }

    /**
     * A slack stage's message is posted: approvers click in it. With `decide`, as many approvers as
     * the quorum needs approve (or the first rejects, with a comment); at the terminal, the person
     * says who clicks what. Either way, `npm run demo -- slack-click` clicks from another terminal.
     */
    async function slackApprover(stage: StageOutput, posted: unknown, ended: Promise<unknown>): Promise<void> {
      const where = posted as { channel?: unknown; ts?: unknown } | undefined;
      const message =
        typeof where?.channel === "string" && typeof where.ts === "string"
          ? slack!.fake.message(where.channel, where.ts)
          : undefined;
      const buttons = message?.blocks?.find((b) => (b as { type?: string }).type === "actions") as
        { elements?: Array<{ value?: unknown }> } | undefined;
      const requestKey = buttons?.elements?.[0]?.value;
      if (!message || typeof requestKey !== "string")
        throw new SandboxProblem(`the start function of stage ${stage.name} posted no message with buttons`);
      let waiting = true;
      void ended.then(() => {
        waiting = false;
      });
      const required = Number(startEnv(stage).SLACK_REQUIRED ?? "1");
      const state: SlackClickState = {
        interactionsUrl: slack!.interactionsUrl,
        answersUrl: slack!.answersUrl,
        teamId: slack!.options.teamId,
        stage: stage.name,
        channel: message.channel,
        messageTs: message.ts,
        requestKey,
        signingSecret: SANDBOX_SLACK_APP.signingSecret,
        approvers: stage.approvers,
        required,
        pid: process.pid,
      };
      const stateFile = options.slackStateFile ?? DEFAULT_SLACK_STATE;
      writeClickState(stateFile, state);
      // Removed when the run ends, and on Ctrl-C (which exits the process).
      const remove = () => removeClickState(stateFile);
      process.once("exit", remove);
      cleanup.push(() => {
        process.off("exit", remove);
        remove();
      });
      say(
        `  Slack: the message waits for clicks (${required} of ${stage.approvers.length} approvers approve; one rejection rejects). From another terminal:`,
      );
      say(
        `    npm run demo -- slack-click --as ${stage.approvers[0]} approve|reject [--comment "..."]${options.slackStateFile ? ` --state ${relative(process.cwd(), stateFile)}` : ""}`,
      );
      say(`    (it signs with the signing secret in ${relative(process.cwd(), stateFile)}, readable only by you)`);
      const show = (result: Awaited<ReturnType<typeof clickAs>>) => {
        if (!result.recorded) say(`  the click changed nothing: ${result.problem}`);
      };
      if (decide) {
        const clickers = decide === "approve" ? stage.approvers.slice(0, required) : stage.approvers.slice(0, 1);
        for (const user of clickers) {
          if (!waiting) break;
          say(`  approver ${user} clicks ${decide === "approve" ? "Approve" : "Reject"}`);
          const result = await clickAs(state, { user, vote: decide, comment });
          show(result);
          if (!result.recorded)
            throw new SandboxProblem(`the click of ${user} on the message of stage ${stage.name} was not counted`);
        }
        return;
      }
      stage.approvers.forEach((a, i) => say(`    ${i + 1}. ${a}`));
      while (waiting) {
        const who = await io.ask(
          `  Who clicks (1-${stage.approvers.length}, another Slack user ID, or Enter to wait for clicks from another terminal)? `,
        );
        if (!waiting) break;
        if (who === null)
          throw new SandboxProblem(
            "input ended before a decision (with no one at the terminal, use --decide approve|reject)",
          );
        const answer = who.trim().toUpperCase();
        if (answer === "") {
          say("  Waiting for clicks from another terminal (npm run demo -- slack-click ...)");
          await ended;
          break;
        }
        const user = /^\d+$/.test(answer)
          ? stage.approvers[Number(answer) - 1]
          : /^[UW][A-Z0-9]{2,63}$/.test(answer)
            ? answer
            : undefined;
        if (!user) {
          say(`  Please answer 1-${stage.approvers.length}, a Slack user ID (U… or W…), or Enter.`);
          continue;
        }
        const vote = (await askWord(`  ${user} clicks approve or reject? `, ["approve", "reject"])) as Decide;
        show(
          await clickAs(state, {
            user,
            vote,
            comment: async (modal) => {
              for (;;) {
                const text = await io.ask(`  ${modal.label}${modal.optional ? " (optional)" : ""} `);
                if (text === null) throw new SandboxProblem("input ended before the comment was given");
                if (text.trim() !== "" || modal.optional) return text.trim();
                say("  The comment is required (Slack does not submit the modal without it).");
              }
            },
          }),
        );
      }
    }

    // ---- the Task states ----
    /** An error the workflow itself sees (a function's error, a task failure), not a sandbox problem. */
    const workflowErrors = new WeakSet<Error>();
    const taskError = (error: string, cause: string) => {
      const thrown = Object.assign(new Error(cause), { name: error });
      workflowErrors.add(thrown);
      return thrown;
    };
    const outcomeOf = (outcome: TaskOutcome) => {
      if ("output" in outcome) return outcome.output;
      throw taskError(outcome.error, outcome.cause);
    };
    const handlers: Record<string, TaskHandler> = {};
    const auditRecords: Array<{ key: string; record: AuditRecord }> = [];
    // The library logs a state as entered just before it calls the Task's handler: a macrotask
    // later, that line has been printed, so the run reads in order.
    const afterLog = () => new Promise((resolve) => setImmediate(resolve));
    for (const [name, state] of Object.entries(taskStates(definition))) {
      const resource = String(state.Resource);
      if (resource === "arn:aws:states:::lambda:invoke.waitForTaskToken") {
        handlers[name] = async (input: { FunctionName: string; Payload?: Record<string, unknown> }) => {
          await afterLog();
          const token = tokensIn(JSON.stringify(input))[0];
          const fn = functionNamed(input.FunctionName);
          if (!token || !fn)
            throw new SandboxProblem(
              `Task '${name}': ${token ? `no function ${input.FunctionName}` : "no task token in its payload"}`,
            );
          const task = sfn.callbackTask(
            name,
            { resourceType: "lambda", resource: "invoke.waitForTaskToken" },
            input,
            token,
          );
          say(
            `  start function ${fn.state.name} (serialized archive) gets the task token, the request and stage '${String(input.Payload?.stage)}'`,
          );
          const run = await invoke(fn, input.Payload);
          // What it asked Slack (a slack stage's message), as Slack would show it.
          slack?.report();
          if (!run.ok) {
            // Step Functions fails the Task with the function's error type and its error response as cause.
            const error = run.response?.errorType ?? run.error?.name ?? "Lambda.Unknown";
            const cause = JSON.stringify({
              errorType: error,
              errorMessage: run.response?.errorMessage ?? run.error?.message,
            });
            say(`  start function failed: ${error}: ${run.response?.errorMessage ?? run.error?.message}`);
            task.failed(error, cause);
            throw taskError(error, cause);
          }
          task.submitted({ ExecutedVersion: "$LATEST", Payload: run.result, StatusCode: 200 });
          const stage = stageNamed(String(input.Payload?.stage));
          if (stage?.mechanism === "slack") pending.push(() => slackApprover(stage, run.result, task.decision));
          flush();
          return outcomeOf(await task.decision);
        };
      } else if (resource === "arn:aws:states:::lambda:invoke") {
        // A function the workflow calls and waits for (no task token), e.g. a follow-up of a stage.
        handlers[name] = async (input: { FunctionName: string; Payload?: unknown }) => {
          await afterLog();
          const fn = functionNamed(input.FunctionName);
          if (!fn) throw new SandboxProblem(`Task '${name}': no function ${input.FunctionName}`);
          say(`  function ${fn.state.name} (serialized archive) runs`);
          const run = await invoke(fn, input.Payload);
          slack?.report();
          if (!run.ok) {
            // As above: the Task fails with the function's error type and its error response as cause.
            const error = run.response?.errorType ?? run.error?.name ?? "Lambda.Unknown";
            throw taskError(
              error,
              JSON.stringify({ errorType: error, errorMessage: run.response?.errorMessage ?? run.error?.message }),
            );
          }
          return { ExecutedVersion: "$LATEST", Payload: run.result, StatusCode: 200 };
        };
      } else if (resource === "arn:aws:states:::sns:publish.waitForTaskToken") {
        handlers[name] = async (publish: { TopicArn: string; Subject?: string; Message: string }) => {
          await afterLog();
          const token = tokensIn(JSON.stringify(publish))[0];
          if (!token) throw new SandboxProblem(`Task '${name}': no task token in its message`);
          const task = sfn.callbackTask(
            name,
            { resourceType: "sns", resource: "publish.waitForTaskToken" },
            publish,
            token,
          );
          say(
            `  Step Functions publishes the state's message to ${publish.TopicArn.split(":").pop()} (sns:publish.waitForTaskToken)`,
          );
          const messageId = sns.publish(
            { topicArn: publish.TopicArn, subject: publish.Subject, message: publish.Message },
            { approval: true },
          );
          task.submitted({ MessageId: messageId });
          flush();
          return outcomeOf(await task.decision);
        };
      } else if (resource === "arn:aws:states:::sns:publish") {
        // Reminders and escalation notices.
        handlers[name] = async (publish: { TopicArn: string; Subject?: string; Message: string }) => {
          await afterLog();
          return {
            MessageId: sns.publish(
              { topicArn: publish.TopicArn, subject: publish.Subject, message: publish.Message },
              { approval: false },
            ),
          };
        };
      } else if (resource === S3_PUT_OBJECT_RESOURCE) {
        // The decision record (docs/audit.md): kept in memory, checked as `approvals export` reads it.
        handlers[name] = async (put: { Bucket: string; Key: string; Body: string }) => {
          await afterLog();
          const parsed = parseAuditRecord(put.Body);
          if ("problem" in parsed)
            throw new SandboxProblem(`Task '${name}' wrote a record that is not whole: ${parsed.problem}`);
          auditRecords.push({ key: put.Key, record: parsed.record });
          say(`  record written to s3://${put.Bucket}/${put.Key}`);
          return { ETag: `"${auditRecords.length}"`, VersionId: `sandbox-${auditRecords.length}` };
        };
      } else if (sfn.activities.has(resource)) {
        handlers[name] = async (input: unknown) => {
          await afterLog();
          const decision = sfn.activityTask(
            name,
            resource,
            input,
            seconds(state.HeartbeatSeconds),
            seconds(state.TimeoutSeconds),
          );
          say(`  activity ${resource.split(":").pop()}: the task waits for a worker (GetActivityTask)`);
          act(() => activityWorker(resource));
          return outcomeOf(await decision);
        };
      } else {
        handlers[name] = async () => {
          throw new SandboxProblem(`the sandbox cannot run Task '${name}' (${resource})`);
        };
      }
    }

    // Anything else a Task handler throws is the sandbox's own failure: the run ends as a problem.
    for (const [name, handler] of Object.entries(handlers)) {
      handlers[name] = async (input) => {
        try {
          return await handler(input);
        } catch (error) {
          if (!(error instanceof Error && workflowErrors.has(error)))
            fail(`Task '${name}': ${(error as Error).message}`);
          throw error;
        }
      };
    }

    say(`Request ${relative(process.cwd(), inputFile)}: ${JSON.stringify(request).slice(0, 200)}`);
    say(
      `Execution ${executionName} starts${outputs.aliasArn ? ` through the alias ${outputs.aliasArn.split(":").pop()} (output aliasArn), version 1,` : ""} on aws-local-stepfunctions${decide ? `; every stage is answered "${decide}" by the sandbox` : ""}.`,
    );
    const guard = decide
      ? setTimeout(
          () => fail(`the run did not end within ${options.decideTimeoutSeconds ?? 300} s`),
          (options.decideTimeoutSeconds ?? 300) * 1000,
        )
      : undefined;
    cleanup.push(() => guard && clearTimeout(guard));
    const onEvent = (event: RunEvent) => {
      if (!event.state) return;
      if (event.type === "StateEntered") {
        const stage = stageOfStateName(event.state.name);
        say(
          `-> ${event.state.name}${event.state.type === "Task" && stage ? ` (stage ${stage}, ${stageNamed(stage)?.mechanism ?? "?"})` : ""}`,
        );
      } else if (event.state.type === "Task" && (event.type === "StateExited" || event.type === "StateFailed")) {
        sfn.stateEnded(event.state.name, event.type === "StateExited" ? "exited" : "failed");
        if (event.type === "StateFailed")
          say(`   ${event.state.name} failed: ${event.Error}${event.Cause ? `: ${event.Cause.slice(0, 300)}` : ""}`);
      }
    };
    const run = await runDefinition(definition, request, {
      taskHandlers: handlers,
      // Every Task gets a token of its own, as in Step Functions.
      taskToken: () => sfn.nextToken(),
      executionArn,
      stateEnteredTime: new Date().toISOString(),
      onEvent,
    });
    sfn.ended(run.status, { output: run.output, error: run.error, cause: run.cause });
    // Approvers finish what they were doing (a worker printing its confirmation, a result function
    // answering a later event); a person still being asked is not waited for long.
    await Promise.race([
      Promise.allSettled(acting),
      new Promise((resolve) => setTimeout(resolve, decide ? 15000 : 5000).unref()),
    ]);
    finished = true;

    say("");
    say(`Final output (execution ${run.status}):`);
    if (run.status === "SUCCEEDED") say(JSON.stringify(run.output, null, 2));
    else say(`  ${run.error}: ${run.cause}`);
    if (emails > 0) say(`Emails of this run (${emails}): ${relative(process.cwd(), emailFolder)}/`);
    if (problem) return { code: 2, run, problem, emailFolder };
    const approved = run.status === "SUCCEEDED" && run.output?.approved === true;
    say(
      approved
        ? `APPROVED (${run.output.decision})`
        : `NOT APPROVED (${run.status === "SUCCEEDED" ? run.output?.decision : run.status})`,
    );
    return { code: approved ? 0 : 1, run, emailFolder };
  } catch (error) {
    const why =
      error instanceof SandboxProblem ? error.message : `${(error as Error).name}: ${(error as Error).message}`;
    problem = problem ?? why;
    say(`SANDBOX PROBLEM: ${problem}`);
    return { code: 2, problem };
  } finally {
    for (const step of cleanup.reverse()) {
      try {
        await step();
      } catch {
        // best effort: the run's outcome is already known
      }
    }
    say(NOT_AWS);
  }
}
