// What a successful approval looks like at the end of the workflow (README "The approval contract"):
// the execution SUCCEEDED with { approved: true, decision: "approved", stages: [<the stage's
// decision, by the expected mechanism>], request }.
import { Mechanism, StageDecision, WorkflowResult } from "../../../functions/contract";
import { actorIsPrincipal } from "../../../functions/principals";
import { pageApprover } from "./approvalPage";

export interface ApprovalExpectation {
  stage: string;
  mechanism: Mechanism;
  /** The request the execution was started with (it comes back under `request`). */
  request: unknown;
  /**
   * Who must show up as `approver`: `exactly` for the activity worker (the caller's STS ARN) and
   * the approval page (the typed name); `principal` for codepipeline (a session of the configured
   * role, or that user); neither: any non-empty text (ssm-automation reports SSM's own wording).
   */
  approver?: { exactly: string } | { principal: string };
  /** The comment the decision must carry, when the mechanism passes it through verbatim. */
  comment?: string;
}

function parseOutput(output: string | undefined): unknown {
  try {
    return JSON.parse(output ?? "null");
  } catch {
    return undefined;
  }
}

/** Problems with a finished execution (empty: it is the approval we expected). */
export function approvalProblems(execution: { status?: string; output?: string; error?: string; cause?: string }, expected: ApprovalExpectation): string[] {
  if (execution.status !== "SUCCEEDED") {
    const why = [execution.error, execution.cause].filter(Boolean).join(": ");
    return [`the execution ended ${execution.status ?? "in an unknown state"}${why ? ` (${why})` : ""}, not SUCCEEDED`];
  }
  const result = parseOutput(execution.output) as Partial<WorkflowResult> | undefined;
  if (typeof result !== "object" || result === null) return [`the execution's output is not a JSON object: ${String(execution.output).slice(0, 200)}`];
  const problems: string[] = [];
  if (result.approved !== true) problems.push(`output.approved is ${JSON.stringify(result.approved)}, expected true`);
  if (result.decision !== "approved") problems.push(`output.decision is ${JSON.stringify(result.decision)}, expected "approved"`);
  if (JSON.stringify(result.request) !== JSON.stringify(expected.request)) problems.push("output.request is not the request the execution was started with");
  const stages = Array.isArray(result.stages) ? (result.stages as Partial<StageDecision>[]) : undefined;
  if (!stages || stages.length !== 1) {
    problems.push(`output.stages should hold exactly one decision (stage ${expected.stage}), got ${JSON.stringify(result.stages)}`);
    return problems;
  }
  const [decision] = stages;
  const field = (name: keyof StageDecision, want: unknown) => {
    if (decision[name] !== want) problems.push(`output.stages[0].${name} is ${JSON.stringify(decision[name])}, expected ${JSON.stringify(want)}`);
  };
  field("stage", expected.stage);
  field("mechanism", expected.mechanism);
  field("approved", true);
  field("decision", "approved");
  if (typeof decision.decidedAt !== "string" || Number.isNaN(Date.parse(decision.decidedAt))) {
    problems.push(`output.stages[0].decidedAt is ${JSON.stringify(decision.decidedAt)}, expected a timestamp`);
  }
  const approver = decision.approver;
  if (typeof approver !== "string" || approver === "") {
    problems.push(`output.stages[0].approver is ${JSON.stringify(approver)}, expected who approved`);
  } else if (expected.approver && "exactly" in expected.approver && approver !== expected.approver.exactly) {
    problems.push(`output.stages[0].approver is ${JSON.stringify(approver)}, expected ${JSON.stringify(expected.approver.exactly)}`);
  } else if (expected.approver && "principal" in expected.approver && !actorIsPrincipal(approver, expected.approver.principal)) {
    problems.push(`output.stages[0].approver is ${JSON.stringify(approver)}, expected ${expected.approver.principal} or a session of it`);
  }
  if (expected.comment !== undefined) field("comment", expected.comment);
  return problems;
}

/** What the suite's approver says, on every mechanism that carries a comment. */
export const IT_COMMENT = "approved by the sfn-approvals integration suite";
/** The name the suite types into the approval page. */
export const IT_PAGE_NAME = "sfn-approvals integration suite";

/**
 * The approval each mechanism must report when the suite approves it as `callerArn` (its STS
 * identity), listed in config as `approver`.
 */
export function expectedApproval(args: { mechanism: Mechanism; stage: string; request: unknown; callerArn: string; approver: string }): ApprovalExpectation {
  const base = { stage: args.stage, mechanism: args.mechanism, request: args.request };
  switch (args.mechanism) {
    case "activity":
      // The worker records its own STS identity and passes the comment through.
      return { ...base, approver: { exactly: args.callerArn }, comment: IT_COMMENT };
    case "codepipeline":
      // updatedBy of the approval action: the configured principal or a session of it; comment = the summary.
      return { ...base, approver: { principal: args.approver }, comment: IT_COMMENT };
    case "ssm-automation":
      // ApproverDecisions as SSM words them: only required to name someone.
      return base;
    case "email-link":
    case "sns-callback":
      return { ...base, approver: { exactly: pageApprover(IT_PAGE_NAME) }, comment: IT_COMMENT };
  }
}
