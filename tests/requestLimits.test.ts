// The request field rule (functions/contract.ts, "Request fields and AWS limits"): a request is
// refused for its shape, never for the length of its text; each mechanism shortens what it passes
// to an AWS API with a smaller limit. These tests send the longest and emptiest values the
// workflow's validation lets through and check what reaches each API against that API's limits.
import { expect } from "chai";
import { SSMClient } from "@aws-sdk/client-ssm";
import { ONE_LINE_FIELD_MAX, TRUNCATION_MARK, fitText, requestProblems, summarizeRequest } from "../functions/contract";
import { PARAMETER_VALUE_MAX, startAutomation } from "../functions/mechanisms/ssmAutomation/startAutomation";
import { snsCallbackTaskStates } from "../components/mechanisms/snsCallbackApproval";
import { stageTaskOptions } from "../components/workflow/definition";
import { followUpStates } from "../components/workflow/stageFollowUps";
import { lambdaCallbackTaskStates } from "../components/mechanisms/lambdaCallbackApproval";
import { evaluateJsonataField } from "./helpers/localStateMachine";
import { composeApprovalEmail } from "../functions/mechanisms/email/emailLink";
import { ApprovalRequest } from "../functions/contract";

const EXECUTION_ARN = "arn:aws:states:eu-west-1:123456789012:execution:sfn-approvals-prod:er-1";
const TOKEN = "AAAA".repeat(200);
/** SSM Automation parameter values: 1 to 512 characters (AutomationParameterValue, SSM API model). */
const SSM_PARAMETER_MAX = 512;
/** SNS Publish: subject fewer than 100 characters; message at most 256 KB (SNS API Reference, Publish). */
const SNS_SUBJECT_MAX = 99;
const SNS_MESSAGE_MAX_BYTES = 262144;

/** Sends through a stand-in SSM client and returns the StartAutomationExecution input it was given. */
async function automationStartFor(request: Record<string, unknown>): Promise<any> {
  let sent: any;
  const ssm = {
    send: async (command: { input: unknown }) => {
      sent = command.input;
      return { AutomationExecutionId: "a1b2c3d4-0000-4000-8000-000000000000" };
    },
  } as unknown as SSMClient;
  await startAutomation(
    { taskToken: TOKEN, request, stage: "manager", executionArn: EXECUTION_ARN },
    { documentName: "sfn-approvals-prod-manager", stage: "manager" },
    ssm,
  );
  return sent;
}

/** The request at its limits: every optional text field present, huge, with line breaks. */
const HUGE = "x\n".repeat(60000);
const HUGE_REQUEST = {
  title: `T${HUGE}`,
  requestId: `R${HUGE}`,
  requester: `Q${HUGE}`,
  amount: 1,
  currency: `C${HUGE}`,
  link: `https://example.com/${"a".repeat(100000)}`,
  details: { note: HUGE },
};

describe("request fields and AWS limits (one rule: validated for shape, shortened to fit each API)", () => {
  it("the workflow's validation accepts empty and very long optional text: length is never a reason to refuse", () => {
    expect(requestProblems(HUGE_REQUEST)).to.deep.equal([]);
    expect(requestProblems({ title: "t", requestId: "", requester: "", currency: "", link: "" })).to.deep.equal([]);
  });

  it("fitText keeps text that fits, marks what it cuts, never splits a surrogate pair, and turns empty into '-'", () => {
    expect(fitText("short", 10)).to.equal("short");
    expect(fitText("", 10)).to.equal("-");
    const cut = fitText("é😀".repeat(400), 512);
    expect(cut.length).to.be.at.most(512);
    expect(cut.endsWith(TRUNCATION_MARK)).to.equal(true);
    expect(cut.slice(0, -TRUNCATION_MARK.length)).to.match(/^(é😀)*é?$/u);
  });

  for (const [what, requestId, expected] of [
    ["an empty requestId is sent as '-'", "", "-"],
    [
      "a requestId of 600 characters is cut to fit, marked",
      "R".repeat(600),
      `${"R".repeat(PARAMETER_VALUE_MAX - TRUNCATION_MARK.length)}${TRUNCATION_MARK}`,
    ],
    ["no requestId is sent as '-'", undefined, "-"],
  ] as const) {
    it(`ssm-automation: ${what} (an automation parameter value holds 1 to 512 characters)`, async () => {
      const sent = await automationStartFor({
        title: "Expense report",
        ...(requestId === undefined ? {} : { requestId }),
      });
      expect(sent.Parameters.RequestId).to.deep.equal([expected]);
    });
  }

  it("ssm-automation: with every field at its longest, every parameter value is 1 to 512 characters and at most 10 token chunks", async () => {
    const sent = await automationStartFor(HUGE_REQUEST);
    for (const [name, values] of Object.entries<string[]>(sent.Parameters)) {
      for (const value of values) expect(value.length, name).to.be.within(1, SSM_PARAMETER_MAX);
    }
    expect(sent.Parameters.TaskToken.join("")).to.equal(TOKEN);
  });

  /** Evaluates a JSONata publish (Subject and Message) as Step Functions would for HUGE_REQUEST. */
  async function published(state: any): Promise<{ Subject: string; Message: string }> {
    const states = {
      input: { request: HUGE_REQUEST },
      context: {
        Execution: { Id: EXECUTION_ARN, Name: "er-1", StartTime: "2026-11-22T10:00:00.000Z" },
        StateMachine: { Name: "sfn-approvals-prod" },
        State: { EnteredTime: "2026-11-22T10:00:00.000Z", Name: "x" },
        Task: { Token: TOKEN },
      },
    };
    return (await evaluateJsonataField(state.Arguments, states)) as { Subject: string; Message: string };
  }

  function expectWithinSnsLimits(email: { Subject: string; Message: string }): void {
    expect(Array.from(email.Subject).length).to.be.at.most(SNS_SUBJECT_MAX);
    expect(email.Subject).to.not.match(/[\u0000-\u001f]/);
    expect(Buffer.byteLength(email.Message, "utf8")).to.be.below(SNS_MESSAGE_MAX_BYTES / 10);
    // Each one-line field is cut to ONE_LINE_FIELD_MAX and says so; details to 2000 characters.
    // (The approval link itself, which carries the token, is the one line that is not request text.)
    for (const line of email.Message.split("\n").filter((l) => !l.includes("/decide?t=")))
      expect(line.length, line.slice(0, 20)).to.be.at.most(
        (line.startsWith("Details: ") ? 2000 : ONE_LINE_FIELD_MAX) + 20,
      );
    expect(email.Message).to.contain(TRUNCATION_MARK);
  }

  it("sns-callback: the email Step Functions publishes stays within SNS's subject and message limits", async () => {
    const states = snsCallbackTaskStates({
      options: stageTaskOptions("finance"),
      topicArn: "arn:aws:sns:eu-west-1:123456789012:t",
      pageUrl: "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/decide",
      stage: "finance",
      timeoutSeconds: 3600,
    });
    const email = await published(states["Approval finance"]);
    expectWithinSnsLimits(email);
    // The approval link, which comes last, is whole.
    expect(email.Message).to.match(/\/decide\?t=[A-Za-z0-9_-]+&e=[^&\s]+&s=finance\n/);
  });

  it("email-link: the email the start function publishes stays within SNS's subject and message limits", () => {
    const email = composeApprovalEmail({
      request: HUGE_REQUEST as ApprovalRequest,
      stage: "team-lead",
      executionArn: EXECUTION_ARN,
      link: "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/decide?c=abc",
      deadline: new Date("2026-11-24T10:00:00Z"),
    });
    expectWithinSnsLimits({ Subject: email.subject, Message: email.message });
  });

  it("reminders and escalations: every publish stays within SNS's subject and message limits", async () => {
    const options = stageTaskOptions("manager", true);
    const stageStates = lambdaCallbackTaskStates({
      options,
      functionArn: "arn:aws:lambda:eu-west-1:123456789012:function:start",
      stage: "manager",
      mechanism: "ssm-automation",
      timeoutSeconds: 86400,
    });
    const states = followUpStates({
      stage: "manager",
      mechanism: "ssm-automation",
      options,
      stageStates,
      timeoutText: "1d",
      approvers: ["arn:aws:iam::123456789012:user/alice"],
      followUp: {
        remindEverySeconds: 3600,
        maxReminders: 5,
        reminderTopicArn: "arn:aws:sns:eu-west-1:123456789012:r",
        escalateAfterSeconds: 43200,
        escalateAfterPercent: 50,
        escalationTopicArns: ["arn:aws:sns:eu-west-1:123456789012:e"],
      },
    });
    const publishes: any[] = [];
    const visit = (all: Record<string, any>) => {
      for (const state of Object.values(all)) {
        if (state.Resource === "arn:aws:states:::sns:publish") publishes.push(state);
        for (const branch of state.Branches ?? []) visit(branch.States);
      }
    };
    visit(states);
    expect(publishes).to.have.length(2);
    for (const state of publishes) expectWithinSnsLimits(await published(state));
  });
});

describe("request summaries (SSM message, pipeline RequestSummary)", () => {
  it("a one-line summary holds no line break of any kind, and a cut never leaves half a surrogate pair", () => {
    const summary = summarizeRequest({ title: `A\u2028B\u2029C\r\nD${"😀".repeat(400)}` }, 500, true);
    expect(summary).to.not.match(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
    expect(summary.length).to.be.at.most(500);
    expect(summary.endsWith(TRUNCATION_MARK)).to.equal(true);
    // A lone surrogate would be a broken character in the parameter AWS receives.
    expect(summary).to.not.match(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
  });
});
