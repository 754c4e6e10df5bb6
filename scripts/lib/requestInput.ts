// What start-approval checks before it starts anything: the request file (readable, JSON, the
// request shape the workflow validates); the execution name's rule is executionNameProblem() in functions/contract.ts.
import { randomUUID } from "crypto";
import { readFileSync } from "fs";
import { resolve } from "path";
import { ApprovalRequest, requestProblems } from "../../functions/contract";
import { cell, truncate } from "./terminalFormat";

/** A request that would not start, or would fail at once: the message says why. */
export class RequestInputError extends Error {}

/**
 * Step Functions refuses an execution input above 256 KiB (UTF-8), and a state passes at most as
 * much: the decision record's write carries the request again as escaped JSON text, so a request
 * is kept to half of it (docs/audit.md).
 */
export const MAX_INPUT_BYTES = 131072;

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `the string "${truncate(cell(value), 40)}"`;
  if (typeof value === "object") return "an object";
  return `${typeof value === "number" ? "" : `${typeof value} `}${String(value)}`;
}

/**
 * Reads and checks the request file; returns the request and the execution input to send. A
 * relative path is taken from `baseDirectory` when given (npm runs scripts in the package's folder
 * and passes the folder it was started from as INIT_CWD).
 */
export function readRequestFile(path: string, baseDirectory?: string): { request: ApprovalRequest; input: string } {
  let text: string;
  try {
    text = readFileSync(baseDirectory ? resolve(baseDirectory, path) : path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === "ENOENT"
        ? "no such file"
        : code === "EACCES"
          ? "permission denied"
          : code === "EISDIR"
            ? "it is a directory"
            : (error as Error).message;
    throw new RequestInputError(`cannot read the request file '${path}': ${reason}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text.replace(/^\uFEFF/, "")) as unknown;
  } catch (error) {
    throw new RequestInputError(
      `the request file '${path}' is not valid JSON: ${truncate(cell((error as Error).message), 300)}`,
    );
  }
  const problems = requestProblems(value).map((problem) => {
    // Say what the file holds for the field the problem names.
    const field = /^'(\w+)'/.exec(problem)?.[1];
    const request = value as Record<string, unknown>;
    return field && typeof value === "object" && value !== null && field in request
      ? `${problem} (it is ${describeValue(request[field])})`
      : problem;
  });
  if (problems.length > 0) {
    const holds =
      typeof value !== "object" || value === null || Array.isArray(value) ? ` (it holds ${describeValue(value)})` : "";
    throw new RequestInputError(
      `the request in '${path}' is not a valid approval request${holds}:\n${problems.map((p) => `  - ${p}`).join("\n")}\nSee docs/contract.md: only 'title' is required.`,
    );
  }
  const input = JSON.stringify(value);
  const bytes = Buffer.byteLength(input, "utf8");
  if (bytes > MAX_INPUT_BYTES) {
    throw new RequestInputError(
      `the request in '${path}' is ${bytes} bytes as JSON; at most ${MAX_INPUT_BYTES} (128 KiB) are accepted, so that the decision record, which carries the request again, stays within the 256 KiB a Step Functions state passes: put large content behind 'link'`,
    );
  }
  return { request: value as ApprovalRequest, input };
}

/**
 * A name for an execution started without --name: the request id (or "request") and 12 random hex
 * digits, only letters, digits, '-' and '_', at most 80 characters. Made once, before the first
 * attempt, so the SDK's retries of StartExecution are idempotent: Step Functions answers a repeat
 * with the same name and input with the execution the first attempt started.
 */
export function generatedExecutionName(request: ApprovalRequest): string {
  const id =
    typeof request.requestId === "string"
      ? request.requestId.replace(/[^A-Za-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "")
      : "";
  return `${id.slice(0, 67) || "request"}-${randomUUID().replace(/-/g, "").slice(0, 12)}`;
}
