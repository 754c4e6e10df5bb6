// Amazon States Language building blocks shared by every mechanism and the workflow.
import { Mechanism } from "../functions/contract";

export type AslState = Record<string, unknown> & { Type: string };
export type AslStates = Record<string, AslState>;

export interface AslDefinition {
  Comment?: string;
  StartAt: string;
  TimeoutSeconds?: number;
  States: AslStates;
}

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
export const LAMBDA_SERVICE_RETRY = {
  ErrorEquals: ["Lambda.TooManyRequestsException"],
  IntervalSeconds: 2,
  MaxAttempts: 6,
  BackoffRate: 2,
};

export function timedOutStateName(stateName: string): string {
  return `${stateName} timed out`;
}

/** The Pass state that turns a States.Timeout into the `timed_out` stage decision. */
export function timedOutState(stage: string, mechanism: Mechanism, resultPath: string, next: string): AslState {
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
