// The decision record written by the workflow itself (components/workflow/auditStates.ts), run with
// aws-local-stepfunctions: every S3 PutObject the record Tasks send is answered by an in-memory
// bucket, and each flow asserts the exact records, their keys and the final state.
import { expect } from "chai";
import { assembleWorkflowDefinition, stageTaskOptions } from "../components/workflow/definition";
import { lambdaCallbackTaskStates } from "../components/mechanisms/lambdaCallbackApproval";
import { snsCallbackTaskStates } from "../components/mechanisms/snsCallbackApproval";
import {
  AUDIT_RECORD_NOT_WRITTEN_ERROR,
  AUDIT_STATE_NAMES,
  AuditRecording,
  FAILURE_WITH_TEXT_CAUSE,
  MAX_WRITE_SECONDS,
  S3_PUT_OBJECT_RESOURCE,
  recordDecisionStateName,
} from "../components/workflow/auditStates";
import { AuditRecord, auditRecordKey, parseAuditRecord } from "../functions/auditRecord";
import {
  INVALID_DECISION_ERROR,
  MAX_APPROVER_DETAIL_CHARS,
  Mechanism,
  REQUEST_INVALID_ERROR,
  StageDecisionKind,
  stageDecision,
} from "../functions/contract";
import { RunResult, TaskHandler, evaluateJsonataField, runDefinition } from "./helpers/localStateMachine";
import { EXPENSE_REPORT } from "./helpers/fixtures";

const TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAf0ExampleTaskToken+/=";
const EXECUTION_ARN = "arn:aws:states:eu-west-1:123456789012:execution:sfn-approvals-prod:ER98765-1";
const STATE_MACHINE_ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:sfn-approvals-prod";
const ENTERED = "2026-12-02T09:30:00.000Z";
const DECIDED_AT = "2026-12-02T09:29:58Z";
const FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:start";
const TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:cost-center";
const AUDIT: AuditRecording = {
  bucket: "sfn-approvals-prod-audit-0a1b2c3d",
  workflowVersion: "5f2c9e1a7b3d4c60",
  approvers: {
    "team-lead": ["lead@example.com"],
    "cost-center": ["cfo@example.com", "controller@example.com"],
  },
};
const STAGES: Array<[string, Mechanism]> = [
  ["team-lead", "email-link"],
  ["cost-center", "sns-callback"],
];

function definition(audit: AuditRecording | null = AUDIT) {
  return assembleWorkflowDefinition({
    autoApproveBelow: 100,
    ...(audit ? { audit } : {}),
    stages: STAGES.map(([stage, mechanism]) => ({
      stage,
      mechanism,
      maxWaitSeconds: 3600,
      states:
        mechanism === "sns-callback"
          ? snsCallbackTaskStates({
              options: stageTaskOptions(stage),
              topicArn: TOPIC_ARN,
              pageUrl: "https://abc123.execute-api.eu-west-1.amazonaws.com/approve",
              stage,
              timeoutSeconds: 3600,
            })
          : lambdaCallbackTaskStates({
              options: stageTaskOptions(stage),
              functionArn: FUNCTION_ARN,
              stage,
              mechanism,
              timeoutSeconds: 3600,
            }),
    })),
  });
}

function decision(kind: StageDecisionKind, stage: string, mechanism: Mechanism, approver: string | null) {
  return stageDecision({
    decision: kind,
    stage,
    mechanism,
    approver,
    comment: `${kind} by test`,
    decidedAt: DECIDED_AT,
  });
}
const leadApproves = decision("approved", "team-lead", "email-link", "lead@example.com");
const cfoApproves = decision("approved", "cost-center", "sns-callback", "cfo@example.com");
const cfoRejects = decision("rejected", "cost-center", "sns-callback", "cfo@example.com");

/** The audit bucket: every PutObject the record Tasks send, in order; `fail` makes the next ones throw. */
function bucket(fail?: () => Error) {
  const puts: any[] = [];
  const handler: TaskHandler = async (input) => {
    puts.push(input);
    if (fail) throw fail();
    return { ETag: '"0123456789abcdef"', VersionId: `v${puts.length}` };
  };
  return { puts, handler, records: () => puts.map((p) => JSON.parse(p.Body) as AuditRecord) };
}

function run(
  answers: Record<string, TaskHandler>,
  store: ReturnType<typeof bucket>,
  input: unknown = EXPENSE_REPORT,
  def: object = definition(),
): Promise<RunResult> {
  const recordStates = Object.entries((def as any).States)
    .filter(([, state]: [string, any]) => state.Resource === S3_PUT_OBJECT_RESOURCE)
    .map(([name]) => name);
  return runDefinition(def, input, {
    taskHandlers: {
      ...Object.fromEntries(Object.entries(answers).map(([stage, h]) => [stageTaskOptions(stage).stateName, h])),
      ...Object.fromEntries(recordStates.map((name) => [name, store.handler])),
    },
    taskToken: TOKEN,
    executionArn: EXECUTION_ARN,
    stateEnteredTime: ENTERED,
    retryPauseMs: 0,
  });
}
const answer =
  (value: unknown): TaskHandler =>
  async () =>
    value;

/** What every record of this execution holds besides its own fields. */
function common(recordedAt = ENTERED) {
  return {
    schema: "sfn-approvals.audit-record.v1",
    recordedAt,
    workflowVersion: AUDIT.workflowVersion,
    request: EXPENSE_REPORT,
  };
}

describe("audit record: the workflow writes one record per decision and per outcome", () => {
  it("both stages approve: two decision records, then the outcome, each a whole PutObject into the bucket", async () => {
    const store = bucket();
    const result = await run({ "team-lead": answer(leadApproves), "cost-center": answer(cfoApproves) }, store);
    expect(result.status).to.equal("SUCCEEDED");
    expect(result.output).to.deep.equal({
      approved: true,
      decision: "approved",
      stages: [leadApproves, cfoApproves],
      request: EXPENSE_REPORT,
    });
    // The PutObject requests as the integration sends them (S3 API: Bucket, Key, Body, ContentType, ChecksumAlgorithm).
    expect(store.puts.map((p) => p.Key)).to.deep.equal([
      auditRecordKey({ recordedAt: ENTERED, executionName: "ER98765-1", what: "decision-team-lead" }),
      auditRecordKey({ recordedAt: ENTERED, executionName: "ER98765-1", what: "decision-cost-center" }),
      auditRecordKey({ recordedAt: ENTERED, executionName: "ER98765-1", what: "outcome" }),
    ]);
    expect(store.puts[0].Key).to.equal("records/2026-12-02/ER98765-1/2026-12-02T09:30:00.000Z-decision-team-lead.json");
    for (const put of store.puts) {
      expect(Object.keys(put).sort()).to.deep.equal(["Body", "Bucket", "ChecksumAlgorithm", "ContentType", "Key"]);
      expect(put).to.deep.include({
        Bucket: AUDIT.bucket,
        ContentType: "application/json",
        ChecksumAlgorithm: "SHA256",
      });
      expect(parseAuditRecord(put.Body)).to.have.property("record");
    }
    const [lead, cfo, outcome] = store.records();
    expect(lead).to.deep.equal({
      ...common(),
      kind: "decision",
      execution: {
        arn: EXECUTION_ARN,
        name: "ER98765-1",
        startedAt: lead.execution.startedAt,
        stateMachine: STATE_MACHINE_ARN,
      },
      stage: "team-lead",
      mechanism: "email-link",
      approvers: ["lead@example.com"],
      decision: "approved",
      approved: true,
      approver: "lead@example.com",
      comment: "approved by test",
      decidedAt: DECIDED_AT,
    });
    expect(Date.parse(lead.execution.startedAt), "startedAt is a time").to.be.a("number").and.not.NaN;
    expect(cfo).to.deep.include({ stage: "cost-center", mechanism: "sns-callback", approver: "cfo@example.com" });
    expect((cfo as any).approvers).to.deep.equal(["cfo@example.com", "controller@example.com"]);
    expect(outcome).to.deep.equal({
      ...common(),
      kind: "outcome",
      execution: lead.execution,
      outcome: "approved",
      approved: true,
      stages: [leadApproves, cfoApproves],
    });
  });

  it("the second stage rejects: a record per decision, then outcome rejected", async () => {
    const store = bucket();
    const result = await run({ "team-lead": answer(leadApproves), "cost-center": answer(cfoRejects) }, store);
    expect(result.output).to.deep.include({ approved: false, decision: "rejected" });
    const records = store.records();
    expect(records.map((r) => [r.kind, r.kind === "decision" ? r.decision : r.outcome])).to.deep.equal([
      ["decision", "approved"],
      ["decision", "rejected"],
      ["outcome", "rejected"],
    ]);
    expect(records[2]).to.deep.include({ approved: false, stages: [leadApproves, cfoRejects] });
  });

  it("a single-stage rejection keeps `stages` a list in the outcome record", async () => {
    const store = bucket();
    const lead = decision("rejected", "team-lead", "email-link", "lead@example.com");
    await run({ "team-lead": answer(lead) }, store);
    expect(store.records()[1]).to.deep.include({ kind: "outcome", outcome: "rejected", stages: [lead] });
  });

  it("a stage times out: its timed_out decision is recorded, then outcome timed_out", async () => {
    const store = bucket();
    const def: any = definition();
    def.States["Approval team-lead"].TimeoutSeconds = 1;
    const result = await run({ "team-lead": () => new Promise(() => undefined) }, store, EXPENSE_REPORT, def);
    expect(result.output).to.deep.include({ approved: false, decision: "timed_out" });
    const [timedOut, outcome] = store.records();
    expect(timedOut).to.deep.include({
      kind: "decision",
      stage: "team-lead",
      decision: "timed_out",
      approved: false,
      approver: null,
    });
    expect(outcome).to.deep.include({ kind: "outcome", outcome: "timed_out", approved: false });
    expect(store.puts).to.have.length(2);
  });

  it("auto-approved below autoApproveBelow: one outcome record, no stage ran", async () => {
    const store = bucket();
    const result = await run({}, store, { ...EXPENSE_REPORT, amount: 99 });
    expect(result.output).to.deep.include({ approved: true, decision: "auto_approved" });
    expect(store.records()).to.deep.equal([
      {
        ...common(),
        request: { ...EXPENSE_REPORT, amount: 99 },
        kind: "outcome",
        execution: store.records()[0].execution,
        outcome: "auto_approved",
        approved: true,
        stages: [],
      },
    ]);
  });
});

describe("audit record: who decided in slack (approverName, approverTeam)", () => {
  const SLACK_AUDIT: AuditRecording = { ...AUDIT, approvers: { ...AUDIT.approvers, manager: ["U0ALICE", "U0BOB"] } };
  const slackDefinition = () =>
    assembleWorkflowDefinition({
      audit: SLACK_AUDIT,
      stages: [
        {
          stage: "manager",
          mechanism: "slack",
          maxWaitSeconds: 3600,
          states: lambdaCallbackTaskStates({
            options: stageTaskOptions("manager"),
            functionArn: FUNCTION_ARN,
            stage: "manager",
            mechanism: "slack",
            timeoutSeconds: 3600,
          }),
        },
      ],
    });
  const slackDecision = (kind: StageDecisionKind, extra: object = {}) => ({
    ...stageDecision({
      decision: kind,
      stage: "manager",
      mechanism: "slack",
      approver: "U0BOB",
      approverName: "Bob Builder",
      approverTeam: "T0FAKETEAM",
      comment: kind === "rejected" ? "over budget" : null,
      decidedAt: DECIDED_AT,
    }),
    ...extra,
  });
  const runSlack = (decision: unknown, store: ReturnType<typeof bucket>) =>
    run({ manager: answer(decision) }, store, EXPENSE_REPORT, slackDefinition());

  it("records the decider's Slack user ID, name and team, in the decision's order; the outcome keeps the whole decision", async () => {
    const approved = slackDecision("approved");
    expect(Object.keys(approved)).to.deep.equal([
      "approved",
      "decision",
      "stage",
      "mechanism",
      "approver",
      "approverName",
      "approverTeam",
      "comment",
      "decidedAt",
    ]);
    const store = bucket();
    const result = await runSlack(approved, store);
    expect(result.output).to.deep.include({ approved: true, decision: "approved", stages: [approved] });
    const [record, outcome] = store.records();
    expect(record).to.deep.equal({
      ...common(),
      kind: "decision",
      execution: record.execution,
      stage: "manager",
      mechanism: "slack",
      approvers: ["U0ALICE", "U0BOB"],
      decision: "approved",
      approved: true,
      approver: "U0BOB",
      approverName: "Bob Builder",
      approverTeam: "T0FAKETEAM",
      comment: null,
      decidedAt: DECIDED_AT,
    });
    // The record's text keeps the decision's field order: who, then the name and team, then the comment.
    expect(store.puts[0].Body).to.include(
      '"approver":"U0BOB","approverName":"Bob Builder","approverTeam":"T0FAKETEAM","comment":null,',
    );
    expect(parseAuditRecord(store.puts[0].Body)).to.deep.equal({ record });
    expect(outcome).to.deep.include({ kind: "outcome", outcome: "approved", stages: [approved] });
  });

  it("a slack decision without them (as a timeout's) is recorded without them, never as null", async () => {
    const store = bucket();
    const plain = stageDecision({ decision: "approved", stage: "manager", mechanism: "slack", decidedAt: DECIDED_AT });
    expect(plain).to.not.have.any.keys("approverName", "approverTeam");
    await runSlack(plain, store);
    const [record] = store.records();
    expect(record).to.deep.include({ kind: "decision", decision: "approved", approver: null });
    expect(record).to.not.have.any.keys("approverName", "approverTeam");
    expect(parseAuditRecord(store.puts[0].Body)).to.have.property("record");
  });

  it("a name or team that is not text is left out of the record; the write and the decision go on", async () => {
    const store = bucket();
    const result = await runSlack(slackDecision("rejected", { approverName: 42, approverTeam: null }), store);
    expect(result.output).to.deep.include({ approved: false, decision: "rejected" });
    const [record] = store.records();
    expect(record).to.deep.include({ decision: "rejected", approver: "U0BOB", comment: "over budget" });
    expect(record).to.not.have.any.keys("approverName", "approverTeam");
  });

  it("other mechanisms' records copy no such field, even when a decision carries one", async () => {
    const store = bucket();
    const withName = { ...leadApproves, approverName: "Not the approver", approverTeam: "T0OTHER" };
    await run({ "team-lead": answer(withName), "cost-center": answer(cfoApproves) }, store);
    const [lead] = store.records();
    expect(lead).to.deep.include({ approver: "lead@example.com" });
    expect(lead).to.not.have.any.keys("approverName", "approverTeam");
    // Their record state's text does not change either.
    const body = (definition() as any).States[recordDecisionStateName("team-lead")].Arguments.Body;
    expect(body).to.not.include("approverName");
    expect((slackDefinition() as any).States[recordDecisionStateName("manager")].Arguments.Body).to.include(
      `"approverName": $type($states.input.decisions.\`manager\`.approverName) = 'string' ? $states.input.decisions.\`manager\`.approverName`,
    );
  });

  it("keeps at most MAX_APPROVER_DETAIL_CHARS of each (as JSON text), whole characters; an empty one is left out", () => {
    const long = stageDecision({
      decision: "approved",
      stage: "manager",
      mechanism: "slack",
      approverName: "😀".repeat(300),
      approverTeam: "",
      decidedAt: DECIDED_AT,
    });
    expect(JSON.stringify(long.approverName).length - 2).to.be.at.most(MAX_APPROVER_DETAIL_CHARS);
    expect(long.approverName!.endsWith("😀... (truncated)")).to.equal(true);
    expect(long).to.not.have.property("approverTeam");
  });

  it("reads records without the fields (every other mechanism, and records written before them); refuses non-text ones", () => {
    const stored = {
      schema: "sfn-approvals.audit-record.v1",
      recordedAt: ENTERED,
      execution: { arn: EXECUTION_ARN, name: "ER98765-1", startedAt: ENTERED, stateMachine: STATE_MACHINE_ARN },
      workflowVersion: AUDIT.workflowVersion,
      request: EXPENSE_REPORT,
      kind: "decision",
      stage: "manager",
      mechanism: "slack",
      approvers: ["U0BOB"],
      decision: "approved",
      approved: true,
      approver: "U0BOB",
      comment: null,
      decidedAt: DECIDED_AT,
    };
    expect(parseAuditRecord(JSON.stringify(stored))).to.deep.equal({ record: stored });
    expect(parseAuditRecord(JSON.stringify({ ...stored, approverName: 42 }))).to.deep.equal({
      problem: "approverName is not text",
    });
    expect(parseAuditRecord(JSON.stringify({ ...stored, approverTeam: [] }))).to.deep.equal({
      problem: "approverTeam is not text",
    });
    // null is read as absent (the export shows an empty cell), so a record stays readable either way.
    const withNull = { ...stored, approverName: null, approverTeam: null };
    expect(parseAuditRecord(JSON.stringify(withNull))).to.deep.equal({ record: withNull });
  });
});

describe("audit record: failures are recorded and fail the execution as before", () => {
  it("a malformed request: outcome failed with InvalidApprovalRequest, then the execution fails with it", async () => {
    const store = bucket();
    const result = await run({}, store, { amount: 5 });
    expect(result).to.deep.include({ status: "FAILED", error: REQUEST_INVALID_ERROR });
    expect(result.cause).to.match(/^The request must be a JSON object with a non-empty string 'title'/);
    expect(store.records()).to.have.length(1);
    expect(store.records()[0]).to.deep.include({
      kind: "outcome",
      outcome: "failed",
      approved: false,
      stages: [],
      error: REQUEST_INVALID_ERROR,
      request: { amount: 5 },
    });
  });

  it("an answer that is not a whole decision: no decision record, outcome failed with InvalidStageDecision", async () => {
    const store = bucket();
    const result = await run({ "team-lead": answer({ approved: true }) }, store);
    expect(result).to.deep.include({ status: "FAILED", error: INVALID_DECISION_ERROR });
    expect(store.records().map((r) => r.kind)).to.deep.equal(["outcome"]);
    expect(store.records()[0]).to.deep.include({ outcome: "failed", approved: false, error: INVALID_DECISION_ERROR });
  });

  it("a stage Task error after an approval: the approval's record, then outcome failed with that error name, nothing approved", async () => {
    const store = bucket();
    const broken = async () => {
      throw Object.assign(new Error("Topic does not exist"), { name: "SNS.NotFoundException" });
    };
    const result = await run({ "team-lead": answer(leadApproves), "cost-center": broken }, store);
    expect(result).to.deep.include({ status: "FAILED", error: "SNS.NotFoundException", cause: "Topic does not exist" });
    const records = store.records();
    expect(records.map((r) => r.kind)).to.deep.equal(["decision", "outcome"]);
    expect(records[1]).to.deep.include({ outcome: "failed", approved: false, error: "SNS.NotFoundException" });
    expect(JSON.stringify(records[1])).to.not.include("Topic does not exist");
  });
});

describe("audit record: a write that fails decides nothing", () => {
  it("the decision record cannot be written: retried, then the execution fails with AuditRecordNotWritten and the next stage never runs", async () => {
    const store = bucket(() => Object.assign(new Error("Access Denied"), { name: "S3.S3Exception" }));
    const costCenter: any[] = [];
    const result = await run(
      {
        "team-lead": answer(leadApproves),
        "cost-center": async (input) => {
          costCenter.push(input);
          return cfoApproves;
        },
      },
      store,
    );
    expect(result).to.deep.include({ status: "FAILED", error: AUDIT_RECORD_NOT_WRITTEN_ERROR });
    expect(result.output).to.equal(undefined);
    expect(costCenter).to.have.length(0);
    expect(store.puts).to.have.length(1 + 3); // the first attempt and three retries of the same record
    expect(result.statesEntered).to.include(recordDecisionStateName("team-lead")).and.not.include("Approved");
  });

  it("the outcome record cannot be written after both approvals: the execution fails, it never returns approved", async () => {
    let writes = 0;
    const store = bucket(() => Object.assign(new Error("Service Unavailable"), { name: "S3.S3Exception" }));
    const flaky: TaskHandler = async (input) => {
      writes += 1;
      if (writes <= 2) return { VersionId: `v${writes}` }; // the two decision records are written
      return store.handler(input);
    };
    const def = definition();
    const result = await runDefinition(def, EXPENSE_REPORT, {
      taskHandlers: {
        "Approval team-lead": answer(leadApproves),
        "Approval cost-center": answer(cfoApproves),
        [recordDecisionStateName("team-lead")]: flaky,
        [recordDecisionStateName("cost-center")]: flaky,
        [AUDIT_STATE_NAMES.outcome]: flaky,
        [AUDIT_STATE_NAMES.failure]: flaky,
      },
      taskToken: TOKEN,
      executionArn: EXECUTION_ARN,
      retryPauseMs: 0,
    });
    expect(result).to.deep.include({ status: "FAILED", error: AUDIT_RECORD_NOT_WRITTEN_ERROR });
    expect(result.output).to.equal(undefined);
    expect(result.statesEntered.filter((s) => s === AUDIT_STATE_NAMES.outcome)).to.have.length(1);
  });

  it("the failure record cannot be written either: the execution fails with AuditRecordNotWritten, not approved", async () => {
    const store = bucket(() => Object.assign(new Error("Access Denied"), { name: "S3.S3Exception" }));
    const result = await run({ "team-lead": answer({ approved: "yes" }) }, store);
    expect(result).to.deep.include({ status: "FAILED", error: AUDIT_RECORD_NOT_WRITTEN_ERROR });
    expect(result.statesEntered).to.include(AUDIT_STATE_NAMES.failure).and.not.include(AUDIT_STATE_NAMES.failed);
    expect(store.puts).to.have.length(1 + 3);
  });

  it("an error without a Cause still fails with its own error: 'Record failure' hands 'Failed' a text Cause", async () => {
    // CausePath must select a string (ASL, Fail state); SendTaskFailure may carry no cause.
    const pass = (failure: object) =>
      evaluateJsonataField(FAILURE_WITH_TEXT_CAUSE, { input: { request: EXPENSE_REPORT, failure } });
    expect(await pass({ Error: "Worker.Failed" })).to.deep.equal({
      request: EXPENSE_REPORT,
      failure: { Error: "Worker.Failed", Cause: "" },
    });
    expect(await pass({ Error: "Worker.Failed", Cause: null })).to.deep.nested.include({ "failure.Cause": "" });
    expect(await pass({ Error: "Worker.Failed", Cause: "no worker" })).to.deep.nested.include({
      "failure.Cause": "no worker",
    });
    expect((definition() as any).States[AUDIT_STATE_NAMES.failure].Output).to.equal(FAILURE_WITH_TEXT_CAUSE);
  });

  it("the execution's timeout leaves each write on the longest path its retries (two stages: three writes)", () => {
    expect(definition().TimeoutSeconds! - definition(null).TimeoutSeconds!).to.equal(3 * MAX_WRITE_SECONDS);
    expect(MAX_WRITE_SECONDS).to.equal(4 * 20 + 2 + 4 + 8);
  });

  it("without audit the definition has no record state (dev, audit: false)", () => {
    const states = Object.values(definition(null).States) as any[];
    expect(states.filter((s) => s.Resource === S3_PUT_OBJECT_RESOURCE)).to.have.length(0);
  });
});
