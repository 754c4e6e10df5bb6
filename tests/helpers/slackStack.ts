// The dev stack with one slack stage, as tests/slackStage.test.ts configures it. Test files that use
// this same config share one program run per mocha worker (runProgram caches by stack and config).
import { ACCOUNT_ID } from "./pulumiMocks";
import { stackConfig } from "./stackConfig";

export const SLACK_STACK = {
  stage: "ops",
  botToken: "xoxb-1111-2222-SLACKSTAGETESTBOTTOKEN",
  signingSecret: "8f14e45fceea167a5a36dedd4bea2543slackstage",
  approvers: ["U0000000001", "U0000000002", "W0000000003"],
  required: 2,
  channel: "C0123456789",
  teamId: "T0123456789",
  table: "sfn-approvals-dev-ops-slack-requests",
  secretArn: `arn:aws:secretsmanager:eu-west-1:${ACCOUNT_ID}:secret:sfn-approvals-dev-ops-slack-app-AbCdEf`,
  stateMachineArn: `arn:aws:states:eu-west-1:${ACCOUNT_ID}:stateMachine:sfn-approvals-dev`,
} as const;

export const SLACK_STACK_CONFIG = stackConfig("dev", {
  "sfn-approvals:stages": [
    {
      name: SLACK_STACK.stage,
      mechanism: "slack",
      approvers: SLACK_STACK.approvers,
      minRequiredApprovals: SLACK_STACK.required,
      channel: SLACK_STACK.channel,
      timeout: "1d",
      escalateTo: ["lead@example.com"],
    },
  ],
  "sfn-approvals:slackTeamId": SLACK_STACK.teamId,
  "sfn-approvals:slackBotToken": SLACK_STACK.botToken,
  "sfn-approvals:slackSigningSecret": SLACK_STACK.signingSecret,
});
