// Checks a state machine definition with asl-validator plus our own lint for what it misses
// (DESIGN.md section 7): unknown `arn:aws:states:::` integrations, waits without a timeout,
// HeartbeatSeconds >= TimeoutSeconds, callback tasks that never pass their token, dangling
// transitions, unreachable states and a missing execution timeout.

interface AslValidatorError {
  "Error code": string;
  Message: string;
}
interface AslValidatorResult {
  isValid: boolean;
  errors: AslValidatorError[];
  errorsText(separator?: string): string;
}
import jsonata from "jsonata";

// asl-validator ships no type declarations; its CommonJS export is the validator function.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const aslValidator = require("asl-validator") as (
  definition: object,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => AslValidatorResult;

/** The Step Functions service integrations this project uses (optimized integrations, any partition). */
export const KNOWN_SERVICE_INTEGRATIONS: readonly string[] = [
  "lambda:invoke",
  "lambda:invoke.waitForTaskToken",
  "sns:publish",
  "sns:publish.waitForTaskToken",
  "states:startExecution",
  "states:startExecution.sync:2",
  // AWS SDK integration (arn:aws:states:::aws-sdk:<service>:<apiAction>): the decision record's write.
  "aws-sdk:s3:putObject",
];

const SERVICE_INTEGRATION = /^arn:(aws[a-z-]*):states:::(.+)$/;
const ACTIVITY = /^arn:aws[a-z-]*:states:[a-z]{2}(-[a-z]+)+-\d:\d{12}:activity:[A-Za-z0-9_-]{1,80}$/;
const OTHER_STATES_ARN = /^arn:aws[a-z-]*:states:/;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** True when some `key.$` field of the template (at any depth) evaluates an expression using `$$.Task.Token`. */
function passesTaskToken(template: unknown): boolean {
  if (Array.isArray(template)) return template.some(passesTaskToken);
  if (!isObject(template)) return false;
  return Object.entries(template).some(
    ([key, value]) =>
      (key.endsWith(".$") && typeof value === "string" && value.includes("$$.Task.Token")) || passesTaskToken(value),
  );
}

/** Every `{% expression %}` string inside a JSONata state's field, at any depth. */
function jsonataExpressions(value: unknown): string[] {
  if (typeof value === "string") {
    const match = /^\{%([\s\S]*)%\}$/.exec(value);
    return match ? [match[1]] : [];
  }
  if (Array.isArray(value)) return value.flatMap(jsonataExpressions);
  if (isObject(value)) return Object.values(value).flatMap(jsonataExpressions);
  return [];
}

/** True when some JSONata expression of the Arguments uses `$states.context.Task.Token`. */
function passesTaskTokenJsonata(args: unknown): boolean {
  return jsonataExpressions(args).some((expression) => expression.includes("$states.context.Task.Token"));
}

/** JSONata states: every expression must compile, and no JSONPath-only field may appear. */
function lintJsonataState(where: string, state: Json, problems: string[]): void {
  for (const field of ["InputPath", "Parameters", "ResultSelector", "ResultPath", "OutputPath"]) {
    if (field in state) problems.push(`${where}: a JSONata state cannot use ${field} (use Arguments and Output)`);
  }
  for (const catcher of Array.isArray(state.Catch) ? state.Catch : []) {
    if (isObject(catcher) && "ResultPath" in catcher)
      problems.push(`${where}: a JSONata state's Catch cannot use ResultPath (use Output)`);
  }
  for (const expression of jsonataExpressions(state)) {
    try {
      jsonata(expression);
    } catch (error) {
      problems.push(`${where}: JSONata expression does not compile: ${(error as Error).message}`);
    }
  }
}

/** Every state name a state can go to next: Next, Default, Choices[].Next and Catch[].Next. */
function transitions(state: Json): Array<{ field: string; target: unknown }> {
  const found: Array<{ field: string; target: unknown }> = [];
  if ("Next" in state) found.push({ field: "Next", target: state.Next });
  if ("Default" in state) found.push({ field: "Default", target: state.Default });
  if (Array.isArray(state.Choices)) {
    state.Choices.forEach((choice, i) => {
      if (isObject(choice) && "Next" in choice) found.push({ field: `Choices[${i}].Next`, target: choice.Next });
    });
  }
  if (Array.isArray(state.Catch)) {
    state.Catch.forEach((catcher, i) => {
      if (isObject(catcher) && "Next" in catcher) found.push({ field: `Catch[${i}].Next`, target: catcher.Next });
    });
  }
  return found;
}

function lintTask(where: string, state: Json, problems: string[]): void {
  const resource = typeof state.Resource === "string" ? state.Resource : "";
  const integration = SERVICE_INTEGRATION.exec(resource);
  if (integration && !KNOWN_SERVICE_INTEGRATIONS.includes(integration[2])) {
    problems.push(
      `${where}: unknown service integration Resource '${resource}' (known: ${KNOWN_SERVICE_INTEGRATIONS.map((i) => `arn:aws:states:::${i}`).join(", ")})`,
    );
  } else if (!integration && OTHER_STATES_ARN.test(resource) && !ACTIVITY.test(resource)) {
    problems.push(
      `${where}: Resource '${resource}' is neither a service integration (arn:aws:states:::...) nor an activity ARN (arn:aws:states:<region>:<account>:activity:<name>)`,
    );
  }

  const callback = resource.endsWith(".waitForTaskToken");
  const isWait = callback || ACTIVITY.test(resource);
  const hasTimeout = state.TimeoutSeconds !== undefined || state.TimeoutSecondsPath !== undefined;
  if (isWait && !hasTimeout) {
    problems.push(
      `${where}: waits for a callback or activity worker (Resource '${resource}') but has no TimeoutSeconds, so it can wait up to a year`,
    );
  }
  if (state.HeartbeatSeconds !== undefined) {
    if (
      typeof state.TimeoutSeconds === "number" &&
      typeof state.HeartbeatSeconds === "number" &&
      state.HeartbeatSeconds >= state.TimeoutSeconds
    ) {
      problems.push(
        `${where}: HeartbeatSeconds (${state.HeartbeatSeconds}) must be less than TimeoutSeconds (${state.TimeoutSeconds})`,
      );
    } else if (!hasTimeout) {
      problems.push(`${where}: has HeartbeatSeconds (${String(state.HeartbeatSeconds)}) but no TimeoutSeconds`);
    }
  }
  if (state.QueryLanguage === "JSONata") {
    if (callback && !passesTaskTokenJsonata(state.Arguments)) {
      problems.push(
        `${where}: a .waitForTaskToken task must pass $states.context.Task.Token in its Arguments (in a {% %} expression), or nobody can ever answer it`,
      );
    }
  } else if (callback && !passesTaskToken(state.Parameters)) {
    problems.push(
      `${where}: a .waitForTaskToken task must pass $$.Task.Token in its Parameters (in a 'key.$' field), or nobody can ever answer it`,
    );
  }
}

/** Lints one States scope (the top level, a Parallel branch or a Map processor). */
function lintScope(scope: string, machine: Json, problems: string[]): void {
  const states = isObject(machine.States) ? machine.States : {};
  const names = Object.keys(states);
  const startAt = machine.StartAt;
  if (typeof startAt !== "string" || !(startAt in states)) {
    problems.push(`${scope || "top level > "}StartAt '${String(startAt)}' is not a state of this scope`);
  }

  for (const [name, raw] of Object.entries(states)) {
    const where = `${scope}state '${name}'`;
    if (!isObject(raw)) {
      problems.push(`${where}: is not an object`);
      continue;
    }
    for (const { field, target } of transitions(raw)) {
      if (typeof target !== "string" || !(target in states)) {
        problems.push(`${where}: ${field} '${String(target)}' names no state of this scope`);
      }
    }
    if (raw.Type === "Task") lintTask(where, raw, problems);
    if (raw.QueryLanguage === "JSONata") lintJsonataState(where, raw, problems);
    if (raw.Type === "Parallel" && Array.isArray(raw.Branches)) {
      raw.Branches.forEach((branch, i) => {
        if (isObject(branch)) lintScope(`${where} branch ${i} > `, branch, problems);
      });
    }
    if (raw.Type === "Map") {
      const processor = raw.ItemProcessor ?? raw.Iterator;
      if (isObject(processor))
        lintScope(`${where} ${raw.ItemProcessor ? "ItemProcessor" : "Iterator"} > `, processor, problems);
    }
  }

  // Reachability: walk every transition from StartAt.
  const reached = new Set<string>();
  const queue = typeof startAt === "string" && startAt in states ? [startAt] : [];
  while (queue.length > 0) {
    const name = queue.shift()!;
    if (reached.has(name)) continue;
    reached.add(name);
    const state = states[name];
    if (!isObject(state)) continue;
    for (const { target } of transitions(state)) {
      if (typeof target === "string" && target in states && !reached.has(target)) queue.push(target);
    }
  }
  for (const name of names) {
    if (!reached.has(name))
      problems.push(`${scope}state '${name}': is not reachable from StartAt '${String(startAt)}'`);
  }
}

/** All problems of a definition: asl-validator's, then ours. An empty list means it passes. */
export function validateDefinition(definition: object): string[] {
  // asl-validator writes a default QueryLanguage into every state: give it a copy.
  const copy = JSON.parse(JSON.stringify(definition)) as object;
  const problems = aslValidator(copy, { checkPaths: true, checkArn: true }).errors.map(
    (error) => `asl-validator ${error["Error code"]}: ${error.Message}`,
  );

  if (!isObject(definition)) return [...problems, "the definition is not a JSON object"];
  const timeout = definition.TimeoutSeconds;
  if (typeof timeout !== "number" || !(timeout > 0)) {
    problems.push("top level: TimeoutSeconds is not set, so an execution can run for a year");
  }
  lintScope("", definition, problems);
  return problems;
}

/** Every state of a definition by name, Parallel branches included (names are unique machine-wide). */
export function allStates(definition: any): Record<string, any> {
  const states: Record<string, any> = {};
  const visit = (scope: any) => {
    for (const [name, state] of Object.entries<any>(scope?.States ?? {})) {
      if (name in states) throw new Error(`allStates: two states are named '${name}'`);
      states[name] = state;
      for (const branch of state?.Branches ?? []) visit(branch);
    }
  };
  visit(definition);
  return states;
}
