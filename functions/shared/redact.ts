// Keeps task tokens out of everything the handlers and CLIs throw or print. AWS error messages
// may echo the request, e.g. ValidationException "1 validation error detected: Value '<token>' at
// 'taskToken' failed to satisfy constraint", and the request holds the token (raw, in 500-character
// SSM parameter chunks, base64url in approval links). Plain functions, no imports: the Lambda
// wrapper (components/shared/approvalFunction.ts) serializes them into every handler.

export const REDACTED = "[redacted]";

/** Pieces of a known secret this long (or longer) are removed wherever they appear. */
export const MIN_SECRET_PIECE = 40;

/**
 * Runs of base64 / base64url characters (also URL-encoded '+', '/' and '=') with optional padding.
 * Not right after a backslash or "\u00.." (a JSON escape), so redacting a JSON text keeps it JSON.
 */
const RUN = /(?<!\\(?:u[0-9A-Fa-f]{0,3})?)(?:[A-Za-z0-9+/_-]|%2[BbFf])+(?:={1,2}|(?:%3[Dd]){1,2})?/g;

/**
 * A run shaped like a task token: an opaque string of 1 to 2048 characters (SendTaskSuccess taskToken in
 * https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html and the
 * current service model; older models said 1024; no upper bound is assumed here), in practice base64 of binary data. Runs of 100+ such characters
 * with mixed case and digits always count; 40 to 99 when letter case and digits alternate as often
 * as in random base64 (about 64% of neighbours differ), unlike resource names and identifiers.
 */
export function looksLikeToken(run: string): boolean {
  if (run.length < MIN_SECRET_PIECE) return false;
  if (!/[A-Z]/.test(run) || !/[a-z]/.test(run) || !/[0-9]/.test(run)) return false;
  if (run.length >= 100) return true;
  const kind = (c: string) => (c >= "A" && c <= "Z" ? 0 : c >= "a" && c <= "z" ? 1 : c >= "0" && c <= "9" ? 2 : 3);
  let changes = 0;
  for (let i = 1; i < run.length; i++) if (kind(run[i]) !== kind(run[i - 1])) changes++;
  return changes / (run.length - 1) >= 0.45;
}

/**
 * `text` without the secrets (as they are, base64, base64url as in approval links, URL-encoded; or
 * any piece of MIN_SECRET_PIECE characters of those, such as the 500-character chunks sent to SSM:
 * such a piece holds one of the run's aligned 20-character blocks), without an approval link's t
 * (task token) or c (one-time code, 43 characters) at any length, and without token-shaped runs.
 * Comments stay out of the function bodies: every handler's archive carries them.
 */
export function redactText(text: string, secrets: string[] = []): string {
  const forms = secrets
    .filter((s) => typeof s === "string" && s.length >= 8)
    .flatMap((secret) => {
      const base64 = Buffer.from(secret).toString("base64");
      return [
        secret,
        base64,
        Buffer.from(secret).toString("base64url"),
        encodeURIComponent(secret),
        encodeURIComponent(base64),
      ];
    })
    .sort((a, b) => b.length - a.length);
  let result = text;
  for (const form of forms) if (form.length >= 16) result = result.split(form).join(REDACTED);
  const shared = (run: string) =>
    forms.some((form) => {
      for (let i = 0; i + 20 <= run.length; i += 20) if (form.includes(run.slice(i, i + 20))) return true;
      return false;
    });
  return result
    .replace(/([?&](?:amp;)?[tc]=)(?:[A-Za-z0-9_-]|%[0-9A-Fa-f]{2}){8,}/g, `$1${REDACTED}`)
    .replace(RUN, (run) => (run.length >= MIN_SECRET_PIECE && (looksLikeToken(run) || shared(run)) ? REDACTED : run));
}

/**
 * A fresh Error with the same name (Step Functions Retry/Catch match names) and a redacted message
 * and stack, and nothing else: no cause, no enumerable fields such as an SDK error's $response,
 * which the Lambda runtime would log.
 */
export function redactedError(error: unknown, secrets: string[] = []): Error {
  const e = (error instanceof Object ? error : {}) as { name?: unknown; message?: unknown; stack?: unknown };
  const name = typeof e.name === "string" && e.name !== "" ? e.name : "Error";
  const message = typeof e.message === "string" ? e.message : error instanceof Object ? "" : String(error);
  const safe = new Error(redactText(message, secrets));
  Object.defineProperty(safe, "name", { value: redactText(name, secrets), writable: true, configurable: true });
  safe.stack = redactText(typeof e.stack === "string" ? e.stack : `${name}: ${message}`, secrets);
  return safe;
}

/**
 * The secrets an invocation event carries: `taskToken` of a callback Task's payload, and the
 * approval page's `t` (a task token, base64url; also decoded to the token) and `c` (a one-time
 * code), from the query or the (possibly base64) form body.
 */
export function secretsOf(event: unknown): string[] {
  const e = (event instanceof Object ? event : {}) as {
    taskToken?: unknown;
    queryStringParameters?: Record<string, unknown>;
    body?: unknown;
    isBase64Encoded?: unknown;
  };
  const found = [e.taskToken, e.queryStringParameters?.t, e.queryStringParameters?.c];
  if (typeof e.body === "string") {
    const form = new URLSearchParams(e.isBase64Encoded === true ? Buffer.from(e.body, "base64").toString() : e.body);
    found.push(...form.getAll("t"), ...form.getAll("c"));
  }
  const secrets = found.filter((s): s is string => typeof s === "string" && s.length >= 8);
  const decoded = secrets
    .map((s) => (/^[\w-]+$/.test(s) ? Buffer.from(s, "base64url").toString() : ""))
    .filter((s) => /^[\x21-\x7e]{8,}$/.test(s));
  return [...new Set([...secrets, ...decoded])];
}

/**
 * Wraps a Lambda handler: while it runs, console output is redacted (strings and Errors; anything
 * else as its JSON), and whatever it throws is rethrown as redactedError(), so no task token reaches
 * the function's logs, the error that Step Functions records as the Task's Cause, or a dead-letter
 * record (its responsePayload).
 */
export function redactingHandler<A extends unknown[], R>(
  handler: (...args: A) => R,
): (...args: A) => Promise<Awaited<R>> {
  return async (...args: A): Promise<Awaited<R>> => {
    const secrets = secretsOf(args[0]);
    const clean = (value: unknown) => {
      if (value instanceof Error) return redactedError(value, secrets);
      if (typeof value !== "object" || value === null)
        return typeof value === "string" ? redactText(value, secrets) : value;
      try {
        return redactText(JSON.stringify(value), secrets);
      } catch {
        return redactText(String(value), secrets);
      }
    };
    const methods = ["log", "info", "warn", "error", "debug", "trace"] as const;
    const originals = methods.map((method) => console[method]);
    methods.forEach((method, i) => {
      console[method] = (...values: unknown[]) => originals[i].apply(console, values.map(clean));
    });
    try {
      return await handler(...args);
    } catch (error) {
      throw redactedError(error, secrets);
    } finally {
      methods.forEach((method, i) => {
        console[method] = originals[i];
      });
    }
  };
}
