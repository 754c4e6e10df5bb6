// Verifies that an HTTP request came from Slack (docs.slack.dev "Verifying requests from Slack"):
// X-Slack-Signature is "v0=" + hex(HMAC-SHA256(signing secret, "v0:" + X-Slack-Request-Timestamp + ":" + raw body)),
// compared in constant time; a timestamp more than 5 minutes from now is refused (replays).
// Plain TypeScript with no Pulumi import: the interaction function is serialized with it.
// The secret and the signature never appear in a reason (reasons are logged).
import { createHmac, timingSafeEqual } from "crypto";

/** The only signature version Slack documents. */
export const SLACK_SIGNATURE_VERSION = "v0";
/** Slack's recommended window: a request whose timestamp is more than 5 minutes away from now is refused. */
export const SLACK_MAX_AGE_SECONDS = 300;
/** The header names, lower-case; Slack says header names are case-insensitive (see slackRequestHeaders). */
export const SLACK_SIGNATURE_HEADER = "x-slack-signature";
export const SLACK_TIMESTAMP_HEADER = "x-slack-request-timestamp";

// "v0=" and 64 lower-case hex digits (a SHA-256 digest), as in Slack's worked example.
const SIGNATURE_PATTERN = /^v0=[0-9a-f]{64}$/;
// Unix seconds as plain digits: no sign, exponent, fraction or spaces (Number() would accept those).
const TIMESTAMP_PATTERN = /^[0-9]{1,12}$/;

export type SlackVerification = { ok: true } | { ok: false; reason: string };

export interface SlackRequestToVerify {
  signingSecret: string;
  /** X-Slack-Request-Timestamp, found case-insensitively by the caller (slackRequestHeaders). */
  timestampHeader: string | undefined;
  /** X-Slack-Signature, found case-insensitively by the caller. */
  signatureHeader: string | undefined;
  /** The body exactly as received (after base64-decoding an API Gateway body), never re-encoded. */
  rawBody: string | Buffer;
  nowSeconds: number;
  maxAgeSeconds?: number;
}

/** "v0=" + hex HMAC-SHA256 of "v0:<timestamp>:<raw body>" under the signing secret. */
export function slackSignature(signingSecret: string, timestamp: string, rawBody: string | Buffer): string {
  const hmac = createHmac("sha256", signingSecret);
  hmac.update(`${SLACK_SIGNATURE_VERSION}:${timestamp}:`, "utf8");
  hmac.update(typeof rawBody === "string" ? Buffer.from(rawBody, "utf8") : rawBody);
  return `${SLACK_SIGNATURE_VERSION}=${hmac.digest("hex")}`;
}

/**
 * Checks a request's Slack signature and timestamp. Refuses a missing secret, a missing or
 * non-numeric timestamp, one more than `maxAgeSeconds` in the past or the future, a missing or
 * malformed signature, and a signature that does not match the body.
 */
export function verifySlackRequest(request: SlackRequestToVerify): SlackVerification {
  const { signingSecret, timestampHeader, signatureHeader, rawBody, nowSeconds } = request;
  const maxAge = request.maxAgeSeconds ?? SLACK_MAX_AGE_SECONDS;
  if (typeof signingSecret !== "string" || signingSecret === "") {
    return { ok: false, reason: "no signing secret is configured" };
  }
  if (!Number.isFinite(nowSeconds) || !Number.isFinite(maxAge) || maxAge < 0) {
    return { ok: false, reason: "the verifier was given no valid clock or window" };
  }
  if (typeof timestampHeader !== "string" || timestampHeader === "") {
    return { ok: false, reason: "the X-Slack-Request-Timestamp header is missing" };
  }
  if (!TIMESTAMP_PATTERN.test(timestampHeader)) {
    return { ok: false, reason: "the X-Slack-Request-Timestamp header is not a number of seconds" };
  }
  const timestamp = Number(timestampHeader);
  if (nowSeconds - timestamp > maxAge) {
    return { ok: false, reason: `the request is more than ${maxAge} seconds old (a replay or a slow delivery)` };
  }
  if (timestamp - nowSeconds > maxAge) {
    return { ok: false, reason: `the request's timestamp is more than ${maxAge} seconds in the future` };
  }
  if (typeof signatureHeader !== "string" || signatureHeader === "") {
    return { ok: false, reason: "the X-Slack-Signature header is missing" };
  }
  if (!SIGNATURE_PATTERN.test(signatureHeader)) {
    return { ok: false, reason: "the X-Slack-Signature header is not a v0 signature of 64 hex digits" };
  }
  if (typeof rawBody !== "string" && !Buffer.isBuffer(rawBody)) {
    return { ok: false, reason: "the request has no body to verify" };
  }
  // Both are "v0=" + 64 hex digits here, so the buffers have equal length, as timingSafeEqual requires.
  const expected = Buffer.from(slackSignature(signingSecret, timestampHeader, rawBody), "utf8");
  const received = Buffer.from(signatureHeader, "utf8");
  if (expected.length !== received.length || !timingSafeEqual(expected, received)) {
    return { ok: false, reason: "the X-Slack-Signature does not match the request" };
  }
  return { ok: true };
}

/**
 * The two Slack headers from a header map, names compared case-insensitively. A header given
 * twice under different cases counts as missing (API Gateway lower-cases names and joins repeated
 * values with commas, which the signature's format check refuses).
 */
export function slackRequestHeaders(headers: Record<string, string | undefined> | undefined): {
  timestampHeader: string | undefined;
  signatureHeader: string | undefined;
} {
  const find = (name: string): string | undefined => {
    const values = Object.entries(headers ?? {})
      .filter(([key]) => key.toLowerCase() === name)
      .map(([, value]) => value);
    return values.length === 1 ? values[0] : undefined;
  };
  return { timestampHeader: find(SLACK_TIMESTAMP_HEADER), signatureHeader: find(SLACK_SIGNATURE_HEADER) };
}
