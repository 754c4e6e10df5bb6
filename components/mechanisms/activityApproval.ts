// The activity mechanism: the Task's Resource is a Step Functions activity; approvers run
// `npm run approval-worker`, which polls it, shows the request and sends the decision. Only the
// configured approvers may poll and answer this activity, through a policy the component attaches
// (to IAM users and roles, or to Identity Center permission sets: components/shared/principals.ts).
// Flow and diagram: docs/mechanisms/activity.md.
//
// Classic `aws.sfn.Activity` rather than `@pulumi/aws-native`: the same CreateActivity call, through
// the provider every other resource here uses (one provider, no Cloud Control API permissions).
//
// With the stack's data key (ExecutionDataKey), the activity's task inputs are encrypted with it; the
// approvers decrypt them on GetActivityTask (their policy and the key policy both allow it, for
// this activity's encryption context only).
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { Mechanism, timedOutStateName } from "../../functions/contract";
import { ApprovalStage, ApprovalTaskState, stageStackOutput } from "./approvalStage";
import { AslStates, TaskStateOptions, timedOutState } from "../workflow/asl";
import { accountFacts } from "../shared/iam";
import { checkedName, defaultNamePrefix } from "../shared/naming";
import { ApproverAccess, ApproverPolicyReport, createApproverPolicy } from "../shared/principals";
import { ExecutionDataKey } from "../workflow/executionDataKey";

import { ACTIVITY_HEARTBEAT_SECONDS, ACTIVITY_RELEASES } from "./activityTiming";

export interface ActivityApprovalArgs {
  /** Stage name, ^[a-z][a-z0-9-]{0,30}$. */
  stage: string;
  /** IAM user or role ARNs (of the stack's account) that may run the approval worker. */
  approvers: string[];
  /** How long the stage waits for a decision, in seconds (60..31536000). */
  timeoutSeconds: number;
  /** Start of physical resource names; defaults to "<project>-<stack>". */
  namePrefix?: string;
  /** The stack's data key: encrypts the activity's task inputs. */
  dataKey?: ExecutionDataKey;
  /** Where the approver policy is attached (default: to every approver but IAM Identity Center roles). */
  approverAccess?: ApproverAccess;
}

export class ActivityApproval extends pulumi.ComponentResource implements ApprovalStage {
  readonly stage: string;
  readonly mechanism: Mechanism = "activity";
  readonly maxWaitSeconds: number;
  readonly timeoutSeconds: number;
  readonly heartbeatSeconds: number;
  readonly activity: aws.sfn.Activity;
  readonly approverPolicy: aws.iam.Policy;
  readonly approverPolicyReport: ApproverPolicyReport;
  readonly stackOutput: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: ActivityApprovalArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sfn-approvals:index:ActivityApproval", name, {}, opts);
    if (args.approvers.length < 1) throw new Error(`ActivityApproval ${name}: needs at least one approver`);
    if (args.timeoutSeconds < 60 || args.timeoutSeconds > 365 * 86400) {
      throw new Error(`ActivityApproval ${name}: timeout must be 60..31536000 seconds, got ${args.timeoutSeconds}`);
    }
    this.stage = args.stage;
    // Each release of the task by a vanished worker starts the Task's wait again, so the stage can
    // wait its timeout once more per release; the execution's own timeout must leave room for that,
    // so that the stage still ends as `timed_out` rather than the execution timing out.
    this.maxWaitSeconds = args.timeoutSeconds * (ACTIVITY_RELEASES + 1);
    this.timeoutSeconds = args.timeoutSeconds;
    this.heartbeatSeconds = Math.min(ACTIVITY_HEARTBEAT_SECONDS, args.timeoutSeconds - 1);
    const parent = { parent: this };
    const { accountId } = accountFacts(parent);
    const prefix = `${args.namePrefix ?? defaultNamePrefix()}-${args.stage}`;
    const component = `ActivityApproval ${name}`;

    const activityName = checkedName(component, "activity", prefix, 80);
    // The key policy names the workers for this activity's ARN, known from its name before it exists.
    const encryptedArn = args.dataKey?.addActivity(args.stage, activityName, args.approvers);
    this.activity = new aws.sfn.Activity(
      `${name}-activity`,
      {
        name: activityName,
        // An activity's encryption cannot change in place (CloudFormation: "Update requires:
        // Replacement"): adding the key replaces the activity, so drain waiting requests first (docs/operations.md).
        ...(args.dataKey ? { encryptionConfiguration: args.dataKey.encryptionConfiguration } : {}),
      },
      { parent: this, ...(args.dataKey ? { deleteBeforeReplace: true } : {}) },
    );

    // Exactly what the approval worker calls, on this activity only (and, encrypted, reading its task inputs).
    ({ policy: this.approverPolicy, report: this.approverPolicyReport } = createApproverPolicy({
      component,
      resourceName: name,
      stageArgs: args,
      description: `Run the approval worker of stage ${args.stage} of sfn-approvals`,
      statements: [
        {
          Sid: "WorkThisApprovalActivity",
          Effect: "Allow",
          Action: [
            "states:GetActivityTask",
            "states:SendTaskSuccess",
            "states:SendTaskFailure",
            "states:SendTaskHeartbeat",
          ],
          Resource: [this.activity.arn],
        },
        ...(args.dataKey && encryptedArn
          ? [args.dataKey.activityReadStatement("ReadThisActivityTasks", encryptedArn)]
          : []),
      ],
      accountId,
      parent: this,
    }));

    this.stackOutput = stageStackOutput({
      activityArn: this.activity.arn,
      activityName: this.activity.name,
      approverPolicyArn: this.approverPolicy.arn,
      approverPolicyName: this.approverPolicyReport.policyName,
      approverPolicyPath: this.approverPolicyReport.policyPath,
    });
    this.registerOutputs({ stackOutput: this.stackOutput });
  }

  taskState(options: TaskStateOptions): ApprovalTaskState {
    return {
      states: this.activity.arn.apply((activityArn) =>
        activityTaskStates({
          options,
          activityArn,
          stage: this.stage,
          timeoutSeconds: this.timeoutSeconds,
          heartbeatSeconds: this.heartbeatSeconds,
        }),
      ),
      // The state machine needs no IAM permission to schedule activity tasks.
      statements: pulumi.output([]),
    };
  }

  grantTaskResponse(): void {
    // Approvers answer with their own identity, allowed by the approver policy; nothing to grant here.
  }
}

/**
 * The activity Task: the worker gets the request, the stage and the execution ARN. A worker that
 * vanishes (no heartbeat) releases the task, which is offered again; the stage's timeout becomes
 * the `timed_out` decision; any other error fails the execution.
 */
export function activityTaskStates(args: {
  options: TaskStateOptions;
  activityArn: string;
  stage: string;
  timeoutSeconds: number;
  heartbeatSeconds: number;
}): AslStates {
  const { options, stage } = args;
  const timedOut = timedOutStateName(options.stateName);
  return {
    [options.stateName]: {
      Type: "Task",
      Comment: `Approval stage '${stage}' (activity): an approver's worker picks it up`,
      Resource: args.activityArn,
      Parameters: {
        "request.$": options.requestPath,
        stage,
        "executionArn.$": "$$.Execution.Id",
      },
      TimeoutSeconds: args.timeoutSeconds,
      HeartbeatSeconds: args.heartbeatSeconds,
      ResultPath: options.resultPath,
      Retry: [
        {
          ErrorEquals: ["States.HeartbeatTimeout"],
          IntervalSeconds: 1,
          MaxAttempts: ACTIVITY_RELEASES,
          BackoffRate: 1,
        },
      ],
      Catch: [{ ErrorEquals: ["States.Timeout"], ResultPath: options.resultPath, Next: timedOut }],
      Next: options.next,
    },
    [timedOut]: timedOutState(stage, "activity", options.resultPath, options.next),
  };
}
