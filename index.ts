// sfn-approvals: reads the stack config, builds each approval stage and the workflow that runs
// them in order, and exports what users need to start and follow approvals.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ApprovalAlerts } from "./components/shared/approvalAlerts";
import { ApprovalPage } from "./components/mechanisms/approvalPage";
import { ApprovalWorkflow, workflowStateMachineName } from "./components/workflow/approvalWorkflow";
import { ExecutionDataKey } from "./components/workflow/executionDataKey";
import { WorkflowRollout } from "./components/workflow/workflowRollout";
import { AuditStore } from "./components/audit/auditStore";
import { MECHANISM_DEFINITIONS, createApprovalStage } from "./components/mechanisms";
import { stageFollowUps } from "./components/workflow/stageFollowUps";
import { Mechanism } from "./functions/contract";
import { ApprovalConfig, checkAccounts, checkRegions, loadConfig } from "./components/config";
import { loadSlackSecrets } from "./components/slackConfig";
import { defaultNamePrefix } from "./components/shared/naming";
import {
  ApproverAccess,
  RolePolicyQuota,
  approverPolicyName,
  isIdentityCenterRole,
  principalOf,
  resolvePrincipalArns,
} from "./components/shared/principals";

/** How codepipeline and activity stages attach their approver policies (docs/identity-center.md). */
function approverAccess(config: ApprovalConfig): Omit<ApproverAccess, "permissionSets"> {
  const prefix = config.approverPolicyPrefix ?? defaultNamePrefix();
  const attach = config.attachApproverPolicies !== false;
  // Each role is checked against its quota with every approver policy the stack attaches to it.
  const roleQuota = RolePolicyQuota.of(
    config.stages
      .filter((stage) => attach && MECHANISM_DEFINITIONS[stage.mechanism].approverPolicy)
      .flatMap((stage) =>
        stage.approvers
          .filter((arn) => principalOf(arn).kind === "role" && !isIdentityCenterRole(arn))
          .map((role) => ({ role, policyName: approverPolicyName("sfn-approvals", prefix, stage.name) })),
      ),
  );
  const ic = config.identityCenter;
  return {
    attach,
    policyNamePrefix: prefix,
    roleQuota,
    ...(ic
      ? {
          identityCenter: {
            instanceArn: ic.instanceArn,
            ...(ic.region ? { region: ic.region } : {}),
            // The instance is administered from the management (or delegated administrator) account.
            ...(ic.roleArn
              ? {
                  provider: new aws.Provider("identity-center", {
                    region: (ic.region ?? aws.config.region) as aws.Region,
                    assumeRoles: [{ roleArn: ic.roleArn, sessionName: "sfn-approvals" }],
                  }),
                }
              : {}),
          },
        }
      : {}),
  };
}

export = async () => {
  const config = loadConfig();
  // Another account's approver could never decide: refuse it now, naming its key.
  checkAccounts(config, (await aws.getCallerIdentity()).accountId);
  checkRegions(aws.config.region, new pulumi.Config("aws-native").get("region"));
  const alerts = new ApprovalAlerts("alerts", { emails: config.alertEmails });
  const alarmActions = [alerts.topic.arn];
  // Execution data (requests, task tokens) is encrypted with the stack's own key: reading the
  // history takes kms:Decrypt, which only the principals its policy names have. The page, the
  // stages and the workflow each register theirs; the workflow, built last, completes the policy.
  // The key policy names each reader exactly as IAM has it (config may leave a role's path out).
  const executionDataReaders = await resolvePrincipalArns(
    "sfn-approvals:executionDataReaders",
    config.executionDataReaders,
  );
  const dataKey = new ExecutionDataKey("execution-data", {
    stateMachineName: workflowStateMachineName(),
    executionDataReaders,
  });
  // Stages that email a link need the approval page first: the link points at it.
  const emailStages = config.stages.filter((stage) => MECHANISM_DEFINITIONS[stage.mechanism].approvalPage !== false);
  const page =
    emailStages.length === 0
      ? undefined
      : new ApprovalPage("approval-page", {
          stateMachineName: workflowStateMachineName(),
          stages: Object.fromEntries(emailStages.map((stage) => [stage.name, stage.mechanism])) as Record<
            string,
            Mechanism
          >,
          alarmActions,
          dataKey,
        });
  const linkCodeTable = page?.linkCodes ? { name: page.linkCodes.name, arn: page.linkCodes.arn } : undefined;
  const access = approverAccess(config);
  const stages = config.stages.map((stage) =>
    createApprovalStage(stage, {
      alarmActions,
      approvalPageUrl: page?.url,
      linkCodeTable,
      dataKey,
      approverAccess: access,
      ...(config.slack ? { slack: { ...config.slack, secrets: loadSlackSecrets() } } : {}),
    }),
  );
  const reports = stages.flatMap((stage) => stage.approverPolicyReport ?? []);
  // The decision record (docs/audit.md): the bucket admits PutObject from the workflow's role only,
  // which exists once the workflow does; the state machine waits for the whole store (retention and
  // policy in place) before any record can be written.
  const [writerRoleArn, resolveWriterRoleArn] = pulumi.deferredOutput<string>();
  const audit = config.audit.enabled
    ? new AuditStore("audit", {
        retention: config.audit.retention,
        mode: config.audit.mode,
        readers: config.audit.readers
          ? await resolvePrincipalArns("sfn-approvals:audit.readers", config.audit.readers)
          : executionDataReaders,
        writerRoleArn,
      })
    : undefined;
  const workflow = new ApprovalWorkflow("approvals", {
    stages,
    autoApproveBelow: config.autoApproveBelow,
    alarmActions,
    followUps: stageFollowUps(config.stages),
    dataKey,
    ...(audit
      ? {
          audit: {
            bucketName: audit.bucketName,
            writeStatements: audit.writeStatements(),
            approvers: Object.fromEntries(config.stages.map((stage) => [stage.name, stage.approvers])),
            store: audit,
          },
        }
      : {}),
  });
  resolveWriterRoleArn(workflow.role.arn);
  // Each revision becomes a version; requests start through the alias (docs/rollout.md).
  const rollout = new WorkflowRollout("approvals-rollout", {
    stateMachine: workflow.stateMachine,
    definition: workflow.definition,
    rollout: config.rollout,
  });
  return {
    // What callers start: the alias moves to each new version as sfn-approvals:rollout says.
    aliasArn: rollout.aliasArn,
    stateMachineArn: workflow.stateMachine.arn,
    stateMachineName: workflow.stateMachine.name,
    region: aws.getRegionOutput().region,
    autoApproveBelow: config.autoApproveBelow ?? null,
    alertTopicArn: alerts.topic.arn,
    executionDataKeyArn: dataKey.arn,
    // Named by every decision record; the digest npm run doctor compares with the live definition.
    workflowVersion: workflow.workflowVersion,
    workflowDefinitionSha256: workflow.definitionSha256,
    ...(audit ? { auditBucketName: audit.bucketName } : {}),
    // The page's function: npm run doctor checks its role, runtime and link-code table.
    ...(page ? { approvalPageUrl: page.url, approvalPageFunctionName: page.handler.function.name } : {}),
    // Each codepipeline and activity stage's approver policy: its name and path (what a permission
    // set references), and where the stack attached it or what is left to do.
    ...(reports.length > 0 ? { approverPolicies: reports } : {}),
    // Who decides each stage and how long it waits: what `npm run start-approval -- --wait` and
    // `npm run approvals` show while a request waits.
    stages: pulumi.all(
      stages.map((stage, i) =>
        stage.stackOutput.apply((stackOutput) => ({
          name: stage.stage,
          mechanism: stage.mechanism,
          approvers: config.stages[i].approvers,
          timeout: config.stages[i].timeout,
          ...(config.stages[i].remindEvery ? { remindEvery: config.stages[i].remindEvery } : {}),
          ...(config.stages[i].escalateTo
            ? {
                escalateTo: [...config.stages[i].escalateTo!.emails, ...config.stages[i].escalateTo!.topicArns],
                escalateAfter: `${config.stages[i].escalateAfterPercent}%`,
              }
            : {}),
          ...(workflow.followUps?.escalationTopics[stage.stage]
            ? { escalationTopicArn: workflow.followUps.escalationTopics[stage.stage].arn }
            : {}),
          ...stackOutput,
        })),
      ),
    ),
  };
};
