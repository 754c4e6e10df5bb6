// The approval page of the email mechanisms (email-link, sns-callback): an API Gateway HTTP API
// with two routes, GET /decide (shows the request, changes nothing) and POST /decide (records
// the decision once), served by one Lambda (functions/mechanisms/email/approvalPage.ts).
//
// It is built before the stages and the workflow, because their emails need its URL; it knows
// the state machine by name (its ARN follows from the name), so nothing waits on anything else.
// The Lambda may read executions of that state machine and answer its tasks, nothing more.
// The API is throttled, its access log never holds a query string (the link's token or code).
// With an email-link stage it also owns the one-time code table of those links (functions/mechanisms/email/linkCodes.ts):
// the start functions write codes, the page reads and claims them. With the stack's data key, the
// page's role is one of the key policy's readers of execution data (it reads the history).
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { PAGE_PATH } from "../../functions/mechanisms/email/approvalLink";
import { HttpEvent, handleApprovalPage } from "../../functions/mechanisms/email/approvalPage";
import { newDynamoDbClient, newSfnClient, requiredEnv } from "../../functions/shared/awsClients";
import { MECHANISMS, Mechanism } from "../../functions/contract";
import { MECHANISM_DEFINITIONS, mechanismsWith } from "./index";
import { anyOccurrenceAlarm } from "../shared/alarms";
import { ApprovalFunction, LOG_RETENTION_DAYS } from "../shared/approvalFunction";
import { accountFacts } from "../shared/iam";
import { checkedName, defaultNamePrefix } from "../shared/naming";
import { ExecutionDataKey } from "../workflow/executionDataKey";

/** Requests per second across the whole API, and the burst above it (API Gateway throttling). */
export const DEFAULT_THROTTLE = { ratePerSecond: 5, burst: 10 };
/** Below the HTTP API's 30 s limit (the page makes at most three calls, none retried). */
export const INTEGRATION_TIMEOUT_MS = 29000;

/** One JSON line per request; `$context.routeKey` names the route without the query string. */
export const ACCESS_LOG_FORMAT = JSON.stringify({
  requestId: "$context.requestId",
  requestTime: "$context.requestTime",
  sourceIp: "$context.identity.sourceIp",
  userAgent: "$context.identity.userAgent",
  routeKey: "$context.routeKey",
  status: "$context.status",
  responseLength: "$context.responseLength",
  integrationError: "$context.integrationErrorMessage",
});

export interface ApprovalPageArgs {
  /** Name of the workflow's state machine (see workflowStateMachineName). */
  stateMachineName: string;
  /** Stage name -> mechanism, for every stage whose approvers decide on this page. */
  stages: Record<string, Mechanism>;
  /** Start of physical resource names; defaults to "<project>-<stack>". */
  namePrefix?: string;
  throttle?: { ratePerSecond: number; burst: number };
  /** Where the alarm on server errors of the page publishes (an SNS topic ARN). */
  alarmActions?: pulumi.Input<string>[];
  /** The stack's data key: the page's role may decrypt the workflow's execution data. */
  dataKey?: ExecutionDataKey;
}

/** The code table as the email-link start functions need it. */
export interface LinkCodeTable {
  name: pulumi.Input<string>;
  arn: pulumi.Input<string>;
}

export class ApprovalPage extends pulumi.ComponentResource {
  readonly api: aws.apigatewayv2.Api;
  readonly apiStage: aws.apigatewayv2.Stage;
  readonly accessLogs: aws.cloudwatch.LogGroup;
  readonly handler: ApprovalFunction;
  readonly serverErrorsAlarm: aws.cloudwatch.MetricAlarm;
  /** Only with an email-link stage: the one-time codes of its links. */
  readonly linkCodes?: aws.dynamodb.Table;
  /** The link target of every approval email: https://<api>.execute-api.<region>.amazonaws.com/decide */
  readonly url: pulumi.Output<string>;

  constructor(name: string, args: ApprovalPageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sfn-approvals:index:ApprovalPage", name, {}, opts);
    const stageNames = Object.keys(args.stages);
    if (stageNames.length === 0) throw new Error(`ApprovalPage ${name}: needs at least one stage`);
    for (const [stage, mechanism] of Object.entries(args.stages)) {
      if (!MECHANISM_DEFINITIONS[mechanism]?.approvalPage)
        throw new Error(
          `ApprovalPage ${name}: stage '${stage}' uses ${mechanism}; only ${mechanismsWith("approvalPage").join(" and ")} stages decide on the page`,
        );
    }
    const throttle = args.throttle ?? DEFAULT_THROTTLE;
    const parent = { parent: this };
    const { accountId, region, partition } = accountFacts(parent);
    const prefix = args.namePrefix ?? defaultNamePrefix();
    const stateMachineArn = pulumi.interpolate`arn:${partition}:states:${region}:${accountId}:stateMachine:${args.stateMachineName}`;
    const executionsArn = pulumi.interpolate`arn:${partition}:states:${region}:${accountId}:execution:${args.stateMachineName}:*`;

    this.api = new aws.apigatewayv2.Api(
      `${name}-api`,
      {
        name: checkedName(`ApprovalPage ${name}`, "HTTP API", `${prefix}-approval-page`, 128),
        protocolType: "HTTP",
        description: `Approval page of ${args.stateMachineName}: GET ${PAGE_PATH} shows a request, POST ${PAGE_PATH} decides it`,
      },
      parent,
    );
    this.url = pulumi.interpolate`${this.api.apiEndpoint}${PAGE_PATH}`;

    // Mechanisms whose links carry a one-time code: their stages need the code table and take no token link.
    const codeLinkMechanisms = MECHANISMS.filter((m) => MECHANISM_DEFINITIONS[m].approvalPage === "code-link");
    if (Object.values(args.stages).some((mechanism) => codeLinkMechanisms.includes(mechanism))) {
      // One item per email: a hash of its code and the token sealed under the code; TTL ends it.
      this.linkCodes = new aws.dynamodb.Table(
        `${name}-link-codes`,
        {
          name: checkedName(`ApprovalPage ${name}`, "DynamoDB table", `${prefix}-link-codes`, 255),
          billingMode: "PAY_PER_REQUEST",
          hashKey: "codeHash",
          attributes: [{ name: "codeHash", type: "S" }],
          ttl: { attributeName: "expiresAt", enabled: true },
          pointInTimeRecovery: { enabled: true },
          serverSideEncryption: { enabled: true },
        },
        parent,
      );
    }
    const codeTable = this.linkCodes;

    this.handler = new ApprovalFunction(
      `${name}-handler`,
      {
        description: `sfn-approvals approval page of ${args.stateMachineName}`,
        callback: async (event: HttpEvent) =>
          handleApprovalPage(
            event,
            {
              stateMachineArn: requiredEnv("STATE_MACHINE_ARN"),
              stages: JSON.parse(requiredEnv("STAGES")) as Record<string, Mechanism>,
              codeLinkMechanisms: JSON.parse(requiredEnv("CODE_LINK_MECHANISMS")) as Mechanism[],
              codeTable: process.env.CODE_TABLE_NAME,
            },
            newSfnClient(1),
            newDynamoDbClient(),
          ),
        environment: {
          STATE_MACHINE_ARN: stateMachineArn,
          STAGES: JSON.stringify(args.stages),
          CODE_LINK_MECHANISMS: JSON.stringify(codeLinkMechanisms),
          ...(codeTable ? { CODE_TABLE_NAME: codeTable.name } : {}),
        },
        statements: [
          // DescribeExecution: the request to show. GetExecutionHistory: which task and stage a token belongs to.
          {
            Sid: "ReadExecutionsOfStateMachine",
            Effect: "Allow",
            Action: ["states:DescribeExecution", "states:GetExecutionHistory"],
            Resource: [executionsArn],
          },
          // Heartbeat: GET checks that the token still waits. Success: POST records approve or reject.
          // No SendTaskFailure: a rejection is a decision, sent as success with the decision contract.
          {
            Sid: "AnswerTasksOfStateMachine",
            Effect: "Allow",
            Action: ["states:SendTaskHeartbeat", "states:SendTaskSuccess"],
            Resource: [stateMachineArn],
          },
          // GetItem: a code link's item. UpdateItem: the conditional claim, then its confirmation.
          ...(codeTable
            ? [
                {
                  Sid: "ReadAndClaimLinkCodes",
                  Effect: "Allow" as const,
                  Action: ["dynamodb:GetItem", "dynamodb:UpdateItem"],
                  Resource: [codeTable.arn],
                },
              ]
            : []),
          // The execution data (request, history with the tokens) is encrypted with the stack's key.
          ...(args.dataKey ? [args.dataKey.readStatement("DecryptExecutionData")] : []),
        ],
      },
      parent,
    );
    args.dataKey?.addExecutionReader("ApprovalPageReadsExecutionData", this.handler.role.arn);

    const integration = new aws.apigatewayv2.Integration(
      `${name}-integration`,
      {
        apiId: this.api.id,
        integrationType: "AWS_PROXY",
        integrationUri: this.handler.function.arn,
        payloadFormatVersion: "2.0",
        timeoutMilliseconds: INTEGRATION_TIMEOUT_MS,
      },
      parent,
    );
    const routes = ["GET", "POST"].map(
      (method) =>
        new aws.apigatewayv2.Route(
          `${name}-${method.toLowerCase()}`,
          {
            apiId: this.api.id,
            routeKey: `${method} ${PAGE_PATH}`,
            target: pulumi.interpolate`integrations/${integration.id}`,
          },
          parent,
        ),
    );

    const permission = new aws.lambda.Permission(
      `${name}-invoke`,
      {
        function: this.handler.function.name,
        action: "lambda:InvokeFunction",
        principal: "apigateway.amazonaws.com",
        sourceArn: pulumi.interpolate`${this.api.executionArn}/*/*${PAGE_PATH}`,
      },
      parent,
    );

    this.accessLogs = new aws.cloudwatch.LogGroup(
      `${name}-access-logs`,
      {
        name: `/${pulumi.getProject()}/${pulumi.getStack()}/${name}-access`,
        retentionInDays: LOG_RETENTION_DAYS,
      },
      parent,
    );

    this.apiStage = new aws.apigatewayv2.Stage(
      `${name}-stage`,
      {
        apiId: this.api.id,
        name: "$default",
        autoDeploy: true,
        defaultRouteSettings: { throttlingRateLimit: throttle.ratePerSecond, throttlingBurstLimit: throttle.burst },
        accessLogSettings: { destinationArn: this.accessLogs.arn, format: ACCESS_LOG_FORMAT },
      },
      { parent: this, dependsOn: [...routes, permission] },
    );

    // The page answers every expected problem with a 4xx page; a 5xx means AWS was unreachable
    // (503, nothing recorded) or the function broke.
    this.serverErrorsAlarm = anyOccurrenceAlarm(
      `${name}-errors-alarm`,
      {
        description: `The approval page of ${args.stateMachineName} answered with a server error: an approver could not decide`,
        namespace: "AWS/ApiGateway",
        metricName: "5xx",
        dimensions: { ApiId: this.api.id, Stage: "$default" },
        statistic: "Sum",
        alarmActions: args.alarmActions,
      },
      parent,
    );

    this.registerOutputs({ url: this.url, ...(this.linkCodes ? { linkCodeTable: this.linkCodes.name } : {}) });
  }
}
