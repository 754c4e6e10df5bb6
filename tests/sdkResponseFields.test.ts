// The Lambdas use the AWS SDK their runtime provides (the archives exclude
// @aws-sdk/*, components/shared/approvalFunction.ts), and an SDK client only returns (and only sends) the
// members its model knows. So every field a handler reads from a response, or needs in a request,
// must be in the model of the SDK the runtime ships, or the handler silently sees `undefined` (and
// a request silently loses the field).
//
// One table: each field, the oldest client version found to have it, and how that was found.
// (a) each field is a member of the shape the installed client (de)serializes, read from the
//     schemas it exports (node_modules/@aws-sdk/client-*/dist-cjs/index.js, `<Shape>$`);
// (b) each field is known to the runtime's SDK: its sinceVersion is not newer than the oldest SDK a
//     Node.js runtime with SDK v3 is documented to ship, or every function that sends the command
//     ships the client in its archive. Rows that fail both are the reported gaps (KNOWN_GAPS).
import * as codepipeline from "@aws-sdk/client-codepipeline";
import * as dynamodb from "@aws-sdk/client-dynamodb";
import * as secretsManager from "@aws-sdk/client-secrets-manager";
import * as sfn from "@aws-sdk/client-sfn";
import * as sns from "@aws-sdk/client-sns";
import * as ssm from "@aws-sdk/client-ssm";
import { expect } from "chai";
import { readFileSync, readdirSync } from "fs";
import { join } from "path";
import { LAMBDA_RUNTIME } from "../components/shared/approvalFunction";
import { archiveFiles, ofType, runProgram } from "./helpers/pulumiMocks";
import { SLACK_STACK_CONFIG } from "./helpers/slackStack";
import { stackConfig } from "./helpers/stackConfig";

const CLIENTS = { codepipeline, dynamodb, "secrets-manager": secretsManager, sfn, sns, ssm } as const;
type ClientName = keyof typeof CLIENTS;

/**
 * The SDK inside each Node.js runtime. Lambda no longer publishes the version per runtime (the
 * table was removed from the Lambda runtimes page; aws/aws-sdk-js-v3#6159, 2024-06-04: "The Lambda
 * service team has recently removed this mapping"); the Lambda Developer Guide only says "Node.js 18
 * and later runtimes use AWS SDK for JavaScript v3" (lambda-nodejs.html). The last published number
 * for a v3 runtime is 3.188.0, nodejs18.x at launch (Lambda runtimes page as quoted in
 * aws/aws-cdk#24090 and aws/aws-sdk-js#4335, 2023-02). We take it as the floor for both runtimes
 * (a runtime released later is assumed not to ship an older SDK); the exact versions stay unknown
 * (docs/unknowns.md).
 */
const RUNTIME_SDK: Record<string, { floor: string; source: string }> = {
  "nodejs22.x": { floor: "3.188.0", source: "not published; floor = nodejs18.x's 3.188.0 (aws/aws-cdk#24090)" },
  "nodejs24.x": { floor: "3.188.0", source: "not published; floor = nodejs18.x's 3.188.0 (aws/aws-cdk#24090)" },
};

interface FieldRow {
  client: ClientName;
  command: string;
  /** response: read from the output; request: must reach AWS. */
  direction: "response" | "request";
  /** Shape that holds the member, as exported by the client (`<shape>$`). */
  shape: string;
  field: string;
  /** Oldest client version found with the member (see `source`). */
  sinceVersion: string;
  source: string;
}

// Sources: the npm tarballs of the client versions named, types/models/models_0.d.ts (or
// dist-types/...), checked member by member. "first v3 on the registry" = the oldest version the
// npm registry serves for that client (3.0.0 sfn/sns/secrets-manager, 3.1.0 ssm/dynamodb, 3.4.1 codepipeline).
const FIRST_V3 = "present in the first v3 release on the npm registry";
const PIPELINE_VARIABLES =
  '3.433.0 lacks it, 3.435.0 has it (CHANGELOG 3.435.0: "define variables at pipeline level and new pipeline type V2")';
const UPDATED_BY = "3.507.0 lacks it, 3.515.0 (next version on the registry) has it";
const FIELDS: FieldRow[] = [
  // functions/mechanisms/ssmAutomation/startAutomation.ts
  {
    client: "ssm",
    command: "StartAutomationExecution",
    direction: "response",
    shape: "StartAutomationExecutionResult",
    field: "AutomationExecutionId",
    sinceVersion: "3.1.0",
    source: FIRST_V3,
  },
  // functions/mechanisms/ssmAutomation/automationResult.ts
  {
    client: "ssm",
    command: "GetAutomationExecution",
    direction: "response",
    shape: "GetAutomationExecutionResult",
    field: "AutomationExecution",
    sinceVersion: "3.1.0",
    source: FIRST_V3,
  },
  ...["DocumentName", "ExecutedBy", "Parameters", "StepExecutions"].map((field) => ({
    client: "ssm" as const,
    command: "GetAutomationExecution",
    direction: "response" as const,
    shape: "AutomationExecution",
    field,
    sinceVersion: "3.1.0",
    source: FIRST_V3,
  })),
  ...["StepName", "Action", "StepStatus", "Outputs", "FailureMessage", "ExecutionEndTime"].map((field) => ({
    client: "ssm" as const,
    command: "GetAutomationExecution",
    direction: "response" as const,
    shape: "StepExecution",
    field,
    sinceVersion: "3.1.0",
    source: FIRST_V3,
  })),
  // functions/mechanisms/codePipeline/startPipeline.ts: the request's key travels as a pipeline variable; an SDK without
  // the member would drop it and start a run that carries no request.
  {
    client: "codepipeline",
    command: "StartPipelineExecution",
    direction: "request",
    shape: "StartPipelineExecutionInput",
    field: "variables",
    sinceVersion: "3.435.0",
    source: PIPELINE_VARIABLES,
  },
  {
    client: "codepipeline",
    command: "StartPipelineExecution",
    direction: "request",
    shape: "StartPipelineExecutionInput",
    field: "clientRequestToken",
    sinceVersion: "3.4.1",
    source: FIRST_V3,
  },
  {
    client: "codepipeline",
    command: "StartPipelineExecution",
    direction: "response",
    shape: "StartPipelineExecutionOutput",
    field: "pipelineExecutionId",
    sinceVersion: "3.4.1",
    source: FIRST_V3,
  },
  // functions/mechanisms/codePipeline/pipelineResult.ts
  {
    client: "codepipeline",
    command: "GetPipelineExecution",
    direction: "response",
    shape: "GetPipelineExecutionOutput",
    field: "pipelineExecution",
    sinceVersion: "3.4.1",
    source: FIRST_V3,
  },
  {
    client: "codepipeline",
    command: "GetPipelineExecution",
    direction: "response",
    shape: "PipelineExecution",
    field: "status",
    sinceVersion: "3.4.1",
    source: FIRST_V3,
  },
  {
    client: "codepipeline",
    command: "GetPipelineExecution",
    direction: "response",
    shape: "PipelineExecution",
    field: "variables",
    sinceVersion: "3.435.0",
    source: PIPELINE_VARIABLES,
  },
  {
    client: "codepipeline",
    command: "GetPipelineExecution",
    direction: "response",
    shape: "ResolvedPipelineVariable",
    field: "resolvedValue",
    sinceVersion: "3.435.0",
    source: PIPELINE_VARIABLES,
  },
  {
    client: "codepipeline",
    command: "GetPipelineExecution",
    direction: "response",
    shape: "PipelineExecution",
    field: "trigger",
    sinceVersion: "3.435.0",
    source: "3.433.0 lacks it, 3.435.0 has it (ExecutionTrigger itself is older: ListPipelineExecutions)",
  },
  ...["triggerType", "triggerDetail"].map((field) => ({
    client: "codepipeline" as const,
    command: "GetPipelineExecution",
    direction: "response" as const,
    shape: "ExecutionTrigger",
    field,
    sinceVersion: "3.4.1",
    source: FIRST_V3,
  })),
  {
    client: "codepipeline",
    command: "ListActionExecutions",
    direction: "response",
    shape: "ListActionExecutionsOutput",
    field: "actionExecutionDetails",
    sinceVersion: "3.4.1",
    source: FIRST_V3,
  },
  ...["pipelineExecutionId", "stageName", "actionName", "status", "startTime", "lastUpdateTime", "output"].map(
    (field) => ({
      client: "codepipeline" as const,
      command: "ListActionExecutions",
      direction: "response" as const,
      shape: "ActionExecutionDetail",
      field,
      sinceVersion: "3.4.1",
      source: FIRST_V3,
    }),
  ),
  {
    client: "codepipeline",
    command: "ListActionExecutions",
    direction: "response",
    shape: "ActionExecutionDetail",
    field: "updatedBy",
    sinceVersion: "3.515.0",
    source: UPDATED_BY,
  },
  {
    client: "codepipeline",
    command: "ListActionExecutions",
    direction: "response",
    shape: "ActionExecutionResult",
    field: "externalExecutionSummary",
    sinceVersion: "3.4.1",
    source: FIRST_V3,
  },
  {
    client: "codepipeline",
    command: "ListActionExecutions",
    direction: "response",
    shape: "ActionExecutionResult",
    field: "errorDetails",
    sinceVersion: "3.515.0",
    source: UPDATED_BY,
  },
  // functions/mechanisms/codePipeline/tokenStore.ts, functions/mechanisms/email/linkCodes.ts (PutItem and UpdateItem: nothing read)
  {
    client: "dynamodb",
    command: "GetItem",
    direction: "response",
    shape: "GetItemOutput",
    field: "Item",
    sinceVersion: "3.1.0",
    source: FIRST_V3,
  },
  // functions/mechanisms/slack/requestStore.ts: a vote's UpdateItem returns the item as written (ReturnValues ALL_NEW);
  // without them the store would see no item and refuse the vote (never approve).
  ...[
    ["request", "UpdateItemInput", "ReturnValues"],
    ["response", "UpdateItemOutput", "Attributes"],
  ].map(([direction, shape, field]) => ({
    client: "dynamodb" as const,
    command: "UpdateItem",
    direction: direction as "request" | "response",
    shape,
    field,
    sinceVersion: "3.1.0",
    source:
      "members of UpdateItem in the DynamoDB 2012-08-10 API the v3 client is generated from (not checked in the 3.1.0 tarball)",
  })),
  // functions/mechanisms/slack/secrets.ts (both slack functions): the secret's ID out, its SecretString back.
  {
    client: "secrets-manager",
    command: "GetSecretValue",
    direction: "request",
    shape: "GetSecretValueRequest",
    field: "SecretId",
    sinceVersion: "3.0.0",
    source: FIRST_V3,
  },
  {
    client: "secrets-manager",
    command: "GetSecretValue",
    direction: "response",
    shape: "GetSecretValueResponse",
    field: "SecretString",
    sinceVersion: "3.0.0",
    source: FIRST_V3,
  },
  // functions/mechanisms/email/emailLink.ts
  {
    client: "sns",
    command: "Publish",
    direction: "response",
    shape: "PublishResponse",
    field: "MessageId",
    sinceVersion: "3.0.0",
    source: FIRST_V3,
  },
  // functions/mechanisms/email/approvalPage.ts (SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat: nothing read)
  ...["status", "input", "startDate"].map((field) => ({
    client: "sfn" as const,
    command: "DescribeExecution",
    direction: "response" as const,
    shape: "DescribeExecutionOutput",
    field,
    sinceVersion: "3.0.0",
    source: FIRST_V3,
  })),
  ...["events", "nextToken"].map((field) => ({
    client: "sfn" as const,
    command: "GetExecutionHistory",
    direction: "response" as const,
    shape: "GetExecutionHistoryOutput",
    field,
    sinceVersion: "3.0.0",
    source: FIRST_V3,
  })),
  ...["id", "previousEventId", "type", "taskScheduledEventDetails", "stateEnteredEventDetails"].map((field) => ({
    client: "sfn" as const,
    command: "GetExecutionHistory",
    direction: "response" as const,
    shape: "HistoryEvent",
    field,
    sinceVersion: "3.0.0",
    source: FIRST_V3,
  })),
  {
    client: "sfn",
    command: "GetExecutionHistory",
    direction: "response",
    shape: "TaskScheduledEventDetails",
    field: "parameters",
    sinceVersion: "3.0.0",
    source: FIRST_V3,
  },
  {
    client: "sfn",
    command: "GetExecutionHistory",
    direction: "response",
    shape: "StateEnteredEventDetails",
    field: "name",
    sinceVersion: "3.0.0",
    source: FIRST_V3,
  },
];

/** Commands whose calls read nothing from the response (and send only long-standing members). */
const NOTHING_READ = ["SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat", "PutItem"];

/**
 * Fields the runtime's SDK cannot be shown to know, used by functions that do not ship the client.
 * Empty since the codepipeline start and result functions ship @aws-sdk/client-codepipeline (the
 * installed version, >= 3.515.0) in their archives (bundledPackages, components/mechanisms/codePipelineApproval.ts).
 * The test fails when this list and the facts differ.
 */
const KNOWN_GAPS: string[] = [];

/**
 * Commands whose client is not installed, so their fields cannot be judged: (a) reads the installed
 * client's schemas. Each names the fields the handlers use and why the client is missing; the
 * coverage test fails once the client can be loaded (then its rows go into FIELDS).
 */
const CLIENT_NOT_INSTALLED: Record<string, { client: string; fields: string; reason: string }> = {};

const rowName = (r: FieldRow) => `${r.client} ${r.command} ${r.direction} ${r.shape}.${r.field}`;

function newer(a: string, b: string): boolean {
  const [x, y] = [a, b].map((v) => v.split(".").map(Number));
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] > y[i];
  return false;
}

/** Member names of a structure as the installed client (de)serializes it: its exported schema [3, ns, name, traits, members, ...]. */
function schemaMembers(client: ClientName, shape: string): string[] {
  const schema = (CLIENTS[client] as Record<string, unknown>)[`${shape}$`];
  if (!Array.isArray(schema) || schema[0] !== 3 || schema[2] !== shape)
    throw new Error(`@aws-sdk/client-${client} exports no structure schema ${shape}$`);
  return schema[4] as string[];
}

describe("response and request fields the Lambda runtime's AWS SDK knows (check C)", () => {
  const functions: Array<{ name: string; runtime: string; code: string; files: string[] }> = [];

  before(async () => {
    // dev (activity only) has no Lambda function; no committed stack has a slack stage, so the slack tests' dev stack is added.
    for (const [stack, config] of [
      ["prod", stackConfig("prod")],
      ["staging", stackConfig("staging")],
      ["dev", SLACK_STACK_CONFIG],
    ] as const) {
      for (const fn of ofType((await runProgram(stack, config)).resources, "aws:lambda/function:Function")) {
        const files = await archiveFiles(fn);
        functions.push({
          name: `${stack}: ${fn.name}`,
          runtime: fn.inputs.runtime,
          code: files["__index.js"] ?? "",
          files: Object.keys(files),
        });
      }
    }
  });

  it("covers every AWS command the handlers send", () => {
    const sent = new Set<string>();
    for (const file of (readdirSync(join(__dirname, "..", "functions"), { recursive: true }) as string[]).filter((f) =>
      f.endsWith(".ts"),
    )) {
      for (const match of readFileSync(join(__dirname, "..", "functions", file), "utf8").matchAll(
        /new (\w+)Command\(/g,
      ))
        sent.add(match[1]);
    }
    const covered = new Set([...FIELDS.map((r) => r.command), ...NOTHING_READ, ...Object.keys(CLIENT_NOT_INSTALLED)]);
    expect(
      [...sent].filter((c) => !covered.has(c)),
      "commands missing from the table",
    ).to.deep.equal([]);
  });

  it("a command is listed without its client only while the client cannot be loaded", () => {
    for (const [command, { client }] of Object.entries(CLIENT_NOT_INSTALLED))
      expect(() => require.resolve(client), `${client} is installed: add ${command}'s rows to FIELDS`).to.throw();
  });

  it("(a) every field is a member of the shape the installed client (de)serializes", () => {
    for (const row of FIELDS) expect(schemaMembers(row.client, row.shape), rowName(row)).to.include(row.field);
  });

  it("(a) and the shape belongs to the command: the command's output or input reaches it", () => {
    // Guards against a row naming the right field on the wrong command.
    // A member schema is a number (simple type), a thunk, or [thunk, traits]; lists are [1, ns, name, traits, member].
    const resolve = (t: unknown): unknown =>
      typeof t === "function"
        ? resolve((t as () => unknown)())
        : Array.isArray(t) && typeof t[0] === "function"
          ? resolve(t[0])
          : t;
    const reaches = (client: ClientName, from: string, to: string, seen = new Set<string>()): boolean => {
      if (from === to) return true;
      if (seen.has(from)) return false;
      seen.add(from);
      const schema = (CLIENTS[client] as Record<string, unknown>)[`${from}$`] as unknown[] | undefined;
      if (!Array.isArray(schema) || schema[0] !== 3) return false;
      return (schema[5] as unknown[]).some((member) => {
        let target = resolve(member);
        while (Array.isArray(target) && (target[0] === 1 || target[0] === 2))
          target = resolve(target[0] === 1 ? target[4] : target[5]);
        return Array.isArray(target) && target[0] === 3 && reaches(client, target[2] as string, to, seen);
      });
    };
    for (const row of FIELDS) {
      // Secrets Manager's model names them <Command>Request / <Command>Response.
      const commandShape =
        row.client === "secrets-manager"
          ? `${row.command}${row.direction === "request" ? "Request" : "Response"}`
          : `${row.command}${row.direction === "request" ? "Input" : row.client === "ssm" || row.client === "sns" ? "Result" : "Output"}`;
      const root = row.client === "sns" && row.command === "Publish" ? "PublishResponse" : commandShape;
      expect(reaches(row.client, root, row.shape), `${rowName(row)} from ${root}`).to.equal(true);
    }
  });

  it("every Lambda runs on a runtime whose SDK is listed here (nodejs24.x; nodejs22.x kept for a stack still on it)", () => {
    expect(functions.length).to.be.greaterThan(5);
    expect(Object.keys(RUNTIME_SDK)).to.include(LAMBDA_RUNTIME);
    for (const fn of functions) expect(Object.keys(RUNTIME_SDK), fn.name).to.include(fn.runtime);
  });

  it("(b) every field is known to the runtime's SDK, or the function ships the client; the rest are the reported gaps", () => {
    const gaps: string[] = [];
    for (const row of FIELDS) {
      const users = functions.filter((fn) => fn.code.includes(`${row.command}Command`));
      expect(users, `no deployed function sends ${row.command}`).to.not.be.empty;
      const unknownTo = users.filter(
        (fn) =>
          newer(row.sinceVersion, RUNTIME_SDK[fn.runtime].floor) &&
          !fn.files.some(
            (f) =>
              f === `node_modules/@aws-sdk/client-${row.client}` ||
              f.startsWith(`node_modules/@aws-sdk/client-${row.client}/`),
          ),
      );
      if (unknownTo.length > 0) gaps.push(rowName(row));
    }
    expect(gaps).to.deep.equal(KNOWN_GAPS);
  });
});
