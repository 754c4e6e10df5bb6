// The mechanism registry: everything the rest of the program knows about a mechanism, in one
// definition each. Config parsing, stage creation, follow-ups, the approval page and index.ts read
// it; a mechanism in MECHANISMS (functions/contract.ts) without a complete definition here does not
// compile. Adding one: docs/adding-a-mechanism.md.
import * as pulumi from "@pulumi/pulumi";
import { MECHANISMS, Mechanism } from "../../functions/contract";
import type { StageConfig } from "../config";
import type { ApproverAccess } from "../shared/principals";
import type { ExecutionDataKey } from "../workflow/executionDataKey";
import { ActivityApproval } from "./activityApproval";
import type { LinkCodeTable } from "./approvalPage";
import { ApprovalStage } from "./approvalStage";
import { CodePipelineApproval } from "./codePipelineApproval";
import { EmailLinkApproval } from "./emailLinkApproval";
import { SlackApproval } from "./slackApproval";
import { SnsCallbackApproval } from "./snsCallbackApproval";
import type { SlackAppConfig, SlackAppSecrets } from "../slackConfig";
import { SsmAutomationApproval } from "./ssmAutomationApproval";

const DAY = 86400;
/** A Standard execution lasts at most one year; one email stage leaves room for the execution's margin. */
const EMAIL_STAGE_MAX_SECONDS = 360 * DAY;

/** What the stack gives every stage it creates. */
export interface StageDefaults {
  /** Where every stage's alarms publish. */
  alarmActions?: pulumi.Input<string>[];
  /** The approval page (ApprovalPage.url); required by mechanisms with an `approvalPage`. */
  approvalPageUrl?: pulumi.Input<string>;
  /** The page's code table (ApprovalPage.linkCodes); required by mechanisms with `approvalPage: "code-link"`. */
  linkCodeTable?: LinkCodeTable;
  /** The stack's data key (ExecutionDataKey): encrypts activities. */
  dataKey?: ExecutionDataKey;
  /** How stages whose mechanism has `approverPolicy` attach it; each stage adds its own permissionSets. */
  approverAccess?: Omit<ApproverAccess, "permissionSets">;
  /** The Slack app (config and secrets); required by mechanisms with a `channel`. */
  slack?: SlackAppConfig & { secrets: SlackAppSecrets };
}

/** A config key the mechanism has no use for: the end of the message that refuses it (why, and what to do). */
export interface Refused {
  refused: string;
}

export interface MechanismDefinition {
  /** What `approvers` holds, and how many. */
  approvers: { kind: "iam-principal" | "email" | "slack-user"; max: number };
  /** The shortest and longest wait the mechanism supports (config `timeout`). */
  timeout: { minSeconds: number; minText: string; maxSeconds: number; maxReason: string };
  /** Whether `minRequiredApprovals` (N of the approvers must approve) applies. */
  quorum: boolean;
  /** Config `notify`: the stage emails these addresses, or the key is refused (and why). */
  notify: "allowed" | Refused;
  /**
   * Who reminders (`remindEvery`) go to: the `notify` addresses, the approvers, the approvers who
   * have not voted in the request message's thread (ApprovalStage.reminderFunctionArn), or nobody (and why).
   */
  reminders: "notify" | "approvers" | "thread" | Refused;
  /** Whether approvers decide on the approval page: with one-time code links, or with the task token in the link. */
  approvalPage: "code-link" | "token-link" | false;
  /** Whether the stack gives the approvers an IAM policy (attached, or to permission sets: `permissionSets`). */
  approverPolicy: boolean;
  /** Whether the stage posts to a Slack channel (keys `channel`, required; `commentOnApprove`, `directMessages`). */
  channel: boolean;
  /** How an approver decides, in one sentence: reminders and escalation emails say it. */
  howToDecide: string;
  /** The stage's component. */
  create(
    name: string,
    config: StageConfig,
    defaults: StageDefaults,
    opts?: pulumi.ComponentResourceOptions,
  ): ApprovalStage;
}

/** A stage's ApproverAccess: the stack's settings and the stage's permission sets. */
function approverAccess(config: StageConfig, defaults: StageDefaults): ApproverAccess {
  return { ...defaults.approverAccess, ...(config.permissionSets ? { permissionSets: config.permissionSets } : {}) };
}

function pageUrl(config: StageConfig, defaults: StageDefaults): pulumi.Input<string> {
  if (defaults.approvalPageUrl === undefined) {
    throw new pulumi.RunError(
      `Stage '${config.name}': ${config.mechanism} needs the approval page; create an ApprovalPage and pass its url as approvalPageUrl`,
    );
  }
  return defaults.approvalPageUrl;
}

const EMAIL_HOW_TO_DECIDE =
  'Approvers decide with the approval link in the earlier email whose subject starts with "Approval needed".';
/** Email stages refuse `notify`: whoever has the link can decide. */
const emailNotify = (mechanism: Mechanism): Refused => ({
  refused: `${mechanism} emails the approval link to the approvers, and whoever has the link can decide: list everyone who may decide under approvers; remove notify`,
});
const EMAIL_TIMEOUT = {
  minSeconds: 60,
  minText: "1m",
  maxSeconds: EMAIL_STAGE_MAX_SECONDS,
  maxReason: "an email stage waits at most 360d (a Standard execution lasts at most 365d)",
};
/** The execution's year bounds a slack stage as it bounds an email stage. */
const SLACK_TIMEOUT = {
  ...EMAIL_TIMEOUT,
  maxReason: "a slack stage waits at most 360d (a Standard execution lasts at most 365d)",
};

export const MECHANISM_DEFINITIONS: Record<Mechanism, MechanismDefinition> = {
  "ssm-automation": {
    approvers: { kind: "iam-principal", max: 10 },
    timeout: { minSeconds: 60, minText: "1m", maxSeconds: 30 * DAY, maxReason: "aws:approve allows at most 30d" },
    quorum: true,
    notify: "allowed",
    reminders: "notify",
    approvalPage: false,
    approverPolicy: false, // aws:approve names its approvers; SSM checks them
    channel: false,
    howToDecide:
      "Approvers approve or reject it in the AWS Systems Manager console (Automation: the execution waiting at its approval step) or with aws ssm send-automation-signal, as the first notification explained.",
    create: (name, config, defaults, opts) =>
      new SsmAutomationApproval(
        name,
        {
          stage: config.name,
          approvers: config.approvers,
          minRequiredApprovals: config.minRequiredApprovals,
          notify: config.notify,
          timeoutSeconds: config.timeoutSeconds,
          alarmActions: defaults.alarmActions,
        },
        opts,
      ),
  },
  codepipeline: {
    approvers: { kind: "iam-principal", max: 20 },
    // A manual approval action waits 5 to 86400 minutes (timeoutInMinutes, CodePipeline quotas).
    timeout: {
      minSeconds: 300,
      minText: "5m",
      maxSeconds: 60 * DAY,
      maxReason: "a CodePipeline manual approval waits at most 60d",
    },
    quorum: false,
    notify: "allowed",
    reminders: "notify",
    approvalPage: false,
    approverPolicy: true,
    channel: false,
    howToDecide:
      "Approvers approve or reject it in the AWS CodePipeline console (the pipeline's manual approval action), as the first notification explained.",
    create: (name, config, defaults, opts) =>
      new CodePipelineApproval(
        name,
        {
          stage: config.name,
          approvers: config.approvers,
          notify: config.notify,
          timeoutSeconds: config.timeoutSeconds,
          alarmActions: defaults.alarmActions,
          approverAccess: approverAccess(config, defaults),
        },
        opts,
      ),
  },
  activity: {
    approvers: { kind: "iam-principal", max: 20 },
    // A stage may wait its timeout again after each of 3 releases by a vanished worker: 4 x 90d
    // stays within a Standard execution's one year.
    timeout: {
      minSeconds: 60,
      minText: "1m",
      maxSeconds: 90 * DAY,
      maxReason:
        "an activity stage waits at most 90d (it may wait again after each of 3 worker releases, within an execution's 365d)",
    },
    quorum: false,
    notify: {
      refused: "the activity mechanism sends no email: approvers run `npm run approval-worker`; remove notify",
    },
    reminders: {
      refused:
        "the activity mechanism sends no email to remind: approvers run `npm run approval-worker`; remove remindEvery (escalateTo works for activity stages)",
    },
    approvalPage: false,
    approverPolicy: true,
    channel: false,
    howToDecide: "Approvers decide with `npm run approval-worker` (see docs/mechanisms/activity.md).",
    create: (name, config, defaults, opts) =>
      new ActivityApproval(
        name,
        {
          stage: config.name,
          approvers: config.approvers,
          timeoutSeconds: config.timeoutSeconds,
          dataKey: defaults.dataKey,
          approverAccess: approverAccess(config, defaults),
        },
        opts,
      ),
  },
  "email-link": {
    approvers: { kind: "email", max: 50 },
    timeout: EMAIL_TIMEOUT,
    quorum: false,
    notify: emailNotify("email-link"),
    reminders: "approvers",
    approvalPage: "code-link",
    approverPolicy: false,
    channel: false,
    howToDecide: EMAIL_HOW_TO_DECIDE,
    create: (name, config, defaults, opts) =>
      new EmailLinkApproval(
        name,
        {
          stage: config.name,
          approvers: config.approvers,
          timeoutSeconds: config.timeoutSeconds,
          approvalPageUrl: pageUrl(config, defaults),
          linkCodeTable: defaults.linkCodeTable,
        },
        opts,
      ),
  },
  "sns-callback": {
    approvers: { kind: "email", max: 50 },
    timeout: EMAIL_TIMEOUT,
    quorum: false,
    notify: emailNotify("sns-callback"),
    reminders: "approvers",
    approvalPage: "token-link",
    approverPolicy: false,
    channel: false,
    howToDecide: EMAIL_HOW_TO_DECIDE,
    create: (name, config, defaults, opts) =>
      new SnsCallbackApproval(
        name,
        {
          stage: config.name,
          approvers: config.approvers,
          timeoutSeconds: config.timeoutSeconds,
          approvalPageUrl: pageUrl(config, defaults),
        },
        opts,
      ),
  },
  slack: {
    approvers: { kind: "slack-user", max: 50 },
    timeout: SLACK_TIMEOUT,
    quorum: true,
    notify: {
      refused:
        "slack posts the request to the stage's channel, which is its notification: invite whoever should see it to the channel; remove notify",
    },
    reminders: "thread",
    approvalPage: false,
    approverPolicy: false,
    channel: true,
    howToDecide:
      "Approvers click Approve or Reject on the request message in the stage's Slack channel (docs/mechanisms/slack.md).",
    create: (name, config, defaults, opts) => {
      if (!defaults.slack || config.channel === undefined) {
        throw new pulumi.RunError(
          `Stage '${config.name}': slack needs the stage's channel and the Slack app (sfn-approvals:slackTeamId, slackBotToken, slackSigningSecret)`,
        );
      }
      return new SlackApproval(
        name,
        {
          stage: config.name,
          approvers: config.approvers,
          minRequiredApprovals: config.minRequiredApprovals,
          channel: config.channel,
          ...(config.commentOnApprove !== undefined ? { commentOnApprove: config.commentOnApprove } : {}),
          ...(config.directMessages !== undefined ? { directMessages: config.directMessages } : {}),
          timeoutSeconds: config.timeoutSeconds,
          teamId: defaults.slack.teamId,
          secrets: defaults.slack.secrets,
          alarmActions: defaults.alarmActions,
        },
        opts,
      );
    },
  },
};

/** The mechanisms whose definition has `property` set (in MECHANISMS order, for messages). */
export function mechanismsWith(property: "quorum" | "approverPolicy" | "approvalPage"): Mechanism[] {
  return MECHANISMS.filter((mechanism) => Boolean(MECHANISM_DEFINITIONS[mechanism][property]));
}

/** The component of a validated stage config, named `stage-<name>`. */
export function createApprovalStage(
  config: StageConfig,
  defaults: StageDefaults = {},
  opts?: pulumi.ComponentResourceOptions,
): ApprovalStage {
  const definition = (MECHANISM_DEFINITIONS as Partial<Record<string, MechanismDefinition>>)[config.mechanism];
  // parseConfig refuses these already; this guards direct callers.
  if (!definition) throw new pulumi.RunError(`Stage '${config.name}': unknown mechanism '${config.mechanism}'`);
  return definition.create(`stage-${config.name}`, config, defaults, opts);
}
