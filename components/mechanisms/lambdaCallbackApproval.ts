// What the mechanisms built on a start function + a result function have in common: the Task
// state that invokes the start function and waits, and the right of the result function to answer it.
import * as pulumi from "@pulumi/pulumi";
import { Mechanism, timedOutStateName } from "../../functions/contract";
import { ApprovalFunction } from "../shared/approvalFunction";
import { ApprovalStage, ApprovalTaskState } from "./approvalStage";
import { AslStates, Retrier, TaskStateOptions, timedOutState } from "../workflow/asl";
import {
  capacityErrors,
  capacityRetrier,
  noCapacityState,
  noCapacityStateName,
  wantedCapacityWaitSeconds,
} from "./capacityRetry";

/**
 * The Retry of a Lambda callback Task: only quota and throttling refusals (capacityRetry.ts), which
 * mean nothing was started. Other Lambda service errors can happen after the function started an
 * approval, and a retry would ask the approvers twice; those fail the execution with their error.
 */
export function lambdaCallbackRetry(mechanism: Mechanism, capacityWaitSeconds: number): Retrier {
  return capacityRetrier(capacityErrors(mechanism), capacityWaitSeconds);
}

/**
 * A callback Task (`lambda:invoke.waitForTaskToken`): invokes `functionArn` with the task token,
 * the request, the stage and the execution ARN, then waits for SendTaskSuccess. A timeout becomes
 * the `timed_out` decision, and so does a start refused for capacity until `capacityWaitSeconds`
 * ran out (the `no capacity` Pass); any other error fails the execution with that error (never approves).
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
  const noCapacity = noCapacityStateName(options.stateName);
  const capacityWait = options.capacityWaitSeconds ?? wantedCapacityWaitSeconds(mechanism, args.timeoutSeconds);
  const retry = lambdaCallbackRetry(mechanism, capacityWait);
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
      Retry: [retry],
      Catch: [
        { ErrorEquals: ["States.Timeout"], ResultPath: options.resultPath, Next: timedOut },
        { ErrorEquals: [...retry.ErrorEquals], ResultPath: options.resultPath, Next: noCapacity },
      ],
      Next: options.next,
    },
    [timedOut]: timedOutState(stage, mechanism, options.resultPath, options.next),
    [noCapacity]: noCapacityState({
      stage,
      mechanism,
      errorPath: `${options.resultPath}.Error`,
      resultPath: options.resultPath,
      next: options.next,
    }),
  };
}

/** The Task of a stage whose start function is invoked with the token, and what the state machine needs to run it. */
export function lambdaCallbackTaskState(
  stage: { stage: string; mechanism: Mechanism; startFunction: ApprovalFunction; maxWaitSeconds: number },
  options: TaskStateOptions,
): ApprovalTaskState {
  const args = { ...stage, options };
  const functionArn = args.startFunction.function.arn;
  return {
    states: functionArn.apply((arn) =>
      lambdaCallbackTaskStates({
        options: args.options,
        functionArn: arn,
        stage: args.stage,
        mechanism: args.mechanism,
        timeoutSeconds: args.maxWaitSeconds,
      }),
    ),
    statements: pulumi.output([
      {
        Sid: `InvokeStart${args.stage.replace(/[^a-z0-9]/gi, "")}`,
        Effect: "Allow" as const,
        Action: ["lambda:InvokeFunction"],
        Resource: [functionArn, pulumi.interpolate`${functionArn}:*`],
      },
    ]),
  };
}

/** Lets `resultFunction` answer tasks of exactly this state machine. */
export function allowTaskAnswers(
  resultFunction: ApprovalFunction,
  resourceName: string,
  stateMachineArn: pulumi.Input<string>,
): void {
  resultFunction.allow(resourceName, [
    {
      Sid: "SendDecisionToStateMachine",
      Effect: "Allow",
      Action: ["states:SendTaskSuccess", "states:SendTaskFailure"],
      Resource: [stateMachineArn],
    },
  ]);
}

/** Arguments every Lambda callback mechanism takes. */
export interface LambdaCallbackStageArgs {
  /** Stage name, ^[a-z][a-z0-9-]{0,30}$. */
  stage: string;
  /** Email addresses subscribed to the stage's approval notifications. */
  notify: string[];
  /** Start of physical resource names; defaults to "<project>-<stack>". */
  namePrefix?: string;
  /** Where the dead-letter alarm publishes (an SNS topic ARN), e.g. ApprovalAlerts.topic.arn. */
  alarmActions?: pulumi.Input<string>[];
}

/** The base of mechanisms whose Task invokes a start function and whose result function answers it. */
export abstract class LambdaCallbackApproval extends pulumi.ComponentResource implements ApprovalStage {
  abstract readonly stage: string;
  abstract readonly mechanism: Mechanism;
  abstract readonly maxWaitSeconds: number;
  abstract readonly stackOutput: pulumi.Output<Record<string, string>>;
  abstract readonly startFunction: ApprovalFunction;
  abstract readonly resultFunction: ApprovalFunction;

  constructor(
    type: string,
    protected readonly resourceName: string,
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super(type, resourceName, {}, opts);
  }

  taskState(options: TaskStateOptions): ApprovalTaskState {
    return lambdaCallbackTaskState(this, options);
  }

  grantTaskResponse(stateMachineArn: pulumi.Input<string>): void {
    allowTaskAnswers(this.resultFunction, `${this.resourceName}-result-callback`, stateMachineArn);
  }
}
