// Each mechanism's real decision path, as an approver takes it (README, "Approving (...)"):
// SSM SendAutomationSignal, CodePipeline PutApprovalResult, the activity worker, and a POST of
// the approval page's form (email-link: from the link in the email itself, which carries a
// one-time code found nowhere else).
import { CodePipelineClient, GetPipelineExecutionCommand, GetPipelineStateCommand, ListActionExecutionsCommand, ListPipelineExecutionsCommand, PutApprovalResultCommand } from "@aws-sdk/client-codepipeline";
import { DescribeAutomationExecutionsCommand, GetAutomationExecutionCommand, SSMClient, SendAutomationSignalCommand, StopAutomationExecutionCommand } from "@aws-sdk/client-ssm";
import { spawn } from "child_process";
import { APPROVAL_ACTION_NAME, APPROVAL_STAGE_NAME, approvalTokenFromActionExecutions, approvalTokenFromPipelineState, isExecutionOfTask } from "./lib/codePipeline";
import { FORM_CONTENT_TYPE, approvalPageForm, approvalPageLink, codePageForm } from "./lib/approvalPage";
import { EmailInbox, codeLinkInEmail } from "./lib/emailInbox";
import { IT_COMMENT, IT_PAGE_NAME } from "./lib/outcome";
import { Progress, poll, sleep } from "./progress";
import { REPO_ROOT } from "./stack";

const FIND_TIMEOUT_MS = 5 * 60 * 1000;
const POLL_MS = 5000;

export interface DecideContext {
  scope: string;
  progress: Progress;
  signal: AbortSignal;
  region: string;
  executionArn: string;
  stage: string;
  /** The token of the waiting Task, from the execution history (none for an activity stage). */
  taskToken?: string;
  /** Registers a clean-up action the suite runs before destroying the stack (e.g. cancel an automation that still waits). */
  onCleanup(action: () => Promise<void>): void;
}

// ---------------------------------------------------------------------------------------------
// ssm-automation: the automation of this execution waits at its aws:approve step.

export async function approveSsmAutomation(ctx: DecideContext, documentName: string): Promise<void> {
  const ssm = new SSMClient({ region: ctx.region });
  let seen = "no automation of the runbook waits";
  const automationId = await ctx.progress.step(ctx.scope, `finding the automation of ${documentName} that waits for this execution`, () => poll(
    `an automation of ${documentName} in status Waiting with ExecutionArn ${ctx.executionArn}`,
    async () => {
      const { AutomationExecutionMetadataList: list = [] } = await ssm.send(new DescribeAutomationExecutionsCommand({
        Filters: [{ Key: "DocumentNamePrefix", Values: [documentName] }, { Key: "ExecutionStatus", Values: ["Waiting"] }],
      }));
      seen = `${list.length} waiting automation(s) of the runbook, none for this execution`;
      for (const automation of list) {
        if (automation.DocumentName !== documentName || !automation.AutomationExecutionId) continue;
        const { AutomationExecution: details } = await ssm.send(new GetAutomationExecutionCommand({ AutomationExecutionId: automation.AutomationExecutionId }));
        if (details?.Parameters?.ExecutionArn?.[0] === ctx.executionArn) return automation.AutomationExecutionId;
      }
      return undefined;
    },
    { timeoutMs: FIND_TIMEOUT_MS, intervalMs: POLL_MS, signal: ctx.signal, lastSeen: () => seen },
  ), (id) => `automation ${id}`);
  ctx.onCleanup(async () => {
    const { AutomationExecution: details } = await ssm.send(new GetAutomationExecutionCommand({ AutomationExecutionId: automationId }));
    if (details?.AutomationExecutionStatus === "Waiting" || details?.AutomationExecutionStatus === "InProgress") {
      await ssm.send(new StopAutomationExecutionCommand({ AutomationExecutionId: automationId, Type: "Cancel" }));
    }
  });
  await ctx.progress.step(ctx.scope, `SendAutomationSignal Approve to ${automationId}`, () => ssm.send(new SendAutomationSignalCommand({
    AutomationExecutionId: automationId,
    SignalType: "Approve",
    Payload: { Comment: [IT_COMMENT] },
  })));
}

// ---------------------------------------------------------------------------------------------
// codepipeline: the pipeline execution started for this task waits at Approval/Approve.

export async function approveCodePipeline(ctx: DecideContext, pipelineName: string): Promise<void> {
  const taskToken = ctx.taskToken;
  if (!taskToken) throw new Error("the codepipeline stage's task token was not found in the execution history");
  const codepipeline = new CodePipelineClient({ region: ctx.region });
  let seen: string | undefined;
  const pipelineExecutionId = await ctx.progress.step(ctx.scope, `finding the execution of pipeline ${pipelineName} started for this request`, () => poll(
    `a pipeline execution whose ApprovalKey is this task's key`,
    async () => {
      const { pipelineExecutionSummaries: summaries = [] } = await codepipeline.send(new ListPipelineExecutionsCommand({ pipelineName, maxResults: 25 }));
      seen = `${summaries.length} pipeline execution(s), none with this task's ApprovalKey`;
      for (const summary of summaries) {
        if (!summary.pipelineExecutionId) continue;
        const { pipelineExecution } = await codepipeline.send(new GetPipelineExecutionCommand({ pipelineName, pipelineExecutionId: summary.pipelineExecutionId }));
        if (pipelineExecution && isExecutionOfTask(pipelineExecution, taskToken)) return summary.pipelineExecutionId;
      }
      return undefined;
    },
    { timeoutMs: FIND_TIMEOUT_MS, intervalMs: POLL_MS, signal: ctx.signal, lastSeen: () => seen },
  ), (id) => `pipeline execution ${id}`);
  const approvalToken = await ctx.progress.step(ctx.scope, `waiting until its ${APPROVAL_STAGE_NAME}/${APPROVAL_ACTION_NAME} action asks for approval`, () => poll(
    `the ${APPROVAL_ACTION_NAME} action of pipeline execution ${pipelineExecutionId} to be InProgress`,
    async () => {
      const { actionExecutionDetails: details = [] } = await codepipeline.send(new ListActionExecutionsCommand({ pipelineName, filter: { pipelineExecutionId } }));
      const token = approvalTokenFromActionExecutions(details, pipelineExecutionId);
      if (token) return token;
      seen = details.map((detail) => `${detail.stageName}/${detail.actionName} ${detail.status}`).join(", ") || "no action executions yet";
      // Only a pipeline that is not in PARALLEL mode shows the token here; this stage's never does.
      return approvalTokenFromPipelineState(await codepipeline.send(new GetPipelineStateCommand({ name: pipelineName })), pipelineExecutionId);
    },
    { timeoutMs: FIND_TIMEOUT_MS, intervalMs: POLL_MS, signal: ctx.signal, lastSeen: () => seen },
  ));
  await ctx.progress.step(ctx.scope, "PutApprovalResult Approved", () => codepipeline.send(new PutApprovalResultCommand({
    pipelineName,
    stageName: APPROVAL_STAGE_NAME,
    actionName: APPROVAL_ACTION_NAME,
    result: { summary: IT_COMMENT, status: "Approved" },
    token: approvalToken,
  })));
}

// ---------------------------------------------------------------------------------------------
// activity: the approval worker, as an approver runs it, deciding without asking.

/** npm itself: the one running this suite when there is one, else `npm` from PATH. */
function npmCommand(): { command: string; prefix: string[] } {
  const npmCli = process.env.npm_execpath;
  return npmCli && /\.js$/.test(npmCli) ? { command: process.execPath, prefix: [npmCli] } : { command: "npm", prefix: [] };
}

function runWorker(ctx: DecideContext, activityArn: string): Promise<{ code: number | null; output: string[] }> {
  const npm = npmCommand();
  const args = [...npm.prefix, "run", "--silent", "approval-worker", "--", "--activity-arn", activityArn, "--once", "--decide", "approve", "--comment", IT_COMMENT];
  return new Promise((resolve, reject) => {
    const child = spawn(npm.command, args, { cwd: REPO_ROOT, env: process.env, stdio: ["ignore", "pipe", "pipe"] });
    const output: string[] = [];
    const onLine = (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split("\n").filter((l) => l.trim() !== "")) {
        output.push(line);
        process.stdout.write(`    worker | ${line}\n`);
      }
    };
    child.stdout.on("data", onLine);
    child.stderr.on("data", onLine);
    const onAbort = () => child.kill("SIGINT");
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    child.on("error", reject);
    child.on("close", (code) => {
      ctx.signal.removeEventListener("abort", onAbort);
      resolve({ code, output });
    });
  });
}

/** Worker exit codes (scripts/approval-worker.ts): 0 decided, 3 no request arrived during its one poll. */
const WORKER_NO_TASK = 3;

export async function approveWithWorker(ctx: DecideContext, activityArn: string): Promise<void> {
  for (let attempt = 1; attempt <= 3; attempt++) {
    const { code, output } = await ctx.progress.step(ctx.scope, `npm run approval-worker -- --activity-arn ${activityArn} --once --decide approve (attempt ${attempt})`,
      () => runWorker(ctx, activityArn), (result) => `exit code ${result.code}`);
    if (code === 0) {
      if (!output.some((line) => line.startsWith("Approved:"))) throw new Error("the worker exited 0 without saying it approved");
      return;
    }
    if (code !== WORKER_NO_TASK) throw new Error(`the approval worker failed with exit code ${code}: ${output.slice(-3).join(" | ")}`);
    await sleep(1000, ctx.signal);
  }
  throw new Error("the approval worker found no request in 3 polls of 60 s, although the execution waits at the activity");
}

// ---------------------------------------------------------------------------------------------
// email-link, sns-callback: open the link as the email would give it, then press Approve.

async function fetchText(url: string, init: RequestInit): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { ...init, redirect: "manual", signal: AbortSignal.timeout(30000) });
  return { status: response.status, body: await response.text() };
}

/** The page's visible message, for failure reports: its <h1> and first <p>. */
function pageSummary(body: string): string {
  const text = (tag: string) => new RegExp(`<${tag}[^>]*>([\\s\\S]*?)</${tag}>`).exec(body)?.[1]?.replace(/<[^>]+>/g, "").trim();
  return [text("h1"), text("p")].filter(Boolean).join(": ") || body.slice(0, 200);
}

export async function approveOnPage(ctx: DecideContext, pageUrl: string): Promise<void> {
  const token = ctx.taskToken;
  if (!token) throw new Error("the email stage's task token was not found in the execution history");
  const link = approvalPageLink(pageUrl, { token, executionArn: ctx.executionArn, stage: ctx.stage });
  // A fresh API may need a moment before it answers; GET changes nothing, so it may be retried.
  let last: string | undefined;
  await ctx.progress.step(ctx.scope, `GET the approval link (${pageUrl}?t=...&e=...&s=${ctx.stage})`, () => poll("the approval page to show the request", async () => {
    let page: { status: number; body: string };
    try {
      page = await fetchText(link, { method: "GET" });
    } catch (error) {
      last = `not reachable: ${(error as Error).message}`;
      ctx.progress.line(ctx.scope, `approval page ${last}; trying again`);
      return undefined;
    }
    if (page.status === 200 && page.body.includes('value="approve"')) return page;
    last = `${page.status} ${pageSummary(page.body)}`;
    if (page.status >= 500 || page.status === 429 || page.status === 404) {
      ctx.progress.line(ctx.scope, `approval page answered ${last}; trying again`);
      return undefined;
    }
    throw new Error(`the approval page answered ${last}`);
  }, { timeoutMs: 2 * 60 * 1000, intervalMs: POLL_MS, signal: ctx.signal, lastSeen: () => last }), (page) => `${page.status}, shows the form`);
  // The POST decides: sent once, as a browser would.
  await ctx.progress.step(ctx.scope, "POST the form with decision=approve", async () => {
    const body = approvalPageForm({ token, executionArn: ctx.executionArn, stage: ctx.stage, name: IT_PAGE_NAME, comment: IT_COMMENT, decision: "approve" });
    const answer = await fetchText(pageUrl, { method: "POST", headers: { "content-type": FORM_CONTENT_TYPE }, body });
    if (answer.status !== 200 || !answer.body.includes("Approved")) throw new Error(`the approval page answered the POST with ${answer.status}: ${pageSummary(answer.body)}`);
    return answer;
  }, (answer) => `${answer.status} ${pageSummary(answer.body)}`);
}

/**
 * email-link: the link of the approval email as the stage's topic delivered it (to the suite's
 * queue), opened and answered; then pressed again, which the page must refuse (410): a code
 * decides once.
 */
export async function approveWithEmailCode(ctx: DecideContext, pageUrl: string, inbox: EmailInbox): Promise<void> {
  const executionName = ctx.executionArn.split(":").pop()!;
  let seen = "no message yet";
  const link = await ctx.progress.step(ctx.scope, "receiving the approval email (SNS to the suite's SQS queue)", () => poll("the approval email of this execution", async () => {
    const messages = await inbox.receive(10);
    for (const message of messages) {
      const found = codeLinkInEmail(message, pageUrl, executionName);
      if (found) return found;
    }
    if (messages.length > 0) seen = `${messages.length} message(s) without this execution's code link`;
    return undefined;
  }, { timeoutMs: FIND_TIMEOUT_MS, intervalMs: 1000, signal: ctx.signal, lastSeen: () => seen }), () => `link ${pageUrl}?c=...`);
  const code = new URL(link).searchParams.get("c")!;
  let last: string | undefined;
  await ctx.progress.step(ctx.scope, "GET the email's link", () => poll("the approval page to show the request", async () => {
    let page: { status: number; body: string };
    try {
      page = await fetchText(link, { method: "GET" });
    } catch (error) {
      last = `not reachable: ${(error as Error).message}`;
      return undefined;
    }
    if (page.status === 200 && page.body.includes(`name="c" value="${code}"`) && page.body.includes('value="approve"')) return page;
    last = `${page.status} ${pageSummary(page.body)}`;
    if (page.status >= 500 || page.status === 429 || page.status === 404) return undefined;
    throw new Error(`the approval page answered ${last}`);
  }, { timeoutMs: 2 * 60 * 1000, intervalMs: POLL_MS, signal: ctx.signal, lastSeen: () => last }), (page) => `${page.status}, shows the form (the code alone as hidden field)`);
  const press = (decision: "approve" | "reject") => fetchText(pageUrl, { method: "POST", headers: { "content-type": FORM_CONTENT_TYPE }, body: codePageForm({ code, name: IT_PAGE_NAME, comment: IT_COMMENT, decision }) });
  await ctx.progress.step(ctx.scope, "POST the form with decision=approve", async () => {
    const answer = await press("approve");
    if (answer.status !== 200 || !answer.body.includes("Approved")) throw new Error(`the approval page answered the POST with ${answer.status}: ${pageSummary(answer.body)}`);
    return answer;
  }, (answer) => `${answer.status} ${pageSummary(answer.body)}`);
  await ctx.progress.step(ctx.scope, "POST the same code again (decision=reject): refused", async () => {
    const answer = await press("reject");
    if (answer.status !== 410) throw new Error(`a second use of the code was answered ${answer.status}: ${pageSummary(answer.body)} (expected 410)`);
    return answer;
  }, (answer) => `${answer.status} ${pageSummary(answer.body)}`);
}
