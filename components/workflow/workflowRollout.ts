// Publishes each revision of the workflow's state machine as a Step Functions version and keeps the
// alias that callers start through on it: all at once, or shifted gradually with a rollback when
// executions of the new version fail (`sfn-approvals:rollout`; docs/rollout.md).
import * as aws from "@pulumi/aws";
import * as awsNative from "@pulumi/aws-native";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { RolloutConfig, rolloutMinutes } from "./rolloutConfig";

/** The alias name: callers start `<state machine ARN>:live`. */
export const ALIAS_NAME = "live";
/** Time the alias update may take beyond the configured shift (the handler checks every 60 s). */
export const ROLLOUT_MARGIN_MINUTES = 30;

export interface WorkflowRolloutArgs {
  /** The ApprovalWorkflow's state machine: each of its revisions becomes a version. */
  stateMachine: Pick<aws.sfn.StateMachine, "arn" | "name" | "revisionId">;
  /** Its definition: the version's description names its hash, so a preview already shows a new version. */
  definition: pulumi.Input<string>;
  rollout: RolloutConfig;
}

/** "sha256:" and the first 16 hex digits of the definition's SHA-256. */
export function definitionDigest(definition: string): string {
  return `sha256:${createHash("sha256").update(definition).digest("hex").slice(0, 16)}`;
}

/** The version number of a state machine version ARN (arn:...:stateMachine:NAME:3 -> "3"). */
export function versionNumberOf(versionArn: string): string {
  return versionArn.slice(versionArn.lastIndexOf(":") + 1);
}

export class WorkflowRollout extends pulumi.ComponentResource {
  /** The version of the state machine's current revision. */
  readonly version: awsNative.stepfunctions.StateMachineVersion;
  /** What callers start: `<state machine ARN>:live`. */
  readonly alias: awsNative.stepfunctions.StateMachineAlias;
  /** Failed executions of the new version during a gradual shift (absent: all at once). */
  readonly rollbackAlarm?: aws.cloudwatch.MetricAlarm;
  readonly aliasArn: pulumi.Output<string>;

  constructor(name: string, args: WorkflowRolloutArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sfn-approvals:index:WorkflowRollout", name, {}, opts);
    const { stateMachine, rollout } = args;

    // A new revision id (UpdateStateMachine makes one for every change of definition or
    // configuration) replaces this resource, which publishes the revision as a new version. The first
    // revision has no id (DescribeStateMachine: "The first revision ID when you create the state
    // machine is null"); PublishStateMachineVersion takes INITIAL for it (SDK model, revisionId).
    // Retained on replacement: executions keep running on their version (DeleteStateMachineVersion
    // would not stop them, but their record names it and a rollback goes back to it); versions end
    // with the state machine (DeleteStateMachine deletes all its versions and aliases).
    this.version = new awsNative.stepfunctions.StateMachineVersion(
      `${name}-version`,
      {
        stateMachineArn: stateMachine.arn,
        stateMachineRevisionId: stateMachine.revisionId.apply((id) => id || "INITIAL"),
        description: pulumi.output(args.definition).apply((d) => `sfn-approvals definition ${definitionDigest(d)}`),
      },
      { parent: this, retainOnDelete: true },
    );

    const gradual = rollout.type !== "ALL_AT_ONCE";
    if (gradual) {
      // Executions started through the alias are also counted under StateMachineArn and Version
      // (Step Functions developer guide, "Dimensions for executions with version"): this alarm sees
      // the new version only, so failures of executions still running older versions (which may
      // be what the new version fixes) neither block nor roll back its deployment. A fresh alarm per
      // version starts without data, never already in ALARM. The workflow's failed-executions alarm
      // (every version) still tells the operators.
      const versionNumber = this.version.arn.apply(versionNumberOf);
      this.rollbackAlarm = new aws.cloudwatch.MetricAlarm(
        `${name}-rollback-alarm`,
        {
          name: pulumi.interpolate`${stateMachine.name}-v${versionNumber}-rollout`,
          alarmDescription: pulumi.interpolate`Executions of version ${versionNumber} of ${stateMachine.name} failed while the ${ALIAS_NAME} alias shifted to it: the shift rolls back`,
          namespace: "AWS/States",
          metricName: "ExecutionsFailed",
          dimensions: { StateMachineArn: stateMachine.arn, Version: versionNumber },
          statistic: "Sum",
          period: 60,
          evaluationPeriods: 1,
          threshold: 0,
          comparisonOperator: "GreaterThanThreshold",
          treatMissingData: "notBreaching",
        },
        { parent: this },
      );
    }

    // The deployment runs inside the alias update (CloudFormation's handler, through Cloud Control):
    // `pulumi up` waits for the whole shift, so the update may take that long.
    const minutes = rolloutMinutes(rollout) + ROLLOUT_MARGIN_MINUTES;
    this.alias = new awsNative.stepfunctions.StateMachineAlias(
      `${name}-alias`,
      {
        name: ALIAS_NAME,
        description: pulumi.interpolate`What callers start: the current version of ${stateMachine.name}`,
        deploymentPreference: {
          stateMachineVersionArn: this.version.arn,
          type: rollout.type,
          ...(rollout.type !== "ALL_AT_ONCE"
            ? {
                percentage: rollout.percentage,
                interval: rollout.intervalMinutes,
                // Names, not ARNs: the handler looks alarms up by name (DescribeAlarms AlarmNames).
                alarms: [this.rollbackAlarm!.name],
              }
            : {}),
        },
      },
      { parent: this, customTimeouts: { create: "30m", update: `${minutes}m` } },
    );
    this.aliasArn = this.alias.arn;
    this.registerOutputs({ aliasArn: this.aliasArn, versionArn: this.version.arn });
  }
}
