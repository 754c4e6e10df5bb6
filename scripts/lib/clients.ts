// AWS clients of the command-line tools.
import { SFNClient } from "@aws-sdk/client-sfn";

/** GetActivityTask holds the connection for up to 60 s: the worker's client must wait longer than that. */
export const LONG_POLL_REQUEST_TIMEOUT_MS = 70000;

export function workerSfnClient(region: string): SFNClient {
  return new SFNClient({ region, maxAttempts: 3, requestHandler: { requestTimeout: LONG_POLL_REQUEST_TIMEOUT_MS, connectionTimeout: 5000 } });
}

/** The client of the start-approval and approvals commands: short calls, the SDK's retries. */
export function sfnClient(region: string): SFNClient {
  return new SFNClient({ region, maxAttempts: 4, requestHandler: { requestTimeout: 30000, connectionTimeout: 5000 } });
}
