// The link in an approval email, shared by the email-link start function, the sns-callback Task
// state (built in JSONata, see components/workflow/asl.ts) and the approval page that reads it.
// email-link links carry only a one-time code (functions/mechanisms/email/linkCodes.ts); sns-callback links carry
// the task token, because no function runs on their send path.
// Task tokens travel base64url-encoded (RFC 4648 section 5, no padding): only [A-Za-z0-9_-], so
// no mail client, link scanner or query parser can change them ('+' would turn into a space,
// '/' and '=' get re-encoded or cut off by link detectors).

/** The approval page's path: GET shows a request, POST decides it. */
export const PAGE_PATH = "/decide";

/** Query parameters: t = the task token (base64url), e = the execution ARN, s = the stage; c = an email-link code (alone). */
export const LINK_PARAMS = { token: "t", execution: "e", stage: "s", code: "c" } as const;

export function encodeToken(token: string): string {
  return Buffer.from(token, "utf8").toString("base64url");
}

/** The token back from its base64url form; undefined for anything that is not exactly that. */
export function decodeToken(encoded: string | undefined): string | undefined {
  if (!encoded || !/^[A-Za-z0-9_-]{4,4000}$/.test(encoded)) return undefined;
  const token = Buffer.from(encoded, "base64url").toString("utf8");
  if (encodeToken(token) !== encoded) return undefined;
  // A task token is 1..2048 characters (Step Functions API Reference, SendTaskSuccess, taskToken).
  return token.length >= 1 && token.length <= 2048 && /^[\x21-\x7e]+$/.test(token) ? token : undefined;
}

/** The approval link for one waiting task: `<pageUrl>?t=...&e=...&s=...`. */
export function approvalLink(pageUrl: string, token: string, executionArn: string, stage: string): string {
  const query = [
    `${LINK_PARAMS.token}=${encodeToken(token)}`,
    `${LINK_PARAMS.execution}=${encodeURIComponent(executionArn)}`,
    `${LINK_PARAMS.stage}=${encodeURIComponent(stage)}`,
  ].join("&");
  return `${pageUrl}?${query}`;
}

/** The approval link of an email-link email: `<pageUrl>?c=<code>` (the code is base64url already). */
export function codeLink(pageUrl: string, code: string): string {
  return `${pageUrl}?${LINK_PARAMS.code}=${code}`;
}
