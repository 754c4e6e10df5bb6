// sfn-approvals: reads the stack config, builds each approval stage and the workflow that runs
// them in order, and exports what users need to start and follow approvals.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ApprovalAlerts, ApprovalWorkflow, createApprovalStage, loadConfig } from "./components";

export = async () => {
  const config = loadConfig();
  const alerts = new ApprovalAlerts("alerts", { emails: config.alertEmails });
  const alarmActions = [alerts.topic.arn];
  const stages = config.stages.map((stage) => createApprovalStage(stage, { alarmActions }));
  const workflow = new ApprovalWorkflow("approvals", { stages, autoApproveBelow: config.autoApproveBelow, alarmActions });
  return {
    stateMachineArn: workflow.stateMachine.arn,
    stateMachineName: workflow.stateMachine.name,
    region: aws.getRegionOutput().region,
    autoApproveBelow: config.autoApproveBelow ?? null,
    alertTopicArn: alerts.topic.arn,
    stages: pulumi.all(stages.map((stage) => stage.handles.apply((handles) => ({
      name: stage.stage,
      mechanism: stage.mechanism,
      ...handles,
    })))),
  };
};
