import { expect } from "chai";
import { MAX_WRITE_SECONDS } from "../components/workflow/auditStates";
import { approvalTarget } from "./helpers/definitionPaths";
import { createHash } from "crypto";
import { execFileSync } from "child_process";
import { join } from "path";
import { ApprovalWorkflow } from "../components/workflow/approvalWorkflow";
import { SsmAutomationApproval, SsmAutomationApprovalArgs } from "../components/mechanisms/ssmAutomationApproval";
import { ConfigError } from "../components/shared/configError";
import {
  ACCOUNT_ID,
  ProgramRun,
  RecordedResource,
  archiveFiles,
  lastRunResources,
  named,
  ofType,
  runProgram,
  runWithMocks,
} from "./helpers/pulumiMocks";
import { writeArchive } from "./helpers/serializedHandler";
import { stackConfig } from "./helpers/stackConfig";

/** Where a stage's Check state goes on an explicit approval (the rule testing approved == true). */

const ARN = `arn:aws:lambda:eu-west-1:${ACCOUNT_ID}:function`;

function statements(policy: RecordedResource): any[] {
  return JSON.parse(policy.inputs.policy).Statement;
}

function countByType(resources: RecordedResource[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of resources) counts[r.type] = (counts[r.type] ?? 0) + 1;
  return counts;
}

/** Every IAM policy document the program creates: inline role policies, trust policies, resource policies. */
function allPolicyDocuments(run: ProgramRun): Array<{ resource: string; document: any }> {
  const docs: Array<{ resource: string; document: any }> = [];
  for (const r of run.resources) {
    for (const key of ["policy", "assumeRolePolicy"]) {
      if (typeof r.inputs[key] === "string")
        docs.push({ resource: `${r.name}.${key}`, document: JSON.parse(r.inputs[key]) });
    }
  }
  return docs;
}

describe("program (Pulumi mocks): dev and prod stacks", function () {
  let dev: ProgramRun;
  let prod: ProgramRun;
  /** Only for the security invariants below; its resources are tested in emailStages.test.ts. */
  let staging: ProgramRun;

  before(async () => {
    dev = await runProgram("dev", stackConfig("dev"));
    prod = await runProgram("prod", stackConfig("prod"));
    staging = await runProgram("staging", stackConfig("staging"));
  });

  describe("dev: one activity stage", () => {
    const ACTIVITY_ARN = `arn:aws:states:eu-west-1:${ACCOUNT_ID}:activity:sfn-approvals-dev-manager`;
    // A stable name and path a permission set can reference (issue 12; tests/ssoApprovers.test.ts).
    const APPROVER_POLICY_ARN = `arn:aws:iam::${ACCOUNT_ID}:policy/sfn-approvals/sfn-approvals-dev-manager-approvers`;
    /** The execution data key (issue 11, defect 12; tests/executionDataKey.test.ts). */
    const KEY_ARN = `arn:aws:kms:eu-west-1:${ACCOUNT_ID}:key/execution-data-key-0000-key-id`;

    it("creates exactly the expected resources: no Lambda, an activity, the approvers' policy and its attachment", () => {
      expect(countByType(dev.resources)).to.deep.equal({
        "sfn-approvals:index:ActivityApproval": 1,
        "sfn-approvals:index:ApprovalWorkflow": 1,
        "sfn-approvals:index:ApprovalAlerts": 1,
        "aws:sfn/activity:Activity": 1,
        "aws:iam/policy:Policy": 1,
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment": 1,
        "aws:sns/topic:Topic": 1,
        "aws:sns/topicSubscription:TopicSubscription": 1,
        "aws:iam/role:Role": 1,
        "aws:iam/rolePolicy:RolePolicy": 1,
        "aws:cloudwatch/logGroup:LogGroup": 1,
        "aws:cloudwatch/metricAlarm:MetricAlarm": 1,
        "aws:sfn/stateMachine:StateMachine": 1,
        "sfn-approvals:index:WorkflowKey": 1,
        "aws:kms/key:Key": 1,
        "aws:kms/alias:Alias": 1,
        // The state machine's version and the alias requests start through (tests/rollout.test.ts).
        "sfn-approvals:index:WorkflowRollout": 1,
        "aws-native:stepfunctions:StateMachineVersion": 1,
        "aws-native:stepfunctions:StateMachineAlias": 1,
      });
      expect(ofType(dev.resources, "aws:lambda/function:Function")).to.have.length(0);
    });

    it("exports the state machine, the region and each stage's outputs", () => {
      // The version names the stages and approvers; the digest is that of the definition deployed.
      const { workflowVersion, workflowDefinitionSha256, ...outputs } = dev.outputs;
      expect(workflowVersion).to.match(/^[0-9a-f]{16}$/);
      const definition = named(dev.resources, "approvals-state-machine").inputs.definition;
      expect(workflowDefinitionSha256).to.equal(createHash("sha256").update(definition).digest("hex"));
      expect(outputs).to.deep.equal({
        aliasArn: `arn:aws:states:eu-west-1:${ACCOUNT_ID}:stateMachine:sfn-approvals-dev:live`,
        stateMachineArn: `arn:aws:states:eu-west-1:${ACCOUNT_ID}:stateMachine:sfn-approvals-dev`,
        stateMachineName: "sfn-approvals-dev",
        region: "eu-west-1",
        autoApproveBelow: 500,
        alertTopicArn: `arn:aws:sns:eu-west-1:${ACCOUNT_ID}:sfn-approvals-dev-alerts`,
        executionDataKeyArn: KEY_ARN,
        approverPolicies: [
          {
            stage: "manager",
            policyName: "sfn-approvals-dev-manager-approvers",
            policyPath: "/sfn-approvals/",
            policyArn: APPROVER_POLICY_ARN,
            attachedTo: ["arn:aws:iam::123456789012:role/ReleaseApprover"],
            permissionSets: [],
            addToPermissionSets: [],
            attachYourself: [],
          },
        ],
        stages: [
          {
            name: "manager",
            mechanism: "activity",
            approvers: ["arn:aws:iam::123456789012:role/ReleaseApprover"],
            timeout: "1h",
            activityArn: ACTIVITY_ARN,
            activityName: "sfn-approvals-dev-manager",
            approverPolicyArn: APPROVER_POLICY_ARN,
            approverPolicyName: "sfn-approvals-dev-manager-approvers",
            approverPolicyPath: "/sfn-approvals/",
          },
        ],
      });
    });

    it("names the stage's activity after the project, the stack and the stage", () => {
      expect(named(dev.resources, "stage-manager-activity").inputs).to.deep.equal({
        name: "sfn-approvals-dev-manager",
        encryptionConfiguration: {
          type: "CUSTOMER_MANAGED_KMS_KEY",
          kmsKeyId: KEY_ARN,
          kmsDataKeyReusePeriodSeconds: 300,
        },
      });
    });

    it("lets only the configured approver work this activity: poll, heartbeat and answer, on this activity only", () => {
      const policy = named(dev.resources, "stage-manager-approvers");
      expect(statements(policy)).to.deep.equal([
        {
          Sid: "WorkThisApprovalActivity",
          Effect: "Allow",
          Action: [
            "states:GetActivityTask",
            "states:SendTaskSuccess",
            "states:SendTaskFailure",
            "states:SendTaskHeartbeat",
          ],
          Resource: [ACTIVITY_ARN],
        },
        {
          // GetActivityTask decrypts the task input (encrypted with the execution data key) with the worker's rights.
          Sid: "ReadThisActivityTasks",
          Effect: "Allow",
          Action: ["kms:Decrypt"],
          Resource: [KEY_ARN],
          Condition: { StringEquals: { "kms:EncryptionContext:aws:states:activityArn": ACTIVITY_ARN } },
        },
      ]);
      expect(policy.state.arn).to.equal(APPROVER_POLICY_ARN);
      // Attached by name to the approver role of Pulumi.dev.yaml, and to nobody else.
      expect(named(dev.resources, "stage-manager-approver-role-ReleaseApprover").inputs).to.deep.equal({
        role: "ReleaseApprover",
        policyArn: APPROVER_POLICY_ARN,
      });
      expect(ofType(dev.resources, "aws:iam/userPolicyAttachment:UserPolicyAttachment")).to.have.length(0);
    });

    it("alerts the operators' topic about failed executions", () => {
      const alerts = `arn:aws:sns:eu-west-1:${ACCOUNT_ID}:sfn-approvals-dev-alerts`;
      expect(named(dev.resources, "alerts-topic").inputs.name).to.equal("sfn-approvals-dev-alerts");
      expect(named(dev.resources, "alerts-oncall-example-com").inputs).to.include({
        protocol: "email",
        endpoint: "oncall@example.com",
        topic: alerts,
      });
      expect(named(dev.resources, "approvals-failed-alarm").inputs).to.deep.include({
        namespace: "AWS/States",
        metricName: "ExecutionsFailed",
        threshold: 0,
        comparisonOperator: "GreaterThanThreshold",
        dimensions: { StateMachineArn: `arn:aws:states:eu-west-1:${ACCOUNT_ID}:stateMachine:sfn-approvals-dev` },
        alarmActions: [alerts],
      });
      const prodSubscriptions = ofType(prod.resources, "aws:sns/topicSubscription:TopicSubscription").filter((r) =>
        r.name.startsWith("alerts-"),
      );
      expect(prodSubscriptions.map((r) => r.inputs.endpoint).sort()).to.deep.equal([
        "oncall@example.com",
        "platform-team@example.com",
      ]);
    });

    it("creates a STANDARD state machine that logs every transition without execution data", () => {
      const machine = named(dev.resources, "approvals-state-machine").inputs;
      expect(machine).to.include({
        name: "sfn-approvals-dev",
        type: "STANDARD",
        roleArn: `arn:aws:iam::${ACCOUNT_ID}:role/approvals-role-a1b2c3d`,
      });
      expect(machine.loggingConfiguration).to.deep.equal({
        level: "ALL",
        includeExecutionData: false,
        logDestination: `arn:aws:logs:eu-west-1:${ACCOUNT_ID}:log-group:/aws/vendedlogs/states/sfn-approvals-dev:*`,
      });
      expect(named(dev.resources, "approvals-logs").inputs).to.deep.equal({
        name: "/aws/vendedlogs/states/sfn-approvals-dev",
        retentionInDays: 365,
      });
      const definition = JSON.parse(machine.definition);
      expect(definition.StartAt).to.equal("Read request");
      // The activity stage waits exactly its configured 1h (no event grace as for SSM), plus the execution margin.
      // The stage may wait its hour again after each of 3 releases by a vanished worker.
      expect(definition.TimeoutSeconds).to.equal(3600 * 4 + 600);
      expect(definition.States["Check auto-approve"].Choices[0].And[1]).to.deep.equal({
        Variable: "$.request.amount",
        NumericLessThan: 500,
      });
    });

    it("waits in an activity Task: the activity ARN, the request, stage and execution, a heartbeat, released tasks offered again", () => {
      const definition = JSON.parse(named(dev.resources, "approvals-state-machine").inputs.definition);
      expect(definition.States["Approval manager"]).to.deep.equal({
        Type: "Task",
        Comment: "Approval stage 'manager' (activity): an approver's worker picks it up",
        Resource: ACTIVITY_ARN,
        Parameters: { "request.$": "$.request", stage: "manager", "executionArn.$": "$$.Execution.Id" },
        TimeoutSeconds: 3600,
        HeartbeatSeconds: 120,
        ResultPath: "$.decisions.manager",
        Retry: [{ ErrorEquals: ["States.HeartbeatTimeout"], IntervalSeconds: 1, MaxAttempts: 3, BackoffRate: 1 }],
        Catch: [
          { ErrorEquals: ["States.Timeout"], ResultPath: "$.decisions.manager", Next: "Approval manager timed out" },
        ],
        Next: "Check manager",
      });
      expect(definition.States["Approval manager timed out"]).to.deep.include({
        Type: "Pass",
        ResultPath: "$.decisions.manager",
        Next: "Check manager",
      });
      expect(definition.States["Approval manager timed out"].Parameters).to.deep.include({
        approved: false,
        decision: "timed_out",
        stage: "manager",
        mechanism: "activity",
      });
      // No task token is passed: the worker gets its own from GetActivityTask.
      expect(JSON.stringify(definition.States["Approval manager"])).to.not.contain("Task.Token");
    });

    it("gives the state machine no right for the activity stage, only the log delivery actions that have no resource scope and the execution data key", () => {
      const trust = JSON.parse(named(dev.resources, "approvals-role").inputs.assumeRolePolicy).Statement[0];
      expect(trust.Principal).to.deep.equal({ Service: "states.amazonaws.com" });
      expect(trust.Condition).to.deep.equal({
        StringEquals: { "aws:SourceAccount": ACCOUNT_ID },
        ArnLike: {
          "aws:SourceArn": [
            `arn:aws:states:eu-west-1:${ACCOUNT_ID}:stateMachine:sfn-approvals-dev`,
            `arn:aws:states:eu-west-1:${ACCOUNT_ID}:stateMachine:sfn-approvals-dev:*`,
          ],
        },
      });
      const all = statements(named(dev.resources, "approvals-policy"));
      expect(all.map((s) => s.Sid)).to.deep.equal([
        "DeliverExecutionLogs",
        "EncryptExecutionData",
        "EncryptActivityInputs",
        "EncryptLogDeliveries",
      ]);
      const [logs] = all;
      expect(logs.Resource).to.deep.equal(["*"]);
      expect(logs.Action.every((a: string) => a.startsWith("logs:") && !a.includes("*"))).to.equal(true);
      expect(all.flatMap((s) => s.Action).filter((a: string) => a.startsWith("states:"))).to.deep.equal([]);
    });
  });

  describe("prod's manager stage: ssm-automation, three approvers, a quorum of two, 3 days", () => {
    it("exports the state machine, the region and each stage's outputs", () => {
      expect(prod.outputs).to.deep.include({
        stateMachineArn: `arn:aws:states:eu-west-1:${ACCOUNT_ID}:stateMachine:sfn-approvals-prod`,
        stateMachineName: "sfn-approvals-prod",
        region: "eu-west-1",
        autoApproveBelow: null,
        alertTopicArn: `arn:aws:sns:eu-west-1:${ACCOUNT_ID}:sfn-approvals-prod-alerts`,
      });
      expect(prod.outputs.stages[0]).to.deep.equal({
        name: "manager",
        mechanism: "ssm-automation",
        approvers: [
          "arn:aws:iam::123456789012:role/ReleaseApprover",
          "arn:aws:iam::123456789012:user/alice",
          "arn:aws:iam::123456789012:user/bob",
        ],
        timeout: "3d",
        documentName: "sfn-approvals-prod-manager",
        topicArn: `arn:aws:sns:eu-west-1:${ACCOUNT_ID}:Automation-sfn-approvals-prod-manager`,
        automationRoleArn: `arn:aws:iam::${ACCOUNT_ID}:role/stage-manager-automation-role-a1b2c3d`,
        startFunctionName: "stage-manager-start-fn-a1b2c3d",
        resultFunctionName: "stage-manager-result-fn-a1b2c3d",
        deadLetterQueueUrl: `https://sqs.eu-west-1.amazonaws.com/${ACCOUNT_ID}/stage-manager-decisions-dlq-a1b2c3d`,
      });
    });

    it("names the SNS topic with the 'Automation' prefix aws:approve requires and subscribes notify", () => {
      expect(named(prod.resources, "stage-manager-topic").inputs.name).to.equal(
        "Automation-sfn-approvals-prod-manager",
      );
      const subscription = named(prod.resources, "stage-manager-notify-managers-example-com").inputs;
      expect(subscription).to.include({
        protocol: "email",
        endpoint: "managers@example.com",
        topic: `arn:aws:sns:eu-west-1:${ACCOUNT_ID}:Automation-sfn-approvals-prod-manager`,
      });
      expect(
        ofType(prod.resources, "aws:sns/topicSubscription:TopicSubscription")
          .filter((r) => r.name.startsWith("stage-manager-"))
          .map((r) => r.name),
      ).to.deep.equal(["stage-manager-notify-managers-example-com"]);
    });

    it("bakes approvers, quorum, topic, role and timeout into the runbook's aws:approve step", () => {
      const document = named(prod.resources, "stage-manager-runbook").inputs;
      expect(document).to.include({
        name: "sfn-approvals-prod-manager",
        documentType: "Automation",
        documentFormat: "JSON",
      });
      const content = JSON.parse(document.content);
      expect(content.schemaVersion).to.equal("0.3");
      expect(content.assumeRole).to.equal(`arn:aws:iam::${ACCOUNT_ID}:role/stage-manager-automation-role-a1b2c3d`);
      expect(Object.keys(content.parameters)).to.deep.equal(["TaskToken", "Message", "RequestId", "ExecutionArn"]);
      expect(content.parameters.TaskToken).to.include({ type: "StringList", maxItems: 10 });
      expect(content.mainSteps).to.deep.equal([
        {
          name: "Approve",
          action: "aws:approve",
          timeoutSeconds: 259200,
          onFailure: "Abort",
          isEnd: true,
          inputs: {
            NotificationArn: `arn:aws:sns:eu-west-1:${ACCOUNT_ID}:Automation-sfn-approvals-prod-manager`,
            Message: "{{ Message }}",
            MinRequiredApprovals: 2,
            Approvers: [
              "arn:aws:iam::123456789012:role/ReleaseApprover",
              "arn:aws:iam::123456789012:user/alice",
              "arn:aws:iam::123456789012:user/bob",
            ],
          },
        },
      ]);
    });

    it("lets the automation role be assumed only by SSM of this account and only publish to its topic", () => {
      const role = JSON.parse(named(prod.resources, "stage-manager-automation-role").inputs.assumeRolePolicy);
      expect(role.Statement).to.deep.equal([
        {
          Effect: "Allow",
          Principal: { Service: "ssm.amazonaws.com" },
          Action: "sts:AssumeRole",
          Condition: {
            StringEquals: { "aws:SourceAccount": ACCOUNT_ID },
            ArnLike: { "aws:SourceArn": `arn:aws:ssm:eu-west-1:${ACCOUNT_ID}:automation-execution/*` },
          },
        },
      ]);
      expect(statements(named(prod.resources, "stage-manager-automation-policy"))).to.deep.equal([
        {
          Sid: "PublishApprovalRequest",
          Effect: "Allow",
          Action: ["sns:Publish"],
          Resource: [`arn:aws:sns:eu-west-1:${ACCOUNT_ID}:Automation-sfn-approvals-prod-manager`],
        },
      ]);
    });

    it("gives the start function exactly: its logs, starting this runbook, passing only the automation role to SSM", () => {
      expect(statements(named(prod.resources, "stage-manager-start-policy"))).to.deep.equal([
        {
          Sid: "WriteOwnLogs",
          Effect: "Allow",
          Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
          Resource: [`arn:aws:logs:eu-west-1:${ACCOUNT_ID}:log-group:/sfn-approvals/prod/stage-manager-start:*`],
        },
        {
          Sid: "StartApprovalRunbook",
          Effect: "Allow",
          Action: ["ssm:StartAutomationExecution"],
          Resource: [
            `arn:aws:ssm:eu-west-1:${ACCOUNT_ID}:document/sfn-approvals-prod-manager`,
            `arn:aws:ssm:eu-west-1:${ACCOUNT_ID}:automation-definition/sfn-approvals-prod-manager:*`,
            `arn:aws:ssm:eu-west-1:${ACCOUNT_ID}:automation-execution/*`,
          ],
        },
        {
          Sid: "PassAutomationRoleToSsm",
          Effect: "Allow",
          Action: ["iam:PassRole"],
          Resource: [`arn:aws:iam::${ACCOUNT_ID}:role/stage-manager-automation-role-a1b2c3d`],
          Condition: { StringEquals: { "iam:PassedToService": "ssm.amazonaws.com" } },
        },
      ]);
    });

    it("gives the result function exactly: its logs, reading automations, its dead-letter queue, SendTaskSuccess on this state machine", () => {
      expect(statements(named(prod.resources, "stage-manager-result-policy"))).to.deep.equal([
        {
          Sid: "WriteOwnLogs",
          Effect: "Allow",
          Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
          Resource: [`arn:aws:logs:eu-west-1:${ACCOUNT_ID}:log-group:/sfn-approvals/prod/stage-manager-result:*`],
        },
        {
          Sid: "ReadApprovalAutomations",
          Effect: "Allow",
          Action: ["ssm:GetAutomationExecution"],
          Resource: [`arn:aws:ssm:eu-west-1:${ACCOUNT_ID}:automation-execution/*`],
        },
        {
          Sid: "DeadLetterFailedDecisions",
          Effect: "Allow",
          Action: ["sqs:SendMessage"],
          Resource: [`arn:aws:sqs:eu-west-1:${ACCOUNT_ID}:stage-manager-decisions-dlq-a1b2c3d`],
        },
      ]);
      expect(statements(named(prod.resources, "stage-manager-result-callback"))).to.deep.equal([
        {
          Sid: "SendDecisionToStateMachine",
          Effect: "Allow",
          Action: ["states:SendTaskSuccess", "states:SendTaskFailure"],
          Resource: [`arn:aws:states:eu-west-1:${ACCOUNT_ID}:stateMachine:sfn-approvals-prod`],
        },
      ]);
    });

    it("deploys both handlers as small nodejs24.x Lambdas with their own role, log group and settings", () => {
      const start = named(prod.resources, "stage-manager-start-fn").inputs;
      const result = named(prod.resources, "stage-manager-result-fn").inputs;
      for (const fn of [start, result]) {
        expect(fn).to.include({ runtime: "nodejs24.x", memorySize: 128, timeout: 30, handler: "__index.handler" });
        expect(fn.loggingConfig).to.deep.equal({
          logFormat: "JSON",
          logGroup:
            fn === start ? "/sfn-approvals/prod/stage-manager-start" : "/sfn-approvals/prod/stage-manager-result",
        });
      }
      expect(start.role).to.equal(`arn:aws:iam::${ACCOUNT_ID}:role/stage-manager-start-role-a1b2c3d`);
      expect(result.role).to.equal(`arn:aws:iam::${ACCOUNT_ID}:role/stage-manager-result-role-a1b2c3d`);
      expect(start.environment.variables).to.deep.equal({
        DOCUMENT_NAME: "sfn-approvals-prod-manager",
        STAGE_NAME: "manager",
      });
      expect(result.environment.variables).to.deep.equal({
        DOCUMENT_NAME: "sfn-approvals-prod-manager",
        STAGE_NAME: "manager",
        STARTER_ROLE_NAME: "stage-manager-start-role-a1b2c3d",
      });
      for (const name of ["stage-manager-start-logs", "stage-manager-result-logs", "approvals-logs"]) {
        expect(named(prod.resources, name).inputs.retentionInDays).to.equal(365);
      }
    });

    it("exports every handler with fewer than three parameters: nodejs24.x refuses callback-style handlers", async () => {
      // The runtime refuses a handler whose length is 3 or more (aws/aws-lambda-nodejs-runtime-interface-client
      // src/function/callback-deprecation.ts; "Lambda supports callback-based function handlers for Node.js 22 and
      // earlier runtimes only", https://docs.aws.amazon.com/lambda/latest/dg/nodejs-context.html). Loaded in one node.
      const functions = [dev, prod, staging].flatMap((run) => ofType(run.resources, "aws:lambda/function:Function"));
      const dirs = await Promise.all(functions.map(async (fn) => writeArchive(await archiveFiles(fn))));
      const script =
        "for (const dir of JSON.parse(process.argv[1])) { const h = require(dir + '/__index.js').handler; console.log(typeof h, h.length); }";
      const lines = execFileSync(process.execPath, ["-e", script, JSON.stringify(dirs)], {
        encoding: "utf8",
        env: {
          PATH: process.env.PATH ?? "",
          NODE_PATH: join(__dirname, "..", "node_modules"),
          AWS_REGION: "eu-west-1",
        },
      })
        .trim()
        .split("\n");
      expect(functions.length).to.be.greaterThan(5);
      expect(lines.map((line, i) => `${functions[i].name}: ${line}`)).to.deep.equal(
        functions.map((fn) => `${fn.name}: function 0`),
      );
    });

    it("packages each callback as the handler alone (no node_modules), under 50 KB", async () => {
      for (const name of ["stage-manager-start-fn", "stage-manager-result-fn"]) {
        const files = await archiveFiles(named(prod.resources, name));
        expect(Object.keys(files), name).to.deep.equal(["__index.js"]);
        expect(Buffer.byteLength(files["__index.js"]), name).to.be.below(50 * 1024);
        expect(files["__index.js"]).to.not.match(/@pulumi\//);
      }
    });

    it("matches only final aws:approve steps of this runbook and delivers them with retries and a dead-letter queue", () => {
      expect(JSON.parse(named(prod.resources, "stage-manager-decision-rule").inputs.eventPattern)).to.deep.equal({
        source: ["aws.ssm"],
        "detail-type": ["EC2 Automation Step Status-change Notification"],
        detail: {
          Definition: ["sfn-approvals-prod-manager"],
          StepName: ["Approve"],
          Action: ["aws:approve"],
          Status: ["Success", "Failed", "TimedOut", "Cancelled", "Rejected"],
        },
      });
      const dlqArn = `arn:aws:sqs:eu-west-1:${ACCOUNT_ID}:stage-manager-decisions-dlq-a1b2c3d`;
      const target = named(prod.resources, "stage-manager-decisions-target").inputs;
      expect(target).to.deep.include({
        arn: `${ARN}:stage-manager-result-fn-a1b2c3d`,
        retryPolicy: { maximumRetryAttempts: 185, maximumEventAgeInSeconds: 86400 },
        deadLetterConfig: { arn: dlqArn },
      });
      expect(named(prod.resources, "stage-manager-decisions-async").inputs).to.deep.include({
        functionName: "stage-manager-result-fn-a1b2c3d",
        maximumRetryAttempts: 2,
        destinationConfig: { onFailure: { destination: dlqArn } },
      });
      expect(named(prod.resources, "stage-manager-decisions-invoke").inputs).to.include({
        action: "lambda:InvokeFunction",
        principal: "events.amazonaws.com",
        function: "stage-manager-result-fn-a1b2c3d",
        sourceArn: `arn:aws:events:eu-west-1:${ACCOUNT_ID}:rule/stage-manager-decision-rule-a1b2c3d`,
      });
      expect(statements(named(prod.resources, "stage-manager-decisions-dlq-policy"))).to.deep.equal([
        {
          Sid: "EventBridgeDeadLetters",
          Effect: "Allow",
          Principal: { Service: "events.amazonaws.com" },
          Action: ["sqs:SendMessage"],
          Resource: [dlqArn],
          Condition: {
            ArnEquals: {
              "aws:SourceArn": `arn:aws:events:eu-west-1:${ACCOUNT_ID}:rule/stage-manager-decision-rule-a1b2c3d`,
            },
          },
        },
      ]);
      expect(named(prod.resources, "stage-manager-decisions-dlq").inputs).to.include({
        sqsManagedSseEnabled: true,
        messageRetentionSeconds: 1209600,
      });
      expect(named(prod.resources, "stage-manager-decisions-dlq-alarm").inputs).to.deep.include({
        metricName: "ApproximateNumberOfMessagesVisible",
        threshold: 0,
        comparisonOperator: "GreaterThanThreshold",
        dimensions: { QueueName: "stage-manager-decisions-dlq-a1b2c3d" },
        alarmActions: [`arn:aws:sns:eu-west-1:${ACCOUNT_ID}:sfn-approvals-prod-alerts`],
      });
    });

    it("waits in a Lambda callback Task that invokes the start function with the token, for aws:approve's timeout plus the event grace", () => {
      const machine = named(prod.resources, "approvals-state-machine").inputs;
      expect(machine).to.include({
        name: "sfn-approvals-prod",
        type: "STANDARD",
        roleArn: `arn:aws:iam::${ACCOUNT_ID}:role/approvals-role-a1b2c3d`,
      });
      expect(machine.loggingConfiguration).to.deep.equal({
        level: "ALL",
        includeExecutionData: false,
        logDestination: `arn:aws:logs:eu-west-1:${ACCOUNT_ID}:log-group:/aws/vendedlogs/states/sfn-approvals-prod:*`,
      });
      const definition = JSON.parse(machine.definition);
      expect(definition.States["Approval manager"]).to.deep.include({
        Type: "Task",
        Resource: "arn:aws:states:::lambda:invoke.waitForTaskToken",
        TimeoutSeconds: 259200 + 900,
        ResultPath: "$.decisions.manager",
        Parameters: {
          FunctionName: `${ARN}:stage-manager-start-fn-a1b2c3d`,
          Payload: {
            "taskToken.$": "$$.Task.Token",
            "request.$": "$.request",
            stage: "manager",
            "executionArn.$": "$$.Execution.Id",
          },
        },
      });
      expect(definition.States["Approval manager timed out"].Parameters.mechanism).to.equal("ssm-automation");
    });

    it("lets the state machine invoke only the stages' start functions, plus the log delivery actions that have no resource scope", () => {
      const trust = JSON.parse(named(prod.resources, "approvals-role").inputs.assumeRolePolicy).Statement[0];
      expect(trust.Principal).to.deep.equal({ Service: "states.amazonaws.com" });
      expect(trust.Condition).to.deep.equal({
        StringEquals: { "aws:SourceAccount": ACCOUNT_ID },
        ArnLike: {
          "aws:SourceArn": [
            `arn:aws:states:eu-west-1:${ACCOUNT_ID}:stateMachine:sfn-approvals-prod`,
            `arn:aws:states:eu-west-1:${ACCOUNT_ID}:stateMachine:sfn-approvals-prod:*`,
          ],
        },
      });
      const all = statements(named(prod.resources, "approvals-policy"));
      expect(all.map((s) => s.Sid)).to.deep.equal([
        "InvokeStartmanager",
        "InvokeStartfinance",
        "DeliverExecutionLogs",
        "EncryptExecutionData",
        "EncryptLogDeliveries",
        "WriteDecisionRecords",
      ]);
      const [invoke, , logs] = all;
      expect(invoke).to.deep.equal({
        Sid: "InvokeStartmanager",
        Effect: "Allow",
        Action: ["lambda:InvokeFunction"],
        Resource: [`${ARN}:stage-manager-start-fn-a1b2c3d`, `${ARN}:stage-manager-start-fn-a1b2c3d:*`],
      });
      expect(logs.Resource).to.deep.equal(["*"]);
      expect(logs.Action.every((a: string) => a.startsWith("logs:") && !a.includes("*"))).to.equal(true);
    });
  });

  describe("prod: an ssm-automation stage with a quorum, then a codepipeline stage", () => {
    it("builds the manager stage's runbook with its three approvers, a quorum of two and 3 days", () => {
      const step = JSON.parse(named(prod.resources, "stage-manager-runbook").inputs.content).mainSteps[0];
      expect([step.inputs.Approvers, step.inputs.MinRequiredApprovals, step.timeoutSeconds]).to.deep.equal([
        [
          "arn:aws:iam::123456789012:role/ReleaseApprover",
          "arn:aws:iam::123456789012:user/alice",
          "arn:aws:iam::123456789012:user/bob",
        ],
        2,
        259200,
      ]);
      expect(ofType(prod.resources, "aws:ssm/document:Document")).to.have.length(1);
      expect(ofType(prod.resources, "aws:codepipeline/pipeline:Pipeline").map((r) => r.name)).to.deep.equal([
        "stage-finance-pipeline",
      ]);
    });

    it("runs the stages in order, each with its mechanism's wait", () => {
      const definition = JSON.parse(named(prod.resources, "approvals-state-machine").inputs.definition);
      expect(definition.States["Validate request"].Default).to.equal("Approval manager");
      expect(approvalTarget(definition, "manager")).to.equal("Approval finance");
      expect(approvalTarget(definition, "finance")).to.equal("Approved");
      expect(definition.States).to.not.have.property("Check auto-approve");
      expect(definition.States["Approval finance"].TimeoutSeconds).to.equal(604800 + 900);
      expect(definition.States["Approval finance timed out"].Parameters.mechanism).to.equal("codepipeline");
      // The waits, each stage's capacity wait (twice its wait: capacityRetry.ts), 10 minutes, and
      // the longest time each of the three record writes may take.
      expect(definition.TimeoutSeconds).to.equal(3 * (259200 + 900 + 604800 + 900) + 600 + 3 * MAX_WRITE_SECONDS);
      expect(prod.outputs.stages.map((s: any) => [s.name, s.mechanism])).to.deep.equal([
        ["manager", "ssm-automation"],
        ["finance", "codepipeline"],
      ]);
      expect(prod.outputs.autoApproveBelow).to.equal(null);
    });

    it("grants each stage's result function SendTaskSuccess on the prod state machine only", () => {
      for (const stage of ["manager", "finance"]) {
        expect(statements(named(prod.resources, `stage-${stage}-result-callback`))[0].Resource).to.deep.equal([
          `arn:aws:states:eu-west-1:${ACCOUNT_ID}:stateMachine:sfn-approvals-prod`,
        ]);
      }
      const invoke = statements(named(prod.resources, "approvals-policy")).filter(
        (s) => s.Action[0] === "lambda:InvokeFunction",
      );
      expect(invoke.map((s) => s.Resource[0])).to.deep.equal([
        `${ARN}:stage-manager-start-fn-a1b2c3d`,
        `${ARN}:stage-finance-start-fn-a1b2c3d`,
      ]);
    });
  });

  describe("security invariants of every stack (dev, prod, staging)", () => {
    it("allows no '*' action or service-wide wildcard, and attaches only the approvers' own policy", () => {
      for (const run of [dev, prod, staging]) {
        const attachments = [
          ...ofType(run.resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment"),
          ...ofType(run.resources, "aws:iam/userPolicyAttachment:UserPolicyAttachment"),
        ];
        const approverPolicies = ofType(run.resources, "aws:iam/policy:Policy").map((p) => p.state.arn);
        for (const attachment of attachments)
          expect(approverPolicies, attachment.name).to.include(attachment.inputs.policyArn);
        for (const role of ofType(run.resources, "aws:iam/role:Role"))
          expect(role.inputs.managedPolicyArns ?? []).to.have.length(0);
        for (const { resource, document } of allPolicyDocuments(run)) {
          // Deny statements (the artifact bucket's TLS-only policy) may be as broad as they like.
          for (const statement of document.Statement.filter((s: any) => s.Effect === "Allow")) {
            const actions = [statement.Action].flat();
            for (const action of actions) {
              expect(action, resource).to.match(/^[a-z0-9-]+:[A-Za-z]+$/);
            }
            expect(JSON.stringify(statement), resource).to.not.match(/FullAccess/);
            // In a key policy, Resource "*" is the key itself (AWS KMS Developer Guide, "Key policies").
            if ([statement.Resource].flat().includes("*") && resource !== "execution-data-key.policy") {
              expect(statement.Sid, `${resource} uses Resource "*"`).to.equal("DeliverExecutionLogs");
            }
          }
        }
      }
    });
  });

  describe("changing approvers", () => {
    /** Names of the resources whose inputs differ between two runs of the same resource names. */
    function changedInputs(before: ProgramRun, after: ProgramRun): RecordedResource[] {
      return after.resources.filter((r) => {
        const previous = named(before.resources, r.name).inputs;
        return JSON.stringify({ ...r.inputs, code: undefined }) !== JSON.stringify({ ...previous, code: undefined });
      });
    }

    it("is a config edit that changes the runbook's approvers and the workflow version the records name (prod's ssm-automation stage)", async () => {
      const approvers = ["arn:aws:iam::123456789012:user/carol", "arn:aws:iam::123456789012:user/dave"];
      const stages = JSON.parse(stackConfig("prod")["sfn-approvals:stages"]) as Array<Record<string, unknown>>;
      expect(stages[0]).to.include({ name: "manager", mechanism: "ssm-automation" });
      const edited = await runProgram(
        "prod",
        stackConfig("prod", {
          "sfn-approvals:stages": [{ ...stages[0], approvers }, ...stages.slice(1)],
        }),
      );
      expect(edited.resources.map((r) => r.name).sort()).to.deep.equal(prod.resources.map((r) => r.name).sort());
      const changed = changedInputs(prod, edited);
      // The state machine changes only where its records name the version and the stage's approvers;
      // that revision is published as a new version (docs/rollout.md).
      expect(changed.map((r) => r.name)).to.deep.equal([
        "stage-manager-runbook",
        "approvals-state-machine",
        "approvals-rollout-version",
      ]);
      const before = JSON.stringify(JSON.parse(named(prod.resources, "approvals-state-machine").inputs.definition));
      const after = JSON.stringify(JSON.parse(changed[1].inputs.definition));
      expect(after.replaceAll(edited.outputs.workflowVersion, prod.outputs.workflowVersion)).to.equal(
        before.replace(
          JSON.stringify(prod.outputs.stages[0].approvers).replaceAll('"', '\\"'),
          JSON.stringify(approvers).replaceAll('"', '\\"'),
        ),
      );
      expect(edited.outputs.workflowVersion).to.not.equal(prod.outputs.workflowVersion);
      const step = JSON.parse(changed[0].inputs.content).mainSteps[0];
      expect(step.inputs.Approvers).to.deep.equal(approvers);
      expect(step.inputs.MinRequiredApprovals).to.equal(2);
    });

    it("is a config edit that changes only the approver attachments (dev's activity stage)", async () => {
      const edited = await runProgram(
        "dev",
        stackConfig("dev", {
          "sfn-approvals:stages": [
            {
              name: "manager",
              mechanism: "activity",
              approvers: ["arn:aws:iam::123456789012:user/carol"],
              timeout: "1h",
            },
          ],
        }),
      );
      const names = (run: ProgramRun) => run.resources.map((r) => r.name);
      expect(names(dev).filter((n) => !names(edited).includes(n))).to.deep.equal([
        "stage-manager-approver-role-ReleaseApprover",
      ]);
      expect(names(edited).filter((n) => !names(dev).includes(n))).to.deep.equal(["stage-manager-approver-user-carol"]);
      expect(named(edited.resources, "stage-manager-approver-user-carol").inputs).to.deep.equal({
        user: "carol",
        policyArn: `arn:aws:iam::${ACCOUNT_ID}:policy/sfn-approvals/sfn-approvals-dev-manager-approvers`,
      });
      const kept = { ...edited, resources: edited.resources.filter((r) => names(dev).includes(r.name)) };
      // The activity's workers decrypt its task inputs: the execution data key's policy names them too.
      expect(changedInputs(dev, kept).map((r) => r.name)).to.deep.equal(["execution-data-key"]);
      const workers = (run: ProgramRun) =>
        JSON.parse(named(run.resources, "execution-data-key").inputs.policy).Statement.find(
          (s: any) => s.Sid === "WorkersReadmanagerTasks",
        ).Condition.ArnLike;
      expect(workers(edited)).to.deep.equal({
        "aws:PrincipalArn": ["arn:aws:iam::123456789012:user/carol", "arn:aws:iam::123456789012:user/*/carol"],
      });
    });
  });

  describe("components embedded in another program", () => {
    const args: SsmAutomationApprovalArgs = {
      stage: "release",
      approvers: ["arn:aws:iam::123456789012:role/ReleaseApprover"],
      minRequiredApprovals: 1,
      notify: [],
      timeoutSeconds: 3600,
    };

    it("name their AWS resources after the program's project and stack, or an explicit namePrefix", async () => {
      const { resources } = await runWithMocks("staging", {}, () => {
        const defaultNamed = new SsmAutomationApproval("a", args);
        const prefixed = new SsmAutomationApproval("b", { ...args, stage: "audit", namePrefix: "payments-staging" });
        new ApprovalWorkflow("wf", { stages: [defaultNamed, prefixed], namePrefix: "payments-staging" });
        return defaultNamed.stackOutput;
      });
      expect(named(resources, "a-runbook").inputs.name).to.equal("sfn-approvals-staging-release");
      expect(named(resources, "b-runbook").inputs.name).to.equal("payments-staging-audit");
      expect(named(resources, "b-topic").inputs.name).to.equal("Automation-payments-staging-audit");
      expect(named(resources, "wf-state-machine").inputs.name).to.equal("payments-staging");
    });

    it("refuse names AWS would refuse, saying how to fix it", async () => {
      let caught: unknown;
      try {
        await runWithMocks(
          "staging",
          {},
          () =>
            new ApprovalWorkflow("wf", { stages: [new SsmAutomationApproval("a", args)], namePrefix: "x".repeat(81) }),
        );
      } catch (error) {
        caught = error;
      }
      expect((caught as Error).message).to.equal(
        `ApprovalWorkflow wf: the state machine name '${"x".repeat(81)}' must be at most 80 characters of ^[A-Za-z0-9_-]+$; choose a shorter namePrefix or stage name`,
      );
    });

    it("refuse contradictory arguments in the constructor", async () => {
      const cases: Array<[SsmAutomationApprovalArgs, string]> = [
        [{ ...args, approvers: [] }, "aws:approve takes 1 to 10 approvers, got 0"],
        [{ ...args, minRequiredApprovals: 2 }, "minRequiredApprovals must be 1..1, got 2"],
        [{ ...args, timeoutSeconds: 3000000 }, "aws:approve timeout must be 60..2592000 seconds, got 3000000"],
      ];
      for (const [bad, message] of cases) {
        let caught: unknown;
        try {
          await runWithMocks("staging", {}, () => new SsmAutomationApproval("c", bad));
        } catch (error) {
          caught = error;
        }
        expect((caught as Error).message).to.equal(`SsmAutomationApproval c: ${message}`);
      }
    });
  });

  describe("notify subscriptions", () => {
    it("are keyed by address: removing one address leaves the other subscriptions untouched", async () => {
      const stages = (notify: string[]) => [
        {
          name: "manager",
          mechanism: "ssm-automation",
          approvers: ["arn:aws:iam::123456789012:role/ReleaseApprover"],
          notify,
          timeout: "1h",
        },
      ];
      const before = await runProgram(
        "dev",
        stackConfig("dev", { "sfn-approvals:stages": stages(["a@example.com", "b@example.com", "c@example.com"]) }),
      );
      const after = await runProgram(
        "dev",
        stackConfig("dev", { "sfn-approvals:stages": stages(["b@example.com", "c@example.com"]) }),
      );
      const subscriptions = (run: ProgramRun) =>
        ofType(run.resources, "aws:sns/topicSubscription:TopicSubscription")
          .filter((r) => r.name.startsWith("stage-manager-notify-"))
          .map((r) => `${r.name}=${r.inputs.endpoint}`)
          .sort();
      expect(subscriptions(before)).to.deep.equal([
        "stage-manager-notify-a-example-com=a@example.com",
        "stage-manager-notify-b-example-com=b@example.com",
        "stage-manager-notify-c-example-com=c@example.com",
      ]);
      expect(subscriptions(after)).to.deep.equal([
        "stage-manager-notify-b-example-com=b@example.com",
        "stage-manager-notify-c-example-com=c@example.com",
      ]);
    });
  });

  describe("bad config", () => {
    it("fails the program with the ConfigError message, before any resource", async () => {
      let caught: unknown;
      try {
        await runProgram(
          "dev",
          stackConfig("dev", {
            "sfn-approvals:stages": [{ name: "manager", mechanism: "sms", approvers: [], timeout: "1h" }],
          }),
        );
      } catch (error) {
        caught = error;
      }
      expect(caught).to.be.instanceOf(ConfigError);
      expect((caught as Error).message).to.contain('sfn-approvals:stages[0].mechanism is "sms": must be one of');
    });

    /** The ConfigError a program run fails with, and how many resources it registered first. */
    async function configErrorOf(
      stack: string,
      overrides: Record<string, unknown>,
    ): Promise<{ error: ConfigError; resources: number }> {
      let caught: unknown;
      try {
        await runProgram(stack, stackConfig(stack, overrides));
      } catch (error) {
        caught = error;
      }
      expect(caught, "the program should fail with a ConfigError").to.be.instanceOf(ConfigError);
      return { error: caught as ConfigError, resources: lastRunResources().length };
    }

    it("refuses an approver or reader of another account for every IAM mechanism, naming the key, before any resource", async () => {
      const other = (name: string) => `arn:aws:iam::999999999999:role/${name}`;
      const { error, resources } = await configErrorOf("dev", {
        "sfn-approvals:executionDataReaders": [`arn:aws:iam::${ACCOUNT_ID}:role/Operator`, other("Auditor")],
        "sfn-approvals:stages": [
          {
            name: "manager",
            mechanism: "ssm-automation",
            timeout: "1h",
            approvers: [`arn:aws:iam::${ACCOUNT_ID}:user/alice`, other("ReleaseApprover")],
          },
          { name: "finance", mechanism: "codepipeline", timeout: "1h", approvers: [other("FinanceApprover")] },
          { name: "ops", mechanism: "activity", timeout: "1h", approvers: [other("Operator")] },
          { name: "lead", mechanism: "email-link", timeout: "1h", approvers: ["lead@example.com"] },
        ],
      });
      expect(error.problems).to.deep.equal([
        `sfn-approvals:stages[0].approvers[1] is "${other("ReleaseApprover")}": it is in account 999999999999, but this stack deploys to account ${ACCOUNT_ID}; IAM approvers and readers must be users or roles of that account (a principal of another account cannot act on this account's automation executions, pipelines or activities)`,
        `sfn-approvals:stages[1].approvers[0] is "${other("FinanceApprover")}": it is in account 999999999999, but this stack deploys to account ${ACCOUNT_ID}; IAM approvers and readers must be users or roles of that account (a principal of another account cannot act on this account's automation executions, pipelines or activities)`,
        `sfn-approvals:stages[2].approvers[0] is "${other("Operator")}": it is in account 999999999999, but this stack deploys to account ${ACCOUNT_ID}; IAM approvers and readers must be users or roles of that account (a principal of another account cannot act on this account's automation executions, pipelines or activities)`,
        `sfn-approvals:executionDataReaders[1] is "${other("Auditor")}": it is in account 999999999999, but this stack deploys to account ${ACCOUNT_ID}; IAM approvers and readers must be users or roles of that account (a principal of another account cannot act on this account's automation executions, pipelines or activities)`,
      ]);
      expect(resources, "nothing is registered before the config is accepted").to.equal(0);
    });

    it("needs aws-native:region (the workflow's versions and alias), naming the command, before any resource", async () => {
      const { error, resources } = await configErrorOf("dev", { "aws-native:region": undefined });
      expect(error.problems).to.deep.equal([
        "aws-native:region is not set: the workflow's versions and its alias are created with the aws-native provider, which takes its own Region; set it to the stack's Region: pulumi config set aws-native:region eu-west-1",
      ]);
      expect(resources, "nothing is registered before the config is accepted").to.equal(0);
    });

    it("refuses an unknown key of the sfn-approvals namespace (a typo would turn a feature off), with a hint", async () => {
      const { error } = await configErrorOf("staging", {
        "sfn-approvals:autoapproveBelow": "500",
        "sfn-approvals:approvers": "[]",
      });
      expect(error.problems).to.deep.equal([
        "sfn-approvals:autoapproveBelow is not a known key (did you mean sfn-approvals:autoApproveBelow?): allowed are sfn-approvals:stages, sfn-approvals:autoApproveBelow, sfn-approvals:alertEmails, sfn-approvals:executionDataReaders, sfn-approvals:attachApproverPolicies, sfn-approvals:approverPolicyPrefix, sfn-approvals:identityCenter, sfn-approvals:audit, sfn-approvals:rollout, sfn-approvals:slackTeamId, sfn-approvals:slackBotToken, sfn-approvals:slackSigningSecret",
        "sfn-approvals:approvers is not a known key: allowed are sfn-approvals:stages, sfn-approvals:autoApproveBelow, sfn-approvals:alertEmails, sfn-approvals:executionDataReaders, sfn-approvals:attachApproverPolicies, sfn-approvals:approverPolicyPrefix, sfn-approvals:identityCenter, sfn-approvals:audit, sfn-approvals:rollout, sfn-approvals:slackTeamId, sfn-approvals:slackBotToken, sfn-approvals:slackSigningSecret",
      ]);
    });

    it("reports stages that are not valid YAML/JSON", async () => {
      let caught: unknown;
      try {
        await runProgram("dev", { ...stackConfig("dev"), "sfn-approvals:stages": "[{name: " });
      } catch (error) {
        caught = error;
      }
      expect((caught as Error).message).to.contain("sfn-approvals:stages is not valid YAML/JSON");
    });
  });
});
