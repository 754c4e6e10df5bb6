// Keeps task tokens out of everything the handlers and CLIs throw or print. AWS error messages
// may echo the request, e.g. ValidationException "1 validation error detected: Value '<token>' at
// 'taskToken' failed to satisfy constraint", and the request holds the token (raw, in 500-character
// SSM parameter chunks, base64url in approval links). Plain functions, no imports: the Lambda
// wrapper (components/approvalFunction.ts) serializes them into every handler.

export const REDACTED = "[redacted]";

/** Pieces of a known secret this long (or longer) are removed wherever they appear. */
export const MIN_SECRET_PIECE = 40;

/**
 * Runs of base64 / base64url characters (also URL-encoded '+', '/' and '=') with optional padding.
 * Not right after a backslash or "\u00.." (a JSON escape), so redacting a JSON text keeps it JSON.
 */
const RUN = /(?<!\\(?:u[0-9A-Fa-f]{0,3})?)(?:[A-Za-z0-9+/_-]|%2[BbFf])+(?:={1,2}|(?:%3[Dd]){1,2})?/g;

/**
 * A run shaped like a task token: an opaque string of 1 to 1024 characters (2048 in newer pages of
 * https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html; no
 * upper bound is assumed here), in practice base64 of binary data. Runs of 100+ such characters
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

/** Every form a secret travels in: as is, base64 and base64url (approval links), URL-encoded. */
export function secretForms(secret: string): string[] {
  const base64 = Buffer.from(secret, "utf8").toString("base64");
  const forms = [secret, base64, base64.replace(/=+$/, ""), Buffer.from(secret, "utf8").toString("base64url"), encodeURIComponent(secret), encodeURIComponent(base64)];
  return forms.filter((form, i) => form.length > 0 && forms.indexOf(form) === i);
}

/**
 * `text` without the secrets (in any form of secretForms(), or any piece of MIN_SECRET_PIECE
 * characters of one, such as the 500-character chunks sent to SSM) and without token-shaped runs.
 */
export function redactText(text: string, secrets: string[] = []): string {
  const forms = secrets.filter((s) => typeof s === "string" && s.length >= 8).flatMap(secretForms).sort((a, b) => b.length - a.length);
  let result = text;
  for (const form of forms) if (form.length >= 16) result = result.split(form).join(REDACTED);
  // Any shared piece of 40+ characters contains one of these aligned 20-character blocks.
  const half = MIN_SECRET_PIECE / 2;
  const sharesPiece = (run: string) => forms.some((form) => {
    for (let i = 0; i + half <= run.length; i += half) if (form.includes(run.slice(i, i + half))) return true;
    return false;
  });
  return result
    // An approval link's t (task token) and c (one-time code, 43 characters) are secrets at any length.
    .replace(/([?&](?:amp;)?[tc]=)(?:[A-Za-z0-9_-]|%[0-9A-Fa-f]{2}){8,}/g, `$1${REDACTED}`)
    .replace(RUN, (run) => (run.length >= MIN_SECRET_PIECE && (looksLikeToken(run) || sharesPiece(run)) ? REDACTED : run));
}

/** A value to log, with every string in it redacted (objects and arrays are copied). */
export function redactValue(value: unknown, secrets: string[] = [], depth = 0): unknown {
  if (typeof value === "string") return redactText(value, secrets);
  if (value instanceof Error) return redactedError(value, secrets);
  if (value === null || typeof value !== "object" || value instanceof Date) return value;
  if (depth >= 8) return REDACTED;
  if (Array.isArray(value)) return value.map((item) => redactValue(item, secrets, depth + 1));
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return redactText(String(value), secrets);
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [redactText(k, secrets), redactValue(v, secrets, depth + 1)]));
}

/**
 * A fresh Error with the same name (Step Functions Retry/Catch match names) and a redacted message
 * and stack, and nothing else: no cause, no enumerable fields such as an SDK error's $response,
 * which the Lambda runtime would log.
 */
export function redactedError(error: unknown, secrets: string[] = []): Error {
  const e = (typeof error === "object" && error !== null ? error : {}) as { name?: unknown; message?: unknown; stack?: unknown };
  const name = typeof e.name === "string" && e.name !== "" ? e.name : "Error";
  const message = typeof e.message === "string" ? e.message : typeof error === "object" && error !== null ? "" : String(error);
  const safe = new Error(redactText(message, secrets));
  Object.defineProperty(safe, "name", { value: redactText(name, secrets), writable: true, configurable: true, enumerable: false });
  safe.stack = redactText(typeof e.stack === "string" ? e.stack : `${name}: ${message}`, secrets);
  return safe;
}

/**
 * The secrets an invocation event carries: `taskToken` of a callback Task's payload, and the
 * approval page's `t` (a task token, base64url; also decoded) and `c` (a one-time code), from the
 * query or the form.
 */
export function secretsOf(event: unknown): string[] {
  const found: string[] = [];
  const visit = (value: unknown, depth: number) => {
    if (value === null || typeof value !== "object" || depth > 5) return;
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      if (typeof item === "string" && /^(task_?token|token)$/i.test(key)) found.push(item);
      else visit(item, depth + 1);
    }
  };
  visit(event, 0);
  const http = (typeof event === "object" && event !== null ? event : {}) as { queryStringParameters?: Record<string, unknown>; body?: unknown; isBase64Encoded?: unknown };
  const links: unknown[] = [http.queryStringParameters?.t, http.queryStringParameters?.c];
  if (typeof http.body === "string") {
    try {
      const body = new URLSearchParams(http.isBase64Encoded === true ? Buffer.from(http.body, "base64").toString("utf8") : http.body);
      links.push(...body.getAll("t"), ...body.getAll("c"));
    } catch {
      // not a form: nothing to add
    }
  }
  for (const link of links) {
    if (typeof link !== "string" || link === "") continue;
    found.push(link);
    const decoded = /^[A-Za-z0-9_-]+$/.test(link) ? Buffer.from(link, "base64url").toString("utf8") : "";
    if (/^[\x21-\x7e]+$/.test(decoded)) found.push(decoded);
  }
  return found.filter((s, i) => s.length >= 8 && found.indexOf(s) === i);
}

const CONSOLE_METHODS = ["log", "info", "warn", "error", "debug", "trace"] as const;

/** Makes console.* redact what it is given; returns the function that puts the originals back. */
export function redactConsole(secrets: string[]): () => void {
  const originals = CONSOLE_METHODS.map((method) => console[method]);
  CONSOLE_METHODS.forEach((method, i) => {
    console[method] = (...args: unknown[]) => originals[i].apply(console, args.map((arg) => redactValue(arg, secrets)));
  });
  return () => CONSOLE_METHODS.forEach((method, i) => { console[method] = originals[i]; });
}

/**
 * Wraps a Lambda handler: while it runs, console output is redacted, and whatever it throws is
 * rethrown as redactedError(), so no task token reaches the function's logs, the error that Step
 * Functions records as the Task's Cause, or a dead-letter record (its responsePayload).
 */
export function redactingHandler<A extends unknown[], R>(handler: (...args: A) => R): (...args: A) => Promise<Awaited<R>> {
  return async (...args: A): Promise<Awaited<R>> => {
    const secrets = secretsOf(args[0]);
    const restore = redactConsole(secrets);
    try {
      return await handler(...args);
    } catch (error) {
      throw redactedError(error, secrets);
    } finally {
      restore();
    }
  };
}
