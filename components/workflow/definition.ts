// The workflow's definition, pure (no Pulumi resources): validate the request, optionally
// auto-approve small amounts, run every stage in order (the first rejection or timeout ends it),
// and return { approved, decision, stages, request }.
import * as pulumi from "@pulumi/pulumi";
import {
  AslDefinition,
  AslState,
  AslStates,
  TaskStateOptions,
  and,
  booleanEquals,
  isBoolean,
  isPresent,
  isString,
  not,
  numericLessThan,
  stringEquals,
  when,
} from "./asl";
import { requestValidation } from "./request";
import {
  INVALID_DECISION_ERROR,
  Mechanism,
  decisionKey,
  followUpStateNames,
  stageStateName,
} from "../../functions/contract";
import { StageFollowUpStates, followUpStates } from "./stageFollowUps";
import {
  AuditRecording,
  MAX_WRITE_SECONDS,
  decisionRecordStates,
  recordDecisionStateName,
  withAuditRecords,
} from "./auditStates";

/** Slack on top of the stage waits for the execution as a whole. */
export const EXECUTION_TIMEOUT_MARGIN_SECONDS = 600;
/** A Standard execution lasts at most one year. */
export const MAX_EXECUTION_SECONDS = 365 * 86400;

/**
 * Where a stage's Task reads and writes. With follow-ups (reminders, escalation) the Task runs in
 * the decision branch of a Parallel state and goes on to the branch's "decided" state instead of
 * the Check state (see components/workflow/stageFollowUps.ts).
 */
export function stageTaskOptions(stage: string, withFollowUps = false, capacityWaitSeconds?: number): TaskStateOptions {
  return {
    stateName: stageStateName(stage),
    requestPath: "$.request",
    resultPath: `$.decisions.${decisionKey(stage)}`,
    next: withFollowUps ? followUpStateNames(stage).decided : `Check ${stage}`,
    ...(capacityWaitSeconds !== undefined ? { capacityWaitSeconds } : {}),
  };
}

/** The state a stage starts at: its Task, or the Parallel that runs the Task beside its follow-ups. */
export function stageEntryName(stage: string, withFollowUps = false): string {
  return withFollowUps ? followUpStateNames(stage).wrapper : stageStateName(stage);
}

function finalState(approved: boolean, decision: string, decisionPaths: string[]): AslState {
  return {
    Type: "Pass",
    Parameters: {
      approved,
      decision,
      "stages.$": `States.Array(${decisionPaths.join(", ")})`,
      "request.$": "$.request",
    },
    End: true,
  };
}

type StageLength = { stage: string; maxWaitSeconds: number; afterWaitSeconds?: number; capacityWaitSeconds?: number };

/** What the stages take without their capacity waits: the margin, the record's writes, each wait and what runs after it. */
function fixedLength(stages: StageLength[], withRecord: boolean): number {
  const writes = withRecord ? (stages.length + 1) * MAX_WRITE_SECONDS : 0;
  return stages.reduce(
    (sum, s) => sum + s.maxWaitSeconds + (s.afterWaitSeconds ?? 0),
    EXECUTION_TIMEOUT_MARGIN_SECONDS + writes,
  );
}

/**
 * Each stage's capacity budget (components/mechanisms/capacityRetry.ts): what it asks for
 * (`wanted`, twice its wait), or, when the year cannot hold all of them, the year's rest shared in
 * proportion; the stages' own waits are never shortened for it.
 */
export function allotCapacityWaits(
  stages: Array<Omit<StageLength, "capacityWaitSeconds"> & { wanted: number }>,
  withRecord = false,
): number[] {
  const spare = Math.max(0, MAX_EXECUTION_SECONDS - fixedLength(stages, withRecord));
  const wanted = stages.reduce((sum, s) => sum + s.wanted, 0);
  if (wanted <= spare) return stages.map((s) => s.wanted);
  return stages.map((s) => Math.floor((s.wanted * spare) / wanted));
}

/**
 * The execution's timeout for these stages; refuses stages that cannot all wait within one year.
 * With the decision record, the longest path also writes one record per stage and the outcome.
 * A stage's capacity budget counts too: its start may be retried that long before its wait begins.
 */
export function checkExecutionLength(stages: StageLength[], withRecord = false): number {
  const withoutCapacity = fixedLength(stages, withRecord);
  const timeoutSeconds = stages.reduce((sum, s) => sum + (s.capacityWaitSeconds ?? 0), withoutCapacity);
  if (withoutCapacity > MAX_EXECUTION_SECONDS) {
    throw new pulumi.RunError(
      `The stages ${stages.map((s) => `${s.stage} (up to ${Math.round(s.maxWaitSeconds / 86400)}d)`).join(", ")} can wait ${Math.round(withoutCapacity / 86400)} days in all, beyond a Standard execution's 365 days; shorten their timeouts`,
    );
  }
  if (timeoutSeconds > MAX_EXECUTION_SECONDS) {
    throw new pulumi.RunError(
      `The stages' capacity waits (${Math.round((timeoutSeconds - withoutCapacity) / 86400)} days) leave no room in a Standard execution's 365 days: allot them with allotCapacityWaits()`,
    );
  }
  return timeoutSeconds;
}

export interface AssembledStage {
  stage: string;
  /** The mechanism's states for `stageTaskOptions(stage)`. */
  states: AslStates;
  /** The stage's mechanism: a decision must name it (and the stage) to count. */
  mechanism: Mechanism;
  maxWaitSeconds: number;
  /** What the stage's states run after the wait (ApprovalStage.afterWaitSeconds). */
  afterWaitSeconds?: number;
  /** The capacity budget its states were built with (TaskStateOptions.capacityWaitSeconds); the execution's timeout counts it. */
  capacityWaitSeconds?: number;
  /** Reminders and escalation (needs `mechanism`); the stage's states were built with stageTaskOptions(stage, true). */
  followUp?: StageFollowUpStates;
}

/** Every state name, those in Parallel branches included: names are unique across a whole state machine. */
function stateNames(states: AslStates): string[] {
  return Object.entries(states).flatMap(([name, state]) => [
    name,
    ...(state.Type === "Parallel" ? state.Branches.flatMap((b) => stateNames(b.States)) : []),
  ]);
}

/** Pure: the whole definition from the stages' own states. */
export function assembleWorkflowDefinition(args: {
  autoApproveBelow?: number;
  stages: AssembledStage[];
  /** Write the decision record (components/workflow/auditStates.ts); absent: no record. */
  audit?: AuditRecording;
}): AslDefinition {
  if (args.stages.length === 0) throw new Error("An approval workflow needs at least one stage");
  const entry = (i: number) =>
    i < args.stages.length ? stageEntryName(args.stages[i].stage, args.stages[i].followUp !== undefined) : "Approved";
  const states: AslStates = {};
  const taken = new Set<string>();
  const add = (more: AslStates) => {
    for (const name of stateNames(more)) {
      if (taken.has(name)) throw new Error(`Two states are named '${name}'`);
      taken.add(name);
    }
    Object.assign(states, more);
  };

  const afterValidation = args.autoApproveBelow !== undefined ? "Check auto-approve" : entry(0);
  add(requestValidation(afterValidation));
  if (args.autoApproveBelow !== undefined) {
    add({
      "Check auto-approve": {
        Type: "Choice",
        Comment: `Requests with an amount below ${args.autoApproveBelow} skip the stages`,
        Choices: [
          when(
            and(isPresent("$.request.amount"), numericLessThan("$.request.amount", args.autoApproveBelow)),
            "Auto-approved",
          ),
        ],
        Default: entry(0),
      },
      "Auto-approved": {
        Type: "Pass",
        Parameters: { approved: true, decision: "auto_approved", stages: [], "request.$": "$.request" },
        End: true,
      },
    });
  }

  const decisionPaths: string[] = [];
  args.stages.forEach(({ stage, states: stageStates, mechanism, followUp }, i) => {
    const options = stageTaskOptions(stage);
    if (!(options.stateName in stageStates))
      throw new Error(`Stage '${stage}' has no state named '${options.stateName}'`);
    add(followUp ? followUpStates({ stage, mechanism, options, stageStates, ...followUp }) : stageStates);
    decisionPaths.push(options.resultPath);
    const decision = (field: string) => `${options.resultPath}.${field}`;
    const invalid = `Invalid decision at ${stage}`;
    const next = {
      approved: entry(i + 1),
      rejected: `Rejected at ${stage}`,
      timedOut: `Timed out at ${stage}`,
    };
    // With the record, every whole decision is written first; the Route state then goes on by its kind.
    const target = args.audit
      ? {
          approved: recordDecisionStateName(stage),
          rejected: recordDecisionStateName(stage),
          timedOut: recordDecisionStateName(stage),
        }
      : next;
    if (args.audit)
      add(
        decisionRecordStates({
          audit: args.audit,
          stage,
          mechanism,
          approvedNext: next.approved,
          rejectedNext: next.rejected,
          timedOutNext: next.timedOut,
          invalidNext: invalid,
        }),
      );
    add({
      [options.next]: {
        Type: "Choice",
        Comment: `Only a whole approval of stage '${stage}' goes on; a decision that is not whole fails the execution`,
        // A decision is whole when all four fields are present with their types, it names this stage
        // and this stage's mechanism (one naming another was sent with a token it does not belong to),
        // and approved and decision agree. Rules are tried in order, so each type test only sees a
        // present field; anything no rule accepts is refused (Default), never read as a rejection.
        Choices: [
          ...["approved", "decision", "stage", "mechanism"].map((field) =>
            when(not(isPresent(decision(field))), invalid),
          ),
          when(not(isBoolean(decision("approved"))), invalid),
          ...["decision", "stage", "mechanism"].map((field) => when(not(isString(decision(field))), invalid)),
          when(not(stringEquals(decision("stage"), stage)), invalid),
          when(not(stringEquals(decision("mechanism"), mechanism)), invalid),
          when(
            and(booleanEquals(decision("approved"), true), stringEquals(decision("decision"), "approved")),
            target.approved,
          ),
          when(
            and(booleanEquals(decision("approved"), false), stringEquals(decision("decision"), "rejected")),
            target.rejected,
          ),
          when(
            and(booleanEquals(decision("approved"), false), stringEquals(decision("decision"), "timed_out")),
            target.timedOut,
          ),
        ],
        Default: invalid,
      },
      [invalid]: {
        Type: "Fail",
        Error: INVALID_DECISION_ERROR,
        Cause: `Stage '${stage}' answered with a decision that is not whole: it needs a boolean 'approved' and a 'decision' that agree (true/approved, false/rejected, false/timed_out), 'stage' '${stage}' and 'mechanism' '${mechanism}'; nothing was approved.`,
      },
      [`Rejected at ${stage}`]: finalState(false, "rejected", [...decisionPaths]),
      [`Timed out at ${stage}`]: finalState(false, "timed_out", [...decisionPaths]),
    });
  });
  add({ Approved: finalState(true, "approved", decisionPaths) });

  const timeoutSeconds = checkExecutionLength(args.stages, args.audit !== undefined);
  return {
    Comment: `sfn-approvals: ${args.stages.map((s) => s.stage).join(" -> ")}`,
    StartAt: "Read request",
    TimeoutSeconds: timeoutSeconds,
    States: args.audit ? withAuditRecords(states, args.audit) : states,
  };
}
