// The IAM check of `npm run doctor`: every row of the call table (scripts/lib/requiredCalls.ts) whose
// principal is an IAM role or user of the deployed stack, simulated live with
// iam:SimulatePrincipalPolicy (it evaluates the principal's attached, inline and boundary policies,
// and calls nothing it simulates).
import type { IAMClient } from "@aws-sdk/client-iam";
import { CALLS, Call, Facts, LambdaFacts, taskStates } from "./requiredCalls";
import { iamSdk } from "./doctorClients";

/* eslint-disable @typescript-eslint/no-explicit-any -- stage outputs and ASL states are JSON of many shapes, read as the call table reads them */

/** A request to simulate: who, what, on which ARNs, with which condition keys. */
export interface LiveRequest {
  principal: string;
  /** Who the table says makes it, and for which stage or Task (for the report). */
  who: string;
  action: string;
  resources: string[];
  context: Record<string, string | string[]>;
}

export interface LiveRequests {
  requests: LiveRequest[];
  /** Rows whose resources could not be named (e.g. a function that could not be described), with why. */
  unnamed: Array<{ who: string; action: string; why: string }>;
  /** Rows not simulated, counted by reason. */
  skipped: Record<string, number>;
}

/**
 * Rows of these principals are not simulated live: AWS services act under trust and resource
 * policies (SimulatePrincipalPolicy takes an IAM user, group or role as PolicySourceArn), the
 * deployer and the operators are people the outputs do not name. The offline test covers them.
 */
const NOT_LIVE = /^(service |deployer$|operators$)/;
/**
 * kms:* rows are granted by the execution data key's policy (components/workflow/executionDataKey.ts),
 * not by identity policies; SimulatePrincipalPolicy evaluates a resource policy "for IAM users only"
 * (IAM API reference, SimulatePrincipalPolicy), so a role's grant there would show as denied.
 */
const RESOURCE_POLICY_GRANT = /^kms:/i;
const IAM_PRINCIPAL = /^arn:aws[a-z-]*:iam::\d{12}:(user|role)\//;

export interface LiveFacts {
  base: Omit<
    Facts,
    | "stage"
    | "fn"
    | "start"
    | "result"
    | "deadLetterQueueArn"
    | "decisionRuleArn"
    | "pipelineArn"
    | "bucketArn"
    | "sourceKey"
    | "tableArn"
    | "task"
  >;
  stateMachineRoleArn: string;
  definitionStates: Record<string, unknown>;
  /** Stage outputs (empty with --state-machine-arn only). */
  stages: Array<Record<string, any>>;
  functions: LambdaFacts[];
  /** The stage's facts the outputs and AWS told (functions, queue, rule, pipeline). */
  stageFacts: (stage: Record<string, any>) => Facts;
}

/** Every request of the table the live check can make, mirroring how tests/iamSimulation.test.ts expands rows. */
export function liveRequests(live: LiveFacts): LiveRequests {
  const requests: LiveRequest[] = [];
  const unnamed: LiveRequests["unnamed"] = [];
  const skipped: Record<string, number> = {};
  const seen = new Set<string>();
  const runFacts: Facts = { ...live.stageFacts({}), stage: { roleArn: live.stateMachineRoleArn } };

  const principalsOf = (call: Call, facts: Facts): Array<string | undefined> => {
    switch (call.who) {
      case "start function":
        return [facts.start?.roleArn];
      case "result function":
        return [facts.result?.roleArn];
      case "page function":
        return [facts.page?.roleArn];
      case "interaction function":
        return [facts.slack?.interaction?.roleArn];
      case "follow-up function":
        return [facts.slack?.followUp?.roleArn];
      case "function":
        return [facts.fn?.roleArn];
      case "automation role":
        return [facts.stage.automationRoleArn];
      case "pipeline role":
        return [facts.stage.pipelineRoleArn];
      case "state machine":
        return [live.stateMachineRoleArn];
      case "approvers":
        return ((facts.stage.approvers ?? []) as string[]).filter((a) => IAM_PRINCIPAL.test(a));
      default:
        return [];
    }
  };
  const subjects = (call: Call): Array<{ facts: Facts; subject: string }> => {
    if (call.part === "every function")
      return live.functions.map((fn) => ({ facts: { ...runFacts, fn }, subject: fn.arn.split(":").pop()! }));
    if (call.part === "approval page") return runFacts.page ? [{ facts: runFacts, subject: "approval page" }] : [];
    // Task rows: every Task whose Resource matches, whichever part it counts for (with only an ARN
    // the stages are unknown); identical requests are made once.
    if (call.task)
      return taskStates(live.definitionStates as Record<string, any>)
        .filter(([, state]) => call.task!.test(state.Resource))
        .map(([name, state]) => ({ facts: { ...runFacts, task: state }, subject: `Task '${name}'` }));
    if (call.part === "workflow") return [{ facts: runFacts, subject: "workflow" }];
    return live.stages
      .filter((s) => s.mechanism === call.part)
      .map((s) => ({ facts: live.stageFacts(s), subject: `stage ${s.name}` }));
  };

  for (const call of CALLS) {
    if (NOT_LIVE.test(call.who)) {
      skipped["made by AWS services, the deployer or operators (checked offline)"] =
        (skipped["made by AWS services, the deployer or operators (checked offline)"] ?? 0) + 1;
      continue;
    }
    if (RESOURCE_POLICY_GRANT.test(call.action)) {
      skipped["granted by the execution data key's policy (checked offline)"] =
        (skipped["granted by the execution data key's policy (checked offline)"] ?? 0) + 1;
      continue;
    }
    for (const { facts, subject } of subjects(call)) {
      const who = `${call.who} (${subject})`;
      for (const principal of principalsOf(call, facts)) {
        let resources: string[];
        try {
          resources = call.resources(facts);
        } catch (error) {
          unnamed.push({ who, action: call.action, why: (error as Error).message });
          continue;
        }
        if (!principal || resources.some((r) => typeof r !== "string" || r === "")) {
          unnamed.push({
            who,
            action: call.action,
            why: principal ? "a resource is unknown" : "the principal is unknown",
          });
          continue;
        }
        const context = {
          ...(IAM_PRINCIPAL.test(principal) ? { "aws:PrincipalArn": principal } : {}),
          ...call.context?.(facts),
        };
        const key = JSON.stringify([principal, call.action, resources, context]);
        if (seen.has(key)) continue;
        seen.add(key);
        requests.push({ principal, who, action: call.action, resources, context });
      }
    }
  }
  return { requests, unnamed, skipped };
}

export interface SimulatedRequest extends LiveRequest {
  /** "allowed", "implicitDeny" or "explicitDeny" (the worst over the request's resources). */
  decision: string;
}

type ContextEntry = {
  ContextKeyName: string;
  ContextKeyType: "string" | "stringList" | "boolean";
  ContextKeyValues: string[];
};

function contextEntries(context: Record<string, string | string[]>): ContextEntry[] {
  return Object.entries(context).map(([key, value]) =>
    Array.isArray(value)
      ? { ContextKeyName: key, ContextKeyType: "stringList", ContextKeyValues: value }
      : {
          ContextKeyName: key,
          ContextKeyType: value === "true" || value === "false" ? "boolean" : "string",
          ContextKeyValues: [value],
        },
  );
}

const RANK: Record<string, number> = { allowed: 0, implicitDeny: 1, explicitDeny: 2 };
const worse = (a: string, b: string) => ((RANK[b] ?? 3) > (RANK[a] ?? 3) ? b : a);

/**
 * Simulates the requests of one principal: one SimulatePrincipalPolicy per set of resources and
 * context (its actions together), following Marker. A request is allowed only when every result
 * for its action, and every resource-specific result, is "allowed".
 */
export async function simulatePrincipal(
  iam: IAMClient,
  principal: string,
  requests: LiveRequest[],
  progress: () => void,
): Promise<SimulatedRequest[]> {
  const groups = new Map<string, LiveRequest[]>();
  for (const request of requests) {
    const key = JSON.stringify([request.resources, request.context]);
    groups.set(key, [...(groups.get(key) ?? []), request]);
  }
  const simulated: SimulatedRequest[] = [];
  for (const group of groups.values()) {
    const actions = [...new Set(group.map((r) => r.action))];
    const decisions = new Map<string, string>();
    let marker: string | undefined;
    do {
      const answer = await iam.send(
        new (iamSdk().SimulatePrincipalPolicyCommand)({
          PolicySourceArn: principal,
          ActionNames: actions,
          ResourceArns: group[0].resources,
          ContextEntries: contextEntries(group[0].context),
          ...(marker ? { Marker: marker } : {}),
        }),
      );
      for (const result of answer.EvaluationResults ?? []) {
        const action = (result.EvalActionName ?? "").toLowerCase();
        let decision = result.EvalDecision ?? "unknown";
        for (const specific of result.ResourceSpecificResults ?? [])
          decision = worse(decision, specific.EvalResourceDecision ?? "unknown");
        decisions.set(action, worse(decisions.get(action) ?? "allowed", decision));
      }
      marker = answer.IsTruncated ? answer.Marker : undefined;
    } while (marker);
    progress();
    for (const request of group)
      simulated.push({ ...request, decision: decisions.get(request.action.toLowerCase()) ?? "no result" });
  }
  return simulated;
}
