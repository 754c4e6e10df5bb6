// Clicks in the sandbox's Slack (npm run demo, a slack stage): what Slack's client and servers do when
// a person clicks Approve or Reject in the request message and, if the comment modal opens, submits it.
// Each interaction is a real signed request to the interaction function's local endpoint: the
// block_actions or view_submission payload Slack sends, form-encoded as `payload=<json>`, signed v0
// (HMAC-SHA256 of "v0:<timestamp>:<body>" with the app's signing secret; tests/helpers/slackInteractions.ts,
// https://api.slack.com/docs/verifying-requests-from-slack). The sandbox uses it for --decide and
// its prompts; `npm run demo -- slack-click` uses it from another terminal, reading the running
// sandbox's endpoint and signing secret from its state file (mode 0600). Nothing here prints the
// signing secret or the request key.
// Loaded by `npm run demo -- slack-click` without the sandbox: only light modules here.
import { randomBytes } from "crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import { dirname, join } from "path";
import { parseArgs } from "util";
import {
  ACTION_IDS,
  COMMENT_ACTION_ID,
  COMMENT_BLOCK_ID,
  SlackVote,
} from "../../functions/mechanisms/slack/interaction";
import { blockActionsPayload, signedInteraction, viewSubmissionPayload } from "../../tests/helpers/slackInteractions";
import { ROOT } from "./basics";

/** Where a running sandbox says how to click in its Slack (git-ignored, as .sandbox/ is). */
export const DEFAULT_SLACK_STATE = join(ROOT, ".sandbox", "slack-click.json");

/** What a click needs of the running sandbox: written when its request message is posted. */
export interface SlackClickState {
  /** The interaction function's local endpoint (POST /slack/interactions). */
  interactionsUrl: string;
  /** What each interaction led to in the sandbox's Slack (ephemeral answers, modal, message), by trigger_id. */
  answersUrl: string;
  /** The workspace whose clicks count (the stage's slackTeamId). */
  teamId: string;
  stage: string;
  channel: string;
  /** The request message's ts. */
  messageTs: string;
  /** The buttons' value: the request's key (never printed). */
  requestKey: string;
  /** The sandbox app's signing secret (never printed). */
  signingSecret: string;
  approvers: string[];
  required: number;
  /** The sandbox's process. */
  pid: number;
}

/** What one interaction led to, as the sandbox's Slack saw it. */
export interface InteractionAnswer {
  /** The function's HTTP status and body (what API Gateway returned to Slack). */
  status: number;
  body: string;
  /** Sentences only the clicker sees (chat.postEphemeral). */
  ephemerals: string[];
  /** The comment modal it opened (views.open), if any. */
  modal?: { id: string; callbackId: string; title: string; label: string; optional: boolean };
  /** The message as it reads after the interaction's chat.update, if any. */
  message?: string[];
}

export interface ClickResult {
  steps: Array<{ what: string; answer: InteractionAnswer }>;
  /** The vote reached the function and nothing refused it (no ephemeral refusal, no modal error, a 200). */
  recorded: boolean;
  /** Why it was not, in a sentence, when it was not. */
  problem?: string;
}

/** Writes the state file readable only by its owner (0600, created afresh). */
export function writeClickState(file: string, state: SlackClickState): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  rmSync(file, { force: true });
  writeFileSync(file, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600, flag: "wx" });
}

/** Removes the state file if it is this process's. */
export function removeClickState(file: string, pid = process.pid): void {
  try {
    if ((JSON.parse(readFileSync(file, "utf8")) as SlackClickState).pid === pid) rmSync(file, { force: true });
  } catch {
    // already gone, or another sandbox's
  }
}

/** A trigger_id as Slack writes them ("13345224609.738474920.8088930838d88f008e0"), new per interaction. */
function newTriggerId(): string {
  return `${Date.now()}.${randomBytes(4).readUInt32BE(0)}.${randomBytes(10).toString("hex")}`;
}

/** Signs `payload` with the app's signing secret and POSTs it as Slack does; returns what it led to. */
async function send(state: SlackClickState, payload: { trigger_id: string }): Promise<InteractionAnswer> {
  const request = signedInteraction(payload, { secret: state.signingSecret });
  const response = await fetch(state.interactionsUrl, { method: "POST", headers: request.headers, body: request.body });
  const body = await response.text();
  const found = await fetch(`${state.answersUrl}?trigger_id=${encodeURIComponent(payload.trigger_id)}`);
  if (found.status !== 200) return { status: response.status, body, ephemerals: [] };
  return (await found.json()) as InteractionAnswer;
}

/** The sentence a modal's `response_action: "errors"` answer shows under the comment input. */
function modalError(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { response_action?: string; errors?: Record<string, string> };
    return parsed.response_action === "errors" ? Object.values(parsed.errors ?? {}).join(" ") : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `user` clicks the button of `vote` in the request message; if the comment modal opens, it is
 * submitted with `comment` (asked for only then, when a function). A required comment left empty
 * is not submitted, as Slack's client does not submit it.
 */
export async function clickAs(
  state: SlackClickState,
  click: {
    user: string;
    vote: SlackVote;
    comment: string | ((modal: NonNullable<InteractionAnswer["modal"]>) => Promise<string>);
  },
): Promise<ClickResult> {
  const steps: ClickResult["steps"] = [];
  const payload = blockActionsPayload({
    teamId: state.teamId,
    userId: click.user,
    userName: click.user.toLowerCase(),
    actionId: ACTION_IDS[click.vote],
    value: state.requestKey,
    buttonText: click.vote === "approve" ? "Approve" : "Reject",
    channelId: state.channel,
    messageTs: state.messageTs,
    triggerId: newTriggerId(),
  });
  const clicked = await send(state, payload);
  steps.push({ what: `${click.user} clicks ${click.vote === "approve" ? "Approve" : "Reject"}`, answer: clicked });
  if (clicked.status !== 200) return { steps, recorded: false, problem: `the click was answered ${clicked.status}` };
  if (clicked.ephemerals.length > 0) return { steps, recorded: false, problem: clicked.ephemerals.join(" ") };
  const modal = clicked.modal;
  if (!modal) return { steps, recorded: true };
  const comment = (typeof click.comment === "string" ? click.comment : await click.comment(modal)).trim();
  if (comment === "" && !modal.optional)
    return { steps, recorded: false, problem: `the modal needs a comment ("${modal.label}"); nothing was submitted` };
  const submission = viewSubmissionPayload({
    teamId: state.teamId,
    userId: click.user,
    userName: click.user.toLowerCase(),
    callbackId: modal.callbackId,
    privateMetadata: state.requestKey,
    viewId: modal.id,
    triggerId: newTriggerId(),
    // An optional input left empty is submitted with a null value.
    values: {
      [COMMENT_BLOCK_ID]: { [COMMENT_ACTION_ID]: { type: "plain_text_input", value: comment === "" ? null : comment } },
    },
  });
  // The view as it was opened (viewSubmissionPayload's view has a generic title).
  submission.view.title = { type: "plain_text", text: modal.title };
  const submitted = await send(state, submission);
  steps.push({ what: `${click.user} submits the modal "${modal.title}"`, answer: submitted });
  if (submitted.status !== 200)
    return { steps, recorded: false, problem: `the modal was answered ${submitted.status}` };
  const error = modalError(submitted.body);
  if (error) return { steps, recorded: false, problem: error };
  return { steps, recorded: true };
}

/** Lines describing a click's steps for a terminal. */
export function describeClick(result: ClickResult, url: string): string[] {
  const lines: string[] = [];
  for (const { what, answer } of result.steps) {
    const body = answer.body && !modalError(answer.body) ? `: ${answer.body}` : "";
    lines.push(`  ${what}: POST ${url} (signed as Slack signs) -> ${answer.status}${body}`);
    for (const sentence of answer.ephemerals) lines.push(`  only the clicker sees: ${sentence}`);
    const error = modalError(answer.body);
    if (error) lines.push(`  the modal stays open and says: ${error}`);
    if (answer.modal) lines.push(`  the comment modal "${answer.modal.title}" opens: ${answer.modal.label}`);
    if (answer.message) {
      lines.push("  the message now reads:");
      for (const line of answer.message) lines.push(`    | ${line}`);
    }
  }
  return lines;
}

const CLICK_USAGE = `Usage: npm run demo -- slack-click --as USER approve|reject [--comment TEXT] [--state FILE]

Clicks Approve or Reject in the running sandbox's Slack message as the Slack user USER (U… or W…),
as Slack would send it: a block_actions request signed with the sandbox app's signing secret, to
the interaction function's local endpoint; if the comment modal opens (Reject; Approve with
commentOnApprove), it is submitted with --comment. Prints what only USER would see and the
updated message.

  --as USER      the Slack user who clicks (any user ID: only the stage's approvers count)
  --comment TEXT the modal's comment (required to reject)
  --state FILE   the sandbox's state file (default .sandbox/slack-click.json)

Exit codes: 0 the vote was recorded, 1 it changed nothing (the function said why), 2 no sandbox is
waiting for clicks, or a usage error.`;

/** `npm run demo -- slack-click ...`: one click in the running sandbox's Slack. */
export async function slackClickMain(argv: string[], say: (text: string) => void): Promise<number> {
  let values: { as?: string; comment?: string; state?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: {
        as: { type: "string" },
        comment: { type: "string" },
        state: { type: "string" },
        help: { type: "boolean" },
      },
      strict: true,
      allowPositionals: true,
    }));
  } catch (error) {
    say(`slack-click: ${(error as Error).message}\n\n${CLICK_USAGE}`);
    return 2;
  }
  if (values.help) {
    say(CLICK_USAGE);
    return 0;
  }
  const vote = positionals[0];
  const user = values.as?.trim().toUpperCase();
  const problem =
    positionals.length !== 1 || (vote !== "approve" && vote !== "reject")
      ? "say approve or reject"
      : !user || !/^[UW][A-Z0-9]{2,63}$/.test(user)
        ? "--as must be a Slack user ID (U… or W…)"
        : undefined;
  if (problem) {
    say(`slack-click: ${problem}\n\n${CLICK_USAGE}`);
    return 2;
  }
  const file = values.state ?? DEFAULT_SLACK_STATE;
  let state: SlackClickState;
  try {
    state = JSON.parse(readFileSync(file, "utf8")) as SlackClickState;
  } catch {
    say(`slack-click: no sandbox is waiting for Slack clicks (${file} is missing): start one with npm run demo`);
    return 2;
  }
  say(`slack-click: ${user} clicks ${vote} on the request of stage ${state.stage} in ${state.channel}`);
  let result: ClickResult;
  try {
    result = await clickAs(state, { user: user!, vote: vote as SlackVote, comment: values.comment ?? "" });
  } catch (error) {
    const cause = (error as { cause?: { code?: unknown } }).cause?.code;
    say(
      `slack-click: the sandbox did not answer (${typeof cause === "string" ? cause : "no answer"}); is it still running?`,
    );
    return 2;
  }
  for (const line of describeClick(result, state.interactionsUrl)) say(line);
  say(result.recorded ? "Recorded." : `Not counted: ${result.problem}`);
  return result.recorded ? 0 : 1;
}
