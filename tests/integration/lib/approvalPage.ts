// What an approver's browser sends to the approval page (functions/mechanisms/email/approvalPage.ts): the GET link
// from the email, and the POST of its form (hidden t, e, s, or for email-link the hidden c alone;
// the name typed; the button pressed).
import { LINK_PARAMS } from "../../../functions/mechanisms/email/approvalLink";

export const FORM_CONTENT_TYPE = "application/x-www-form-urlencoded";

export interface PageDecision {
  /** The raw task token (it travels base64url-encoded). */
  token: string;
  executionArn: string;
  stage: string;
  /** The approver's name, as typed in the form. */
  name: string;
  decision: "approve" | "reject";
  comment?: string;
}

/** The approval link of an email: `<pageUrl>?t=<base64url token>&e=<execution ARN>&s=<stage>`. */
export function approvalPageLink(
  pageUrl: string,
  args: { token: string; executionArn: string; stage: string },
): string {
  const query = new URLSearchParams({
    [LINK_PARAMS.token]: Buffer.from(args.token, "utf8").toString("base64url"),
    [LINK_PARAMS.execution]: args.executionArn,
    [LINK_PARAMS.stage]: args.stage,
  });
  return `${pageUrl}?${query.toString()}`;
}

/** The urlencoded body of the page's form when the approver presses Approve or Reject. */
export function approvalPageForm(args: PageDecision): string {
  const fields: Record<string, string> = {
    [LINK_PARAMS.token]: Buffer.from(args.token, "utf8").toString("base64url"),
    [LINK_PARAMS.execution]: args.executionArn,
    [LINK_PARAMS.stage]: args.stage,
    name: args.name,
  };
  if (args.comment !== undefined) fields.comment = args.comment;
  fields.decision = args.decision;
  return new URLSearchParams(fields).toString();
}

/** How the page records the person who decided (functions/mechanisms/email/approvalPage.ts). */
export function pageApprover(name: string): string {
  return `${name} (via email link)`;
}

/** The urlencoded body of an email-link page's form: the link's code, the name, the button. */
export function codePageForm(args: {
  code: string;
  name: string;
  decision: "approve" | "reject";
  comment?: string;
}): string {
  const fields: Record<string, string> = { [LINK_PARAMS.code]: args.code, name: args.name };
  if (args.comment !== undefined) fields.comment = args.comment;
  fields.decision = args.decision;
  return new URLSearchParams(fields).toString();
}
