// The AWS clients of `npm run doctor`, loaded when first used (--help and usage errors answer without
// the SDK). Short calls with the SDK's retries, as the other CLIs (scripts/lib/clients.ts).
import type { CodePipelineClient } from "@aws-sdk/client-codepipeline";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import type { IAMClient } from "@aws-sdk/client-iam";
import type { LambdaClient } from "@aws-sdk/client-lambda";
import type { S3Client } from "@aws-sdk/client-s3";
import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { SFNClient } from "@aws-sdk/client-sfn";
import type { SNSClient } from "@aws-sdk/client-sns";
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { STSClient } from "@aws-sdk/client-sts";
import { sfnClient } from "./clients";
import { stsSdk } from "./sdk";

/* eslint-disable @typescript-eslint/no-require-imports */
export const codePipelineSdk = (): typeof import("@aws-sdk/client-codepipeline") =>
  require("@aws-sdk/client-codepipeline");
export const dynamoDbSdk = (): typeof import("@aws-sdk/client-dynamodb") => require("@aws-sdk/client-dynamodb");
export const eventBridgeSdk = (): typeof import("@aws-sdk/client-eventbridge") =>
  require("@aws-sdk/client-eventbridge");
export const iamSdk = (): typeof import("@aws-sdk/client-iam") => require("@aws-sdk/client-iam");
export const lambdaSdk = (): typeof import("@aws-sdk/client-lambda") => require("@aws-sdk/client-lambda");
export const s3Sdk = (): typeof import("@aws-sdk/client-s3") => require("@aws-sdk/client-s3");
export const secretsManagerSdk = (): typeof import("@aws-sdk/client-secrets-manager") =>
  require("@aws-sdk/client-secrets-manager");
export const snsSdk = (): typeof import("@aws-sdk/client-sns") => require("@aws-sdk/client-sns");
export const sqsSdk = (): typeof import("@aws-sdk/client-sqs") => require("@aws-sdk/client-sqs");
/* eslint-enable @typescript-eslint/no-require-imports */

export interface DoctorClients {
  sts: STSClient;
  sfn: SFNClient;
  iam: IAMClient;
  lambda: LambdaClient;
  events: EventBridgeClient;
  sqs: SQSClient;
  sns: SNSClient;
  s3: S3Client;
  codePipeline: CodePipelineClient;
  /** Slack stages: their secret (DescribeSecret, never its value) and request table (DescribeTimeToLive). */
  secretsManager: SecretsManagerClient;
  dynamoDb: DynamoDBClient;
}

/** Every client in the state machine's Region (IAM answers from its global endpoint whatever the Region). */
export function doctorClients(region: string): DoctorClients {
  const options = {
    region,
    ...(process.env.AWS_MAX_ATTEMPTS ? {} : { maxAttempts: 4 }),
    requestHandler: { requestTimeout: 30000, connectionTimeout: 5000 },
  };
  return {
    sts: new (stsSdk().STSClient)(options),
    sfn: sfnClient(region),
    iam: new (iamSdk().IAMClient)(options),
    lambda: new (lambdaSdk().LambdaClient)(options),
    events: new (eventBridgeSdk().EventBridgeClient)(options),
    // The client's own endpoint (the Region's, or AWS_ENDPOINT_URL_SQS), not the queue URL's host:
    // both name the same regional service; QueueUrl still names the queue.
    sqs: new (sqsSdk().SQSClient)({ ...options, useQueueUrlAsEndpoint: false }),
    sns: new (snsSdk().SNSClient)(options),
    s3: new (s3Sdk().S3Client)(options),
    codePipeline: new (codePipelineSdk().CodePipelineClient)(options),
    secretsManager: new (secretsManagerSdk().SecretsManagerClient)(options),
    dynamoDb: new (dynamoDbSdk().DynamoDBClient)(options),
  };
}
