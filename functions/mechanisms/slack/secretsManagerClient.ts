// The Secrets Manager client of the slack functions, loaded when a handler first runs:
// @aws-sdk/client-secrets-manager is part of the Lambda Node.js runtime's AWS SDK v3
// (https://docs.aws.amazon.com/lambda/latest/dg/lambda-nodejs.html) but not yet a dependency of
// this project, so it is required at run time, never imported. Tests inject a fake instead.
// Plain TypeScript with no Pulumi import: the stage's functions are serialized with it.
import type { GetSecretValueInput, SecretsManagerLike } from "./secrets";

/** What the handlers need of the module: the client and GetSecretValueCommand. */
interface SecretsManagerModule {
  SecretsManagerClient: new (config: { maxAttempts: number }) => SecretsManagerLike;
  GetSecretValueCommand: new (input: GetSecretValueInput) => unknown;
}

/** A Secrets Manager client and the GetSecretValue command builder, from the runtime's SDK. */
export function newSecretsManager(): {
  client: SecretsManagerLike;
  newCommand: (input: GetSecretValueInput) => unknown;
} {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sdk = require("@aws-sdk/client-secrets-manager") as SecretsManagerModule;
  const { SecretsManagerClient, GetSecretValueCommand } = sdk;
  return {
    client: new SecretsManagerClient({ maxAttempts: 3 }),
    newCommand: (input) => new GetSecretValueCommand(input),
  };
}
