// The states that write the decision record (docs/audit.md): after every stage decision the
// workflow accepts, and before it ends in any way (approved, rejected, timed out, auto-approved,
// failed), a Task puts one JSON record into the stack's audit bucket with the S3 PutObject SDK
// integration (no Lambda on the path). A write that still fails after its retries fails the
// execution: an approval is never returned without its record, and the decision stays in the
// execution history for the failed-executions alarm's responder.
import { AslState, AslStates, Catcher, Retrier, TaskState, stringEquals, when } from "./asl";
import { AUDIT_RECORDS_PREFIX, AUDIT_RECORD_SCHEMA } from "../../functions/auditRecord";
import { MECHANISM_DECISION_FIELDS, Mechanism, decisionKey } from "../../functions/contract";

/** What the workflow needs to write its record. */
export interface AuditRecording {
  /** The audit bucket's name. */
  bucket: string;
  /** Digest of the stages and their approvers (the stack output `workflowVersion`). */
  workflowVersion: string;
  /** Each stage's approvers as configured: a decision record names who could decide. */
  approvers: Record<string, string[]>;
}

/** The error an execution fails with when its record cannot be written. */
export const AUDIT_RECORD_NOT_WRITTEN_ERROR = "sfn-approvals.AuditRecordNotWritten";

export const AUDIT_STATE_NAMES = {
  outcome: "Record outcome",
  failure: "Record failure",
  failed: "Failed",
  notWritten: "Audit record not written",
};
export const recordDecisionStateName = (stage: string) => `Record ${stage} decision`;
export const routeDecisionStateName = (stage: string) => `Route ${stage} decision`;

/** S3 PutObject through the AWS SDK integration (Step Functions Developer Guide, "AWS SDK service integrations"). */
export const S3_PUT_OBJECT_RESOURCE = "arn:aws:states:::aws-sdk:s3:putObject";

// Throttling and 5xx answers are worth a retry; a refusal (AccessDenied, NoSuchBucket) fails the
// same way three times, which costs seconds, not a decision.
const WRITE_RETRY: Retrier[] = [
  { ErrorEquals: ["States.ALL"], IntervalSeconds: 2, MaxAttempts: 3, BackoffRate: 2, JitterStrategy: "FULL" },
];
/** A PutObject of a few KB: an attempt that takes longer is retried. */
const WRITE_TIMEOUT_SECONDS = 20;
/**
 * The longest one record's write can take: four attempts and the pauses between them (2, 4, 8 s).
 * The execution's timeout leaves this much per write on the longest path (checkExecutionLength).
 */
export const MAX_WRITE_SECONDS = 4 * WRITE_TIMEOUT_SECONDS + 2 + 4 + 8;
const KEEP_INPUT = "{% $states.input %}";
/** A JSONata Catch that keeps the state's input and adds the error as `failure` ({Error, Cause}). */
export const CATCH_OUTPUT_WITH_FAILURE = "{% $merge([$states.input, {'failure': $states.errorOutput}]) %}";

/**
 * The "Failed" state's CausePath must select a string (ASL, Fail state), but an error output may
 * carry no Cause (a SendTaskFailure without one): "Record failure" passes on an empty one then.
 */
export const FAILURE_WITH_TEXT_CAUSE =
  "{% $merge([$states.input, {'failure': {'Error': $states.input.failure.Error, 'Cause': $type($states.input.failure.Cause) = 'string' ? $states.input.failure.Cause : ''}}]) %}";

const literal = (value: unknown) => JSON.stringify(value);
const context = "$states.context";

/** JSONata: records/<UTC day>/<execution name>/<entered time>-<what>.json, as functions/auditRecord.ts auditRecordKey(). */
function keyExpression(what: string): string {
  return `{% ${literal(AUDIT_RECORDS_PREFIX)} & $substring(${context}.State.EnteredTime, 0, 10) & '/' & ${context}.Execution.Name & '/' & ${context}.State.EnteredTime & ${literal(`-${what}.json`)} %}`;
}

/** JSONata object fields every record starts with. */
function commonFields(audit: AuditRecording): string {
  return [
    `"schema": ${literal(AUDIT_RECORD_SCHEMA)}`,
    `"recordedAt": ${context}.State.EnteredTime`,
    `"execution": { "arn": ${context}.Execution.Id, "name": ${context}.Execution.Name, "startedAt": ${context}.Execution.StartTime, "stateMachine": ${context}.StateMachine.Id }`,
    `"workflowVersion": ${literal(audit.workflowVersion)}`,
    `"request": $states.input.request`,
  ].join(", ");
}

function writeTask(
  audit: AuditRecording,
  what: string,
  fields: string,
  next: string | undefined,
  output?: string,
): TaskState {
  return {
    Type: "Task",
    QueryLanguage: "JSONata",
    Resource: S3_PUT_OBJECT_RESOURCE,
    Arguments: {
      Bucket: audit.bucket,
      Key: keyExpression(what),
      Body: `{% $string({ ${commonFields(audit)}, ${fields} }) %}`,
      ContentType: "application/json",
      // A PutObject into a bucket with Object Lock default retention needs Content-MD5 or a checksum
      // (S3 API reference, PutObject ContentMD5: "required for any request to upload an object with a
      // retention period configured using Amazon S3 Object Lock"); see docs/unknowns.md.
      ChecksumAlgorithm: "SHA256",
    },
    TimeoutSeconds: WRITE_TIMEOUT_SECONDS,
    Output: output ?? KEEP_INPUT,
    Retry: WRITE_RETRY,
    Catch: [{ ErrorEquals: ["States.ALL"], Output: KEEP_INPUT, Next: AUDIT_STATE_NAMES.notWritten }],
    ...(next ? { Next: next } : { End: true as const }),
  };
}

/**
 * "Record <stage> decision" (the accepted decision at $.decisions.<stage>) and "Route <stage> decision",
 * which goes on as the stage's Check state would have: the Check now sends every whole decision here.
 */
export function decisionRecordStates(args: {
  audit: AuditRecording;
  stage: string;
  mechanism: Mechanism;
  approvedNext: string;
  rejectedNext: string;
  timedOutNext: string;
  invalidNext: string;
}): AslStates {
  const decision = `$states.input.decisions.\`${decisionKey(args.stage)}\``;
  // The mechanism's optional fields (slack: approverName, approverTeam), only as text: JSONata's object
  // constructor leaves out a key whose value is undefined (JSONata 2.0.6, which Step Functions implements),
  // so a decision without them is recorded as before, never with a null or a forged non-text value.
  const optional = (MECHANISM_DECISION_FIELDS[args.mechanism] ?? []).map(
    (field) => `"${field}": $type(${decision}.${field}) = 'string' ? ${decision}.${field}`,
  );
  const fields = [
    `"kind": "decision"`,
    `"stage": ${literal(args.stage)}`,
    `"mechanism": ${literal(args.mechanism)}`,
    `"approvers": ${literal(args.audit.approvers[args.stage] ?? [])}`,
    ...["decision", "approved", "approver"].map((field) => `"${field}": ${decision}.${field}`),
    ...optional,
    ...["comment", "decidedAt"].map((field) => `"${field}": ${decision}.${field}`),
  ].join(", ");
  const path = `$.decisions.${decisionKey(args.stage)}.decision`;
  return {
    [recordDecisionStateName(args.stage)]: writeTask(
      args.audit,
      `decision-${args.stage}`,
      fields,
      routeDecisionStateName(args.stage),
    ),
    [routeDecisionStateName(args.stage)]: {
      Type: "Choice",
      Comment: "The Check state accepted the decision as whole; this goes on by its kind",
      Choices: [
        when(stringEquals(path, "approved"), args.approvedNext),
        when(stringEquals(path, "rejected"), args.rejectedNext),
        when(stringEquals(path, "timed_out"), args.timedOutNext),
      ],
      Default: args.invalidNext,
    },
  };
}

/**
 * Routes every end of the workflow through its record: each End goes on to "Record outcome" (which
 * ends with the same output), each Fail becomes a Pass that sets $.failure and goes to "Record
 * failure" then "Failed" (the same error and cause), and every Task and Parallel catches any error
 * it does not handle itself the same way. The record's own states are added here.
 */
export function withAuditRecords(states: AslStates, audit: AuditRecording): AslStates {
  const toFailure = (state: AslState): Catcher =>
    state.QueryLanguage === "JSONata"
      ? { ErrorEquals: ["States.ALL"], Output: CATCH_OUTPUT_WITH_FAILURE, Next: AUDIT_STATE_NAMES.failure }
      : { ErrorEquals: ["States.ALL"], ResultPath: "$.failure", Next: AUDIT_STATE_NAMES.failure };
  const result: AslStates = {};
  for (const [name, state] of Object.entries(states)) {
    if (state.Type === "Fail") {
      if (state.ErrorPath !== undefined || state.CausePath !== undefined || state.Error === undefined)
        throw new Error(`withAuditRecords: Fail state '${name}' needs a fixed Error (and Cause)`);
      result[name] = {
        Type: "Pass",
        Comment: `Fails the execution with ${state.Error} once the failure is recorded`,
        Result: { Error: state.Error, Cause: state.Cause ?? "" },
        ResultPath: "$.failure",
        Next: AUDIT_STATE_NAMES.failure,
      };
      continue;
    }
    let copy: AslState = state;
    if ((state.Type === "Task" || state.Type === "Parallel") && !name.startsWith("Record ")) {
      if ((state.Catch ?? []).some((c) => c.ErrorEquals.includes("States.ALL")))
        throw new Error(`withAuditRecords: '${name}' already catches States.ALL`);
      copy = { ...state, Catch: [...(state.Catch ?? []), toFailure(state)] };
    }
    if ("End" in copy && copy.End) {
      const { End, ...rest } = copy;
      void End;
      copy = { ...rest, Next: AUDIT_STATE_NAMES.outcome } as AslState;
    }
    result[name] = copy;
  }
  return {
    ...result,
    [AUDIT_STATE_NAMES.outcome]: writeTask(
      audit,
      "outcome",
      `"kind": "outcome", "outcome": $states.input.decision, "approved": $states.input.approved, "stages": $states.input.stages`,
      undefined,
    ),
    [AUDIT_STATE_NAMES.failure]: writeTask(
      audit,
      "outcome",
      // The decisions accepted before the failure have their own records; an answer that was not
      // whole is never written as a decision.
      `"kind": "outcome", "outcome": "failed", "approved": false, "stages": [], "error": $states.input.failure.Error`,
      AUDIT_STATE_NAMES.failed,
      FAILURE_WITH_TEXT_CAUSE,
    ),
    [AUDIT_STATE_NAMES.failed]: {
      Type: "Fail",
      Comment: "The error and cause of the state that failed, after its record",
      ErrorPath: "$.failure.Error",
      CausePath: "$.failure.Cause",
    },
    [AUDIT_STATE_NAMES.notWritten]: {
      Type: "Fail",
      Error: AUDIT_RECORD_NOT_WRITTEN_ERROR,
      Cause:
        "The decision record could not be written to the audit bucket, so the workflow stopped: nothing was approved. The decisions made so far are in this execution's history; see docs/audit.md.",
    },
  };
}
