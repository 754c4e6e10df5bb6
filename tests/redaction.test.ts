// AWS error messages can echo the request, and with it the task token (or the
// link that carries it). Nothing a handler throws or logs, nothing the Lambda runtime makes of it
// (its error log, the error response Step Functions keeps as the Task's Cause, the on-failure
// record in the dead-letter queue) and nothing a CLI prints may hold the token or any 40-character
// piece of it. The fakes answer with faults whose message echoes the request, as AWS's
// ValidationException does ("1 validation error detected: Value '...' at 'taskToken' ...").
import { expect } from "chai";
import { spawn } from "child_process";
import { randomBytes } from "crypto";
import { join } from "path";
import { deliverToStepFunctions } from "../functions/shared/callbackTask";
import { REDACTED, redactText, redactedError, redactingHandler, secretsOf } from "../functions/shared/redact";
import { describe as describeError } from "../scripts/lib/approvalWorker";
import { sfnFailure } from "../scripts/lib/clients";
import { safeCause } from "../scripts/lib/terminalFormat";
import { cliArgs, fakeAwsCliEnv } from "./helpers/cliEnv";
import { FakeAws, callerIdentityXml, echoingFault, fakeTaskToken } from "./helpers/fakeAws";
import { EXPENSE_REPORT } from "./helpers/fixtures";
import { archiveFiles, named, runProgram } from "./helpers/pulumiMocks";
import { HandlerRun, invokeArchive, writeArchive } from "./helpers/serializedHandler";
import { stackConfig } from "./helpers/stackConfig";

/** A task token as Step Functions hands them out: opaque base64 of binary data (1,126 characters here). */
const newToken = () => `AQCEAAAAKgAAAAMAAAAAAAAAAe${randomBytes(825).toString("base64")}`;
const EXECUTION_ARN = "arn:aws:states:eu-west-1:123456789012:execution:sfn-approvals-prod:ER98765-0123456789ab";

/** Every form the token travels in (raw, SSM chunks are pieces of it, base64url in links, URL-encoded base64). */
function forms(secret: string): string[] {
  const base64 = Buffer.from(secret).toString("base64");
  return [secret, Buffer.from(secret).toString("base64url"), base64, encodeURIComponent(base64)];
}

/** Fails when `text` holds the secret, in any of its forms, or any 40-character piece of one. */
function expectNoPiece(text: string, secret: string, where: string): void {
  for (const form of forms(secret)) {
    for (let i = 0; i + 40 <= form.length; i++) {
      if (text.includes(form.slice(i, i + 40)))
        expect.fail(`${where} holds a 40-character piece of the secret: ...${form.slice(i, i + 40)}...`);
    }
  }
}

describe("redaction of task tokens (functions/shared/redact.ts)", () => {
  const token = newToken();

  it("removes a known token in every form it travels in, and any 40-character piece of it (SSM chunks of 500)", () => {
    const chunks = [token.slice(0, 500), token.slice(500, 1000), token.slice(1000)];
    const base64url = Buffer.from(token).toString("base64url");
    const text = [
      `Value '${token}' at 'taskToken' failed to satisfy constraint`,
      `Value '[${chunks.join(", ")}]' at 'parameters.TaskToken'`,
      `link https://abc.execute-api.eu-west-1.amazonaws.com/decide?t=${base64url}&e=x`,
      `encoded ${encodeURIComponent(Buffer.from(token).toString("base64"))}`,
      `piece:${token.slice(300, 341)}:end`,
    ].join("\n");
    const redacted = redactText(text, [token]);
    expectNoPiece(redacted, token, "redacted text");
    expect(redacted).to.contain(`Value '${REDACTED}' at 'taskToken' failed to satisfy constraint`);
    expect(redacted).to.contain(`Value '[${REDACTED}, ${REDACTED}, ${REDACTED}]' at 'parameters.TaskToken'`);
    expect(redacted).to.contain(`piece:${REDACTED}:end`);
  });

  it("removes token-shaped values nobody named: whole tokens, their chunks, base64url and URL-encoded forms, link codes", () => {
    const code = randomBytes(32).toString("base64url");
    for (const secret of [token, fakeTaskToken("exec-1-manager"), `AAAAKgAAAAIAAAAAAAAAA${"x7Yq".repeat(150)}`]) {
      const text = `A: '${secret}' B: [${secret.slice(0, 500)}, ${secret.slice(500)}] C: ${Buffer.from(secret).toString("base64url")} D: ${encodeURIComponent(Buffer.from(secret).toString("base64"))}`;
      expectNoPiece(redactText(text), secret, "redacted text");
    }
    const link = redactText(
      `see https://abc.execute-api.eu-west-1.amazonaws.com/decide?c=${code} and ...&amp;t=${code.slice(0, 20)}`,
    );
    expect(link).to.equal(
      `see https://abc.execute-api.eu-west-1.amazonaws.com/decide?c=${REDACTED} and ...&amp;t=${REDACTED}`,
    );
  });

  it("leaves identifiers, names, stack frames and ordinary messages as they are", () => {
    const ordinary = [
      EXECUTION_ARN,
      "arn:aws:sts::123456789012:assumed-role/stage-manager-start-role-a1b2c3d/stage-manager-start-fn-a1b2c3d",
      "arn:aws:iam::123456789012:role/service-role/sfn-approvals-prod-finance-pipeline-role-7f3e2d1",
      "automation 333ba70b-2333-48db-b17e-a5e69c6f4d1c, request 01234567-89ab-cdef-0123-456789abcdef",
      "approval key 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
      "Task Timed Out: 'Provided task does not exist anymore'",
      "at de_SendTaskSuccessCommandError (/var/runtime/node_modules/@aws-sdk/client-sfn/dist-cjs/index.js:1795:21)",
      "at async Runtime.handleOnceNonStreaming (file:///var/runtime/index.mjs:1206:29)",
      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
      "ApprovalRequestForTheFinanceDepartment-Quarterly-Q3",
      JSON.stringify(EXPENSE_REPORT),
      String(new Error("boom").stack),
    ];
    for (const text of ordinary) expect(redactText(text), text).to.equal(text);
  });

  it("keeps a JSON log line JSON when the token follows an escape", () => {
    const line = JSON.stringify({ msg: "approval step failed", cause: `line one\n${token}\u0001${token}` });
    const redacted = redactText(line);
    expect(JSON.parse(redacted)).to.deep.equal({
      msg: "approval step failed",
      cause: `line one\n${REDACTED}\u0001${REDACTED}`,
    });
  });

  it("rethrows an error with its name (Retry and Catch match names), a redacted message and stack, and nothing else", () => {
    const original = Object.assign(new Error(`1 validation error detected: Value '${token}' at 'taskToken'`), {
      $metadata: { httpStatusCode: 400 },
      $response: { body: token },
      Message: `Value '${token}'`,
    });
    original.name = "ValidationException";
    (original as Error & { cause?: unknown }).cause = new Error(token);
    const safe = redactedError(original);
    expect(safe.name).to.equal("ValidationException");
    expect(safe.message).to.equal(`1 validation error detected: Value '${REDACTED}' at 'taskToken'`);
    expect(safe.stack)
      .to.contain(`ValidationException: 1 validation error detected: Value '${REDACTED}'`)
      .and.contain("redaction.test.ts");
    expect(Object.keys(safe)).to.deep.equal([]);
    expect((safe as Error & { cause?: unknown }).cause).to.equal(undefined);
    expectNoPiece(
      JSON.stringify({ ...safe, name: safe.name, message: safe.message, stack: safe.stack }),
      token,
      "the redacted error",
    );
    expect(redactedError(`thrown text ${token}`).message).to.equal(`thrown text ${REDACTED}`);
    expect(redactedError(new Error("sfn-approvals.StageDecided")).message).to.equal("sfn-approvals.StageDecided");
  });

  it("finds the secrets of an invocation: a callback payload's taskToken, the page's t (also decoded) and c", () => {
    const t = Buffer.from(token).toString("base64url");
    const code = randomBytes(32).toString("base64url");
    expect(
      secretsOf({ taskToken: token, request: EXPENSE_REPORT, stage: "manager", executionArn: EXECUTION_ARN }),
    ).to.deep.equal([token]);
    expect(
      secretsOf({
        requestContext: { http: { method: "GET" } },
        queryStringParameters: { t, e: EXECUTION_ARN, s: "finance" },
      }),
    ).to.deep.equal([t, token]);
    const body = Buffer.from(new URLSearchParams({ c: code, name: "Fiona", decision: "approve" }).toString()).toString(
      "base64",
    );
    expect(secretsOf({ requestContext: { http: { method: "POST" } }, body, isBase64Encoded: true })).to.deep.equal([
      code,
    ]);
    expect(
      secretsOf({ source: "aws.ssm", detail: { ExecutionId: "333ba70b-2333-48db-b17e-a5e69c6f4d1c" } }),
    ).to.deep.equal([]);
  });

  it("the handler wrapper redacts console output while the handler runs, gives the console back, and rethrows redacted", async () => {
    const lines: unknown[][] = [];
    const saved = console.error;
    console.error = (...args: unknown[]) => {
      lines.push(args);
    };
    let thrown: Error | undefined;
    try {
      const handler = redactingHandler(async (event: { taskToken: string }) => {
        console.error(
          JSON.stringify({ msg: "failed", cause: `echo ${event.taskToken.slice(100, 600)}` }),
          { nested: [event.taskToken] },
          new Error(event.taskToken),
          7,
        );
        throw Object.assign(new Error(`Value '${event.taskToken.slice(0, 50)}'`), { name: "ValidationException" });
      });
      thrown = await handler({ taskToken: token }).then(
        () => undefined,
        (e: Error) => e,
      );
      console.error("after");
    } finally {
      console.error = saved;
    }
    expect(lines[0][0]).to.equal(JSON.stringify({ msg: "failed", cause: `echo ${REDACTED}` }));
    expect(lines[0][1]).to.equal(JSON.stringify({ nested: [REDACTED] }));
    expect((lines[0][2] as Error).message).to.equal(REDACTED);
    expect(lines[0][3]).to.equal(7);
    expect(lines[1]).to.deep.equal(["after"]);
    expect(thrown!.name).to.equal("ValidationException");
    expect(thrown!.message).to.equal(`Value '${REDACTED}'`);
  });

  it("deliverToStepFunctions rethrows what failed and AWS's words, without the token", async () => {
    const failure = Object.assign(
      new Error(
        `1 validation error detected: Value '${token}' at 'taskToken' failed to satisfy constraint: Member must have length less than or equal to 1024`,
      ),
      { name: "ValidationException" },
    );
    const error = await deliverToStepFunctions(
      () => Promise.reject(failure),
      "the decision approved for automation x (stage manager)",
    ).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error!.message).to.equal(
      `DecisionNotDelivered: sending the decision approved for automation x (stage manager) failed with ValidationException: 1 validation error detected: Value '${REDACTED}' at 'taskToken' failed to satisfy constraint: Member must have length less than or equal to 1024`,
    );
  });

  it("the CLIs describe AWS errors and execution causes without the token", () => {
    const error = Object.assign(new Error(`1 validation error detected: Value '${token}' at 'taskToken'`), {
      name: "ValidationException",
      $metadata: { httpStatusCode: 400 },
    });
    expect(describeError(error)).to.equal(
      `ValidationException: 1 validation error detected: Value '${REDACTED}' at 'taskToken'`,
    );
    expect(sfnFailure(error)).to.equal(
      `Step Functions refused the request: ValidationException: 1 validation error detected: Value '${REDACTED}' at 'taskToken'`,
    );
    // A cause that holds a 60-character piece: below the old 100-character rule of safeCause.
    expect(safeCause(`SendTaskFailure refused: Value '${token.slice(200, 260)}'`)).to.equal(
      `SendTaskFailure refused: Value '${REDACTED}'`,
    );
  });
});

describe("deployed handlers whose AWS calls fail with messages that echo the token (serialized __index.js)", function () {
  this.timeout(120000);
  const aws = new FakeAws();
  const archives: Record<string, { dir: string; env: Record<string, string> }> = {};
  const token = newToken();
  const payload = { taskToken: token, request: EXPENSE_REPORT, executionArn: EXECUTION_ARN };

  before(async () => {
    // One program with the three mechanisms whose functions call AWS with the token.
    const program = await runProgram(
      "prod",
      stackConfig("prod", {
        "sfn-approvals:stages": [
          {
            name: "manager",
            mechanism: "ssm-automation",
            approvers: ["arn:aws:iam::123456789012:user/alice"],
            notify: ["managers@example.com"],
            timeout: "1d",
          },
          {
            name: "finance",
            mechanism: "codepipeline",
            approvers: ["arn:aws:iam::123456789012:role/FinanceApprover"],
            notify: ["finance@example.com"],
            timeout: "1d",
          },
          { name: "team-lead", mechanism: "email-link", approvers: ["lead@example.com"], timeout: "1d" },
        ],
      }),
    );
    const url = await aws.start();
    const endpoints = {
      AWS_ENDPOINT_URL_SSM: url,
      AWS_ENDPOINT_URL_SFN: url,
      AWS_ENDPOINT_URL_DYNAMODB: url,
      AWS_ENDPOINT_URL_CODEPIPELINE: url,
      AWS_ENDPOINT_URL_SNS: url,
    };
    for (const name of [
      "stage-manager-start-fn",
      "stage-manager-result-fn",
      "stage-finance-start-fn",
      "stage-team-lead-start-fn",
    ]) {
      const fn = named(program.resources, name);
      archives[name] = {
        dir: writeArchive(await archiveFiles(fn)),
        env: { ...fn.inputs.environment.variables, ...endpoints },
      };
    }
  });
  after(() => aws.stop());
  beforeEach(() => aws.reset());

  const invoke = (name: string, event: unknown) => invokeArchive(archives[name].dir, event, archives[name].env);

  /**
   * Nothing of the run holds a secret: the error the handler threw, the runtime's error response
   * (for a start function, which Step Functions invokes, the Task's Cause), the logs (the handler's
   * lines and the runtime's "Invoke Error" line), and for a result function (invoked
   * asynchronously by EventBridge) the on-failure record its dead-letter queue receives, shaped as
   * https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html shows.
   */
  function expectClean(run: HandlerRun, secrets: string[], asyncEvent?: unknown): void {
    const deadLetter =
      asyncEvent === undefined
        ? {}
        : {
            version: "1.0",
            timestamp: "2026-11-22T10:00:06.000Z",
            requestContext: {
              requestId: "req-1",
              functionArn: "arn:aws:lambda:eu-west-1:123456789012:function:test:$LATEST",
              condition: "RetriesExhausted",
              approximateInvokeCount: 3,
            },
            requestPayload: asyncEvent,
            responseContext: { statusCode: 200, executedVersion: "$LATEST", functionError: "Unhandled" },
            responsePayload: run.response,
          };
    for (const secret of secrets) {
      expectNoPiece(JSON.stringify(run.error ?? {}), secret, "the thrown error");
      expectNoPiece(JSON.stringify(run.response ?? {}), secret, "the runtime's error response");
      expectNoPiece(run.logs, secret, "the logs");
      expectNoPiece(JSON.stringify(deadLetter), secret, "the dead-letter record");
    }
  }

  it("ssm-automation start: StartAutomationExecution's ValidationException echoes the token chunks", async () => {
    aws.on(
      "StartAutomationExecution",
      echoingFault("Parameters.TaskToken", { constraint: "Member must have length less than or equal to 512" }),
    );
    const event = { ...payload, stage: "manager" };
    const run = await invoke("stage-manager-start-fn", event);
    expect(aws.requests.map((r) => r.operation)).to.deep.equal(["StartAutomationExecution"]);
    expect(aws.requests[0].body.Parameters.TaskToken.join("")).to.equal(token);
    expect(run.ok).to.equal(false);
    expect(run.error).to.deep.equal({
      name: "ValidationException",
      message: `1 validation error detected: Value '[${REDACTED}, ${REDACTED}, ${REDACTED}]' at 'Parameters.TaskToken' failed to satisfy constraint: Member must have length less than or equal to 512`,
    });
    expect(run.response!.errorType).to.equal("ValidationException");
    expect(run.logs).to.contain("Invoke Error");
    expectClean(run, [token]);
  });

  describe("ssm-automation result", () => {
    const automationId = "333ba70b-2333-48db-b17e-a5e69c6f4d1c";
    const event = (env: Record<string, string>) => ({
      version: "0",
      id: "eeca120b-a321-433e-9635-dab369006a6b",
      "detail-type": "EC2 Automation Step Status-change Notification",
      source: "aws.ssm",
      account: "123456789012",
      time: "2026-11-22T10:00:05Z",
      region: "eu-west-1",
      resources: [`arn:aws:ssm:eu-west-1:123456789012:automation-execution/${automationId}`],
      detail: {
        ExecutionId: automationId,
        Definition: env.DOCUMENT_NAME,
        DefinitionVersion: 1.0,
        Status: "Success",
        EndTime: "Nov 22, 2026 10:00:04 AM",
        StartTime: "Nov 22, 2026 9:12:00 AM",
        Time: 2884000.0,
        StepName: "Approve",
        Action: "aws:approve",
      },
    });
    const automation = (env: Record<string, string>, step: Record<string, unknown>) => ({
      AutomationExecution: {
        AutomationExecutionId: automationId,
        DocumentName: env.DOCUMENT_NAME,
        ExecutedBy: `arn:aws:sts::123456789012:assumed-role/${env.STARTER_ROLE_NAME}/stage-manager-start-fn-a1b2c3d`,
        Parameters: {
          TaskToken: [token.slice(0, 500), token.slice(500, 1000), token.slice(1000)],
          Message: ["..."],
          RequestId: ["ER98765"],
          ExecutionArn: [EXECUTION_ARN],
        },
        StepExecutions: [{ StepName: "Approve", Action: "aws:approve", ExecutionEndTime: 1795341604, ...step }],
      },
    });

    it("SendTaskSuccess's ValidationException echoes the token it read from SSM: the function fails (retry, then dead letter) without it", async () => {
      const { env } = archives["stage-manager-result-fn"];
      aws
        .on("GetAutomationExecution", () =>
          automation(env, {
            StepStatus: "Success",
            Outputs: {
              ApprovalStatus: ["Approved"],
              ApproverDecisions: [
                JSON.stringify({
                  Approver: "arn:aws:iam::123456789012:user/alice",
                  Decision: "Approve",
                  ApprovalDecisionTime: "2026-11-22T10:00:00Z",
                  Comment: "",
                }),
              ],
            },
          }),
        )
        .on("SendTaskSuccess", echoingFault("taskToken"));
      const run = await invoke("stage-manager-result-fn", event(env));
      expect(aws.requests.map((r) => r.operation)).to.deep.equal(["GetAutomationExecution", "SendTaskSuccess"]);
      expect(aws.requests[1].body.taskToken).to.equal(token);
      expect(run.ok).to.equal(false);
      expect(run.error!.message).to.equal(
        `DecisionNotDelivered: sending the decision approved for automation ${automationId} (stage manager) failed with ValidationException: 1 validation error detected: Value '${REDACTED}' at 'taskToken' failed to satisfy constraint: Member must have length less than or equal to 1024`,
      );
      expectClean(run, [token], event(env));
    });

    it("a failed step whose FailureMessage echoes a token chunk is logged, and sent as the Task's Cause, without it", async () => {
      const { env } = archives["stage-manager-result-fn"];
      const failureMessage = `Step fails when it is validating inputs. Value '${token.slice(500, 1000)}' of parameter TaskToken is not valid.`;
      aws
        .on("GetAutomationExecution", () =>
          automation(env, { StepStatus: "Failed", FailureMessage: failureMessage, Outputs: {} }),
        )
        .on("SendTaskFailure", () => ({}));
      const run = await invoke("stage-manager-result-fn", event(env));
      expect(aws.operations()).to.deep.equal(["GetAutomationExecution", "SendTaskFailure"]);
      expect(run.ok).to.equal(true);
      expect(run.logs)
        .to.contain("approval step failed")
        .and.contain(`Value '${REDACTED}' of parameter TaskToken is not valid.`);
      expectClean(run, [token], event(env));
      // The cause lands in the execution history and in what the CLIs show of a failed execution.
      expect(aws.requests[1].body.cause).to.contain(`Value '${REDACTED}' of parameter TaskToken is not valid.`);
      expectNoPiece(aws.requests[1].body.cause, token, "the cause sent with SendTaskFailure");
    });
  });

  it("codepipeline start: the first call that carries the token (the token record) fails echoing the whole request", async () => {
    aws.otherwise(echoingFault());
    const event = { ...payload, stage: "finance" };
    const run = await invoke("stage-finance-start-fn", event);
    expect(JSON.stringify(aws.requests[0].body)).to.contain(token);
    expect(run.ok).to.equal(false);
    expect(run.error!.name).to.equal("ValidationException");
    expect(run.error!.message).to.contain(REDACTED);
    expectClean(run, [token]);
  });

  it("email-link start: SNS refuses the approval email echoing its message, whose link holds the secret", async () => {
    aws
      .on("PutItem", () => ({}))
      .on("Publish", echoingFault("Message", { type: "InvalidParameter", constraint: "Message too long" }));
    const event = { ...payload, stage: "team-lead" };
    const run = await invoke("stage-team-lead-start-fn", event);
    const published = aws.requests.find((r) => r.operation === "Publish");
    expect(published, "the function published the email").to.not.equal(undefined);
    // The link carries a one-time code (or, before codes, the token): both are secrets.
    const linkSecret = /[?&][ct]=([A-Za-z0-9_-]+)/.exec(published!.body.Message)![1];
    expect(run.ok).to.equal(false);
    expect(run.error!.name).to.equal("InvalidParameterException");
    expect(run.error!.message).to.contain(`decide?${published!.body.Message.includes("?c=") ? "c" : "t"}=${REDACTED}`);
    expectClean(run, [token]);
    for (const where of [JSON.stringify(run.error), JSON.stringify(run.response), run.logs])
      expect(where).to.not.contain(linkSecret);
  });
});

describe("approval worker CLI: a refused decision is reported without the activity token", function () {
  this.timeout(60000);
  const aws = new FakeAws();
  after(() => aws.stop());

  it("prints AWS's error with the token removed, and exits 1 (nothing sent)", async () => {
    const url = await aws.start();
    const token = newToken();
    let given = false;
    aws
      .on("GetCallerIdentity", () => callerIdentityXml("arn:aws:sts::123456789012:assumed-role/ReleaseApprover/alice"))
      .on("GetActivityTask", () =>
        given
          ? {}
          : ((given = true),
            {
              taskToken: token,
              input: JSON.stringify({ request: EXPENSE_REPORT, stage: "manager", executionArn: EXECUTION_ARN }),
            }),
      )
      .on("SendTaskSuccess", echoingFault("taskToken"));
    const child = spawn(
      process.execPath,
      cliArgs("approval-worker", [
        "--activity-arn",
        "arn:aws:states:eu-west-1:123456789012:activity:sfn-approvals-dev-manager",
        "--decide",
        "approve",
        "--once",
      ]),
      {
        cwd: join(__dirname, ".."),
        env: fakeAwsCliEnv({ AWS_ENDPOINT_URL_SFN: url, AWS_ENDPOINT_URL_STS: url }),
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    expect(aws.requests.filter((r) => r.operation === "SendTaskSuccess").map((r) => r.body.taskToken)).to.deep.equal([
      token,
    ]);
    expect(code, output).to.equal(1);
    expect(output).to.contain(
      `Your decision was NOT recorded: ValidationException: 1 validation error detected: Value '${REDACTED}' at 'taskToken'`,
    );
    expectNoPiece(output, token, "the worker's output");
  });
});
