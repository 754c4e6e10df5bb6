// The slack mechanism: the stage's Task invokes a start function with the task token; it stores
// the request (token sealed) in the stage's table and posts a message with Approve / Reject buttons
// to the stage's channel. Slack sends each click to the interaction function behind an HTTP API
// route (POST /slack/interactions), which verifies Slack's signature, counts the vote and, once the
// stage is decided, sends the decision with SendTaskSuccess. The Slack app's bot token and signing
// secret live in one Secrets Manager secret, set from secret stack config and never an output.
// A follow-up function closes the request when the stage times out (the message then says so) and
// posts reminders in the message's thread.
// Flow, setup and threat model: docs/mechanisms/slack.md.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { Mechanism, timedOutStateName } from "../../functions/contract";
import { SLACK_FOLLOW_UP_ENV, handleFollowUp } from "../../functions/mechanisms/slack/followUp";
import {
  HttpApiEvent,
  SLACK_AT_RISK_PHRASES,
  SLACK_INTERACTION_ENV,
  handleInteraction,
} from "../../functions/mechanisms/slack/interactionHandler";
import { newSecretsManager } from "../../functions/mechanisms/slack/secretsManagerClient";
import { SLACK_START_ENV, startSlackRequest } from "../../functions/mechanisms/slack/startRequest";
import { newDynamoDbClient, newSfnClient } from "../../functions/shared/awsClients";
import { anyOccurrenceAlarm } from "../shared/alarms";
import { ApprovalFunction, LAMBDA_TIMEOUT_SECONDS, LOG_RETENTION_DAYS } from "../shared/approvalFunction";
import { checkedName, defaultNamePrefix } from "../shared/naming";
import type { SlackAppSecrets } from "../slackConfig";
import { AslStates, PassState, Retrier, TaskStateOptions } from "../workflow/asl";
import { ACCESS_LOG_FORMAT, DEFAULT_THROTTLE, INTEGRATION_TIMEOUT_MS } from "./approvalPage";
import { ApprovalStage, ApprovalTaskState, stageStackOutput } from "./approvalStage";
import { noCapacityStateName } from "./capacityRetry";
import { lambdaCallbackTaskStates } from "./lambdaCallbackApproval";

/** The route Slack posts interactions to (the app's Interactivity Request URL ends with it). */
export const SLACK_INTERACTIONS_PATH = "/slack/interactions";

/** The Task after a slack stage's `timed out` Pass that closes its request. */
export const closeRequestStateName = (stage: string) => `Close ${stage} request`;
/** A follow-up Task (close, remind) waits a little longer than the function may run. */
export const FOLLOW_UP_TASK_TIMEOUT_SECONDS = LAMBDA_TIMEOUT_SECONDS + 5;
/** Closing and reminding are safe to repeat (conditional writes, the same chat.update); a short retry. */
export const FOLLOW_UP_RETRY: Retrier = {
  ErrorEquals: ["States.ALL"],
  IntervalSeconds: 2,
  MaxAttempts: 2,
  BackoffRate: 2,
};
/** The longest the close Task runs: three attempts and the pauses between them (2, 4 s); the execution's timeout counts it. */
export const CLOSE_MAX_SECONDS = 3 * FOLLOW_UP_TASK_TIMEOUT_SECONDS + 2 + 4;

/**
 * The slack stage's states: the callback Task (lambdaCallbackTaskStates), and after its `timed out`
 * and `no capacity` Passes a Task that invokes the follow-up function to close the request. Whatever that Task does
 * (fails, times out), the decision at the result path stays timed_out and the stage goes on.
 */
export function slackTaskStates(args: {
  options: TaskStateOptions;
  startFunctionArn: string;
  followUpFunctionArn: string;
  stage: string;
  timeoutSeconds: number;
}): AslStates {
  const { options, stage } = args;
  const states = lambdaCallbackTaskStates({
    options,
    functionArn: args.startFunctionArn,
    stage,
    mechanism: "slack",
    timeoutSeconds: args.timeoutSeconds,
  });
  const timedOut = timedOutStateName(options.stateName);
  const close = closeRequestStateName(stage);
  states[timedOut] = { ...(states[timedOut] as PassState), Next: close };
  // A start refused for capacity may have left an unposted request (startRequest.ts discards it when it can): closed too.
  const noCapacity = noCapacityStateName(options.stateName);
  states[noCapacity] = { ...(states[noCapacity] as PassState), Next: close };
  states[close] = {
    Type: "Task",
    Comment: `Marks the Slack request of stage '${stage}' timed out and says so in its message; a failure here leaves the decision timed_out`,
    Resource: "arn:aws:states:::lambda:invoke",
    Parameters: {
      FunctionName: args.followUpFunctionArn,
      Payload: { action: "close", stage, "executionArn.$": "$$.Execution.Id" },
    },
    TimeoutSeconds: FOLLOW_UP_TASK_TIMEOUT_SECONDS,
    // The function's answer is not needed: the state's output is its input, the decision included.
    ResultPath: null,
    Retry: [FOLLOW_UP_RETRY],
    Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: null, Next: options.next }],
    Next: options.next,
  };
  return states;
}

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
  /** Each approver also gets a direct message pointing at the request (startRequest.ts). */
  directMessages?: boolean;
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
  readonly afterWaitSeconds = CLOSE_MAX_SECONDS;
  readonly secret: aws.secretsmanager.Secret;
  readonly requests: aws.dynamodb.Table;
  readonly startFunction: ApprovalFunction;
  readonly interactionFunction: ApprovalFunction;
  /** Closes the request on timeout and posts reminders in its thread (followUp.ts). */
  readonly followUpFunction: ApprovalFunction;
  readonly reminderFunctionArn: pulumi.Output<string>;
  readonly api: aws.apigatewayv2.Api;
  readonly serverErrorsAlarm: aws.cloudwatch.MetricAlarm;
  /** Fires when the follow-up function fails (a close or reminder not done; the decision is unaffected). */
  readonly followUpErrorsAlarm: aws.cloudwatch.MetricAlarm;
  /** Fires on an unconfirmed decision or a failed click (log lines of the interaction function). */
  readonly decisionsAtRiskAlarm: aws.cloudwatch.MetricAlarm;
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
          [SLACK_START_ENV.directMessages]: String(args.directMessages === true),
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

    this.followUpFunction = new ApprovalFunction(
      `${name}-follow-up`,
      {
        description: `sfn-approvals ${args.stage}: closes timed-out Slack requests and posts reminders`,
        callback: async (event: unknown) => {
          const secretsManager = newSecretsManager();
          return handleFollowUp(event, {
            dynamodb: newDynamoDbClient(),
            secretsManager: secretsManager.client,
            newSecretCommand: secretsManager.newCommand,
          });
        },
        environment: {
          [SLACK_FOLLOW_UP_ENV.stage]: args.stage,
          [SLACK_FOLLOW_UP_ENV.table]: this.requests.name,
          [SLACK_FOLLOW_UP_ENV.secretId]: this.secret.arn,
        },
        statements: [
          readSecret,
          // GetItem: the execution's pointer and its requests. UpdateItem: the conditional timeout.
          {
            Sid: "CloseSlackRequests",
            Effect: "Allow",
            Action: ["dynamodb:GetItem", "dynamodb:UpdateItem"],
            Resource: [this.requests.arn],
          },
        ],
      },
      parent,
    );
    this.reminderFunctionArn = this.followUpFunction.function.arn;

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

    // A failed close or reminder changes no decision, but must not go unnoticed. Lambda's Errors
    // metric counts invocations that end in a function error (Lambda Developer Guide, "Types of metrics").
    this.followUpErrorsAlarm = anyOccurrenceAlarm(
      `${name}-follow-up-errors-alarm`,
      {
        description: `The Slack follow-up function of stage ${args.stage} failed: a timed-out request's message or a reminder may not have been updated or sent (retried by the workflow; see its log group)`,
        namespace: "AWS/Lambda",
        metricName: "Errors",
        dimensions: { FunctionName: this.followUpFunction.function.name },
        statistic: "Sum",
        alarmActions: args.alarmActions,
      },
      parent,
    );

    // A decision the workflow did not confirm (kept, resent on the next click) or a click that failed
    // inside the function is answered with 200, so neither the 5xx nor the Errors alarm sees it: metric
    // filters on the interaction function's log lines do. Quoted phrases match exactly (CloudWatch Logs,
    // "Filter pattern syntax", matching terms in unstructured log events); they hold no character the
    // function's JSON lines escape.
    const atRisk = { namespace: "sfn-approvals", name: `${prefix}-slack-decisions-at-risk` };
    for (const [suffix, phrase] of Object.entries(SLACK_AT_RISK_PHRASES)) {
      new aws.cloudwatch.LogMetricFilter(
        `${name}-${suffix}-filter`,
        {
          name: `${prefix}-slack-${suffix}`,
          logGroupName: this.interactionFunction.logGroup.name,
          pattern: JSON.stringify(phrase),
          metricTransformation: { name: atRisk.name, namespace: atRisk.namespace, value: "1" },
        },
        parent,
      );
    }
    this.decisionsAtRiskAlarm = anyOccurrenceAlarm(
      `${name}-decisions-at-risk-alarm`,
      {
        description: `A Slack decision of stage ${args.stage} was not confirmed by the workflow, or a click failed inside the interaction function: the next approver click resends a kept decision; see the function's log group`,
        namespace: atRisk.namespace,
        metricName: atRisk.name,
        dimensions: {},
        statistic: "Sum",
        alarmActions: args.alarmActions,
      },
      parent,
    );

    this.stackOutput = stageStackOutput({
      channel: args.channel,
      interactivityUrl: this.interactivityUrl,
      startFunctionName: this.startFunction.function.name,
      interactionFunctionName: this.interactionFunction.function.name,
      followUpFunctionName: this.followUpFunction.function.name,
    });
    this.registerOutputs({ interactivityUrl: this.interactivityUrl, requestTable: this.requests.name });
  }

  taskState(options: TaskStateOptions): ApprovalTaskState {
    const start = this.startFunction.function.arn;
    const followUp = this.followUpFunction.function.arn;
    return {
      states: pulumi.all([start, followUp]).apply(([startFunctionArn, followUpFunctionArn]) =>
        slackTaskStates({
          options,
          startFunctionArn,
          followUpFunctionArn,
          stage: this.stage,
          timeoutSeconds: this.maxWaitSeconds,
        }),
      ),
      // The Task invokes the start function; the close Task and the reminders the follow-up function.
      statements: pulumi.output([
        {
          Sid: `InvokeStart${this.stage.replace(/[^a-z0-9]/gi, "")}`,
          Effect: "Allow" as const,
          Action: ["lambda:InvokeFunction"],
          Resource: [start, pulumi.interpolate`${start}:*`],
        },
        {
          Sid: `InvokeFollowUp${this.stage.replace(/[^a-z0-9]/gi, "")}`,
          Effect: "Allow" as const,
          Action: ["lambda:InvokeFunction"],
          Resource: [followUp, pulumi.interpolate`${followUp}:*`],
        },
      ]),
    };
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
