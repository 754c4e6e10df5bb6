// The slack mechanism's config: a stage's `channel`, `commentOnApprove` and `directMessages`, and the Slack app's
// stack keys (sfn-approvals:slackTeamId, and the secrets slackBotToken and slackSigningSecret,
// set with `pulumi config set --secret`). Problems are worded as in config.ts.
import * as pulumi from "@pulumi/pulumi";
import type { MechanismDefinition } from "./mechanisms";

/** A public (C…) or private (G…) channel ID, as Slack shows it (channel details, "Channel ID"). */
export const SLACK_CHANNEL_PATTERN = /^[CG][A-Z0-9]{2,63}$/;
/** A workspace ID (T…), as the interaction payload's team.id carries it. */
export const SLACK_TEAM_ID_PATTERN = /^T[A-Z0-9]{2,63}$/;
/** The stack keys holding the Slack app's secrets; each must be set with --secret. */
export const SLACK_SECRET_KEYS = ["slackBotToken", "slackSigningSecret"] as const;
export const SLACK_APP_KEYS = ["slackTeamId", ...SLACK_SECRET_KEYS] as const;

export interface SlackAppConfig {
  /** The workspace whose clicks are accepted. */
  teamId: string;
}

/** The Slack app's secrets, as Pulumi secrets (never shown in a preview, an output or state in clear). */
export interface SlackAppSecrets {
  botToken: pulumi.Output<string>;
  signingSecret: pulumi.Output<string>;
}

function show(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text;
}

/** `channel`, `commentOnApprove` and `directMessages` of one stage: allowed only where the mechanism posts to a channel (`channel` required there). */
export function parseSlackStageKeys(
  stage: Record<string, unknown>,
  at: string,
  mechanism: unknown,
  rules: MechanismDefinition | undefined,
  problems: string[],
): { channel?: string; commentOnApprove?: boolean; directMessages?: boolean } {
  const result: { channel?: string; commentOnApprove?: boolean; directMessages?: boolean } = {};
  if (rules && !rules.channel) {
    for (const key of ["channel", "commentOnApprove", "directMessages"]) {
      if (stage[key] !== undefined)
        problems.push(`${at}.${key} is set, but ${show(mechanism)} posts to no Slack channel; remove ${key}`);
    }
    return result;
  }
  if (!rules) return result;
  const channel = stage.channel;
  if (typeof channel !== "string" || !SLACK_CHANNEL_PATTERN.test(channel)) {
    problems.push(
      `${at}.channel is ${show(channel)}: must be the ID of the Slack channel the request is posted to, like C0123456789 (public) or G0123456789 (private): in Slack, the channel's details, "Channel ID"`,
    );
  } else {
    result.channel = channel;
  }
  const comment = stage.commentOnApprove;
  if (comment !== undefined) {
    if (comment === true || comment === "true") result.commentOnApprove = true;
    else if (comment === false || comment === "false") result.commentOnApprove = false;
    else
      problems.push(
        `${at}.commentOnApprove is ${show(comment)}: must be true or false (true: Approve also opens the comment box)`,
      );
  }
  const dms = stage.directMessages;
  if (dms !== undefined) {
    if (dms === true || dms === "true") result.directMessages = true;
    else if (dms === false || dms === "false") result.directMessages = false;
    else
      problems.push(
        `${at}.directMessages is ${show(dms)}: must be true or false (true: each approver also gets a direct message pointing at the request in the channel)`,
      );
  }
  return result;
}

/**
 * The Slack app's stack keys: required with a slack stage, refused without one. `secretKeys` are
 * the keys Pulumi says were set as secrets (PULUMI_CONFIG_SECRET_KEYS); undefined when it says nothing.
 */
export function parseSlackApp(
  slackStages: number,
  teamId: unknown,
  keys: string[] | undefined,
  secretKeys: string[] | undefined,
  problems: string[],
): SlackAppConfig | undefined {
  const set = new Set(keys ?? []);
  if (teamId !== undefined) set.add("slackTeamId");
  if (slackStages === 0) {
    for (const key of SLACK_APP_KEYS) {
      if (set.has(key)) problems.push(`sfn-approvals:${key} is set, but no stage uses slack; remove it`);
    }
    return undefined;
  }
  const before = problems.length;
  if (slackStages > 1) {
    problems.push(
      `sfn-approvals:stages has ${slackStages} slack stages: a Slack app has one interactivity Request URL and the stack one app, so at most one stage may use slack`,
    );
  }
  if (typeof teamId !== "string" || !SLACK_TEAM_ID_PATTERN.test(teamId)) {
    problems.push(
      `sfn-approvals:slackTeamId is ${show(teamId)}: a slack stage needs the ID of the Slack workspace whose clicks count, like T0123456789 (Slack: workspace settings, or the team_id of auth.test)`,
    );
  }
  for (const key of SLACK_SECRET_KEYS) {
    if (keys !== undefined && !set.has(key)) {
      problems.push(
        `sfn-approvals:${key} is missing: a slack stage needs the Slack app's ${key === "slackBotToken" ? "bot token (xoxb-…, OAuth & Permissions)" : "signing secret (Basic Information, App Credentials)"}; set it with pulumi config set --secret sfn-approvals:${key}`,
      );
    } else if (secretKeys !== undefined && set.has(key) && !secretKeys.includes(`sfn-approvals:${key}`)) {
      problems.push(
        `sfn-approvals:${key} is set in clear text: it is a credential of the Slack app; set it again with pulumi config set --secret sfn-approvals:${key}`,
      );
    }
  }
  return problems.length > before ? undefined : { teamId: teamId as string };
}

/** The Slack app's secrets from stack config, marked secret (config.requireSecret). */
export function loadSlackSecrets(config: pulumi.Config = new pulumi.Config("sfn-approvals")): SlackAppSecrets {
  return { botToken: config.requireSecret("slackBotToken"), signingSecret: config.requireSecret("slackSigningSecret") };
}

/**
 * The keys Pulumi's language host says are secrets: PULUMI_CONFIG_SECRET_KEYS, a JSON list of
 * "<namespace>:<key>" (@pulumi/pulumi runtime/config.js, isConfigSecret); undefined when absent or malformed.
 */
export function configSecretKeys(env: Record<string, string | undefined> = process.env): string[] | undefined {
  const text = env.PULUMI_CONFIG_SECRET_KEYS;
  if (!text) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return Array.isArray(parsed) && parsed.every((k) => typeof k === "string") ? parsed : undefined;
  } catch {
    return undefined;
  }
}
