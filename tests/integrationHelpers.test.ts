// The side-effect-free helpers of the integration suite (tests/integration/lib): offline, no AWS.
// The suite itself (tests/integration/run.ts) needs an AWS account and is not part of `npm test`.
import type { HistoryEvent } from "@aws-sdk/client-sfn";
import { expect } from "chai";
import { parseConfig } from "../components/config";
import { linkParams } from "../functions/approvalPage";
import { MECHANISMS, Mechanism, stageStateName } from "../functions/contract";
import { approvalKeyOf } from "../functions/tokenStore";
import { FORM_CONTENT_TYPE, approvalPageForm, approvalPageLink, codePageForm, pageApprover } from "./integration/lib/approvalPage";
import { SqsJson, codeLinkInEmail, inboxQueuePolicy } from "./integration/lib/emailInbox";
import { judgeKeylessRead, readHistoryWithoutKey, readerSessionPolicy } from "./integration/lib/keyCheck";
import { composeApprovalEmail } from "../functions/emailLink";
import { codeLink } from "../functions/approvalLink";
import { FakeAws } from "./helpers/fakeAws";
import { SFNClient } from "@aws-sdk/client-sfn";
import { SuiteUsageError, parseSuiteArgs } from "./integration/lib/args";
import { approvalTokenFromActionExecutions, approvalTokenFromPipelineState, isExecutionOfTask } from "./integration/lib/codePipeline";
import { fromBase64Url, taskTokenFromHistory, taskTokenFromParameters, waitingTask } from "./integration/lib/history";
import { ApproverIdentityError, approverArnFromCaller } from "./integration/lib/identity";
import { IT_COMMENT, IT_PAGE_NAME, approvalProblems, expectedApproval } from "./integration/lib/outcome";
import { PrerequisiteFacts, formatPrerequisiteLine, prerequisiteLines } from "./integration/lib/prerequisites";
import { DEFAULT_IT_EMAIL, IT_STAGE, IT_STAGE_TIMEOUT, isEmailMechanism, itStackConfig, rawConfigOf, stackNameFor } from "./integration/lib/stackConfig";

const REGION = "eu-west-1";
const ACCOUNT = "123456789012";
const STACK = "it-email-link-3f9a1c";
const STATE_MACHINE_ARN = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:sfn-approvals-${STACK}`;
const EXECUTION_ARN = `arn:aws:states:${REGION}:${ACCOUNT}:execution:sfn-approvals-${STACK}:${STACK}`;
const PAGE_URL = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/decide";
/** Task tokens are long and base64-like, with '+', '/' and '=' (which is why links carry them base64url). */
const TOKEN = `AQCEAAAAKgAAAAMAAAAAAAAAAf+k3/uL0qZ${"Xn5Tq/9w+Zr2".repeat(60)}mQ==`;
const OTHER_TOKEN = `AQCEAAAAKgAAAAMAAAAAAAAAAb/x+${"Yy7".repeat(40)}=`;
const REQUEST = { title: "Expense report ER98765", requestId: "ER98765", amount: 750.5, currency: "USD" };
const CALLER = `arn:aws:sts::${ACCOUNT}:assumed-role/ReleaseApprover/alice`;
const ROLE = `arn:aws:iam::${ACCOUNT}:role/ReleaseApprover`;

const T0 = new Date("2026-11-22T10:00:00Z").getTime();
let nextId = 0;
function event(type: string, details: Partial<HistoryEvent> = {}): HistoryEvent {
  nextId += 1;
  return { id: nextId, previousEventId: nextId - 1, timestamp: new Date(T0 + nextId * 100), type: type as HistoryEvent["type"], ...details };
}

/** The start of every execution: input read and validated, the stage's Task state entered. */
function executionStart(): HistoryEvent[] {
  nextId = 0;
  return [
    event("ExecutionStarted", { executionStartedEventDetails: { input: JSON.stringify(REQUEST), roleArn: `arn:aws:iam::${ACCOUNT}:role/sfn-role` } }),
    event("PassStateEntered", { stateEnteredEventDetails: { name: "Read request", input: "{}" } }),
    event("PassStateExited", { stateExitedEventDetails: { name: "Read request", output: "{}" } }),
    event("ChoiceStateEntered", { stateEnteredEventDetails: { name: "Validate request", input: "{}" } }),
    event("ChoiceStateExited", { stateExitedEventDetails: { name: "Validate request", output: "{}" } }),
    event("TaskStateEntered", { stateEnteredEventDetails: { name: stageStateName(IT_STAGE), input: "{}" } }),
  ];
}

const LAMBDA = { resourceType: "lambda", resource: "invoke.waitForTaskToken" };
const SNS = { resourceType: "sns", resource: "publish.waitForTaskToken" };

/** The Lambda-backed stages: ssm-automation, codepipeline and email-link pass the token in the payload. */
function lambdaStageHistory(functionName: string, token = TOKEN): HistoryEvent[] {
  const parameters = {
    FunctionName: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${functionName}`,
    Payload: { taskToken: token, request: REQUEST, stage: IT_STAGE, executionArn: EXECUTION_ARN },
  };
  return [
    ...executionStart(),
    event("TaskScheduled", { taskScheduledEventDetails: { ...LAMBDA, region: REGION, parameters: JSON.stringify(parameters), timeoutInSeconds: 900 } }),
    event("TaskStarted", { taskStartedEventDetails: LAMBDA }),
    event("TaskSubmitted", { taskSubmittedEventDetails: { ...LAMBDA, output: JSON.stringify({ StatusCode: 200, Payload: {} }) } }),
  ];
}

/** sns-callback: the token is only in the message's approval link, base64url; the request's own text may hold a look-alike link first. */
function snsCallbackHistory(): HistoryEvent[] {
  const b64url = (text: string) => Buffer.from(text).toString("base64url");
  const message = `Approval requested: Expense report ER98765\nRequest: ER98765\nAmount: 750.5 USD\n`
    + `Details: {"note":"see ${PAGE_URL}?t=${b64url(OTHER_TOKEN)}&e=x&s=it"}\n\nWorkflow: sfn-approvals-${STACK}\nExecution: ${STACK}\nStage: ${IT_STAGE}\n`
    + `Decide by: 2026-11-22T10:15:00.000Z\n\nReview the request and approve or reject it here:\n`
    + `${PAGE_URL}?t=${b64url(TOKEN)}&e=${encodeURIComponent(EXECUTION_ARN)}&s=${IT_STAGE}\n\nOpening the link decides nothing: ...\n`;
  const parameters = { TopicArn: `arn:aws:sns:${REGION}:${ACCOUNT}:sfn-approvals-${STACK}-${IT_STAGE}-approvals`, Subject: "Approval needed: Expense report ER98765", Message: message };
  return [
    ...executionStart(),
    event("TaskScheduled", { taskScheduledEventDetails: { ...SNS, region: REGION, parameters: JSON.stringify(parameters), timeoutInSeconds: 900 } }),
    event("TaskStarted", { taskStartedEventDetails: SNS }),
    event("TaskSubmitted", { taskSubmittedEventDetails: { ...SNS, output: JSON.stringify({ MessageId: "5f1d7a4c-0000-0000-0000-000000000000" }) } }),
  ];
}

function activityHistory(): HistoryEvent[] {
  return [
    ...executionStart(),
    event("ActivityScheduled", { activityScheduledEventDetails: { resource: `arn:aws:states:${REGION}:${ACCOUNT}:activity:sfn-approvals-${STACK}-it`, input: JSON.stringify({ request: REQUEST, stage: IT_STAGE, executionArn: EXECUTION_ARN }), timeoutInSeconds: 900, heartbeatInSeconds: 120 } }),
  ];
}

/** GetExecutionHistory with reverseOrder: newest first, as the suite reads it. */
const newestFirst = (events: HistoryEvent[]) => [...events].reverse();

const HISTORIES: Record<Mechanism, () => HistoryEvent[]> = {
  "ssm-automation": () => lambdaStageHistory("stage-it-start-fn-1a2b3c4"),
  codepipeline: () => lambdaStageHistory("stage-it-start-fn-5d6e7f8"),
  activity: activityHistory,
  "email-link": () => lambdaStageHistory("stage-it-start-fn-9a8b7c6"),
  "sns-callback": snsCallbackHistory,
};

describe("integration suite helpers", () => {
  describe("task token from the execution history", () => {
    for (const mechanism of MECHANISMS) {
      it(`${mechanism}: ${mechanism === "activity" ? "no token in the history, the activity waits" : "the newest TaskScheduled's token, the Task waits"}`, () => {
        const events = newestFirst(HISTORIES[mechanism]());
        const state = waitingTask(events, mechanism === "activity");
        if (mechanism === "activity") {
          expect(taskTokenFromHistory(events)).to.equal(undefined);
          expect(state).to.deep.equal({ kind: "waiting", submitted: true });
        } else {
          expect(taskTokenFromHistory(events)).to.equal(TOKEN);
          expect(state).to.deep.equal({ kind: "waiting", token: TOKEN, submitted: true });
        }
      });
    }

    it("passes over newer TaskScheduled events of reminder publishes, which carry no token", () => {
      const events = HISTORIES["email-link"]();
      const newestId = Math.max(...events.map((e) => e.id ?? 0));
      const reminder = {
        id: newestId + 1, previousEventId: newestId, timestamp: new Date(), type: "TaskScheduled",
        taskScheduledEventDetails: { resource: "publish", resourceType: "sns", region: "eu-west-1", parameters: JSON.stringify({ TopicArn: "arn:aws:sns:eu-west-1:123456789012:t", Subject: "Reminder: approval needed: x", Message: "Reminder: ..." }) },
      } as HistoryEvent;
      expect(taskTokenFromHistory([...events, reminder])).to.equal(TOKEN);
    });

    it("with follow-ups: waits at the callback Task while a reminder publish (newer, no token) fails beside it", () => {
      const events = HISTORIES["sns-callback"]();
      const newestId = Math.max(...events.map((e) => e.id ?? 0));
      const branchStart = events.find((e) => e.type === "TaskScheduled")!.previousEventId!;
      const reminder: HistoryEvent[] = [
        { id: newestId + 1, previousEventId: branchStart, timestamp: new Date(), type: "TaskScheduled", taskScheduledEventDetails: { resource: "publish", resourceType: "sns", region: REGION, parameters: JSON.stringify({ TopicArn: "t", Message: "Reminder" }) } },
        { id: newestId + 2, previousEventId: newestId + 1, timestamp: new Date(), type: "TaskStarted", taskStartedEventDetails: { resource: "publish", resourceType: "sns" } },
        { id: newestId + 3, previousEventId: newestId + 2, timestamp: new Date(), type: "TaskFailed", taskFailedEventDetails: { resource: "publish", resourceType: "sns", error: "SNS.ThrottledException", cause: "Rate exceeded" } },
      ];
      expect(waitingTask(newestFirst([...events, ...reminder]), false)).to.deep.equal({ kind: "waiting", token: TOKEN, submitted: true });
    });

    it("works whatever order the events come in", () => {
      expect(taskTokenFromHistory(HISTORIES["sns-callback"]())).to.equal(TOKEN);
      expect(waitingTask(HISTORIES.codepipeline(), false)).to.deep.equal({ kind: "waiting", token: TOKEN, submitted: true });
    });

    it("takes the newest TaskScheduled when a throttled invocation was scheduled again", () => {
      const first = lambdaStageHistory("stage-it-start-fn-1a2b3c4", OTHER_TOKEN).slice(0, -2);
      const events = [
        ...first,
        event("TaskFailed", { taskFailedEventDetails: { ...LAMBDA, error: "Lambda.TooManyRequestsException", cause: "Rate exceeded" } }),
        event("TaskScheduled", { taskScheduledEventDetails: { ...LAMBDA, region: REGION, parameters: JSON.stringify({ FunctionName: "f", Payload: { taskToken: TOKEN } }) } }),
        event("TaskStarted", { taskStartedEventDetails: LAMBDA }),
        event("TaskSubmitted", { taskSubmittedEventDetails: LAMBDA }),
      ];
      expect(waitingTask(newestFirst(events), false)).to.deep.equal({ kind: "waiting", token: TOKEN, submitted: true });
    });

    it("is not ready before the Task is scheduled, nor before the start call returned", () => {
      expect(waitingTask(newestFirst(executionStart()), false)).to.deep.equal({ kind: "not-yet" });
      expect(waitingTask(newestFirst(executionStart()), true)).to.deep.equal({ kind: "not-yet" });
      expect(waitingTask(newestFirst(lambdaStageHistory("f").slice(0, -2)), false)).to.deep.equal({ kind: "waiting", token: TOKEN, submitted: false });
    });

    it("says why when the Task or the execution ended without waiting", () => {
      const scheduledOnly = lambdaStageHistory("f").slice(0, -2);
      // The failure follows the TaskScheduled (previousEventId), as Step Functions links them.
      const failed = [...scheduledOnly, event("TaskFailed", { previousEventId: scheduledOnly[scheduledOnly.length - 1].id, taskFailedEventDetails: { ...LAMBDA, error: "Lambda.AWSLambdaException", cause: "AccessDenied" } })];
      expect(waitingTask(newestFirst(failed), false)).to.deep.equal({ kind: "ended", reason: "the stage's Task failed: TaskFailed (Lambda.AWSLambdaException: AccessDenied)" });
      const aborted = [...activityHistory(), event("ExecutionAborted", { executionAbortedEventDetails: { error: "IntegrationSuiteCleanup", cause: "stopped" } })];
      expect(waitingTask(newestFirst(aborted), true)).to.deep.equal({ kind: "ended", reason: "the execution ended before a decision was sent: ExecutionAborted (IntegrationSuiteCleanup: stopped)" });
      const tokenless = [...executionStart(), event("TaskScheduled", { taskScheduledEventDetails: { ...LAMBDA, region: REGION, parameters: JSON.stringify({ FunctionName: "f", Payload: { request: REQUEST } }) } })];
      expect(waitingTask(newestFirst(tokenless), false)).to.deep.equal({ kind: "ended", reason: "the newest TaskScheduled event (lambda:invoke.waitForTaskToken) carries no task token in its parameters" });
    });

    it("reads only exact base64url and only the last approval link of a message", () => {
      expect(fromBase64Url(Buffer.from(TOKEN).toString("base64url"))).to.equal(TOKEN);
      expect(fromBase64Url("QUJD+/8=")).to.equal(undefined); // standard base64: '+', '/', '='
      expect(fromBase64Url("QUJDRB")).to.equal(undefined); // decodes to "ABCD", whose base64url is QUJDRA
      expect(fromBase64Url("QUJDRA")).to.equal("ABCD");
      expect(taskTokenFromParameters("not json")).to.equal(undefined);
      expect(taskTokenFromParameters(JSON.stringify({ Message: "no link here" }))).to.equal(undefined);
      expect(taskTokenFromParameters(JSON.stringify({ Message: `${PAGE_URL}?t=${Buffer.from("a").toString("base64url")} then ${PAGE_URL}?t=${Buffer.from(TOKEN).toString("base64url")}&e=x` }))).to.equal(TOKEN);
    });
  });

  describe("approver identity", () => {
    it("turns a role session into its role, keeps IAM users and roles", () => {
      expect(approverArnFromCaller(CALLER)).to.equal(ROLE);
      expect(approverArnFromCaller(`arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/jane@example.com`))
        .to.equal(`arn:aws:iam::${ACCOUNT}:role/AWSReservedSSO_AdministratorAccess_0123456789abcdef`);
      expect(approverArnFromCaller("arn:aws-cn:sts::123456789012:assumed-role/Deployer/ci-1234")).to.equal("arn:aws-cn:iam::123456789012:role/Deployer");
      expect(approverArnFromCaller(`arn:aws:iam::${ACCOUNT}:user/alice`)).to.equal(`arn:aws:iam::${ACCOUNT}:user/alice`);
      expect(approverArnFromCaller(`arn:aws:iam::${ACCOUNT}:user/ops/alice`)).to.equal(`arn:aws:iam::${ACCOUNT}:user/ops/alice`);
    });

    it("refuses principals that cannot approve", () => {
      expect(() => approverArnFromCaller(`arn:aws:iam::${ACCOUNT}:root`)).to.throw(ApproverIdentityError, /root user/);
      expect(() => approverArnFromCaller(`arn:aws:sts::${ACCOUNT}:federated-user/bob`)).to.throw(ApproverIdentityError, /federated user/);
      expect(() => approverArnFromCaller("AIDAEXAMPLE")).to.throw(ApproverIdentityError);
    });
  });

  describe("stack config per mechanism", () => {
    for (const mechanism of MECHANISMS) {
      it(`${mechanism}: one stage "it", valid for parseConfig`, () => {
        const approver = isEmailMechanism(mechanism) ? DEFAULT_IT_EMAIL : approverArnFromCaller(CALLER);
        const config = itStackConfig({ mechanism, region: REGION, approver });
        expect(Object.keys(config).sort()).to.deep.equal(["aws:region", "sfn-approvals:stages"]);
        expect(config["aws:region"]).to.deep.equal({ value: REGION });
        const parsed = parseConfig(rawConfigOf(config));
        expect(parsed).to.deep.equal({
          autoApproveBelow: undefined,
          alertEmails: [],
          executionDataReaders: [],
          stages: [{
            name: IT_STAGE, mechanism, approvers: [approver], minRequiredApprovals: 1, notify: [], timeoutSeconds: 900, timeout: IT_STAGE_TIMEOUT,
            // Every test stage runs inside the follow-up Parallel on real AWS.
            ...(isEmailMechanism(mechanism) ? { remindEverySeconds: 300, remindEvery: "5m" } : {}),
            escalateTo: { emails: [DEFAULT_IT_EMAIL], topicArns: [] },
            escalateAfterPercent: 50,
          }],
        });
      });
    }

    it("names stacks it-<mechanism>-<suffix>, short enough for the names derived from it", () => {
      expect(stackNameFor("ssm-automation", "3f9a1c")).to.equal("it-ssm-automation-3f9a1c");
      // The state machine is sfn-approvals-<stack> and the activity sfn-approvals-<stack>-<stage>: at most 80 characters each.
      for (const mechanism of MECHANISMS) expect(`sfn-approvals-${stackNameFor(mechanism, "3f9a1c")}-${IT_STAGE}`.length).to.be.at.most(80);
      expect(() => stackNameFor("activity", "Bad_Suffix")).to.throw(/suffix/);
    });

    it("knows which mechanisms take email addresses, and refuses a malformed Region", () => {
      expect(MECHANISMS.filter(isEmailMechanism)).to.deep.equal(["email-link", "sns-callback"]);
      expect(() => itStackConfig({ mechanism: "activity", region: "Europe", approver: ROLE })).to.throw(/Region/);
    });
  });

  describe("approval page form", () => {
    const settings = { stateMachineArn: STATE_MACHINE_ARN, stages: { [IT_STAGE]: "sns-callback" as Mechanism } };

    it("posts t (base64url token), e, s, name, comment and decision, urlencoded", () => {
      const body = approvalPageForm({ token: TOKEN, executionArn: EXECUTION_ARN, stage: IT_STAGE, name: IT_PAGE_NAME, comment: IT_COMMENT, decision: "approve" });
      expect(FORM_CONTENT_TYPE).to.equal("application/x-www-form-urlencoded");
      const fields = Object.fromEntries(new URLSearchParams(body));
      expect(fields).to.deep.equal({ t: Buffer.from(TOKEN).toString("base64url"), e: EXECUTION_ARN, s: IT_STAGE, name: IT_PAGE_NAME, comment: IT_COMMENT, decision: "approve" });
      // base64url needs no escaping: the token arrives exactly as the link carries it.
      expect(fields.t).to.match(/^[A-Za-z0-9_-]+$/);
      expect(body.startsWith(`t=${fields.t}&`)).to.equal(true);
      // What the page itself reads from that body (functions/approvalPage.ts): the same token, execution and stage.
      expect(linkParams(fields, settings)).to.deep.equal({ token: TOKEN, executionArn: EXECUTION_ARN, stage: IT_STAGE, mechanism: "sns-callback" });
    });

    it("leaves the comment out when there is none", () => {
      const fields = Object.fromEntries(new URLSearchParams(approvalPageForm({ token: TOKEN, executionArn: EXECUTION_ARN, stage: IT_STAGE, name: "Fay", decision: "reject" })));
      expect(Object.keys(fields)).to.deep.equal(["t", "e", "s", "name", "decision"]);
      expect(fields.decision).to.equal("reject");
    });

    it("builds the email's GET link the page accepts, and names the approver as the page records it", () => {
      const link = new URL(approvalPageLink(PAGE_URL, { token: TOKEN, executionArn: EXECUTION_ARN, stage: IT_STAGE }));
      expect(`${link.origin}${link.pathname}`).to.equal(PAGE_URL);
      expect(linkParams(Object.fromEntries(link.searchParams), settings)?.token).to.equal(TOKEN);
      expect(pageApprover("Fay Finance")).to.equal("Fay Finance (via email link)");
    });
  });

  describe("codepipeline approval lookup", () => {
    const mine = "0f1e2d3c-aaaa-bbbb-cccc-000000000001";
    const initial = "0f1e2d3c-aaaa-bbbb-cccc-000000000000";

    it("recognises the pipeline execution started for a task by its ApprovalKey", () => {
      expect(isExecutionOfTask({ variables: [{ name: "RequestId", resolvedValue: "ER98765" }, { name: "ApprovalKey", resolvedValue: approvalKeyOf(TOKEN) }] }, TOKEN)).to.equal(true);
      expect(isExecutionOfTask({ variables: [{ name: "ApprovalKey", resolvedValue: "-" }] }, TOKEN)).to.equal(false);
      expect(isExecutionOfTask({}, TOKEN)).to.equal(false);
    });

    it("takes the waiting Approve action's externalExecutionId of that execution (PARALLEL mode)", () => {
      const details = [
        { pipelineExecutionId: initial, stageName: "Approval", actionName: "Approve", status: "InProgress" as const, output: { executionResult: { externalExecutionId: "approval-of-initial-run" } } },
        { pipelineExecutionId: mine, stageName: "Request", actionName: "Request", status: "Succeeded" as const, output: { executionResult: { externalExecutionId: "s3-version-id" } } },
        { pipelineExecutionId: mine, stageName: "Approval", actionName: "Approve", status: "InProgress" as const, output: { executionResult: { externalExecutionId: "3e1c7d2a-4b5f-4c6d-8e9f-0a1b2c3d4e5f" } } },
      ];
      expect(approvalTokenFromActionExecutions(details, mine)).to.equal("3e1c7d2a-4b5f-4c6d-8e9f-0a1b2c3d4e5f");
      expect(approvalTokenFromActionExecutions(details.slice(0, 2), mine)).to.equal(undefined);
    });

    it("falls back to GetPipelineState's token only for that execution's open approval", () => {
      const state = { stageStates: [{ stageName: "Approval", latestExecution: { pipelineExecutionId: mine, status: "InProgress" as const }, actionStates: [{ actionName: "Approve", latestExecution: { status: "InProgress" as const, token: "5f8e1a2b-0000-4000-8000-000000000000" } }] }] };
      expect(approvalTokenFromPipelineState(state, mine)).to.equal("5f8e1a2b-0000-4000-8000-000000000000");
      expect(approvalTokenFromPipelineState(state, initial)).to.equal(undefined);
      expect(approvalTokenFromPipelineState({ stageStates: [] }, mine)).to.equal(undefined);
    });
  });

  describe("the execution's outcome", () => {
    const decision = (overrides: Record<string, unknown> = {}) => ({ approved: true, decision: "approved", stage: IT_STAGE, mechanism: "codepipeline", approver: CALLER, comment: IT_COMMENT, decidedAt: "2026-11-22T10:05:00Z", ...overrides });
    const execution = (stage: Record<string, unknown>, overrides: Record<string, unknown> = {}) => ({
      status: "SUCCEEDED",
      output: JSON.stringify({ approved: true, decision: "approved", stages: [stage], request: REQUEST, ...overrides }),
    });
    const expected = (mechanism: Mechanism) => expectedApproval({ mechanism, stage: IT_STAGE, request: REQUEST, callerArn: CALLER, approver: ROLE });

    it("accepts the approval each mechanism reports", () => {
      expect(approvalProblems(execution(decision()), expected("codepipeline"))).to.deep.equal([]);
      expect(approvalProblems(execution(decision({ mechanism: "activity" })), expected("activity"))).to.deep.equal([]);
      expect(approvalProblems(execution(decision({ mechanism: "ssm-automation", approver: "alice", comment: "via SSM" })), expected("ssm-automation"))).to.deep.equal([]);
      expect(approvalProblems(execution(decision({ mechanism: "sns-callback", approver: pageApprover(IT_PAGE_NAME) })), expected("sns-callback"))).to.deep.equal([]);
    });

    it("names every difference from the expected approval", () => {
      expect(approvalProblems(execution(decision({ approved: false, decision: "rejected", mechanism: "activity" }), { approved: false, decision: "rejected" }), expected("codepipeline"))).to.deep.equal([
        "output.approved is false, expected true",
        'output.decision is "rejected", expected "approved"',
        'output.stages[0].mechanism is "activity", expected "codepipeline"',
        "output.stages[0].approved is false, expected true",
        'output.stages[0].decision is "rejected", expected "approved"',
      ]);
      expect(approvalProblems(execution(decision({ approver: `arn:aws:sts::${ACCOUNT}:assumed-role/Admin/bob` })), expected("codepipeline")))
        .to.deep.equal([`output.stages[0].approver is "arn:aws:sts::${ACCOUNT}:assumed-role/Admin/bob", expected ${ROLE} or a session of it`]);
      expect(approvalProblems(execution(decision({ mechanism: "email-link", approver: "Mallory (via email link)" })), expected("email-link")))
        .to.deep.equal([`output.stages[0].approver is "Mallory (via email link)", expected "${IT_PAGE_NAME} (via email link)"`]);
      expect(approvalProblems(execution(decision(), { stages: [] }), expected("codepipeline"))).to.deep.equal(["output.stages should hold exactly one decision (stage it), got []"]);
    });

    it("reports an execution that did not succeed with its error", () => {
      expect(approvalProblems({ status: "FAILED", error: "UnauthorizedApprover", cause: "answered by someone else" }, expected("codepipeline")))
        .to.deep.equal(["the execution ended FAILED (UnauthorizedApprover: answered by someone else), not SUCCEEDED"]);
    });
  });

  describe("command line", () => {
    it("runs all five mechanisms by default, in the README's order", () => {
      expect(parseSuiteArgs([])).to.deep.equal({ mechanisms: [...MECHANISMS], keep: false, verbose: false, help: false });
    });

    it("takes --mechanism repeated or comma-separated, --keep and --verbose", () => {
      expect(parseSuiteArgs(["--mechanism", "sns-callback", "--mechanism=activity,ssm-automation", "--keep", "--verbose"]))
        .to.deep.equal({ mechanisms: ["ssm-automation", "activity", "sns-callback"], keep: true, verbose: true, help: false });
    });

    it("refuses unknown mechanisms and arguments", () => {
      expect(() => parseSuiteArgs(["--mechanism", "carrier-pigeon"])).to.throw(SuiteUsageError, /unknown mechanism 'carrier-pigeon'/);
      expect(() => parseSuiteArgs(["--mechanism"])).to.throw(SuiteUsageError, /needs a value/);
      expect(() => parseSuiteArgs(["--destroy"])).to.throw(SuiteUsageError, /unexpected argument/);
      expect(() => parseSuiteArgs(["--keep=yes"])).to.throw(SuiteUsageError, /takes no value/);
    });
  });

  describe("prerequisites", () => {
    const offline: PrerequisiteFacts = {
      pulumiCli: { ok: false, reason: "`pulumi` is not on PATH (spawn pulumi ENOENT)" },
      passphraseSet: false,
      accessTokenSet: false,
      aws: { ok: false, reason: "CredentialsProviderError: Could not load credentials from any providers" },
      awsSources: [],
    };
    const ready: PrerequisiteFacts = {
      pulumiCli: { ok: true, version: "v3.270.0" },
      backend: { ok: true, user: "alice", url: "file://~" },
      passphraseSet: true,
      accessTokenSet: false,
      region: { name: REGION, from: "AWS_REGION" },
      aws: { ok: true, arn: CALLER, account: ACCOUNT },
      awsSources: ["AWS_PROFILE"],
    };

    it("offline: one line for each of the four missing items, saying how to provide it", () => {
      const lines = prerequisiteLines(offline);
      expect(lines.map((line) => [line.ok, line.item])).to.deep.equal([[false, "Pulumi CLI"], [false, "Pulumi backend"], [false, "AWS Region"], [false, "AWS credentials"]]);
      for (const line of lines) expect(formatPrerequisiteLine(line)).to.match(/^ {2}missing {2}[^\n]+$/);
      expect(lines[0].text).to.contain("install it");
      expect(lines[1].text).to.contain("PULUMI_CONFIG_PASSPHRASE");
      expect(lines[2].text).to.contain("export AWS_REGION=");
      expect(lines[3].text).to.contain("Could not load credentials").and.contain("AWS_PROFILE");
    });

    it("all present: nothing missing", () => {
      expect(prerequisiteLines(ready).every((line) => line.ok)).to.equal(true);
      expect(prerequisiteLines({ ...ready, backend: { ok: true, user: "alice", url: "https://api.pulumi.com" }, passphraseSet: false }).every((line) => line.ok)).to.equal(true);
    });

    it("a local backend needs the passphrase; a failed login or a bad Region is missing", () => {
      expect(prerequisiteLines({ ...ready, passphraseSet: false }).filter((line) => !line.ok).map((line) => line.item)).to.deep.equal(["Pulumi passphrase"]);
      expect(prerequisiteLines({ ...ready, backend: { ok: false, reason: "not logged in" } }).filter((line) => !line.ok).map((line) => line.item)).to.deep.equal(["Pulumi backend"]);
      expect(prerequisiteLines({ ...ready, region: { name: "moon-1", from: "AWS_DEFAULT_REGION" } }).filter((line) => !line.ok).map((line) => line.text))
        .to.deep.equal(["AWS_DEFAULT_REGION is 'moon-1', which is not a Region name; export AWS_REGION=<a Region like eu-west-1>"]);
    });
  });
  describe("email-link from the email itself (issue 11, defect 12)", () => {
    const CODE = "Q2xhdWRlIHdhcyBoZXJlIGFuZCBsZWZ0IGEgY29kZQ0";
    const email = (executionArn: string, link: string) => composeApprovalEmail({
      request: { ...REQUEST, title: `Pay ${PAGE_URL}?c=${"x".repeat(43)} now` }, stage: IT_STAGE, executionArn, link, deadline: new Date(T0),
    }).message;

    it("takes the code link of this execution's email (the real link comes last), not a reminder's or another execution's", () => {
      expect(CODE).to.have.length(43);
      const mine = email(EXECUTION_ARN, codeLink(PAGE_URL, CODE));
      expect(codeLinkInEmail(mine, PAGE_URL, STACK)).to.equal(`${PAGE_URL}?c=${CODE}`);
      expect(codeLinkInEmail(email(`${EXECUTION_ARN}-other`, codeLink(PAGE_URL, CODE)), PAGE_URL, STACK)).to.equal(undefined);
      expect(codeLinkInEmail(`Reminder: Approval ${IT_STAGE} still waits.\nExecution: ${STACK}\nOpen your earlier email.`, PAGE_URL, STACK)).to.equal(undefined);
      expect(codeLinkInEmail(mine.replace(CODE, `${CODE}X`), PAGE_URL, STACK)).to.equal(`${PAGE_URL}?c=${"x".repeat(43)}`);
    });

    it("posts the code alone with the name, comment and decision", () => {
      expect(Object.fromEntries(new URLSearchParams(codePageForm({ code: CODE, name: IT_PAGE_NAME, comment: IT_COMMENT, decision: "approve" })))).to.deep.equal({
        c: CODE, name: IT_PAGE_NAME, comment: IT_COMMENT, decision: "approve",
      });
    });

    it("lets only the stage's topic deliver to the inbox queue", () => {
      const queue = `arn:aws:sqs:${REGION}:${ACCOUNT}:${STACK}-inbox`;
      const topic = `arn:aws:sns:${REGION}:${ACCOUNT}:sfn-approvals-${STACK}-it-approvals`;
      expect(JSON.parse(inboxQueuePolicy(queue, topic))).to.deep.equal({
        Version: "2012-10-17",
        Statement: [{ Sid: "StageTopicDelivers", Effect: "Allow", Principal: { Service: "sns.amazonaws.com" }, Action: "sqs:SendMessage", Resource: queue, Condition: { ArnEquals: { "aws:SourceArn": topic } } }],
      });
    });

    it("calls SQS with its JSON protocol, signed with Signature V4 for service sqs", async () => {
      const aws = new FakeAws();
      const url = await aws.start();
      try {
        aws.on("CreateQueue", () => ({ QueueUrl: `${url}/${ACCOUNT}/q` }));
        // The suite signs with the SDK's own hash (any client's config.sha256), as run.ts does.
        const sqs = new SqsJson({ region: REGION, credentials: { accessKeyId: "AKIAFAKE", secretAccessKey: "fake" }, sha256: new SFNClient({ region: REGION }).config.sha256 }, `${url}/`);
        expect(await sqs.call("CreateQueue", { QueueName: "q" })).to.deep.equal({ QueueUrl: `${url}/${ACCOUNT}/q` });
        const [request] = aws.requests;
        expect(request.target).to.equal("AmazonSQS.CreateQueue");
        expect(request.headers["content-type"]).to.equal("application/x-amz-json-1.0");
        expect(request.body).to.deep.equal({ QueueName: "q" });
        expect(String(request.headers.authorization)).to.match(new RegExp(`^AWS4-HMAC-SHA256 Credential=AKIAFAKE/\\d{8}/${REGION}/sqs/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-target, Signature=[0-9a-f]{64}$`));
      } finally {
        await aws.stop();
      }
    });
  });

  describe("reading the history without the key", () => {
    const history = (token: string) => lambdaStageHistory("start", token);

    it("lets the federated reader read exactly this execution", () => {
      expect(JSON.parse(readerSessionPolicy(EXECUTION_ARN))).to.deep.equal({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Action: ["states:GetExecutionHistory", "states:DescribeExecution"], Resource: EXECUTION_ARN }],
      });
    });

    it("fails only when the reader got a task token", () => {
      expect(judgeKeylessRead({ error: "KmsAccessDeniedException" })).to.deep.equal({ ran: true, answer: "AWS refused the read: KmsAccessDeniedException", tokenVisible: false });
      expect(judgeKeylessRead({ events: history(TOKEN) }).tokenVisible).to.equal(true);
      const withoutData = executionStart().map(({ executionStartedEventDetails, stateEnteredEventDetails, stateExitedEventDetails, ...rest }) => rest);
      expect(judgeKeylessRead({ events: withoutData })).to.deep.equal({ ran: true, answer: `AWS returned ${withoutData.length} events, 0 with execution data, no task token`, tokenVisible: false });
    });

    it("is skipped, calling nothing, when the suite runs as a role session (only IAM users get federation tokens)", async () => {
      const result = await readHistoryWithoutKey({ region: REGION, callerArn: CALLER, executionArn: EXECUTION_ARN });
      expect(result).to.deep.include({ ran: false, tokenVisible: false });
      expect(result.answer).to.match(/^skipped: only an IAM user/);
    });
  });
});
