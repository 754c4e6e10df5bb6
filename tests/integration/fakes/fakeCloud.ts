// The AWS side of the integration suite, faked for its offline tests (tests/integrationRun.test.ts):
// one FakeAws endpoint answering STS, IAM, SQS, SNS, Step Functions, SSM, CodePipeline, Lambda,
// CloudWatch Logs, EventBridge and CloudWatch as the suite calls them, plus an approval page on
// 127.0.0.1. Behind it, a small simulation of each mechanism's stage: an execution waits with a
// task token; an automation, pipeline approval, activity task or email link waits for a decision;
// only the principals the stack config names as approvers (read from the fake pulumi's state)
// may decide, and a decision ends the execution with the contract's output. A request named
// `*-timeout` is never decided: it times out after `timeoutAfterMs` (email-link: a reminder and
// an escalation are published first).
import { createHash, randomBytes, randomUUID } from "crypto";
import { readFileSync } from "fs";
import { Server, createServer } from "http";
import { AddressInfo } from "net";
import { join } from "path";
import { approvalLink, codeLink, decodeToken } from "../../../functions/mechanisms/email/approvalLink";
import type { Mechanism } from "../lib/stackConfig";
import { composeApprovalEmail } from "../../../functions/mechanisms/email/emailLink";
import { actorIsAnyOf } from "../../../functions/shared/principals";
import { approvalKeyOf } from "../../../functions/mechanisms/codePipeline/tokenStore";
import {
  AwsError,
  FakeAws,
  RawAnswer,
  RecordedRequest,
  assumeRoleXml,
  callerIdentityXml,
  fakeTaskToken,
  queryXml,
  xmlText,
} from "../../helpers/fakeAws";

export const ACCOUNT = "123456789012";
export const REGION = "eu-west-1";
export const RUNNER_KEY = "AKIAFAKERUNNER";
export const RUNNER_ARN = `arn:aws:sts::${ACCOUNT}:assumed-role/Deployer/ci-run`;
const SNS_NS = "http://sns.amazonaws.com/doc/2010-03-31/";

/** The stack outputs the fake `pulumi up` reports for a mechanism ("{{stack}}" is the stack's name); queue URLs point at the fake. */
export function fakeOutputs(mechanism: Mechanism, pageUrl: string, awsUrl: string): Record<string, unknown> {
  const name = "sfn-approvals-{{stack}}";
  const topic = `arn:aws:sns:${REGION}:${ACCOUNT}:${name}-it-approvals`;
  const common = { startFunctionName: `{{stack}}-it-start`, deadLetterQueueUrl: `${awsUrl}/${ACCOUNT}/{{stack}}-dlq` };
  const outputs: Record<Mechanism, Record<string, string>> = {
    "ssm-automation": {
      documentName: `${name}-it`,
      topicArn: `arn:aws:sns:${REGION}:${ACCOUNT}:Automation-${name}-it`,
      resultFunctionName: `{{stack}}-it-result`,
      ...common,
    },
    codepipeline: {
      pipelineName: `${name}-it`,
      topicArn: `${topic}`,
      resultFunctionName: `{{stack}}-it-result`,
      ...common,
    },
    activity: { activityArn: `arn:aws:states:${REGION}:${ACCOUNT}:activity:${name}-it` },
    "email-link": {
      topicArn: topic,
      approvalPageUrl: pageUrl,
      startFunctionName: `{{stack}}-it-start`,
      escalationTopicArn: `arn:aws:sns:${REGION}:${ACCOUNT}:${name}-it-escalation`,
    },
    "sns-callback": {
      topicArn: topic,
      approvalPageUrl: pageUrl,
      escalationTopicArn: `arn:aws:sns:${REGION}:${ACCOUNT}:${name}-it-escalation`,
    },
  };
  return {
    stateMachineArn: `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${name}`,
    aliasArn: `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${name}:live`,
    executionDataKeyArn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/{{stack}}`,
    stages: [{ name: "it", mechanism, approvers: ["(from config)"], timeout: "3m", ...outputs[mechanism] }],
  };
}

interface Role {
  name: string;
  arn: string;
  trust: string;
  inline: Map<string, string>;
  created: Date;
}

interface Execution {
  arn: string;
  name: string;
  stackName: string;
  mechanism: Mechanism;
  request: Record<string, unknown>;
  token: string;
  events: Array<Record<string, unknown>>;
  status: "RUNNING" | "SUCCEEDED" | "ABORTED";
  output?: string;
  startedAt: number;
  /** When the suite first read the history (saw the stage waiting): the timeout counts from there, so a busy machine's late first look never finds the request already timed out. */
  firstReadAt?: number;
  /** Taken by a worker (activity). */
  taken?: boolean;
  automationId?: string;
  pipeline?: { id: string; approvalToken: string; action: Record<string, unknown> };
  code?: string;
  codeUsed?: boolean;
}

export interface FakeCloudOptions {
  /** Where the fake pulumi keeps its state (the stacks' config names the approvers). */
  pulumiDir: string;
  /** How long a `*-timeout` request waits before it times out. */
  timeoutAfterMs?: number;
  /** AssumeRole is refused this many times per role first, as while a new role's trust propagates. */
  assumeDeniedTimes?: number;
  /** Executions never reach their stage (a suite that waits until it is interrupted). */
  neverWait?: boolean;
  /** The runner's credentials expire after this many GetCallerIdentity calls (an SSO session running out). */
  runnerExpiresAfter?: number;
  /** CodePipeline leaves the approval's variables unresolved (an answer the code does not assume). */
  unresolvedVariables?: boolean;
}

const MECHANISMS_BY_PREFIX: Mechanism[] = ["ssm-automation", "codepipeline", "activity", "email-link", "sns-callback"];

export class FakeCloud {
  readonly aws = new FakeAws();
  pageUrl = "";
  private page?: Server;
  readonly roles = new Map<string, Role>();
  /** Access key -> the principal it signs as. */
  readonly principals = new Map<string, string>([[RUNNER_KEY, RUNNER_ARN]]);
  readonly queues = new Map<
    string,
    { name: string; arn: string; messages: string[]; created: number; deleted?: boolean }
  >();
  readonly subscriptions = new Map<string, { topicArn: string; queueArn: string }>();
  readonly executions = new Map<string, Execution>();
  /** Every decision the simulation accepted: who, through which call. */
  readonly decisions: Array<{ execution: string; by: string; via: string; decision: string }> = [];
  private readonly denied = new Map<string, number>();
  private readonly options: Required<FakeCloudOptions>;

  constructor(options: FakeCloudOptions) {
    this.options = {
      timeoutAfterMs: 150,
      assumeDeniedTimes: 0,
      neverWait: false,
      runnerExpiresAfter: Number.POSITIVE_INFINITY,
      unresolvedVariables: false,
      ...options,
    };
  }

  async start(): Promise<void> {
    await this.aws.start();
    this.page = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const { status, body } = this.pageAnswer(
          req.method ?? "GET",
          new URL(req.url ?? "/", "http://x"),
          Buffer.concat(chunks).toString("utf8"),
        );
        res.writeHead(status, { "content-type": "text/html" });
        res.end(body);
      });
    });
    await new Promise<void>((resolve) => this.page!.listen(0, "127.0.0.1", resolve));
    this.pageUrl = `http://127.0.0.1:${(this.page.address() as AddressInfo).port}/decide`;
    this.routes();
  }

  async stop(): Promise<void> {
    await this.aws.stop();
    await new Promise<void>((resolve) => (this.page ? this.page.close(() => resolve()) : resolve()));
  }

  /** The approvers the stack config names (what the suite put there). */
  approversOf(stackName: string): string[] {
    const state = JSON.parse(readFileSync(join(this.options.pulumiDir, "state.json"), "utf8")) as {
      stacks: Record<string, { config: Record<string, string> }>;
    };
    const stages = JSON.parse(state.stacks[stackName]?.config["sfn-approvals:stages"] ?? "[]") as Array<{
      approvers: string[];
    }>;
    return stages[0]?.approvers ?? [];
  }

  private caller(request: RecordedRequest): string {
    return this.principals.get(request.accessKeyId) ?? `unknown key ${request.accessKeyId}`;
  }

  private isApprover(execution: Execution, caller: string): boolean {
    return actorIsAnyOf(caller, this.approversOf(execution.stackName));
  }

  private refusedByIam(caller: string, action: string): AwsError {
    return new AwsError(
      "AccessDeniedException",
      `User: ${caller} is not authorized to perform: ${action} because no identity-based policy allows the ${action} action`,
    );
  }

  // ----- the simulation ----------------------------------------------------------------------

  private event(execution: Execution, type: string, details: Record<string, unknown> = {}): void {
    const id = execution.events.length + 1;
    execution.events.push({ id, previousEventId: id - 1, timestamp: Date.now() / 1000, type, ...details });
  }

  private publish(topicArn: string, message: string): void {
    for (const subscription of this.subscriptions.values()) {
      if (subscription.topicArn !== topicArn) continue;
      for (const queue of this.queues.values())
        if (queue.arn === subscription.queueArn && !queue.deleted) queue.messages.push(message);
    }
  }

  private topicOf(execution: Execution, kind: "approvals" | "escalation"): string {
    return `arn:aws:sns:${REGION}:${ACCOUNT}:sfn-approvals-${execution.stackName}-it-${kind}`;
  }

  private startExecution(body: { stateMachineArn: string; name: string; input: string }): Execution | AwsError {
    // An alias or version ARN names the state machine's executions like the unqualified ARN.
    const stateMachineArn = body.stateMachineArn.split(":").slice(0, 7).join(":");
    const stackName = stateMachineArn
      .split(":")
      .pop()!
      .replace(/^sfn-approvals-/, "");
    const mechanism = MECHANISMS_BY_PREFIX.find((m) => stackName.startsWith(`it-${m}-`));
    if (!mechanism)
      return new AwsError("StateMachineDoesNotExist", `State Machine Does Not Exist: '${body.stateMachineArn}'`);
    const arn = `${stateMachineArn.replace(":stateMachine:", ":execution:")}:${body.name}`;
    if (this.executions.has(arn)) return new AwsError("ExecutionAlreadyExists", `Execution Already Exists: '${arn}'`);
    const execution: Execution = {
      arn,
      name: body.name,
      stackName,
      mechanism,
      request: JSON.parse(body.input) as Record<string, unknown>,
      token: fakeTaskToken(body.name),
      events: [],
      status: "RUNNING",
      startedAt: Date.now(),
    };
    this.executions.set(arn, execution);
    this.event(execution, "ExecutionStarted", { executionStartedEventDetails: { input: body.input } });
    if (this.options.neverWait) return execution;
    this.event(execution, "TaskStateEntered", { stateEnteredEventDetails: { name: "Approval it", input: "{}" } });
    const payload = { taskToken: execution.token, request: execution.request, stage: "it", executionArn: arn };
    const lambda = { resourceType: "lambda", resource: "invoke.waitForTaskToken" };
    const deadline = new Date(Date.now() + 180000);
    switch (mechanism) {
      case "activity":
        this.event(execution, "ActivityScheduled", {
          activityScheduledEventDetails: {
            resource: `arn:aws:states:${REGION}:${ACCOUNT}:activity:sfn-approvals-${stackName}-it`,
            input: JSON.stringify({ request: execution.request, stage: "it", executionArn: arn }),
            timeoutInSeconds: 240,
            heartbeatInSeconds: 120,
          },
        });
        return execution;
      case "sns-callback": {
        const { subject: _s, message } = composeApprovalEmail({
          request: execution.request as never,
          stage: "it",
          executionArn: arn,
          link: approvalLink(this.pageUrl, execution.token, arn, "it"),
          deadline,
        });
        const sns = { resourceType: "sns", resource: "publish.waitForTaskToken" };
        this.event(execution, "TaskScheduled", {
          taskScheduledEventDetails: {
            ...sns,
            region: REGION,
            parameters: JSON.stringify({ TopicArn: this.topicOf(execution, "approvals"), Message: message }),
          },
        });
        this.event(execution, "TaskStarted", { taskStartedEventDetails: sns });
        this.event(execution, "TaskSubmitted", { taskSubmittedEventDetails: sns });
        this.publish(this.topicOf(execution, "approvals"), message);
        return execution;
      }
      default:
        this.event(execution, "TaskScheduled", {
          taskScheduledEventDetails: {
            ...lambda,
            region: REGION,
            parameters: JSON.stringify({
              FunctionName: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${stackName}-it-start`,
              Payload: payload,
            }),
          },
        });
        this.event(execution, "TaskStarted", { taskStartedEventDetails: lambda });
        this.event(execution, "TaskSubmitted", { taskSubmittedEventDetails: lambda });
    }
    if (mechanism === "ssm-automation") execution.automationId = randomUUID();
    if (mechanism === "codepipeline") {
      execution.pipeline = {
        id: randomUUID(),
        approvalToken: randomUUID(),
        action: {
          status: "InProgress",
          input: {
            resolvedConfiguration: this.options.unresolvedVariables
              ? {
                  CustomData: "#{variables.RequestSummary}",
                  ExternalEntityLink: "#{variables.RequestLink}",
                  NotificationArn: this.topicOf(execution, "approvals"),
                }
              : {
                  CustomData: `Request: ${String(execution.request.title)}`,
                  ExternalEntityLink: "https://example.com/reports/ER98765",
                  NotificationArn: this.topicOf(execution, "approvals"),
                },
          },
        },
      };
    }
    if (mechanism === "email-link") {
      execution.code = randomBytes(32).toString("base64url");
      this.publish(
        this.topicOf(execution, "approvals"),
        composeApprovalEmail({
          request: execution.request as never,
          stage: "it",
          executionArn: arn,
          link: codeLink(this.pageUrl, execution.code),
          deadline,
        }).message,
      );
    }
    return execution;
  }

  private finish(
    execution: Execution,
    decision: { decision: "approved" | "rejected" | "timed_out"; approver: string | null; comment: string | null },
  ): void {
    const stage = {
      approved: decision.decision === "approved",
      decision: decision.decision,
      stage: "it",
      mechanism: execution.mechanism,
      approver: decision.approver,
      comment: decision.comment,
      decidedAt: new Date().toISOString(),
    };
    execution.output = JSON.stringify({
      approved: stage.approved,
      decision: decision.decision,
      stages: [stage],
      request: execution.request,
    });
    execution.status = "SUCCEEDED";
    this.event(execution, "ExecutionSucceeded", { executionSucceededEventDetails: { output: execution.output } });
  }

  private decide(
    execution: Execution,
    by: string,
    via: string,
    decision: "approved" | "rejected",
    approver: string | null,
    comment: string | null,
  ): void {
    this.decisions.push({ execution: execution.name, by, via, decision });
    this.finish(execution, { decision, approver, comment });
  }

  /** Time passes: `*-timeout` requests that waited long enough time out. */
  private tick(): void {
    for (const execution of this.executions.values()) {
      if (execution.status !== "RUNNING" || !execution.name.endsWith("-timeout") || this.options.neverWait) continue;
      if (execution.firstReadAt === undefined || Date.now() - execution.firstReadAt < this.options.timeoutAfterMs)
        continue;
      if (execution.mechanism === "email-link") {
        const lines = `Request: ${String(execution.request.title)}\nWorkflow: sfn-approvals-${execution.stackName}\nExecution: ${execution.name}\n`;
        this.publish(
          this.topicOf(execution, "escalation"),
          `Escalation: this approval request has waited 50% of its timeout at stage 'it' (email-link) without a decision.\n\n${lines}`,
        );
        this.publish(
          this.topicOf(execution, "approvals"),
          `Reminder: this approval request is still waiting for a decision at stage 'it'.\n\n${lines}`,
        );
      }
      if (execution.pipeline) execution.pipeline.action = { ...execution.pipeline.action, status: "Failed" };
      this.finish(execution, { decision: "timed_out", approver: null, comment: null });
    }
  }

  private byAutomation(id: string): Execution | undefined {
    return [...this.executions.values()].find((e) => e.automationId === id);
  }

  private automation(execution: Execution): Record<string, unknown> {
    const decided = this.decisions.find((d) => d.execution === execution.name);
    const output = execution.output
      ? (
          JSON.parse(execution.output) as {
            stages: Array<{ decision: string; approver: string | null; comment: string | null }>;
          }
        ).stages[0]
      : undefined;
    const stepStatus = !output
      ? "Waiting"
      : output.decision === "approved"
        ? "Success"
        : output.decision === "rejected"
          ? "Failed"
          : "TimedOut";
    const word = output?.decision === "approved" ? "Approve" : "Reject";
    return {
      AutomationExecutionId: execution.automationId,
      DocumentName: `sfn-approvals-${execution.stackName}-it`,
      AutomationExecutionStatus: execution.status === "ABORTED" ? "Cancelled" : !output ? "Waiting" : stepStatus,
      Parameters: { ExecutionArn: [execution.arn], TaskToken: [execution.token] },
      StepExecutions: [
        {
          StepName: "Approve",
          Action: "aws:approve",
          StepStatus: stepStatus,
          ...(output && output.decision !== "timed_out"
            ? {
                Outputs: {
                  ApprovalStatus: [output.decision === "approved" ? "Approved" : "Rejected"],
                  ApproverDecisions: [
                    JSON.stringify([
                      {
                        Approver: decided?.by,
                        Decision: word,
                        Comment: output.comment,
                        ApprovalDecisionTime: new Date().toISOString(),
                      },
                    ]),
                  ],
                },
              }
            : {}),
          ...(output?.decision === "rejected" ? { FailureMessage: "Step was rejected by an approver" } : {}),
        },
      ],
    };
  }

  private pipelineOf(id: string): Execution | undefined {
    return [...this.executions.values()].find((e) => e.pipeline?.id === id);
  }

  // ----- the approval page -------------------------------------------------------------------

  private pageAnswer(method: string, url: URL, body: string): { status: number; body: string } {
    this.tick();
    const params = method === "POST" ? new URLSearchParams(body) : url.searchParams;
    const code = params.get("c");
    const execution = code
      ? [...this.executions.values()].find((e) => e.code === code)
      : this.executions.get(params.get("e") ?? "");
    const tokenOk = code
      ? execution !== undefined
      : execution !== undefined &&
        decodeToken(params.get("t") ?? undefined) === execution.token &&
        params.get("s") === "it";
    if (!execution || !tokenOk) return { status: 400, body: "<h1>This link does not work</h1>" };
    if (execution.status !== "RUNNING" || execution.codeUsed)
      return { status: 410, body: "<h1>Nothing left to decide</h1>" };
    if (method === "GET") {
      const hidden = code
        ? `<input type="hidden" name="c" value="${code}">`
        : `<input type="hidden" name="t" value="${params.get("t")}">`;
      return {
        status: 200,
        body: `<h1>${String(execution.request.title)}</h1><form method="post">${hidden}<button name="decision" value="approve">Approve</button><button name="decision" value="reject">Reject</button></form>`,
      };
    }
    const decision = params.get("decision") === "approve" ? "approved" : "rejected";
    if (code) execution.codeUsed = true;
    this.decide(
      execution,
      `${params.get("name")} (via email link)`,
      "approval page",
      decision,
      `${params.get("name")} (via email link)`,
      params.get("comment"),
    );
    return { status: 200, body: `<h1>${decision === "approved" ? "Approved" : "Rejected"}</h1>` };
  }

  // ----- the AWS API -------------------------------------------------------------------------

  private routes(): void {
    const on = (operation: string, handler: (body: any, request: RecordedRequest) => unknown) =>
      this.aws.on(operation, (body, request) => {
        this.tick();
        return handler(body, request);
      });

    // STS
    let identities = 0;
    on("GetCallerIdentity", (_b, r) => {
      if (!this.principals.has(r.accessKeyId))
        return new AwsError("InvalidClientTokenId", "The security token included in the request is invalid.", 403);
      if (r.accessKeyId === RUNNER_KEY && ++identities > this.options.runnerExpiresAfter)
        return new AwsError("ExpiredToken", "The security token included in the request is expired", 403);
      return callerIdentityXml(this.caller(r), ACCOUNT);
    });
    on("AssumeRole", (b, r) => {
      const name = String(b.RoleArn).split("/").pop()!;
      const role = this.roles.get(name);
      const caller = this.caller(r);
      const times = this.denied.get(name) ?? 0;
      if (
        !role ||
        caller !== RUNNER_ARN ||
        !role.trust.includes("role/Deployer") ||
        times < this.options.assumeDeniedTimes
      ) {
        this.denied.set(name, times + 1);
        return new AwsError(
          "AccessDenied",
          `User: ${caller} is not authorized to perform: sts:AssumeRole on resource: ${String(b.RoleArn)}`,
          403,
        );
      }
      const key = `ASIAFAKE${name
        .toUpperCase()
        .replace(/[^A-Z0-9]/g, "")
        .slice(-12)}`;
      const sessionArn = `arn:aws:sts::${ACCOUNT}:assumed-role/${name}/${String(b.RoleSessionName)}`;
      this.principals.set(key, sessionArn);
      return assumeRoleXml({
        accessKeyId: key,
        secretAccessKey: "fake-secret",
        sessionToken: `token-of-${name}`,
        sessionArn,
      });
    });

    // IAM
    const roleXml = (role: Role) =>
      `<Path>/</Path><RoleName>${role.name}</RoleName><RoleId>AROAFAKE</RoleId><Arn>${role.arn}</Arn><CreateDate>${role.created.toISOString()}</CreateDate><AssumeRolePolicyDocument>${xmlText(encodeURIComponent(role.trust))}</AssumeRolePolicyDocument>`;
    on("CreateRole", (b) => {
      if (this.roles.has(b.RoleName))
        return new AwsError("EntityAlreadyExists", `Role with name ${String(b.RoleName)} already exists.`, 409);
      const role: Role = {
        name: b.RoleName,
        arn: `arn:aws:iam::${ACCOUNT}:role/${String(b.RoleName)}`,
        trust: b.AssumeRolePolicyDocument,
        inline: new Map(),
        created: new Date(),
      };
      this.roles.set(role.name, role);
      return queryXml("CreateRole", `<Role>${roleXml(role)}</Role>`);
    });
    on("PutRolePolicy", (b) => {
      this.roles.get(b.RoleName)?.inline.set(b.PolicyName, b.PolicyDocument);
      return queryXml("PutRolePolicy", "");
    });
    on("ListAttachedRolePolicies", (b) =>
      this.roles.has(b.RoleName)
        ? queryXml("ListAttachedRolePolicies", "<AttachedPolicies/><IsTruncated>false</IsTruncated>")
        : new AwsError("NoSuchEntity", `The role with name ${String(b.RoleName)} cannot be found.`, 404),
    );
    on("ListRolePolicies", (b) =>
      queryXml(
        "ListRolePolicies",
        `<PolicyNames>${[...(this.roles.get(b.RoleName)?.inline.keys() ?? [])].map((n) => `<member>${n}</member>`).join("")}</PolicyNames><IsTruncated>false</IsTruncated>`,
      ),
    );
    on("DeleteRolePolicy", (b) => {
      this.roles.get(b.RoleName)?.inline.delete(b.PolicyName);
      return queryXml("DeleteRolePolicy", "");
    });
    on("DeleteRole", (b) => {
      const role = this.roles.get(b.RoleName);
      if (!role) return new AwsError("NoSuchEntity", `The role with name ${String(b.RoleName)} cannot be found.`, 404);
      if (role.inline.size > 0)
        return new AwsError("DeleteConflict", "Cannot delete entity, must delete policies first.", 409);
      this.roles.delete(b.RoleName);
      return queryXml("DeleteRole", "");
    });
    on("ListRoles", () =>
      queryXml(
        "ListRoles",
        `<IsTruncated>false</IsTruncated><Roles>${[...this.roles.values()].map((role) => `<member>${roleXml(role)}</member>`).join("")}</Roles>`,
      ),
    );

    // SNS
    on("Subscribe", (b) => {
      const arn = `${String(b.TopicArn)}:${randomUUID()}`;
      this.subscriptions.set(arn, { topicArn: b.TopicArn, queueArn: b.Endpoint });
      return queryXml("Subscribe", `<SubscriptionArn>${arn}</SubscriptionArn>`, SNS_NS);
    });
    on("Unsubscribe", (b) => {
      this.subscriptions.delete(b.SubscriptionArn);
      return queryXml("Unsubscribe", "", SNS_NS);
    });

    // SQS (JSON 1.0)
    const queueByUrl = (url: string) => this.queues.get(url);
    on("CreateQueue", (b) => {
      const url = `${this.aws.url}/${ACCOUNT}/${String(b.QueueName)}`;
      if (!this.queues.has(url) || this.queues.get(url)!.deleted)
        this.queues.set(url, {
          name: b.QueueName,
          arn: `arn:aws:sqs:${REGION}:${ACCOUNT}:${String(b.QueueName)}`,
          messages: [],
          created: Date.now(),
        });
      return { QueueUrl: url };
    });
    on("ReceiveMessage", (b) => {
      const queue = queueByUrl(b.QueueUrl);
      if (!queue || queue.deleted)
        return new AwsError("AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.");
      const taken = queue.messages.splice(0, b.MaxNumberOfMessages ?? 1);
      // The SDK checks each body against MD5OfBody (@aws-sdk/middleware-sdk-sqs receiveMessageMiddleware).
      return {
        Messages: taken.map((body, i) => ({
          MessageId: randomUUID(),
          ReceiptHandle: `handle-${i}-${randomUUID()}`,
          Body: body,
          MD5OfBody: createHash("md5").update(body).digest("hex"),
        })),
      };
    });
    on("DeleteMessageBatch", (b) => ({
      Successful: (b.Entries ?? []).map((e: { Id: string }) => ({ Id: e.Id })),
      Failed: [],
    }));
    on("DeleteQueue", (b) => {
      const queue = queueByUrl(b.QueueUrl);
      if (queue) queue.deleted = true;
      return {};
    });
    on("GetQueueAttributes", (b) => {
      const queue = queueByUrl(b.QueueUrl);
      return {
        Attributes: {
          ApproximateNumberOfMessages: "0",
          ApproximateNumberOfMessagesNotVisible: "0",
          CreatedTimestamp: String(Math.floor((queue?.created ?? Date.now()) / 1000)),
        },
      };
    });
    on("ListQueues", (b) => ({
      QueueUrls: [...this.queues.entries()]
        .filter(([, q]) => !q.deleted && q.name.startsWith(b.QueueNamePrefix ?? ""))
        .map(([url]) => url),
    }));

    // Step Functions
    const executionOf = (arn: string) => this.executions.get(arn);
    const missing = (arn: string) => new AwsError("ExecutionDoesNotExist", `Execution Does Not Exist: '${arn}'`);
    on("DescribeStateMachine", (b) => ({
      stateMachineArn: b.stateMachineArn,
      name: String(b.stateMachineArn).split(":").pop(),
      encryptionConfiguration: {
        type: "CUSTOMER_MANAGED_KMS_KEY",
        kmsKeyId: `arn:aws:kms:${REGION}:${ACCOUNT}:key/${String(b.stateMachineArn)
          .split(":")
          .pop()!
          .replace(/^sfn-approvals-/, "")}`,
        kmsDataKeyReusePeriodSeconds: 300,
      },
      loggingConfiguration: {
        level: "ALL",
        includeExecutionData: false,
        destinations: [
          {
            cloudWatchLogsLogGroup: {
              logGroupArn: `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/sfn-approvals/states:*`,
            },
          },
        ],
      },
    }));
    on("StartExecution", (b) => {
      const started = this.startExecution(b);
      return started instanceof AwsError ? started : { executionArn: started.arn, startDate: Date.now() / 1000 };
    });
    on("DescribeExecution", (b) => {
      const e = executionOf(b.executionArn);
      return e
        ? {
            executionArn: e.arn,
            name: e.name,
            status: e.status,
            startDate: e.startedAt / 1000,
            ...(e.output ? { output: e.output } : {}),
          }
        : missing(b.executionArn);
    });
    on("GetExecutionHistory", (b) => {
      const e = executionOf(b.executionArn);
      if (e && e.events.some((event) => event.type === "TaskScheduled" || event.type === "ActivityScheduled"))
        e.firstReadAt ??= Date.now();
      return e ? { events: b.reverseOrder ? [...e.events].reverse() : e.events } : missing(b.executionArn);
    });
    on("StopExecution", (b) => {
      const e = executionOf(b.executionArn);
      if (!e) return missing(b.executionArn);
      e.status = "ABORTED";
      this.event(e, "ExecutionAborted", { executionAbortedEventDetails: { error: b.error, cause: b.cause } });
      return { stopDate: Date.now() / 1000 };
    });
    on("GetActivityTask", (b, r) => {
      const caller = this.caller(r);
      const task = [...this.executions.values()].find(
        (e) =>
          e.mechanism === "activity" &&
          e.status === "RUNNING" &&
          !e.taken &&
          String(b.activityArn).endsWith(`sfn-approvals-${e.stackName}-it`),
      );
      const stackName = String(b.activityArn)
        .split(":")
        .pop()!
        .replace(/^sfn-approvals-/, "")
        .replace(/-it$/, "");
      if (!actorIsAnyOf(caller, this.approversOf(stackName)))
        return this.refusedByIam(caller, "states:GetActivityTask");
      if (!task) return {};
      task.taken = true;
      return {
        taskToken: task.token,
        input: JSON.stringify({ request: task.request, stage: "it", executionArn: task.arn }),
      };
    });
    on("SendTaskHeartbeat", () => ({}));
    on("SendTaskSuccess", (b, r) => {
      const e = [...this.executions.values()].find((x) => x.token === b.taskToken);
      if (!e || e.status !== "RUNNING") return new AwsError("TaskTimedOut", "Task Timed Out");
      const caller = this.caller(r);
      if (!this.isApprover(e, caller)) return this.refusedByIam(caller, "states:SendTaskSuccess");
      const output = JSON.parse(b.output) as {
        decision: "approved" | "rejected";
        approver: string;
        comment: string | null;
      };
      this.decide(e, caller, "SendTaskSuccess", output.decision, output.approver, output.comment);
      return {};
    });

    // SSM
    on("DescribeAutomationExecutions", (b) => {
      const prefix = b.Filters?.find((f: { Key: string }) => f.Key === "DocumentNamePrefix")?.Values?.[0] ?? "";
      return {
        AutomationExecutionMetadataList: [...this.executions.values()]
          .filter((e) => e.automationId && `sfn-approvals-${e.stackName}-it`.startsWith(prefix))
          .map((e) => ({ AutomationExecutionId: e.automationId, DocumentName: `sfn-approvals-${e.stackName}-it` })),
      };
    });
    on("GetAutomationExecution", (b) => {
      const e = this.byAutomation(b.AutomationExecutionId);
      return e
        ? { AutomationExecution: this.automation(e) }
        : new AwsError("AutomationExecutionNotFoundException", "not found");
    });
    on("SendAutomationSignal", (b, r) => {
      const e = this.byAutomation(b.AutomationExecutionId);
      if (!e) return new AwsError("AutomationExecutionNotFoundException", "not found");
      const caller = this.caller(r);
      const role = this.roles.get(caller.split("/")[1] ?? "");
      if (![...(role?.inline.values() ?? [])].some((policy) => policy.includes("ssm:SendAutomationSignal")))
        return this.refusedByIam(caller, "ssm:SendAutomationSignal");
      if (!this.isApprover(e, caller))
        return new AwsError(
          "InvalidAutomationSignalException",
          `${caller} is not an approver of this aws:approve step`,
        );
      if (e.status !== "RUNNING")
        return new AwsError("InvalidAutomationStatusUpdateException", "The automation is not waiting");
      this.decide(
        e,
        caller,
        "SendAutomationSignal",
        b.SignalType === "Approve" ? "approved" : "rejected",
        caller,
        b.Payload?.Comment?.[0] ?? null,
      );
      return {};
    });
    on("StopAutomationExecution", () => ({}));

    // CodePipeline
    const pipelineSummary = (e: Execution) => ({
      pipelineExecutionId: e.pipeline!.id,
      status: e.status === "RUNNING" ? "InProgress" : "Succeeded",
    });
    on("ListPipelineExecutions", (b) => ({
      pipelineExecutionSummaries: [...this.executions.values()]
        .filter((e) => e.pipeline && `sfn-approvals-${e.stackName}-it` === b.pipelineName)
        .map(pipelineSummary),
    }));
    on("GetPipelineExecution", (b) => {
      const e = this.pipelineOf(b.pipelineExecutionId);
      return e
        ? {
            pipelineExecution: {
              ...pipelineSummary(e),
              pipelineName: b.pipelineName,
              variables: [{ name: "ApprovalKey", resolvedValue: approvalKeyOf(e.token) }],
              trigger: {
                triggerType: "StartPipelineExecution",
                triggerDetail: `arn:aws:sts::${ACCOUNT}:assumed-role/start-role/fn`,
              },
            },
          }
        : new AwsError("PipelineExecutionNotFoundException", "not found");
    });
    on("ListActionExecutions", (b) => {
      const e = this.pipelineOf(b.filter?.pipelineExecutionId);
      if (!e) return { actionExecutionDetails: [] };
      return {
        actionExecutionDetails: [
          { pipelineExecutionId: e.pipeline!.id, stageName: "Request", actionName: "Request", status: "Succeeded" },
          {
            pipelineExecutionId: e.pipeline!.id,
            stageName: "Approval",
            actionName: "Approve",
            ...e.pipeline!.action,
            output: { executionResult: { externalExecutionId: e.pipeline!.approvalToken } },
          },
        ],
      };
    });
    on("PutApprovalResult", (b, r) => {
      const e = [...this.executions.values()].find((x) => x.pipeline?.approvalToken === b.token);
      const caller = this.caller(r);
      // IAM: only the principals the stack attached its approver policy to.
      if (!e || !this.isApprover(e, caller)) return this.refusedByIam(caller, "codepipeline:PutApprovalResult");
      if (e.status !== "RUNNING") return new AwsError("ApprovalAlreadyCompletedException", "already completed");
      const decision = b.result.status === "Approved" ? "approved" : "rejected";
      e.pipeline!.action = {
        ...e.pipeline!.action,
        status: decision === "approved" ? "Succeeded" : "Failed",
        updatedBy: caller,
      };
      this.decide(e, caller, "PutApprovalResult", decision, caller, b.result.summary);
      return { approvedAt: Date.now() / 1000 };
    });

    // Lambda: a start function invoked again with the same payload finds the same pipeline execution
    // or automation; with another request under the same token it is refused.
    on("Invoke", (b) => {
      const payload = b.Payload as { taskToken?: string; request?: unknown };
      const e = [...this.executions.values()].find((x) => x.token === payload.taskToken);
      const refused = (message: string) =>
        new RawAnswer(200, JSON.stringify({ errorType: "Error", errorMessage: message }), {
          "x-amz-function-error": "Unhandled",
        });
      if (!e) return refused("TokenConflict: [redacted]");
      if (JSON.stringify(payload.request) !== JSON.stringify(e.request))
        return refused(
          e.pipeline
            ? "RequestConflict: [redacted]"
            : "IdempotentParameterMismatch: parameters do not match the original call",
        );
      return e.pipeline ? { pipelineExecutionId: e.pipeline.id } : { automationExecutionId: e.automationId };
    });
    on("GetFunctionConfiguration", (b) => ({
      FunctionName: b.FunctionName,
      FunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${String(b.FunctionName)}`,
      LoggingConfig: { LogGroup: `/sfn-approvals/${String(b.FunctionName)}` },
    }));

    // CloudWatch Logs, EventBridge, CloudWatch
    on("FilterLogEvents", (b) => ({
      events: String(b.filterPattern ?? "").includes("ERROR")
        ? [{ timestamp: Date.now(), message: '{"level":"ERROR","message":"ForeignExecution: [redacted]"}' }]
        : [{ timestamp: Date.now(), message: '{"type":"ExecutionStarted"}' }],
    }));
    on("ListRuleNamesByTarget", () => ({ RuleNames: ["stage-it-decision-rule-1a2b3c4"] }));
    on("GetMetricStatistics", () =>
      queryXml(
        "GetMetricStatistics",
        "<Label>FailedInvocations</Label><Datapoints><member><Sum>2.0</Sum><Unit>Count</Unit></member></Datapoints>",
        "http://monitoring.amazonaws.com/doc/2010-08-01/",
      ),
    );
  }
}
