// Lambda behind the EventBridge rule on "EC2 Automation Step Status-change Notification" for the
// stage's approval runbook. It turns the finished aws:approve step into the approval contract and
// sends it with SendTaskSuccess. Anything unexpected throws: the event is then retried and ends in
// the stage's dead-letter queue. It never sends a decision it cannot prove, and never logs the token.
import { GetAutomationExecutionCommand, SSMClient, StepExecution } from "@aws-sdk/client-ssm";
import { SFNClient, SendTaskFailureCommand, SendTaskSuccessCommand } from "@aws-sdk/client-sfn";
import { deliverToStepFunctions } from "../../shared/callbackTask";
import { StageDecision, StageDecisionKind, stageDecision } from "../../contract";
import { parseEventBridgeEvent } from "../../shared/eventBridge";
import { redactText } from "../../shared/redact";
import { RESULT_RESEND, ResendPolicy } from "../../shared/throttledSend";

export const AUTOMATION_STEP_DETAIL_TYPE = "EC2 Automation Step Status-change Notification";
export const APPROVE_STEP_NAME = "Approve";
/**
 * aws:approve step statuses that end the step; the EventBridge rule matches exactly these. All are
 * values of SSM's AutomationExecutionStatus (@aws-sdk/client-ssm). AWS does not say whether a
 * rejected aws:approve step reports Failed or Rejected (docs/unknowns.md), so both count.
 */
export const TERMINAL_STEP_STATUSES = ["Success", "Failed", "TimedOut", "Cancelled", "Rejected"] as const;

export interface AutomationResultSettings {
  documentName: string;
  stage: string;
  /** Name of the start function's role: only automations it started may carry a decision. */
  starterRoleName: string;
}

export interface ApproverDecision {
  approver: string;
  decision: string;
  comment: string | null;
  time: string | null;
}

export interface StepEvent {
  executionId: string;
  status: (typeof TERMINAL_STEP_STATUSES)[number];
  stepName: string;
}

export function parseStepEvent(event: unknown, settings: AutomationResultSettings): StepEvent {
  const { detail } = parseEventBridgeEvent(event, "aws.ssm", [AUTOMATION_STEP_DETAIL_TYPE]);
  if (detail.Definition !== settings.documentName) {
    throw new Error(
      `InvalidEvent: the event is for runbook '${String(detail.Definition)}', this function handles '${settings.documentName}'`,
    );
  }
  if (detail.Action !== "aws:approve" || detail.StepName !== APPROVE_STEP_NAME) {
    throw new Error(
      `InvalidEvent: expected the aws:approve step '${APPROVE_STEP_NAME}', got step '${String(detail.StepName)}' (${String(detail.Action)})`,
    );
  }
  if (typeof detail.ExecutionId !== "string" || !/^[0-9a-fA-F-]{36}$/.test(detail.ExecutionId)) {
    throw new Error(
      `InvalidEvent: 'detail.ExecutionId' must be an automation execution id, got '${String(detail.ExecutionId)}'`,
    );
  }
  const status = detail.Status;
  if (!TERMINAL_STEP_STATUSES.includes(status as StepEvent["status"])) {
    throw new Error(
      `InvalidEvent: step status '${String(status)}' is not a final status (${TERMINAL_STEP_STATUSES.join(", ")})`,
    );
  }
  return { executionId: detail.ExecutionId, status: status as StepEvent["status"], stepName: detail.StepName };
}

/** The two words an approver's entry may carry (SendAutomationSignal's SignalType uses the same). */
const APPROVER_DECISIONS = ["Approve", "Reject"];

/**
 * Reads aws:approve's ApproverDecisions output (MapList; documented only as "a JSON map that
 * includes the approval decision of each approver"). The key of the decision is not documented:
 * a re:Post answer shows `Decision`, AWS's @cdklabs/cdk-ssm-documents simulator models
 * `ApprovalStatus` (src/simulation/automation/approve-simulation.ts). Either is read; an entry
 * whose two keys disagree, or whose word is neither Approve nor Reject, is no evidence and is
 * skipped. Entries only name who decided: the decision itself comes from the step.
 */
export function parseApproverDecisions(values: string[] | undefined): ApproverDecision[] {
  const decisions: ApproverDecision[] = [];
  for (const value of values ?? []) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      continue; // not evidence of anything; the decision itself comes from the step status
    }
    for (const item of Array.isArray(parsed) ? parsed : [parsed]) {
      if (typeof item !== "object" || item === null) continue;
      const d = item as Record<string, unknown>;
      const words = [d.Decision, d.ApprovalStatus].filter((w) => w !== undefined);
      const decision = words[0];
      if (
        typeof d.Approver !== "string" ||
        d.Approver === "" ||
        words.length === 0 ||
        words.some((w) => w !== decision)
      )
        continue;
      if (typeof decision !== "string" || !APPROVER_DECISIONS.includes(decision)) continue;
      decisions.push({
        approver: d.Approver,
        decision,
        comment: typeof d.Comment === "string" && d.Comment !== "" ? d.Comment : null,
        time: typeof d.ApprovalDecisionTime === "string" ? d.ApprovalDecisionTime : null,
      });
    }
  }
  return decisions;
}

/** The error sent with SendTaskFailure when the approval step broke without anyone rejecting. */
export const STEP_FAILED_ERROR = "ApprovalStepFailed";

/**
 * Maps a finished aws:approve step to a decision kind. Approved needs both Success and
 * ApprovalStatus=Approved. A Failed step is a rejection only when someone rejected; otherwise the
 * step broke (say, its notification could not be published) and that is no human decision.
 */
export function decisionOfStep(
  step: StepExecution,
  automationId: string,
  decisions: ApproverDecision[],
): StageDecisionKind | "failed" {
  const status = step.StepStatus;
  const approvalStatus = step.Outputs?.ApprovalStatus?.[0];
  switch (status) {
    case "Success":
      if (approvalStatus !== "Approved") {
        throw new Error(
          `InconsistentAutomation: step '${step.StepName}' of automation ${automationId} succeeded but ApprovalStatus is '${String(approvalStatus)}'; refusing to approve`,
        );
      }
      return "approved";
    case "Failed":
      return approvalStatus === "Rejected" || decisions.some((d) => d.decision === "Reject") ? "rejected" : "failed";
    case "Rejected": // if SSM reports a rejection this way (docs/unknowns.md)
    case "Cancelled":
      return "rejected";
    case "TimedOut":
      return "timed_out";
    default:
      throw new Error(
        `AutomationNotFinished: step '${step.StepName}' of automation ${automationId} is '${String(status)}', not finished`,
      );
  }
}

/** True when `executedBy` is the start function's role: its session ARN or the role ARN itself. */
export function startedBy(executedBy: string | undefined, roleName: string): boolean {
  const name = roleName.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`^arn:[a-z-]+:(sts::\\d{12}:assumed-role/${name}/[^/]+|iam::\\d{12}:role/([^/]+/)*${name})$`).test(
    executedBy ?? "",
  );
}

export async function deliverAutomationDecision(
  event: unknown,
  settings: AutomationResultSettings,
  clients: { ssm: SSMClient; sfn: SFNClient },
  now: () => Date = () => new Date(),
  resend: ResendPolicy = RESULT_RESEND,
): Promise<StageDecision | { failed: string }> {
  const stepEvent = parseStepEvent(event, settings);
  const id = stepEvent.executionId;
  const { AutomationExecution: automation } = await clients.ssm.send(
    new GetAutomationExecutionCommand({ AutomationExecutionId: id }),
  );
  if (!automation) {
    throw new Error(`AutomationNotFound: GetAutomationExecution returned nothing for ${id}`);
  }
  if (automation.DocumentName !== settings.documentName) {
    throw new Error(
      `ForeignAutomation: automation ${id} runs '${String(automation.DocumentName)}', not '${settings.documentName}'`,
    );
  }
  if (!startedBy(automation.ExecutedBy, settings.starterRoleName)) {
    throw new Error(
      `ForeignAutomation: automation ${id} was started by '${String(automation.ExecutedBy)}', not by this stage's start function; no decision sent`,
    );
  }
  const taskToken = (automation.Parameters?.TaskToken ?? []).join("");
  if (taskToken === "") {
    throw new Error(`MissingTaskToken: automation ${id} has no TaskToken parameter; no decision sent`);
  }
  const step = (automation.StepExecutions ?? []).find(
    (s) => s.StepName === stepEvent.stepName && s.Action === "aws:approve",
  );
  if (!step) {
    throw new Error(`StepNotFound: automation ${id} has no aws:approve step '${stepEvent.stepName}'`);
  }
  const approverDecisions = parseApproverDecisions(step.Outputs?.ApproverDecisions);
  const decision = decisionOfStep(step, id, approverDecisions);
  if (decision === "failed") {
    const cause = `The aws:approve step of automation ${id} (stage ${settings.stage}) failed without a rejection: ${step.FailureMessage ?? "no failure message"}`;
    await deliverToStepFunctions(
      () =>
        clients.sfn.send(
          new SendTaskFailureCommand({
            taskToken,
            error: STEP_FAILED_ERROR,
            cause: redactText(cause, [taskToken]).slice(0, 32768),
          }),
        ),
      `the failure for automation ${id} (stage ${settings.stage})`,
      resend,
    );
    console.error(
      JSON.stringify({
        msg: "approval step failed; execution failed",
        automationExecutionId: id,
        stage: settings.stage,
        cause,
      }),
    );
    // The execution has failed with a clear error (and the failed-executions alarm reports it);
    // throwing here would only retry a SendTaskFailure that can no longer succeed.
    return { failed: STEP_FAILED_ERROR };
  }
  const wanted = decision === "approved" ? "Approve" : "Reject";
  const deciders = decision === "timed_out" ? [] : approverDecisions.filter((d) => d.decision === wanted);
  if (decision === "approved" && deciders.length === 0) {
    console.warn(
      JSON.stringify({
        msg: "approved, but ApproverDecisions names no approver",
        automationExecutionId: id,
        stage: settings.stage,
      }),
    );
  }
  const times = deciders
    .map((d) => d.time)
    .filter((t): t is string => t !== null && !Number.isNaN(Date.parse(t)))
    .sort();
  const decidedAt = times.length > 0 ? times[times.length - 1] : (step.ExecutionEndTime ?? now());
  const comments = deciders.map((d) => d.comment).filter((c): c is string => c !== null);
  const result = stageDecision({
    decision,
    stage: settings.stage,
    mechanism: "ssm-automation",
    approver: deciders.map((d) => d.approver).join(", ") || null,
    comment:
      comments.join("; ") ||
      (decision === "rejected" && deciders.length === 0
        ? (step.FailureMessage ?? `automation step ${step.StepStatus}`)
        : null),
    decidedAt,
  });
  await deliverToStepFunctions(
    () => clients.sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(result) })),
    `the decision ${decision} for automation ${id} (stage ${settings.stage})`,
    resend,
  );
  console.log(JSON.stringify({ msg: "approval decision delivered", automationExecutionId: id, ...result }));
  return result;
}
