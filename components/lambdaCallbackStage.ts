// What the mechanisms built on a start function + a result function have in common: the Task
// state that invokes the start function and waits, and the right of the result function to answer it.
import * as pulumi from "@pulumi/pulumi";
import { Mechanism } from "../functions/contract";
import { ApprovalFunction } from "./approvalFunction";
import { ApprovalTaskState } from "./approvalStage";
import { TaskStateOptions, lambdaCallbackTaskStates } from "./asl";

export function lambdaCallbackTaskState(args: {
  stage: string;
  mechanism: Mechanism;
  startFunction: ApprovalFunction;
  maxWaitSeconds: number;
  options: TaskStateOptions;
}): ApprovalTaskState {
  const functionArn = args.startFunction.function.arn;
  return {
    states: functionArn.apply((arn) => lambdaCallbackTaskStates({
      options: args.options,
      functionArn: arn,
      stage: args.stage,
      mechanism: args.mechanism,
      timeoutSeconds: args.maxWaitSeconds,
    })),
    statements: pulumi.output([{
      Sid: `InvokeStart${args.stage.replace(/[^a-z0-9]/gi, "")}`,
      Effect: "Allow" as const,
      Action: ["lambda:InvokeFunction"],
      Resource: [functionArn, pulumi.interpolate`${functionArn}:*`],
    }]),
  };
}

/** Lets `resultFunction` answer tasks of exactly this state machine. */
export function allowTaskAnswers(resultFunction: ApprovalFunction, resourceName: string, stateMachineArn: pulumi.Input<string>): void {
  resultFunction.allow(resourceName, [{
    Sid: "SendDecisionToStateMachine",
    Effect: "Allow",
    Action: ["states:SendTaskSuccess", "states:SendTaskFailure"],
    Resource: [stateMachineArn],
  }]);
}
