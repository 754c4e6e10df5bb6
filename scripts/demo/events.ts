// The EventBridge events AWS sends when an approver has answered, built from AWS documentation's
// own sample events (tests/fixtures/aws-events/, each naming its page): only the fields the sample
// shows change, as in the tests of the result functions.
import { randomUUID } from "crypto";
import { readFileSync } from "fs";
import { join } from "path";
import type { EventBridgeEvent } from "../../functions/shared/eventBridge";
import type { Automation, PipelineExecution } from "./services";

type Sample = { event: EventBridgeEvent };

function sample(file: string): Sample {
  return JSON.parse(
    readFileSync(join(__dirname, "..", "..", "tests", "fixtures", "aws-events", file), "utf8"),
  ) as Sample;
}

/** "Nov 29, 2024 7:43:25 PM", the sample's format of StartTime and EndTime. */
function sampleTime(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  const month = d.toLocaleString("en-US", { month: "short", timeZone: "UTC" });
  const hours = d.getUTCHours() % 12 || 12;
  const two = (n: number) => String(n).padStart(2, "0");
  return `${month} ${d.getUTCDate()}, ${d.getUTCFullYear()} ${hours}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} ${d.getUTCHours() < 12 ? "AM" : "PM"}`;
}

/** AWS's sample event in `file`, made this account's and region's, sent now, about `resources`, with `detail` over the sample's. */
function fromSample(
  file: string,
  account: string,
  region: string,
  resources: string[],
  detail: Record<string, unknown>,
): EventBridgeEvent {
  const { event } = sample(file);
  return {
    ...event,
    id: randomUUID(),
    account,
    region,
    time: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
    resources,
    detail: { ...event.detail, ...detail },
  };
}

function pipelineArn(execution: PipelineExecution, account: string, region: string): string {
  return `arn:aws:codepipeline:${region}:${account}:${execution.pipelineName}`;
}

/** "EC2 Automation Step Status-change Notification" for the ended aws:approve step (ssm-automation-step-status-change.json). */
export function automationStepEvent(automation: Automation, account: string, region: string): EventBridgeEvent {
  const resources = [
    `arn:aws:ssm:${region}:${account}:automation-execution/${automation.id}`,
    `arn:aws:ssm:${region}:${account}:automation-definition/${automation.step.documentName}:1`,
  ];
  return fromSample("ssm-automation-step-status-change.json", account, region, resources, {
    ExecutionId: automation.id,
    Definition: automation.step.documentName,
    Status: automation.stepStatus,
    StartTime: sampleTime(automation.startTime),
    EndTime: sampleTime(automation.endTime ?? Date.now() / 1000),
    Time: Math.round(((automation.endTime ?? Date.now() / 1000) - automation.startTime) * 1000),
    StepName: "Approve",
    Action: "aws:approve",
  });
}

/** "CodePipeline Action Execution State Change" for the answered approval action (codepipeline-action-abandoned.json). */
export function approvalActionEvent(execution: PipelineExecution, account: string, region: string): EventBridgeEvent {
  return fromSample("codepipeline-action-abandoned.json", account, region, [pipelineArn(execution, account, region)], {
    pipeline: execution.pipelineName,
    "execution-id": execution.id,
    "action-execution-id": execution.approval.actionExecutionId,
    stage: "Approval",
    action: "Approve",
    state: execution.approval.status === "Succeeded" ? "SUCCEEDED" : "FAILED",
    region,
    // The Manual approval action type (CodePipeline action structure reference: Approval / AWS / Manual / 1).
    type: { owner: "AWS", provider: "Manual", category: "Approval", version: "1" },
  });
}

/** "CodePipeline Pipeline Execution State Change" for an execution that failed (codepipeline-pipeline-failed.json). */
export function pipelineFailedEvent(execution: PipelineExecution, account: string, region: string): EventBridgeEvent {
  return fromSample("codepipeline-pipeline-failed.json", account, region, [pipelineArn(execution, account, region)], {
    pipeline: execution.pipelineName,
    "execution-id": execution.id,
    "start-time": new Date(execution.startTime * 1000).toISOString(),
    state: "FAILED",
  });
}
