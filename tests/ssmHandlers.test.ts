// The deployed code of the ssm-automation stage (prod's 'manager' stage): both CallbackFunctions,
// serialized by Pulumi under mocks, run with node against a fake SSM + Step Functions endpoint on 127.0.0.1.
import { SFNClient } from "@aws-sdk/client-sfn";
import { AutomationExecutionStatus, SSMClient } from "@aws-sdk/client-ssm";
import { expect } from "chai";
import { randomBytes } from "crypto";
import { readFileSync } from "fs";
import { join } from "path";
import { deliverAutomationDecision } from "../functions/mechanisms/ssmAutomation/automationResult";
import { RESULT_RESEND } from "../functions/shared/throttledSend";
import { AwsError, FakeAws } from "./helpers/fakeAws";
import { EXPENSE_REPORT } from "./helpers/fixtures";
import { archiveFiles, named, runProgram } from "./helpers/pulumiMocks";
import { inMemoryAuditBucket, runDefinition } from "./helpers/localStateMachine";
import { HandlerRun, invokeArchive, writeArchive } from "./helpers/serializedHandler";
import { stackConfig } from "./helpers/stackConfig";

const DOCUMENT = "sfn-approvals-prod-manager";
const STARTER_ROLE = "stage-manager-start-role-a1b2c3d";
const EXECUTION_ARN = "arn:aws:states:eu-west-1:123456789012:execution:sfn-approvals-prod:er98765-1";
const AUTOMATION_ID = "333ba70b-2333-48db-b17e-a5e69c6f4d1c";
/** Task tokens are long opaque strings with base64 characters; this one is 1,124 characters. */
const TASK_TOKEN = `AQCEAAAAKgAAAAMAAAAAAAAAAe${randomBytes(825).toString("base64")}`;

const REQUEST = EXPENSE_REPORT;

/** AWS's own sample "EC2 Automation Step Status-change Notification" event; the fixture names its page. */
const DOCUMENTED: { source: { page: string }; event: { detail: Record<string, unknown> } & Record<string, unknown> } =
  JSON.parse(readFileSync(join(__dirname, "fixtures", "aws-events", "ssm-automation-step-status-change.json"), "utf8"));

/** The documented event, for our runbook's aws:approve step. Variants change only fields the sample has. */
function stepEvent(detail: Record<string, unknown> = {}): Record<string, unknown> {
  for (const key of Object.keys(detail)) {
    if (!(key in DOCUMENTED.event.detail))
      throw new Error(`stepEvent: '${key}' is not a field of the documented event`);
  }
  const sample = structuredClone(DOCUMENTED.event);
  return {
    ...sample,
    time: "2026-11-22T10:00:05Z",
    region: "eu-west-1",
    resources: [
      `arn:aws:ssm:eu-west-1:123456789012:automation-execution/${AUTOMATION_ID}`,
      `arn:aws:ssm:eu-west-1:123456789012:automation-definition/${DOCUMENT}:1`,
    ],
    detail: {
      ...sample.detail,
      ExecutionId: AUTOMATION_ID,
      Definition: DOCUMENT,
      EndTime: "Nov 22, 2026 10:00:04 AM",
      StartTime: "Nov 22, 2026 9:12:00 AM",
      Time: 2884000.0,
      StepName: "Approve",
      Action: "aws:approve",
      ...detail,
    },
  };
}

function decisionOutput(approver: string, decision: "Approve" | "Reject", comment: string, time: string): string {
  return JSON.stringify({ Approver: approver, Decision: decision, ApprovalDecisionTime: time, Comment: comment });
}

/** GetAutomationExecution's answer for an automation our start function started. */
function automation(
  step: Record<string, unknown>,
  overrides: Record<string, unknown> = {},
): { AutomationExecution: Record<string, unknown> } {
  return {
    AutomationExecution: {
      AutomationExecutionId: AUTOMATION_ID,
      DocumentName: DOCUMENT,
      DocumentVersion: "1",
      AutomationExecutionStatus: "Success",
      ExecutedBy: `arn:aws:sts::123456789012:assumed-role/${STARTER_ROLE}/stage-manager-start-fn-a1b2c3d`,
      Parameters: {
        TaskToken: [TASK_TOKEN.slice(0, 500), TASK_TOKEN.slice(500, 1000), TASK_TOKEN.slice(1000)],
        Message: ["..."],
        RequestId: ["ER98765"],
        ExecutionArn: [EXECUTION_ARN],
      },
      StepExecutions: [{ StepName: "Approve", Action: "aws:approve", ExecutionEndTime: 1795341604, ...step }],
      ...overrides,
    },
  };
}

describe("ssm-automation handlers (prod stage 'manager'), as deployed (serialized __index.js against a fake AWS endpoint)", function () {
  const aws = new FakeAws();
  let startDir: string;
  let resultDir: string;
  let startEnv: Record<string, string>;
  let resultEnv: Record<string, string>;
  let rulePattern: any;
  const runs: HandlerRun[] = [];

  before(async () => {
    const prod = await runProgram("prod", stackConfig("prod"));
    const start = named(prod.resources, "stage-manager-start-fn");
    const result = named(prod.resources, "stage-manager-result-fn");
    expect(start.inputs.environment.variables.DOCUMENT_NAME).to.equal(DOCUMENT);
    rulePattern = JSON.parse(named(prod.resources, "stage-manager-decision-rule").inputs.eventPattern);
    startDir = writeArchive(await archiveFiles(start));
    resultDir = writeArchive(await archiveFiles(result));
    const url = await aws.start();
    const endpoints = { AWS_ENDPOINT_URL_SSM: url, AWS_ENDPOINT_URL_SFN: url };
    startEnv = { ...start.inputs.environment.variables, ...endpoints };
    resultEnv = { ...result.inputs.environment.variables, ...endpoints };
  });
  after(() => aws.stop());
  beforeEach(() => aws.reset());

  async function invokeStart(event: unknown): Promise<HandlerRun> {
    const run = await invokeArchive(startDir, event, startEnv);
    runs.push(run);
    return run;
  }
  async function invokeResult(event: unknown): Promise<HandlerRun> {
    const run = await invokeArchive(resultDir, event, resultEnv);
    runs.push(run);
    return run;
  }

  describe("start function", () => {
    const event = { taskToken: TASK_TOKEN, request: REQUEST, stage: "manager", executionArn: EXECUTION_ARN };

    it("starts the stage's runbook with the task token as a parameter, in chunks SSM accepts", async () => {
      aws.on("StartAutomationExecution", () => ({ AutomationExecutionId: AUTOMATION_ID }));
      const run = await invokeStart(event);
      expect(run.error).to.equal(undefined);
      expect(run.result).to.deep.equal({ automationExecutionId: AUTOMATION_ID });
      expect(aws.requests).to.have.length(1);
      const [request] = aws.requests;
      expect(request.target).to.equal("AmazonSSM.StartAutomationExecution");
      expect(request.body.DocumentName).to.equal(DOCUMENT);
      expect(Object.keys(request.body.Parameters).sort()).to.deep.equal([
        "ExecutionArn",
        "Message",
        "RequestId",
        "TaskToken",
      ]);
      expect(request.body.Parameters.TaskToken.join("")).to.equal(TASK_TOKEN);
      expect(request.body.Parameters.TaskToken.every((chunk: string) => chunk.length <= 500)).to.equal(true);
      expect(request.body.Parameters.RequestId).to.deep.equal(["ER98765"]);
      expect(request.body.Parameters.ExecutionArn).to.deep.equal([EXECUTION_ARN]);
      const [message] = request.body.Parameters.Message;
      expect(message.length).to.be.at.most(500);
      expect(message)
        .to.contain("Approval requested: Expense report ER98765")
        .and.contain("Amount: 750.5 USD")
        .and.contain("Stage: manager")
        .and.contain("Execution: er98765-1");
      // Approvers, quorum and topic are fixed in the runbook, never sent by the caller.
      expect(request.body).to.not.have.nested.property("Parameters.Approvers");
      expect(request.body).to.not.have.property("Mode");
    });

    // Review finding: the token is readable in the automation's parameters; invoking the start function
    // again with it and another request must not start a second automation that decides this task.
    it("sends an idempotency token (UUID) derived from the task: the same task again gets the same one, another request with it is refused by SSM", async () => {
      /** SSM's documented idempotency: same ClientToken and parameters, the same automation; other parameters, IdempotentParameterMismatch (SSM API model). */
      const seen = new Map<string, string>();
      aws.on("StartAutomationExecution", (body) => {
        const previous = seen.get(body.ClientToken);
        if (previous !== undefined && previous !== JSON.stringify(body.Parameters))
          return new AwsError("IdempotentParameterMismatch", "parameters do not match the original call");
        seen.set(body.ClientToken, JSON.stringify(body.Parameters));
        return { AutomationExecutionId: AUTOMATION_ID };
      });
      const first = await invokeStart(event);
      const retry = await invokeStart(event);
      const stolen = await invokeStart({ ...event, request: { title: "Team lunch", amount: 50 } });
      const other = await invokeStart({ ...event, taskToken: `${TASK_TOKEN}x` });
      expect([first.ok, retry.ok, stolen.ok, other.ok]).to.deep.equal([true, true, false, true]);
      expect(stolen.error!.name).to.equal("IdempotentParameterMismatch");
      const tokens = aws.requests.map((r) => r.body.ClientToken as string);
      expect(tokens[0]).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(tokens.slice(0, 3)).to.deep.equal([tokens[0], tokens[0], tokens[0]]);
      expect(tokens[3]).to.not.equal(tokens[0]);
      expect(tokens[0]).to.not.contain(TASK_TOKEN.slice(0, 8));
    });

    it("keeps a long request's message within the parameter limit", async () => {
      aws.on("StartAutomationExecution", () => ({ AutomationExecutionId: AUTOMATION_ID }));
      const longRequest = { ...REQUEST, details: { notes: "x".repeat(5000) } };
      await invokeStart({ ...event, request: longRequest });
      const [message] = aws.requests[0].body.Parameters.Message;
      expect(message.length).to.be.at.most(500);
      expect(message).to.contain("(truncated)").and.contain("Execution: er98765-1");
    });

    const badEvents: Array<[string, unknown, RegExp]> = [
      ["no task token", { ...event, taskToken: undefined }, /InvalidEvent: 'taskToken' must be a non-empty string/],
      ["an empty task token", { ...event, taskToken: "" }, /InvalidEvent: 'taskToken'/],
      [
        "a request without title",
        { ...event, request: { amount: 10 } },
        /InvalidEvent: the request is malformed: 'title' is required/,
      ],
      [
        "another stage",
        { ...event, stage: "finance" },
        /this function serves stage 'manager', the event names stage 'finance'/,
      ],
      ["no execution ARN", { ...event, executionArn: undefined }, /'executionArn' must be the ARN/],
      ["a string", "approve", /InvalidEvent: expected an object/],
    ];
    for (const [what, bad, message] of badEvents) {
      it(`refuses an event with ${what} and starts nothing`, async () => {
        aws.on("StartAutomationExecution", () => ({ AutomationExecutionId: AUTOMATION_ID }));
        const run = await invokeStart(bad);
        expect(run.ok).to.equal(false);
        expect(run.error!.message).to.match(message);
        expect(aws.requests).to.have.length(0);
      });
    }

    it("fails the task when SSM refuses to start the automation", async () => {
      aws.on(
        "StartAutomationExecution",
        () => new AwsError("AutomationDefinitionNotFoundException", "Document sfn-approvals-prod-manager not found"),
      );
      const run = await invokeStart(event);
      expect(run.ok).to.equal(false);
      expect(run.error).to.deep.equal({
        name: "AutomationDefinitionNotFoundException",
        message: "Document sfn-approvals-prod-manager not found",
      });
    });
  });

  describe("result function", () => {
    const APPROVER = "arn:aws:iam::123456789012:role/ReleaseApprover";

    function expectSentDecision(expected: Record<string, unknown>): void {
      expect(aws.operations()).to.deep.equal(["GetAutomationExecution", "SendTaskSuccess"]);
      expect(aws.requests[0].body).to.deep.equal({ AutomationExecutionId: AUTOMATION_ID });
      const sent = aws.requests[1];
      expect(sent.target).to.equal("AWSStepFunctions.SendTaskSuccess");
      expect(sent.body.taskToken).to.equal(TASK_TOKEN);
      expect(JSON.parse(sent.body.output)).to.deep.equal(expected);
    }

    it("is triggered by the rule on the documented event's own field names and values", () => {
      // Check B: the rule's keys are the sample event's keys (capitalised as AWS writes them), and
      // every status it matches is one of SSM's AutomationExecutionStatus values.
      expect(rulePattern.source).to.deep.equal([DOCUMENTED.event.source]);
      expect(rulePattern["detail-type"]).to.deep.equal([DOCUMENTED.event["detail-type"]]);
      for (const key of Object.keys(rulePattern.detail)) expect(DOCUMENTED.event.detail, key).to.have.property(key);
      expect(
        rulePattern.detail.Status.every((s: string) =>
          (Object.values(AutomationExecutionStatus) as string[]).includes(s),
        ),
      ).to.equal(true);
      expect(stepEvent().detail).to.deep.include({
        Definition: rulePattern.detail.Definition[0],
        StepName: rulePattern.detail.StepName[0],
        Action: rulePattern.detail.Action[0],
      });
    });

    it("sends nothing for AWS's sample event as published (another runbook's aws:runCommand step)", async () => {
      aws
        .on("GetAutomationExecution", () =>
          automation({ StepStatus: "Success", Outputs: { ApprovalStatus: ["Approved"] } }),
        )
        .on("SendTaskSuccess", () => ({}));
      const run = await invokeResult(DOCUMENTED.event);
      expect(run.ok).to.equal(false);
      expect(run.error!.message).to.match(/^InvalidEvent: the event is for runbook 'runcommand1'/);
      expect(aws.requests).to.have.length(0);
    });

    it("sends the approval with who approved and their comment", async () => {
      aws
        .on("GetAutomationExecution", () =>
          automation({
            StepStatus: "Success",
            Outputs: {
              ApprovalStatus: ["Approved"],
              ApproverDecisions: [decisionOutput(APPROVER, "Approve", "looks fine", "2026-11-22T10:00:00.034463Z")],
            },
          }),
        )
        .on("SendTaskSuccess", () => ({}));
      const run = await invokeResult(stepEvent());
      expect(run.error).to.equal(undefined);
      const expected = {
        approved: true,
        decision: "approved",
        stage: "manager",
        mechanism: "ssm-automation",
        approver: APPROVER,
        comment: "looks fine",
        decidedAt: "2026-11-22T10:00:00Z",
      };
      expectSentDecision(expected);
      expect(run.result).to.deep.equal(expected);
    });

    it("its real rejection, then drives the prod workflow to its end (aws-local-stepfunctions)", async () => {
      aws.on("GetAutomationExecution", () =>
        automation({
          StepStatus: "Failed",
          Outputs: {
            ApprovalStatus: ["Rejected"],
            ApproverDecisions: [decisionOutput(APPROVER, "Reject", "not this quarter", "2026-11-22T09:30:00Z")],
          },
        }),
      );
      let delivered: unknown;
      aws.on("SendTaskSuccess", (body) => {
        delivered = JSON.parse(body.output);
        return {};
      });
      await invokeResult(stepEvent({ Status: "Failed" }));
      const prod = await runProgram("prod", stackConfig("prod"));
      const definition = JSON.parse(named(prod.resources, "approvals-state-machine").inputs.definition);
      let financeCalled = false;
      const result = await runDefinition(definition, EXPENSE_REPORT, {
        taskHandlers: {
          ...inMemoryAuditBucket(definition).handlers,
          "Approval manager": async () => delivered,
          "Approval finance": async () => {
            financeCalled = true;
            return {};
          },
        },
        taskToken: "local-token",
      });
      expect(financeCalled).to.equal(false);
      expect(result.status).to.equal("SUCCEEDED");
      expect(result.output).to.deep.equal({
        approved: false,
        decision: "rejected",
        stages: [delivered],
        request: EXPENSE_REPORT,
      });
    });

    it("sends a rejection for a Failed step, naming who rejected", async () => {
      aws
        .on("GetAutomationExecution", () =>
          automation({
            StepStatus: "Failed",
            FailureMessage: "Step Approve was rejected",
            Outputs: {
              ApprovalStatus: ["Rejected"],
              ApproverDecisions: [decisionOutput(APPROVER, "Reject", "amount too high", "2026-11-22T09:30:00Z")],
            },
          }),
        )
        .on("SendTaskSuccess", () => ({}));
      await invokeResult(stepEvent({ Status: "Failed" }));
      expectSentDecision({
        approved: false,
        decision: "rejected",
        stage: "manager",
        mechanism: "ssm-automation",
        approver: APPROVER,
        comment: "amount too high",
        decidedAt: "2026-11-22T09:30:00Z",
      });
    });

    it("sends timed_out for a TimedOut step, with no approver", async () => {
      aws
        .on("GetAutomationExecution", () =>
          automation({ StepStatus: "TimedOut", Outputs: { ApprovalStatus: ["Waiting"] } }),
        )
        .on("SendTaskSuccess", () => ({}));
      await invokeResult(stepEvent({ Status: "TimedOut" }));
      expectSentDecision({
        approved: false,
        decision: "timed_out",
        stage: "manager",
        mechanism: "ssm-automation",
        approver: null,
        comment: null,
        decidedAt: "2026-11-22T10:00:04Z",
      });
    });

    it("sends a rejection for a Cancelled automation, with the reason as comment", async () => {
      aws
        .on("GetAutomationExecution", () =>
          automation({ StepStatus: "Cancelled", FailureMessage: "Cancelled by arn:aws:iam::123456789012:user/ops" }),
        )
        .on("SendTaskSuccess", () => ({}));
      await invokeResult(stepEvent({ Status: "Cancelled" }));
      expectSentDecision({
        approved: false,
        decision: "rejected",
        stage: "manager",
        mechanism: "ssm-automation",
        approver: null,
        comment: "Cancelled by arn:aws:iam::123456789012:user/ops",
        decidedAt: "2026-11-22T10:00:04Z",
      });
    });

    it("fails the execution (SendTaskFailure), not a rejection, when the step failed without anyone rejecting", async () => {
      aws
        .on("GetAutomationExecution", () =>
          automation({
            StepStatus: "Failed",
            FailureMessage: "Failed to publish to topic: AuthorizationError",
            Outputs: { ApprovalStatus: ["Waiting"] },
          }),
        )
        .on("SendTaskFailure", () => ({}))
        .on("SendTaskSuccess", () => ({}));
      const run = await invokeResult(stepEvent({ Status: "Failed" }));
      expect(aws.operations()).to.deep.equal(["GetAutomationExecution", "SendTaskFailure"]);
      expect(aws.requests[1].body).to.deep.equal({
        taskToken: TASK_TOKEN,
        error: "ApprovalStepFailed",
        cause: `The aws:approve step of automation ${AUTOMATION_ID} (stage manager) failed without a rejection: Failed to publish to topic: AuthorizationError`,
      });
      // The execution failed with that error (the failed-executions alarm reports it); nothing to retry.
      expect(run.result).to.deep.equal({ failed: "ApprovalStepFailed" });
    });

    it("treats a Failed step with a Reject decision as a rejection even without ApprovalStatus", async () => {
      aws
        .on("GetAutomationExecution", () =>
          automation({
            StepStatus: "Failed",
            Outputs: { ApproverDecisions: [decisionOutput(APPROVER, "Reject", "no", "2026-11-22T09:30:00Z")] },
          }),
        )
        .on("SendTaskSuccess", () => ({}));
      await invokeResult(stepEvent({ Status: "Failed" }));
      expectSentDecision({
        approved: false,
        decision: "rejected",
        stage: "manager",
        mechanism: "ssm-automation",
        approver: APPROVER,
        comment: "no",
        decidedAt: "2026-11-22T09:30:00Z",
      });
    });

    it("names every approver of a quorum and the time of the last approval", async () => {
      const alice = "arn:aws:iam::123456789012:user/alice";
      const bob = "arn:aws:iam::123456789012:user/bob";
      aws
        .on("GetAutomationExecution", () =>
          automation({
            StepStatus: "Success",
            Outputs: {
              ApprovalStatus: ["Approved"],
              ApproverDecisions: [
                decisionOutput(alice, "Approve", "ok", "2026-11-22T09:00:00Z"),
                decisionOutput(bob, "Approve", "fine by me", "2026-11-22T09:45:00Z"),
              ],
            },
          }),
        )
        .on("SendTaskSuccess", () => ({}));
      await invokeResult(stepEvent());
      expectSentDecision({
        approved: true,
        decision: "approved",
        stage: "manager",
        mechanism: "ssm-automation",
        approver: `${alice}, ${bob}`,
        comment: "ok; fine by me",
        decidedAt: "2026-11-22T09:45:00Z",
      });
    });

    it("names the approver when ApproverDecisions spells the decision ApprovalStatus (AWS's cdk-ssm-documents simulator)", async () => {
      // @cdklabs/cdk-ssm-documents src/simulation/automation/approve-simulation.ts: { Approver, ApprovalStatus: Approve|Reject, ApprovalDecisionTime }
      aws
        .on("GetAutomationExecution", () =>
          automation({
            StepStatus: "Success",
            Outputs: {
              ApprovalStatus: ["Approved"],
              ApproverDecisions: [
                JSON.stringify({
                  Approver: APPROVER,
                  ApprovalStatus: "Approve",
                  ApprovalDecisionTime: "2026-11-22T10:00:00Z",
                }),
              ],
            },
          }),
        )
        .on("SendTaskSuccess", () => ({}));
      await invokeResult(stepEvent());
      expectSentDecision({
        approved: true,
        decision: "approved",
        stage: "manager",
        mechanism: "ssm-automation",
        approver: APPROVER,
        comment: null,
        decidedAt: "2026-11-22T10:00:00Z",
      });
    });

    it("counts no approver from an entry whose two decision keys disagree or whose word is unknown", async () => {
      const mallory = "arn:aws:iam::123456789012:user/mallory";
      aws
        .on("GetAutomationExecution", () =>
          automation({
            StepStatus: "Success",
            Outputs: {
              ApprovalStatus: ["Approved"],
              ApproverDecisions: [
                JSON.stringify({ Approver: mallory, Decision: "Approve", ApprovalStatus: "Reject", Comment: "both" }),
                JSON.stringify({ Approver: mallory, Decision: "approved", Comment: "lower case" }),
                JSON.stringify({
                  Approver: APPROVER,
                  Decision: "Approve",
                  ApprovalStatus: "Approve",
                  Comment: "agreed",
                  ApprovalDecisionTime: "2026-11-22T10:00:00Z",
                }),
              ],
            },
          }),
        )
        .on("SendTaskSuccess", () => ({}));
      await invokeResult(stepEvent());
      expectSentDecision({
        approved: true,
        decision: "approved",
        stage: "manager",
        mechanism: "ssm-automation",
        approver: APPROVER,
        comment: "agreed",
        decidedAt: "2026-11-22T10:00:00Z",
      });
    });

    it("sends a rejection for a step that reports Rejected (whichever status SSM uses for a rejection)", async () => {
      aws
        .on("GetAutomationExecution", () =>
          automation({
            StepStatus: "Rejected",
            Outputs: {
              ApprovalStatus: ["Rejected"],
              ApproverDecisions: [
                JSON.stringify({
                  Approver: APPROVER,
                  ApprovalStatus: "Reject",
                  Comment: "no",
                  ApprovalDecisionTime: "2026-11-22T09:30:00Z",
                }),
              ],
            },
          }),
        )
        .on("SendTaskSuccess", () => ({}));
      await invokeResult(stepEvent({ Status: "Rejected" }));
      expectSentDecision({
        approved: false,
        decision: "rejected",
        stage: "manager",
        mechanism: "ssm-automation",
        approver: APPROVER,
        comment: "no",
        decidedAt: "2026-11-22T09:30:00Z",
      });
    });

    it("refuses to approve a Success step whose ApprovalStatus is not Approved", async () => {
      aws
        .on("GetAutomationExecution", () =>
          automation({ StepStatus: "Success", Outputs: { ApprovalStatus: ["Rejected"] } }),
        )
        .on("SendTaskSuccess", () => ({}));
      const run = await invokeResult(stepEvent());
      expect(run.ok).to.equal(false);
      expect(run.error!.message).to.match(/^InconsistentAutomation: .*refusing to approve/);
      expect(aws.operations()).to.deep.equal(["GetAutomationExecution"]);
    });

    const foreignEvents: Array<[string, unknown, RegExp]> = [
      [
        "an event for another runbook",
        stepEvent({ Definition: "someone-elses-runbook" }),
        /the event is for runbook 'someone-elses-runbook', this function handles 'sfn-approvals-prod-manager'/,
      ],
      [
        "an event of another step",
        stepEvent({ StepName: "runCommand", Action: "aws:runCommand" }),
        /expected the aws:approve step 'Approve'/,
      ],
      ["a step that is still waiting", stepEvent({ Status: "Waiting" }), /step status 'Waiting' is not a final status/],
      ["an event without detail", { ...stepEvent(), detail: undefined }, /the event has no 'detail' object/],
      ["an event of another source", { ...stepEvent(), source: "aws.codepipeline" }, /expected source 'aws.ssm'/],
      [
        "an event with a malformed execution id",
        stepEvent({ ExecutionId: "../../etc" }),
        /'detail.ExecutionId' must be an automation execution id/,
      ],
      ["not an event at all", null, /InvalidEvent: expected an EventBridge event object/],
    ];
    for (const [what, event, message] of foreignEvents) {
      it(`sends nothing for ${what} and reports a clear error`, async () => {
        aws
          .on("GetAutomationExecution", () =>
            automation({ StepStatus: "Success", Outputs: { ApprovalStatus: ["Approved"] } }),
          )
          .on("SendTaskSuccess", () => ({}));
        const run = await invokeResult(event);
        expect(run.ok).to.equal(false);
        expect(run.error!.message).to.match(message);
        expect(aws.requests).to.have.length(0);
      });
    }

    it("sends nothing for an automation that carries no task token", async () => {
      aws
        .on("GetAutomationExecution", () =>
          automation(
            { StepStatus: "Success", Outputs: { ApprovalStatus: ["Approved"] } },
            {
              Parameters: { Message: ["..."], RequestId: ["-"], ExecutionArn: [EXECUTION_ARN] },
            },
          ),
        )
        .on("SendTaskSuccess", () => ({}));
      const run = await invokeResult(stepEvent());
      expect(run.ok).to.equal(false);
      expect(run.error!.message).to.equal(
        `MissingTaskToken: automation ${AUTOMATION_ID} has no TaskToken parameter; no decision sent`,
      );
      expect(aws.operations()).to.deep.equal(["GetAutomationExecution"]);
    });

    it("sends nothing for an automation that someone other than the start function started", async () => {
      aws
        .on("GetAutomationExecution", () =>
          automation(
            { StepStatus: "Success", Outputs: { ApprovalStatus: ["Approved"] } },
            {
              ExecutedBy: "arn:aws:iam::123456789012:user/mallory",
            },
          ),
        )
        .on("SendTaskSuccess", () => ({}));
      const run = await invokeResult(stepEvent());
      expect(run.ok).to.equal(false);
      expect(run.error!.message).to.match(
        /^ForeignAutomation: .* started by 'arn:aws:iam::123456789012:user\/mallory'/,
      );
      expect(aws.operations()).to.deep.equal(["GetAutomationExecution"]);
    });

    it("sends nothing when the automation belongs to another runbook than the event says", async () => {
      aws
        .on("GetAutomationExecution", () =>
          automation({ StepStatus: "Success", Outputs: { ApprovalStatus: ["Approved"] } }, { DocumentName: "other" }),
        )
        .on("SendTaskSuccess", () => ({}));
      const run = await invokeResult(stepEvent());
      expect(run.error!.message).to.match(/^ForeignAutomation: automation .* runs 'other'/);
      expect(aws.operations()).to.deep.equal(["GetAutomationExecution"]);
    });

    it("fails loudly (so the event is retried, then dead-lettered) when Step Functions refuses the decision", async () => {
      aws
        .on("GetAutomationExecution", () =>
          automation({
            StepStatus: "Success",
            Outputs: {
              ApprovalStatus: ["Approved"],
              ApproverDecisions: [decisionOutput(APPROVER, "Approve", "", "2026-11-22T10:00:00Z")],
            },
          }),
        )
        .on(
          "SendTaskSuccess",
          () => new AwsError("TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'"),
        );
      const run = await invokeResult(stepEvent());
      expect(run.ok).to.equal(false);
      expect(run.error!.message).to.equal(
        `DecisionNotDelivered: sending the decision approved for automation ${AUTOMATION_ID} (stage manager) failed with TaskTimedOut: Task Timed Out: 'Provided task does not exist anymore'`,
      );
    });

    describe("under throttling (issue 17: decisions are not lost under load)", () => {
      const approved = () =>
        automation({
          StepStatus: "Success",
          Outputs: {
            ApprovalStatus: ["Approved"],
            ApproverDecisions: [decisionOutput(APPROVER, "Approve", "", "2026-11-22T10:00:00Z")],
          },
        });
      const sends = () => aws.requests.filter((r) => r.operation === "SendTaskSuccess");
      /** In-process, with the deployed settings and pauses of 1 ms: the attempts, not the waiting, are under test. */
      async function deliverInProcess(maxAttempts: number): Promise<unknown> {
        const credentials = { accessKeyId: "AKIAFAKE", secretAccessKey: "fake" };
        const client = { region: "eu-west-1", endpoint: aws.url, credentials, maxAttempts };
        return deliverAutomationDecision(
          stepEvent(),
          { documentName: DOCUMENT, stage: "manager", starterRoleName: resultEnv.STARTER_ROLE_NAME },
          { ssm: new SSMClient(client), sfn: new SFNClient(client) },
          () => new Date(),
          { ...RESULT_RESEND, pausesMs: RESULT_RESEND.pausesMs.map(() => 1) },
        );
      }

      it("as deployed: sends a decision that Step Functions refused for KMS throttling again (the SDK does not), and delivers it once", async () => {
        const answers = [
          new AwsError("KmsThrottlingException", "KMS throttled", 400),
          new AwsError("KmsThrottlingException", "KMS throttled", 400),
        ];
        aws.on("GetAutomationExecution", approved).on("SendTaskSuccess", () => answers.shift() ?? {});
        const run = await invokeResult(stepEvent());
        expect(run.error).to.equal(undefined);
        expect(run.result).to.include({ decision: "approved" });
        // Three sends carrying the same decision; only the last was accepted.
        expect(sends()).to.have.length(3);
        expect(new Set(sends().map((r) => JSON.stringify(r.body))).size).to.equal(1);
      });

      it("ThrottlingException and KmsThrottlingException a few times, then accepted: exactly one decision, every send the same", async () => {
        const answers = [
          new AwsError("ThrottlingException", "Rate exceeded", 400),
          new AwsError("KmsThrottlingException", "KMS throttled", 400),
          new AwsError("ThrottlingException", "Rate exceeded", 400),
        ];
        aws.on("GetAutomationExecution", approved).on("SendTaskSuccess", () => answers.shift() ?? {});
        expect(await deliverInProcess(1)).to.include({ decision: "approved" });
        expect(sends()).to.have.length(4);
        expect(new Set(sends().map((r) => JSON.stringify(r.body))).size).to.equal(1);
        expect(JSON.parse(sends()[0].body.output)).to.include({ decision: "approved", approver: APPROVER });
      });

      it("always throttled: throws (Lambda retries the event, then it lands in the dead-letter queue), never sends anything else", async () => {
        aws
          .on("GetAutomationExecution", approved)
          .on("SendTaskSuccess", () => new AwsError("KmsThrottlingException", "KMS throttled", 400));
        const error = await deliverInProcess(5).then(
          () => expect.fail("delivered"),
          (e: Error) => e,
        );
        expect(error.message).to.equal(
          `DecisionNotDelivered: sending the decision approved for automation ${AUTOMATION_ID} (stage manager) failed after ${RESULT_RESEND.pausesMs.length + 1} attempts with KmsThrottlingException: KMS throttled`,
        );
        expect(aws.operations().filter((o) => o !== "SendTaskSuccess")).to.deep.equal(["GetAutomationExecution"]);
        expect(new Set(sends().map((r) => JSON.stringify(r.body))).size).to.equal(1);
      });

      it("a closed task after an attempt without a clear answer (a 5xx the SDK sent again) is 'delivered or expired', never a new decision", async () => {
        let calls = 0;
        aws
          .on("GetAutomationExecution", approved)
          .on("SendTaskSuccess", () =>
            ++calls === 1
              ? new AwsError("InternalFailure", "oops", 500)
              : new AwsError("TaskTimedOut", "Task Timed Out"),
          );
        const error = await deliverInProcess(5).then(
          () => expect.fail("delivered"),
          (e: Error) => e,
        );
        expect(error.message).to.match(/^DecisionDeliveredOrExpired: sending the decision approved for automation /);
        expect(sends()).to.have.length(2);
        expect(sends()[1].body).to.deep.equal(sends()[0].body);
      });
    });
  });

  after(() => {
    // Across every run above, nothing the handlers logged or threw contains the task token.
    expect(runs.length).to.be.greaterThan(10);
    for (const run of runs) {
      expect(run.logs).to.not.contain(TASK_TOKEN.slice(30, 90));
      expect(JSON.stringify(run.error ?? {})).to.not.contain(TASK_TOKEN.slice(30, 90));
    }
  });
});

describe("ssm-automation result: who may have started an automation", () => {
  const { startedBy } =
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require("../functions/mechanisms/ssmAutomation/automationResult") as typeof import("../functions/mechanisms/ssmAutomation/automationResult");
  const role = "stage-manager-start-role-a1b2c3d";
  it("accepts the start function's session ARN or its role ARN", () => {
    expect(startedBy(`arn:aws:sts::123456789012:assumed-role/${role}/stage-manager-start-fn-a1b2c3d`, role)).to.equal(
      true,
    );
    expect(startedBy(`arn:aws:iam::123456789012:role/${role}`, role)).to.equal(true);
    expect(startedBy(`arn:aws:iam::123456789012:role/service/${role}`, role)).to.equal(true);
  });
  it("refuses anyone else, including roles whose name only starts or ends like it", () => {
    for (const arn of [
      "arn:aws:iam::123456789012:user/mallory",
      `arn:aws:sts::123456789012:assumed-role/${role}-evil/x`,
      `arn:aws:sts::123456789012:assumed-role/evil-${role}/x`,
      `arn:aws:iam::123456789012:role/${role}x`,
      `arn:aws:sts::123456789012:assumed-role/${role}/`,
      "",
    ])
      expect(startedBy(arn, role), arn).to.equal(false);
    expect(startedBy(undefined, role)).to.equal(false);
  });
});
