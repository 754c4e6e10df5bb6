// What each run's execution must end with (docs/contract.md): SUCCEEDED with
// { approved, decision, stages: [<the stage's decision, by the expected mechanism>], request },
// where decision is approved, rejected or timed_out as the suite made it.
import { Mechanism, StageDecision, WorkflowResult } from "../../../functions/contract";
import { actorIsPrincipal } from "../../../functions/shared/principals";
import { pageApprover } from "./approvalPage";
import type { Mechanism as SuiteMechanism, Outcome } from "./stackConfig";

export interface OutcomeExpectation {
  outcome: Outcome;
  stage: string;
  mechanism: Mechanism;
  /** The request the execution was started with (it comes back under `request`). */
  request: unknown;
  /**
   * Who must show up as `approver` (approved and rejected): `exactly` for the activity worker (its
   * STS session ARN) and the approval page (the typed name); `principal` for codepipeline (a
   * session of the configured role); neither: any non-empty text (SSM's own wording).
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

/** Problems with a finished execution (empty: it ended as expected). */
export function outcomeProblems(
  execution: { status?: string; output?: string; error?: string; cause?: string },
  expected: OutcomeExpectation,
): string[] {
  if (execution.status !== "SUCCEEDED") {
    const why = [execution.error, execution.cause].filter(Boolean).join(": ");
    return [`the execution ended ${execution.status ?? "in an unknown state"}${why ? ` (${why})` : ""}, not SUCCEEDED`];
  }
  const result = parseOutput(execution.output) as Partial<WorkflowResult> | undefined;
  if (typeof result !== "object" || result === null)
    return [`the execution's output is not a JSON object: ${String(execution.output).slice(0, 200)}`];
  const approved = expected.outcome === "approved";
  const problems: string[] = [];
  if (result.approved !== approved)
    problems.push(`output.approved is ${JSON.stringify(result.approved)}, expected ${approved}`);
  if (result.decision !== expected.outcome)
    problems.push(`output.decision is ${JSON.stringify(result.decision)}, expected "${expected.outcome}"`);
  if (JSON.stringify(result.request) !== JSON.stringify(expected.request))
    problems.push("output.request is not the request the execution was started with");
  const stages = Array.isArray(result.stages) ? (result.stages as Partial<StageDecision>[]) : undefined;
  if (!stages || stages.length !== 1) {
    problems.push(
      `output.stages should hold exactly one decision (stage ${expected.stage}), got ${JSON.stringify(result.stages)}`,
    );
    return problems;
  }
  const [decision] = stages;
  const field = (name: keyof StageDecision, want: unknown) => {
    if (decision[name] !== want)
      problems.push(`output.stages[0].${name} is ${JSON.stringify(decision[name])}, expected ${JSON.stringify(want)}`);
  };
  field("stage", expected.stage);
  field("mechanism", expected.mechanism);
  field("approved", approved);
  field("decision", expected.outcome);
  if (typeof decision.decidedAt !== "string" || Number.isNaN(Date.parse(decision.decidedAt))) {
    problems.push(`output.stages[0].decidedAt is ${JSON.stringify(decision.decidedAt)}, expected a timestamp`);
  }
  if (expected.outcome === "timed_out") {
    // Nobody decided: no approver, no comment (components/workflow/asl.ts timedOutState; the result functions' timed_out).
    field("approver", null);
    field("comment", null);
    return problems;
  }
  const approver = decision.approver;
  if (typeof approver !== "string" || approver === "") {
    problems.push(`output.stages[0].approver is ${JSON.stringify(approver)}, expected who decided`);
  } else if (expected.approver && "exactly" in expected.approver && approver !== expected.approver.exactly) {
    problems.push(
      `output.stages[0].approver is ${JSON.stringify(approver)}, expected ${JSON.stringify(expected.approver.exactly)}`,
    );
  } else if (
    expected.approver &&
    "principal" in expected.approver &&
    !actorIsPrincipal(approver, expected.approver.principal)
  ) {
    problems.push(
      `output.stages[0].approver is ${JSON.stringify(approver)}, expected ${expected.approver.principal} or a session of it`,
    );
  }
  if (expected.comment !== undefined) field("comment", expected.comment);
  return problems;
}

/** What the suite's approver says, on every mechanism that carries a comment. */
export const IT_COMMENT = "approved by the sfn-approvals integration suite";
export const IT_REJECT_COMMENT = "rejected by the sfn-approvals integration suite";
/** The name the suite types into the approval page. */
export const IT_PAGE_NAME = "sfn-approvals integration suite";

export function commentFor(outcome: "approved" | "rejected"): string {
  return outcome === "approved" ? IT_COMMENT : IT_REJECT_COMMENT;
}

/**
 * The outcome each mechanism must report when the suite decides (or lets time out) as the
 * approver role `roleArn`, whose session is `sessionArn` (the activity worker records it).
 */
export function expectedOutcome(args: {
  mechanism: SuiteMechanism;
  outcome: Outcome;
  stage: string;
  request: unknown;
  roleArn?: string;
  sessionArn?: string;
}): OutcomeExpectation {
  const base = { outcome: args.outcome, stage: args.stage, mechanism: args.mechanism, request: args.request };
  if (args.outcome === "timed_out") return base;
  const comment = commentFor(args.outcome);
  switch (args.mechanism) {
    case "activity":
      // The worker records its own STS identity and passes the comment through.
      return { ...base, ...(args.sessionArn ? { approver: { exactly: args.sessionArn } } : {}), comment };
    case "codepipeline":
      // updatedBy of the approval action: the configured role or a session of it; comment = the summary.
      return { ...base, ...(args.roleArn ? { approver: { principal: args.roleArn } } : {}), comment };
    case "ssm-automation":
      // ApproverDecisions as SSM words them: only required to name someone (docs/unknowns.md row 3 is checked apart).
      return base;
    case "email-link":
    case "sns-callback":
      return { ...base, approver: { exactly: pageApprover(IT_PAGE_NAME) }, comment };
  }
}
