// The generated state machines, executed with aws-local-stepfunctions: the stage Task states are
// answered by local handlers the way an approver's decision comes back (SendTaskSuccess with the
// stage decision of functions/contract.ts), and every flow asserts the exact final output.
import { expect } from "chai";
import { assembleWorkflowDefinition, stageTaskOptions } from "../components/workflow/definition";
import { lambdaCallbackTaskStates } from "../components/mechanisms/lambdaCallbackApproval";
import {
  Mechanism,
  REQUEST_INVALID_ERROR,
  StageDecision,
  StageDecisionKind,
  requestProblems,
  stageDecision,
} from "../functions/contract";
import {
  DEFAULT_ENTERED_TIME,
  DEFAULT_EXECUTION_ARN,
  RunResult,
  TaskHandler,
  heartbeatTimeout,
  inMemoryAuditBucket,
  runDefinition,
} from "./helpers/localStateMachine";
import { ofType, runProgram } from "./helpers/pulumiMocks";
import { AuditRecord } from "../functions/auditRecord";
import { stackConfig } from "./helpers/stackConfig";
import { EXPENSE_REPORT } from "./helpers/fixtures";

const TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAf0ExampleTaskToken+/=";
const EXECUTION_ARN = "arn:aws:states:eu-west-1:123456789012:execution:sfn-approvals-dev:ER98765-1";
const DECIDED_AT = "2026-11-22T10:00:00Z";
const ALICE = "arn:aws:iam::123456789012:user/alice";
const BOB = "arn:aws:iam::123456789012:user/bob";
const INVALID_CAUSE =
  "The request must be a JSON object with a non-empty string 'title'; 'amount', when present, must be a number of at least 0; 'requestId', 'requester', 'currency' and 'link', when present, must be strings.";

const EXPENSE = EXPENSE_REPORT;
const DEPLOYMENT = { title: "Deploy payments-api v2.14.0 to production", requestId: "DEP-2026-1122-01" };

/** The definition of the stack's StateMachine, as the Pulumi program generates it. */
async function generatedDefinition(stack: string): Promise<any> {
  const run = await runProgram(stack, stackConfig(stack));
  const machines = ofType(run.resources, "aws:sfn/stateMachine:StateMachine");
  expect(machines, `${stack}: state machines`).to.have.length(1);
  return JSON.parse(machines[0].inputs.definition);
}

function decision(
  kind: StageDecisionKind,
  stage: string,
  approver: string | null = ALICE,
  mechanism: Mechanism = "ssm-automation",
): StageDecision {
  return stageDecision({
    decision: kind,
    stage,
    mechanism,
    approver,
    comment: `${kind} by test`,
    decidedAt: DECIDED_AT,
  });
}

/** A decision of dev's 'manager' stage, as the approval worker sends it for the activity. */
function devDecision(kind: StageDecisionKind, approver: string | null = ALICE): StageDecision {
  return decision(kind, "manager", approver, "activity");
}

interface Approver {
  handler: TaskHandler;
  /** The input of every call: what the Task passed to the start function. */
  calls: any[];
}

/** A stage handler that answers each call with the next result (the last one repeats). */
function approver(...results: Array<unknown | (() => unknown)>): Approver {
  const calls: any[] = [];
  return {
    calls,
    handler: async (input) => {
      calls.push(input);
      const result = results[Math.min(calls.length, results.length) - 1];
      return typeof result === "function" ? (result as () => unknown)() : result;
    },
  };
}

/** A stage handler that never answers, as an approver who never decides. */
function silentApprover(): Approver {
  const calls: any[] = [];
  return {
    calls,
    handler: (input) => {
      calls.push(input);
      return new Promise(() => undefined);
    },
  };
}

/** The records the last run wrote (prod writes its decision record; dev turns it off). */
let records: AuditRecord[] = [];

/** runDefinition with every record Task answered by an in-memory bucket (its records in `records`). */
function runFlow(definition: any, input: unknown, options: Parameters<typeof runDefinition>[2]): Promise<RunResult> {
  const bucket = inMemoryAuditBucket(definition);
  records = bucket.records;
  return runDefinition(definition, input, {
    ...options,
    taskHandlers: { ...options.taskHandlers, ...bucket.handlers },
  });
}

function run(definition: object, input: unknown, approvers: Record<string, Approver>): Promise<RunResult> {
  const taskHandlers = Object.fromEntries(
    Object.entries(approvers).map(([stage, a]) => [stageTaskOptions(stage).stateName, a.handler]),
  );
  return runFlow(definition, input, {
    taskHandlers,
    taskToken: TOKEN,
    executionArn: EXECUTION_ARN,
    retryPauseMs: 0,
  });
}

/** A local copy of `definition` whose stage Task waits only `seconds` (the library enforces TimeoutSeconds). */
function withStageTimeout(definition: any, stage: string, seconds: number): any {
  const copy = JSON.parse(JSON.stringify(definition));
  const task = copy.States[stageTaskOptions(stage).stateName];
  expect(task.Type).to.equal("Task");
  task.TimeoutSeconds = seconds;
  return copy;
}

describe("flows: generated state machines run locally", () => {
  let dev: any;
  let prod: any;
  before(async () => {
    dev = await generatedDefinition("dev");
    prod = await generatedDefinition("prod");
  });

  describe("dev: one activity stage 'manager', autoApproveBelow 500", () => {
    it("approve: ends approved with the stage's decision", async () => {
      const manager = approver(devDecision("approved"));
      const result = await run(dev, EXPENSE, { manager });
      expect(result).to.deep.include({ status: "SUCCEEDED" });
      expect(result.output).to.deep.equal({
        approved: true,
        decision: "approved",
        stages: [devDecision("approved")],
        request: EXPENSE,
      });
      expect(manager.calls).to.have.length(1);
    });

    it("the activity Task hands the worker the request, the stage and the execution ARN (its token comes from GetActivityTask)", async () => {
      const manager = approver(devDecision("approved"));
      await run(dev, EXPENSE, { manager });
      expect(manager.calls).to.deep.equal([{ request: EXPENSE, stage: "manager", executionArn: EXECUTION_ARN }]);
    });

    it("reject: ends rejected with the stage's decision", async () => {
      const manager = approver(devDecision("rejected", BOB));
      const result = await run(dev, EXPENSE, { manager });
      expect(result.status).to.equal("SUCCEEDED");
      expect(result.output).to.deep.equal({
        approved: false,
        decision: "rejected",
        stages: [devDecision("rejected", BOB)],
        request: EXPENSE,
      });
    });

    it("timeout: the activity's TimeoutSeconds expires and the execution ends timed_out, not hung", async () => {
      const manager = silentApprover();
      const started = Date.now();
      const result = await runFlow(withStageTimeout(dev, "manager", 1), EXPENSE, {
        taskHandlers: { "Approval manager": manager.handler },
        executionArn: EXECUTION_ARN,
        stateEnteredTime: "2026-11-22T11:00:00.123Z",
      });
      // The 1 s timeout really elapsed; a hang would fail on the test timeout (no upper bound: a busy machine is slow, not wrong).
      expect(Date.now() - started).to.be.at.least(900);
      expect(manager.calls).to.have.length(1);
      expect(result.status).to.equal("SUCCEEDED");
      expect(result.statesEntered).to.include("Approval manager timed out");
      expect(result.output).to.deep.equal({
        approved: false,
        decision: "timed_out",
        stages: [
          {
            approved: false,
            decision: "timed_out",
            stage: "manager",
            mechanism: "activity",
            approver: null,
            comment: null,
            decidedAt: "2026-11-22T11:00:00.123Z", // $$.State.EnteredTime of the timed-out Pass state
          },
        ],
        request: EXPENSE,
      });
    });

    it("a worker that vanished (heartbeat timeout) releases the task; the next worker's approval counts", async () => {
      const manager = approver(
        () => {
          throw heartbeatTimeout();
        },
        devDecision("approved", BOB),
      );
      const result = await run(dev, EXPENSE, { manager });
      expect(manager.calls).to.have.length(2);
      expect(manager.calls[1]).to.deep.equal(manager.calls[0]);
      expect(result.status).to.equal("SUCCEEDED");
      expect(result.statesEntered).to.not.include("Approval manager timed out");
      expect(result.output).to.deep.equal({
        approved: true,
        decision: "approved",
        stages: [devDecision("approved", BOB)],
        request: EXPENSE,
      });
    });

    it("four heartbeat timeouts in a row: the task is offered 3 more times, then the stage ends timed_out (States.Timeout also matches heartbeat timeouts), never approved", async () => {
      const manager = approver(() => {
        throw heartbeatTimeout();
      });
      const result = await run(dev, EXPENSE, { manager });
      expect(manager.calls).to.have.length(1 + 3);
      expect(result.status).to.equal("SUCCEEDED");
      expect(result.statesEntered)
        .to.include("Approval manager timed out")
        .and.to.include("Timed out at manager")
        .and.to.not.include("Approved");
      expect(result.output).to.deep.equal({
        approved: false,
        decision: "timed_out",
        stages: [
          {
            approved: false,
            decision: "timed_out",
            stage: "manager",
            mechanism: "activity",
            approver: null,
            comment: null,
            decidedAt: DEFAULT_ENTERED_TIME,
          },
        ],
        request: EXPENSE,
      });
    });

    it("a worker that fails the task (a malformed task, SendTaskFailure): the execution fails with that error, not retried", async () => {
      const manager = approver(() => {
        throw Object.assign(new Error("The approval task's input is malformed"), { name: "InvalidApprovalTask" });
      });
      const result = await run(dev, EXPENSE, { manager });
      expect(manager.calls).to.have.length(1);
      expect(result).to.deep.include({
        status: "FAILED",
        error: "InvalidApprovalTask",
        cause: "The approval task's input is malformed",
      });
      expect(result.output).to.equal(undefined);
    });

    it("an approver's own timed_out decision also ends timed_out", async () => {
      const manager = approver(devDecision("timed_out", null));
      const result = await run(dev, EXPENSE, { manager });
      expect(result.output).to.deep.equal({
        approved: false,
        decision: "timed_out",
        stages: [devDecision("timed_out", null)],
        request: EXPENSE,
      });
    });

    for (const amount of [0, 120, 499.99]) {
      it(`auto-approves amount ${amount} (below 500) without running any stage`, async () => {
        const manager = approver(devDecision("rejected"));
        const request = { ...EXPENSE, amount };
        const result = await run(dev, request, { manager });
        expect(manager.calls).to.have.length(0);
        expect(result.status).to.equal("SUCCEEDED");
        expect(result.output).to.deep.equal({ approved: true, decision: "auto_approved", stages: [], request });
      });
    }

    for (const amount of [500, 500.01, 10000]) {
      it(`sends amount ${amount} (at or above 500) to the stage`, async () => {
        const manager = approver(devDecision("rejected"));
        const request = { ...EXPENSE, amount };
        const result = await run(dev, request, { manager });
        expect(manager.calls).to.have.length(1);
        expect(result.output).to.deep.equal({
          approved: false,
          decision: "rejected",
          stages: [devDecision("rejected")],
          request,
        });
      });
    }

    it("sends a request without amount to the stage", async () => {
      const manager = approver(devDecision("approved"));
      const result = await run(dev, DEPLOYMENT, { manager });
      expect(manager.calls).to.have.length(1);
      expect(result.output).to.deep.equal({
        approved: true,
        decision: "approved",
        stages: [devDecision("approved")],
        request: DEPLOYMENT,
      });
    });
  });

  describe("prod's stage 'manager': ssm-automation, a Lambda callback Task", () => {
    it("the stage's Task passes the start function the task token, the request, the stage and the execution ARN", async () => {
      const manager = approver(decision("approved", "manager"));
      const finance = approver(decision("approved", "finance", BOB, "codepipeline"));
      await run(prod, EXPENSE, { manager, finance });
      expect(manager.calls).to.have.length(1);
      const [input] = manager.calls;
      expect(input.FunctionName).to.equal(
        "arn:aws:lambda:eu-west-1:123456789012:function:stage-manager-start-fn-a1b2c3d",
      );
      expect(input.Payload).to.deep.equal({
        taskToken: TOKEN,
        request: EXPENSE,
        stage: "manager",
        executionArn: EXECUTION_ARN,
      });
    });

    it("timeout: the stage's TimeoutSeconds expires and the execution ends timed_out, not hung", async () => {
      const manager = silentApprover();
      const finance = approver(decision("approved", "finance", BOB, "codepipeline"));
      const started = Date.now();
      const result = await runFlow(withStageTimeout(prod, "manager", 1), EXPENSE, {
        taskHandlers: { "Approval manager": manager.handler, "Approval finance": finance.handler },
        taskToken: TOKEN,
        executionArn: EXECUTION_ARN,
        stateEnteredTime: "2026-11-22T11:00:00.123Z",
      });
      // The 1 s timeout really elapsed; a hang would fail on the test timeout (no upper bound: a busy machine is slow, not wrong).
      expect(Date.now() - started).to.be.at.least(900);
      expect(manager.calls).to.have.length(1);
      expect(finance.calls).to.have.length(0);
      expect(result.status).to.equal("SUCCEEDED");
      expect(result.statesEntered).to.include("Approval manager timed out");
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
            decidedAt: "2026-11-22T11:00:00.123Z", // $$.State.EnteredTime of the timed-out Pass state
          },
        ],
        request: EXPENSE,
      });
      expect(result.output.stages[0].decidedAt).to.be.a("string");
    });

    it("retries the start when Lambda reports it never ran, then waits for the decision", async () => {
      const throttled = () => {
        throw Object.assign(new Error("Rate exceeded"), { name: "Lambda.TooManyRequestsException" });
      };
      const manager = approver(throttled, throttled, decision("rejected", "manager"));
      const finance = approver(decision("approved", "finance", BOB, "codepipeline"));
      const result = await run(prod, EXPENSE, { manager, finance });
      expect(manager.calls).to.have.length(3);
      expect(finance.calls).to.have.length(0);
      expect(result.output).to.deep.equal({
        approved: false,
        decision: "rejected",
        stages: [decision("rejected", "manager")],
        request: EXPENSE,
      });
    });

    it("a start function that throws a generic error: the execution fails with that error, not retried", async () => {
      const manager = approver(() => {
        throw new Error("SSM StartAutomationExecution: AccessDenied");
      });
      const finance = approver(decision("approved", "finance", BOB, "codepipeline"));
      const result = await run(prod, EXPENSE, { manager, finance });
      expect(manager.calls).to.have.length(1); // not retried: only errors meaning "never ran" are
      expect(finance.calls).to.have.length(0);
      expect(result).to.deep.include({
        status: "FAILED",
        error: "Error",
        cause: "SSM StartAutomationExecution: AccessDenied",
      });
      expect(result.output).to.equal(undefined);
    });
  });

  describe("prod: stages 'manager' then 'finance'", () => {
    it("both approve: ends approved with both decisions in order", async () => {
      const manager = approver(decision("approved", "manager", ALICE));
      const finance = approver(decision("approved", "finance", BOB, "codepipeline"));
      const result = await run(prod, EXPENSE, { manager, finance });
      expect(result.status).to.equal("SUCCEEDED");
      expect(result.output).to.deep.equal({
        approved: true,
        decision: "approved",
        stages: [decision("approved", "manager", ALICE), decision("approved", "finance", BOB, "codepipeline")],
        request: EXPENSE,
      });
      expect(manager.calls.map((c) => c.Payload.stage)).to.deep.equal(["manager"]);
      expect(finance.calls.map((c) => c.Payload.stage)).to.deep.equal(["finance"]);
      expect(result.statesEntered.indexOf("Approval manager")).to.be.lessThan(
        result.statesEntered.indexOf("Approval finance"),
      );
      // prod's decision record: each decision with the approvers configured for its stage, then the outcome.
      expect(
        records.map((r) => [r.kind, r.kind === "decision" ? [r.stage, r.approver, r.approvers.length] : r.outcome]),
      ).to.deep.equal([
        ["decision", ["manager", ALICE, 3]],
        ["decision", ["finance", BOB, 1]],
        ["outcome", "approved"],
      ]);
    });

    it("the second stage rejects: ends rejected, first decision approved, second rejected", async () => {
      const manager = approver(decision("approved", "manager", ALICE));
      const finance = approver(decision("rejected", "finance", BOB, "codepipeline"));
      const result = await run(prod, EXPENSE, { manager, finance });
      expect(result.output).to.deep.equal({
        approved: false,
        decision: "rejected",
        stages: [decision("approved", "manager", ALICE), decision("rejected", "finance", BOB, "codepipeline")],
        request: EXPENSE,
      });
      expect(records.map((r) => (r.kind === "decision" ? r.decision : r.outcome))).to.deep.equal([
        "approved",
        "rejected",
        "rejected",
      ]);
    });

    it("the first stage rejects: the second stage never runs", async () => {
      const manager = approver(decision("rejected", "manager", ALICE));
      const finance = approver(decision("approved", "finance", BOB, "codepipeline"));
      const result = await run(prod, EXPENSE, { manager, finance });
      expect(finance.calls).to.have.length(0);
      expect(result.output).to.deep.equal({
        approved: false,
        decision: "rejected",
        stages: [decision("rejected", "manager", ALICE)],
        request: EXPENSE,
      });
    });

    it("a small amount is not auto-approved where no autoApproveBelow is configured", async () => {
      const manager = approver(decision("approved", "manager"));
      const finance = approver(decision("approved", "finance", ALICE, "codepipeline"));
      const request = { title: "Team lunch", amount: 1 };
      const result = await run(prod, request, { manager, finance });
      expect(manager.calls).to.have.length(1);
      expect(finance.calls).to.have.length(1);
      expect(result.output.decision).to.equal("approved");
    });

    it("the second stage times out: ends timed_out after the first approval", async () => {
      const manager = approver(decision("approved", "manager", ALICE));
      const finance = silentApprover();
      const result = await runFlow(withStageTimeout(prod, "finance", 1), EXPENSE, {
        taskHandlers: { "Approval manager": manager.handler, "Approval finance": finance.handler },
        taskToken: TOKEN,
      });
      expect(result.output).to.deep.equal({
        approved: false,
        decision: "timed_out",
        stages: [
          decision("approved", "manager", ALICE),
          {
            approved: false,
            decision: "timed_out",
            stage: "finance",
            mechanism: "codepipeline",
            approver: null,
            comment: null,
            decidedAt: "2026-11-22T10:00:00.000Z",
          },
        ],
        request: EXPENSE,
      });
      expect(finance.calls[0].Payload.executionArn).to.equal(DEFAULT_EXECUTION_ARN);
    });
  });

  describe("bad input fails at once with InvalidApprovalRequest, before any approver", () => {
    const badInputs: Array<[string, unknown]> = [
      ["no title", { requestId: "ER1", amount: 750 }],
      ["title not a string", { title: 42 }],
      ["title null", { title: null }],
      ["empty title", { title: "" }],
      ["amount as a string", { title: "Expense", amount: "750" }],
      ["negative amount", { title: "Expense", amount: -1 }],
      ["requestId as a number", { title: "Expense", requestId: 98765 }],
      ["requester as an object", { title: "Expense", requester: { name: "Jane" } }],
      ["currency as a number", { title: "Expense", currency: 840 }],
      ["link as a boolean", { title: "Expense", link: true }],
      ["a JSON array", [{ title: "Expense" }]],
      ["a JSON string", "Expense report ER98765"],
    ];
    for (const stack of ["dev", "prod"]) {
      for (const [name, input] of badInputs) {
        it(`${stack}: ${name}`, async () => {
          const manager = approver(decision("approved", "manager"));
          const finance = approver(decision("approved", "finance", ALICE, "codepipeline"));
          const result = await run(
            stack === "dev" ? dev : prod,
            input,
            stack === "dev" ? { manager } : { manager, finance },
          );
          expect(result).to.deep.equal({
            status: "FAILED",
            error: REQUEST_INVALID_ERROR,
            cause: INVALID_CAUSE,
            // prod records the failure first (docs/audit.md), then fails with the same error and cause.
            statesEntered: [
              "Read request",
              "Validate request",
              "Request invalid",
              ...(stack === "prod" ? ["Record failure", "Failed"] : []),
            ],
          });
          expect(records.map((r) => (r.kind === "outcome" ? [r.outcome, r.error] : r.kind))).to.deep.equal(
            stack === "prod" ? [["failed", REQUEST_INVALID_ERROR]] : [],
          );
          expect(manager.calls).to.have.length(0);
          expect(finance.calls).to.have.length(0);
          // The state machine and the handlers' requestProblems agree on what is malformed.
          expect(requestProblems(input)).to.not.deep.equal([]);
        });
      }
    }

    it("null input: fails in 'Read request', before any approver", async () => {
      // aws-local-stepfunctions treats "$" of a null input as "no value" (States.Runtime), so the
      // execution fails one state earlier than for the other malformed inputs; it still never waits.
      const manager = approver(decision("approved", "manager"));
      const result = await run(dev, null, { manager });
      expect(result).to.deep.equal({
        status: "FAILED",
        error: "States.Runtime",
        cause: "Path expression '$' does not point to a value",
        statesEntered: ["Read request"],
      });
      expect(manager.calls).to.have.length(0);
      expect(requestProblems(null)).to.deep.equal(["the request must be a JSON object"]);
    });

    it("accepts what requestProblems accepts: only title, and every optional field well-typed", async () => {
      for (const request of [{ title: "x" }, EXPENSE, DEPLOYMENT, { title: "x", amount: 0, details: "free text" }]) {
        expect(requestProblems(request)).to.deep.equal([]);
        const manager = approver(decision("approved", "manager"));
        const finance = approver(decision("approved", "finance", ALICE, "codepipeline"));
        const result = await run(prod, request, { manager, finance });
        expect(result.status, JSON.stringify(request)).to.equal("SUCCEEDED");
        expect(result.output.request).to.deep.equal(request);
      }
    });
  });

  describe("a malformed or failed decision never approves", () => {
    it("{approved: true} without decision 'approved': the execution fails with InvalidStageDecision", async () => {
      const manager = approver({ approved: true });
      const result = await run(dev, EXPENSE, { manager });
      expect(result.status).to.equal("FAILED");
      expect(result.error).to.equal("InvalidStageDecision");
      expect(result.cause).to.equal(
        "Stage 'manager' answered with a decision that is not whole: it needs a boolean 'approved' and a 'decision' that agree (true/approved, false/rejected, false/timed_out), 'stage' 'manager' and 'mechanism' 'activity'; nothing was approved.",
      );
      expect(result.output).to.equal(undefined);
      expect(result.statesEntered).to.not.include("Approved");
    });

    it("{approved: 'true', decision: 'approved'} (a string, not a boolean): fails with InvalidStageDecision", async () => {
      const malformed = { approved: "true", decision: "approved" };
      const result = await run(dev, EXPENSE, { manager: approver(malformed) });
      expect(result).to.deep.include({ status: "FAILED", error: "InvalidStageDecision" });
      expect(result.statesEntered).to.not.include("Approved");
    });

    it("{approved: true, decision: 42} (decision not a string): fails with InvalidStageDecision", async () => {
      const result = await run(dev, EXPENSE, { manager: approver({ approved: true, decision: 42 }) });
      expect(result).to.deep.include({ status: "FAILED", error: "InvalidStageDecision" });
    });

    // A decision is whole or refused: never read as a rejection either, so no decision is lost silently.
    const notWhole: Array<[string, unknown]> = [
      [
        "{approved: true, decision: 'approved'} alone (no stage, no mechanism)",
        { approved: true, decision: "approved" },
      ],
      [
        "an approval without 'stage'",
        (({ stage, ...rest }) => {
          void stage;
          return rest;
        })(devDecision("approved")),
      ],
      [
        "an approval without 'mechanism'",
        (({ mechanism, ...rest }) => {
          void mechanism;
          return rest;
        })(devDecision("approved")),
      ],
      ["an approval whose stage is null", { ...devDecision("approved"), stage: null }],
      ["an approval whose mechanism is a number", { ...devDecision("approved"), mechanism: 3 }],
      ["{approved: true, decision: 'yes'} (not a known decision)", { ...devDecision("approved"), decision: "yes" }],
      ["{approved: false, decision: 'approved'} (contradictory)", { ...devDecision("approved"), approved: false }],
      ["{approved: true, decision: 'rejected'} (contradictory)", { ...devDecision("rejected"), approved: true }],
      ["{approved: true, decision: 'timed_out'} (contradictory)", { ...devDecision("timed_out"), approved: true }],
      [
        "a rejection without 'mechanism'",
        (({ mechanism, ...rest }) => {
          void mechanism;
          return rest;
        })(devDecision("rejected")),
      ],
    ];
    for (const [what, malformed] of notWhole) {
      it(`${what}: fails with InvalidStageDecision, never approved nor read as a rejection`, async () => {
        const result = await run(dev, EXPENSE, { manager: approver(malformed) });
        expect(result).to.deep.include({ status: "FAILED", error: "InvalidStageDecision" });
        expect(result.output).to.equal(undefined);
        expect(result.statesEntered).to.not.include("Approved");
      });
    }

    it("a whole rejection and a whole timeout still end as rejected and timed_out", async () => {
      for (const kind of ["rejected", "timed_out"] as const) {
        const result = await run(dev, EXPENSE, { manager: approver(devDecision(kind)) });
        expect(result.output, kind).to.deep.equal({
          approved: false,
          decision: kind,
          stages: [devDecision(kind)],
          request: EXPENSE,
        });
      }
    });

    it("an approval in the name of another stage (a token sent with the wrong stage): fails with InvalidStageDecision", async () => {
      const finance = approver(decision("approved", "finance", ALICE, "codepipeline"));
      const result = await run(prod, EXPENSE, {
        manager: approver(decision("approved", "finance", ALICE, "ssm-automation")),
        finance,
      });
      expect(result).to.deep.include({ status: "FAILED", error: "InvalidStageDecision" });
      expect(finance.calls).to.have.length(0);
      expect(result.statesEntered).to.not.include("Approved");
    });

    it("an approval in the name of another mechanism: fails with InvalidStageDecision", async () => {
      const result = await run(dev, EXPENSE, {
        manager: approver(decision("approved", "manager", ALICE, "email-link")),
      });
      expect(result).to.deep.include({ status: "FAILED", error: "InvalidStageDecision" });
      expect(result.statesEntered).to.not.include("Approved");
    });

    it("a malformed first decision stops prod before the second stage", async () => {
      const finance = approver(decision("approved", "finance", ALICE, "codepipeline"));
      const result = await run(prod, EXPENSE, {
        manager: approver({ approved: "yes", decision: "approved" }),
        finance,
      });
      expect(finance.calls).to.have.length(0);
      expect(result).to.deep.include({ status: "FAILED", error: "InvalidStageDecision" });
      expect(result.output).to.equal(undefined);
    });

    it("a null result: the execution fails with InvalidStageDecision", async () => {
      const result = await run(dev, EXPENSE, { manager: approver(null) });
      expect(result.status).to.equal("FAILED");
      expect(result.error).to.equal("InvalidStageDecision");
    });

    it("a handler that throws a generic error: the execution fails with that error", async () => {
      const manager = approver(() => {
        throw new Error("SendTaskSuccess: AccessDenied");
      });
      const result = await run(dev, EXPENSE, { manager });
      expect(manager.calls).to.have.length(1); // not retried: only a vanished worker (heartbeat timeout) is
      expect(result).to.deep.include({ status: "FAILED", error: "Error", cause: "SendTaskSuccess: AccessDenied" });
      expect(result.output).to.equal(undefined);
    });

    it("a handler that fails the task (SendTaskFailure): the execution fails with that error", async () => {
      const manager = approver(() => {
        throw Object.assign(new Error("approval automation failed"), { name: "ApprovalFailed" });
      });
      const finance = approver(decision("approved", "finance", ALICE, "codepipeline"));
      const result = await run(prod, EXPENSE, { manager, finance });
      expect(result).to.deep.include({
        status: "FAILED",
        error: "ApprovalFailed",
        cause: "approval automation failed",
      });
      expect(finance.calls).to.have.length(0);
    });
  });

  describe("assembled from the pure builders: hyphenated stages of different mechanisms", () => {
    const FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:start";
    const stages: Array<[string, Mechanism]> = [
      ["team-lead", "email-link"],
      ["cost-center", "sns-callback"],
    ];
    const definition = assembleWorkflowDefinition({
      autoApproveBelow: 100,
      stages: stages.map(([stage, mechanism]) => ({
        stage,
        mechanism,
        maxWaitSeconds: 3600,
        states: lambdaCallbackTaskStates({
          options: stageTaskOptions(stage),
          functionArn: FUNCTION_ARN,
          stage,
          mechanism,
          timeoutSeconds: 3600,
        }),
      })),
    });

    it("both approve: both decisions, in order, under their stage names", async () => {
      const teamLead = approver(decision("approved", "team-lead", "lead@example.com", "email-link"));
      const costCenter = approver(decision("approved", "cost-center", "cfo@example.com", "sns-callback"));
      const result = await run(definition, EXPENSE, { "team-lead": teamLead, "cost-center": costCenter });
      expect(result.output).to.deep.equal({
        approved: true,
        decision: "approved",
        stages: [
          decision("approved", "team-lead", "lead@example.com", "email-link"),
          decision("approved", "cost-center", "cfo@example.com", "sns-callback"),
        ],
        request: EXPENSE,
      });
      expect(teamLead.calls[0]).to.deep.equal({
        FunctionName: FUNCTION_ARN,
        Payload: { taskToken: TOKEN, request: EXPENSE, stage: "team-lead", executionArn: EXECUTION_ARN },
      });
      expect(costCenter.calls[0].Payload.stage).to.equal("cost-center");
    });

    it("the first stage times out: ends timed_out naming the mechanism, the second never runs", async () => {
      const costCenter = approver(decision("approved", "cost-center"));
      const result = await runFlow(withStageTimeout(definition, "team-lead", 1), EXPENSE, {
        taskHandlers: { "Approval team-lead": silentApprover().handler, "Approval cost-center": costCenter.handler },
        taskToken: TOKEN,
      });
      expect(costCenter.calls).to.have.length(0);
      expect(result.output).to.deep.equal({
        approved: false,
        decision: "timed_out",
        stages: [
          {
            approved: false,
            decision: "timed_out",
            stage: "team-lead",
            mechanism: "email-link",
            approver: null,
            comment: null,
            decidedAt: "2026-11-22T10:00:00.000Z",
          },
        ],
        request: EXPENSE,
      });
    });
  });
});
