// The workflow's versions and alias (components/workflow/workflowRollout.ts) under Pulumi mocks:
// exact inputs and options, per sfn-approvals:rollout, alone and in the whole program.
import { expect } from "chai";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { RolloutConfig } from "../components/workflow/rolloutConfig";
import { ALIAS_NAME, WorkflowRollout, definitionDigest, versionNumberOf } from "../components/workflow/workflowRollout";
import { ACCOUNT_ID, RecordedResource, named, ofType, runProgram, runWithMocks } from "./helpers/pulumiMocks";
import { stackConfig } from "./helpers/stackConfig";

const STATE_MACHINE_ARN = `arn:aws:states:eu-west-1:${ACCOUNT_ID}:stateMachine:orders`;
const VERSION_ARN = `${STATE_MACHINE_ARN}:1`;
const DEFINITION = JSON.stringify({ StartAt: "Done", States: { Done: { Type: "Succeed" } } });
const VERSION = "aws-native:stepfunctions:StateMachineVersion";
const ALIAS = "aws-native:stepfunctions:StateMachineAlias";
const ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm";

function pick(stateMachine: aws.sfn.StateMachine) {
  return { arn: stateMachine.arn, name: stateMachine.name, revisionId: stateMachine.revisionId };
}

interface Run {
  resources: RecordedResource[];
  /** The resource options of the component's children, by child name. */
  options: Record<string, pulumi.CustomResourceOptions>;
}

/** A state machine and its rollout; `revisionId` stands for what the AWS provider reads after an update. */
async function rolloutOf(rollout: RolloutConfig, revisionId?: string): Promise<Run> {
  const options: Record<string, pulumi.CustomResourceOptions> = {};
  const { resources } = await runWithMocks("dev", {}, () => {
    const created = new aws.sfn.StateMachine("orders", {
      name: "orders",
      roleArn: `arn:aws:iam::${ACCOUNT_ID}:role/orders`,
      definition: DEFINITION,
    });
    // The mocks answer no revision id, as Step Functions for a state machine's first revision.
    const stateMachine = revisionId ? { ...pick(created), revisionId: pulumi.output(revisionId) } : created;
    const component = new WorkflowRollout(
      "orders-rollout",
      { stateMachine, definition: DEFINITION, rollout },
      {
        transformations: [
          (args) => {
            options[args.name] = args.opts as pulumi.CustomResourceOptions;
            return undefined;
          },
        ],
      },
    );
    return { aliasArn: component.aliasArn };
  });
  return { resources, options };
}

describe("rollout: the workflow's versions and its alias (Pulumi mocks)", () => {
  it("publishes the state machine's first revision as a version, retained when a new one replaces it", async () => {
    const run = await rolloutOf({ type: "ALL_AT_ONCE" });
    const version = named(run.resources, "orders-rollout-version");
    expect(version.type).to.equal(VERSION);
    expect(version.inputs).to.deep.equal({
      stateMachineArn: STATE_MACHINE_ARN,
      // The first revision has no id: PublishStateMachineVersion takes INITIAL for it.
      stateMachineRevisionId: "INITIAL",
      description: `sfn-approvals definition ${definitionDigest(DEFINITION)}`,
    });
    expect(run.options["orders-rollout-version"]).to.include({ retainOnDelete: true });
  });

  it("publishes each later revision by its id, so every new revision replaces the version resource", async () => {
    const run = await rolloutOf({ type: "ALL_AT_ONCE" }, "7f2c7a4e-2f3e-4a61-9d2b-6f0a5e1c2b3d");
    expect(named(run.resources, "orders-rollout-version").inputs.stateMachineRevisionId).to.equal(
      "7f2c7a4e-2f3e-4a61-9d2b-6f0a5e1c2b3d",
    );
  });

  it("names the definition's hash in the version's description: a changed definition shows in a preview", () => {
    expect(definitionDigest(DEFINITION)).to.match(/^sha256:[0-9a-f]{16}$/);
    expect(definitionDigest(DEFINITION)).not.to.equal(definitionDigest(DEFINITION.replace("Done", "End")));
    expect(versionNumberOf(`${STATE_MACHINE_ARN}:12`)).to.equal("12");
  });

  it("all at once: points the alias at the version with no shift, no alarm and no rollback alarm", async () => {
    const run = await rolloutOf({ type: "ALL_AT_ONCE" });
    const alias = named(run.resources, "orders-rollout-alias");
    expect(alias.type).to.equal(ALIAS);
    expect(alias.inputs).to.deep.equal({
      name: ALIAS_NAME,
      description: "What callers start: the current version of orders",
      deploymentPreference: { stateMachineVersionArn: VERSION_ARN, type: "ALL_AT_ONCE" },
    });
    expect(alias.state.arn).to.equal(`${STATE_MACHINE_ARN}:live`);
    expect(ofType(run.resources, ALARM)).to.have.length(0);
    expect(run.options["orders-rollout-alias"].customTimeouts).to.deep.equal({ create: "30m", update: "30m" });
  });

  it("canary: shifts the percentage, then the rest after the interval, rolling back on the new version's failures", async () => {
    const run = await rolloutOf({ type: "CANARY", percentage: 10, intervalMinutes: 30, interval: "30m" });
    const alarm = named(run.resources, "orders-rollout-rollback-alarm");
    expect(alarm.inputs).to.deep.equal({
      name: "orders-v1-rollout",
      alarmDescription:
        "Executions of version 1 of orders failed while the live alias shifted to it: the shift rolls back",
      namespace: "AWS/States",
      metricName: "ExecutionsFailed",
      // Executions started through an alias are also counted by version (StateMachineArn and Version).
      dimensions: { StateMachineArn: STATE_MACHINE_ARN, Version: "1" },
      statistic: "Sum",
      period: 60,
      evaluationPeriods: 1,
      threshold: 0,
      comparisonOperator: "GreaterThanThreshold",
      treatMissingData: "notBreaching",
    });
    // No actions: the workflow's own failed-executions alarm already tells the operators.
    expect(alarm.inputs).not.to.have.property("alarmActions");
    expect(named(run.resources, "orders-rollout-alias").inputs.deploymentPreference).to.deep.equal({
      stateMachineVersionArn: VERSION_ARN,
      type: "CANARY",
      percentage: 10,
      interval: 30,
      // The alarm's name, not its ARN: the deployment looks alarms up by name.
      alarms: ["orders-v1-rollout"],
    });
    // pulumi up waits for the shift: the interval and a margin.
    expect(run.options["orders-rollout-alias"].customTimeouts).to.deep.equal({ create: "30m", update: "60m" });
  });

  it("linear: shifts the percentage every interval, with the same rollback alarm", async () => {
    const run = await rolloutOf({ type: "LINEAR", percentage: 25, intervalMinutes: 60, interval: "1h" });
    expect(named(run.resources, "orders-rollout-alias").inputs.deploymentPreference).to.deep.equal({
      stateMachineVersionArn: VERSION_ARN,
      type: "LINEAR",
      percentage: 25,
      interval: 60,
      alarms: ["orders-v1-rollout"],
    });
    // Four steps of an hour, and the margin.
    expect(run.options["orders-rollout-alias"].customTimeouts).to.deep.equal({ create: "30m", update: "270m" });
    expect(ofType(run.resources, ALARM)).to.have.length(1);
  });

  describe("in the program", () => {
    it("dev: one version of the workflow's state machine, the alias all at once, exported as aliasArn", async () => {
      const dev = await runProgram("dev", stackConfig("dev"));
      const stateMachineArn = `arn:aws:states:eu-west-1:${ACCOUNT_ID}:stateMachine:sfn-approvals-dev`;
      expect(dev.outputs.aliasArn).to.equal(`${stateMachineArn}:live`);
      expect(dev.outputs.stateMachineArn).to.equal(stateMachineArn);
      const [version] = ofType(dev.resources, VERSION);
      expect(version.inputs).to.include({ stateMachineArn, stateMachineRevisionId: "INITIAL" });
      expect(ofType(dev.resources, VERSION)).to.have.length(1);
      expect(ofType(dev.resources, ALIAS).map((a) => a.inputs.deploymentPreference)).to.deep.equal([
        { stateMachineVersionArn: `${stateMachineArn}:1`, type: "ALL_AT_ONCE" },
      ]);
      // The version names the definition the state machine runs.
      const definition = named(dev.resources, "approvals-state-machine").inputs.definition as string;
      expect(version.inputs.description).to.equal(`sfn-approvals definition ${definitionDigest(definition)}`);
    });

    it("a canary stack config reaches the alias and adds the rollback alarm beside the workflow's", async () => {
      const run = await runProgram(
        "dev",
        stackConfig("dev", { "sfn-approvals:rollout": { type: "canary", percentage: 20, interval: "15m" } }),
      );
      expect(ofType(run.resources, ALIAS)[0].inputs.deploymentPreference).to.deep.equal({
        stateMachineVersionArn: `arn:aws:states:eu-west-1:${ACCOUNT_ID}:stateMachine:sfn-approvals-dev:1`,
        type: "CANARY",
        percentage: 20,
        interval: 15,
        alarms: ["sfn-approvals-dev-v1-rollout"],
      });
      expect(ofType(run.resources, ALARM).map((a) => a.name)).to.have.members([
        "approvals-failed-alarm",
        "approvals-rollout-rollback-alarm",
      ]);
    });
  });
});
