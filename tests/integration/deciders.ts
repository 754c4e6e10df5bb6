// Each mechanism's real decision path, as an approver takes it (docs/mechanisms/*.md, "How approvers decide"), with
// the credentials of the suite's approver role: SSM SendAutomationSignal, CodePipeline
// PutApprovalResult, the approval worker, and the approval page's form opened from the link of
// the email that was really sent. The runner's own credentials only find what waits and watch it:
// while the suite waits it also watches the execution and the automation or pipeline, and stops
// with their failure message rather than at its timeout.
import {
  ActionExecutionDetail,
  CodePipelineClient,
  GetPipelineExecutionCommand,
  ListActionExecutionsCommand,
  ListPipelineExecutionsCommand,
  PipelineExecution,
  PutApprovalResultCommand,
} from "@aws-sdk/client-codepipeline";
import { DescribeExecutionCommand, GetActivityTaskCommand, SFNClient } from "@aws-sdk/client-sfn";
import {
  DescribeAutomationExecutionsCommand,
  GetAutomationExecutionCommand,
  SSMClient,
  SendAutomationSignalCommand,
  StepExecution,
  StopAutomationExecutionCommand,
} from "@aws-sdk/client-ssm";
import { spawn } from "child_process";
import { APPROVE_STEP_NAME } from "../../functions/mechanisms/ssmAutomation/automationResult";
import { redactText } from "../../functions/shared/redact";
import {
  APPROVAL_ACTION_NAME,
  APPROVAL_STAGE_NAME,
  approvalKeyOf,
  approvalTokenFromActionExecutions,
  isExecutionOfTask,
} from "./lib/codePipeline";
import { FORM_CONTENT_TYPE, approvalPageForm, codePageForm } from "./lib/approvalPage";
import { EmailInbox, codeLinkInEmail, tokenLinkInEmail } from "./lib/emailInbox";
import { IT_PAGE_NAME, commentFor } from "./lib/outcome";
import { AssumedRole, environmentAs } from "./lib/roles";
import { SignedAws } from "./lib/signedAws";
import { Timings } from "./lib/timings";
import {
  Settlement,
  StartAnswer,
  isIamRefusal,
  judgeAutomationClientToken,
  judgeClientRequestToken,
  judgeNonApproverSignal,
  judgeUpdatedBy,
} from "./lib/unknowns";
import { Progress, poll, retryWhileDenied, sleep } from "./progress";
import { REPO_ROOT } from "./stack";

export type Decision = "approved" | "rejected";

export interface DecideContext {
  scope: string;
  progress: Progress;
  signal: AbortSignal;
  timings: Timings;
  region: string;
  /** The runner's Step Functions client (watching the execution). */
  sfn: SFNClient;
  executionArn: string;
  stage: string;
  decision: Decision;
  /** Registers a clean-up action the suite runs before destroying the stack (e.g. cancel an automation that still waits). */
  onCleanup(action: () => Promise<void>): void;
  /** Records the answer to an open AWS question (or another check), printed and judged by the suite. */
  settle(settlement: Settlement): void;
}

function executionName(arn: string): string {
  return arn.split(":").pop()!;
}

/** Throws with the execution's error when it is no longer running (nothing can decide it then). */
async function watchExecution(ctx: DecideContext): Promise<void> {
  const { status, error, cause } = await ctx.sfn.send(new DescribeExecutionCommand({ executionArn: ctx.executionArn }));
  if (status !== "RUNNING")
    throw new Error(
      `the execution ended ${status}${error ? ` (${[error, cause].filter(Boolean).join(": ").slice(0, 500)})` : ""} before a decision was sent`,
    );
}

function propagation(ctx: DecideContext, what: string) {
  return {
    windowMs: ctx.timings.propagationMs,
    intervalMs: ctx.timings.propagationPollMs,
    signal: ctx.signal,
    onRetry: (error: Error) =>
      ctx.progress.line(
        ctx.scope,
        `${what}: ${error.name} (IAM may not know the new role or its policy yet); trying again`,
      ),
  };
}

/** An AWS error as the suite shows it: name and message, tokens redacted. */
function awsError(error: unknown, secrets: string[] = []): { name: string; message: string } {
  const e = error as { name?: string; message?: string };
  return { name: e.name ?? "Error", message: redactText(e.message ?? String(error), secrets) };
}

// ---------------------------------------------------------------------------------------------
// ssm-automation: the automation of this execution waits at its aws:approve step.

/** The automation of this execution, once it waits at aws:approve (`anyStatus`: once it exists, for a request left to time out). */
export async function findAutomation(
  ctx: DecideContext,
  ssm: SSMClient,
  documentName: string,
  anyStatus = false,
): Promise<string> {
  let seen = "no automation of the runbook yet";
  return ctx.progress.step(
    ctx.scope,
    `finding the automation of ${documentName} that waits for this execution`,
    () =>
      poll(
        `an automation of ${documentName} waiting for ${executionName(ctx.executionArn)}`,
        async () => {
          const { AutomationExecutionMetadataList: list = [] } = await ssm.send(
            new DescribeAutomationExecutionsCommand({
              Filters: [{ Key: "DocumentNamePrefix", Values: [documentName] }],
            }),
          );
          seen = `${list.length} automation(s) of the runbook, none for this execution`;
          for (const automation of list) {
            if (automation.DocumentName !== documentName || !automation.AutomationExecutionId) continue;
            const { AutomationExecution: details } = await ssm.send(
              new GetAutomationExecutionCommand({ AutomationExecutionId: automation.AutomationExecutionId }),
            );
            if (details?.Parameters?.ExecutionArn?.[0] !== ctx.executionArn) continue;
            const status = details.AutomationExecutionStatus;
            if (status === "Waiting" || anyStatus) return automation.AutomationExecutionId;
            if (status && !["Pending", "InProgress"].includes(status)) {
              throw new Error(
                `automation ${automation.AutomationExecutionId} is ${status} before a decision: ${details.FailureMessage ?? "no failure message"}`,
              );
            }
            seen = `automation ${automation.AutomationExecutionId} is ${status}`;
          }
          await watchExecution(ctx);
          return undefined;
        },
        {
          timeoutMs: ctx.timings.waitForTaskMs,
          intervalMs: ctx.timings.pollMs,
          signal: ctx.signal,
          lastSeen: () => seen,
        },
      ),
    (id) => `automation ${id}`,
  );
}

export async function approveStep(
  ssm: SSMClient,
  automationId: string,
): Promise<{ status?: string; step?: StepExecution }> {
  const { AutomationExecution: details } = await ssm.send(
    new GetAutomationExecutionCommand({ AutomationExecutionId: automationId }),
  );
  return {
    status: details?.AutomationExecutionStatus,
    step: (details?.StepExecutions ?? []).find((s) => s.StepName === APPROVE_STEP_NAME),
  };
}

/**
 * SendAutomationSignal as a principal that is not an approver but whose IAM policy allows it: SSM
 * must refuse it (only the runbook's Approvers decide) and the automation must still wait. IAM's
 * own refusal (the principal's policy not propagated yet) proves nothing, so it is retried.
 */
export async function signalAsNonApprover(
  ctx: DecideContext,
  ssm: { runner: SSMClient; other: SSMClient },
  automationId: string,
): Promise<void> {
  const deadline = Date.now() + ctx.timings.propagationMs;
  const result = await ctx.progress.step(
    ctx.scope,
    "SendAutomationSignal Approve as a principal that is not an approver (must be refused)",
    async () => {
      for (;;) {
        try {
          await ssm.other.send(
            new SendAutomationSignalCommand({
              AutomationExecutionId: automationId,
              SignalType: "Approve",
              Payload: { Comment: ["not an approver"] },
            }),
          );
          return {};
        } catch (error) {
          const e = awsError(error);
          if (!isIamRefusal(e.message) || Date.now() + ctx.timings.propagationPollMs > deadline) return { error: e };
          ctx.progress.line(
            ctx.scope,
            "IAM refused the non-approver's own call (its policy may not have propagated); trying again",
          );
        }
        await sleep(ctx.timings.propagationPollMs, ctx.signal);
      }
    },
    (r) => (r.error ? `refused: ${r.error.name}` : "ACCEPTED"),
  );
  const { status } = await approveStep(ssm.runner, automationId);
  const settlement = judgeNonApproverSignal(result, status === "Waiting");
  ctx.settle(settlement);
  if (!result.error) throw new Error("SSM accepted SendAutomationSignal from a principal that is not an approver");
}

export async function decideSsmAutomation(
  ctx: DecideContext,
  ssm: { runner: SSMClient; approver: SSMClient; other?: SSMClient },
  documentName: string,
  startAgain?: (automationId: string) => Promise<void>,
): Promise<string> {
  const automationId = await findAutomation(ctx, ssm.runner, documentName);
  ctx.onCleanup(async () => {
    // Every automation of this execution (a second start, should SSM have made one, too).
    for (const id of await automationsOf(ctx, ssm.runner, documentName)) {
      const { status } = await approveStep(ssm.runner, id);
      if (status === "Waiting" || status === "InProgress" || status === "Pending") {
        await ssm.runner.send(new StopAutomationExecutionCommand({ AutomationExecutionId: id, Type: "Cancel" }));
      }
    }
  });
  if (startAgain) await startAgain(automationId);
  if (ssm.other) await signalAsNonApprover(ctx, { runner: ssm.runner, other: ssm.other }, automationId);
  const signalType = ctx.decision === "approved" ? "Approve" : "Reject";
  await ctx.progress.step(ctx.scope, `SendAutomationSignal ${signalType} to ${automationId} as the approver role`, () =>
    retryWhileDenied(
      () =>
        ssm.approver.send(
          new SendAutomationSignalCommand({
            AutomationExecutionId: automationId,
            SignalType: signalType,
            Payload: { Comment: [commentFor(ctx.decision)] },
          }),
        ),
      propagation(ctx, "SendAutomationSignal"),
    ),
  );
  return automationId;
}

// ---------------------------------------------------------------------------------------------
// codepipeline: the pipeline execution started for this task waits at Approval/Approve.

async function watchPipeline(
  ctx: DecideContext,
  codepipeline: CodePipelineClient,
  pipelineName: string,
  execution: PipelineExecution,
): Promise<void> {
  if (execution.status === "InProgress") return;
  const { actionExecutionDetails: details = [] } = await codepipeline.send(
    new ListActionExecutionsCommand({ pipelineName, filter: { pipelineExecutionId: execution.pipelineExecutionId } }),
  );
  const failed = details
    .filter((d) => d.status === "Failed" || d.status === "Abandoned")
    .map(
      (d) =>
        `${d.stageName}/${d.actionName} ${d.status}${d.output?.executionResult?.errorDetails?.message ? ` (${d.output.executionResult.errorDetails.message})` : ""}`,
    );
  throw new Error(
    `pipeline execution ${execution.pipelineExecutionId} is ${execution.status}${execution.statusSummary ? `: ${execution.statusSummary}` : ""}${failed.length ? `; ${failed.join("; ")}` : ""}`,
  );
}

export interface PipelineWait {
  pipelineExecutionId: string;
  approvalToken: string;
  action: ActionExecutionDetail;
}

export async function findPipelineApproval(
  ctx: DecideContext,
  codepipeline: CodePipelineClient,
  pipelineName: string,
  taskToken: string,
): Promise<PipelineWait> {
  let seen: string | undefined;
  const pipelineExecutionId = await ctx.progress.step(
    ctx.scope,
    `finding the execution of pipeline ${pipelineName} started for this request`,
    () =>
      poll(
        "a pipeline execution whose ApprovalKey is this task's key",
        async () => {
          const { pipelineExecutionSummaries: summaries = [] } = await codepipeline.send(
            new ListPipelineExecutionsCommand({ pipelineName, maxResults: 25 }),
          );
          seen = `${summaries.length} pipeline execution(s), none with this task's ApprovalKey`;
          for (const summary of summaries) {
            if (!summary.pipelineExecutionId) continue;
            const { pipelineExecution } = await codepipeline.send(
              new GetPipelineExecutionCommand({ pipelineName, pipelineExecutionId: summary.pipelineExecutionId }),
            );
            if (pipelineExecution && isExecutionOfTask(pipelineExecution, taskToken))
              return summary.pipelineExecutionId;
          }
          await watchExecution(ctx);
          return undefined;
        },
        {
          timeoutMs: ctx.timings.waitForTaskMs,
          intervalMs: ctx.timings.pollMs,
          signal: ctx.signal,
          lastSeen: () => seen,
        },
      ),
    (id) => `pipeline execution ${id}`,
  );
  return ctx.progress.step(
    ctx.scope,
    `waiting until its ${APPROVAL_STAGE_NAME}/${APPROVAL_ACTION_NAME} action asks for approval`,
    () =>
      poll(
        `the ${APPROVAL_ACTION_NAME} action of pipeline execution ${pipelineExecutionId} to be InProgress`,
        async () => {
          const { actionExecutionDetails: details = [] } = await codepipeline.send(
            new ListActionExecutionsCommand({ pipelineName, filter: { pipelineExecutionId } }),
          );
          const approvalToken = approvalTokenFromActionExecutions(details, pipelineExecutionId);
          const action = details.find(
            (d) =>
              d.stageName === APPROVAL_STAGE_NAME && d.actionName === APPROVAL_ACTION_NAME && d.status === "InProgress",
          );
          if (approvalToken && action) return { pipelineExecutionId, approvalToken, action };
          seen =
            details.map((detail) => `${detail.stageName}/${detail.actionName} ${detail.status}`).join(", ") ||
            "no action executions yet";
          const { pipelineExecution } = await codepipeline.send(
            new GetPipelineExecutionCommand({ pipelineName, pipelineExecutionId }),
          );
          if (pipelineExecution) await watchPipeline(ctx, codepipeline, pipelineName, pipelineExecution);
          await watchExecution(ctx);
          return undefined;
        },
        {
          timeoutMs: ctx.timings.waitForTaskMs,
          intervalMs: ctx.timings.pollMs,
          signal: ctx.signal,
          lastSeen: () => seen,
        },
      ),
  );
}

/** Invokes a start function with a payload (it holds the task token: errors are redacted). */
async function invokeStart(
  ctx: DecideContext,
  aws: SignedAws,
  what: string,
  functionName: string,
  payload: Record<string, unknown>,
  taskToken: string,
  idOf: (result: unknown) => string | undefined,
): Promise<StartAnswer> {
  return ctx.progress.step(
    ctx.scope,
    `invoking the start function ${functionName.split(":").pop()} ${what}`,
    async () => {
      const answer = await aws.invoke(functionName, payload);
      if (answer.functionError) return { error: redactText(answer.functionError, [taskToken]) };
      const id = idOf(answer.result);
      return id
        ? { id }
        : { error: `no id in ${redactText(JSON.stringify(answer.result), [taskToken]).slice(0, 200)}` };
    },
    (answer) => (answer.id ? `returned ${answer.id}` : `refused: ${answer.error}`),
  );
}

/**
 * Row 5: the start function invoked a second time with the payload Step Functions sent it (as a
 * retried invocation would be) must find the same pipeline execution, not start another.
 */
export async function startPipelineAgain(
  ctx: DecideContext,
  args: {
    aws: SignedAws;
    codepipeline: CodePipelineClient;
    pipelineName: string;
    functionName: string;
    payload: Record<string, unknown>;
    first: string;
    taskToken: string;
  },
): Promise<void> {
  const again = await invokeStart(
    ctx,
    args.aws,
    "again with the same payload",
    args.functionName,
    args.payload,
    args.taskToken,
    (r) => (r as { pipelineExecutionId?: string } | undefined)?.pipelineExecutionId,
  );
  const key = approvalKeyOf(args.taskToken);
  const { pipelineExecutionSummaries: summaries = [] } = await args.codepipeline.send(
    new ListPipelineExecutionsCommand({ pipelineName: args.pipelineName, maxResults: 25 }),
  );
  const withKey: string[] = [];
  for (const summary of summaries) {
    if (!summary.pipelineExecutionId) continue;
    const { pipelineExecution } = await args.codepipeline.send(
      new GetPipelineExecutionCommand({
        pipelineName: args.pipelineName,
        pipelineExecutionId: summary.pipelineExecutionId,
      }),
    );
    if ((pipelineExecution?.variables ?? []).some((v) => v.resolvedValue === key))
      withKey.push(summary.pipelineExecutionId);
  }
  ctx.settle(judgeClientRequestToken({ first: args.first, again, executionsWithKey: withKey }));
}

/** The automations of the runbook started for this execution (its ExecutionArn parameter). */
async function automationsOf(ctx: DecideContext, ssm: SSMClient, documentName: string): Promise<string[]> {
  const { AutomationExecutionMetadataList: list = [] } = await ssm.send(
    new DescribeAutomationExecutionsCommand({ Filters: [{ Key: "DocumentNamePrefix", Values: [documentName] }] }),
  );
  const ids: string[] = [];
  for (const automation of list) {
    if (automation.DocumentName !== documentName || !automation.AutomationExecutionId) continue;
    const { AutomationExecution: details } = await ssm.send(
      new GetAutomationExecutionCommand({ AutomationExecutionId: automation.AutomationExecutionId }),
    );
    if (details?.Parameters?.ExecutionArn?.[0] === ctx.executionArn) ids.push(automation.AutomationExecutionId);
  }
  return ids;
}

/**
 * Row 20: the SSM start function invoked again with the payload Step Functions sent it, then with
 * another request under the same token: one automation, and the other request refused.
 */
export async function startAutomationAgain(
  ctx: DecideContext,
  args: {
    aws: SignedAws;
    ssm: SSMClient;
    documentName: string;
    functionName: string;
    payload: Record<string, unknown>;
    first: string;
    taskToken: string;
  },
): Promise<void> {
  const idOf = (r: unknown) => (r as { automationExecutionId?: string } | undefined)?.automationExecutionId;
  const again = await invokeStart(
    ctx,
    args.aws,
    "again with the same payload",
    args.functionName,
    args.payload,
    args.taskToken,
    idOf,
  );
  const request = (args.payload.request ?? {}) as Record<string, unknown>;
  const otherRequest = await invokeStart(
    ctx,
    args.aws,
    "with the same token and another request (must be refused)",
    args.functionName,
    { ...args.payload, request: { ...request, title: `${String(request.title)} (changed by the integration suite)` } },
    args.taskToken,
    idOf,
  );
  ctx.settle(
    judgeAutomationClientToken({
      first: args.first,
      again,
      otherRequest,
      automations: await automationsOf(ctx, args.ssm, args.documentName),
    }),
  );
}

/** PutApprovalResult as a principal that is not an approver (no policy allows it): refused. */
export async function answerAsNonApprover(
  ctx: DecideContext,
  other: CodePipelineClient,
  pipelineName: string,
  approvalToken: string,
): Promise<void> {
  const result = await ctx.progress.step(
    ctx.scope,
    "PutApprovalResult Approved as a principal that is not an approver (must be refused)",
    async () => {
      try {
        await other.send(
          new PutApprovalResultCommand({
            pipelineName,
            stageName: APPROVAL_STAGE_NAME,
            actionName: APPROVAL_ACTION_NAME,
            result: { summary: "not an approver", status: "Approved" },
            token: approvalToken,
          }),
        );
        return {};
      } catch (error) {
        return { error: awsError(error) };
      }
    },
    (r) => (r.error ? `refused: ${r.error.name}` : "ACCEPTED"),
  );
  ctx.settle({
    check: "codepipeline-non-approver-refused",
    ok: result.error !== undefined,
    answer: result.error
      ? `PutApprovalResult by a non-approver: ${result.error.name}`
      : "a principal that is not an approver answered the approval",
  });
  if (!result.error)
    throw new Error("CodePipeline accepted PutApprovalResult from a principal that is not an approver");
}

export async function decideCodePipeline(
  ctx: DecideContext,
  codepipeline: { runner: CodePipelineClient; approver: CodePipelineClient },
  pipelineName: string,
  wait: PipelineWait,
): Promise<void> {
  const status = ctx.decision === "approved" ? "Approved" : "Rejected";
  await ctx.progress.step(ctx.scope, `PutApprovalResult ${status} as the approver role`, () =>
    retryWhileDenied(
      () =>
        codepipeline.approver.send(
          new PutApprovalResultCommand({
            pipelineName,
            stageName: APPROVAL_STAGE_NAME,
            actionName: APPROVAL_ACTION_NAME,
            result: { summary: commentFor(ctx.decision), status },
            token: wait.approvalToken,
          }),
        ),
      propagation(ctx, "PutApprovalResult"),
    ),
  );
}

/** Row 4, after the execution ended: who CodePipeline says answered. */
export async function inspectAnsweredAction(
  ctx: DecideContext,
  codepipeline: CodePipelineClient,
  pipelineName: string,
  pipelineExecutionId: string,
  roleArn: string,
): Promise<void> {
  const { actionExecutionDetails: details = [] } = await codepipeline.send(
    new ListActionExecutionsCommand({ pipelineName, filter: { pipelineExecutionId } }),
  );
  const action = details.find((d) => d.stageName === APPROVAL_STAGE_NAME && d.actionName === APPROVAL_ACTION_NAME);
  ctx.settle(judgeUpdatedBy(action, roleArn));
}

// ---------------------------------------------------------------------------------------------
// activity: the approval worker, as an approver runs it, deciding without asking.

/** Runs the worker CLI with these arguments and environment; resolves with its exit code and output lines. */
export type WorkerRunner = (
  args: string[],
  env: NodeJS.ProcessEnv,
  signal: AbortSignal,
  onLine: (line: string) => void,
) => Promise<number | null>;

/** npm itself: the one running this suite when there is one, else `npm` from PATH. */
function npmCommand(): { command: string; prefix: string[] } {
  const npmCli = process.env.npm_execpath;
  return npmCli && /\.js$/.test(npmCli)
    ? { command: process.execPath, prefix: [npmCli] }
    : { command: "npm", prefix: [] };
}

/** `npm run approval-worker -- <args>` in the repository, as an approver runs it. */
export const spawnWorker: WorkerRunner = (args, env, signal, onLine) => {
  const npm = npmCommand();
  return new Promise((resolve, reject) => {
    const child = spawn(npm.command, [...npm.prefix, "run", "--silent", "approval-worker", "--", ...args], {
      cwd: REPO_ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const onChunk = (chunk: Buffer) =>
      chunk
        .toString("utf8")
        .split("\n")
        .filter((l) => l.trim() !== "")
        .forEach(onLine);
    child.stdout.on("data", onChunk);
    child.stderr.on("data", onChunk);
    const onAbort = () => child.kill("SIGINT");
    signal.addEventListener("abort", onAbort, { once: true });
    child.on("error", reject);
    child.on("close", (code) => {
      signal.removeEventListener("abort", onAbort);
      resolve(code);
    });
  });
};

/** Worker exit codes (scripts/approval-worker.ts): 0 decided, 3 no request arrived during its one poll. */
const WORKER_NO_TASK = 3;

export async function decideWithWorker(
  ctx: DecideContext,
  args: { activityArn: string; approver: AssumedRole; runWorker: WorkerRunner },
): Promise<void> {
  const verb = ctx.decision === "approved" ? "approve" : "reject";
  const workerArgs = [
    "--activity-arn",
    args.activityArn,
    "--once",
    "--decide",
    verb,
    "--comment",
    commentFor(ctx.decision),
  ];
  const env = environmentAs(process.env, args.approver);
  const deadline = Date.now() + ctx.timings.propagationMs;
  for (let attempt = 1; ; attempt++) {
    const output: string[] = [];
    const code = await ctx.progress.step(
      ctx.scope,
      `npm run approval-worker -- --activity-arn ${args.activityArn} --once --decide ${verb} as the approver role (attempt ${attempt})`,
      () =>
        args.runWorker(workerArgs, env, ctx.signal, (line) => {
          output.push(line);
          ctx.progress.write(`    worker | ${line}\n`);
        }),
      (c) => `exit code ${c}`,
    );
    if (code === 0) {
      const said = ctx.decision === "approved" ? "Approved:" : "Rejected:";
      if (!output.some((line) => line.startsWith(said)))
        throw new Error(`the worker exited 0 without saying "${said}"`);
      return;
    }
    const denied = output.some((line) => /AccessDenied/.test(line));
    if (code !== WORKER_NO_TASK && !(denied && Date.now() < deadline))
      throw new Error(`the approval worker failed with exit code ${code}: ${output.slice(-3).join(" | ")}`);
    if (attempt >= 3 && !denied)
      throw new Error("the approval worker found no request in 3 polls, although the execution waits at the activity");
    await sleep(denied ? ctx.timings.propagationPollMs : 1000, ctx.signal);
  }
}

/**
 * GetActivityTask as a principal that is not an approver (no policy allows it), before any request
 * exists, so that nothing could be taken away if it were allowed: refused.
 */
export async function pollActivityAsNonApprover(
  ctx: Omit<DecideContext, "executionArn" | "decision">,
  other: SFNClient,
  activityArn: string,
): Promise<void> {
  const result = await ctx.progress.step(
    ctx.scope,
    "GetActivityTask as a principal that is not an approver (must be refused)",
    async () => {
      try {
        const task = await other.send(
          new GetActivityTaskCommand({ activityArn, workerName: "sfn-approvals-it-not-an-approver" }),
        );
        return { got: Boolean(task.taskToken) };
      } catch (error) {
        return { error: awsError(error) };
      }
    },
    (r) => ("error" in r && r.error ? `refused: ${r.error.name}` : "ACCEPTED"),
  );
  const refused = "error" in result && result.error !== undefined;
  ctx.settle({
    check: "activity-non-approver-refused",
    ok: refused,
    answer: refused
      ? `GetActivityTask by a non-approver: ${result.error!.name}`
      : `a principal that is not an approver polled the activity${"got" in result && result.got ? " and got a task" : ""}`,
  });
  if (!refused) throw new Error("Step Functions let a principal that is not an approver poll the activity");
}

// ---------------------------------------------------------------------------------------------
// email-link, sns-callback: open the link of the email as it arrived, then press the button.

async function fetchText(url: string, init: RequestInit): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { ...init, redirect: "manual", signal: AbortSignal.timeout(30000) });
  return { status: response.status, body: await response.text() };
}

/** The page's visible message, for failure reports: its <h1> and first <p>. */
function pageSummary(body: string): string {
  const text = (tag: string) =>
    new RegExp(`<${tag}[^>]*>([\\s\\S]*?)</${tag}>`)
      .exec(body)?.[1]
      ?.replace(/<[^>]+>/g, "")
      .trim();
  return [text("h1"), text("p")].filter(Boolean).join(": ") || body.slice(0, 200);
}

/** GET the link until the page shows the form (a fresh API may answer 404 or 5xx for a while). */
async function openLink(ctx: DecideContext, link: string, shown: string, formHas: string[]): Promise<void> {
  let last: string | undefined;
  await ctx.progress.step(
    ctx.scope,
    `GET the email's link (${shown})`,
    () =>
      poll(
        "the approval page to show the request",
        async () => {
          let page: { status: number; body: string };
          try {
            page = await fetchText(link, { method: "GET" });
          } catch (error) {
            last = `not reachable: ${(error as Error).message}`;
            return undefined;
          }
          if (page.status === 200 && formHas.every((text) => page.body.includes(text))) return page;
          last = `${page.status} ${pageSummary(page.body)}`;
          if (page.status >= 500 || page.status === 429 || page.status === 404) return undefined;
          throw new Error(`the approval page answered ${last}`);
        },
        {
          timeoutMs: ctx.timings.pageReadyMs,
          intervalMs: ctx.timings.pollMs,
          signal: ctx.signal,
          lastSeen: () => last,
        },
      ),
    (page) => `${page.status}, shows the form`,
  );
}

async function press(ctx: DecideContext, pageUrl: string, body: string, secrets: string[]): Promise<void> {
  const word = ctx.decision === "approved" ? "Approved" : "Rejected";
  await ctx.progress.step(
    ctx.scope,
    `POST the form with decision=${ctx.decision === "approved" ? "approve" : "reject"}`,
    async () => {
      const answer = await fetchText(pageUrl, { method: "POST", headers: { "content-type": FORM_CONTENT_TYPE }, body });
      if (answer.status !== 200 || !answer.body.includes(word))
        throw new Error(
          `the approval page answered the POST with ${answer.status}: ${redactText(pageSummary(answer.body), secrets)}`,
        );
      return answer;
    },
    (answer) => `${answer.status} ${pageSummary(answer.body)}`,
  );
}

/** Waits for this execution's approval email in the inbox and returns what `pick` takes from it. */
export async function receiveEmail<T>(
  ctx: DecideContext,
  inbox: EmailInbox,
  what: string,
  pick: (message: string) => T | undefined,
): Promise<T> {
  const found = await ctx.progress.step(
    ctx.scope,
    `receiving the approval email (SNS to the suite's SQS queue): ${what}`,
    () =>
      inbox.waitFor(pick, {
        timeoutMs: ctx.timings.waitForTaskMs,
        waitSeconds: ctx.timings.inboxWaitSeconds,
        intervalMs: ctx.timings.pollMs,
        signal: ctx.signal,
      }),
  );
  if (found === undefined)
    throw new Error(
      `no approval email of execution ${executionName(ctx.executionArn)} arrived in ${ctx.timings.waitForTaskMs / 1000} s (${inbox.messages.length} other message(s) received)`,
    );
  return found;
}

/**
 * email-link: the link of the email as the stage's topic delivered it, opened and answered; then
 * pressed again, which the page must refuse (410): a code decides once.
 */
export async function decideWithEmailCode(ctx: DecideContext, pageUrl: string, inbox: EmailInbox): Promise<void> {
  const link = await receiveEmail(ctx, inbox, "its code link", (message) =>
    codeLinkInEmail(message, pageUrl, executionName(ctx.executionArn)),
  );
  const code = new URL(link).searchParams.get("c")!;
  await openLink(ctx, link, `${pageUrl}?c=...`, [`name="c" value="${code}"`, 'value="approve"']);
  const form = (decision: "approve" | "reject") =>
    codePageForm({ code, name: IT_PAGE_NAME, comment: commentFor(ctx.decision), decision });
  await press(ctx, pageUrl, form(ctx.decision === "approved" ? "approve" : "reject"), [code]);
  await ctx.progress.step(
    ctx.scope,
    "POST the same code again: refused",
    async () => {
      const answer = await fetchText(pageUrl, {
        method: "POST",
        headers: { "content-type": FORM_CONTENT_TYPE },
        body: form(ctx.decision === "approved" ? "reject" : "approve"),
      });
      if (answer.status !== 410)
        throw new Error(
          `a second use of the code was answered ${answer.status}: ${pageSummary(answer.body)} (expected 410)`,
        );
      return answer;
    },
    (answer) => `${answer.status} ${pageSummary(answer.body)}`,
  );
}

/**
 * sns-callback: the link of the message Step Functions published, which carries the token; the
 * token must be the one the execution waits with (read from its history as the deployer).
 */
export async function decideWithEmailToken(
  ctx: DecideContext,
  pageUrl: string,
  inbox: EmailInbox,
  historyToken: string | undefined,
): Promise<void> {
  const found = await receiveEmail(ctx, inbox, "its token link", (message) =>
    tokenLinkInEmail(message, pageUrl, executionName(ctx.executionArn)),
  );
  if (historyToken !== undefined && found.token !== historyToken)
    throw new Error("the email's link carries another token than the one the execution waits with");
  if (found.executionArn !== ctx.executionArn || found.stage !== ctx.stage)
    throw new Error(`the email's link names execution ${found.executionArn} and stage ${found.stage}`);
  await openLink(ctx, found.link, `${pageUrl}?t=...&e=...&s=${found.stage}`, ['value="approve"']);
  const body = approvalPageForm({
    token: found.token,
    executionArn: found.executionArn,
    stage: found.stage,
    name: IT_PAGE_NAME,
    comment: commentFor(ctx.decision),
    decision: ctx.decision === "approved" ? "approve" : "reject",
  });
  await press(ctx, pageUrl, body, [found.token]);
}
