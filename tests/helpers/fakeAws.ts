// A local HTTP server on 127.0.0.1 that speaks the AWS JSON protocol (X-Amz-Target), the query
// protocol (form-encoded Action=..., XML answers, as STS, SNS, IAM and CloudWatch use) and the
// REST routes of Lambda the code calls. Tests script each operation's answer and assert on the
// requests the handlers really sent, and who signed them (the access key of the Authorization header).
import { AddressInfo } from "net";
import { IncomingHttpHeaders, Server, createServer } from "http";

export interface RecordedRequest {
  /** e.g. "AmazonSSM.StartAutomationExecution", "AWSStepFunctions.SendTaskSuccess" */
  target: string;
  /** The operation alone, e.g. "StartAutomationExecution". */
  operation: string;
  body: any;
  headers: IncomingHttpHeaders;
  /** When the request arrived (ms since the epoch). */
  at: number;
  method: string;
  path: string;
  /** The access key that signed the request (Signature V4 Credential=), "" when unsigned. */
  accessKeyId: string;
  /** The signing name of the credential scope, e.g. "sqs", "iam", "states"; "" when unsigned. */
  service: string;
}

export class AwsError {
  constructor(
    readonly type: string,
    readonly message: string,
    readonly status = 400,
  ) {}
}

/** A REST answer written as it is: status, headers and body (e.g. a Lambda function error). */
export class RawAnswer {
  constructor(
    readonly status: number,
    readonly body: string,
    readonly headers: Record<string, string> = {},
  ) {}
}

/** Returns the JSON answer; for query-protocol operations (STS, SNS, IAM), the XML text. */
export type OperationHandler = (
  body: any,
  request: RecordedRequest,
) => unknown | AwsError | RawAnswer | Promise<unknown | AwsError | RawAnswer>;

/**
 * REST routes of Lambda (https://docs.aws.amazon.com/lambda/latest/api/): the operation and the
 * body the handler gets, { FunctionName, Payload } for Invoke.
 */
const REST_ROUTES: Array<{
  method: string;
  pattern: RegExp;
  operation: string;
  body: (match: RegExpExecArray, payload: unknown) => unknown;
}> = [
  {
    method: "POST",
    pattern: /^\/2015-03-31\/functions\/([^/]+)\/invocations$/,
    operation: "Invoke",
    body: (m, payload) => ({ FunctionName: decodeURIComponent(m[1]), Payload: payload }),
  },
  {
    method: "GET",
    pattern: /^\/2015-03-31\/functions\/([^/]+)\/configuration$/,
    operation: "GetFunctionConfiguration",
    body: (m) => ({ FunctionName: decodeURIComponent(m[1]) }),
  },
];

/**
 * A fault whose message echoes a value of the request, as AWS validation errors do, e.g.
 * "1 validation error detected: Value 'AAAA...' at 'taskToken' failed to satisfy constraint: ...".
 * `path` is the request field, dotted ("taskToken", "Parameters.TaskToken", "Item.taskToken.S",
 * "Message"); a list shows as "[a, b]", an object as JSON. Without `path`, the whole request.
 */
export function echoingFault(
  path?: string,
  options: { type?: string; status?: number; constraint?: string } = {},
): OperationHandler {
  return (body) => {
    const value =
      path === undefined
        ? body
        : path.split(".").reduce((v: any, key) => (v === undefined || v === null ? undefined : v[key]), body);
    const shown =
      typeof value === "string" ? value : Array.isArray(value) ? `[${value.join(", ")}]` : JSON.stringify(value);
    const constraint = options.constraint ?? "Member must have length less than or equal to 1024";
    return new AwsError(
      options.type ?? "ValidationException",
      `1 validation error detected: Value '${shown}' at '${path ?? "request"}' failed to satisfy constraint: ${constraint}`,
      options.status ?? 400,
    );
  };
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** The XML answer of a query-protocol operation: `<{Action}Response><{Action}Result>{result}</...>`. */
export function queryXml(
  action: string,
  result: string,
  namespace = "https://iam.amazonaws.com/doc/2010-05-08/",
): string {
  return `<${action}Response xmlns="${namespace}"><${action}Result>${result}</${action}Result><ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata></${action}Response>`;
}

/** Text for an XML element. */
export function xmlText(text: string): string {
  return escapeXml(text);
}

/** STS AssumeRole's XML answer. */
export function assumeRoleXml(args: {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  sessionArn: string;
  expiration?: Date;
}): string {
  const expiration = (args.expiration ?? new Date(Date.now() + 3600 * 1000)).toISOString();
  return queryXml(
    "AssumeRole",
    `<Credentials><AccessKeyId>${args.accessKeyId}</AccessKeyId><SecretAccessKey>${args.secretAccessKey}</SecretAccessKey><SessionToken>${args.sessionToken}</SessionToken><Expiration>${expiration}</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROAFAKE:${args.sessionArn.split("/").pop()}</AssumedRoleId><Arn>${args.sessionArn}</Arn></AssumedRoleUser>`,
    "https://sts.amazonaws.com/doc/2011-06-15/",
  );
}

/** STS GetCallerIdentity's XML answer for `arn`. */
export function callerIdentityXml(arn: string, account = "123456789012"): string {
  return `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>${arn}</Arn><UserId>AROAEXAMPLE:session</UserId><Account>${account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata></GetCallerIdentityResponse>`;
}

/**
 * SNS Publish's XML answer. SNS speaks the query protocol (@aws-sdk/client-sns uses AwsQueryProtocol):
 * a Publish arrives as operation "Publish" with the form fields (TopicArn, Subject, Message) as body.
 */
export function snsPublishXml(messageId: string): string {
  return `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>${messageId}</MessageId></PublishResult><ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata></PublishResponse>`;
}

export class FakeAws {
  readonly requests: RecordedRequest[] = [];
  private readonly handlers = new Map<string, OperationHandler>();
  private server?: Server;
  url = "";

  private fallback?: OperationHandler;

  /** Scripts the answer of an operation, by operation name (e.g. "SendTaskSuccess"). */
  on(operation: string, handler: OperationHandler): this {
    this.handlers.set(operation, handler);
    return this;
  }

  /** Answers every operation without its own handler, e.g. with echoingFault() (until reset). */
  otherwise(handler: OperationHandler): this {
    this.fallback = handler;
    return this;
  }

  operations(): string[] {
    return this.requests.map((r) => r.operation);
  }

  reset(): void {
    this.requests.length = 0;
    this.handlers.clear();
    this.fallback = undefined;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", async () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const query = String(req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded");
        let target = String(req.headers["x-amz-target"] ?? "");
        let body: any;
        if (query) {
          body = Object.fromEntries(new URLSearchParams(text));
          target = `query.${String(body.Action)}`;
        } else {
          try {
            body = text ? JSON.parse(text) : {};
          } catch {
            body = { unparsable: text };
          }
        }
        const path = (req.url ?? "/").split("?")[0];
        if (!query && !target) {
          const route = REST_ROUTES.find((r) => r.method === req.method && r.pattern.test(path));
          if (route) {
            target = `rest.${route.operation}`;
            body = route.body(route.pattern.exec(path)!, body);
          }
        }
        const operation = target.split(".").pop() ?? "";
        const credential = /Credential=([^/,\s]+)\/\d{8}\/[^/]+\/([^/]+)\//.exec(
          String(req.headers.authorization ?? ""),
        );
        const request: RecordedRequest = {
          target,
          operation,
          body,
          headers: req.headers,
          at: Date.now(),
          method: req.method ?? "",
          path,
          accessKeyId: credential?.[1] ?? "",
          service: credential?.[2] ?? "",
        };
        this.requests.push(request);
        const handler = this.handlers.get(operation) ?? this.fallback;
        let answer: unknown;
        try {
          answer = handler
            ? await handler(body, request)
            : new AwsError("UnknownOperationException", `FakeAws has no handler for ${target || "(no X-Amz-Target)"}`);
        } catch (error) {
          answer = new AwsError("InternalFailure", String(error), 500);
        }
        if (answer instanceof RawAnswer) {
          res.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
          res.end(answer.body);
        } else if (query && !(answer instanceof AwsError)) {
          res.writeHead(200, { "content-type": "text/xml" });
          res.end(String(answer));
        } else if (answer instanceof AwsError && query) {
          res.writeHead(answer.status, { "content-type": "text/xml" });
          res.end(
            `<ErrorResponse><Error><Type>Sender</Type><Code>${answer.type}</Code><Message>${escapeXml(answer.message)}</Message></Error><RequestId>fake</RequestId></ErrorResponse>`,
          );
        } else if (answer instanceof AwsError) {
          res.writeHead(answer.status, {
            "content-type": "application/x-amz-json-1.1",
            "x-amzn-errortype": answer.type,
          });
          res.end(JSON.stringify({ __type: answer.type, message: answer.message }));
        } else {
          res.writeHead(200, { "content-type": "application/x-amz-json-1.1" });
          res.end(JSON.stringify(answer ?? {}));
        }
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** A task token as Step Functions hands them out: long, opaque, base64-like. */
export function fakeTaskToken(seed: string): string {
  return `AQCEAAAAKgAAAAMAAAAA${Buffer.from(`${seed}-token-`.repeat(40)).toString("base64").replace(/=+$/, "")}`;
}

interface ExecutionSnapshot {
  events: number;
  status: string;
  output?: string;
  error?: string;
  cause?: string;
  stopDate?: number;
}

type StageKind = "lambda" | "activity";

/**
 * One execution of the approval workflow as Step Functions reports it, built event by event in the
 * shape of GetExecutionHistory (ids, previousEventId, timestamps in epoch seconds, the state
 * names of components/workflow/approvalWorkflow.ts, Task parameters holding the task token) and
 * DescribeExecution. `checkpoint()` records what the execution looks like at that moment; each
 * DescribeExecution moves to the next checkpoint (the last one stays), and GetExecutionHistory
 * answers from the checkpoint DescribeExecution last showed, so a poller sees it advance.
 */
export class FakeExecution {
  readonly events: Array<Record<string, unknown>> = [];
  private readonly snapshots: ExecutionSnapshot[] = [];
  private shown = 0;
  private state: ExecutionSnapshot = { events: 0, status: "RUNNING" };
  private decisions: Record<string, unknown> = {};
  private current?: { stage: string; kind: StageKind };
  /** Every task token put in the history. */
  readonly tokens: string[] = [];

  constructor(
    readonly executionArn: string,
    readonly request: unknown,
    readonly startDate: number,
  ) {}

  get name(): string {
    return this.executionArn.split(":").pop()!;
  }

  private add(type: string, at: number, details: Record<string, unknown> = {}): this {
    const id = this.events.length + 1;
    this.events.push({ id, ...(id > 1 ? { previousEventId: id - 1 } : {}), timestamp: at, type, ...details });
    this.state = { ...this.state, events: this.events.length };
    return this;
  }

  private data(): string {
    return JSON.stringify(
      Object.keys(this.decisions).length > 0
        ? { request: this.request, decisions: this.decisions }
        : { request: this.request },
    );
  }

  /** ExecutionStarted, then "Read request" and "Validate request". */
  start(at = this.startDate): this {
    const role = "arn:aws:iam::123456789012:role/approvals-role-1a2b3c4";
    this.add("ExecutionStarted", at, {
      executionStartedEventDetails: {
        input: JSON.stringify(this.request),
        inputDetails: { truncated: false },
        roleArn: role,
      },
    });
    this.add("PassStateEntered", at + 0.021, {
      stateEnteredEventDetails: {
        name: "Read request",
        input: JSON.stringify(this.request),
        inputDetails: { truncated: false },
      },
    });
    this.add("PassStateExited", at + 0.022, {
      stateExitedEventDetails: { name: "Read request", output: this.data(), outputDetails: { truncated: false } },
    });
    this.add("ChoiceStateEntered", at + 0.03, {
      stateEnteredEventDetails: { name: "Validate request", input: this.data(), inputDetails: { truncated: false } },
    });
    return this.add("ChoiceStateExited", at + 0.031, {
      stateExitedEventDetails: { name: "Validate request", output: this.data(), outputDetails: { truncated: false } },
    });
  }

  /** Enters "Approval <stage>": a callback Lambda (its parameters hold the token) or an activity task. */
  waitAt(stage: string, at: number, kind: StageKind = "lambda"): this {
    this.current = { stage, kind };
    this.add("TaskStateEntered", at, {
      stateEnteredEventDetails: { name: `Approval ${stage}`, input: this.data(), inputDetails: { truncated: false } },
    });
    if (kind === "activity") {
      const activity = `arn:aws:states:eu-west-1:123456789012:activity:sfn-approvals-test-${stage}`;
      this.add("ActivityScheduled", at + 0.01, {
        activityScheduledEventDetails: {
          resource: activity,
          input: JSON.stringify({ request: this.request, stage, executionArn: this.executionArn }),
          inputDetails: { truncated: false },
          timeoutInSeconds: 3600,
          heartbeatInSeconds: 120,
        },
      });
      return this.add("ActivityStarted", at + 2.5, { activityStartedEventDetails: { workerName: "laptop-4242" } });
    }
    const token = fakeTaskToken(`${this.name}-${stage}-${this.events.length}`);
    this.tokens.push(token);
    const resource = { resourceType: "lambda", resource: "invoke.waitForTaskToken" };
    const parameters = {
      FunctionName: `arn:aws:lambda:eu-west-1:123456789012:function:stage-${stage}-start-fn-a1b2c3d`,
      Payload: { taskToken: token, request: this.request, stage, executionArn: this.executionArn },
    };
    this.add("TaskScheduled", at + 0.01, {
      taskScheduledEventDetails: {
        ...resource,
        region: "eu-west-1",
        parameters: JSON.stringify(parameters),
        timeoutInSeconds: 259200,
      },
    });
    this.add("TaskStarted", at + 0.02, { taskStartedEventDetails: resource });
    return this.add("TaskSubmitted", at + 0.4, {
      taskSubmittedEventDetails: {
        ...resource,
        output: JSON.stringify({ ExecutedVersion: "$LATEST", Payload: { started: true }, StatusCode: 200 }),
        outputDetails: { truncated: false },
      },
    });
  }

  /**
   * Enters "Approval <stage>" whose start is refused for capacity `attempts` times, `every` seconds
   * apart, its Retry still pending: each attempt is TaskScheduled, TaskStarted, TaskFailed (Step
   * Functions records no retry event). `then` "submitted": a last attempt reached the approvers.
   */
  refusedForCapacity(
    stage: string,
    at: number,
    errors: string[],
    every: number,
    then: "pending" | "submitted" = "pending",
  ): this {
    this.current = { stage, kind: "lambda" };
    this.add("TaskStateEntered", at, {
      stateEnteredEventDetails: { name: `Approval ${stage}`, input: this.data(), inputDetails: { truncated: false } },
    });
    const resource = { resourceType: "lambda", resource: "invoke.waitForTaskToken" };
    const attempt = (time: number) => {
      const token = fakeTaskToken(`${this.name}-${stage}-${this.events.length}`);
      this.tokens.push(token);
      const parameters = {
        FunctionName: `arn:aws:lambda:eu-west-1:123456789012:function:stage-${stage}-start-fn-a1b2c3d`,
        Payload: { taskToken: token, request: this.request, stage, executionArn: this.executionArn },
      };
      this.add("TaskScheduled", time + 0.01, {
        taskScheduledEventDetails: { ...resource, region: "eu-west-1", parameters: JSON.stringify(parameters) },
      });
      this.add("TaskStarted", time + 0.02, { taskStartedEventDetails: resource });
    };
    errors.forEach((error, i) => {
      attempt(at + i * every);
      this.add("TaskFailed", at + i * every + 0.3, {
        taskFailedEventDetails: { ...resource, error, cause: `{"errorType":"${error}"}` },
      });
    });
    if (then === "pending") return this;
    attempt(at + errors.length * every);
    return this.add("TaskSubmitted", at + errors.length * every + 0.4, {
      taskSubmittedEventDetails: { ...resource, output: "{}", outputDetails: { truncated: false } },
    });
  }

  /** The waiting activity task's worker vanished (no heartbeat): released, scheduled again, and picked up by another worker. */
  releaseActivity(at: number): this {
    this.add("ActivityTimedOut", at, { activityTimedOutEventDetails: { error: "States.HeartbeatTimeout", cause: "" } });
    this.add("ActivityScheduled", at + 1, {
      activityScheduledEventDetails: {
        resource: `arn:aws:states:eu-west-1:123456789012:activity:sfn-approvals-test-${this.current!.stage}`,
        input: JSON.stringify({ request: this.request, stage: this.current!.stage, executionArn: this.executionArn }),
        inputDetails: { truncated: false },
        timeoutInSeconds: 3600,
        heartbeatInSeconds: 120,
      },
    });
    return this.add("ActivityStarted", at + 5, { activityStartedEventDetails: { workerName: "desktop-5150" } });
  }

  /** The waiting stage's decision arrives (SendTaskSuccess), and the workflow checks it. */
  decide(
    decision: { decision: "approved" | "rejected"; approver: string | null; comment: string | null; mechanism: string },
    at: number,
  ): this {
    const { stage, kind } = this.current!;
    const full = {
      approved: decision.decision === "approved",
      stage,
      ...decision,
      decidedAt: new Date(at * 1000).toISOString().replace(/\.\d{3}Z$/, "Z"),
    };
    const output = JSON.stringify(full);
    if (kind === "activity")
      this.add("ActivitySucceeded", at, {
        activitySucceededEventDetails: { output, outputDetails: { truncated: false } },
      });
    else
      this.add("TaskSucceeded", at, {
        taskSucceededEventDetails: {
          resourceType: "lambda",
          resource: "invoke.waitForTaskToken",
          output,
          outputDetails: { truncated: false },
        },
      });
    this.decisions = { ...this.decisions, [stage.replace(/-/g, "_")]: full };
    return this.check(stage, at);
  }

  /** The waiting stage's Task times out: its Catch leads to "Approval <stage> timed out". */
  timeOut(mechanism: string, at: number): this {
    const { stage } = this.current!;
    this.add("TaskTimedOut", at, {
      taskTimedOutEventDetails: {
        resourceType: "lambda",
        resource: "invoke.waitForTaskToken",
        error: "States.Timeout",
      },
    });
    this.decisions = { ...this.decisions, [stage.replace(/-/g, "_")]: { Error: "States.Timeout", Cause: "" } };
    this.add("TaskStateExited", at + 0.01, {
      stateExitedEventDetails: { name: `Approval ${stage}`, output: this.data(), outputDetails: { truncated: false } },
    });
    this.add("PassStateEntered", at + 0.02, {
      stateEnteredEventDetails: {
        name: `Approval ${stage} timed out`,
        input: this.data(),
        inputDetails: { truncated: false },
      },
    });
    const decidedAt = new Date((at + 0.02) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
    this.decisions = {
      ...this.decisions,
      [stage.replace(/-/g, "_")]: {
        approved: false,
        decision: "timed_out",
        stage,
        mechanism,
        approver: null,
        comment: null,
        decidedAt,
      },
    };
    this.add("PassStateExited", at + 0.03, {
      stateExitedEventDetails: {
        name: `Approval ${stage} timed out`,
        output: this.data(),
        outputDetails: { truncated: false },
      },
    });
    this.add("ChoiceStateEntered", at + 0.04, {
      stateEnteredEventDetails: { name: `Check ${stage}`, input: this.data(), inputDetails: { truncated: false } },
    });
    return this.add("ChoiceStateExited", at + 0.05, {
      stateExitedEventDetails: { name: `Check ${stage}`, output: this.data(), outputDetails: { truncated: false } },
    });
  }

  private check(stage: string, at: number): this {
    this.add("TaskStateExited", at + 0.01, {
      stateExitedEventDetails: { name: `Approval ${stage}`, output: this.data(), outputDetails: { truncated: false } },
    });
    this.add("ChoiceStateEntered", at + 0.02, {
      stateEnteredEventDetails: { name: `Check ${stage}`, input: this.data(), inputDetails: { truncated: false } },
    });
    return this.add("ChoiceStateExited", at + 0.03, {
      stateExitedEventDetails: { name: `Check ${stage}`, output: this.data(), outputDetails: { truncated: false } },
    });
  }

  /** Ends in a final Pass state ("Approved", "Rejected at <stage>", ...) with the workflow's output. */
  succeed(finalState: string, result: { approved: boolean; decision: string }, at: number): this {
    const output = JSON.stringify({ ...result, stages: Object.values(this.decisions), request: this.request });
    this.add("PassStateEntered", at, {
      stateEnteredEventDetails: { name: finalState, input: this.data(), inputDetails: { truncated: false } },
    });
    this.add("PassStateExited", at + 0.01, {
      stateExitedEventDetails: { name: finalState, output, outputDetails: { truncated: false } },
    });
    this.add("ExecutionSucceeded", at + 0.02, {
      executionSucceededEventDetails: { output, outputDetails: { truncated: false } },
    });
    this.state = { ...this.state, status: "SUCCEEDED", output, stopDate: at + 0.02 };
    return this;
  }

  /**
   * Ends as FAILED with this error and cause: in a Fail state of the workflow when `failState` is
   * given ("Invalid decision at <stage>", "Request invalid"), else where it is (a Task that failed).
   */
  fail(error: string, cause: string, at: number, failState?: string): this {
    if (failState)
      this.add("FailStateEntered", at - 0.01, {
        stateEnteredEventDetails: { name: failState, input: this.data(), inputDetails: { truncated: false } },
      });
    else if (this.current)
      this.add("TaskFailed", at - 0.01, {
        taskFailedEventDetails: { resourceType: "lambda", resource: "invoke.waitForTaskToken", error, cause },
      });
    this.add("ExecutionFailed", at, { executionFailedEventDetails: { error, cause } });
    this.state = { ...this.state, status: "FAILED", error, cause, stopDate: at };
    return this;
  }

  /** Ends as TIMED_OUT: the execution as a whole ran past its TimeoutSeconds, wherever it was. */
  timeOutExecution(at: number): this {
    this.add("ExecutionTimedOut", at, {
      executionTimedOutEventDetails: {
        error: "States.Timeout",
        cause: "The execution ran longer than its TimeoutSeconds.",
      },
    });
    this.state = { ...this.state, status: "TIMED_OUT", stopDate: at };
    return this;
  }

  /** Records the execution as it is now; `times` polls see it like this. */
  checkpoint(times = 1): this {
    for (let i = 0; i < times; i++) this.snapshots.push({ ...this.state });
    return this;
  }

  private snapshot(): ExecutionSnapshot {
    return this.snapshots.length > 0 ? this.snapshots[Math.max(this.shown, 1) - 1] : this.state;
  }

  /** DescribeExecution: moves to the next checkpoint. */
  describe(): Record<string, unknown> {
    this.shown = Math.min(this.shown + 1, this.snapshots.length);
    const s = this.snapshot();
    return {
      executionArn: this.executionArn,
      stateMachineArn: this.executionArn.replace(":execution:", ":stateMachine:").replace(/:[^:]+$/, ""),
      name: this.name,
      status: s.status,
      startDate: this.startDate,
      input: JSON.stringify(this.request),
      inputDetails: { included: true },
      ...(s.stopDate !== undefined ? { stopDate: s.stopDate } : {}),
      ...(s.output !== undefined ? { output: s.output, outputDetails: { included: true } } : {}),
      ...(s.error !== undefined ? { error: s.error, cause: s.cause } : {}),
    };
  }

  /** GetExecutionHistory, with reverseOrder, maxResults (default 100) and nextToken. */
  history(body: { reverseOrder?: boolean; maxResults?: number; nextToken?: string }): Record<string, unknown> {
    const visible = this.events.slice(0, this.snapshot().events);
    const ordered = body.reverseOrder ? [...visible].reverse() : visible;
    const from = body.nextToken ? Number(body.nextToken.replace("page-", "")) : 0;
    const size = body.maxResults || 100;
    const page = ordered.slice(from, from + size);
    return { events: page, ...(from + size < ordered.length ? { nextToken: `page-${from + size}` } : {}) };
  }

  /** A ListExecutions item. */
  listItem(): Record<string, unknown> {
    const s = this.snapshot();
    return {
      executionArn: this.executionArn,
      stateMachineArn: this.executionArn.replace(":execution:", ":stateMachine:").replace(/:[^:]+$/, ""),
      name: this.name,
      status: s.status,
      startDate: this.startDate,
      ...(s.stopDate !== undefined ? { stopDate: s.stopDate } : {}),
    };
  }
}

/** Answers DescribeExecution, GetExecutionHistory and ListExecutions (pages of `pageSize`) from these executions. */
export function serveExecutions(aws: FakeAws, executions: FakeExecution[], pageSize = 100): void {
  const find = (arn: unknown) => executions.find((e) => e.executionArn === arn);
  const missing = (arn: unknown) => new AwsError("ExecutionDoesNotExist", `Execution Does Not Exist: '${String(arn)}'`);
  aws.on("DescribeExecution", (body) => find(body.executionArn)?.describe() ?? missing(body.executionArn));
  aws.on("GetExecutionHistory", (body) => find(body.executionArn)?.history(body) ?? missing(body.executionArn));
  aws.on("ListExecutions", (body) => {
    const matching = executions
      .filter((e) =>
        e.executionArn.startsWith(`${String(body.stateMachineArn).replace(":stateMachine:", ":execution:")}:`),
      )
      .map((e) => e.listItem())
      .filter((item) => !body.statusFilter || item.status === body.statusFilter);
    const from = body.nextToken ? Number(String(body.nextToken).replace("list-", "")) : 0;
    const size = Math.min(pageSize, body.maxResults || 100);
    return {
      executions: matching.slice(from, from + size),
      ...(from + size < matching.length ? { nextToken: `list-${from + size}` } : {}),
    };
  });
}

/**
 * Secrets Manager GetSecretValue on `aws`, in the awsJson1_1 protocol @aws-sdk/client-secrets-manager
 * speaks (X-Amz-Target secretsmanager.GetSecretValue): request GetSecretValueRequest { SecretId (ARN
 * or name), VersionId?, VersionStage? }, answer GetSecretValueResponse { ARN, Name, VersionId,
 * SecretString, VersionStages, CreatedDate }. `secrets` maps each secret's ARN to its SecretString;
 * an ARN's name is the part after "secret:" without the random 6-character suffix. Any other
 * SecretId is ResourceNotFoundException, as the SDK model documents it.
 */
export function serveSecrets(aws: FakeAws, secrets: Record<string, string>): void {
  aws.on("GetSecretValue", (body) => {
    const arn = Object.keys(secrets).find(
      (a) => body.SecretId === a || body.SecretId === a.split(":secret:")[1]?.replace(/-[A-Za-z0-9]{6}$/, ""),
    );
    if (!arn)
      return new AwsError("ResourceNotFoundException", "Secrets Manager can't find the resource that you asked for.");
    return {
      ARN: arn,
      Name: arn.split(":secret:")[1].replace(/-[A-Za-z0-9]{6}$/, ""),
      VersionId: "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
      SecretString: secrets[arn],
      VersionStages: ["AWSCURRENT"],
      CreatedDate: 1700000000.123,
    };
  });
}
