// What the program generates passes the validators AWS itself publishes.
// - Every SSM runbook (approvalRunbook, as built for each stack) against the SSM Automation
//   document schema that aws-ssm-document-language-service ships (dist/schema.json), with ajv.
// - Every state machine definition through amazon-states-language-service, called as the AWS
//   Toolkit calls it: getLanguageService({}).doValidation(document, parseJSONDocument(document)).
// Definitions come from the committed stacks and from test stacks that cover all five mechanisms,
// with and without follow-ups (reminders, escalation). Zero diagnostics are allowed.
import Ajv from "ajv";
import { expect } from "chai";
import { readFileSync } from "fs";
import { Diagnostic, TextDocument, getLanguageService } from "amazon-states-language-service";
import jsonata from "jsonata";
import { composeApprovalEmail } from "../functions/mechanisms/email/emailLink";
import { EXPENSE_REPORT } from "./helpers/fixtures";
import { RecordedResource, ofType, runProgram } from "./helpers/pulumiMocks";
import { stackConfig } from "./helpers/stackConfig";

// The schema's patterns (e.g. "^{{[ ]{0,1}[a-zA-Z_.]+[ ]{0,1}}}$") are not valid with the `u` flag
// that ajv 8 adds; the language service itself evaluates them without it.
const ssmSchema = JSON.parse(
  readFileSync(require.resolve("aws-ssm-document-language-service/dist/schema.json"), "utf8"),
);
const ajv = new Ajv({
  allErrors: true,
  strict: false,
  code: { regExp: ((pattern: string, flags: string) => new RegExp(pattern, flags.replace("u", ""))) as never },
});
const validateRunbook = ajv.compile(ssmSchema);

function runbookErrors(runbook: unknown): string[] {
  return validateRunbook(runbook)
    ? []
    : (validateRunbook.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message ?? ""}`);
}

const asl = getLanguageService({});

async function definitionDiagnostics(definition: unknown): Promise<string[]> {
  const document = TextDocument.create("file:///definition.asl.json", "json", 1, JSON.stringify(definition, null, 2));
  const diagnostics: Diagnostic[] = await asl.doValidation(document, asl.parseJSONDocument(document));
  return diagnostics.map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
}

const ACCOUNT = "123456789012";
const ROLE = (name: string) => `arn:aws:iam::${ACCOUNT}:role/${name}`;
const USER = (name: string) => `arn:aws:iam::${ACCOUNT}:user/${name}`;

/** Test stacks (beside the committed ones): every mechanism, quorum extremes, every follow-up. */
const TEST_STACKS: Record<string, Record<string, unknown>> = {
  "five-mechanisms": {
    "sfn-approvals:autoApproveBelow": "100",
    "sfn-approvals:stages": [
      { name: "manager", mechanism: "ssm-automation", approvers: [USER("alice")], timeout: "1d" },
      { name: "release", mechanism: "codepipeline", approvers: [ROLE("ReleaseApprover")], timeout: "1d" },
      { name: "operator", mechanism: "activity", approvers: [ROLE("Operator")], timeout: "1h" },
      { name: "lead", mechanism: "email-link", approvers: ["lead@example.com"], timeout: "2d" },
      { name: "finance", mechanism: "sns-callback", approvers: ["finance@example.com"], timeout: "3d" },
    ],
  },
  "five-mechanisms-with-follow-ups": {
    "sfn-approvals:stages": [
      {
        name: "manager",
        mechanism: "ssm-automation",
        minRequiredApprovals: 10,
        timeout: "30d",
        remindEvery: "1d",
        escalateTo: ["oncall@example.com"],
        escalateAfter: "10%",
        approvers: Array.from({ length: 10 }, (_, i) => USER(`approver${i}`)),
        notify: ["managers@example.com"],
      },
      {
        name: "release",
        mechanism: "codepipeline",
        approvers: [ROLE("ReleaseApprover")],
        notify: ["release@example.com"],
        timeout: "7d",
        remindEvery: "1d",
        escalateTo: [`arn:aws:sns:eu-west-1:${ACCOUNT}:platform-oncall`],
      },
      {
        name: "operator",
        mechanism: "activity",
        approvers: [ROLE("Operator")],
        timeout: "4h",
        escalateTo: ["oncall@example.com"],
        escalateAfter: "90%",
      },
      {
        name: "lead",
        mechanism: "email-link",
        approvers: ["lead@example.com"],
        timeout: "2d",
        remindEvery: "12h",
        escalateTo: ["head@example.com"],
      },
      {
        name: "finance",
        mechanism: "sns-callback",
        approvers: ["finance@example.com"],
        timeout: "3d",
        remindEvery: "1d",
        escalateTo: ["cfo@example.com", `arn:aws:sns:eu-west-1:${ACCOUNT}:finance-oncall`],
      },
    ],
  },
};

interface Generated {
  runbooks: Array<[string, unknown]>;
  definitions: Array<[string, unknown]>;
}

function collect(stack: string, resources: RecordedResource[], into: Generated): void {
  for (const doc of ofType(resources, "aws:ssm/document:Document"))
    into.runbooks.push([`${stack}: ${doc.inputs.name}`, JSON.parse(doc.inputs.content)]);
  for (const machine of ofType(resources, "aws:sfn/stateMachine:StateMachine"))
    into.definitions.push([`${stack}: ${machine.name}`, JSON.parse(machine.inputs.definition)]);
}

describe("AWS's own validators: SSM document schema and the Amazon States Language service", function () {
  const generated: Generated = { runbooks: [], definitions: [] };

  before(async () => {
    for (const stack of ["dev", "prod", "staging"])
      collect(stack, (await runProgram(stack, stackConfig(stack))).resources, generated);
    for (const [name, overrides] of Object.entries(TEST_STACKS))
      collect(name, (await runProgram("dev", stackConfig("dev", overrides))).resources, generated);
  });

  it("builds the runbooks and definitions it should (one runbook per ssm-automation stage, one state machine per stack)", () => {
    expect(generated.runbooks.map(([name]) => name)).to.deep.equal([
      "prod: sfn-approvals-prod-manager",
      "five-mechanisms: sfn-approvals-dev-manager",
      "five-mechanisms-with-follow-ups: sfn-approvals-dev-manager",
    ]);
    expect(generated.definitions).to.have.length(5);
    const resources = generated.definitions.map(([, d]) => JSON.stringify(d));
    // The test stacks really hold every mechanism's Task and the follow-up Parallel.
    for (const marker of [
      "lambda:invoke.waitForTaskToken",
      ":activity:",
      "sns:publish.waitForTaskToken",
      '"Type":"Parallel"',
    ]) {
      expect(resources[4], marker).to.contain(marker);
    }
  });

  it("every runbook passes the SSM Automation document schema (aws-ssm-document-language-service dist/schema.json)", () => {
    for (const [name, runbook] of generated.runbooks) expect(runbookErrors(runbook), name).to.deep.equal([]);
  });

  it("every state machine definition passes amazon-states-language-service with zero diagnostics", async () => {
    for (const [name, definition] of generated.definitions)
      expect(await definitionDiagnostics(definition), name).to.deep.equal([]);
  });

  describe("SNS Publish subjects follow AWS's rule", () => {
    // SNS API Reference, Publish, Subject (also node_modules/@aws-sdk/client-sns dist-types
    // PublishInput.Subject): "Subjects must be UTF-8 text with no line breaks or control characters,
    // and less than 100 characters long." Line breaks include U+2028/U+2029; control characters
    // are C0, DEL and C1; characters are counted as Unicode code points.
    const BREAKS_OR_CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;
    const TITLES = [
      "Expense report ER98765",
      "line one\r\nline two\tand a tab",
      "paragraph\u2029separator and line\u2028separator",
      "next line \u0085 and \u0000 nul and \u007f del",
      "x".repeat(300),
      "\u{1F4B8}".repeat(120),
      "caf\u00e9 \u65e5\u672c\u8a9e ".repeat(20),
    ];
    const follows = (subject: unknown, what: string) => {
      expect(subject, what).to.be.a("string");
      expect(BREAKS_OR_CONTROLS.test(subject as string), `${what}: ${JSON.stringify(subject)}`).to.equal(false);
      expect(Array.from(subject as string).length, what).to.be.below(100);
      expect(Buffer.from(subject as string, "utf8").toString("utf8"), what).to.equal(subject);
    };

    it("the email-link start function's subject", () => {
      for (const title of TITLES) {
        const email = composeApprovalEmail({
          request: { ...EXPENSE_REPORT, title },
          stage: "lead",
          executionArn: "arn:aws:states:eu-west-1:123456789012:execution:sfn-approvals-staging:er-1",
          link: "https://example.com/decide?c=x",
          deadline: new Date("2026-11-24T10:00:00Z"),
        });
        follows(email.subject, `email-link: ${JSON.stringify(title)}`);
      }
    });

    it("every Subject a state machine publishes (sns-callback Task, reminders, escalations), evaluated as Step Functions' JSONata would", async () => {
      const subjects: Array<[string, string]> = [];
      const walk = (states: Record<string, any>, where: string) => {
        for (const [name, state] of Object.entries(states)) {
          if (typeof state.Arguments?.Subject === "string")
            subjects.push([`${where} / ${name}`, state.Arguments.Subject]);
          for (const branch of state.Branches ?? []) walk(branch.States, `${where} / ${name}`);
        }
      };
      for (const [name, definition] of generated.definitions) walk((definition as any).States, name);
      expect(subjects.length).to.be.at.least(6);
      for (const [where, subject] of subjects) {
        const expression = /^\{%([\s\S]*)%\}$/.exec(subject);
        expect(expression, where).to.not.equal(null);
        for (const title of TITLES) {
          const value = await jsonata(expression![1]).evaluate(
            {},
            { states: { input: { request: { ...EXPENSE_REPORT, title } } } },
          );
          follows(value, `${where}: ${JSON.stringify(title)}`);
        }
      }
    });
  });

  describe("the validators catch what they are there to catch", () => {
    it("a runbook without approvers, with an unknown action or a bad onFailure fails the schema", () => {
      const [, runbook] = generated.runbooks[0];
      const broken = (edit: (step: any, doc: any) => void) => {
        const copy = structuredClone(runbook) as any;
        edit(copy.mainSteps[0], copy);
        return runbookErrors(copy);
      };
      expect(
        broken((step) => {
          delete step.inputs.Approvers;
        }),
      ).to.include("/mainSteps/0/inputs must have required property 'Approvers'");
      expect(
        broken((step) => {
          step.action = "aws:aprove";
        }).join("\n"),
      ).to.contain("/mainSteps/0/action must be equal to one of the allowed values");
      expect(
        broken((step) => {
          step.onFailure = "Stop";
        }).join("\n"),
      ).to.contain("/mainSteps/0/onFailure must match pattern");
      expect(
        broken((_, doc) => {
          doc.schemaVersion = "2.2";
        }).join("\n"),
      ).to.contain("/schemaVersion must be equal to one of the allowed values");
    });

    it("a definition with a dangling Next, an unknown state type or a Task without Resource has diagnostics", async () => {
      const [, definition] = generated.definitions[1];
      const broken = async (edit: (d: any) => void) => {
        const copy = structuredClone(definition) as any;
        edit(copy);
        return (await definitionDiagnostics(copy)).join("\n");
      };
      const firstTask = (d: any) => Object.values<any>(d.States).find((s) => s.Type === "Task");
      expect(
        await broken((d) => {
          d.States[d.StartAt].Next = "No such state";
          d.States[d.StartAt].End = undefined;
        }),
      ).to.contain('The value of "Next" property must be the name of an existing state.');
      expect(
        await broken((d) => {
          d.States[d.StartAt].Type = "Wait4";
        }),
      ).to.not.equal("");
      expect(
        await broken((d) => {
          delete firstTask(d).Resource;
        }),
      ).to.not.equal("");
    });
  });
});
