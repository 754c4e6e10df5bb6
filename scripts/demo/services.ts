// The sandbox's other AWS services, each a small model of what the stack's functions call:
// Systems Manager runs the stage runbook's aws:approve step, CodePipeline the stage pipeline's
// manual approval, SNS delivers to the topics' subscribers, and DynamoDB holds the codepipeline
// token tables, the email-link code table and a slack stage's request table. They answer in the
// SDK's protocols (FakeAws), so the serialized functions talk to them as to AWS. Where AWS
// documents no behaviour (docs/unknowns.md rows 2 and 3: how a rejected aws:approve step reports,
// the keys of ApproverDecisions), the model picks one answer and says so; nothing here is
// evidence of AWS behaviour.
import { randomUUID } from "crypto";
import { AwsError, FakeAws, snsPublishXml } from "../../tests/helpers/fakeAws";
import { FakeCodeTable } from "../../tests/helpers/fakeCodeTable";
import { FakeSlackRequestTable } from "../../tests/helpers/fakeSlackRequestTable";

/** A message SNS delivers to a topic's subscribers. */
export interface Delivery {
  topicArn: string;
  subject?: string;
  message: string;
}

/** SNS Publish (query protocol): every message is handed to `deliver`, which prints and files it. */
export class SandboxSns {
  readonly published: Delivery[] = [];

  constructor(
    private readonly topics: Set<string>,
    private readonly deliver: (delivery: Delivery, how: { approval: boolean; note?: string }) => void,
  ) {}

  /** Publish by the functions: the email-link start functions' approval emails. */
  serve(aws: FakeAws): void {
    aws.on("Publish", (body) => {
      if (!this.topics.has(body.TopicArn)) return new AwsError("NotFound", "Topic does not exist", 404);
      const delivery = {
        topicArn: String(body.TopicArn),
        ...(body.Subject !== undefined ? { subject: String(body.Subject) } : {}),
        message: String(body.Message ?? ""),
      };
      return snsPublishXml(this.publish(delivery, { approval: true }));
    });
  }

  /** Delivers a message; `approval`: it asks its recipients to decide (not a reminder or a notice). */
  publish(delivery: Delivery, how: { approval: boolean; note?: string }): string {
    this.published.push(delivery);
    this.deliver(delivery, how);
    return randomUUID();
  }
}

// ---- DynamoDB: the tables of the stack, by name ----

type Item = Record<string, { S?: string; N?: string }>;
/** The request bodies the tables answer (parsed JSON), with the fields they read. */
interface PutItemRequest {
  Item: Item;
  ConditionExpression?: string;
}
interface GetItemRequest {
  Key: Item;
}
interface UpdateItemRequest {
  Key: Item;
  UpdateExpression?: string;
  ConditionExpression?: string;
  ExpressionAttributeValues: Item;
}
type TableRequest = PutItemRequest | GetItemRequest | UpdateItemRequest;
interface TableHandlers {
  PutItem: (body: PutItemRequest) => unknown;
  GetItem: (body: GetItemRequest) => unknown;
  UpdateItem: (body: UpdateItemRequest) => unknown;
}

/** A codepipeline stage's token table, evaluating exactly the expressions functions/mechanisms/codePipeline/tokenStore.ts sends (any other is refused). */
class TokenTable {
  readonly items = new Map<string, Item>();

  handlers(): TableHandlers {
    const failed = () => new AwsError("ConditionalCheckFailedException", "The conditional request failed");
    return {
      PutItem: (body) => {
        if (body.ConditionExpression !== "attribute_not_exists(approvalKey)")
          return new AwsError(
            "ValidationException",
            `the sandbox does not know the condition ${body.ConditionExpression}`,
          );
        const key = body.Item.approvalKey.S as string;
        if (this.items.has(key)) return failed();
        this.items.set(key, structuredClone(body.Item));
        return {};
      },
      GetItem: (body) => {
        const item = this.items.get(body.Key.approvalKey.S as string);
        return item ? { Item: structuredClone(item) } : {};
      },
      UpdateItem: (body) => {
        const item = this.items.get(body.Key.approvalKey.S as string);
        const values = body.ExpressionAttributeValues;
        const boundElsewhere =
          item?.pipelineExecutionId !== undefined && item.pipelineExecutionId.S !== values[":execution"]?.S;
        if (
          body.UpdateExpression === "SET pipelineExecutionId = :execution" &&
          body.ConditionExpression ===
            "attribute_exists(approvalKey) AND (attribute_not_exists(pipelineExecutionId) OR pipelineExecutionId = :execution)"
        ) {
          if (!item || boundElsewhere) return failed();
          item.pipelineExecutionId = values[":execution"];
          return {};
        }
        if (
          body.UpdateExpression ===
            "SET decidedAt = :decidedAt, decision = :decision, pipelineExecutionId = :execution" &&
          body.ConditionExpression ===
            "attribute_exists(approvalKey) AND attribute_not_exists(decidedAt) AND (attribute_not_exists(pipelineExecutionId) OR pipelineExecutionId = :execution)"
        ) {
          if (!item || item.decidedAt || boundElsewhere) return failed();
          Object.assign(item, {
            decidedAt: values[":decidedAt"],
            decision: values[":decision"],
            pipelineExecutionId: values[":execution"],
          });
          return {};
        }
        return new AwsError(
          "ValidationException",
          `the sandbox does not know the update ${body.UpdateExpression} / ${body.ConditionExpression}`,
        );
      },
    };
  }
}

/** DynamoDB with the stack's tables: the email-link code table (tests/helpers/fakeCodeTable.ts), a token table per codepipeline stage, a slack stage's request table. */
export class SandboxTables {
  private readonly tables = new Map<string, TableHandlers>();

  addCodeTable(name: string): void {
    this.addServed(name, new FakeCodeTable(name));
  }

  /** A slack stage's request table (tests/helpers/fakeSlackRequestTable.ts: the store's exact expressions). */
  addSlackRequestTable(name: string): void {
    this.addServed(name, new FakeSlackRequestTable(name));
  }

  /** A table fake registers its operations on an endpoint; here they are kept by table name. */
  private addServed(name: string, table: { serve(aws: FakeAws): void }): void {
    const handlers: Partial<TableHandlers> = {};
    table.serve({
      on: (operation: keyof TableHandlers, handler: (body: TableRequest) => unknown) => {
        handlers[operation] = handler;
      },
    } as unknown as FakeAws);
    this.tables.set(name, handlers as TableHandlers);
  }

  addTokenTable(name: string): void {
    this.tables.set(name, new TokenTable().handlers());
  }

  serve(aws: FakeAws): void {
    for (const operation of ["PutItem", "GetItem", "UpdateItem"] as const) {
      aws.on(
        operation,
        (body) =>
          this.tables.get(body.TableName)?.[operation](body) ??
          new AwsError(
            "ResourceNotFoundException",
            `Requested resource not found: Table: ${String(body.TableName)} not found`,
          ),
      );
    }
  }
}

// ---- Systems Manager: the stage runbook's aws:approve step ----

export interface ApproveStep {
  documentName: string;
  approvers: string[];
  minRequiredApprovals: number;
  notificationArn: string;
  /** The step's Message input, e.g. "{{ Message }}". */
  message: string;
}

export interface Automation {
  id: string;
  step: ApproveStep;
  parameters: Record<string, string[]>;
  clientToken?: string;
  executedBy: string;
  startTime: number;
  decisions: Array<{ approver: string; decision: "Approve" | "Reject"; comment: string; time: string }>;
  stepStatus: "Waiting" | "Success" | "Failed";
  endTime?: number;
}

/** The runbook's aws:approve step inputs, from the SSM document's content (components/mechanisms/ssmAutomationApproval.ts approvalRunbook). */
export function approveStepOf(documentName: string, content: string): ApproveStep {
  const runbook = JSON.parse(content) as { mainSteps?: Array<{ action?: string; inputs?: Record<string, unknown> }> };
  const step = (runbook.mainSteps ?? []).find((s) => s.action === "aws:approve");
  if (!step?.inputs) throw new Error(`the runbook ${documentName} has no aws:approve step`);
  return {
    documentName,
    approvers: step.inputs.Approvers as string[],
    minRequiredApprovals: Number(step.inputs.MinRequiredApprovals ?? 1),
    notificationArn: String(step.inputs.NotificationArn),
    message: String(step.inputs.Message ?? ""),
  };
}

export class SandboxSsm {
  readonly automations: Automation[] = [];

  /**
   * `steps`: the stack's runbooks by name; `executedBy`: who started an automation of a runbook (the
   * start function's role session, as in Lambda); `started` is told of each new automation.
   */
  constructor(
    private readonly steps: Map<string, ApproveStep>,
    private readonly executedBy: (documentName: string) => string,
    private readonly started: (automation: Automation) => void,
  ) {}

  serve(aws: FakeAws): void {
    aws.on("StartAutomationExecution", (body) => {
      const step = this.steps.get(body.DocumentName);
      if (!step)
        return new AwsError("AutomationDefinitionNotFoundException", `Document ${String(body.DocumentName)} not found`);
      // ClientToken: the same token with the same parameters is the same automation; with others,
      // IdempotentParameterMismatch (SSM API model, @aws-sdk/client-ssm StartAutomationExecution).
      const earlier = body.ClientToken ? this.automations.find((a) => a.clientToken === body.ClientToken) : undefined;
      if (earlier) {
        return JSON.stringify(earlier.parameters) === JSON.stringify(body.Parameters ?? {})
          ? { AutomationExecutionId: earlier.id }
          : new AwsError("IdempotentParameterMismatch", "The parameters don't match the original call");
      }
      const automation: Automation = {
        id: randomUUID(),
        step,
        parameters: body.Parameters ?? {},
        clientToken: body.ClientToken,
        executedBy: this.executedBy(step.documentName),
        startTime: Date.now() / 1000,
        decisions: [],
        stepStatus: "Waiting",
      };
      this.automations.push(automation);
      this.started(automation);
      return { AutomationExecutionId: automation.id };
    });
    aws.on("GetAutomationExecution", (body) => {
      const a = this.automations.find((x) => x.id === body.AutomationExecutionId);
      if (!a)
        return new AwsError(
          "AutomationExecutionNotFoundException",
          `Automation execution ${String(body.AutomationExecutionId)} not found`,
        );
      const approval = a.stepStatus === "Success" ? "Approved" : a.stepStatus === "Failed" ? "Rejected" : "Waiting";
      return {
        AutomationExecution: {
          AutomationExecutionId: a.id,
          DocumentName: a.step.documentName,
          DocumentVersion: "1",
          AutomationExecutionStatus: a.stepStatus === "Waiting" ? "Waiting" : a.stepStatus,
          ExecutionStartTime: a.startTime,
          ...(a.endTime ? { ExecutionEndTime: a.endTime } : {}),
          ExecutedBy: a.executedBy,
          Parameters: a.parameters,
          StepExecutions: [
            {
              StepName: "Approve",
              Action: "aws:approve",
              StepStatus: a.stepStatus,
              ExecutionStartTime: a.startTime,
              ...(a.endTime ? { ExecutionEndTime: a.endTime } : {}),
              // Keys as a re:Post answer shows them (docs/unknowns.md row 3); a rejection reports
              // StepStatus Failed with ApprovalStatus Rejected (row 2): the sandbox's choice.
              Outputs: {
                ApprovalStatus: [approval],
                ...(a.decisions.length > 0
                  ? {
                      ApproverDecisions: a.decisions.map((d) =>
                        JSON.stringify({
                          Approver: d.approver,
                          Decision: d.decision,
                          ApprovalDecisionTime: d.time,
                          Comment: d.comment,
                        }),
                      ),
                    }
                  : {}),
              },
            },
          ],
        },
      };
    });
  }

  /**
   * An approver answers the step, as SendAutomationSignal (SignalType Approve or Reject) would.
   * The step is approved once MinRequiredApprovals approvers approved; one rejection rejects it.
   */
  signal(
    automation: Automation,
    approver: string,
    decision: "Approve" | "Reject",
    comment: string,
  ): "waiting" | "approved" | "rejected" {
    if (automation.stepStatus !== "Waiting")
      throw new Error(`the approval step of automation ${automation.id} has already ended`);
    if (!automation.step.approvers.includes(approver))
      throw new Error(`${approver} is not an approver of runbook ${automation.step.documentName}`);
    if (automation.decisions.some((d) => d.approver === approver)) throw new Error(`${approver} has already answered`);
    automation.decisions.push({ approver, decision, comment, time: new Date().toISOString() });
    const approvals = automation.decisions.filter((d) => d.decision === "Approve").length;
    if (decision === "Reject") automation.stepStatus = "Failed";
    else if (approvals >= automation.step.minRequiredApprovals) automation.stepStatus = "Success";
    else return "waiting";
    automation.endTime = Date.now() / 1000;
    return automation.stepStatus === "Success" ? "approved" : "rejected";
  }
}

// ---- CodePipeline: the stage pipeline's manual approval action ----

export interface PipelineExecution {
  id: string;
  pipelineName: string;
  clientRequestToken?: string;
  variables: Array<{ name: string; value: string }>;
  trigger: { triggerType: string; triggerDetail: string };
  status: "InProgress" | "Succeeded" | "Failed";
  startTime: number;
  approval: {
    actionExecutionId: string;
    status: "InProgress" | "Succeeded" | "Failed";
    updatedBy?: string;
    summary?: string;
    lastUpdateTime: number;
  };
}

export class SandboxCodePipeline {
  readonly executions: PipelineExecution[] = [];

  /** `startedBy`: who called StartPipelineExecution for a pipeline (the start function's role session). */
  constructor(
    private readonly pipelines: Set<string>,
    private readonly startedBy: (pipelineName: string) => string,
    private readonly started: (execution: PipelineExecution) => void,
  ) {}

  serve(aws: FakeAws): void {
    const missing = (name: unknown) => new AwsError("PipelineNotFoundException", `Pipeline ${String(name)} not found`);
    aws.on("StartPipelineExecution", (body) => {
      if (!this.pipelines.has(body.name)) return missing(body.name);
      const earlier = body.clientRequestToken
        ? this.executions.find((e) => e.pipelineName === body.name && e.clientRequestToken === body.clientRequestToken)
        : undefined;
      if (earlier) return { pipelineExecutionId: earlier.id };
      const now = Date.now() / 1000;
      const execution: PipelineExecution = {
        id: randomUUID(),
        pipelineName: body.name,
        clientRequestToken: body.clientRequestToken,
        variables: body.variables ?? [],
        trigger: { triggerType: "StartPipelineExecution", triggerDetail: this.startedBy(body.name) },
        status: "InProgress",
        startTime: now,
        approval: { actionExecutionId: randomUUID(), status: "InProgress", lastUpdateTime: now },
      };
      this.executions.push(execution);
      this.started(execution);
      return { pipelineExecutionId: execution.id };
    });
    aws.on("GetPipelineExecution", (body) => {
      const e = this.executions.find((x) => x.pipelineName === body.pipelineName && x.id === body.pipelineExecutionId);
      if (!e)
        return new AwsError(
          "PipelineExecutionNotFoundException",
          `Pipeline execution ${String(body.pipelineExecutionId)} not found`,
        );
      return {
        pipelineExecution: {
          pipelineName: e.pipelineName,
          pipelineExecutionId: e.id,
          pipelineVersion: 1,
          status: e.status,
          executionMode: "PARALLEL",
          executionType: "STANDARD",
          trigger: e.trigger,
          variables: e.variables.map((v) => ({ name: v.name, resolvedValue: v.value })),
        },
      };
    });
    aws.on("ListActionExecutions", (body) => {
      if (!this.pipelines.has(body.pipelineName)) return missing(body.pipelineName);
      const e = this.executions.find(
        (x) => x.pipelineName === body.pipelineName && x.id === body.filter?.pipelineExecutionId,
      );
      if (!e) return { actionExecutionDetails: [] };
      const approval = {
        pipelineExecutionId: e.id,
        actionExecutionId: e.approval.actionExecutionId,
        pipelineVersion: 1,
        stageName: "Approval",
        actionName: "Approve",
        startTime: e.startTime,
        lastUpdateTime: e.approval.lastUpdateTime,
        status: e.approval.status,
        ...(e.approval.updatedBy ? { updatedBy: e.approval.updatedBy } : {}),
        input: { actionTypeId: { category: "Approval", owner: "AWS", provider: "Manual", version: "1" } },
        ...(e.approval.summary !== undefined
          ? { output: { executionResult: { externalExecutionSummary: e.approval.summary } } }
          : {}),
      };
      const source = {
        pipelineExecutionId: e.id,
        actionExecutionId: randomUUID(),
        pipelineVersion: 1,
        stageName: "Request",
        actionName: "Request",
        startTime: e.startTime,
        lastUpdateTime: e.startTime,
        status: "Succeeded",
      };
      return { actionExecutionDetails: [approval, source] };
    });
  }

  /** An approver answers the approval action, as PutApprovalResult (status Approved or Rejected, summary) would. */
  putApprovalResult(
    execution: PipelineExecution,
    updatedBy: string,
    status: "Approved" | "Rejected",
    summary: string,
  ): void {
    if (execution.approval.status !== "InProgress")
      throw new Error(`the approval of pipeline execution ${execution.id} has already ended`);
    execution.approval = {
      ...execution.approval,
      status: status === "Approved" ? "Succeeded" : "Failed",
      updatedBy,
      summary,
      lastUpdateTime: Date.now() / 1000,
    };
    // After an approval the Record stage runs and the execution succeeds; a rejection fails it.
    execution.status = status === "Approved" ? "Succeeded" : "Failed";
  }
}
