// Amazon States Language building blocks shared by every mechanism and the workflow.
import { JSONATA_LINE_BREAKS, Mechanism, ONE_LINE_FIELD_MAX, TRUNCATION_MARK } from "../../functions/contract";

// The state types this project uses, with their fields as the Amazon States Language names them
// (https://states-language.net/spec.html and the Step Functions guide for JSONata): JSONPath states
// read and write with InputPath/Parameters/ResultPath/OutputPath, JSONata states with Arguments/Output.

/** A JSON value as written into a state (a JSONPath payload template or a JSONata "{% ... %}" string). */
export type AslJson = string | number | boolean | null | AslJson[] | { [key: string]: AslJson };
export type AslPayload = { [key: string]: AslJson };
export type QueryLanguage = "JSONPath" | "JSONata";

interface StateBase {
  Comment?: string;
  QueryLanguage?: QueryLanguage;
}
interface JsonPathInputOutput {
  InputPath?: string | null;
  OutputPath?: string | null;
}
interface JsonataOutput {
  Output?: AslJson;
  Assign?: AslPayload;
}
interface Transition {
  Next?: string;
  End?: true;
}

export interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: "FULL" | "NONE";
  Comment?: string;
}

export interface Catcher extends JsonataOutput {
  ErrorEquals: string[];
  Next: string;
  ResultPath?: string | null;
  Comment?: string;
}

export interface TaskState extends StateBase, JsonPathInputOutput, JsonataOutput, Transition {
  Type: "Task";
  Resource: string;
  Parameters?: AslPayload;
  Arguments?: AslPayload | string;
  ResultSelector?: AslPayload;
  ResultPath?: string | null;
  TimeoutSeconds?: number | string;
  TimeoutSecondsPath?: string;
  HeartbeatSeconds?: number | string;
  HeartbeatSecondsPath?: string;
  Credentials?: AslPayload;
  Retry?: Retrier[];
  Catch?: Catcher[];
}

export interface PassState extends StateBase, JsonPathInputOutput, JsonataOutput, Transition {
  Type: "Pass";
  Parameters?: AslPayload;
  Result?: AslJson;
  ResultPath?: string | null;
}

export interface ChoiceState extends StateBase, JsonPathInputOutput, JsonataOutput {
  Type: "Choice";
  Choices: ChoiceRule[];
  Default?: string;
}

export interface WaitState extends StateBase, JsonPathInputOutput, JsonataOutput, Transition {
  Type: "Wait";
  Seconds?: number | string;
  Timestamp?: string;
  SecondsPath?: string;
  TimestampPath?: string;
}

export interface SucceedState extends StateBase, JsonPathInputOutput, Pick<JsonataOutput, "Output"> {
  Type: "Succeed";
}

export interface FailState extends StateBase {
  Type: "Fail";
  Error?: string;
  ErrorPath?: string;
  Cause?: string;
  CausePath?: string;
}

export interface ParallelState extends StateBase, JsonPathInputOutput, JsonataOutput, Transition {
  Type: "Parallel";
  Branches: AslBranch[];
  Parameters?: AslPayload;
  Arguments?: AslPayload | string;
  ResultSelector?: AslPayload;
  ResultPath?: string | null;
  Retry?: Retrier[];
  Catch?: Catcher[];
}

export type AslState = TaskState | PassState | ChoiceState | WaitState | SucceedState | FailState | ParallelState;
export type AslStates = Record<string, AslState>;

/** A Parallel state's branch: a state machine of its own (state names are unique across all of them). */
export interface AslBranch {
  Comment?: string;
  QueryLanguage?: QueryLanguage;
  StartAt: string;
  States: AslStates;
}

export interface AslDefinition {
  Comment?: string;
  QueryLanguage?: QueryLanguage;
  StartAt: string;
  TimeoutSeconds?: number;
  States: AslStates;
}

// Choice rules. A JSONPath rule tests one Variable with one comparison operator, or combines rules
// with And/Or/Not; a JSONata rule is one Condition expression. Helpers in the style of aws-cdk's
// Condition class (aws/aws-cdk, packages/aws-cdk-lib/aws-stepfunctions/lib/condition.ts), as plain
// functions returning the ASL they render, so that a definition stays a JSON literal.

/** The value each comparison operator takes (the "...Path" forms take a reference path instead). */
interface ValueComparisons {
  StringEquals: string;
  StringLessThan: string;
  StringGreaterThan: string;
  StringLessThanEquals: string;
  StringGreaterThanEquals: string;
  NumericEquals: number;
  NumericLessThan: number;
  NumericGreaterThan: number;
  NumericLessThanEquals: number;
  NumericGreaterThanEquals: number;
  BooleanEquals: boolean;
  TimestampEquals: string;
  TimestampLessThan: string;
  TimestampGreaterThan: string;
  TimestampLessThanEquals: string;
  TimestampGreaterThanEquals: string;
}
type ComparisonOperators = ValueComparisons & { [K in keyof ValueComparisons as `${K}Path`]: string } & {
  StringMatches: string;
  IsNull: boolean;
  IsPresent: boolean;
  IsNumeric: boolean;
  IsString: boolean;
  IsBoolean: boolean;
  IsTimestamp: boolean;
};

/** One data test: a Variable (a JSONPath into the state input) and exactly one comparison operator. */
export type Comparison = {
  [K in keyof ComparisonOperators]: { Variable: string } & { [Op in K]: ComparisonOperators[Op] };
}[keyof ComparisonOperators];
export type Condition = Comparison | { And: Condition[] } | { Or: Condition[] } | { Not: Condition };
export type ChoiceRule =
  | (Condition & { Next: string; Comment?: string; Assign?: AslPayload })
  | { Condition: string; Next: string; Comment?: string; Assign?: AslPayload; Output?: AslJson };

export const isPresent = (variable: string): Comparison => ({ Variable: variable, IsPresent: true });
export const isString = (variable: string): Comparison => ({ Variable: variable, IsString: true });
export const isNumeric = (variable: string): Comparison => ({ Variable: variable, IsNumeric: true });
export const isBoolean = (variable: string): Comparison => ({ Variable: variable, IsBoolean: true });
export const stringEquals = (variable: string, value: string): Comparison => ({
  Variable: variable,
  StringEquals: value,
});
export const numericLessThan = (variable: string, value: number): Comparison => ({
  Variable: variable,
  NumericLessThan: value,
});
export const booleanEquals = (variable: string, value: boolean): Comparison => ({
  Variable: variable,
  BooleanEquals: value,
});
export const not = (condition: Condition): Condition => ({ Not: condition });
export const and = (...conditions: Condition[]): Condition => ({ And: conditions });
export const or = (...conditions: Condition[]): Condition => ({ Or: conditions });
/** A Choice rule: go to `next` when `condition` holds (CDK's `choice.when(condition, next)`). */
export const when = (condition: Condition, next: string): ChoiceRule => ({ ...condition, Next: next });

/** Where a mechanism's approval step reads the request, writes its decision and goes next. */
export interface TaskStateOptions {
  /** Name of the Task state; helper states get this name plus a suffix. */
  stateName: string;
  /** Reference path to the request object in the state input, e.g. "$.request". */
  requestPath: string;
  /** Reference path where the stage decision is written, e.g. "$.decisions.manager". */
  resultPath: string;
  /** State to go to after a decision (approved, rejected or timed out). */
  next: string;
  /**
   * The longest the start may be retried for capacity (components/mechanisms/capacityRetry.ts);
   * the workflow sets what the execution's year leaves, absent: what the stage asks for.
   */
  capacityWaitSeconds?: number;
}

/** The Pass state that turns a States.Timeout into the `timed_out` stage decision. */
export function timedOutState(stage: string, mechanism: Mechanism, resultPath: string, next: string): PassState {
  return {
    Type: "Pass",
    Comment: `No decision for stage '${stage}' within its timeout`,
    Parameters: {
      approved: false,
      decision: "timed_out",
      stage,
      mechanism,
      approver: null,
      comment: null,
      "decidedAt.$": "$$.State.EnteredTime",
    },
    ResultPath: resultPath,
    Next: next,
  };
}

/**
 * A JSONata string literal. JSONata string escapes are JSON's (\\, \", \n, \uXXXX; there is no \'),
 * so a JSON string is a JSONata string with the same value.
 */
export function jsonataString(text: string): string {
  return JSON.stringify(text);
}

/**
 * The JSONata expression that is `$states.input` with `valueExpression` written at `path`
 * (a JSONPath like "$.decisions.finance"): what ResultPath does in a JSONPath state.
 */
export function jsonataResultPath(path: string, valueExpression: string): string {
  const segments = path.split(".");
  if (
    segments[0] !== "$" ||
    segments.length < 2 ||
    !segments.slice(1).every((s) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(s))
  ) {
    throw new Error(`jsonataResultPath: '${path}' must be a plain dotted path like $.decisions.finance`);
  }
  const build = (base: string, rest: string[]): string => {
    if (rest.length === 0) return valueExpression;
    const [head, ...tail] = rest;
    return `$merge([${base}, {'${head}': ${build(`${base}.${head}`, tail)}}])`;
  };
  return build("$states.input", segments.slice(1));
}

/**
 * JSONata `$one($v)`: a request value as one line of an email, control characters turned into
 * spaces and cut to ONE_LINE_FIELD_MAX characters (functions/contract.ts, the request field rule).
 */
export const JSONATA_ONE_LINE =
  `$one := function($v) { ( $t := $replace($string($v), ${JSONATA_LINE_BREAKS}, ' '); ` +
  `$length($t) > ${ONE_LINE_FIELD_MAX} ? $substring($t, 0, ${ONE_LINE_FIELD_MAX - TRUNCATION_MARK.length}) & ${jsonataString(TRUNCATION_MARK)} : $t ) };`;
