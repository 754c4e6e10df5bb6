// What every mechanism component offers the workflow (and any state machine that embeds it).
import * as pulumi from "@pulumi/pulumi";
import { Mechanism } from "../../functions/contract";
import { AslStates, TaskStateOptions } from "../workflow/asl";
import { PolicyStatement } from "../shared/iam";
import type { ApproverPolicyReport } from "../shared/principals";

export interface ApprovalTaskState {
  /** The Task state and its helper states, keyed by state name; the entry state is `options.stateName`. */
  states: pulumi.Output<AslStates>;
  /** What the state machine's role needs to run these states. */
  statements: pulumi.Output<PolicyStatement[]>;
}

export interface ApprovalStage {
  readonly stage: string;
  readonly mechanism: Mechanism;
  /** The longest the stage's Task state waits (its TimeoutSeconds). */
  readonly maxWaitSeconds: number;
  /** The longest the stage's states run after that wait (a slack stage closing its timed-out request); the execution's timeout counts it. */
  readonly afterWaitSeconds?: number;
  /**
   * The topic whose subscribers are reminded while the stage waits (its notify addresses, or the
   * approvers of an email stage); undefined when the stage has nobody to remind.
   */
  readonly reminderTopicArn?: pulumi.Output<string>;
  /**
   * A function that reminds instead (a slack stage's follow-up function, replying in the message's
   * thread): the reminder branch invokes it with { action: "remind", stage, executionArn }.
   */
  readonly reminderFunctionArn?: pulumi.Output<string>;
  /** What the stack output `stages[]` shows of this stage besides its config (documentName, topicArn, ...). */
  readonly stackOutput: pulumi.Output<Record<string, string>>;
  taskState(options: TaskStateOptions): ApprovalTaskState;
  /** Lets the mechanism's decision sender call SendTaskSuccess on exactly this state machine. */
  grantTaskResponse(stateMachineArn: pulumi.Input<string>): void;
  /** A stage whose mechanism gives approvers a policy: its name, and where it is attached or what is left to do. */
  readonly approverPolicyReport?: ApproverPolicyReport;
}

/** A stage's part of the stack output, as one Output of plain strings. */
export function stageStackOutput(outputs: Record<string, pulumi.Input<string>>): pulumi.Output<Record<string, string>> {
  return pulumi.output(outputs) as pulumi.Output<Record<string, string>>;
}
