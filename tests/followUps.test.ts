// Reminders and escalation (components/workflow/stageFollowUps.ts): the Parallel state that runs a stage's Task
// beside its reminder and escalation branches, executed with aws-local-stepfunctions. Wait states
// are shortened per state name (waitMs); every sns:publish is answered by a local handler that
// records what Step Functions would send to SNS (the JSONata Arguments, evaluated).
import * as pulumi from "@pulumi/pulumi";
import { expect } from "chai";
import { ApprovalStage } from "../components/mechanisms/approvalStage";
import { ApprovalWorkflow } from "../components/workflow/approvalWorkflow";
import { assembleWorkflowDefinition, stageTaskOptions } from "../components/workflow/definition";
import { lambdaCallbackTaskStates } from "../components/mechanisms/lambdaCallbackApproval";
import { StageFollowUp, WorkflowFollowUp, followUpStates } from "../components/workflow/stageFollowUps";
import {
  MAX_COMMENT_CHARS,
  STAGE_DECIDED_ERROR,
  StageDecision,
  followUpStateNames,
  stageDecision,
} from "../functions/contract";
import { allStates, validateDefinition } from "./helpers/aslLint";
import { EXPENSE_REPORT } from "./helpers/fixtures";
import { RunResult, TaskHandler, inMemoryAuditBucket, runDefinition } from "./helpers/localStateMachine";
import { ProgramRun, named, promiseOf, runProgram, runWithMocks } from "./helpers/pulumiMocks";
import { stackConfig } from "./helpers/stackConfig";

const TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAf0ExampleTaskToken+/=";
const EXECUTION_ARN = "arn:aws:states:eu-west-1:123456789012:execution:sfn-approvals-prod:ER98765-1";
const FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:start";
const REMINDER_TOPIC = "arn:aws:sns:eu-west-1:123456789012:Automation-sfn-approvals-prod-manager";
const ESCALATION_TOPIC = "arn:aws:sns:eu-west-1:123456789012:sfn-approvals-prod-manager-escalation";
const ONCALL_TOPIC = "arn:aws:sns:eu-west-1:123456789012:platform-oncall";
const ALICE = "arn:aws:iam::123456789012:user/alice";
const HOUR = 3600;
const names = followUpStateNames("manager");

const FOLLOW_UP: StageFollowUp = {
  remindEverySeconds: 4 * HOUR,
  maxReminders: 5,
  reminderTopicArn: REMINDER_TOPIC,
  escalateAfterSeconds: 12 * HOUR,
  escalateAfterPercent: 50,
  escalationTopicArns: [ESCALATION_TOPIC, ONCALL_TOPIC],
};

/** prod's 'manager' stage (ssm-automation, a Lambda callback Task waiting 1 day) with follow-ups. */
function definitionWith(followUp: StageFollowUp, timeoutSeconds = 24 * HOUR): any {
  return assembleWorkflowDefinition({
    stages: [
      {
        stage: "manager",
        mechanism: "ssm-automation",
        maxWaitSeconds: timeoutSeconds,
        states: lambdaCallbackTaskStates({
          options: stageTaskOptions("manager", true),
          functionArn: FUNCTION_ARN,
          stage: "manager",
          mechanism: "ssm-automation",
          timeoutSeconds,
        }),
        followUp: { followUp, timeoutText: "1d", approvers: [ALICE, "arn:aws:iam::123456789012:role/ReleaseApprover"] },
      },
    ],
  });
}

function managerDecision(kind: "approved" | "rejected", comment: string | null = `${kind} by test`): StageDecision {
  return stageDecision({
    decision: kind,
    stage: "manager",
    mechanism: "ssm-automation",
    approver: ALICE,
    comment,
    decidedAt: "2026-11-30T10:00:00Z",
  });
}

/** Records every publish (the SNS Publish request Step Functions would send). */
function publisher(failures = 0): { handler: TaskHandler; sent: any[]; attempts: number } {
  const recorder = {
    sent: [] as any[],
    attempts: 0,
    handler: async (input: any) => {
      recorder.attempts += 1;
      if (recorder.attempts <= failures)
        throw Object.assign(new Error("Rate exceeded"), { name: "SNS.ThrottledException" });
      recorder.sent.push(input);
      return { MessageId: `m-${recorder.sent.length}` };
    },
  };
  return recorder;
}

/** An approver who decides once `ready` resolves (e.g. after the third reminder). */
function approverAfter(ready: Promise<unknown>, answer: () => unknown): { handler: TaskHandler; calls: any[] } {
  const calls: any[] = [];
  return {
    calls,
    handler: async (input) => {
      calls.push(input);
      await ready;
      return answer();
    },
  };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const LONG = 60_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The decision records the last run wrote. */
let records: any[] = [];

async function run(
  definition: any,
  handlers: Record<string, TaskHandler>,
  waitMs: Record<string, number>,
): Promise<RunResult> {
  // staging writes its decision record: an in-memory bucket takes it.
  const bucket = inMemoryAuditBucket(definition);
  records = bucket.records;
  return runDefinition(definition, EXPENSE_REPORT, {
    taskHandlers: { ...bucket.handlers, ...handlers },
    taskToken: TOKEN,
    executionArn: EXECUTION_ARN,
    retryPauseMs: 0,
    waitMs,
  });
}

function count(states: string[], name: string): number {
  return states.filter((s) => s === name).length;
}

describe("follow-ups: reminders and escalation while a stage waits", () => {
  describe("the generated states", () => {
    it("pass asl-validator and our lint, with and without each kind of follow-up", () => {
      for (const followUp of [
        FOLLOW_UP,
        { ...FOLLOW_UP, escalateAfterSeconds: undefined, escalationTopicArns: undefined },
        { ...FOLLOW_UP, remindEverySeconds: undefined, reminderTopicArn: undefined },
      ]) {
        expect(validateDefinition(definitionWith(followUp))).to.deep.equal([]);
      }
    });

    it("wrap the stage Task in a Parallel whose only Catch takes the decision out of the decision branch's Fail", () => {
      const definition = definitionWith(FOLLOW_UP);
      const parallel = definition.States[names.wrapper];
      expect(parallel).to.deep.include({
        Type: "Parallel",
        ResultPath: null,
        Catch: [{ ErrorEquals: [STAGE_DECIDED_ERROR], ResultPath: "$.decisions.manager", Next: names.received }],
        Next: "Check manager",
      });
      expect(parallel.Branches.map((b: any) => b.StartAt)).to.deep.equal([
        "Approval manager",
        names.remindersStart,
        names.escalationWait,
      ]);
      expect(definition.States["Read request"]).to.exist;
      expect(definition.States["Validate request"].Default).to.equal(names.wrapper);
      const decisionBranch = parallel.Branches[0].States;
      expect(decisionBranch["Approval manager"].Next).to.equal(names.decided);
      expect(decisionBranch["Approval manager timed out"].Next).to.equal(names.decided);
      expect(decisionBranch[names.decided]).to.deep.equal({
        Type: "Pass",
        Comment: "The decision (or timeout) as JSON text, to leave the Parallel as the Cause of the Fail below",
        Parameters: { "decision.$": "States.JsonToString($.decisions.manager)" },
        Next: names.decidedExit,
      });
      expect(decisionBranch[names.decidedExit]).to.deep.include({
        Type: "Fail",
        Error: STAGE_DECIDED_ERROR,
        CausePath: "$.decision",
      });
      expect(definition.States[names.received]).to.deep.include({
        Type: "Pass",
        Parameters: { "decision.$": "States.StringToJson($.decisions.manager.Cause)" },
        ResultPath: "$.decisions.manager",
        Next: names.unwrapped,
      });
      expect(definition.States[names.unwrapped]).to.deep.include({
        Type: "Pass",
        InputPath: "$.decisions.manager.decision",
        ResultPath: "$.decisions.manager",
        Next: "Check manager",
      });
    });

    it("remind every remindEvery, at most maxReminders times, to the stage's topic; escalate once, to each target in turn", () => {
      const states = allStates(definitionWith(FOLLOW_UP));
      expect(states[names.reminderWait]).to.deep.equal({ Type: "Wait", Seconds: 4 * HOUR, Next: names.reminder });
      expect(states[names.reminder]).to.deep.include({
        Type: "Task",
        QueryLanguage: "JSONata",
        Resource: "arn:aws:states:::sns:publish",
        TimeoutSeconds: 60,
        Output: "{% $states.input %}",
        Retry: [{ ErrorEquals: ["States.ALL"], IntervalSeconds: 5, MaxAttempts: 3, BackoffRate: 2 }],
        Catch: [{ ErrorEquals: ["States.ALL"], Output: "{% $states.input %}", Next: names.reminderNotSent }],
        Next: names.reminderCount,
      });
      expect(states[names.reminder].Arguments.TopicArn).to.equal(REMINDER_TOPIC);
      expect(states[names.remindersLeft]).to.deep.equal({
        Type: "Choice",
        Choices: [{ Variable: "$.sent", NumericLessThan: 5, Next: names.reminderWait }],
        Default: names.remindersDone,
      });
      expect(states[names.escalationWait]).to.deep.equal({
        Type: "Wait",
        Seconds: 12 * HOUR,
        Next: names.escalation(1),
      });
      expect([states[names.escalation(1)].Arguments.TopicArn, states[names.escalation(1)].Next]).to.deep.equal([
        ESCALATION_TOPIC,
        names.escalation(2),
      ]);
      expect([states[names.escalation(2)].Arguments.TopicArn, states[names.escalation(2)].Next]).to.deep.equal([
        ONCALL_TOPIC,
        names.escalated,
      ]);
      expect(states[names.escalationNotSent(1)].Next).to.equal(names.escalation(2));
      expect(states[names.escalated].Type).to.equal("Succeed");
    });

    it("are refused without any follow-up, or with reminders but nowhere to send them", () => {
      const base = {
        stage: "manager",
        mechanism: "ssm-automation" as const,
        options: stageTaskOptions("manager", true),
        timeoutText: "1d",
        approvers: [ALICE],
      };
      const stageStates = lambdaCallbackTaskStates({
        options: stageTaskOptions("manager", true),
        functionArn: FUNCTION_ARN,
        stage: "manager",
        mechanism: "ssm-automation",
        timeoutSeconds: 60,
      });
      expect(() => followUpStates({ ...base, stageStates, followUp: {} })).to.throw(
        "has neither reminders nor escalation",
      );
      expect(() =>
        followUpStates({ ...base, stageStates, followUp: { remindEverySeconds: 600, maxReminders: 2 } }),
      ).to.throw("has reminders but no topic");
      expect(() =>
        followUpStates({
          ...base,
          stageStates,
          followUp: { remindEverySeconds: 600, reminderTopicArn: REMINDER_TOPIC },
        }),
      ).to.throw("needs maxReminders of at least 1");
      expect(() =>
        followUpStates({ ...base, stageStates, followUp: { escalateAfterSeconds: 600, escalationTopicArns: [] } }),
      ).to.throw("escalates to nobody");
    });
  });

  describe("runs", () => {
    it("a decision before the first reminder: approved exactly as without follow-ups, nothing published, the waits stopped at once", async () => {
      const reminders = publisher();
      const escalations = publisher();
      const manager = approverAfter(Promise.resolve(), () => managerDecision("approved"));
      const started = Date.now();
      const result = await run(
        definitionWith(FOLLOW_UP),
        {
          "Approval manager": manager.handler,
          [names.reminder]: reminders.handler,
          [names.escalation(1)]: escalations.handler,
          [names.escalation(2)]: escalations.handler,
        },
        { [names.reminderWait]: LONG, [names.escalationWait]: LONG },
      );
      expect(Date.now() - started).to.be.below(3000);
      expect(result.status).to.equal("SUCCEEDED");
      expect(result.output).to.deep.equal({
        approved: true,
        decision: "approved",
        stages: [managerDecision("approved")],
        request: EXPENSE_REPORT,
      });
      expect(manager.calls).to.deep.equal([
        {
          FunctionName: FUNCTION_ARN,
          Payload: { taskToken: TOKEN, request: EXPENSE_REPORT, stage: "manager", executionArn: EXECUTION_ARN },
        },
      ]);
      expect([reminders.attempts, escalations.attempts]).to.deep.equal([0, 0]);
      for (const state of [
        names.wrapper,
        names.decided,
        names.decidedExit,
        names.received,
        names.unwrapped,
        "Check manager",
        "Approved",
      ]) {
        expect(count(result.statesEntered, state), state).to.equal(1);
      }
    });

    it("three reminders, then a decision: the reminders stop at once (none after it), each says what waits and how to decide", async () => {
      const reminders = publisher();
      const third = deferred();
      const handler: TaskHandler = async (input) => {
        const answer = await reminders.handler(input);
        if (reminders.sent.length === 3) third.resolve();
        return answer;
      };
      const manager = approverAfter(third.promise, () => managerDecision("rejected"));
      const result = await run(
        definitionWith(FOLLOW_UP),
        { "Approval manager": manager.handler, [names.reminder]: handler },
        { [names.reminderWait]: 20, [names.escalationWait]: LONG },
      );
      await sleep(200);
      expect(result.output).to.deep.equal({
        approved: false,
        decision: "rejected",
        stages: [managerDecision("rejected")],
        request: EXPENSE_REPORT,
      });
      expect(reminders.sent).to.have.length(3);
      expect(count(result.statesEntered, names.reminder)).to.equal(3);
      // Step Functions sets $$.Execution.StartTime; the local run takes the current time.
      const [first] = reminders.sent;
      expect(first.Message).to.match(/\nRequested at: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\n/);
      expect({
        ...first,
        Message: first.Message.replace(/\nRequested at: [^\n]*\n/, "\nRequested at: START\n"),
      }).to.deep.equal({
        TopicArn: REMINDER_TOPIC,
        Subject: "Reminder: approval needed: Expense report ER98765",
        Message: [
          "Reminder: this approval request is still waiting for a decision at stage 'manager'.",
          "",
          "Request: Expense report ER98765",
          "Request ID: ER98765",
          "Requester: Jane Doe <jane@example.com>",
          "Amount: 750.5 USD",
          "Link: https://example.com/reports/ER98765",
          "Workflow: sfn-approvals-prod",
          "Execution: ER98765-1",
          "Requested at: START",
          "Reminder sent at: 2026-11-22T10:00:00.000Z",
          "",
          "The stage times out 1d after it started; without a decision the request ends as timed out.",
          "Approvers approve or reject it in the AWS Systems Manager console (Automation: the execution waiting at its approval step) or with aws ssm send-automation-signal, as the first notification explained.",
          "",
        ].join("\n"),
      });
      expect(JSON.stringify(reminders.sent)).to.not.contain(TOKEN);
    });

    it("the reminders end after maxReminders even if nobody decides; the stage goes on waiting until its decision", async () => {
      const reminders = publisher();
      const escalations = publisher();
      let release!: () => void;
      const decided = new Promise<void>((r) => {
        release = r;
      });
      const manager = approverAfter(decided, () => managerDecision("approved"));
      const running = run(
        definitionWith({ ...FOLLOW_UP, maxReminders: 2 }),
        {
          "Approval manager": manager.handler,
          [names.reminder]: reminders.handler,
          [names.escalation(1)]: escalations.handler,
          [names.escalation(2)]: escalations.handler,
        },
        { [names.reminderWait]: 10, [names.escalationWait]: 50 },
      );
      await sleep(300);
      release();
      const result = await running;
      expect(reminders.sent).to.have.length(2);
      expect(count(result.statesEntered, names.remindersDone)).to.equal(1);
      expect(escalations.sent.map((s) => s.TopicArn)).to.deep.equal([ESCALATION_TOPIC, ONCALL_TOPIC]);
      expect(count(result.statesEntered, names.escalated)).to.equal(1);
      expect(result.output.decision).to.equal("approved");
    });

    it("escalation: told once, every target in order, after escalateAfter; the message names the approvers and the share of the timeout", async () => {
      const escalations = publisher();
      const both = deferred();
      const handler: TaskHandler = async (input) => {
        const answer = await escalations.handler(input);
        if (escalations.sent.length === 2) both.resolve();
        return answer;
      };
      const manager = approverAfter(
        both.promise.then(() => sleep(100)),
        () => managerDecision("approved"),
      );
      const result = await run(
        definitionWith(FOLLOW_UP),
        {
          "Approval manager": manager.handler,
          [names.escalation(1)]: handler,
          [names.escalation(2)]: handler,
          [names.reminder]: publisher().handler,
        },
        { [names.escalationWait]: 10, [names.reminderWait]: LONG },
      );
      expect(result.output.decision).to.equal("approved");
      expect(escalations.sent.map((s) => s.TopicArn)).to.deep.equal([ESCALATION_TOPIC, ONCALL_TOPIC]);
      expect(escalations.sent[0].Subject).to.equal(
        `Escalation: approval overdue: ${EXPENSE_REPORT.title}`.slice(0, 99),
      );
      expect(escalations.sent[0].Message).to.match(
        /^Escalation: this approval request has waited 50% of its timeout at stage 'manager' \(ssm-automation\) without a decision\.\n/,
      );
      expect(escalations.sent[0].Message).to.contain(
        `\nApprovers: ${ALICE}, arn:aws:iam::123456789012:role/ReleaseApprover\n`,
      );
      expect(escalations.sent[0].Message).to.contain(
        "You receive this because you are listed under escalateTo for this stage.",
      );
      expect(escalations.sent[1].Message).to.equal(escalations.sent[0].Message);
    });

    it("timeout: the reminders run until the stage times out, then stop; the execution ends timed_out", async () => {
      const reminders = publisher();
      const definition = definitionWith(FOLLOW_UP);
      allStates(definition)["Approval manager"].TimeoutSeconds = 1;
      const definitionNoCap = definitionWith({ ...FOLLOW_UP, maxReminders: 100 });
      allStates(definitionNoCap)["Approval manager"].TimeoutSeconds = 1;
      void definition;
      const result = await run(
        definitionNoCap,
        { "Approval manager": () => new Promise(() => undefined), [names.reminder]: reminders.handler },
        { [names.reminderWait]: 100, [names.escalationWait]: LONG },
      );
      const sentAtEnd = reminders.sent.length;
      await sleep(400);
      expect(result.status).to.equal("SUCCEEDED");
      expect(result.output).to.deep.equal({
        approved: false,
        decision: "timed_out",
        stages: [
          {
            approved: false,
            decision: "timed_out",
            stage: "manager",
            mechanism: "ssm-automation",
            approver: null,
            comment: null,
            decidedAt: "2026-11-22T10:00:00.000Z",
          },
        ],
        request: EXPENSE_REPORT,
      });
      // About one reminder per 100 ms of the 1 s wait, then none.
      expect(sentAtEnd).to.be.within(2, 10);
      expect(reminders.sent.length).to.equal(sentAtEnd);
    });

    it("a reminder that cannot be published is retried, then skipped: the next one goes out and the decision still counts", async () => {
      // Every attempt of the first reminder fails (1 + 3 retries); the second one is sent.
      const reminders = publisher(4);
      const sent = deferred();
      const handler: TaskHandler = async (input) => {
        const answer = await reminders.handler(input);
        sent.resolve();
        return answer;
      };
      const manager = approverAfter(sent.promise, () => managerDecision("approved"));
      const result = await run(
        definitionWith(FOLLOW_UP),
        { "Approval manager": manager.handler, [names.reminder]: handler },
        { [names.reminderWait]: 10, [names.escalationWait]: LONG },
      );
      expect(reminders.attempts).to.equal(5);
      expect(reminders.sent).to.have.length(1);
      expect(count(result.statesEntered, names.reminderNotSent)).to.equal(1);
      expect(result.output).to.deep.equal({
        approved: true,
        decision: "approved",
        stages: [managerDecision("approved")],
        request: EXPENSE_REPORT,
      });
    });

    it("an error of the stage's own Task fails the execution with that error, as without follow-ups; nothing approves", async () => {
      const result = await run(
        definitionWith(FOLLOW_UP),
        {
          "Approval manager": async () => {
            throw Object.assign(new Error("automation could not start"), { name: "Lambda.ServiceException" });
          },
          [names.reminder]: publisher().handler,
        },
        { [names.reminderWait]: 10, [names.escalationWait]: LONG },
      );
      expect(result.status).to.equal("FAILED");
      expect(result.error).to.equal("Lambda.ServiceException");
      expect(result.statesEntered).to.not.include(names.received);
    });

    it("a Task failing with the decision's own error name (SendTaskFailure by a token holder) is refused: the execution fails, nothing is approved", async () => {
      const forged = Object.assign(new Error(JSON.stringify(managerDecision("approved"))), {
        name: STAGE_DECIDED_ERROR,
      });
      const result = await run(
        definitionWith(FOLLOW_UP),
        {
          "Approval manager": async () => {
            throw forged;
          },
        },
        { [names.reminderWait]: LONG, [names.escalationWait]: LONG },
      );
      expect(result.status).to.equal("FAILED");
      expect(result.error).to.equal("InvalidStageDecision");
      expect(result.cause).to.equal(
        `A Task of stage 'manager' failed with the error ${STAGE_DECIDED_ERROR}, which only the workflow may raise; it is not a decision and nothing was approved.`,
      );
      expect(result.statesEntered).to.include(names.forged);
      expect(result.statesEntered).to.not.include(names.received);
    });

    it("the sns-callback Task (JSONata) of a stage with follow-ups refuses the decision's error name the same way", async () => {
      const stageStates = allStates(await stagingDefinition())["Approval finance"];
      expect(stageStates.Catch[0]).to.deep.equal({
        ErrorEquals: [STAGE_DECIDED_ERROR],
        Output: "{% $states.input %}",
        Next: "Approval finance forged decision refused",
      });
    });

    it("a malformed or partial decision still fails with InvalidStageDecision after the unwrap, and a decision of another stage too", async () => {
      const partial = (({ stage, mechanism, ...rest }) => {
        void stage;
        void mechanism;
        return rest;
      })(managerDecision("approved"));
      for (const answer of [
        { approved: "yes", decision: "approved" },
        { ...managerDecision("approved"), stage: "finance" },
        "approved",
        partial,
        { approved: true, decision: "approved" },
      ]) {
        const result = await run(
          definitionWith(FOLLOW_UP),
          { "Approval manager": async () => answer },
          { [names.reminderWait]: LONG, [names.escalationWait]: LONG },
        );
        expect(result.status, JSON.stringify(answer)).to.equal("FAILED");
        expect(result.error, JSON.stringify(answer)).to.equal("InvalidStageDecision");
      }
    });

    it("the decision comes out of the Parallel unchanged: quotes, line breaks, unicode and a comment of the longest kept length", async () => {
      const comment =
        `"Fine" — but check the hotel's {receipt}\\n\nnext line ✓ ${"x".repeat(MAX_COMMENT_CHARS - 60)}`.slice(
          0,
          MAX_COMMENT_CHARS,
        );
      const answer = managerDecision("approved", comment);
      expect(answer.comment).to.equal(comment);
      const result = await run(
        definitionWith(FOLLOW_UP),
        { "Approval manager": async () => answer },
        { [names.reminderWait]: LONG, [names.escalationWait]: LONG },
      );
      expect(result, JSON.stringify({ error: result.error, cause: result.cause?.slice(0, 300) })).to.deep.include({
        status: "SUCCEEDED",
      });
      expect(result.output.stages).to.deep.equal([answer]);
    });
  });
});

describe("contract: decisions stay small enough to leave a Parallel as a Fail's Cause", () => {
  it("cuts a comment beyond MAX_COMMENT_CHARS and says so", () => {
    const decision = managerDecision("rejected", "y".repeat(10_000));
    expect(decision.comment!.length).to.equal(MAX_COMMENT_CHARS);
    expect(decision.comment!.endsWith("... (truncated)")).to.equal(true);
  });

  it("counts the JSON escapes (control characters take 6), keeps whole code points, and the whole decision stays far below 32,768", () => {
    const comment = "\u0001".repeat(5000);
    const approver = `"${"😀".repeat(3000)}`;
    const decision = stageDecision({
      decision: "approved",
      stage: "manager",
      mechanism: "ssm-automation",
      approver,
      comment,
      decidedAt: "2026-11-30T10:00:00Z",
    });
    expect(JSON.stringify(decision.comment).length - 2).to.be.at.most(MAX_COMMENT_CHARS);
    expect(JSON.stringify(decision.approver).length - 2).to.be.at.most(2048);
    expect(decision.approver!.endsWith("😀... (truncated)")).to.equal(true);
    expect(decision.comment!.startsWith("\u0001")).to.equal(true);
    expect(JSON.stringify(decision).length).to.be.below(8000);
    // Short texts stay untouched.
    expect(managerDecision("approved", "fine").comment).to.equal("fine");
  });
});

let stagingRun: Promise<ProgramRun> | undefined;
/** The staging stack under Pulumi mocks (run once). */
function stagingProgram(): Promise<ProgramRun> {
  stagingRun ??= runProgram("staging", stackConfig("staging"));
  return stagingRun;
}
async function stagingDefinition(): Promise<any> {
  return JSON.parse(named((await stagingProgram()).resources, "approvals-state-machine").inputs.definition);
}

describe("follow-ups in the staging stack (Pulumi.staging.yaml: both email stages remind and escalate)", () => {
  const ACCOUNT = "123456789012";
  const TEAM_LEAD_TOPIC = `arn:aws:sns:eu-west-1:${ACCOUNT}:sfn-approvals-staging-team-lead-approvals`;
  const FINANCE_TOPIC = `arn:aws:sns:eu-west-1:${ACCOUNT}:sfn-approvals-staging-finance-approvals`;
  const TEAM_LEAD_ESCALATION = `arn:aws:sns:eu-west-1:${ACCOUNT}:sfn-approvals-staging-team-lead-escalation`;
  const FINANCE_ESCALATION = `arn:aws:sns:eu-west-1:${ACCOUNT}:sfn-approvals-staging-finance-escalation`;
  const lead = followUpStateNames("team-lead");
  const finance = followUpStateNames("finance");
  let staging: ProgramRun;
  let definition: any;

  before(async () => {
    staging = await stagingProgram();
    definition = await stagingDefinition();
  });

  it("creates one escalation topic per stage, with an email subscription per escalateTo address, under the workflow", () => {
    expect(named(staging.resources, "approvals-team-lead-escalation").inputs).to.deep.equal({
      name: "sfn-approvals-staging-team-lead-escalation",
      displayName: "Approvals overdue (team-lead)",
    });
    expect(named(staging.resources, "approvals-finance-escalation").inputs).to.deep.equal({
      name: "sfn-approvals-staging-finance-escalation",
      displayName: "Approvals overdue (finance)",
    });
    expect(
      named(staging.resources, "approvals-team-lead-escalation-head-of-engineering-example-com").inputs,
    ).to.deep.equal({ topic: TEAM_LEAD_ESCALATION, protocol: "email", endpoint: "head-of-engineering@example.com" });
    expect(named(staging.resources, "approvals-finance-escalation-cfo-office-example-com").inputs).to.deep.equal({
      topic: FINANCE_ESCALATION,
      protocol: "email",
      endpoint: "cfo-office@example.com",
    });
  });

  it("reminds each stage's approvers on their own topic (12h and 1d), at most the reminders that fit before the timeout, and escalates after 75% and 50%", () => {
    const states = allStates(definition);
    expect(states[lead.reminderWait].Seconds).to.equal(12 * HOUR);
    expect(states[lead.reminder].Arguments.TopicArn).to.equal(TEAM_LEAD_TOPIC);
    expect(states[lead.remindersLeft].Choices[0].NumericLessThan).to.equal(3);
    expect(states[lead.escalationWait].Seconds).to.equal(36 * HOUR);
    expect(states[lead.escalation(1)].Arguments.TopicArn).to.equal(TEAM_LEAD_ESCALATION);
    expect(states[lead.escalation(1)].Arguments.Message).to.contain(
      "waited 75% of its timeout at stage 'team-lead' (email-link)",
    );
    expect(states[finance.reminderWait].Seconds).to.equal(24 * HOUR);
    expect(states[finance.reminder].Arguments.TopicArn).to.equal(FINANCE_TOPIC);
    expect(states[finance.remindersLeft].Choices[0].NumericLessThan).to.equal(2);
    expect(states[finance.escalationWait].Seconds).to.equal(36 * HOUR);
    expect(states[finance.escalation(1)].Arguments.TopicArn).to.equal(FINANCE_ESCALATION);
    expect(states).to.not.have.property(lead.escalation(2));
    expect(validateDefinition(definition)).to.deep.equal([]);
  });

  it("runs end to end: the team lead is reminded once and approves, finance (sns-callback, inside the Parallel) is escalated and approves", async () => {
    const reminders = publisher();
    const escalations = publisher();
    const reminded = deferred();
    const escalated = deferred();
    const leadDecision = stageDecision({
      decision: "approved",
      stage: "team-lead",
      mechanism: "email-link",
      approver: "Lee Lead (via email link)",
      decidedAt: "2026-11-30T10:00:00Z",
    });
    const financeDecision = stageDecision({
      decision: "approved",
      stage: "finance",
      mechanism: "sns-callback",
      approver: "Fay Finance (via email link)",
      decidedAt: "2026-11-30T11:00:00Z",
    });
    const financeEmails: any[] = [];
    const result = await run(
      definition,
      {
        "Approval team-lead": async () => {
          await reminded.promise;
          return leadDecision;
        },
        "Approval finance": async (email) => {
          financeEmails.push(email);
          await escalated.promise;
          return financeDecision;
        },
        [lead.reminder]: async (input) => {
          const answer = await reminders.handler(input);
          reminded.resolve();
          return answer;
        },
        [finance.escalation(1)]: async (input) => {
          const answer = await escalations.handler(input);
          escalated.resolve();
          return answer;
        },
      },
      {
        [lead.reminderWait]: 10,
        [lead.escalationWait]: LONG,
        [finance.reminderWait]: LONG,
        [finance.escalationWait]: 10,
      },
    );
    expect(result.status).to.equal("SUCCEEDED");
    // Each decision is recorded once it leaves its stage's Parallel, then the outcome.
    expect(records.map((r) => [r.kind, r.stage ?? r.outcome, r.approver ?? null])).to.deep.equal([
      ["decision", "team-lead", "Lee Lead (via email link)"],
      ["decision", "finance", "Fay Finance (via email link)"],
      ["outcome", "approved", null],
    ]);
    expect(result.output).to.deep.equal({
      approved: true,
      decision: "approved",
      stages: [leadDecision, financeDecision],
      request: EXPENSE_REPORT,
    });
    expect(reminders.sent.map((s) => [s.TopicArn, s.Subject])).to.deep.equal([
      [TEAM_LEAD_TOPIC, "Reminder: approval needed: Expense report ER98765"],
    ]);
    expect(reminders.sent[0].Message).to.contain(
      'Approvers decide with the approval link in the earlier email whose subject starts with "Approval needed".',
    );
    // A reminder never carries a link: only the approval email holds the token.
    expect(reminders.sent[0].Message).to.not.match(/https:\/\/\S+\/decide/);
    expect(escalations.sent.map((s) => [s.TopicArn, s.Subject])).to.deep.equal([
      [FINANCE_ESCALATION, "Escalation: approval overdue: Expense report ER98765"],
    ]);
    expect(escalations.sent[0].Message).to.contain("\nApprovers: finance@example.com\n");
    // The sns-callback Task ran inside the Parallel branch with its JSONata email, once.
    expect(financeEmails).to.have.length(1);
    expect(financeEmails[0].TopicArn).to.equal(FINANCE_TOPIC);
    expect(financeEmails[0].Message).to.contain("/decide?t=");
  });

  it("alarms when a reminder or escalation cannot be published (the account's failed sns:publish integrations)", () => {
    expect(named(staging.resources, "approvals-follow-up-alarm").inputs).to.deep.include({
      namespace: "AWS/States",
      metricName: "ServiceIntegrationsFailed",
      dimensions: { ServiceIntegrationResourceArn: "arn:aws:states:::sns:publish" },
      statistic: "Sum",
      threshold: 0,
      comparisonOperator: "GreaterThanThreshold",
      alarmActions: [`arn:aws:sns:eu-west-1:${ACCOUNT}:sfn-approvals-staging-alerts`],
    });
  });

  it("the state machine may publish only to the stages' topics and the escalation topics", () => {
    const statement = JSON.parse(named(staging.resources, "approvals-policy").inputs.policy).Statement.find(
      (s: any) => s.Sid === "PublishRemindersAndEscalations",
    );
    expect(statement).to.deep.equal({
      Sid: "PublishRemindersAndEscalations",
      Effect: "Allow",
      Action: ["sns:Publish"],
      Resource: [TEAM_LEAD_TOPIC, TEAM_LEAD_ESCALATION, FINANCE_TOPIC, FINANCE_ESCALATION],
    });
  });
});

describe("ApprovalWorkflow followUps: contradictory use is refused when the program runs", () => {
  const stage = (name: string, reminderTopicArn?: string): ApprovalStage => ({
    stage: name,
    mechanism: "ssm-automation",
    maxWaitSeconds: 86400,
    ...(reminderTopicArn ? { reminderTopicArn: pulumi.output(reminderTopicArn) } : {}),
    stackOutput: pulumi.output({} as Record<string, string>),
    taskState: (options) => ({
      states: pulumi.output({ [options.stateName]: { Type: "Pass", Next: options.next } }),
      statements: pulumi.output([]),
    }),
    grantTaskResponse: () => undefined,
  });
  const base = { timeout: "1d", timeoutSeconds: 86400, approvers: [ALICE] };
  const cases: Array<[string, ApprovalStage, Record<string, WorkflowFollowUp>, string]> = [
    [
      "a stage that does not exist",
      stage("manager", REMINDER_TOPIC),
      { finance: { ...base, remindEverySeconds: 3600 } },
      "ApprovalWorkflow wf: followUps names stage 'finance', which is not one of manager",
    ],
    [
      "reminders for a stage with nobody to remind",
      stage("manager"),
      { manager: { ...base, remindEverySeconds: 3600 } },
      "ApprovalWorkflow wf, stage 'manager': remindEvery is set, but the ssm-automation stage has nobody to remind (no notify addresses)",
    ],
    [
      "reminders no sooner than the stage's wait",
      stage("manager", REMINDER_TOPIC),
      { manager: { ...base, remindEverySeconds: 86400 } },
      "ApprovalWorkflow wf, stage 'manager': remindEvery must be a positive number of seconds shorter than the stage's timeout (86400s, at most its wait of 86400s), got 86400",
    ],
    [
      "an escalation to nobody",
      stage("manager"),
      { manager: { ...base, escalateTo: { emails: [], topicArns: [] }, escalateAfterSeconds: 60 } },
      "ApprovalWorkflow wf, stage 'manager': escalateTo lists nobody",
    ],
    [
      "an escalation without a time",
      stage("manager"),
      { manager: { ...base, escalateTo: { emails: [], topicArns: [ONCALL_TOPIC] } } },
      "ApprovalWorkflow wf, stage 'manager': escalateAfterSeconds must be a positive number of seconds shorter than the stage's wait (86400s), got undefined",
    ],
  ];
  for (const [what, approvalStage, followUps, message] of cases) {
    it(what, async () => {
      await runWithMocks("prod", {}, () => {
        expect(() => new ApprovalWorkflow("wf", { stages: [approvalStage], followUps })).to.throw(message);
      });
    });
  }
});

describe("StageFollowUps: a deployed stack keeps its escalation resources", () => {
  it("parents them to the StageFollowUps component, each with an alias to its URN under the workflow (its parent before)", async () => {
    const stage: ApprovalStage = {
      stage: "manager",
      mechanism: "ssm-automation",
      maxWaitSeconds: 86400,
      stackOutput: pulumi.output({} as Record<string, string>),
      taskState: (options) => ({
        states: pulumi.output({ [options.stateName]: { Type: "Pass", Next: options.next } }),
        statements: pulumi.output([]),
      }),
      grantTaskResponse: () => undefined,
    };
    const followUps: Record<string, WorkflowFollowUp> = {
      manager: {
        timeout: "1d",
        timeoutSeconds: 86400,
        approvers: [ALICE],
        escalateTo: { emails: ["boss@example.com"], topicArns: [] },
        escalateAfterSeconds: 43200,
      },
    };
    const { result } = await runWithMocks("prod", {}, async () => {
      const workflow = new ApprovalWorkflow("approvals", { stages: [stage], followUps });
      const children = [
        workflow.followUps!.escalationTopics.manager,
        workflow.followUps!.publishAlarm!,
      ] as unknown as Array<{ urn: pulumi.Output<string>; __aliases: pulumi.Output<string>[] }>;
      return Promise.all(
        children.map(async (child) => ({
          urn: await promiseOf(child.urn),
          aliases: await Promise.all(child.__aliases.map((alias) => promiseOf(alias))),
        })),
      );
    });
    // The alias is the URN each had as the workflow's child: Pulumi matches it to the state it holds
    // (https://www.pulumi.com/docs/iac/operations/stack-management/refactoring-with-aliases/).
    const workflowType = "sfn-approvals:index:ApprovalWorkflow";
    expect(result.map((r) => r.aliases)).to.deep.equal([
      [`urn:pulumi:prod::sfn-approvals::${workflowType}$aws:sns/topic:Topic::approvals-manager-escalation`],
      [
        `urn:pulumi:prod::sfn-approvals::${workflowType}$aws:cloudwatch/metricAlarm:MetricAlarm::approvals-follow-up-alarm`,
      ],
    ]);
    for (const { urn } of result) expect(urn).to.contain("sfn-approvals:index:StageFollowUps$");
  });
});
