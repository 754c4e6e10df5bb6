// The Secrets Manager client of the slack functions and the GetSecretValue command they send (IAM
// secretsmanager:GetSecretValue on the stage's secret). Like every AWS SDK client, it is left out of
// the functions' archives (components/shared/approvalFunction.ts): the Lambda Node.js runtime's SDK v3
// provides it (https://docs.aws.amazon.com/lambda/latest/dg/lambda-nodejs.html). Tests inject a fake.
// Named imports only: a namespace import breaks Pulumi's closure serialization.
import { GetSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { newSecretsManagerClient } from "../../shared/awsClients";
import type { GetSecretValueInput, SecretsManagerLike } from "./secrets";

/** A Secrets Manager client and the GetSecretValue command builder, for readSlackSecrets. */
export function newSecretsManager(): {
  client: SecretsManagerLike;
  newCommand: (input: GetSecretValueInput) => unknown;
} {
  return {
    client: newSecretsManagerClient(),
    newCommand: (input) => new GetSecretValueCommand(input),
  };
}
