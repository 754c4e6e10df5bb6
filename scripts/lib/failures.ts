// What the three CLIs (approvals, start-approval, approval-worker) say when they cannot do their
// job, and the exit code: one cause, one message, one code, whichever tool meets it. Outcomes of
// the job itself (rejected, no request waiting, nothing sent) keep each tool's own codes.
import { redactText } from "../../functions/shared/redact";
import { UsageError } from "./args";
import { RequestInputError } from "./requestInput";
import { terminalSafe } from "./requestView";
import { StackOutputError } from "./stackOutputs";

/** Exit code of every failure below: usage, credentials, stack outputs, AWS, network. */
export const EXIT_FAILURE = 2;

export type FailureCause =
  | "usage"
  | "request-file"
  | "no-credentials"
  | "expired-credentials"
  | "stack-outputs"
  | "aws-refused"
  | "aws-failed"
  | "unreachable"
  | "other";

/** A failed call to one AWS service, named for the message (the SDK's errors do not say which service answered). */
export class AwsCallError extends Error {
  constructor(
    readonly service: string,
    readonly error: unknown,
  ) {
    super((error as { message?: string }).message ?? String(error));
    this.name = (error as { name?: string }).name ?? "Error";
  }
}

interface SdkError {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

function unwrap(error: unknown): { service: string; error: SdkError } {
  return error instanceof AwsCallError
    ? { service: error.service, error: error.error as SdkError }
    : { service: "Step Functions", error: error as SdkError };
}

/** An error in words, without anything token-shaped (AWS messages may echo the request). */
function words(e: SdkError): string {
  return redactText(
    `${e.name ?? "Error"}${e.code && e.code !== e.name ? ` (${e.code})` : ""}: ${e.message ?? String(e)}`,
  );
}

/**
 * Credentials the SDK could not find (@smithy/property-provider's CredentialsProviderError; an SSO
 * token it could not load: TokenProviderError), or that AWS refused as expired: ExpiredTokenException,
 * HTTP 403, one of the errors common to every AWS API
 * (https://docs.aws.amazon.com/awsconsolehelpdocs/latest/gsg/common-errors.html).
 */
export function failureCause(error: unknown): FailureCause {
  if (error instanceof UsageError) return "usage";
  if (error instanceof StackOutputError) return "stack-outputs";
  if (error instanceof RequestInputError) return "request-file";
  const { error: e } = unwrap(error);
  const name = e.name ?? "";
  if (name === "ExpiredTokenException" || (name === "TokenProviderError" && /expired/i.test(e.message ?? "")))
    return "expired-credentials";
  if (name === "CredentialsProviderError" || name === "TokenProviderError") return "no-credentials";
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined) return status < 500 ? "aws-refused" : "aws-failed";
  if (e.$metadata !== undefined || /^(E[A-Z]+|TimeoutError|RequestTimeout)/.test(e.code ?? name)) return "unreachable";
  return "other";
}

/** The one message for a failure's cause (without the tool's name). */
export function failureMessage(error: unknown): string {
  const { service, error: e } = unwrap(error);
  switch (failureCause(error)) {
    case "usage":
    case "request-file":
    case "stack-outputs":
      return terminalSafe((error as Error).message);
    case "no-credentials":
      return terminalSafe(
        `no AWS credentials were found (${words(e)}); sign in (e.g. aws sso login) or set AWS_PROFILE, then try again`,
      );
    case "expired-credentials":
      return terminalSafe(
        `your AWS credentials have expired (${words(e)}); sign in again (e.g. aws sso login), then try again`,
      );
    case "aws-refused":
      return terminalSafe(`${service} refused the request: ${words(e)}`);
    case "aws-failed":
      return terminalSafe(`${service} failed to answer (HTTP ${e.$metadata?.httpStatusCode}): ${words(e)}`);
    case "unreachable":
      return terminalSafe(`could not reach ${service}: ${words(e)}`);
    default:
      return terminalSafe(redactText(error instanceof Error ? error.message : String(error)));
  }
}

/** Prints `tool: message` (and the usage text for a usage error) on stderr; returns the exit code. */
export function reportFailure(
  tool: string,
  error: unknown,
  usage: string,
  write = (text: string) => {
    process.stderr.write(text);
  },
): number {
  const message = failureMessage(error);
  write(failureCause(error) === "usage" ? `${tool}: ${message}\n\n${usage}\n` : `${tool}: ${message}\n`);
  return EXIT_FAILURE;
}
