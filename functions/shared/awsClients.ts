// Client factory for the handlers. The SDK reads the Region from AWS_REGION and honours the
// service-specific endpoint variables (AWS_ENDPOINT_URL_SSM, AWS_ENDPOINT_URL_SFN,
// AWS_ENDPOINT_URL_CODEPIPELINE, AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SNS,
// AWS_ENDPOINT_URL_SECRETS_MANAGER), which is how
// the tests point the deployed code at a local fake endpoint. Named imports only: a namespace
// import breaks Pulumi's closure serialization.
import { CodePipelineClient } from "@aws-sdk/client-codepipeline";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SFNClient } from "@aws-sdk/client-sfn";
import { SNSClient } from "@aws-sdk/client-sns";
import { SSMClient } from "@aws-sdk/client-ssm";

/**
 * `maxAttempts` 1 where a retry could be refused because the first attempt succeeded (the approval
 * page, slack): those send again only what AWS refused for capacity (throttledSend.ts). With the
 * default 5, the SDK also sends again after a 5xx or a lost answer (@smithy/core StandardRetryStrategy).
 */
export function newSfnClient(maxAttempts = 5): SFNClient {
  return new SFNClient({ maxAttempts });
}

export function newSsmClient(): SSMClient {
  return new SSMClient({ maxAttempts: 5 });
}

export function newCodePipelineClient(): CodePipelineClient {
  return new CodePipelineClient({ maxAttempts: 5 });
}

export function newDynamoDbClient(): DynamoDBClient {
  return new DynamoDBClient({ maxAttempts: 5 });
}

export function newSecretsManagerClient(): SecretsManagerClient {
  return new SecretsManagerClient({ maxAttempts: 5 });
}

/** Reads a required environment variable of a handler; a missing one is a deployment bug. */
export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`Configuration error: environment variable ${name} is not set on this function`);
  }
  return value;
}

export function newSnsClient(): SNSClient {
  return new SNSClient({ maxAttempts: 5 });
}
