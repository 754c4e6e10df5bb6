// Amazon States Language building blocks shared by every mechanism and the workflow.
import {
  JSONATA_LINE_BREAKS,
  Mechanism,
  ONE_LINE_FIELD_MAX,
  TRUNCATION_MARK,
  timedOutStateName,
} from "../../functions/contract";

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
}

/**
 * Only throttling is retried: it means the function never ran. Other Lambda service errors can
 * happen after the function started an approval, and a retry would ask the approvers twice; those
 * fail the execution with their error instead.
 */
export const LAMBDA_SERVICE_RETRY: Retrier = {
  ErrorEquals: ["Lambda.TooManyRequestsException"],
  IntervalSeconds: 2,
  MaxAttempts: 6,
  BackoffRate: 2,
};

export { timedOutStateName };

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
 * A callback Task (`lambda:invoke.waitForTaskToken`): invokes `functionArn` with the task token,
 * the request, the stage and the execution ARN, then waits for SendTaskSuccess. A timeout becomes
 * the `timed_out` decision; any other error fails the execution with that error (never approves).
 */
export function lambdaCallbackTaskStates(args: {
  options: TaskStateOptions;
  functionArn: string;
  stage: string;
  mechanism: Mechanism;
  timeoutSeconds: number;
}): AslStates {
  const { options, stage, mechanism } = args;
  const timedOut = timedOutStateName(options.stateName);
  return {
    [options.stateName]: {
      Type: "Task",
      Comment: `Approval stage '${stage}' (${mechanism}): waits for the decision`,
      Resource: "arn:aws:states:::lambda:invoke.waitForTaskToken",
      Parameters: {
        FunctionName: args.functionArn,
        Payload: {
          "taskToken.$": "$$.Task.Token",
          "request.$": options.requestPath,
          stage,
          "executionArn.$": "$$.Execution.Id",
        },
      },
      TimeoutSeconds: args.timeoutSeconds,
      ResultPath: options.resultPath,
      Retry: [LAMBDA_SERVICE_RETRY],
      Catch: [{ ErrorEquals: ["States.Timeout"], ResultPath: options.resultPath, Next: timedOut }],
      Next: options.next,
    },
    [timedOut]: timedOutState(stage, mechanism, options.resultPath, options.next),
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

/**
 * Base64url (RFC 4648 section 5, no padding) of the task token, in JSONata: the same text as
 * encodeToken() in functions/mechanisms/email/approvalLink.ts. JSONPath intrinsics cannot do this (States.Base64Encode
 * yields '+', '/' and '='; there is no replace intrinsic), which is why this one state uses JSONata.
 */
export const JSONATA_URL_SAFE_TOKEN =
  "$replace($replace($replace($base64encode($states.context.Task.Token), '+', '-'), '/', '_'), '=', '')";

/**
 * The sns-callback Task (`sns:publish.waitForTaskToken`): Step Functions itself publishes the
 * approval email to the stage's topic, with the approval link holding the URL-safe token, and
 * waits for the approval page's SendTaskSuccess. No Lambda on the send path. The state is JSONata
 * (the rest of the workflow stays JSONPath): its Output writes the decision where ResultPath
 * would, and a timeout keeps the input (`$states.input`) for the `timed_out` Pass state.
 */
export function snsCallbackTaskStates(args: {
  options: TaskStateOptions;
  topicArn: string;
  pageUrl: string;
  stage: string;
  timeoutSeconds: number;
}): AslStates {
  const { options, stage } = args;
  if (options.requestPath !== "$.request")
    throw new Error(`snsCallbackTaskStates: the request must be at $.request, not ${options.requestPath}`);
  const timedOut = timedOutStateName(options.stateName);
  const str = jsonataString;
  // Every value from the request is turned into text with $string (a number or an object stays
  // readable); the subject loses line breaks and control characters and keeps at most 99 characters
  // (SNS Publish: "UTF-8 text with no line breaks or control characters, and less than 100 characters").
  const message = [
    "(",
    "$r := $states.input.request;",
    // One-line fields lose line breaks and control characters (as oneLine() in functions/mechanisms/email/emailLink.ts).
    JSONATA_ONE_LINE,
    `$link := ${str(`${args.pageUrl}?t=`)} & ${JSONATA_URL_SAFE_TOKEN} & '&e=' & $encodeUrlComponent($states.context.Execution.Id) & ${str(`&s=${stage}`)};`,
    `$deadline := $fromMillis($toMillis($states.context.State.EnteredTime) + ${args.timeoutSeconds * 1000});`,
    "$line := function($label, $value) { $exists($value) ? $label & ': ' & $one($value) & '\\n' : '' };",
    "'Approval requested: ' & $one($r.title) & '\\n'",
    "& $line('Request', $r.requestId) & $line('Requester', $r.requester)",
    "& ($exists($r.amount) ? 'Amount: ' & $string($r.amount) & ($exists($r.currency) ? ' ' & $one($r.currency) : '') & '\\n' : '')",
    "& $line('Link', $r.link)",
    "& ($exists($r.details) ? 'Details: ' & $substring($string($r.details), 0, 2000) & '\\n' : '')",
    `& '\\nWorkflow: ' & $states.context.StateMachine.Name & '\\nExecution: ' & $states.context.Execution.Name & ${str(`\nStage: ${stage}\n`)}`,
    "& 'Decide by: ' & $deadline & '\\n\\n'",
    "& 'Review the request and approve or reject it here:\\n' & $link & '\\n\\n'",
    `& ${str("Opening the link decides nothing: the page shows the request and asks you to press Approve or Reject. The link stops working once someone decides or the request expires. Anyone who has this email can decide, so do not forward it.\n")}`,
    ")",
  ].join(" ");
  const subject = `$substring($replace('Approval needed: ' & $string($states.input.request.title), ${JSONATA_LINE_BREAKS}, ' '), 0, 99)`;
  return {
    [options.stateName]: {
      Type: "Task",
      QueryLanguage: "JSONata",
      Comment: `Approval stage '${stage}' (sns-callback): publishes the approval email and waits for the decision`,
      Resource: "arn:aws:states:::sns:publish.waitForTaskToken",
      Arguments: {
        TopicArn: args.topicArn,
        Subject: `{% ${subject} %}`,
        Message: `{% ${message} %}`,
      },
      TimeoutSeconds: args.timeoutSeconds,
      Output: `{% ${jsonataResultPath(options.resultPath, "$states.result")} %}`,
      Catch: [{ ErrorEquals: ["States.Timeout"], Output: "{% $states.input %}", Next: timedOut }],
      Next: options.next,
    },
    [timedOut]: timedOutState(stage, "sns-callback", options.resultPath, options.next),
  };
}
