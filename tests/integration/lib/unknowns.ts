// The open AWS questions of docs/unknowns.md that a real run settles: each judge takes AWS's raw
// answer, says what it was, and whether the code's assumption holds. The suite prints every
// answer (`unknowns #<row> ...`) and fails the mechanism when an assumption is wrong.
import type { ActionExecutionDetail } from "@aws-sdk/client-codepipeline";
import type { HistoryEvent } from "@aws-sdk/client-sfn";
import type { StepExecution } from "@aws-sdk/client-ssm";
import {
  TERMINAL_STEP_STATUSES,
  decisionOfStep,
  parseApproverDecisions,
} from "../../../functions/mechanisms/ssmAutomation/automationResult";
import { actorIsPrincipal } from "../../../functions/shared/principals";

export interface Settlement {
  /** The row of docs/unknowns.md it settles (none: a check of the suite's own, such as a refused non-approver). */
  row?: number;
  /** The suite check's name, as docs/unknowns.md and docs/integration.md cite it. */
  check: string;
  /** What AWS answered, in a line. */
  answer: string;
  /** The code's assumption holds. */
  ok: boolean;
}

/** The step as printed: status, outputs and failure message, nothing else (no parameters: they hold the token). */
export function rawStep(step: StepExecution | undefined): string {
  if (!step) return "no aws:approve step";
  return JSON.stringify({
    StepStatus: step.StepStatus,
    Outputs: step.Outputs ?? null,
    FailureMessage: step.FailureMessage ?? null,
  });
}

/** Row 2: the step status of a rejected aws:approve, and what the result function makes of it. */
export function judgeRejectedStep(step: StepExecution | undefined, automationId: string): Settlement {
  const check = "ssm-rejected-step-status";
  if (!step) return { row: 2, check, answer: `automation ${automationId} has no aws:approve step`, ok: false };
  const status = step.StepStatus ?? "?";
  const matched = (TERMINAL_STEP_STATUSES as readonly string[]).includes(status);
  let mapped: string;
  try {
    mapped = decisionOfStep(step, automationId, parseApproverDecisions(step.Outputs?.ApproverDecisions));
  } catch (error) {
    mapped = `an error (${(error as Error).message})`;
  }
  const ok = matched && mapped === "rejected";
  return {
    row: 2,
    check,
    ok,
    answer: `StepStatus "${status}", ApprovalStatus ${JSON.stringify(step.Outputs?.ApprovalStatus ?? null)}: ${matched ? "the decision rule matches it" : "the decision rule does NOT match it"}, the result function reads ${mapped}${ok ? " (as the code assumes)" : " (the code assumes rejected)"}`,
  };
}

/** Row 3: the keys of ApproverDecisions' entries; the code reads Approver with Decision or ApprovalStatus. */
export function judgeApproverDecisions(step: StepExecution | undefined, word: "Approve" | "Reject"): Settlement {
  const raw = step?.Outputs?.ApproverDecisions;
  const entries = parseApproverDecisions(raw);
  const keys = new Set<string>();
  for (const value of raw ?? []) {
    try {
      const parsed = JSON.parse(value) as unknown;
      for (const item of Array.isArray(parsed) ? parsed : [parsed])
        if (typeof item === "object" && item !== null) Object.keys(item).forEach((key) => keys.add(key));
    } catch {
      keys.add("(not JSON)");
    }
  }
  const ok = entries.some((entry) => entry.decision === word);
  return {
    row: 3,
    check: "ssm-approver-decisions-keys",
    ok,
    answer: `ApproverDecisions ${JSON.stringify(raw ?? null)} (keys: ${[...keys].join(", ") || "none"}): ${
      ok
        ? `the result function reads the ${word} of ${entries
            .filter((e) => e.decision === word)
            .map((e) => e.approver)
            .join(", ")}`
        : `the result function finds no ${word} entry, so the decision names no approver`
    }`,
  };
}

/** IAM's own refusal wording ("... is not authorized to perform: ssm:SendAutomationSignal ..."): the caller's policy, not SSM's approver list. */
export function isIamRefusal(message: string | undefined): boolean {
  return /is not authorized to perform: [a-z0-9-]+:[A-Za-z]+/.test(message ?? "");
}

/** Row 21: SSM refuses SendAutomationSignal from a principal its aws:approve step does not list (which IAM allows). */
export function judgeNonApproverSignal(
  result: { error?: { name: string; message: string } },
  stillWaiting: boolean,
): Settlement {
  const check = "ssm-non-approver-refused";
  if (!result.error)
    return { row: 21, check, answer: "SSM accepted the signal of a principal that is not an approver", ok: false };
  const ok = stillWaiting && !isIamRefusal(result.error.message);
  return {
    row: 21,
    check,
    ok,
    answer: `SSM answered ${result.error.name}: ${result.error.message.slice(0, 300)}; the automation ${stillWaiting ? "still waits" : "no longer waits"}${isIamRefusal(result.error.message) ? " (that is IAM's refusal, not SSM's: the non-approver's own policy did not apply)" : ""}`,
  };
}

/** Row 4: updatedBy of an answered manual approval, which must be the approver's session for the decision to count. */
export function judgeUpdatedBy(action: ActionExecutionDetail | undefined, approverRoleArn: string): Settlement {
  const updatedBy = action?.updatedBy;
  const ok = updatedBy !== undefined && actorIsPrincipal(updatedBy, approverRoleArn);
  return {
    row: 4,
    check: "codepipeline-updated-by",
    ok,
    answer: `updatedBy of the answered approval action (${action?.status ?? "?"}): ${JSON.stringify(updatedBy ?? null)}${ok ? `, a session of ${approverRoleArn}` : ` (the result function needs ${approverRoleArn} or a session of it)`}`,
  };
}

/** What an invocation of a start function answered: its result's id, or its error (X-Amz-Function-Error). */
export type StartAnswer = { id?: string; error?: string };

function shown(answer: StartAnswer | undefined): string {
  return answer?.id ?? (answer?.error ? `refused (${answer.error.slice(0, 300)})` : "no answer");
}

/**
 * Row 5: the start function invoked again with the same payload finds the same pipeline execution
 * (or, not idempotent, is refused: the record is bound to the first), and only one carries the key.
 */
export function judgeClientRequestToken(args: {
  first: string;
  again: StartAnswer;
  executionsWithKey: string[];
}): Settlement {
  const ok = args.again.id === args.first && args.executionsWithKey.length === 1;
  return {
    row: 5,
    check: "codepipeline-client-request-token",
    ok,
    answer: `first start: pipeline execution ${args.first}; the start function again with the same payload (the approval key as clientRequestToken): ${shown(args.again)}; executions carrying that key: ${args.executionsWithKey.length} (${args.executionsWithKey.join(", ")})${ok ? ": idempotent" : ": NOT idempotent (a retried start starts a second execution, which never decides)"}`,
  };
}

/**
 * Row 20: StartAutomationExecution's ClientToken. A retried start (same payload) must give the
 * first automation or be refused, never a second one; another request with the same token must be
 * refused (IdempotentParameterMismatch), so approvers never see one request while deciding another.
 */
export function judgeAutomationClientToken(args: {
  first: string;
  again: StartAnswer;
  otherRequest: StartAnswer;
  automations: string[];
}): Settlement {
  const retryHarmless = args.again.id === args.first || (args.again.id === undefined && args.again.error !== undefined);
  const ok =
    retryHarmless &&
    args.otherRequest.id === undefined &&
    args.otherRequest.error !== undefined &&
    args.automations.length === 1;
  return {
    row: 20,
    check: "ssm-client-token",
    ok,
    answer: `first start: automation ${args.first}; the start function again with the same payload: ${shown(args.again)}; with another request: ${shown(args.otherRequest)}; automations for this execution: ${args.automations.length}${ok ? "" : " (the code assumes one automation, and another request refused)"}`,
  };
}

/** Row 6: the approval action's resolvedConfiguration shows the request, not `#{variables...}`. */
export function judgeResolvedConfiguration(action: ActionExecutionDetail | undefined): Settlement {
  const resolved = action?.input?.resolvedConfiguration ?? {};
  const shown = { CustomData: resolved.CustomData ?? null, ExternalEntityLink: resolved.ExternalEntityLink ?? null };
  const ok =
    typeof shown.CustomData === "string" &&
    typeof shown.ExternalEntityLink === "string" &&
    !/#\{variables\./.test(`${shown.CustomData}${shown.ExternalEntityLink}`);
  return {
    row: 6,
    check: "codepipeline-resolved-variables",
    ok,
    answer: `resolvedConfiguration ${JSON.stringify(shown).slice(0, 600)}${ok ? ": the variables are resolved" : ": NOT resolved (approvers see the literal references)"}`,
  };
}

/**
 * Row 1: the activity Task still waits, never released, after HeartbeatSeconds and more without a
 * worker: the heartbeat clock starts at pickup, not at scheduling.
 */
export function judgeHeartbeatClock(events: HistoryEvent[], heartbeatSeconds: number, waitedMs: number): Settlement {
  const timedOut = events.filter((event) => event.type === "ActivityTimedOut");
  const scheduled = events.filter((event) => event.type === "ActivityScheduled").length;
  const ended = events.some((event) => /^Execution(Succeeded|Failed|Aborted|TimedOut)$/.test(event.type ?? ""));
  const ok = timedOut.length === 0 && scheduled === 1 && !ended;
  return {
    row: 1,
    check: "activity-heartbeat-clock",
    ok,
    answer: `${(waitedMs / 1000).toFixed(0)} s after ActivityScheduled without a worker (HeartbeatSeconds ${heartbeatSeconds}): ${scheduled} ActivityScheduled, ${timedOut.length} ActivityTimedOut${ok ? ": the clock starts when a worker takes the task" : ": the clock started at scheduling (docs/limits.md: the stage can fail with States.HeartbeatTimeout)"}`,
  };
}

/** Row 8: a 120-emoji title was published: its subject "Approval needed: " + 82 emoji is 99 code points, 181 UTF-16 units, 345 bytes. */
export function judgeSubject(published: boolean, how: string): Settlement {
  return {
    row: 8,
    check: "sns-subject-characters",
    ok: published,
    answer: published
      ? `SNS accepted a subject of 99 code points, 181 UTF-16 units, 345 bytes (a 120-emoji title; ${how}): it counts code points, not UTF-16 units or bytes`
      : `the publish of a 120-emoji title failed (${how})`,
  };
}

/** Row 18: the state machine's log group received events of the suite's executions. */
export function judgeLogDelivery(logGroup: string | undefined, events: number): Settlement {
  return {
    row: 18,
    check: "state-machine-logs",
    ok: events > 0,
    answer: logGroup
      ? `${events} log event(s) in ${logGroup} since the stack's first execution`
      : "the state machine has no log group configured",
  };
}
