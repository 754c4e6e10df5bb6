// AWS clients of the command-line tools.
import type { SFNClient } from "@aws-sdk/client-sfn";
import { failureMessage } from "./failures";
import { sfnSdk } from "./sdk";

/** GetActivityTask holds the connection for up to 60 s: the worker's client must wait longer than that. */
export const LONG_POLL_REQUEST_TIMEOUT_MS = 70000;

export function workerSfnClient(region: string): SFNClient {
  return new (sfnSdk().SFNClient)({
    region,
    maxAttempts: 3,
    requestHandler: { requestTimeout: LONG_POLL_REQUEST_TIMEOUT_MS, connectionTimeout: 5000 },
  });
}

/**
 * The client of the start-approval and approvals commands: short calls, the SDK's retries (4
 * attempts; AWS_MAX_ATTEMPTS, the SDK's own setting, overrides it).
 */
export function sfnClient(region: string): SFNClient {
  return new (sfnSdk().SFNClient)({
    region,
    ...(process.env.AWS_MAX_ATTEMPTS ? {} : { maxAttempts: 4 }),
    requestHandler: { requestTimeout: 30000, connectionTimeout: 5000 },
  });
}

/** True for an error of an AWS call (an answer, no answer, or no credentials), false for the tools' own errors. */
export function isAwsFailure(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: unknown };
  return e.$metadata !== undefined || e.name === "CredentialsProviderError" || e.name === "TokenProviderError";
}

/**
 * What went wrong with a call to Step Functions, in words: it refused the request (a 4xx answer),
 * failed on its side (5xx), was not reached (connection, timeout), or no credentials were found
 * (the message every CLI gives for that cause: scripts/lib/failures.ts).
 */
export function sfnFailure(error: unknown): string {
  return failureMessage(error);
}
