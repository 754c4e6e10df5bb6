// sfn-approvals: reads the stack config, builds each approval stage and the workflow that runs
// them in order, and exports what users need to start and follow approvals.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ApprovalWorkflow, createApprovalStage, loadConfig } from "./components";

export = async () => {
  const config = loadConfig();
  const stages = config.stages.map((stage) => createApprovalStage(stage));
  const workflow = new ApprovalWorkflow("approvals", { stages, autoApproveBelow: config.autoApproveBelow });
  return {
    stateMachineArn: workflow.stateMachine.arn,
    stateMachineName: workflow.stateMachine.name,
    region: aws.getRegionOutput().region,
    autoApproveBelow: config.autoApproveBelow ?? null,
    stages: pulumi.all(stages.map((stage) => stage.handles.apply((handles) => ({
      name: stage.stage,
      mechanism: stage.mechanism,
      ...handles,
    })))),
  };
};
