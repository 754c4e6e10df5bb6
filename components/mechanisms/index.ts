// From a validated stage config to the mechanism component that implements it.
import * as pulumi from "@pulumi/pulumi";
import { ApprovalStage } from "./base";
import { StageConfig } from "../config";
import { ActivityApproval } from "./activity";
import { LinkCodeTable } from "./approvalPage";
import { WorkflowKey } from "../workflow/dataKey";
import { ApproverAccess } from "../shared/principals";
import { CodePipelineApproval } from "./codePipeline";
import { EmailLinkApproval } from "./emailLink";
import { SnsCallbackApproval } from "./snsCallback";
import { SsmAutomationApproval } from "./ssmAutomation";

export interface StageDefaults {
  /** Where every stage's alarms publish. */
  alarmActions?: pulumi.Input<string>[];
  /** The approval page (ApprovalPage.url); required by email-link and sns-callback stages. */
  approvalPageUrl?: pulumi.Input<string>;
  /** The page's code table (ApprovalPage.linkCodes); required by email-link stages. */
  linkCodeTable?: LinkCodeTable;
  /** The stack's data key (WorkflowKey): encrypts activities. */
  dataKey?: WorkflowKey;
  /** How codepipeline and activity stages attach their approver policy; each stage adds its own permissionSets. */
  approverAccess?: Omit<ApproverAccess, "permissionSets">;
}

/** A stage's ApproverAccess: the stack's settings and the stage's permission sets. */
function approverAccess(config: StageConfig, defaults: StageDefaults): ApproverAccess {
  return { ...defaults.approverAccess, ...(config.permissionSets ? { permissionSets: config.permissionSets } : {}) };
}

function pageUrl(config: StageConfig, defaults: StageDefaults): pulumi.Input<string> {
  if (defaults.approvalPageUrl === undefined) {
    throw new pulumi.RunError(`Stage '${config.name}': ${config.mechanism} needs the approval page; create an ApprovalPage and pass its url as approvalPageUrl`);
  }
  return defaults.approvalPageUrl;
}

export function createApprovalStage(config: StageConfig, defaults: StageDefaults = {}, opts?: pulumi.ComponentResourceOptions): ApprovalStage {
  switch (config.mechanism) {
    case "ssm-automation":
      return new SsmAutomationApproval(`stage-${config.name}`, {
        stage: config.name,
        approvers: config.approvers,
        minRequiredApprovals: config.minRequiredApprovals,
        notify: config.notify,
        timeoutSeconds: config.timeoutSeconds,
        alarmActions: defaults.alarmActions,
      }, opts);
    case "codepipeline":
      return new CodePipelineApproval(`stage-${config.name}`, {
        stage: config.name,
        approvers: config.approvers,
        notify: config.notify,
        timeoutSeconds: config.timeoutSeconds,
        alarmActions: defaults.alarmActions,
        approverAccess: approverAccess(config, defaults),
      }, opts);
    case "activity":
      return new ActivityApproval(`stage-${config.name}`, {
        stage: config.name,
        approvers: config.approvers,
        timeoutSeconds: config.timeoutSeconds,
        dataKey: defaults.dataKey,
        approverAccess: approverAccess(config, defaults),
      }, opts);
    case "email-link":
      return new EmailLinkApproval(`stage-${config.name}`, {
        stage: config.name,
        approvers: config.approvers,
        timeoutSeconds: config.timeoutSeconds,
        approvalPageUrl: pageUrl(config, defaults),
        linkCodeTable: defaults.linkCodeTable,
      }, opts);
    case "sns-callback":
      return new SnsCallbackApproval(`stage-${config.name}`, {
        stage: config.name,
        approvers: config.approvers,
        timeoutSeconds: config.timeoutSeconds,
        approvalPageUrl: pageUrl(config, defaults),
      }, opts);
    default:
      // parseConfig refuses these already; this guards direct callers.
      throw new pulumi.RunError(`Stage '${config.name}': mechanism '${config.mechanism}' is not implemented yet`);
  }
}
