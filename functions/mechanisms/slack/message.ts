// Block Kit for the slack mechanism: the request message (chat.postMessage), its progress and final
// updates (chat.update), and the comment modal (views.open). Builders return the `text` and
// `blocks` (or the `view`); the caller adds `channel` (and `ts` for an update).
// Request text is user input: in mrkdwn it is escaped (&, <, > become entities;
// https://api.slack.com/reference/surfaces/formatting#escaping) and sent with verbatim: true, so
// Slack neither links nor parses mentions in it
// (https://docs.slack.dev/reference/block-kit/composition-objects/text-object); header, button and
// modal labels are plain_text, which takes no markup; the request's details are plain_text with
// emoji: false (shown as typed). Only this file writes <…> markup: mentions
// of validated user IDs, dates, and an https link.
// Slack's limits (https://docs.slack.dev/reference/block-kit/blocks/header-block, …/section-block,
// …/block-elements/button-element, https://docs.slack.dev/reference/views/modal-views): header
// text 150; section text 3000; section fields at most 10, each 2000; button text 75, value 2000;
// modal title, submit and close 24, private_metadata 3000; input label 2000; plain_text_input
// max_length at most 3000; a message at most 50 blocks. Text is cut with fitText (contract.ts),
// never refused.
// Plain TypeScript with no Pulumi import: the stage's functions are serialized with it.
import { ApprovalRequest, TRUNCATION_MARK, fitText, withoutLineBreaks } from "../../contract";
import {
  ACTION_IDS,
  COMMENT_ACTION_ID,
  COMMENT_BLOCK_ID,
  COMMENT_CALLBACK_IDS,
  SLACK_USER_ID_PATTERN,
  SlackVote,
  isRequestKey,
} from "./interaction";

export const SLACK_LIMITS = {
  headerText: 150,
  sectionText: 3000,
  sectionFields: 10,
  fieldText: 2000,
  buttonText: 75,
  buttonValue: 2000,
  modalTitle: 24,
  privateMetadata: 3000,
  inputLabel: 2000,
  plainTextInputMaxLength: 3000,
  messageBlocks: 50,
} as const;

/** Longest comment the modal accepts (Slack's plain_text_input maximum). */
export const COMMENT_MAX_CHARS = SLACK_LIMITS.plainTextInputMaxLength;
/** Longest notification text (chat.postMessage `text`, the fallback shown in notifications). */
export const NOTIFICATION_TEXT_MAX = 300;

export interface PlainText {
  type: "plain_text";
  text: string;
  emoji?: boolean;
}
export interface Mrkdwn {
  type: "mrkdwn";
  text: string;
  verbatim: true;
}
export type SlackBlock = { type: string } & Record<string, unknown>;
export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
}
export interface SlackModalView {
  type: "modal";
  callback_id: string;
  private_metadata: string;
  title: PlainText;
  submit: PlainText;
  close: PlainText;
  blocks: SlackBlock[];
}

// Bidirectional controls (Unicode's explicit embeddings, overrides, isolates and marks) could show
// request text in another order than it is (a reversed link or amount): they are dropped.
const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** `text` without bidirectional control characters. */
export function withoutBidiControls(text: string): string {
  return text.replace(BIDI_CONTROLS, "");
}

/** Slack's escaping of its control characters (and no bidirectional controls); nothing else is encoded. */
export function escapeMrkdwn(text: string): string {
  return withoutBidiControls(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** `text` escaped and cut to `max` characters; a cut never leaves half an entity behind. */
export function fitEscaped(text: string, max: number): string {
  const fitted = fitText(escapeMrkdwn(text), max);
  if (!fitted.endsWith(TRUNCATION_MARK) || fitted === escapeMrkdwn(text)) return fitted;
  const kept = fitted.slice(0, fitted.length - TRUNCATION_MARK.length).replace(/&(?:a|am|amp|l|lt|g|gt)?$/, "");
  return kept + TRUNCATION_MARK;
}

function plain(text: string, max: number): PlainText {
  return { type: "plain_text", text: fitText(withoutBidiControls(text), max) };
}

/** Request text shown exactly as typed: plain_text with `emoji: false`, so neither markup nor :emoji: codes render. */
function literal(text: string, max: number): PlainText {
  return { type: "plain_text", text: fitText(withoutBidiControls(text), max), emoji: false };
}

function mrkdwn(text: string): Mrkdwn {
  return { type: "mrkdwn", text, verbatim: true };
}

/** A mention of a user ID that is one (U…/W…); anything else is shown as escaped text. */
export function userMention(userId: string): string {
  return SLACK_USER_ID_PATTERN.test(userId) ? `<@${userId}>` : escapeMrkdwn(userId);
}

function toDate(value: Date | string, what: string): Date {
  const date = typeof value === "string" ? new Date(value) : value;
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) throw new Error(`Invalid ${what} '${String(value)}'`);
  return date;
}

/** Slack's date markup: shown in the reader's time zone, with a UTC fallback (Formatting text, "Date formatting"). */
export function slackDate(value: Date | string): string {
  const date = toDate(value, "date");
  const fallback = `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;
  return `<!date^${Math.floor(date.getTime() / 1000)}^{date_short_pretty} at {time}|${fallback}>`;
}

/** Longest link shown whole as its own label; a longer one is labelled with its host. */
const LINK_LABEL_MAX = 200;

/**
 * The link field: an https URL without whitespace, <, >, |, control or bidirectional characters
 * and without a user name or password before its host becomes <url|label> (& escaped in both, as
 * everywhere). The label is the URL itself, or `<host>/…` when it is long, so a cut label never
 * hides the host. Anything else, or a link too long for the field, is shown as text.
 */
function linkField(link: string): Mrkdwn {
  const head = "*Link*\n";
  const url = URL.canParse(link) ? new URL(link) : undefined;
  if (
    /^https:\/\/[^\s<>|\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]+$/.test(link) &&
    url &&
    url.username === "" &&
    url.password === "" &&
    url.host.length <= LINK_LABEL_MAX - 2
  ) {
    const target = escapeMrkdwn(link);
    const label = escapeMrkdwn(link.length <= LINK_LABEL_MAX ? link : `${url.host}/…`);
    if (head.length + target.length + label.length + 3 <= SLACK_LIMITS.fieldText) {
      return mrkdwn(`${head}<${target}|${label}>`);
    }
  }
  return field("Link", withoutLineBreaks(link));
}

/**
 * The request's free-form details as plain lines: an object becomes "key: value" lines, a list of
 * objects one line per item ("key: value · key: value"), anything deeper compact JSON.
 */
export function detailsText(details: unknown): string {
  const scalar = (value: unknown): string =>
    typeof value === "string" ? withoutLineBreaks(value) : (JSON.stringify(value) ?? String(value));
  const inline = (value: unknown): string => {
    if (value === null || typeof value !== "object") return scalar(value);
    if (Array.isArray(value)) return value.map((item) => scalar(item)).join(", ");
    return Object.entries(value as Record<string, unknown>)
      .map(([key, item]) => `${withoutLineBreaks(key)}: ${scalar(item)}`)
      .join(" · ");
  };
  if (details === null || typeof details !== "object") return scalar(details);
  if (Array.isArray(details)) return details.map((item) => `• ${inline(item)}`).join("\n");
  const lines: string[] = [];
  for (const [key, value] of Object.entries(details as Record<string, unknown>)) {
    if (Array.isArray(value) && value.length > 0 && value.every((item) => item !== null && typeof item === "object")) {
      lines.push(`${withoutLineBreaks(key)}:`, ...value.map((item) => `• ${inline(item)}`));
    } else {
      lines.push(`${withoutLineBreaks(key)}: ${inline(value)}`);
    }
  }
  return lines.join("\n");
}

/** One approver's vote as recorded (who, when, and the comment if one was given). */
export interface SlackVoteRecord {
  userId: string;
  at: Date | string;
  comment?: string | null;
}

/** What the request message shows: the request, the stage and its quorum, the approvals so far. */
export interface RequestMessageInput {
  request: ApprovalRequest;
  stage: string;
  requestKey: string;
  deadline: Date | string;
  /** Distinct approvals the stage needs (minRequiredApprovals) and approvers it has. */
  required: number;
  approverCount: number;
  /** Approvals so far, oldest first (empty when posting). */
  approvals?: SlackVoteRecord[];
}

/** "*Label*\n<escaped value>" cut to a section field's limit. */
function field(label: string, value: string): Mrkdwn {
  const head = `*${label}*\n`;
  return mrkdwn(head + fitEscaped(value, SLACK_LIMITS.fieldText - head.length));
}

/** The header, the request's fields and its details: the part every version of the message shows. */
function requestBlocks(request: ApprovalRequest, stage: string, extraFields: Mrkdwn[]): SlackBlock[] {
  const fields: Mrkdwn[] = [];
  if (request.requester) fields.push(field("Requester", withoutLineBreaks(request.requester)));
  if (typeof request.amount === "number") {
    const currency = request.currency ? ` ${withoutLineBreaks(request.currency)}` : "";
    fields.push(field("Amount", `${request.amount}${currency}`));
  }
  if (request.requestId) fields.push(field("Request ID", withoutLineBreaks(request.requestId)));
  fields.push(field("Stage", stage));
  if (request.link) fields.push(linkField(request.link));
  fields.push(...extraFields);
  const blocks: SlackBlock[] = [
    // plain_text takes no markup: the title is shown as it is.
    { type: "header", text: plain(withoutLineBreaks(request.title), SLACK_LIMITS.headerText) },
    { type: "section", fields: fields.slice(0, SLACK_LIMITS.sectionFields) },
  ];
  if (request.details !== undefined) {
    // Free-form text from the requester: plain, so no *bold* or :emoji: in it can look like an outcome.
    blocks.push({
      type: "section",
      text: literal(`Details\n${detailsText(request.details)}`, SLACK_LIMITS.sectionText),
    });
  }
  return blocks;
}

function notificationText(prefix: string, request: ApprovalRequest): string {
  return fitEscaped(withoutLineBreaks(`${prefix}: ${request.title}`), NOTIFICATION_TEXT_MAX);
}

/** "Approved so far: <@U1> (1 of 2). 1 more approval needed." */
export function progressText(approvals: SlackVoteRecord[], required: number): string {
  const left = Math.max(required - approvals.length, 0);
  const needed = `${left} more approval${left === 1 ? "" : "s"} needed`;
  if (approvals.length === 0) return `No approvals yet: ${needed}.`;
  return `Approved so far: ${voteList(approvals, LIST_BUDGET)} (${approvals.length} of ${required}). ${needed[0].toUpperCase()}${needed.slice(1)}.`;
}

/**
 * The request message with Approve and Reject buttons. Posted with no approvals; after each
 * approval the same message is built with the approvals so far and sent with chat.update.
 * Both buttons carry only the request key.
 */
export function requestMessage(input: RequestMessageInput): SlackMessage {
  if (!isRequestKey(input.requestKey)) throw new Error("requestMessage needs a request key (newRequestKey())");
  const approvals = input.approvals ?? [];
  const quorum = `${input.required} of ${input.approverCount} approvers`;
  const blocks = requestBlocks(input.request, input.stage, [
    mrkdwn(`*Decide by*\n${slackDate(input.deadline)}`),
    mrkdwn(`*Approvals needed*\n${quorum}`),
  ]);
  blocks.push(
    { type: "section", text: mrkdwn(progressText(approvals, input.required)) },
    {
      type: "actions",
      elements: [
        {
          type: "button",
          action_id: ACTION_IDS.approve,
          text: plain("Approve", SLACK_LIMITS.buttonText),
          style: "primary",
          value: input.requestKey,
        },
        {
          type: "button",
          action_id: ACTION_IDS.reject,
          text: plain("Reject", SLACK_LIMITS.buttonText),
          style: "danger",
          value: input.requestKey,
        },
      ],
    },
  );
  return { text: notificationText(`Approval requested (${input.stage})`, input.request), blocks };
}

/** How a stage ended, for the final message. */
export type SlackOutcome =
  | { decision: "approved"; approvals: SlackVoteRecord[] }
  | { decision: "rejected"; rejection: SlackVoteRecord; approvals: SlackVoteRecord[] }
  | { decision: "timed_out"; at: Date | string; approvals: SlackVoteRecord[] };

export interface FinalMessageInput {
  request: ApprovalRequest;
  stage: string;
  required: number;
  outcome: SlackOutcome;
}

/** Mentions of `votes`, as many as fit in `max` characters, then "and N more". */
function voteList(votes: SlackVoteRecord[], max: number): string {
  let text = "";
  for (const [index, vote] of votes.entries()) {
    const next = (text ? ", " : "") + userMention(vote.userId);
    const rest = votes.length - index;
    if (text.length + next.length + (rest > 1 ? 20 : 0) > max) return `${text} and ${rest} more`;
    text += next;
  }
  return text;
}

// Budgets inside one section's 3000 characters: a mention is at most 67 characters, a date's markup
// about 75, so a headline stays below 300; lists of approvers get 1000; comments what is left.
const LIST_BUDGET = 1000;
const COMMENTS_BUDGET = 1500;
const MIN_COMMENT = 150;

/** "Comment from <@U…>: …" lines for the votes with a comment, within COMMENTS_BUDGET. */
function commentLines(votes: SlackVoteRecord[], label: (vote: SlackVoteRecord) => string): string {
  const withComment = votes.filter((vote) => vote.comment);
  if (withComment.length === 0) return "";
  const shown = withComment.slice(0, Math.floor(COMMENTS_BUDGET / MIN_COMMENT));
  const each = Math.floor(COMMENTS_BUDGET / shown.length);
  const lines = shown.map((vote) => {
    const head = `${label(vote)}: `;
    return `\n${head}${fitEscaped(vote.comment as string, each - head.length - 1)}`;
  });
  const more = withComment.length - shown.length;
  return lines.join("") + (more > 0 ? `\n(${more} more comments are in the decision record)` : "");
}

/** The outcome that replaces the buttons: who decided, when, and the comment; or that time ran out. */
export function outcomeText(outcome: SlackOutcome, required: number): string {
  if (outcome.decision === "approved") {
    const last = outcome.approvals[outcome.approvals.length - 1];
    const when = last ? ` on ${slackDate(last.at)}` : "";
    return (
      `:white_check_mark: *Approved*${when} by ${voteList(outcome.approvals, LIST_BUDGET)}.` +
      commentLines(outcome.approvals, (vote) => `Comment from ${userMention(vote.userId)}`)
    );
  }
  if (outcome.decision === "rejected") {
    const before =
      outcome.approvals.length > 0
        ? `\nApproved before the rejection: ${voteList(outcome.approvals, LIST_BUDGET)}.`
        : "";
    return (
      `:x: *Rejected* by ${userMention(outcome.rejection.userId)} on ${slackDate(outcome.rejection.at)}.` +
      commentLines([outcome.rejection], () => "Comment") +
      before
    );
  }
  const got =
    outcome.approvals.length > 0 ? `: approved by ${voteList(outcome.approvals, LIST_BUDGET)}` : ": no approvals";
  return `:hourglass: *Timed out* on ${slackDate(outcome.at)} with ${outcome.approvals.length} of ${required} approvals${got}. Nothing was approved.`;
}

/** The request message once the stage ended: the buttons are gone, the outcome says what happened. */
export function finalMessage(input: FinalMessageInput): SlackMessage {
  const blocks = requestBlocks(input.request, input.stage, []);
  blocks.push({ type: "section", text: mrkdwn(outcomeText(input.outcome, input.required)) });
  const word = { approved: "Approved", rejected: "Rejected", timed_out: "Timed out" }[input.outcome.decision];
  return { text: notificationText(`${word} (${input.stage})`, input.request), blocks };
}

/** The modal that asks for a comment (views.open with the click's trigger_id): required to reject, optional to approve. */
export function commentModal(input: { vote: SlackVote; requestKey: string; request: ApprovalRequest }): SlackModalView {
  if (!isRequestKey(input.requestKey)) throw new Error("commentModal needs a request key (newRequestKey())");
  const reject = input.vote === "reject";
  const head = reject ? "You are rejecting:" : "You are approving:";
  return {
    type: "modal",
    callback_id: COMMENT_CALLBACK_IDS[input.vote],
    private_metadata: input.requestKey,
    title: plain(reject ? "Reject request" : "Approve request", SLACK_LIMITS.modalTitle),
    submit: plain(reject ? "Reject" : "Approve", SLACK_LIMITS.modalTitle),
    close: plain("Cancel", SLACK_LIMITS.modalTitle),
    blocks: [
      {
        type: "section",
        text: mrkdwn(
          `${head}\n*${fitEscaped(withoutLineBreaks(input.request.title), SLACK_LIMITS.sectionText - head.length - 3)}*`,
        ),
      },
      {
        type: "input",
        block_id: COMMENT_BLOCK_ID,
        optional: !reject,
        label: plain(reject ? "Why are you rejecting it?" : "Comment (optional)", SLACK_LIMITS.inputLabel),
        element: {
          type: "plain_text_input",
          action_id: COMMENT_ACTION_ID,
          multiline: true,
          max_length: COMMENT_MAX_CHARS,
        },
      },
    ],
  };
}

/** A reply only the clicker sees (POSTed to the interaction's response_url). */
export function ephemeralReply(text: string): {
  response_type: "ephemeral";
  replace_original: false;
  text: string;
} {
  return { response_type: "ephemeral", replace_original: false, text: fitEscaped(text, SLACK_LIMITS.sectionText) };
}

/** What an approver's direct message shows: a notice pointing at the request message in the channel. */
export interface DmNoticeInput {
  request: ApprovalRequest;
  stage: string;
  deadline: Date | string;
  /** Distinct approvals the stage needs and approvers it has. */
  required: number;
  approverCount: number;
  /** The request message's channel (C…/G…), mentioned as <#C…>. */
  channel: string;
  /** chat.getPermalink of the request message; linked only when it is a plain https URL. */
  permalink?: string;
}

const CHANNEL_ID_PATTERN = /^[CGD][A-Z0-9]{2,63}$/;
/** Longest permalink shown as a link (Slack's are about 80 characters). */
const PERMALINK_MAX = 1000;

/**
 * A channel mention `<#C…>` of a channel ID (https://docs.slack.dev/messaging/formatting-message-text,
 * "Linking to channels"; a manual string, so verbatim: true keeps it); anything else as escaped text.
 */
export function channelMention(channel: string): string {
  return CHANNEL_ID_PATTERN.test(channel) ? `<#${channel}>` : escapeMrkdwn(channel);
}

/** `<permalink|label>` for an https URL without credentials, markup or control characters; else undefined. */
function permalinkLink(permalink: string | undefined, label: string): string | undefined {
  if (permalink === undefined || permalink.length > PERMALINK_MAX || !URL.canParse(permalink)) return undefined;
  const url = new URL(permalink);
  if (
    !/^https:\/\/[^\s<>|\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]+$/.test(permalink) ||
    url.username !== "" ||
    url.password !== ""
  ) {
    return undefined;
  }
  return `<${escapeMrkdwn(permalink)}|${label}>`;
}

/**
 * The direct message each approver gets with `directMessages`: "Approval needed: <title>", the
 * stage, the deadline, the quorum and where to decide (a link to the request message, else its
 * channel). A notice only: no buttons and no request key, so the channel message stays the one
 * place a vote is cast (and the only message updated).
 */
export function dmNotice(input: DmNoticeInput): SlackMessage {
  const where = channelMention(input.channel);
  const link = permalinkLink(input.permalink, "Open the request");
  const go = link
    ? `Approve or reject it on the request message in ${where}: ${link}`
    : `Approve or reject it on the request message in ${where}.`;
  return {
    text: notificationText("Approval needed", input.request),
    blocks: [
      // plain_text takes no markup: the title is shown as it is.
      {
        type: "header",
        text: plain(`Approval needed: ${withoutLineBreaks(input.request.title)}`, SLACK_LIMITS.headerText),
      },
      {
        type: "section",
        fields: [
          field("Stage", input.stage),
          mrkdwn(`*Decide by*\n${slackDate(input.deadline)}`),
          mrkdwn(`*Approvals needed*\n${input.required} of ${input.approverCount} approvers`),
        ],
      },
      { type: "section", text: mrkdwn(`You are one of the approvers. ${go}`) },
    ],
  };
}
