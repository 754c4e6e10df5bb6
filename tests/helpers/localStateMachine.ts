// Runs a state machine definition in-process with aws-local-stepfunctions, every Task state
// answered by a local handler (never AWS).
//
// What the library does, from its build (3.0.0) and types:
// - A local handler gets the Task's effective input (after InputPath and Parameters), e.g.
//   { FunctionName, Payload: {...} } for lambda:invoke; what it returns is the task result
//   (for .waitForTaskToken: what the approver would send with SendTaskSuccess).
// - An error thrown by a handler is matched against Retry/Catch `ErrorEquals` by its `name`
//   (`States.ALL` matches any error, `States.TaskFailed` any Task error except States.Timeout).
//   So `Object.assign(new Error("..."), { name: "Lambda.ServiceException" })` simulates that error.
// - Task `TimeoutSeconds` is enforced with a real timer (default 60 s when absent) that raises
//   `States.Timeout`. The timeout flow therefore runs a definition whose waiting task has a tiny
//   TimeoutSeconds (1) and a handler that never answers: the real timeout, not a faked error.
// - HeartbeatSeconds is not enforced: a handler simulates a worker that stopped heartbeating by
//   throwing `heartbeatTimeout()` (an error named States.HeartbeatTimeout). The library matches
//   error names literally, but in the ASL spec and in Step Functions "States.Timeout" also matches
//   a heartbeat timeout ("a Task State either ran longer than TimeoutSeconds, or failed to
//   heartbeat for a time longer than HeartbeatSeconds"). runDefinition models that: every Retry
//   and Catch entry that lists States.Timeout runs as if it also listed States.HeartbeatTimeout
//   (retriers and catchers keep their order, so a States.HeartbeatTimeout retrier still comes first).
// - `$$.Task.Token` is not generated and `$$.State` is not
//   maintained: both come from the `context` passed here (Task.Token, State.EnteredTime), as do
//   Execution.Id and Execution.Name. Execution.Input and StartTime are set by the library.
// - The top-level TimeoutSeconds is enforced (ExecutionTimeoutError) -> status TIMED_OUT here.
// - JSONata states (QueryLanguage "JSONata") are not supported by the library. runDefinition
//   runs a JSONata Task (the sns-callback stage's) through an equivalent JSONPath Task: its
//   Parameters hand the handler wrapper the raw input and the context object, the wrapper
//   evaluates the state's own `Arguments` with the `jsonata` package (the reference
//   implementation) and `$states` = { input, context }, calls the test's handler with the result
//   (what the service integration would receive), and returns the state's `Output` evaluated with
//   `$states.result`; ResultPath "$" then makes that the state output, as in Step Functions. A
//   Catch with `Output: "{% $states.input %}"` becomes `ResultPath: null` (keep the input), one that
//   adds the error output as `failure` becomes `ResultPath: "$.failure"`; any
//   other JSONata construct is refused, so the emulation never silently differs. JSONata Tasks
//   inside Parallel branches (a stage with reminders) are emulated the same way.
// - The library removes every backslash from the string an intrinsic function returns
//   (BaseIntrinsicFunction.call), so States.JsonToString of a value holding a quote or a backslash
//   yields text that is not JSON, unlike Step Functions. runDefinition runs a Pass state whose
//   Parameters are exactly { "<key>.$": "States.JsonToString(<path>)" } or
//   { "<key>.$": "States.StringToJson(<path>)" } (the follow-up states carry a decision out of a
//   Parallel this way) as a Task with the same paths and Next, whose local handler applies
//   JSON.stringify or JSON.parse: what the intrinsic is documented to do. The state keeps its name.
import jsonata from "jsonata";
import { CATCH_OUTPUT_WITH_FAILURE, S3_PUT_OBJECT_RESOURCE } from "../../components/workflow/auditStates";
import { ExecutionTimeoutError, StateMachine } from "aws-local-stepfunctions";

export type TaskHandler = (input: any) => Promise<unknown>;

export interface RunOptions {
  /** Local handler per Task state name. A Task without one fails with `NoLocalTaskHandler`. */
  taskHandlers: Record<string, TaskHandler>;
  /**
   * Becomes `$$.Task.Token` (the library does not create task tokens). A function is called on
   * every read, so each Task can get its own token (the sandbox, scripts/demo/).
   */
  taskToken?: string | (() => string);
  /** `$$.Execution.Id`; defaults to DEFAULT_EXECUTION_ARN. */
  executionArn?: string;
  /** `$$.State.EnteredTime` (one fixed value for the whole run); defaults to DEFAULT_ENTERED_TIME. */
  stateEnteredTime?: string;
  /** Pause in milliseconds before every Retry attempt, instead of IntervalSeconds/BackoffRate. */
  retryPauseMs?: number;
  /** Milliseconds a Wait state (by name) waits instead of its Seconds (reminders in a test run). */
  waitMs?: Record<string, number>;
  /** Called with each event of the library's log as it happens (states entered, exited, failed, caught). */
  onEvent?: (event: RunEvent) => void;
}

/** An event of the library's log (its EventLog type is not exported): the fields read here. */
export interface RunEvent {
  type: string;
  state?: { name: string; type: string };
  Error?: string;
  Cause?: string;
}

export interface RunResult {
  status: "SUCCEEDED" | "FAILED" | "TIMED_OUT";
  output?: any;
  error?: string;
  cause?: string;
  /** Names of the states entered, in order (top level and nested). */
  statesEntered: string[];
}

export const DEFAULT_EXECUTION_ARN = "arn:aws:states:eu-west-1:123456789012:execution:sfn-approvals-test:local-run";
export const DEFAULT_ENTERED_TIME = "2026-11-22T10:00:00.000Z";
export const NO_HANDLER_ERROR = "NoLocalTaskHandler";
export const HEARTBEAT_TIMEOUT_ERROR = "States.HeartbeatTimeout";

/** What a Task sees when its activity worker (or callback) stops heartbeating for HeartbeatSeconds. */
export function heartbeatTimeout(): Error {
  return Object.assign(new Error("The task's worker sent no heartbeat within HeartbeatSeconds"), {
    name: HEARTBEAT_TIMEOUT_ERROR,
  });
}

/**
 * A copy of `machine` in which every Task's Retry/Catch entry naming States.Timeout also names
 * States.HeartbeatTimeout, as Step Functions matches them (see the header).
 */
function withHeartbeatTimeoutsAsTimeouts(machine: any): any {
  const copy = JSON.parse(JSON.stringify(machine));
  const visit = (scope: any) => {
    for (const state of Object.values<any>(scope?.States ?? {})) {
      if (state?.Type === "Task") {
        for (const entry of [...(state.Retry ?? []), ...(state.Catch ?? [])]) {
          const errors: unknown = entry?.ErrorEquals;
          if (Array.isArray(errors) && errors.includes("States.Timeout") && !errors.includes(HEARTBEAT_TIMEOUT_ERROR)) {
            errors.push(HEARTBEAT_TIMEOUT_ERROR);
          }
        }
      }
      for (const branch of state?.Branches ?? []) visit(branch);
      if (state?.ItemProcessor ?? state?.Iterator) visit(state.ItemProcessor ?? state.Iterator);
    }
  };
  visit(copy);
  return copy;
}

/** Names of every Task state, including those inside Parallel branches and Map processors. */
function taskStateNames(machine: any): string[] {
  const names: string[] = [];
  for (const [name, state] of Object.entries<any>(machine?.States ?? {})) {
    if (state?.Type === "Task") names.push(name);
    for (const branch of state?.Branches ?? []) names.push(...taskStateNames(branch));
    if (state?.ItemProcessor ?? state?.Iterator) names.push(...taskStateNames(state.ItemProcessor ?? state.Iterator));
  }
  return names;
}

const JSONATA_TASK_FIELDS = new Set([
  "Type",
  "QueryLanguage",
  "Comment",
  "Resource",
  "Arguments",
  "TimeoutSeconds",
  "Output",
  "Catch",
  "Retry",
  "Next",
  "End",
]);
const KEEP_INPUT = "{% $states.input %}";
/**
 * The JSONata Catch outputs emulated, each as the JSONPath ResultPath that does the same: keep the
 * input, or keep it with the error output ({Error, Cause}) added as `failure`.
 */
const CATCH_OUTPUTS = new Map<string, string | null>([
  [KEEP_INPUT, null],
  [CATCH_OUTPUT_WITH_FAILURE, "$.failure"],
]);

/** Evaluates every `{% %}` string of a JSONata field (at any depth) with `$states` bound. */
export async function evaluateJsonataField(value: unknown, states: Record<string, unknown>): Promise<unknown> {
  if (typeof value === "string") {
    const match = /^\{%([\s\S]*)%\}$/.exec(value);
    return match ? jsonata(match[1]).evaluate({}, { states }) : value;
  }
  if (Array.isArray(value)) return Promise.all(value.map((item) => evaluateJsonataField(item, states)));
  if (value !== null && typeof value === "object") {
    const entries = await Promise.all(
      Object.entries(value).map(async ([k, v]) => [k, await evaluateJsonataField(v, states)] as const),
    );
    return Object.fromEntries(entries);
  }
  return value;
}

interface JsonataTask {
  Arguments?: unknown;
  Output?: unknown;
}

const JSON_INTRINSIC = /^States\.(JsonToString|StringToJson)\((\$[^(),\s]*)\)$/;
const PASS_FIELDS = new Set(["Type", "Comment", "Parameters", "ResultPath", "InputPath", "OutputPath", "Next", "End"]);

/** The local handler of a JsonToString/StringToJson Pass (see the header); undefined for other states. */
function jsonIntrinsicPass(name: string, state: any): { task: any; handler: TaskHandler } | undefined {
  if (state?.Type !== "Pass" || !state.Parameters) return undefined;
  const entries = Object.entries<unknown>(state.Parameters);
  const match =
    entries.length === 1 && entries[0][0].endsWith(".$") && typeof entries[0][1] === "string"
      ? JSON_INTRINSIC.exec(entries[0][1] as string)
      : null;
  if (!match) return undefined;
  const unsupported = Object.keys(state).filter((key) => !PASS_FIELDS.has(key));
  if (unsupported.length > 0)
    throw new Error(`runDefinition: cannot emulate Pass '${name}' with ${unsupported.join(", ")}`);
  const key = entries[0][0].slice(0, -2);
  const [, intrinsic, path] = match;
  const { Parameters, Type, ...rest } = state;
  void Parameters;
  void Type;
  return {
    task: { ...rest, Type: "Task", Resource: "arn:aws:states:::local:json-intrinsic", Parameters: { "value.$": path } },
    handler: async ({ value }: { value: unknown }) => {
      if (intrinsic === "JsonToString") return { [key]: JSON.stringify(value) };
      if (typeof value !== "string")
        throw Object.assign(new Error(`States.StringToJson needs a string, got ${typeof value}`), {
          name: "States.Runtime",
        });
      return { [key]: JSON.parse(value) as unknown };
    },
  };
}

/** A copy of `machine` with every JSONata Task (Parallel branches included) replaced as described in the header. */
function withJsonataTasksEmulated(machine: any): {
  machine: any;
  jsonataTasks: Map<string, JsonataTask>;
  intrinsicPasses: Map<string, TaskHandler>;
} {
  const copy = JSON.parse(JSON.stringify(machine));
  const jsonataTasks = new Map<string, JsonataTask>();
  const intrinsicPasses = new Map<string, TaskHandler>();
  if (copy.QueryLanguage === "JSONata")
    throw new Error(
      "runDefinition: a JSONata workflow is not supported, only JSONata Task states in a JSONPath workflow",
    );
  const visit = (scope: any) => {
    for (const [name, state] of Object.entries<any>(scope.States ?? {})) {
      for (const branch of state.Branches ?? []) visit(branch);
      if (state.ItemProcessor ?? state.Iterator) throw new Error(`runDefinition: Map state '${name}' is not emulated`);
      const pass = jsonIntrinsicPass(name, state);
      if (pass) {
        scope.States[name] = pass.task;
        intrinsicPasses.set(name, pass.handler);
        continue;
      }
      if (state.QueryLanguage !== "JSONata") continue;
      const unsupported = Object.keys(state).filter((key) => !JSONATA_TASK_FIELDS.has(key));
      if (state.Type !== "Task" || unsupported.length > 0) {
        throw new Error(
          `runDefinition: cannot emulate JSONata state '${name}' (${state.Type}; unsupported fields: ${unsupported.join(", ") || "none"})`,
        );
      }
      const catchers = (state.Catch ?? []).map((catcher: any) => {
        const keys = Object.keys(catcher).sort().join(",");
        const resultPath = keys === "ErrorEquals,Next,Output" ? CATCH_OUTPUTS.get(catcher.Output) : undefined;
        if (resultPath === undefined) {
          throw new Error(
            `runDefinition: cannot emulate a Catch of '${name}' other than { ErrorEquals, Output: ${[...CATCH_OUTPUTS.keys()].map((o) => `"${o}"`).join(" or ")}, Next }`,
          );
        }
        return { ErrorEquals: catcher.ErrorEquals, ResultPath: resultPath, Next: catcher.Next };
      });
      jsonataTasks.set(name, { Arguments: state.Arguments, Output: state.Output });
      const { QueryLanguage, Arguments, Output, Catch, ...rest } = state;
      void QueryLanguage;
      void Arguments;
      void Output;
      void Catch;
      scope.States[name] = {
        ...rest,
        Parameters: { "input.$": "$", "context.$": "$$" },
        ...(catchers.length > 0 ? { Catch: catchers } : {}),
      };
    }
  };
  visit(copy);
  return { machine: copy, jsonataTasks, intrinsicPasses };
}

/**
 * The library arms a setTimeout for the execution's and each Task's TimeoutSeconds; Node fires a
 * delay above 2^31-1 ms (about 24.8 days) at once (TimeoutOverflowWarning). Longer ones are cut to
 * that: no local run lasts that long, and a real timeout stays real.
 */
const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);
function withTimersThatFit(machine: any): any {
  const visit = (scope: any) => {
    if (typeof scope?.TimeoutSeconds === "number" && scope.TimeoutSeconds > MAX_TIMER_SECONDS)
      scope.TimeoutSeconds = MAX_TIMER_SECONDS;
    for (const state of Object.values<any>(scope?.States ?? {})) {
      if (typeof state?.TimeoutSeconds === "number" && state.TimeoutSeconds > MAX_TIMER_SECONDS)
        state.TimeoutSeconds = MAX_TIMER_SECONDS;
      for (const branch of state?.Branches ?? []) visit(branch);
      if (state?.ItemProcessor ?? state?.Iterator) visit(state.ItemProcessor ?? state.Iterator);
    }
  };
  visit(machine);
  return machine;
}

// The constructor validates the definition with asl-validator (about 0.1 s); runs are independent,
// so one StateMachine per distinct definition is enough.
const machines = new Map<string, StateMachine>();
function stateMachineFor(definition: object): StateMachine {
  const json = JSON.stringify(definition);
  let machine = machines.get(json);
  if (!machine) {
    machine = new StateMachine(withTimersThatFit(withHeartbeatTimeoutsAsTimeouts(definition)), {
      validationOptions: { checkPaths: true, checkArn: true },
    });
    machines.set(json, machine);
  }
  return machine;
}

export async function runDefinition(definition: object, input: unknown, options: RunOptions): Promise<RunResult> {
  const emulated = withJsonataTasksEmulated(definition);
  const machine = stateMachineFor(emulated.machine);
  const tasks = taskStateNames(definition);
  for (const name of Object.keys(options.taskHandlers)) {
    if (!tasks.includes(name))
      throw new Error(
        `runDefinition: a handler is given for '${name}', which is not a Task state (Tasks: ${tasks.join(", ")})`,
      );
  }
  // Without an override the library would invoke the real Lambda through the AWS SDK.
  const handlers: Record<string, TaskHandler> = {};
  for (const name of tasks) {
    const handler =
      options.taskHandlers[name] ??
      (async () => {
        throw Object.assign(new Error(`No local handler for Task state '${name}'`), { name: NO_HANDLER_ERROR });
      });
    const jsonataTask = emulated.jsonataTasks.get(name);
    handlers[name] = !jsonataTask
      ? handler
      : async ({ input: stateInput, context }: { input: unknown; context: unknown }) => {
          const args = await evaluateJsonataField(jsonataTask.Arguments, { input: stateInput, context });
          const result = await handler(args);
          return jsonataTask.Output === undefined
            ? result
            : evaluateJsonataField(jsonataTask.Output, { input: stateInput, context, result });
        };
  }
  for (const [name, handler] of emulated.intrinsicPasses) handlers[name] = handler;
  const retryIntervalOverrides =
    options.retryPauseMs === undefined
      ? undefined
      : Object.fromEntries(tasks.map((name) => [name, options.retryPauseMs!]));

  const executionArn = options.executionArn ?? DEFAULT_EXECUTION_ARN;
  const execution = machine.run(JSON.parse(JSON.stringify(input ?? null)), {
    overrides: {
      taskResourceLocalHandlers: handlers as any,
      retryIntervalOverrides,
      waitTimeOverrides: options.waitMs,
    },
    context: {
      Execution: { Id: executionArn, Name: executionArn.split(":").pop() },
      StateMachine: {
        Id: executionArn.replace(":execution:", ":stateMachine:").replace(/:[^:]*$/, ""),
        Name: executionArn.split(":").slice(-2, -1)[0],
      },
      State: { EnteredTime: options.stateEnteredTime ?? DEFAULT_ENTERED_TIME },
      ...(typeof options.taskToken === "function"
        ? {
            Task: {
              get Token() {
                return (options.taskToken as () => string)();
              },
            },
          }
        : options.taskToken !== undefined
          ? { Task: { Token: options.taskToken } }
          : {}),
    },
  });

  const statesEntered: string[] = [];
  // The library closes its event log when the execution ends (success, failure or timeout); read
  // as it happens, so onEvent sees each state live.
  const eventsRead = (async () => {
    for await (const event of execution.eventLogs) {
      if (event.type === "StateEntered") statesEntered.push(event.state.name);
      options.onEvent?.(event as RunEvent);
    }
  })();
  let result: Omit<RunResult, "statesEntered">;
  try {
    result = { status: "SUCCEEDED", output: await execution.result };
  } catch (thrown) {
    if (thrown instanceof ExecutionTimeoutError) {
      result = { status: "TIMED_OUT", error: "States.Timeout", cause: thrown.message };
    } else {
      // ExecutionError wraps the state's error: its name is the ASL error, its message the cause.
      const inner = (thrown as { cause?: unknown }).cause;
      const error = inner instanceof Error ? inner : (thrown as Error);
      result = { status: "FAILED", error: error.name, cause: error.message };
    }
  }

  await eventsRead;
  return { ...result, statesEntered };
}

/**
 * The audit bucket of a definition that writes its decision record: a handler for every record
 * Task (S3 PutObject) that keeps the parsed records in order. tests/auditFlows.test.ts tests the
 * records themselves; other flows use this so their runs write them.
 */
export function inMemoryAuditBucket(definition: any): { handlers: Record<string, TaskHandler>; records: any[] } {
  const records: any[] = [];
  const put: TaskHandler = async (request: { Body: string }) => {
    records.push(JSON.parse(request.Body));
    return { VersionId: `v${records.length}` };
  };
  const names = Object.entries<any>(definition.States)
    .filter(([, state]) => state.Resource === S3_PUT_OBJECT_RESOURCE)
    .map(([name]) => name);
  return { handlers: Object.fromEntries(names.map((name) => [name, put])), records };
}
