// The slack mechanism: the stage's Task invokes a start function with the task token; it stores
// the request (token sealed) in the stage's table and posts a message with Approve / Reject buttons
// to the stage's channel. Slack sends each click to the interaction function behind an HTTP API
// route (POST /slack/interactions), which verifies Slack's signature, counts the vote and, once the
// stage is decided, sends the decision with SendTaskSuccess. The Slack app's bot token and signing
// secret live in one Secrets Manager secret, set from secret stack config and never an output.
// Flow, setup and threat model: docs/mechanisms/slack.md.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { Mechanism } from "../../functions/contract";
import {
  HttpApiEvent,
  SLACK_INTERACTION_ENV,
  handleInteraction,
} from "../../functions/mechanisms/slack/interactionHandler";
import { newSecretsManager } from "../../functions/mechanisms/slack/secretsManagerClient";
import { SLACK_START_ENV, startSlackRequest } from "../../functions/mechanisms/slack/startRequest";
import { newDynamoDbClient, newSfnClient } from "../../functions/shared/awsClients";
import { anyOccurrenceAlarm } from "../shared/alarms";
import { ApprovalFunction, LOG_RETENTION_DAYS } from "../shared/approvalFunction";
import { checkedName, defaultNamePrefix } from "../shared/naming";
import type { SlackAppSecrets } from "../slackConfig";
import { TaskStateOptions } from "../workflow/asl";
import { ACCESS_LOG_FORMAT, DEFAULT_THROTTLE, INTEGRATION_TIMEOUT_MS } from "./approvalPage";
import { ApprovalStage, ApprovalTaskState, stageStackOutput } from "./approvalStage";
import { lambdaCallbackTaskState } from "./lambdaCallbackApproval";

/** The route Slack posts interactions to (the app's Interactivity Request URL ends with it). */
export const SLACK_INTERACTIONS_PATH = "/slack/interactions";

export interface SlackApprovalArgs {
  /** Stage name, ^[a-z][a-z0-9-]{0,30}$. */
  stage: string;
  /** Slack user IDs (U… or W…), 1 to 50; only their clicks count. */
  approvers: string[];
  /** Approvals needed, 1..approvers.length; one rejection decides. */
  minRequiredApprovals: number;
  /** The channel the request is posted to (C… or G…). */
  channel: string;
  /** Approve also opens the comment box. */
  commentOnApprove?: boolean;
  timeoutSeconds: number;
  /** The workspace whose clicks are accepted (T…). */
  teamId: string;
  /** The Slack app's bot token and signing secret, as Pulumi secrets. */
  secrets: SlackAppSecrets;
  /** Start of physical resource names; defaults to "<project>-<stack>". */
  namePrefix?: string;
  /** Where the alarm on server errors of the interactions API publishes. */
  alarmActions?: pulumi.Input<string>[];
}

export class SlackApproval extends pulumi.ComponentResource implements ApprovalStage {
  readonly stage: string;
  readonly mechanism: Mechanism = "slack";
  readonly maxWaitSeconds: number;
  readonly secret: aws.secretsmanager.Secret;
  readonly requests: aws.dynamodb.Table;
  readonly startFunction: ApprovalFunction;
  readonly interactionFunction: ApprovalFunction;
  readonly api: aws.apigatewayv2.Api;
  readonly serverErrorsAlarm: aws.cloudwatch.MetricAlarm;
  /** The Slack app's Interactivity Request URL. */
  readonly interactivityUrl: pulumi.Output<string>;
  readonly stackOutput: pulumi.Output<Record<string, string>>;
  private readonly resourceName: string;

  constructor(name: string, args: SlackApprovalArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sfn-approvals:index:SlackApproval", name, {}, opts);
    this.resourceName = name;
    this.stage = args.stage;
    this.maxWaitSeconds = args.timeoutSeconds;
    if (
      args.approvers.length < 1 ||
      args.approvers.length > 50 ||
      new Set(args.approvers).size !== args.approvers.length
    )
      throw new Error(`SlackApproval ${name}: needs 1 to 50 distinct approvers (Slack user IDs)`);
    if (args.minRequiredApprovals < 1 || args.minRequiredApprovals > args.approvers.length)
      throw new Error(`SlackApproval ${name}: minRequiredApprovals must be 1 to the number of approvers`);
    const parent = { parent: this };
    const prefix = `${args.namePrefix ?? defaultNamePrefix()}-${args.stage}`;

    // The value is a Pulumi secret: encrypted in state, never shown in a preview or an output.
    this.secret = new aws.secretsmanager.Secret(
      `${name}-slack-app`,
      {
        name: checkedName(`SlackApproval ${name}`, "secret", `${prefix}-slack-app`, 512),
        description: `sfn-approvals ${args.stage}: the Slack app's bot token and signing secret`,
      },
      parent,
    );
    new aws.secretsmanager.SecretVersion(
      `${name}-slack-app-value`,
      {
        secretId: this.secret.id,
        secretString: pulumi.secret(
          pulumi
            .all([args.secrets.botToken, args.secrets.signingSecret])
            .apply(([botToken, signingSecret]) => JSON.stringify({ botToken, signingSecret })),
        ),
      },
      parent,
    );

    // One item per request: the key's hash, the sealed token, the votes; TTL ends it.
    this.requests = new aws.dynamodb.Table(
      `${name}-requests`,
      {
        name: checkedName(`SlackApproval ${name}`, "DynamoDB table", `${prefix}-slack-requests`, 255),
        billingMode: "PAY_PER_REQUEST",
        hashKey: "keyHash",
        attributes: [{ name: "keyHash", type: "S" }],
        ttl: { attributeName: "expiresAt", enabled: true },
        pointInTimeRecovery: { enabled: true },
        serverSideEncryption: { enabled: true },
      },
      parent,
    );
    const readSecret = {
      Sid: "ReadSlackAppSecret",
      Effect: "Allow" as const,
      Action: ["secretsmanager:GetSecretValue"],
      Resource: [this.secret.arn],
    };

    this.startFunction = new ApprovalFunction(
      `${name}-start`,
      {
        description: `sfn-approvals ${args.stage}: posts the approval request to Slack`,
        callback: async (event: unknown) => {
          const secretsManager = newSecretsManager();
          return startSlackRequest(event, {
            dynamodb: newDynamoDbClient(),
            secretsManager: secretsManager.client,
            newSecretCommand: secretsManager.newCommand,
          });
        },
        environment: {
          [SLACK_START_ENV.stage]: args.stage,
          [SLACK_START_ENV.channel]: args.channel,
          [SLACK_START_ENV.approvers]: JSON.stringify(args.approvers),
          [SLACK_START_ENV.required]: String(args.minRequiredApprovals),
          [SLACK_START_ENV.timeoutSeconds]: String(args.timeoutSeconds),
          [SLACK_START_ENV.table]: this.requests.name,
          [SLACK_START_ENV.secretId]: this.secret.arn,
        },
        statements: [
          readSecret,
          // PutItem: the new request (conditional). UpdateItem: binds it to the posted message.
          {
            Sid: "StoreSlackRequests",
            Effect: "Allow",
            Action: ["dynamodb:PutItem", "dynamodb:UpdateItem"],
            Resource: [this.requests.arn],
          },
        ],
      },
      parent,
    );

    this.interactionFunction = new ApprovalFunction(
      `${name}-interactions`,
      {
        description: `sfn-approvals ${args.stage}: records Slack clicks and sends the decision`,
        callback: async (event: HttpApiEvent) => {
          const secretsManager = newSecretsManager();
          return handleInteraction(event, {
            dynamodb: newDynamoDbClient(),
            // One attempt: a retried SendTaskSuccess could be refused after the first succeeded.
            sfn: newSfnClient(1),
            secretsManager: secretsManager.client,
            newSecretCommand: secretsManager.newCommand,
          });
        },
        environment: {
          [SLACK_INTERACTION_ENV.teamId]: args.teamId,
          [SLACK_INTERACTION_ENV.table]: this.requests.name,
          [SLACK_INTERACTION_ENV.secretId]: this.secret.arn,
          [SLACK_INTERACTION_ENV.commentOnApprove]: String(args.commentOnApprove === true),
        },
        statements: [
          readSecret,
          // GetItem: the clicked request. UpdateItem: the conditional vote, then its delivery.
          {
            Sid: "VoteOnSlackRequests",
            Effect: "Allow",
            Action: ["dynamodb:GetItem", "dynamodb:UpdateItem"],
            Resource: [this.requests.arn],
          },
        ],
      },
      parent,
    );

    this.api = new aws.apigatewayv2.Api(
      `${name}-api`,
      {
        name: checkedName(`SlackApproval ${name}`, "HTTP API", `${prefix}-slack`, 128),
        protocolType: "HTTP",
        description: `Slack interactions of approval stage ${args.stage}: POST ${SLACK_INTERACTIONS_PATH}`,
      },
      parent,
    );
    this.interactivityUrl = pulumi.interpolate`${this.api.apiEndpoint}${SLACK_INTERACTIONS_PATH}`;
    const integration = new aws.apigatewayv2.Integration(
      `${name}-integration`,
      {
        apiId: this.api.id,
        integrationType: "AWS_PROXY",
        integrationUri: this.interactionFunction.function.arn,
        payloadFormatVersion: "2.0",
        timeoutMilliseconds: INTEGRATION_TIMEOUT_MS,
      },
      parent,
    );
    const route = new aws.apigatewayv2.Route(
      `${name}-post`,
      {
        apiId: this.api.id,
        routeKey: `POST ${SLACK_INTERACTIONS_PATH}`,
        target: pulumi.interpolate`integrations/${integration.id}`,
      },
      parent,
    );
    const permission = new aws.lambda.Permission(
      `${name}-invoke`,
      {
        function: this.interactionFunction.function.name,
        action: "lambda:InvokeFunction",
        principal: "apigateway.amazonaws.com",
        sourceArn: pulumi.interpolate`${this.api.executionArn}/*/*${SLACK_INTERACTIONS_PATH}`,
      },
      parent,
    );
    const accessLogs = new aws.cloudwatch.LogGroup(
      `${name}-access-logs`,
      { name: `/${pulumi.getProject()}/${pulumi.getStack()}/${name}-access`, retentionInDays: LOG_RETENTION_DAYS },
      parent,
    );
    new aws.apigatewayv2.Stage(
      `${name}-stage`,
      {
        apiId: this.api.id,
        name: "$default",
        autoDeploy: true,
        defaultRouteSettings: {
          throttlingRateLimit: DEFAULT_THROTTLE.ratePerSecond,
          throttlingBurstLimit: DEFAULT_THROTTLE.burst,
        },
        accessLogSettings: { destinationArn: accessLogs.arn, format: ACCESS_LOG_FORMAT },
      },
      { parent: this, dependsOn: [route, permission] },
    );
    // The function answers every expected problem with a 4xx or an ephemeral message; a 5xx means it broke.
    this.serverErrorsAlarm = anyOccurrenceAlarm(
      `${name}-errors-alarm`,
      {
        description: `The Slack interactions of stage ${args.stage} answered with a server error: a click may not have counted`,
        namespace: "AWS/ApiGateway",
        metricName: "5xx",
        dimensions: { ApiId: this.api.id, Stage: "$default" },
        statistic: "Sum",
        alarmActions: args.alarmActions,
      },
      parent,
    );

    this.stackOutput = stageStackOutput({
      channel: args.channel,
      interactivityUrl: this.interactivityUrl,
      startFunctionName: this.startFunction.function.name,
    });
    this.registerOutputs({ interactivityUrl: this.interactivityUrl, requestTable: this.requests.name });
  }

  taskState(options: TaskStateOptions): ApprovalTaskState {
    return lambdaCallbackTaskState(this, options);
  }

  /** The interaction function sends the decision (SendTaskSuccess; a rejection is a decision too). */
  grantTaskResponse(stateMachineArn: pulumi.Input<string>): void {
    this.interactionFunction.allow(`${this.resourceName}-decision`, [
      {
        Sid: "SendDecisionToStateMachine",
        Effect: "Allow",
        Action: ["states:SendTaskSuccess"],
        Resource: [stateMachineArn],
      },
    ]);
  }
}
