// The load run (npm run load): N requests at once through one mechanism's REAL workflow: the
// stack's generated definition on aws-local-stepfunctions, the serialized start, result, page and
// interaction functions in child processes (tests/helpers/serializedHandler.ts), and the sandbox's
// service models (scripts/demo/) behind fakes that enforce the documented quotas of ./quotas.ts.
// Approvers are simulated: once a request reached its approver, the approver decides after a
// random delay through the mechanism's real result path. Time is simulated (./clock.ts).
//
// It is a model, not AWS: it shows which of our own and AWS's documented ceilings a burst reaches
// and whether every request still ends with a reason; it proves nothing about AWS itself.
/* eslint-disable @typescript-eslint/no-explicit-any -- stage outputs, ASL states and fake request bodies are JSON of many shapes */
import { readFileSync, rmSync } from "fs";
import { join } from "path";
import { SFNClient } from "@aws-sdk/client-sfn";
import { STSClient } from "@aws-sdk/client-sts";
import { tokensIn } from "../../functions/mechanisms/email/approvalPage";
import { AwsError, FakeAws, OperationHandler, RawAnswer, callerIdentityXml } from "../../tests/helpers/fakeAws";
import { ratelimited } from "../../tests/helpers/fakeSlack";
import { RunEvent, TaskHandler, runDefinition } from "../../tests/helpers/localStateMachine";
import { PageServer, startPageServer } from "../../tests/helpers/pageServer";
import { RecordedResource, archiveFiles, ofType, runProgram } from "../../tests/helpers/pulumiMocks";
import { HandlerRun, invokeArchive, writeArchive } from "../../tests/helpers/serializedHandler";
import { stackConfig } from "../../tests/helpers/stackConfig";
import { ApprovalWorker, WorkerIO } from "../lib/approvalWorker";
import { approvalActionEvent, automationStepEvent, pipelineFailedEvent } from "../demo/events";
import {
  Automation,
  Delivery,
  PipelineExecution,
  SandboxCodePipeline,
  SandboxSns,
  SandboxSsm,
  SandboxTables,
  approveStepOf,
} from "../demo/services";
import { SANDBOX_SLACK_APP, SandboxSecretsManager, SandboxSlack, withSandboxSlackApp } from "../demo/slack";
import { SlackClickState, clickAs } from "../demo/slackClick";
import { SandboxStepFunctions, TaskOutcome } from "../demo/stepFunctions";
import { CHILD_TIMERS, VirtualClock, installLibraryTimers } from "./clock";
import { LoadQuotas, Quota, TokenBucket, defaultQuotas } from "./quotas";

export const MECHANISMS = [
  "ssm-automation",
  "codepipeline",
  "activity",
  "email-link",
  "sns-callback",
  "slack",
] as const;
export type Mechanism = (typeof MECHANISMS)[number];

export interface LoadOptions {
  mechanism: Mechanism;
  requests: number;
  quotas?: LoadQuotas;
  /** An approver decides this many simulated seconds after the request reached them (uniform). */
  approverDelaySeconds?: [number, number];
  /** Child processes per function at most (the machine's limit, not Lambda's: invocations take no simulated time). */
  processesPerFunction?: number;
  /** Seed of the approvers' random delays. */
  seed?: number;
  /** A progress line (stderr). */
  progress?: (line: string) => void;
}

export interface Ceiling {
  quota: string;
  limit: string;
  source: string;
  refused: number;
  /** Simulated seconds at the first refusal (or the first wait in a queue). */
  firstAtSeconds: number;
  /** Requests open (started, not ended) at that moment. */
  openRequests: number;
}

export interface MechanismReport {
  mechanism: Mechanism;
  requests: number;
  started: number;
  /** Most requests waiting for capacity at once: a Task between a failed attempt and its retry, an SSM automation Pending, an email not yet delivered, StartExecution refused. */
  waitingPeak: number;
  reachedApprover: number;
  decided: number;
  timedOut: number;
  failed: Record<string, number>;
  lost: number;
  /** Simulated seconds from the burst to the last request that reached its approver. */
  lastReachedApproverSeconds: number | null;
  simulatedSeconds: number;
  realSeconds: number;
  retries: number;
  approverRetries: number;
  awsCalls: Record<string, number>;
  awsCallsPerDecision: number | null;
  slackCalls: Record<string, number>;
  ceilings: Ceiling[];
  notes: string[];
}

/** The stage each run configures: one stage of the mechanism, a one-day timeout. */
function stageConfig(mechanism: Mechanism): Record<string, unknown> {
  const role = "arn:aws:iam::123456789012:role/ReleaseApprover";
  const base = { name: "load", mechanism, timeout: "1d" };
  switch (mechanism) {
    case "ssm-automation":
    case "codepipeline":
    case "activity":
      return { ...base, approvers: [role] };
    case "email-link":
    case "sns-callback":
      return { ...base, approvers: ["approver@example.com"] };
    case "slack":
      return { ...base, approvers: ["U0000000001", "U0000000002"], minRequiredApprovals: 1, channel: "C0123456789" };
  }
}

export function loadConfig(mechanism: Mechanism): Record<string, string> {
  return withSandboxSlackApp(
    stackConfig("dev", {
      "sfn-approvals:stages": [stageConfig(mechanism)],
      "sfn-approvals:autoApproveBelow": undefined,
      "sfn-approvals:audit": "false",
    }),
  );
}

/** A small seeded generator (mulberry32), so a run's approver delays repeat. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** At most `limit` at once; the rest wait in order. */
class Gate {
  private active = 0;
  private readonly queue: Array<() => void> = [];
  constructor(private readonly limit: number) {}
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.active += 1;
    try {
      return await task();
    } finally {
      this.active -= 1;
      this.queue.shift()?.();
    }
  }
}

interface RequestState {
  index: number;
  executionArn: string;
  sfn: SandboxStepFunctions;
  started: boolean;
  waiting: Set<string>;
  reachedAt?: number;
  ended?: "decided" | "timed_out" | "failed" | "lost";
  error?: string;
  cause?: string;
}

/** Error names a Task retries for capacity (H1's Retry lists may name more; any retried error counts as waiting). */
const PROGRESS_EVERY_MS = 2000;

export async function runLoad(options: LoadOptions): Promise<MechanismReport> {
  const { mechanism, requests: n } = options;
  const quotas = options.quotas ?? defaultQuotas();
  const [delayMin, delayMax] = options.approverDelaySeconds ?? [5, 60];
  const rand = random(options.seed ?? 17);
  const approverDelayMs = () => (delayMin + rand() * (delayMax - delayMin)) * 1000;
  const progress = options.progress ?? (() => undefined);
  const notes: string[] = [];
  const cleanup: Array<() => unknown> = [];
  const realStart = Date.now();
  const clock = new VirtualClock();

  const { resources, outputs } = await runProgram("dev", loadConfig(mechanism));
  const stage = (outputs.stages as any[])[0];
  const machine = ofType(resources, "aws:sfn/stateMachine:StateMachine")[0];
  const functions = ofType(resources, "aws:lambda/function:Function");
  const account = String(outputs.stateMachineArn).split(":")[4];
  const region = String(outputs.region);

  const removeTimers = installLibraryTimers(clock);
  cleanup.push(removeTimers);
  try {
    // ---- fakes ----
    const names = ["sfn", "ssm", "codepipeline", "sns", "dynamodb", "secretsmanager", "other"] as const;
    const apis = Object.fromEntries(
      await Promise.all(
        names.map(async (name) => {
          const aws = new FakeAws();
          await aws.start();
          cleanup.push(() => aws.stop());
          return [name, aws] as const;
        }),
      ),
    ) as Record<(typeof names)[number], FakeAws>;
    apis.other.otherwise(() => new AwsError("LoadRunUnknownService", "the load run does not model this service"));
    const endpoints: Record<string, string> = {
      AWS_ENDPOINT_URL: apis.other.url,
      AWS_ENDPOINT_URL_SFN: apis.sfn.url,
      AWS_ENDPOINT_URL_STS: apis.sfn.url,
      AWS_ENDPOINT_URL_SSM: apis.ssm.url,
      AWS_ENDPOINT_URL_CODEPIPELINE: apis.codepipeline.url,
      AWS_ENDPOINT_URL_SNS: apis.sns.url,
      AWS_ENDPOINT_URL_DYNAMODB: apis.dynamodb.url,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: apis.secretsmanager.url,
    };
    const childEnv = { NODE_OPTIONS: `--require ${CHILD_TIMERS}`, LOAD_TIME_FACTOR: "1000" };

    const requests: RequestState[] = [];
    const openRequests = () => requests.filter((r) => r.started && !r.ended).length;
    const ceilings = new Map<string, Ceiling>();
    const refusedBy = (quota: Quota, label: string) => {
      const c = ceilings.get(label);
      if (c) c.refused += 1;
      else
        ceilings.set(label, {
          quota: label,
          limit:
            quota.perSecond !== undefined
              ? `${quota.limit} burst, ${round(quota.perSecond)}/s`
              : `${quota.limit} at once`,
          source: quota.source,
          refused: 1,
          firstAtSeconds: clock.now / 1000,
          openRequests: openRequests(),
        });
    };
    const bucket = (quota: Quota) => new TokenBucket(quota, clock);
    /** A FakeAws whose handlers are wrapped (quota checks before the model answers). */
    const guarded = (aws: FakeAws, guard: (operation: string, body: any) => AwsError | undefined): FakeAws => {
      const proxy = {
        on: (operation: string, handler: OperationHandler) => {
          aws.on(operation, (body, request) => guard(operation, body) ?? handler(body, request));
          return proxy;
        },
      };
      return proxy as unknown as FakeAws;
    };

    // Waiting for capacity: by request, the reasons it waits now; the peak of requests waiting.
    let waitingPeak = 0;
    let waitingNow = 0;
    const wait = (r: RequestState, why: string, on: boolean) => {
      const before = r.waiting.size > 0;
      if (on) r.waiting.add(why);
      else r.waiting.delete(why);
      const after = r.waiting.size > 0;
      if (before !== after) waitingNow += after ? 1 : -1;
      waitingPeak = Math.max(waitingPeak, waitingNow);
    };
    const reached = (r: RequestState | undefined) => {
      if (r && r.reachedAt === undefined) r.reachedAt = clock.now;
    };

    // ---- Lambda: serialized archives, Lambda's concurrency quota ----
    let inFlight = 0;
    let peakInFlight = 0;
    const archives = new Map<string, Promise<{ dir: string; gate: Gate }>>();
    const pageUrl = outputs.approvalPageUrl ? String(outputs.approvalPageUrl) : undefined;
    let page: PageServer | undefined;
    const local = (text: string) =>
      page && pageUrl ? text.split(pageUrl.replace(/\/decide$/, "")).join(page.url.replace(/\/decide$/, "")) : text;
    const functionNamed = (name: unknown) => functions.find((f) => f.state.name === name || f.state.arn === name);
    /** The start function's calls are signed by a session of its role (as in the sandbox). */
    const starterSession = () => {
      const fn = functionNamed(stage.startFunctionName);
      return `arn:aws:sts::${account}:assumed-role/${String(fn?.inputs.role ?? "unknown")
        .split("/")
        .pop()}/${fn?.state.name}`;
    };
    const lambdaConcurrency = quotas.lambdaConcurrency;
    class Throttled extends Error {}
    /** Invokes a function from its archive; Lambda refuses beyond its concurrency quota. */
    const invoke = (fn: RecordedResource, event: unknown): Promise<HandlerRun> =>
      clock.work(async () => {
        if (inFlight >= lambdaConcurrency.limit) {
          refusedBy(lambdaConcurrency, "Lambda concurrency");
          throw new Throttled("Rate Exceeded.");
        }
        inFlight += 1;
        peakInFlight = Math.max(peakInFlight, inFlight);
        try {
          // One archive and one gate per function (kept as a promise: 500 first calls arrive together).
          let archive = archives.get(fn.name);
          if (!archive) {
            archive = archiveFiles(fn).then((files) => {
              const dir = writeArchive(files);
              cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
              return { dir, gate: new Gate(options.processesPerFunction ?? 2) };
            });
            archives.set(fn.name, archive);
          }
          const variables = Object.fromEntries(
            Object.entries<string>(fn.inputs.environment?.variables ?? {}).map(([k, v]) => [k, local(String(v))]),
          );
          const { dir, gate } = await archive;
          return await gate.run(() => invokeArchive(dir, event, { ...variables, ...endpoints, ...childEnv }));
        } finally {
          inFlight -= 1;
        }
      });

    // ---- Step Functions: one sandbox model per execution, behind one endpoint ----
    const byArn = new Map<string, { r: RequestState; handlers: Record<string, OperationHandler> }>();
    const byToken = new Map<string, RequestState>();
    const activityQueue: RequestState[] = [];
    const sfnBuckets: Record<string, TokenBucket> = {
      SendTaskSuccess: bucket(quotas.sendTask),
      SendTaskFailure: bucket(quotas.sendTask),
      SendTaskHeartbeat: bucket(quotas.sendTask),
      GetActivityTask: bucket(quotas.sendTask),
      GetExecutionHistory: bucket(quotas.getExecutionHistory),
      DescribeExecution: bucket(quotas.describeExecution),
    };
    const sfnQuota: Record<string, Quota> = {
      SendTaskSuccess: quotas.sendTask,
      SendTaskFailure: quotas.sendTask,
      SendTaskHeartbeat: quotas.sendTask,
      GetActivityTask: quotas.sendTask,
      GetExecutionHistory: quotas.getExecutionHistory,
      DescribeExecution: quotas.describeExecution,
    };
    const handlersOf = (r: RequestState | undefined, operation: string): OperationHandler | undefined =>
      r ? byArn.get(r.executionArn)?.handlers[operation] : undefined;
    for (const operation of Object.keys(sfnBuckets)) {
      apis.sfn.on(operation, async (body, request) => {
        if (!sfnBuckets[operation].take()) {
          refusedBy(sfnQuota[operation], `Step Functions ${operation}`);
          // Step Functions has no modeled throttle error; the SDK names the wire code (brief §1).
          return new AwsError("ThrottlingException", "Rate exceeded");
        }
        if (operation === "GetActivityTask") {
          while (activityQueue.length > 0) {
            const r = activityQueue.shift()!;
            const answer = (await handlersOf(r, operation)!(body, request)) as { taskToken?: string };
            if (answer?.taskToken) {
              byToken.set(answer.taskToken, r);
              reached(r);
              return answer;
            }
          }
          return {};
        }
        const owner = body.executionArn ? byArn.get(String(body.executionArn))?.r : byToken.get(String(body.taskToken));
        const handler = handlersOf(owner, operation);
        if (!handler)
          return body.executionArn
            ? new AwsError("ExecutionDoesNotExist", `Execution Does Not Exist: '${String(body.executionArn)}'`)
            : new AwsError("TaskDoesNotExist", "Task Does Not Exist");
        return handler(body, request);
      });
    }
    apis.sfn.on("GetCallerIdentity", () =>
      callerIdentityXml("arn:aws:sts::123456789012:assumed-role/ReleaseApprover/load-approver", account),
    );

    // ---- SNS: Publish TPS, email delivery 10/s ----
    const snsPublish = bucket(quotas.snsPublish);
    let emailFreeAt = 0;
    const subscribers = (topicArn: string) =>
      Math.max(
        1,
        ofType(resources, "aws:sns/topicSubscription:TopicSubscription").filter((s) => s.inputs.topic === topicArn)
          .length,
      );
    /** The request a message is about: its title ("Load request N") is in every summary. */
    const requestNamed = (text: string): RequestState | undefined => {
      const match = /Load request (\d+)\b/.exec(text);
      return match ? requests[Number(match[1]) - 1] : undefined;
    };
    let emailQueued = false;
    const deliver = (delivery: Delivery, how: { approval: boolean }) => {
      if (!how.approval) return;
      // One message per subscriber, at most snsEmail per second (hard quota): later ones wait.
      const r = requestNamed(delivery.message);
      const at = Math.max(clock.now, emailFreeAt);
      emailFreeAt = at + (subscribers(delivery.topicArn) * 1000) / quotas.snsEmail.perSecond!;
      if (at > clock.now && r) {
        if (!emailQueued) {
          emailQueued = true;
          ceilings.set("SNS email delivery", {
            quota: "SNS email delivery",
            limit: `${quotas.snsEmail.limit}/s`,
            source: quotas.snsEmail.source,
            refused: 0,
            firstAtSeconds: clock.now / 1000,
            openRequests: openRequests(),
          });
        }
        ceilings.get("SNS email delivery")!.refused += 1;
        wait(r, "email", true);
      }
      const links = page ? (delivery.message.match(/http:\/\/127\.0\.0\.1:\d+\/decide\?\S+/g) ?? []) : [];
      clock.setTimeout(() => {
        if (r) wait(r, "email", false);
        reached(r);
        // The page reads only the last link of a message; so does its approver.
        if (links.length > 0)
          clock.setTimeout(() => background(() => emailApprover(links[links.length - 1], r)), approverDelayMs());
      }, at - clock.now);
    };
    const topics = new Set(ofType(resources, "aws:sns/topic:Topic").map((t) => String(t.state.arn)));
    const sns = new SandboxSns(topics, deliver);
    sns.serve(
      guarded(apis.sns, (operation) => {
        if (operation !== "Publish" || snsPublish.take()) return undefined;
        refusedBy(quotas.snsPublish, "SNS Publish");
        // What a throttled Publish answers (https://repost.aws/knowledge-center/sns-throttling-exception-errors).
        return new AwsError("ThrottlingException", "Rate exceeded");
      }),
    );

    // ---- DynamoDB: on-demand table throughput ----
    const tables = new SandboxTables();
    for (const table of ofType(resources, "aws:dynamodb/table:Table")) {
      if (table.inputs.hashKey === "codeHash") tables.addCodeTable(String(table.state.name));
      else if (table.inputs.hashKey === "approvalKey") tables.addTokenTable(String(table.state.name));
      else if (table.inputs.hashKey === "keyHash") tables.addSlackRequestTable(String(table.state.name));
    }
    const tableBuckets = new Map<string, { write: TokenBucket; read: TokenBucket }>();
    tables.serve(
      guarded(apis.dynamodb, (operation, body) => {
        const name = String(body.TableName);
        let b = tableBuckets.get(name);
        if (!b) tableBuckets.set(name, (b = { write: bucket(quotas.dynamoWrite), read: bucket(quotas.dynamoRead) }));
        const write = operation !== "GetItem";
        // A unit per KB written (1 KB) or read (4 KB, strongly consistent), as the developer guide counts them.
        const size = JSON.stringify(body).length;
        const ok = write ? b.write.take(Math.ceil(size / 1024)) : b.read.take(Math.ceil(size / 4096));
        if (ok) return undefined;
        refusedBy(write ? quotas.dynamoWrite : quotas.dynamoRead, `DynamoDB ${write ? "writes" : "reads"}`);
        return new AwsError("ProvisionedThroughputExceededException", "Throughput exceeds the current capacity");
      }),
    );
    new SandboxSecretsManager(resources).serve(apis.secretsmanager);

    // ---- the approval page behind its API Gateway throttle ----
    const pageFn = functions.find((f) => f.name === "approval-page-handler-fn");
    if (pageUrl && pageFn) {
      const pageBucket = bucket(quotas.approvalPage);
      page = await startPageServer(async (event) => {
        if (!pageBucket.take()) {
          refusedBy(quotas.approvalPage, "approval page (API Gateway)");
          // API Gateway's answer to a throttled request.
          return {
            statusCode: 429,
            headers: { "content-type": "application/json" },
            body: '{"message":"Too Many Requests"}',
          };
        }
        const run = await invoke(pageFn, event);
        if (!run.ok) throw new Error(`page function failed: ${run.error?.name}`);
        return run.result;
      });
      cleanup.push(() => page!.close());
    }

    // ---- approvers ----
    let approverRetries = 0;
    /** The run is over: approvers still acting stop. */
    let over = false;
    const endFor = (r: RequestState | undefined) => over || r?.ended !== undefined;
    /** An approver's or the services' own action: a failure is noted, never silent. */
    const background = (action: () => Promise<void>) => {
      action().catch((error: unknown) => {
        if (!over) notes.push(`load run: ${(error as Error).message}`);
      });
    };
    const resultFunction = async (event: unknown, r: RequestState | undefined) => {
      const fn = functionNamed(stage.resultFunctionName);
      if (!fn) throw new Error("the stage has no result function");
      // EventBridge retries a throttled or failed target; the function then reads what changed.
      for (let attempt = 1; ; attempt++) {
        try {
          const run = await invoke(fn, event);
          if (run.ok) return;
          if (attempt >= 3) {
            notes.push(`result function failed for request ${r?.index}: ${run.error?.name}: ${run.error?.message}`);
            return;
          }
        } catch (error) {
          if (!(error instanceof Throttled)) throw error;
        }
        await clock.sleep(60000 * attempt);
      }
    };

    async function emailApprover(link: string, r: RequestState | undefined): Promise<void> {
      for (let attempt = 0; attempt < 30 && !endFor(r); attempt++) {
        if (attempt > 0) {
          approverRetries += 1;
          // A person whose press failed tries again a little later.
          await clock.sleep(approverDelayMs() / 4);
        }
        const ok = await clock.work(async () => {
          const shown = await fetch(local(link));
          const html = await shown.text();
          if (shown.status !== 200) return false;
          const hidden = Object.fromEntries(
            [...html.matchAll(/<input type="hidden" name="(\w+)" value="([^"]*)">/g)].map((m) => [
              m[1],
              m[2].replace(/&#(\d+);/g, (_, c) => String.fromCharCode(Number(c))).replace(/&amp;/g, "&"),
            ]),
          );
          const posted = await fetch(page!.url, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body: new URLSearchParams({
              ...hidden,
              name: "Load approver",
              comment: "",
              decision: "approve",
            }).toString(),
          });
          await posted.text();
          return posted.status === 200;
        });
        if (ok) return;
      }
    }

    // Systems Manager: 100 running automations, the rest Pending in a queue of 5,000.
    const running = new Set<Automation>();
    const pending: Automation[] = [];
    const automationOwner = new Map<Automation, RequestState | undefined>();
    const runbooks = new Map(
      ofType(resources, "aws:ssm/document:Document")
        .filter((d) => d.inputs.documentType === "Automation")
        .map((d) => [String(d.state.name), approveStepOf(String(d.state.name), String(d.inputs.content))] as const),
    );
    const runAutomation = (automation: Automation) => {
      running.add(automation);
      const r = automationOwner.get(automation);
      if (r) wait(r, "ssm-pending", false);
      reached(r);
      clock.setTimeout(() => {
        background(async () => {
          if (automation.stepStatus === "Waiting") ssm.signal(automation, automation.step.approvers[0], "Approve", "");
          running.delete(automation);
          // "When an automation is complete ..., the first automation in the queue is started" (automation-concepts).
          const next = pending.shift();
          if (next) runAutomation(next);
          await resultFunction(automationStepEvent(automation, account, region), r);
        });
      }, approverDelayMs());
    };
    const ssm = new SandboxSsm(runbooks, starterSession, (automation) => {
      const owner = byArn.get(String(automation.parameters.ExecutionArn?.[0]))?.r;
      automationOwner.set(automation, owner);
      if (running.size < quotas.ssmConcurrent.limit) runAutomation(automation);
      else {
        refusedBy(quotas.ssmConcurrent, "SSM running automations (queued as Pending)");
        pending.push(automation);
        if (owner) wait(owner, "ssm-pending", true);
      }
    });
    ssm.serve(
      guarded(apis.ssm, (operation, body) => {
        if (operation !== "StartAutomationExecution") return undefined;
        const repeat = body.ClientToken && ssm.automations.some((a) => a.clientToken === body.ClientToken);
        if (repeat || running.size + pending.length < quotas.ssmConcurrent.limit + quotas.ssmQueue.limit)
          return undefined;
        refusedBy(quotas.ssmQueue, "SSM automation queue");
        return new AwsError(
          "AutomationExecutionLimitExceededException",
          "The number of simultaneously running Automation executions exceeded the allowable limit.",
        );
      }),
    );

    // CodePipeline: executions in progress per pipeline, refused beyond.
    const pipeline = new SandboxCodePipeline(
      new Set(ofType(resources, "aws:codepipeline/pipeline:Pipeline").map((p) => String(p.state.name))),
      starterSession,
      (execution: PipelineExecution) => {
        const name = execution.variables.find((v) => v.name === "ExecutionName")?.value;
        const r = requests.find((q) => q.executionArn.endsWith(`:${String(name)}`));
        reached(r);
        clock.setTimeout(() => {
          background(async () => {
            pipeline.putApprovalResult(
              execution,
              "arn:aws:sts::123456789012:assumed-role/ReleaseApprover/load",
              "Approved",
              "",
            );
            await resultFunction(approvalActionEvent(execution, account, region), r);
            if (execution.status === "Failed") await resultFunction(pipelineFailedEvent(execution, account, region), r);
          });
        }, approverDelayMs());
      },
    );
    pipeline.serve(
      guarded(apis.codepipeline, (operation, body) => {
        if (operation !== "StartPipelineExecution") return undefined;
        const same = pipeline.executions.filter((e) => e.pipelineName === body.name);
        if (body.clientRequestToken && same.some((e) => e.clientRequestToken === body.clientRequestToken))
          return undefined;
        if (same.filter((e) => e.status === "InProgress").length < quotas.pipelineConcurrent.limit) return undefined;
        refusedBy(quotas.pipelineConcurrent, "CodePipeline executions in progress");
        return new AwsError(
          "ConcurrentPipelineExecutionsLimitExceededException",
          "The pipeline has reached the limit for concurrent pipeline executions.",
        );
      }),
    );

    // Slack: one post per second per channel, Tier 3 and Tier 4 methods per minute.
    let slack: SandboxSlack | undefined;
    if (mechanism === "slack") {
      const start = functionNamed(stage.startFunctionName)!;
      const startEnv = start.inputs.environment.variables;
      const interactions = functions.find(
        (f) =>
          f.inputs.environment?.variables?.SLACK_TEAM_ID !== undefined &&
          f.inputs.environment?.variables?.SLACK_TABLE === startEnv.SLACK_TABLE,
      )!;
      slack = new SandboxSlack(() => undefined, {
        teamId: String(interactions.inputs.environment.variables.SLACK_TEAM_ID),
        channels: [String(startEnv.SLACK_CHANNEL)],
        approvers: stage.approvers,
      });
      await slack.start(async (event) => {
        const run = await invoke(interactions, event);
        if (!run.ok) throw new Error(`${run.error?.name}: ${run.error?.message}`);
        return run.result;
      });
      cleanup.push(() => slack!.stop());
      endpoints.SLACK_API_URL = slack.fake.apiUrl;
      const perChannel = new Map<string, TokenBucket>();
      const tier3 = bucket(quotas.slackTier3);
      const tier4 = bucket(quotas.slackTier4);
      const fake = slack.fake as unknown as { answer: (...args: any[]) => unknown; fail: FakeSlackFail };
      const answer = fake.answer.bind(fake);
      fake.answer = (call: { method: string; body: any }, ...rest: unknown[]) => {
        let limit: { b: TokenBucket; q: Quota; label: string } | undefined;
        if (call.method === "chat.postMessage") {
          const channel = String(call.body?.channel);
          let b = perChannel.get(channel);
          if (!b) perChannel.set(channel, (b = bucket(quotas.slackPost)));
          limit = { b, q: quotas.slackPost, label: "Slack chat.postMessage per channel" };
        } else if (call.method === "chat.update") limit = { b: tier3, q: quotas.slackTier3, label: "Slack Tier 3" };
        else if (["views.open", "users.info", "chat.postEphemeral"].includes(call.method))
          limit = { b: tier4, q: quotas.slackTier4, label: "Slack Tier 4" };
        if (limit && !limit.b.take()) {
          refusedBy(limit.q, limit.label);
          fake.fail(call.method, ratelimited(limit.b.secondsUntilToken()));
        }
        return answer(call, ...rest);
      };
    }
    const slackApprover = async (posted: unknown, r: RequestState) => {
      const where = posted as { channel?: unknown; ts?: unknown } | undefined;
      const message =
        typeof where?.channel === "string" && typeof where.ts === "string"
          ? slack!.fake.message(where.channel, where.ts)
          : undefined;
      const buttons = message?.blocks?.find((b) => (b as { type?: string }).type === "actions") as
        { elements?: Array<{ value?: unknown }> } | undefined;
      const requestKey = buttons?.elements?.[0]?.value;
      if (!message || typeof requestKey !== "string") {
        notes.push(`request ${r.index}: the start function posted no message with buttons`);
        return;
      }
      reached(r);
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
        required: 1,
        pid: process.pid,
      };
      await clock.sleep(approverDelayMs());
      for (let attempt = 0; attempt < 30 && !endFor(r); attempt++) {
        if (attempt > 0) {
          approverRetries += 1;
          await clock.sleep(approverDelayMs() / 4);
        }
        const result = await clock.work(() =>
          clickAs(state, { user: stage.approvers[0], vote: "approve", comment: "" }),
        );
        if (result.recorded) return;
      }
    };

    // Activity: the approval worker (scripts/lib/approvalWorker.ts) polls once the approver runs it.
    const activityWorker = async () => {
      const credentials = { accessKeyId: "AKIALOADAPPROVER", secretAccessKey: "load-secret" };
      const sfn = new SFNClient({ region, endpoint: apis.sfn.url, credentials, maxAttempts: 1 });
      const sts = new STSClient({ region, endpoint: apis.sfn.url, credentials, maxAttempts: 1 });
      const io: WorkerIO = {
        say: () => undefined,
        warn: () => undefined,
        ask: async () => null,
        cancelQuestion: () => undefined,
        inputEnded: () => true,
      };
      for (let attempt = 0; attempt < 30 && !over; attempt++) {
        if (attempt > 0) {
          approverRetries += 1;
          await clock.sleep(approverDelayMs() / 4);
        }
        const worker = new ApprovalWorker(sfn, sts, io, {
          activityArn: stage.activityArn,
          workerName: "load-worker",
          decide: "approve",
          comment: "",
          heartbeatEverySeconds: 30,
          maxPollFailures: 1,
          retryBaseMs: 1,
        });
        const outcome = await clock.work(() => worker.run(true));
        if (outcome === "approved" || outcome === "rejected") return;
      }
    };

    // ---- the Task states ----
    const definition = JSON.parse(local(machine.inputs.definition));
    const taskError = (error: string, cause: string) => Object.assign(new Error(cause), { name: error });
    const outcomeOf = (outcome: TaskOutcome) => {
      if ("output" in outcome) return outcome.output;
      throw taskError(outcome.error, outcome.cause);
    };
    const taskStates = (scope: any, found: Record<string, any> = {}) => {
      for (const [name, state] of Object.entries<any>(scope.States ?? {})) {
        if (state.Type === "Task") found[name] = state;
        if (state.Type === "Parallel") for (const branch of state.Branches ?? []) taskStates(branch, found);
      }
      return found;
    };
    const handlersFor = (r: RequestState): Record<string, TaskHandler> => {
      const handlers: Record<string, TaskHandler> = {};
      for (const [name, state] of Object.entries<any>(taskStates(definition))) {
        const resource = String(state.Resource);
        if (resource === "arn:aws:states:::lambda:invoke.waitForTaskToken") {
          handlers[name] = async (input: { FunctionName: string; Payload?: Record<string, unknown> }) => {
            const token = tokensIn(JSON.stringify(input))[0];
            const fn = functionNamed(input.FunctionName);
            if (!token || !fn) throw taskError("LoadRunProblem", `Task '${name}': no token or function`);
            const task = r.sfn.callbackTask(
              name,
              { resourceType: "lambda", resource: "invoke.waitForTaskToken" },
              input,
              token,
            );
            let run: HandlerRun;
            try {
              run = await invoke(fn, input.Payload);
            } catch (error) {
              if (!(error instanceof Throttled)) throw error;
              // "When Lambda hits the maximum number of invocations, the error is Lambda.TooManyRequestsException"
              // (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html).
              task.failed("Lambda.TooManyRequestsException", "Rate Exceeded.");
              throw taskError("Lambda.TooManyRequestsException", "Rate Exceeded.");
            }
            if (!run.ok) {
              const error = run.response?.errorType ?? run.error?.name ?? "Lambda.Unknown";
              const cause = JSON.stringify({
                errorType: error,
                errorMessage: run.response?.errorMessage ?? run.error?.message,
              });
              task.failed(error, cause);
              throw taskError(error, cause);
            }
            task.submitted({ ExecutedVersion: "$LATEST", Payload: run.result, StatusCode: 200 });
            if (mechanism === "slack") background(() => slackApprover(run.result, r));
            return outcomeOf(await task.decision);
          };
        } else if (resource === "arn:aws:states:::lambda:invoke") {
          handlers[name] = async (input: { FunctionName: string; Payload?: unknown }) => {
            const fn = functionNamed(input.FunctionName);
            if (!fn) throw taskError("LoadRunProblem", `Task '${name}': no function ${input.FunctionName}`);
            const run = await invoke(fn, input.Payload).catch((error: unknown) => {
              if (error instanceof Throttled) throw taskError("Lambda.TooManyRequestsException", "Rate Exceeded.");
              throw error;
            });
            if (!run.ok) {
              const error = run.response?.errorType ?? run.error?.name ?? "Lambda.Unknown";
              throw taskError(error, JSON.stringify({ errorType: error, errorMessage: run.response?.errorMessage }));
            }
            return { ExecutedVersion: "$LATEST", Payload: run.result, StatusCode: 200 };
          };
        } else if (resource.startsWith("arn:aws:states:::sns:publish")) {
          const callback = resource.endsWith(".waitForTaskToken");
          handlers[name] = async (publish: { TopicArn: string; Subject?: string; Message: string }) => {
            const token = callback ? tokensIn(JSON.stringify(publish))[0] : undefined;
            const task = token
              ? r.sfn.callbackTask(name, { resourceType: "sns", resource: "publish.waitForTaskToken" }, publish, token)
              : undefined;
            if (!snsPublish.take()) {
              refusedBy(quotas.snsPublish, "SNS Publish");
              // The integration's error is SNS.<code> (brief §1; the exact name is an unknown).
              task?.failed("SNS.ThrottlingException", "Rate exceeded");
              throw taskError("SNS.ThrottlingException", "Rate exceeded");
            }
            const messageId = sns.publish(
              { topicArn: publish.TopicArn, subject: publish.Subject, message: publish.Message },
              { approval: callback },
            );
            if (!task) return { MessageId: messageId };
            task.submitted({ MessageId: messageId });
            return outcomeOf(await task.decision);
          };
        } else if (resource === stage.activityArn) {
          handlers[name] = async (input: unknown) => {
            const decision = r.sfn.activityTask(name, resource, input, state.HeartbeatSeconds, state.TimeoutSeconds);
            activityQueue.push(r);
            clock.setTimeout(() => background(activityWorker), approverDelayMs());
            return outcomeOf(await decision);
          };
        } else {
          handlers[name] = async () => ({ ETag: '"load"', VersionId: "load" });
        }
      }
      // A Task the library gave up on (its timeout) still settles later: that rejection is handled here.
      for (const [name, handler] of Object.entries(handlers))
        handlers[name] = (input) => {
          const running = handler(input);
          running.catch(() => undefined);
          return running;
        };
      return handlers;
    };

    // ---- the burst ----
    const startBucket = bucket(quotas.startExecution);
    let retries = 0;
    const capacityWaits = new Set<string>();
    const runs: Array<Promise<void>> = [];
    for (let i = 0; i < n; i++) {
      const name = `load-${String(i + 1).padStart(4, "0")}`;
      const executionArn = `${String(outputs.stateMachineArn).replace(":stateMachine:", ":execution:")}:${name}`;
      const input = { ...requestInput(), requestId: `LOAD-${i + 1}`, title: `Load request ${i + 1}` };
      const sfn = new SandboxStepFunctions(String(outputs.stateMachineArn), executionArn, input, clock.now / 1000);
      if (stage.activityArn) sfn.activities.add(stage.activityArn);
      const r: RequestState = { index: i + 1, executionArn, sfn, started: false, waiting: new Set() };
      requests.push(r);
      const captured: Record<string, OperationHandler> = {};
      sfn.serve({ on: (op: string, h: OperationHandler) => ((captured[op] = h), undefined) } as unknown as FakeAws);
      byArn.set(executionArn, { r, handlers: captured });
      runs.push(
        (async () => {
          // The caller's StartExecution: refused beyond the bucket, tried again a second later.
          while (!startBucket.take()) {
            refusedBy(quotas.startExecution, "Step Functions StartExecution");
            wait(r, "start", true);
            await clock.sleep(1000);
          }
          wait(r, "start", false);
          r.started = true;
          const result = await runDefinition(definition, input, {
            taskHandlers: handlersFor(r),
            taskToken: () => {
              const token = sfn.nextToken();
              byToken.set(token, r);
              return token;
            },
            executionArn,
            stateEnteredTime: new Date().toISOString(),
            onEvent: (event: RunEvent) => {
              if (!event.state) return;
              if (event.type === "StateFailed" && event.state.type === "Task") {
                r.sfn.stateEnded(event.state.name, "failed");
                // Between a failed attempt and its retry the request waits (the library's StateRetried comes after the wait).
                capacityWaits.add(String(event.Error));
                wait(r, "retry", true);
              } else if (event.type === "StateRetried") {
                retries += 1;
                wait(r, "retry", false);
              } else if (event.type === "StateCaught" || event.type === "StateExited") {
                wait(r, "retry", false);
                if (event.state.type === "Task" && event.type === "StateExited")
                  r.sfn.stateEnded(event.state.name, "exited");
              }
            },
          });
          r.sfn.ended(result.status, { output: result.output, error: result.error, cause: result.cause });
          for (const why of [...r.waiting]) wait(r, why, false);
          if (result.status === "SUCCEEDED") {
            const decision = result.output?.decision;
            r.ended =
              decision === "approved" || decision === "rejected"
                ? "decided"
                : decision === "timed_out"
                  ? "timed_out"
                  : "lost";
            if (r.ended === "lost") r.error = `output decision ${String(decision)}`;
          } else if (result.status === "TIMED_OUT") r.ended = "timed_out";
          else {
            r.ended = result.error ? "failed" : "lost";
            r.error = result.error;
            r.cause = result.cause;
          }
        })().catch((error: unknown) => {
          r.ended = "lost";
          r.error = `load run: ${(error as Error).message}`;
        }),
      );
    }

    // ---- time passes until every request has ended ----
    let lastProgress = Date.now();
    const summary = () => {
      const count = (what: RequestState["ended"]) => requests.filter((r) => r.ended === what).length;
      return `${mechanism}: t=${Math.round(clock.now / 1000)} s simulated, started ${requests.filter((r) => r.started).length}/${n}, waiting ${waitingNow}, reached ${requests.filter((r) => r.reachedAt !== undefined).length}, decided ${count("decided")}, failed ${count("failed")}, timed out ${count("timed_out")}`;
    };
    const finished = await clock.run(() => {
      if (Date.now() - lastProgress > PROGRESS_EVERY_MS) {
        lastProgress = Date.now();
        progress(summary());
      }
      return requests.every((r) => r.ended !== undefined);
    });
    over = true;
    if (!finished) {
      notes.push("the run stalled: requests still open with nothing left to happen (counted as lost)");
      for (const r of requests) if (!r.ended) r.ended = "lost";
    }
    await Promise.race([Promise.allSettled(runs), new Promise((resolve) => setTimeout(resolve, 2000))]);
    progress(summary());

    // ---- the report ----
    const failed: Record<string, number> = {};
    for (const r of requests) {
      if (r.ended !== "failed") continue;
      const error = r.error ?? "?";
      if (!(error in failed)) notes.push(`first ${error}: ${String(r.cause).slice(0, 300)}`);
      failed[error] = (failed[error] ?? 0) + 1;
    }
    const awsCalls: Record<string, number> = {};
    for (const [service, aws] of Object.entries(apis))
      for (const request of aws.requests) {
        const key = `${service}:${request.operation}`;
        awsCalls[key] = (awsCalls[key] ?? 0) + 1;
      }
    // The workflow's own service calls (sns:publish integration).
    const integrationPublishes =
      sns.published.length - apis.sns.requests.filter((q) => q.operation === "Publish").length;
    if (integrationPublishes > 0) awsCalls["sns:Publish (integration)"] = integrationPublishes;
    const slackCalls: Record<string, number> = {};
    for (const call of slack?.fake.calls ?? []) slackCalls[call.method] = (slackCalls[call.method] ?? 0) + 1;
    const decided = requests.filter((r) => r.ended === "decided").length;
    const totalCalls = Object.values(awsCalls).reduce((a, b) => a + b, 0);
    const reachedTimes = requests.map((r) => r.reachedAt).filter((t): t is number => t !== undefined);
    if (peakInFlight > 0)
      notes.push(`peak Lambda invocations in flight: ${peakInFlight} (quota ${lambdaConcurrency.limit})`);
    if (capacityWaits.size > 0)
      notes.push(`Task errors seen (retried or caught): ${[...capacityWaits].sort().join(", ")}`);
    return {
      mechanism,
      requests: n,
      started: requests.filter((r) => r.started).length,
      waitingPeak,
      reachedApprover: reachedTimes.length,
      decided,
      timedOut: requests.filter((r) => r.ended === "timed_out").length,
      failed,
      lost: requests.filter((r) => r.ended === "lost").length,
      lastReachedApproverSeconds: reachedTimes.length > 0 ? Math.max(...reachedTimes) / 1000 : null,
      simulatedSeconds: clock.now / 1000,
      realSeconds: (Date.now() - realStart) / 1000,
      retries,
      approverRetries,
      awsCalls,
      awsCallsPerDecision: decided > 0 ? round(totalCalls / decided) : null,
      slackCalls,
      ceilings: [...ceilings.values()].sort((a, b) => a.firstAtSeconds - b.firstAtSeconds),
      notes,
    };
  } finally {
    for (const step of cleanup.reverse()) {
      try {
        await step();
      } catch {
        // best effort
      }
    }
  }
}

type FakeSlackFail = (method: string, ...failures: unknown[]) => unknown;

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

let example: Record<string, unknown> | undefined;
function requestInput(): Record<string, unknown> {
  example ??= JSON.parse(
    readFileSync(join(__dirname, "..", "..", "examples", "expense-report.json"), "utf8"),
  ) as Record<string, unknown>;
  return example;
}

export { RawAnswer };
