// The side-effect-free helpers of the integration suite (tests/integration/lib): offline, no AWS.
// The suite itself (tests/integration/run.ts) needs an AWS account and is not part of `npm test`;
// its orchestration runs offline against fakes in tests/integrationRun.test.ts.
import type { HistoryEvent } from "@aws-sdk/client-sfn";
import { expect } from "chai";
import { DEFAULT_ROLLOUT } from "../components/workflow/rolloutConfig";
import { parseConfig } from "../components/config";
import { linkParams } from "../functions/mechanisms/email/approvalPage";
import { stageStateName } from "../functions/contract";
import { approvalKeyOf } from "../functions/mechanisms/codePipeline/tokenStore";
import {
  FORM_CONTENT_TYPE,
  approvalPageForm,
  approvalPageLink,
  codePageForm,
  pageApprover,
} from "./integration/lib/approvalPage";
import {
  codeLinkInEmail,
  inboxQueuePolicy,
  isEscalationOf,
  isReminderOf,
  tokenLinkInEmail,
} from "./integration/lib/emailInbox";
import { judgeKeylessRead, readHistoryWithoutKey, readerSessionPolicy } from "./integration/lib/keyCheck";
import { composeApprovalEmail } from "../functions/mechanisms/email/emailLink";
import { approvalLink, codeLink } from "../functions/mechanisms/email/approvalLink";
import { FakeAws } from "./helpers/fakeAws";
import { SFNClient } from "@aws-sdk/client-sfn";
import { DEFAULT_STALE_AFTER_MS, SuiteUsageError, parseSuiteArgs } from "./integration/lib/args";
import { approvalTokenFromActionExecutions, isExecutionOfTask } from "./integration/lib/codePipeline";
import {
  callbackInvocationFromHistory,
  fromBase64Url,
  taskTokenFromHistory,
  taskTokenFromParameters,
  waitingTask,
} from "./integration/lib/history";
import {
  IT_COMMENT,
  IT_PAGE_NAME,
  IT_REJECT_COMMENT,
  expectedOutcome,
  outcomeProblems,
} from "./integration/lib/outcome";
import { PrerequisiteFacts, formatPrerequisiteLine, prerequisiteLines } from "./integration/lib/prerequisites";
import {
  SUITE_ROLE_PATTERN,
  SuiteIdentityError,
  environmentAs,
  runnerOf,
  runnerTrustPolicy,
  suiteRoleNames,
  suiteRolePolicy,
} from "./integration/lib/roles";
import { SignedAws } from "./integration/lib/signedAws";
import {
  DEFAULT_IT_EMAIL,
  EMOJI_TITLE,
  IT_STAGE,
  IT_TIMEOUTS,
  IT_UNSUPPORTED,
  MECHANISMS,
  Mechanism,
  isEmailMechanism,
  itStackConfig,
  itTimeoutSeconds,
  rawConfigOf,
  runPlans,
  stackNameFor,
  suiteStackName,
} from "./integration/lib/stackConfig";
import {
  isIamRefusal,
  judgeApproverDecisions,
  judgeAutomationClientToken,
  judgeClientRequestToken,
  judgeHeartbeatClock,
  judgeNonApproverSignal,
  judgeRejectedStep,
  judgeResolvedConfiguration,
  judgeUpdatedBy,
} from "./integration/lib/unknowns";
import { OperationCounter } from "./integration/stack";
import { composeApprovalEmail as emailOf } from "../functions/mechanisms/email/emailLink";

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
  return {
    id: nextId,
    previousEventId: nextId - 1,
    timestamp: new Date(T0 + nextId * 100),
    type: type as HistoryEvent["type"],
    ...details,
  };
}

/** The start of every execution: input read and validated, the stage's Task state entered. */
function executionStart(): HistoryEvent[] {
  nextId = 0;
  return [
    event("ExecutionStarted", {
      executionStartedEventDetails: {
        input: JSON.stringify(REQUEST),
        roleArn: `arn:aws:iam::${ACCOUNT}:role/sfn-role`,
      },
    }),
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
    event("TaskScheduled", {
      taskScheduledEventDetails: {
        ...LAMBDA,
        region: REGION,
        parameters: JSON.stringify(parameters),
        timeoutInSeconds: 900,
      },
    }),
    event("TaskStarted", { taskStartedEventDetails: LAMBDA }),
    event("TaskSubmitted", {
      taskSubmittedEventDetails: { ...LAMBDA, output: JSON.stringify({ StatusCode: 200, Payload: {} }) },
    }),
  ];
}

/** sns-callback: the token is only in the message's approval link, base64url; the request's own text may hold a look-alike link first. */
function snsCallbackHistory(): HistoryEvent[] {
  const b64url = (text: string) => Buffer.from(text).toString("base64url");
  const message =
    `Approval requested: Expense report ER98765\nRequest: ER98765\nAmount: 750.5 USD\n` +
    `Details: {"note":"see ${PAGE_URL}?t=${b64url(OTHER_TOKEN)}&e=x&s=it"}\n\nWorkflow: sfn-approvals-${STACK}\nExecution: ${STACK}\nStage: ${IT_STAGE}\n` +
    `Decide by: 2026-11-22T10:15:00.000Z\n\nReview the request and approve or reject it here:\n` +
    `${PAGE_URL}?t=${b64url(TOKEN)}&e=${encodeURIComponent(EXECUTION_ARN)}&s=${IT_STAGE}\n\nOpening the link decides nothing: ...\n`;
  const parameters = {
    TopicArn: `arn:aws:sns:${REGION}:${ACCOUNT}:sfn-approvals-${STACK}-${IT_STAGE}-approvals`,
    Subject: "Approval needed: Expense report ER98765",
    Message: message,
  };
  return [
    ...executionStart(),
    event("TaskScheduled", {
      taskScheduledEventDetails: {
        ...SNS,
        region: REGION,
        parameters: JSON.stringify(parameters),
        timeoutInSeconds: 900,
      },
    }),
    event("TaskStarted", { taskStartedEventDetails: SNS }),
    event("TaskSubmitted", {
      taskSubmittedEventDetails: {
        ...SNS,
        output: JSON.stringify({ MessageId: "5f1d7a4c-0000-0000-0000-000000000000" }),
      },
    }),
  ];
}

function activityHistory(): HistoryEvent[] {
  return [
    ...executionStart(),
    event("ActivityScheduled", {
      activityScheduledEventDetails: {
        resource: `arn:aws:states:${REGION}:${ACCOUNT}:activity:sfn-approvals-${STACK}-it`,
        input: JSON.stringify({ request: REQUEST, stage: IT_STAGE, executionArn: EXECUTION_ARN }),
        timeoutInSeconds: 900,
        heartbeatInSeconds: 120,
      },
    }),
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
        id: newestId + 1,
        previousEventId: newestId,
        timestamp: new Date(),
        type: "TaskScheduled",
        taskScheduledEventDetails: {
          resource: "publish",
          resourceType: "sns",
          region: "eu-west-1",
          parameters: JSON.stringify({
            TopicArn: "arn:aws:sns:eu-west-1:123456789012:t",
            Subject: "Reminder: approval needed: x",
            Message: "Reminder: ...",
          }),
        },
      } as HistoryEvent;
      expect(taskTokenFromHistory([...events, reminder])).to.equal(TOKEN);
    });

    it("with follow-ups: waits at the callback Task while a reminder publish (newer, no token) fails beside it", () => {
      const events = HISTORIES["sns-callback"]();
      const newestId = Math.max(...events.map((e) => e.id ?? 0));
      const branchStart = events.find((e) => e.type === "TaskScheduled")!.previousEventId!;
      const reminder: HistoryEvent[] = [
        {
          id: newestId + 1,
          previousEventId: branchStart,
          timestamp: new Date(),
          type: "TaskScheduled",
          taskScheduledEventDetails: {
            resource: "publish",
            resourceType: "sns",
            region: REGION,
            parameters: JSON.stringify({ TopicArn: "t", Message: "Reminder" }),
          },
        },
        {
          id: newestId + 2,
          previousEventId: newestId + 1,
          timestamp: new Date(),
          type: "TaskStarted",
          taskStartedEventDetails: { resource: "publish", resourceType: "sns" },
        },
        {
          id: newestId + 3,
          previousEventId: newestId + 2,
          timestamp: new Date(),
          type: "TaskFailed",
          taskFailedEventDetails: {
            resource: "publish",
            resourceType: "sns",
            error: "SNS.ThrottledException",
            cause: "Rate exceeded",
          },
        },
      ];
      expect(waitingTask(newestFirst([...events, ...reminder]), false)).to.deep.equal({
        kind: "waiting",
        token: TOKEN,
        submitted: true,
      });
    });

    it("works whatever order the events come in", () => {
      expect(taskTokenFromHistory(HISTORIES["sns-callback"]())).to.equal(TOKEN);
      expect(waitingTask(HISTORIES.codepipeline(), false)).to.deep.equal({
        kind: "waiting",
        token: TOKEN,
        submitted: true,
      });
    });

    it("takes the newest TaskScheduled when a throttled invocation was scheduled again", () => {
      const first = lambdaStageHistory("stage-it-start-fn-1a2b3c4", OTHER_TOKEN).slice(0, -2);
      const events = [
        ...first,
        event("TaskFailed", {
          taskFailedEventDetails: { ...LAMBDA, error: "Lambda.TooManyRequestsException", cause: "Rate exceeded" },
        }),
        event("TaskScheduled", {
          taskScheduledEventDetails: {
            ...LAMBDA,
            region: REGION,
            parameters: JSON.stringify({ FunctionName: "f", Payload: { taskToken: TOKEN } }),
          },
        }),
        event("TaskStarted", { taskStartedEventDetails: LAMBDA }),
        event("TaskSubmitted", { taskSubmittedEventDetails: LAMBDA }),
      ];
      expect(waitingTask(newestFirst(events), false)).to.deep.equal({ kind: "waiting", token: TOKEN, submitted: true });
    });

    it("is not ready before the Task is scheduled, nor before the start call returned", () => {
      expect(waitingTask(newestFirst(executionStart()), false)).to.deep.equal({ kind: "not-yet" });
      expect(waitingTask(newestFirst(executionStart()), true)).to.deep.equal({ kind: "not-yet" });
      expect(waitingTask(newestFirst(lambdaStageHistory("f").slice(0, -2)), false)).to.deep.equal({
        kind: "waiting",
        token: TOKEN,
        submitted: false,
      });
    });

    it("says why when the Task or the execution ended without waiting", () => {
      const scheduledOnly = lambdaStageHistory("f").slice(0, -2);
      // The failure follows the TaskScheduled (previousEventId), as Step Functions links them.
      const failed = [
        ...scheduledOnly,
        event("TaskFailed", {
          previousEventId: scheduledOnly[scheduledOnly.length - 1].id,
          taskFailedEventDetails: { ...LAMBDA, error: "Lambda.AWSLambdaException", cause: "AccessDenied" },
        }),
      ];
      expect(waitingTask(newestFirst(failed), false)).to.deep.equal({
        kind: "ended",
        reason: "the stage's Task failed: TaskFailed (Lambda.AWSLambdaException: AccessDenied)",
      });
      const aborted = [
        ...activityHistory(),
        event("ExecutionAborted", {
          executionAbortedEventDetails: { error: "IntegrationSuiteCleanup", cause: "stopped" },
        }),
      ];
      expect(waitingTask(newestFirst(aborted), true)).to.deep.equal({
        kind: "ended",
        reason: "the execution ended before a decision was sent: ExecutionAborted (IntegrationSuiteCleanup: stopped)",
      });
      const tokenless = [
        ...executionStart(),
        event("TaskScheduled", {
          taskScheduledEventDetails: {
            ...LAMBDA,
            region: REGION,
            parameters: JSON.stringify({ FunctionName: "f", Payload: { request: REQUEST } }),
          },
        }),
      ];
      expect(waitingTask(newestFirst(tokenless), false)).to.deep.equal({
        kind: "ended",
        reason:
          "the newest TaskScheduled event (lambda:invoke.waitForTaskToken) carries no task token in its parameters",
      });
    });

    it("reads only exact base64url and only the last approval link of a message", () => {
      expect(fromBase64Url(Buffer.from(TOKEN).toString("base64url"))).to.equal(TOKEN);
      expect(fromBase64Url("QUJD+/8=")).to.equal(undefined); // standard base64: '+', '/', '='
      expect(fromBase64Url("QUJDRB")).to.equal(undefined); // decodes to "ABCD", whose base64url is QUJDRA
      expect(fromBase64Url("QUJDRA")).to.equal("ABCD");
      expect(taskTokenFromParameters("not json")).to.equal(undefined);
      expect(taskTokenFromParameters(JSON.stringify({ Message: "no link here" }))).to.equal(undefined);
      expect(
        taskTokenFromParameters(
          JSON.stringify({
            Message: `${PAGE_URL}?t=${Buffer.from("a").toString("base64url")} then ${PAGE_URL}?t=${Buffer.from(TOKEN).toString("base64url")}&e=x`,
          }),
        ),
      ).to.equal(TOKEN);
    });
  });

  describe("the suite's roles", () => {
    it("trusts the runner only: an IAM user by its ARN, a role session by its role's name with or without a path", () => {
      expect(runnerOf(CALLER)).to.deep.equal({
        kind: "role",
        partition: "aws",
        account: ACCOUNT,
        name: "ReleaseApprover",
      });
      expect(
        JSON.parse(
          runnerTrustPolicy(
            runnerOf(`arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/jane@example.com`),
          ),
        ),
      ).to.deep.equal({
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "OnlyTheSuiteRunnerAssumes",
            Effect: "Allow",
            Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
            Action: "sts:AssumeRole",
            Condition: {
              ArnLike: {
                "aws:PrincipalArn": [
                  `arn:aws:iam::${ACCOUNT}:role/AWSReservedSSO_Admin_0123456789abcdef`,
                  `arn:aws:iam::${ACCOUNT}:role/*/AWSReservedSSO_Admin_0123456789abcdef`,
                ],
              },
            },
          },
        ],
      });
      const user = `arn:aws-cn:iam::${ACCOUNT}:user/ops/alice`;
      expect(JSON.parse(runnerTrustPolicy(runnerOf(user))).Statement[0]).to.deep.include({
        Principal: { AWS: `arn:aws-cn:iam::${ACCOUNT}:root` },
        Condition: { ArnEquals: { "aws:PrincipalArn": user } },
      });
    });

    it("refuses runners that cannot assume a role", () => {
      expect(() => runnerOf(`arn:aws:iam::${ACCOUNT}:root`)).to.throw(SuiteIdentityError, /root user/);
      expect(() => runnerOf(`arn:aws:sts::${ACCOUNT}:federated-user/bob`)).to.throw(
        SuiteIdentityError,
        /federated user/,
      );
      expect(() => runnerOf("AIDAEXAMPLE")).to.throw(SuiteIdentityError);
    });

    it("names an approver and a non-approver per stack, which --cleanup-stale recognises", () => {
      for (const mechanism of ["ssm-automation", "codepipeline", "activity"] as const) {
        const names = suiteRoleNames(stackNameFor(mechanism, "3f9a1c"));
        expect(names).to.deep.equal({
          approver: `sfn-approvals-it-${mechanism}-3f9a1c-approver`,
          other: `sfn-approvals-it-${mechanism}-3f9a1c-other`,
        });
        for (const name of Object.values(names)) {
          expect(name.length).to.be.at.most(64);
          expect(SUITE_ROLE_PATTERN.test(name)).to.equal(true);
        }
      }
      expect(SUITE_ROLE_PATTERN.test("ReleaseApprover")).to.equal(false);
      expect(SUITE_ROLE_PATTERN.test("sfn-approvals-prod-approver")).to.equal(false);
    });

    it("gives both roles ssm:SendAutomationSignal for ssm-automation (the stack grants approvers nothing there), nothing otherwise", () => {
      expect(
        JSON.parse(suiteRolePolicy("ssm-automation", { partition: "aws", region: REGION, account: ACCOUNT })!),
      ).to.deep.equal({
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "SignalApprovalAutomations",
            Effect: "Allow",
            Action: "ssm:SendAutomationSignal",
            Resource: `arn:aws:ssm:${REGION}:${ACCOUNT}:automation-execution/*`,
          },
        ],
      });
      expect(suiteRolePolicy("codepipeline", { partition: "aws", region: REGION, account: ACCOUNT })).to.equal(
        undefined,
      );
      expect(suiteRolePolicy("activity", { partition: "aws", region: REGION, account: ACCOUNT })).to.equal(undefined);
    });

    it("runs the worker with the assumed role's credentials and none of the runner's other sources (AWS_PROFILE would win)", () => {
      const env = environmentAs(
        {
          PATH: "/bin",
          AWS_REGION: REGION,
          AWS_PROFILE: "admin",
          AWS_ACCESS_KEY_ID: "AKIARUNNER",
          AWS_SECRET_ACCESS_KEY: "s",
          AWS_SESSION_TOKEN: "t",
          AWS_WEB_IDENTITY_TOKEN_FILE: "/f",
          AWS_ROLE_ARN: "r",
        },
        { credentials: { accessKeyId: "ASIAAPPROVER", secretAccessKey: "a", sessionToken: "b" }, sessionArn: "x" },
      );
      expect(env).to.deep.equal({
        PATH: "/bin",
        AWS_REGION: REGION,
        AWS_ACCESS_KEY_ID: "ASIAAPPROVER",
        AWS_SECRET_ACCESS_KEY: "a",
        AWS_SESSION_TOKEN: "b",
      });
    });
  });

  describe("stack config per mechanism", () => {
    for (const mechanism of MECHANISMS) {
      it(`${mechanism}: one stage "it", valid for parseConfig`, () => {
        const approver = isEmailMechanism(mechanism)
          ? DEFAULT_IT_EMAIL
          : `arn:aws:iam::${ACCOUNT}:role/${suiteRoleNames(stackNameFor(mechanism, "3f9a1c")).approver}`;
        const config = itStackConfig({ mechanism, region: REGION, approver });
        expect(Object.keys(config).sort()).to.deep.equal([
          "aws-native:region",
          "aws:region",
          "sfn-approvals:audit",
          "sfn-approvals:stages",
        ]);
        expect(config["aws:region"]).to.deep.equal({ value: REGION });
        expect(config["aws-native:region"]).to.deep.equal({ value: REGION });
        const parsed = parseConfig(rawConfigOf(config));
        expect(parsed).to.deep.equal({
          autoApproveBelow: undefined,
          alertEmails: [],
          executionDataReaders: [],
          audit: { enabled: true, retention: { days: 1 }, retentionText: "1d", mode: "GOVERNANCE" },
          rollout: DEFAULT_ROLLOUT,
          stages: [
            {
              name: IT_STAGE,
              mechanism,
              approvers: [approver],
              minRequiredApprovals: 1,
              notify: [],
              timeoutSeconds: itTimeoutSeconds(mechanism),
              timeout: IT_TIMEOUTS[mechanism],
              // Every test stage runs inside the follow-up Parallel on real AWS; email-link's timeout run waits for a reminder.
              ...(mechanism === "email-link" ? { remindEverySeconds: 300, remindEvery: "5m" } : {}),
              escalateTo: { emails: [DEFAULT_IT_EMAIL], topicArns: [] },
              escalateAfterPercent: 50,
            },
          ],
        });
      });
    }

    it("names stacks it-<mechanism>-<suffix>, short enough for the names derived from it", () => {
      expect(stackNameFor("ssm-automation", "3f9a1c")).to.equal("it-ssm-automation-3f9a1c");
      // The state machine is sfn-approvals-<stack> and the activity sfn-approvals-<stack>-<stage>: at most 80 characters each.
      for (const mechanism of MECHANISMS)
        expect(`sfn-approvals-${stackNameFor(mechanism, "3f9a1c")}-${IT_STAGE}`.length).to.be.at.most(80);
      expect(() => stackNameFor("activity", "Bad_Suffix")).to.throw(/suffix/);
    });

    it("times out soon enough for a run, late enough to decide first (codepipeline's minimum; a heartbeat check; a reminder and the escalation before the timeout)", () => {
      expect(IT_TIMEOUTS).to.deep.equal({
        "ssm-automation": "3m",
        codepipeline: "5m",
        activity: "4m",
        "email-link": "6m",
        "sns-callback": "3m",
      });
      // The activity's approve run waits past HeartbeatSeconds (120) plus a margin before its worker polls.
      expect(itTimeoutSeconds("activity")).to.be.above(120 + 30 + 30);
      // email-link: the reminder at 5m and the escalation at 50% both fall before the timeout.
      expect(itTimeoutSeconds("email-link")).to.be.above(300);
    });

    it("runs approve, reject and timeout; the email mechanisms reject a request titled with 120 emoji", () => {
      expect(runPlans("codepipeline")).to.deep.equal([
        { outcome: "approved", suffix: "approve" },
        { outcome: "rejected", suffix: "reject" },
        { outcome: "timed_out", suffix: "timeout" },
      ]);
      expect(runPlans("sns-callback")[1]).to.deep.equal({ outcome: "rejected", suffix: "reject", title: EMOJI_TITLE });
      expect(Array.from(EMOJI_TITLE)).to.have.length(120);
      // The subject the publish carries: 99 code points, 181 UTF-16 units, 345 bytes.
      const subject = emailOf({
        request: { title: EMOJI_TITLE },
        stage: IT_STAGE,
        executionArn: EXECUTION_ARN,
        link: PAGE_URL,
        deadline: new Date(T0),
      }).subject;
      expect([Array.from(subject).length, subject.length, Buffer.byteLength(subject)]).to.deep.equal([99, 181, 345]);
    });

    it("recognises its own stacks, also in Pulumi Cloud's org/project/stack form", () => {
      expect(suiteStackName("it-activity-3f9a1c")).to.equal("it-activity-3f9a1c");
      expect(suiteStackName("acme/sfn-approvals/it-email-link-t00001")).to.equal("it-email-link-t00001");
      expect(suiteStackName("dev")).to.equal(undefined);
      expect(suiteStackName("it-carrier-pigeon-3f9a1c")).to.equal(undefined);
    });

    it("knows which mechanisms take email addresses, and refuses a malformed Region", () => {
      expect(MECHANISMS.filter(isEmailMechanism)).to.deep.equal(["email-link", "sns-callback"]);
      expect(() => itStackConfig({ mechanism: "activity", region: "Europe", approver: ROLE })).to.throw(/Region/);
    });
  });

  describe("approval page form", () => {
    const settings = {
      stateMachineArn: STATE_MACHINE_ARN,
      stages: { [IT_STAGE]: "sns-callback" as Mechanism },
      codeLinkMechanisms: ["email-link" as Mechanism],
    };

    it("posts t (base64url token), e, s, name, comment and decision, urlencoded", () => {
      const body = approvalPageForm({
        token: TOKEN,
        executionArn: EXECUTION_ARN,
        stage: IT_STAGE,
        name: IT_PAGE_NAME,
        comment: IT_COMMENT,
        decision: "approve",
      });
      expect(FORM_CONTENT_TYPE).to.equal("application/x-www-form-urlencoded");
      const fields = Object.fromEntries(new URLSearchParams(body));
      expect(fields).to.deep.equal({
        t: Buffer.from(TOKEN).toString("base64url"),
        e: EXECUTION_ARN,
        s: IT_STAGE,
        name: IT_PAGE_NAME,
        comment: IT_COMMENT,
        decision: "approve",
      });
      // base64url needs no escaping: the token arrives exactly as the link carries it.
      expect(fields.t).to.match(/^[A-Za-z0-9_-]+$/);
      expect(body.startsWith(`t=${fields.t}&`)).to.equal(true);
      // What the page itself reads from that body (functions/mechanisms/email/approvalPage.ts): the same token, execution and stage.
      expect(linkParams(fields, settings)).to.deep.equal({
        token: TOKEN,
        executionArn: EXECUTION_ARN,
        stage: IT_STAGE,
        mechanism: "sns-callback",
      });
    });

    it("leaves the comment out when there is none", () => {
      const fields = Object.fromEntries(
        new URLSearchParams(
          approvalPageForm({
            token: TOKEN,
            executionArn: EXECUTION_ARN,
            stage: IT_STAGE,
            name: "Fay",
            decision: "reject",
          }),
        ),
      );
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
      expect(
        isExecutionOfTask(
          {
            variables: [
              { name: "RequestId", resolvedValue: "ER98765" },
              { name: "ApprovalKey", resolvedValue: approvalKeyOf(TOKEN) },
            ],
          },
          TOKEN,
        ),
      ).to.equal(true);
      expect(isExecutionOfTask({ variables: [{ name: "ApprovalKey", resolvedValue: "-" }] }, TOKEN)).to.equal(false);
      expect(isExecutionOfTask({}, TOKEN)).to.equal(false);
    });

    it("takes the waiting Approve action's externalExecutionId of that execution (PARALLEL mode)", () => {
      const details = [
        {
          pipelineExecutionId: initial,
          stageName: "Approval",
          actionName: "Approve",
          status: "InProgress" as const,
          output: { executionResult: { externalExecutionId: "approval-of-initial-run" } },
        },
        {
          pipelineExecutionId: mine,
          stageName: "Request",
          actionName: "Request",
          status: "Succeeded" as const,
          output: { executionResult: { externalExecutionId: "s3-version-id" } },
        },
        {
          pipelineExecutionId: mine,
          stageName: "Approval",
          actionName: "Approve",
          status: "InProgress" as const,
          output: { executionResult: { externalExecutionId: "3e1c7d2a-4b5f-4c6d-8e9f-0a1b2c3d4e5f" } },
        },
      ];
      expect(approvalTokenFromActionExecutions(details, mine)).to.equal("3e1c7d2a-4b5f-4c6d-8e9f-0a1b2c3d4e5f");
      expect(approvalTokenFromActionExecutions(details.slice(0, 2), mine)).to.equal(undefined);
    });
  });

  describe("the execution's outcome", () => {
    const SESSION = `arn:aws:sts::${ACCOUNT}:assumed-role/ReleaseApprover/sfn-approvals-it`;
    const decision = (overrides: Record<string, unknown> = {}) => ({
      approved: true,
      decision: "approved",
      stage: IT_STAGE,
      mechanism: "codepipeline",
      approver: CALLER,
      comment: IT_COMMENT,
      decidedAt: "2026-11-22T10:05:00Z",
      ...overrides,
    });
    const execution = (stage: Record<string, unknown>, overrides: Record<string, unknown> = {}) => ({
      status: "SUCCEEDED",
      output: JSON.stringify({
        approved: stage.approved,
        decision: stage.decision,
        stages: [stage],
        request: REQUEST,
        ...overrides,
      }),
    });
    const expected = (mechanism: Mechanism, outcome: "approved" | "rejected" | "timed_out" = "approved") =>
      expectedOutcome({ mechanism, outcome, stage: IT_STAGE, request: REQUEST, roleArn: ROLE, sessionArn: SESSION });
    const rejected = { approved: false, decision: "rejected", comment: IT_REJECT_COMMENT };
    const timedOut = { approved: false, decision: "timed_out", approver: null, comment: null };

    it("accepts the approval, rejection and timeout each mechanism reports", () => {
      expect(outcomeProblems(execution(decision()), expected("codepipeline"))).to.deep.equal([]);
      expect(outcomeProblems(execution(decision({ ...rejected })), expected("codepipeline", "rejected"))).to.deep.equal(
        [],
      );
      expect(
        outcomeProblems(execution(decision({ mechanism: "activity", approver: SESSION })), expected("activity")),
      ).to.deep.equal([]);
      expect(
        outcomeProblems(
          execution(decision({ mechanism: "ssm-automation", approver: "alice", comment: "via SSM" })),
          expected("ssm-automation"),
        ),
      ).to.deep.equal([]);
      expect(
        outcomeProblems(
          execution(decision({ mechanism: "sns-callback", approver: pageApprover(IT_PAGE_NAME), ...rejected })),
          expected("sns-callback", "rejected"),
        ),
      ).to.deep.equal([]);
      for (const mechanism of MECHANISMS)
        expect(
          outcomeProblems(execution(decision({ mechanism, ...timedOut })), expected(mechanism, "timed_out")),
        ).to.deep.equal([]);
    });

    it("names every difference from the expected outcome", () => {
      expect(
        outcomeProblems(
          execution(decision({ mechanism: "activity", ...rejected, approver: SESSION })),
          expected("codepipeline"),
        ),
      ).to.deep.equal([
        "output.approved is false, expected true",
        'output.decision is "rejected", expected "approved"',
        'output.stages[0].mechanism is "activity", expected "codepipeline"',
        "output.stages[0].approved is false, expected true",
        'output.stages[0].decision is "rejected", expected "approved"',
        `output.stages[0].comment is "${IT_REJECT_COMMENT}", expected "${IT_COMMENT}"`,
      ]);
      expect(
        outcomeProblems(
          execution(decision({ approver: `arn:aws:sts::${ACCOUNT}:assumed-role/Admin/bob` })),
          expected("codepipeline"),
        ),
      ).to.deep.equal([
        `output.stages[0].approver is "arn:aws:sts::${ACCOUNT}:assumed-role/Admin/bob", expected ${ROLE} or a session of it`,
      ]);
      expect(
        outcomeProblems(execution(decision({ mechanism: "activity", approver: CALLER })), expected("activity")),
      ).to.deep.equal([`output.stages[0].approver is "${CALLER}", expected "${SESSION}"`]);
      expect(
        outcomeProblems(
          execution(decision({ mechanism: "email-link", approver: "Mallory (via email link)" })),
          expected("email-link"),
        ),
      ).to.deep.equal([
        `output.stages[0].approver is "Mallory (via email link)", expected "${IT_PAGE_NAME} (via email link)"`,
      ]);
      expect(outcomeProblems(execution(decision(), { stages: [] }), expected("codepipeline"))).to.deep.equal([
        "output.stages should hold exactly one decision (stage it), got []",
      ]);
      // A timeout names nobody and carries no comment.
      expect(
        outcomeProblems(execution(decision({ ...timedOut, approver: CALLER })), expected("codepipeline", "timed_out")),
      ).to.deep.equal([`output.stages[0].approver is "${CALLER}", expected null`]);
      // An approval where a rejection was wanted.
      expect(outcomeProblems(execution(decision()), expected("codepipeline", "rejected"))).to.deep.equal([
        "output.approved is true, expected false",
        'output.decision is "approved", expected "rejected"',
        "output.stages[0].approved is true, expected false",
        'output.stages[0].decision is "approved", expected "rejected"',
        `output.stages[0].comment is "${IT_COMMENT}", expected "${IT_REJECT_COMMENT}"`,
      ]);
    });

    it("reports an execution that did not succeed with its error", () => {
      expect(
        outcomeProblems(
          { status: "FAILED", error: "UnauthorizedApprover", cause: "answered by someone else" },
          expected("codepipeline"),
        ),
      ).to.deep.equal(["the execution ended FAILED (UnauthorizedApprover: answered by someone else), not SUCCEEDED"]);
    });
  });

  describe("command line", () => {
    const defaults = {
      keep: false,
      verbose: false,
      help: false,
      require: false,
      cleanupStale: false,
      olderThanMs: DEFAULT_STALE_AFTER_MS,
    };

    it("runs all five mechanisms by default, in the README's order", () => {
      expect(parseSuiteArgs([])).to.deep.equal({ ...defaults, mechanisms: [...MECHANISMS] });
    });

    it("takes --mechanism repeated or comma-separated, --keep, --verbose and --require", () => {
      expect(
        parseSuiteArgs([
          "--mechanism",
          "sns-callback",
          "--mechanism=activity,ssm-automation",
          "--keep",
          "--verbose",
          "--require",
        ]),
      ).to.deep.equal({
        ...defaults,
        mechanisms: ["ssm-automation", "activity", "sns-callback"],
        keep: true,
        verbose: true,
        require: true,
      });
    });

    it("takes --cleanup-stale alone, with --older-than", () => {
      expect(parseSuiteArgs(["--cleanup-stale"])).to.deep.include({ cleanupStale: true, olderThanMs: 2 * 3600 * 1000 });
      expect(parseSuiteArgs(["--cleanup-stale", "--older-than", "0m"])).to.deep.include({
        cleanupStale: true,
        olderThanMs: 0,
      });
      expect(parseSuiteArgs(["--cleanup-stale", "--older-than=1d"])).to.deep.include({ olderThanMs: 86400 * 1000 });
      expect(() => parseSuiteArgs(["--older-than", "1h"])).to.throw(SuiteUsageError, /goes with --cleanup-stale/);
      expect(() => parseSuiteArgs(["--cleanup-stale", "--mechanism", "activity"])).to.throw(
        SuiteUsageError,
        /runs no tests/,
      );
      expect(() => parseSuiteArgs(["--cleanup-stale", "--older-than", "2 hours"])).to.throw(
        SuiteUsageError,
        /--older-than '2 hours'/,
      );
    });

    it("refuses unknown mechanisms and arguments", () => {
      expect(() => parseSuiteArgs(["--mechanism", "carrier-pigeon"])).to.throw(
        SuiteUsageError,
        /unknown mechanism 'carrier-pigeon'/,
      );
      expect(() => parseSuiteArgs(["--mechanism"])).to.throw(SuiteUsageError, /needs a value/);
      expect(() => parseSuiteArgs(["--destroy"])).to.throw(SuiteUsageError, /unexpected argument/);
      expect(() => parseSuiteArgs(["--keep=yes"])).to.throw(SuiteUsageError, /takes no value/);
    });

    it("runs every mechanism but slack, and refuses slack with the reason (it needs a Slack workspace)", () => {
      expect([...MECHANISMS]).to.deep.equal([
        "ssm-automation",
        "codepipeline",
        "activity",
        "email-link",
        "sns-callback",
      ]);
      expect(Object.keys(IT_UNSUPPORTED)).to.deep.equal(["slack"]);
      expect(() => parseSuiteArgs(["--mechanism", "activity,slack"])).to.throw(
        SuiteUsageError,
        /mechanism 'slack' is not run by this suite: a slack stage is decided by a person clicking in a Slack workspace/,
      );
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
      expect(lines.map((line) => [line.ok, line.item])).to.deep.equal([
        [false, "Pulumi CLI"],
        [false, "Pulumi backend"],
        [false, "AWS Region"],
        [false, "AWS credentials"],
      ]);
      for (const line of lines) expect(formatPrerequisiteLine(line)).to.match(/^ {2}missing {2}[^\n]+$/);
      expect(lines[0].text).to.contain("install it");
      expect(lines[1].text).to.contain("PULUMI_CONFIG_PASSPHRASE");
      expect(lines[2].text).to.contain("export AWS_REGION=");
      expect(lines[3].text).to.contain("Could not load credentials").and.contain("AWS_PROFILE");
    });

    it("all present: nothing missing", () => {
      expect(prerequisiteLines(ready).every((line) => line.ok)).to.equal(true);
      expect(
        prerequisiteLines({
          ...ready,
          backend: { ok: true, user: "alice", url: "https://api.pulumi.com" },
          passphraseSet: false,
        }).every((line) => line.ok),
      ).to.equal(true);
    });

    it("a local backend needs the passphrase; a failed login or a bad Region is missing", () => {
      expect(
        prerequisiteLines({ ...ready, passphraseSet: false })
          .filter((line) => !line.ok)
          .map((line) => line.item),
      ).to.deep.equal(["Pulumi passphrase"]);
      expect(
        prerequisiteLines({ ...ready, backend: { ok: false, reason: "not logged in" } })
          .filter((line) => !line.ok)
          .map((line) => line.item),
      ).to.deep.equal(["Pulumi backend"]);
      expect(
        prerequisiteLines({ ...ready, region: { name: "moon-1", from: "AWS_DEFAULT_REGION" } })
          .filter((line) => !line.ok)
          .map((line) => line.text),
      ).to.deep.equal([
        "AWS_DEFAULT_REGION is 'moon-1', which is not a Region name; export AWS_REGION=<a Region like eu-west-1>",
      ]);
    });
  });
  describe("email-link from the email itself (issue 11, defect 12)", () => {
    const CODE = "Q2xhdWRlIHdhcyBoZXJlIGFuZCBsZWZ0IGEgY29kZQ0";
    const email = (executionArn: string, link: string) =>
      composeApprovalEmail({
        request: { ...REQUEST, title: `Pay ${PAGE_URL}?c=${"x".repeat(43)} now` },
        stage: IT_STAGE,
        executionArn,
        link,
        deadline: new Date(T0),
      }).message;

    it("takes the code link of this execution's email (the real link comes last), not a reminder's or another execution's", () => {
      expect(CODE).to.have.length(43);
      const mine = email(EXECUTION_ARN, codeLink(PAGE_URL, CODE));
      expect(codeLinkInEmail(mine, PAGE_URL, STACK)).to.equal(`${PAGE_URL}?c=${CODE}`);
      expect(codeLinkInEmail(email(`${EXECUTION_ARN}-other`, codeLink(PAGE_URL, CODE)), PAGE_URL, STACK)).to.equal(
        undefined,
      );
      expect(
        codeLinkInEmail(
          `Reminder: Approval ${IT_STAGE} still waits.\nExecution: ${STACK}\nOpen your earlier email.`,
          PAGE_URL,
          STACK,
        ),
      ).to.equal(undefined);
      expect(codeLinkInEmail(mine.replace(CODE, `${CODE}X`), PAGE_URL, STACK)).to.equal(
        `${PAGE_URL}?c=${"x".repeat(43)}`,
      );
    });

    it("posts the code alone with the name, comment and decision", () => {
      expect(
        Object.fromEntries(
          new URLSearchParams(
            codePageForm({ code: CODE, name: IT_PAGE_NAME, comment: IT_COMMENT, decision: "approve" }),
          ),
        ),
      ).to.deep.equal({
        c: CODE,
        name: IT_PAGE_NAME,
        comment: IT_COMMENT,
        decision: "approve",
      });
    });

    it("lets only the stage's topics deliver to the inbox queue", () => {
      const queue = `arn:aws:sqs:${REGION}:${ACCOUNT}:${STACK}-inbox`;
      const topic = `arn:aws:sns:${REGION}:${ACCOUNT}:sfn-approvals-${STACK}-it-approvals`;
      const escalation = `arn:aws:sns:${REGION}:${ACCOUNT}:sfn-approvals-${STACK}-it-escalation`;
      const statement = {
        Sid: "StageTopicsDeliver",
        Effect: "Allow",
        Principal: { Service: "sns.amazonaws.com" },
        Action: "sqs:SendMessage",
        Resource: queue,
      };
      expect(JSON.parse(inboxQueuePolicy(queue, [topic]))).to.deep.equal({
        Version: "2012-10-17",
        Statement: [{ ...statement, Condition: { ArnEquals: { "aws:SourceArn": topic } } }],
      });
      expect(JSON.parse(inboxQueuePolicy(queue, [topic, escalation])).Statement[0].Condition).to.deep.equal({
        ArnEquals: { "aws:SourceArn": [topic, escalation] },
      });
    });

    it("takes an sns-callback email's token link (the last one) with the token, execution and stage it carries", () => {
      const link = approvalLink(PAGE_URL, TOKEN, EXECUTION_ARN, IT_STAGE);
      const message = emailOf({
        request: { ...REQUEST, title: `see ${approvalLink(PAGE_URL, OTHER_TOKEN, EXECUTION_ARN, IT_STAGE)}` },
        stage: IT_STAGE,
        executionArn: EXECUTION_ARN,
        link,
        deadline: new Date(T0),
      }).message;
      expect(tokenLinkInEmail(message, PAGE_URL, STACK)).to.deep.equal({
        link,
        token: TOKEN,
        executionArn: EXECUTION_ARN,
        stage: IT_STAGE,
      });
      expect(tokenLinkInEmail(message, PAGE_URL, `${STACK}-other`)).to.equal(undefined);
      expect(tokenLinkInEmail(message.replace(link, `${PAGE_URL}?t=QUJD+&e=x&s=it`), PAGE_URL, STACK)?.token).to.equal(
        OTHER_TOKEN,
      );
    });

    it("tells the reminders and escalations of an execution apart (components/workflow/stageFollowUps.ts wording)", () => {
      const lines = `Request: x\nWorkflow: sfn-approvals-${STACK}\nExecution: ${STACK}\n`;
      const reminder = `Reminder: this approval request is still waiting for a decision at stage 'it'.\n\n${lines}`;
      const escalation = `Escalation: this approval request has waited 50% of its timeout at stage 'it' (email-link) without a decision.\n\n${lines}`;
      expect([
        isReminderOf(reminder, STACK),
        isEscalationOf(reminder, STACK),
        isReminderOf(escalation, STACK),
        isEscalationOf(escalation, STACK),
      ]).to.deep.equal([true, false, false, true]);
      expect(isReminderOf(reminder, `${STACK}-other`)).to.equal(false);
    });
  });

  describe("reading the history without the key", () => {
    const history = (token: string) => lambdaStageHistory("start", token);

    it("lets the federated reader read exactly this execution", () => {
      expect(JSON.parse(readerSessionPolicy(EXECUTION_ARN))).to.deep.equal({
        Version: "2012-10-17",
        Statement: [
          {
            Effect: "Allow",
            Action: ["states:GetExecutionHistory", "states:DescribeExecution"],
            Resource: EXECUTION_ARN,
          },
        ],
      });
    });

    it("fails only when the reader got a task token", () => {
      expect(judgeKeylessRead({ error: "KmsAccessDeniedException" })).to.deep.equal({
        ran: true,
        answer: "AWS refused the read: KmsAccessDeniedException",
        tokenVisible: false,
      });
      expect(judgeKeylessRead({ events: history(TOKEN) }).tokenVisible).to.equal(true);
      const withoutData = executionStart().map(
        ({ executionStartedEventDetails, stateEnteredEventDetails, stateExitedEventDetails, ...rest }) => rest,
      );
      expect(judgeKeylessRead({ events: withoutData })).to.deep.equal({
        ran: true,
        answer: `AWS returned ${withoutData.length} events, 0 with execution data, no task token`,
        tokenVisible: false,
      });
    });

    it("is skipped, calling nothing, when the suite runs as a role session (only IAM users get federation tokens)", async () => {
      const result = await readHistoryWithoutKey({ region: REGION, callerArn: CALLER, executionArn: EXECUTION_ARN });
      expect(result).to.deep.include({ ran: false, tokenVisible: false });
      expect(result.answer).to.match(/^skipped: only an IAM user/);
    });
  });

  describe("the open AWS questions a run settles (docs/unknowns.md): each judge fails when the code's assumption is wrong", () => {
    const AUTOMATION = "0a1b2c3d-0000-4000-8000-000000000001";
    const entry = (word: string, keys: "Decision" | "ApprovalStatus" | "Verdict" = "Decision") =>
      JSON.stringify([{ Approver: ROLE, [keys]: word, Comment: "c", ApprovalDecisionTime: "2026-11-22T10:00:00Z" }]);

    it("#2: a rejected aws:approve must be a status the rule matches and the result function reads as rejected", () => {
      expect(
        judgeRejectedStep(
          {
            StepName: "Approve",
            StepStatus: "Failed",
            Outputs: { ApprovalStatus: ["Rejected"], ApproverDecisions: [entry("Reject")] },
          },
          AUTOMATION,
        ),
      ).to.deep.include({ row: 2, ok: true });
      expect(judgeRejectedStep({ StepName: "Approve", StepStatus: "Rejected" }, AUTOMATION)).to.deep.include({
        ok: true,
      });
      // Failed with no sign of a rejection: the result function reads a broken step, not a rejection.
      expect(judgeRejectedStep({ StepName: "Approve", StepStatus: "Failed", Outputs: {} }, AUTOMATION)).to.deep.include(
        { ok: false },
      );
      expect(judgeRejectedStep({ StepName: "Approve", StepStatus: "Denied" as never }, AUTOMATION).answer).to.match(
        /does NOT match/,
      );
    });

    it("#3: ApproverDecisions must carry an entry the result function reads (Approver with Decision or ApprovalStatus)", () => {
      expect(judgeApproverDecisions({ Outputs: { ApproverDecisions: [entry("Approve")] } }, "Approve")).to.deep.include(
        { row: 3, ok: true },
      );
      expect(
        judgeApproverDecisions({ Outputs: { ApproverDecisions: [entry("Reject", "ApprovalStatus")] } }, "Reject"),
      ).to.deep.include({ ok: true });
      const other = judgeApproverDecisions(
        { Outputs: { ApproverDecisions: [entry("Approve", "Verdict")] } },
        "Approve",
      );
      expect(other).to.deep.include({ ok: false });
      expect(other.answer).to.contain("keys: Approver, Verdict, Comment, ApprovalDecisionTime");
    });

    it("#21: SSM itself must refuse a non-approver's signal (IAM's own refusal proves nothing) and the automation keep waiting", () => {
      expect(
        judgeNonApproverSignal(
          { error: { name: "InvalidAutomationSignalException", message: "not an approver" } },
          true,
        ),
      ).to.deep.include({ row: 21, ok: true });
      expect(
        judgeNonApproverSignal(
          {
            error: {
              name: "AccessDeniedException",
              message: `User: ${CALLER} is not authorized to perform: ssm:SendAutomationSignal on resource: x`,
            },
          },
          true,
        ),
      ).to.deep.include({ ok: false });
      expect(judgeNonApproverSignal({}, false)).to.deep.include({ ok: false });
      expect(isIamRefusal("User: x is not authorized to perform: codepipeline:PutApprovalResult")).to.equal(true);
    });

    it("#4: updatedBy must name the approver role or a session of it", () => {
      expect(
        judgeUpdatedBy(
          { status: "Succeeded", updatedBy: `arn:aws:sts::${ACCOUNT}:assumed-role/ReleaseApprover/s` },
          ROLE,
        ),
      ).to.deep.include({ row: 4, ok: true });
      expect(judgeUpdatedBy({ status: "Succeeded" }, ROLE)).to.deep.include({ ok: false });
      expect(
        judgeUpdatedBy({ status: "Failed", updatedBy: CALLER.replace("ReleaseApprover", "Admin") }, ROLE),
      ).to.deep.include({ ok: false });
    });

    it("#5: the same clientRequestToken must give the same execution, and only one carries the key", () => {
      expect(judgeClientRequestToken({ first: "e1", again: { id: "e1" }, executionsWithKey: ["e1"] })).to.deep.include({
        row: 5,
        ok: true,
      });
      expect(
        judgeClientRequestToken({ first: "e1", again: { id: "e2" }, executionsWithKey: ["e1", "e2"] }),
      ).to.deep.include({ ok: false });
      // Not idempotent: the second execution exists, the record's binding refuses the retry.
      const refused = judgeClientRequestToken({
        first: "e1",
        again: { error: "Unhandled: SecondExecution: ..." },
        executionsWithKey: ["e1", "e2"],
      });
      expect(refused).to.deep.include({ ok: false });
      expect(refused.answer).to.contain("refused (Unhandled: SecondExecution");
    });

    it("#20: a retried SSM start gives the first automation or is refused, another request under the token is refused, one automation exists", () => {
      const refusedOther = { error: "Unhandled: IdempotentParameterMismatch: ..." };
      expect(
        judgeAutomationClientToken({
          first: "a1",
          again: { id: "a1" },
          otherRequest: refusedOther,
          automations: ["a1"],
        }),
      ).to.deep.include({ row: 20, ok: true });
      expect(
        judgeAutomationClientToken({
          first: "a1",
          again: { error: "Unhandled: IdempotentParameterMismatch" },
          otherRequest: refusedOther,
          automations: ["a1"],
        }),
      ).to.deep.include({ ok: true });
      expect(
        judgeAutomationClientToken({
          first: "a1",
          again: { id: "a2" },
          otherRequest: refusedOther,
          automations: ["a1", "a2"],
        }),
      ).to.deep.include({ ok: false });
      expect(
        judgeAutomationClientToken({
          first: "a1",
          again: { id: "a1" },
          otherRequest: { id: "a3" },
          automations: ["a1", "a3"],
        }),
      ).to.deep.include({ ok: false });
    });

    it("#6: the approval's resolvedConfiguration must show the request, not #{variables...}", () => {
      expect(
        judgeResolvedConfiguration({
          input: {
            resolvedConfiguration: { CustomData: "Expense report", ExternalEntityLink: "https://example.com/r" },
          },
        }),
      ).to.deep.include({ row: 6, ok: true });
      expect(
        judgeResolvedConfiguration({
          input: {
            resolvedConfiguration: {
              CustomData: "#{variables.RequestSummary}",
              ExternalEntityLink: "https://example.com/r",
            },
          },
        }),
      ).to.deep.include({ ok: false });
      expect(judgeResolvedConfiguration({ input: {} })).to.deep.include({ ok: false });
    });

    it("#1: with no worker past HeartbeatSeconds, the activity task must still wait, never released", () => {
      const waiting = newestFirst(activityHistory());
      expect(judgeHeartbeatClock(waiting, 120, 150000)).to.deep.include({ row: 1, ok: true });
      const released = newestFirst([
        ...activityHistory(),
        event("ActivityTimedOut", { activityTimedOutEventDetails: { error: "States.HeartbeatTimeout" } }),
        event("ActivityScheduled", {}),
      ]);
      const judged = judgeHeartbeatClock(released, 120, 150000);
      expect(judged).to.deep.include({ ok: false });
      expect(judged.answer).to.contain("2 ActivityScheduled, 1 ActivityTimedOut");
    });
  });

  describe("other pieces of the orchestration", () => {
    it("finds the start function's invocation (function and payload) of the waiting callback Task", () => {
      expect(callbackInvocationFromHistory(newestFirst(lambdaStageHistory("stage-it-start-fn-5d6e7f8")))).to.deep.equal(
        {
          functionName: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:stage-it-start-fn-5d6e7f8`,
          payload: { taskToken: TOKEN, request: REQUEST, stage: IT_STAGE, executionArn: EXECUTION_ARN },
        },
      );
      expect(callbackInvocationFromHistory(newestFirst(snsCallbackHistory()))).to.equal(undefined);
    });

    it("counts Pulumi's finished resource operations from its output, in chunks, for the progress lines", () => {
      const counter = new OperationCounter();
      counter.feed(
        " +  aws:iam:Role stage-it-start-role creating (0s) \n +  aws:iam:Role stage-it-start-role created (1s) \n ~  aws:sfn:StateMachine approvals-state",
      );
      counter.feed(
        "-machine updated (2s) [diff: ~definition]\n -  aws:sqs:Queue old-dlq deleted (0.5s) \nResources:\n    + 2 created\n",
      );
      expect({ done: counter.done, last: counter.last }).to.deep.equal({
        done: 3,
        last: "aws:sqs:Queue old-dlq deleted",
      });
    });

    it("signs each hand-made call for its service and sends it where the SDK would (AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL)", async () => {
      const aws = new FakeAws();
      const url = await aws.start();
      try {
        aws.on("Invoke", (body) => ({ echo: body }));
        aws.on("FilterLogEvents", () => ({ events: [{ timestamp: 1, message: "m" }] }));
        aws.on("ListRuleNamesByTarget", () => ({ RuleNames: ["r"] }));
        aws.on(
          "GetMetricStatistics",
          () =>
            "<GetMetricStatisticsResponse><GetMetricStatisticsResult><Datapoints><member><Sum>1.0</Sum></member><member><Sum>2.0</Sum></member></Datapoints></GetMetricStatisticsResult></GetMetricStatisticsResponse>",
        );
        const signing = {
          region: REGION,
          credentials: { accessKeyId: "AKIAFAKE", secretAccessKey: "fake" },
          sha256: new SFNClient({ region: REGION }).config.sha256,
        };
        const signed = new SignedAws(signing, { AWS_ENDPOINT_URL: url });
        expect(await signed.invoke("fn-1", { a: 1 })).to.deep.equal({
          result: { echo: { FunctionName: "fn-1", Payload: { a: 1 } } },
        });
        expect(await signed.filterLogEvents({ logGroupName: "/g", startTime: 5 })).to.deep.equal([
          { timestamp: 1, message: "m" },
        ]);
        expect(await signed.ruleNamesByTarget("arn:aws:lambda:x")).to.deep.equal(["r"]);
        expect(
          await signed.metricSums({
            namespace: "AWS/Events",
            metricName: "FailedInvocations",
            dimensions: { RuleName: "r" },
            start: new Date(0),
            end: new Date(60000),
            periodSeconds: 60,
          }),
        ).to.deep.equal([1, 2]);
        expect(aws.requests.map((r) => [r.operation, r.service, r.method, r.path])).to.deep.equal([
          ["Invoke", "lambda", "POST", "/2015-03-31/functions/fn-1/invocations"],
          ["FilterLogEvents", "logs", "POST", "/"],
          ["ListRuleNamesByTarget", "events", "POST", "/"],
          ["GetMetricStatistics", "monitoring", "POST", "/"],
        ]);
        expect(aws.requests[3].body).to.deep.include({
          Namespace: "AWS/Events",
          MetricName: "FailedInvocations",
          "Dimensions.member.1.Name": "RuleName",
          "Dimensions.member.1.Value": "r",
          "Statistics.member.1": "Sum",
        });
        expect(
          new SignedAws(signing, { AWS_ENDPOINT_URL: "http://a", AWS_ENDPOINT_URL_LAMBDA: "http://b" }).endpoint({
            signingName: "lambda",
            envName: "LAMBDA",
          }).origin,
        ).to.equal("http://b");
        expect(
          new SignedAws(signing, {}).endpoint({ signingName: "logs", envName: "CLOUDWATCH_LOGS" }).origin,
        ).to.equal(`https://logs.${REGION}.amazonaws.com`);
      } finally {
        await aws.stop();
      }
    });
  });
});
