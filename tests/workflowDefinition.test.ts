// Every generated state machine definition passes asl-validator and our own lint
// (tests/helpers/aslLint.ts), and the lint catches what it is there to catch.
import { expect } from "chai";
import { approvalTarget } from "./helpers/definitionPaths";
import * as pulumi from "@pulumi/pulumi";
import { ApprovalStage } from "../components/mechanisms/approvalStage";
import { ApprovalWorkflow } from "../components/workflow/approvalWorkflow";
import { assembleWorkflowDefinition, stageTaskOptions } from "../components/workflow/definition";
import { activityTaskStates } from "../components/mechanisms/activityApproval";
import { AslDefinition } from "../components/workflow/asl";
import { lambdaCallbackTaskStates } from "../components/mechanisms/lambdaCallbackApproval";
import { snsCallbackTaskStates } from "../components/mechanisms/snsCallbackApproval";
import { Mechanism, stageOfStateName, stageStateName } from "../functions/contract";
import { allStates, validateDefinition } from "./helpers/aslLint";
import { ofType, runProgram, runWithMocks } from "./helpers/pulumiMocks";
import { stackConfig } from "./helpers/stackConfig";

const FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:start";
const ACTIVITY_ARN = "arn:aws:states:eu-west-1:123456789012:activity:approval-manager";

function stage(name: string, timeoutSeconds: number, mechanism: Mechanism = "ssm-automation") {
  return {
    stage: name,
    mechanism,
    maxWaitSeconds: timeoutSeconds,
    states: lambdaCallbackTaskStates({
      options: stageTaskOptions(name),
      functionArn: FUNCTION_ARN,
      stage: name,
      mechanism,
      timeoutSeconds,
    }),
  };
}

/** The definition of the stack's StateMachine, as the Pulumi program generates it. */
async function generatedDefinition(stack: string): Promise<any> {
  const run = await runProgram(stack, stackConfig(stack));
  const machines = ofType(run.resources, "aws:sfn/stateMachine:StateMachine");
  expect(machines, `${stack}: state machines`).to.have.length(1);
  expect(machines[0].inputs.definition, `${stack}: definition`).to.be.a("string");
  return JSON.parse(machines[0].inputs.definition);
}

function copy<T>(value: T): any {
  return JSON.parse(JSON.stringify(value));
}

function taskStates(definition: any): Array<[string, any]> {
  return Object.entries<any>(definition.States).filter(([, state]) => state.Type === "Task");
}

/** A stage whose Task is the activity mechanism's own (activityTaskStates), as ActivityApproval builds it. */
function activityStage(name: string, timeoutSeconds: number, heartbeatSeconds = 120) {
  return {
    stage: name,
    mechanism: "activity" as const,
    maxWaitSeconds: timeoutSeconds,
    states: activityTaskStates({
      options: stageTaskOptions(name),
      activityArn: `arn:aws:states:eu-west-1:123456789012:activity:sfn-approvals-test-${name}`,
      stage: name,
      timeoutSeconds,
      heartbeatSeconds,
    }),
  };
}

const TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:sfn-approvals-test-finance-approvals";
const PAGE_URL = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/decide";

/** A stage whose Task is the sns-callback mechanism's own JSONata Task (snsCallbackTaskStates). */
function snsStage(name: string, timeoutSeconds: number) {
  return {
    stage: name,
    mechanism: "sns-callback" as const,
    maxWaitSeconds: timeoutSeconds,
    states: snsCallbackTaskStates({
      options: stageTaskOptions(name),
      topicArn: TOPIC_ARN,
      pageUrl: PAGE_URL,
      stage: name,
      timeoutSeconds,
    }),
  };
}

const ONE_STAGE = assembleWorkflowDefinition({ autoApproveBelow: 500, stages: [stage("manager", 3900)] });
const ONE_ACTIVITY_STAGE = assembleWorkflowDefinition({
  autoApproveBelow: 500,
  stages: [activityStage("manager", 3600)],
});

describe("workflow definition: asl-validator and lint", () => {
  const generated: Record<string, any> = {};
  before(async () => {
    generated.dev = await generatedDefinition("dev");
    generated.prod = await generatedDefinition("prod");
    generated.staging = await generatedDefinition("staging");
  });

  describe("assembled definitions pass with zero problems", () => {
    const cases: Array<[string, AslDefinition]> = [
      ["one stage with auto-approve", ONE_STAGE],
      ["one stage without auto-approve", assembleWorkflowDefinition({ stages: [stage("manager", 3600)] })],
      [
        "two stages",
        assembleWorkflowDefinition({
          autoApproveBelow: 1000,
          stages: [stage("manager", 259200), stage("finance", 604800)],
        }),
      ],
      [
        "five stages, hyphenated names, every mechanism",
        assembleWorkflowDefinition({
          stages: [
            stage("team-lead", 3600, "ssm-automation"),
            stage("release-board", 7200, "codepipeline"),
            stage("on-call", 600, "activity"),
            stage("cost-center", 86400, "email-link"),
            snsStage("security", 3600),
          ],
        }),
      ],
      [
        "one sns-callback stage (a JSONata Task inside a JSONPath workflow)",
        assembleWorkflowDefinition({ autoApproveBelow: 500, stages: [snsStage("finance", 259200)] }),
      ],
      [
        "one activity stage (its activity ARN, HeartbeatSeconds and States.HeartbeatTimeout retrier)",
        ONE_ACTIVITY_STAGE,
      ],
      [
        "an activity stage between two callback stages, the shortest activity timeout",
        assembleWorkflowDefinition({
          stages: [
            stage("team-lead", 3600),
            activityStage("on-call", 60, 59),
            stage("finance", 604800, "codepipeline"),
          ],
        }),
      ],
    ];
    for (const [name, definition] of cases) {
      it(name, () => {
        expect(validateDefinition(definition)).to.deep.equal([]);
      });
    }
  });

  describe("the dev, prod and staging stacks' generated definitions", () => {
    for (const stack of ["dev", "prod", "staging"]) {
      it(`${stack}: passes with zero problems`, () => {
        expect(validateDefinition(generated[stack])).to.deep.equal([]);
      });

      it(`${stack}: leaves every stage its full wait inside the execution timeout`, () => {
        const definition = generated[stack];
        // The stages' own Tasks, also those inside a follow-up Parallel (not the reminder publishes).
        const waits = Object.entries(allStates(definition))
          .filter(([name, state]) => state.Type === "Task" && name === stageStateName(stageOfStateName(name) ?? ""))
          .map(([, state]) => state.TimeoutSeconds as number);
        expect(waits.length).to.equal(stack === "dev" ? 1 : 2);
        expect(waits.length).to.be.greaterThan(0);
        expect(definition.TimeoutSeconds).to.be.greaterThan(waits.reduce((a, b) => a + b, 0));
      });
    }

    it("dev: one stage 'manager' behind the auto-approve rule of Pulumi.dev.yaml", () => {
      const dev = generated.dev;
      expect(taskStates(dev).map(([name]) => name)).to.deep.equal(["Approval manager"]);
      expect(dev.States["Validate request"].Default).to.equal("Check auto-approve");
      expect(dev.States["Check auto-approve"].Choices[0].And[1]).to.deep.equal({
        Variable: "$.request.amount",
        NumericLessThan: 500,
      });
      expect(dev.States["Check auto-approve"].Default).to.equal("Approval manager");
    });

    it("dev: the manager stage waits for an activity worker, with a heartbeat shorter than its timeout", () => {
      const task = generated.dev.States["Approval manager"];
      expect(task.Resource).to.equal("arn:aws:states:eu-west-1:123456789012:activity:sfn-approvals-dev-manager");
      expect([task.HeartbeatSeconds, task.TimeoutSeconds]).to.deep.equal([120, 3600]);
      expect(task.Retry).to.deep.equal([
        { ErrorEquals: ["States.HeartbeatTimeout"], IntervalSeconds: 1, MaxAttempts: 3, BackoffRate: 1 },
      ]);
    });

    it("prod: stages 'manager' then 'finance', no auto-approve", () => {
      const prod = generated.prod;
      expect(taskStates(prod).map(([name]) => name)).to.deep.equal([
        "Approval manager",
        "Record manager decision",
        "Approval finance",
        "Record finance decision",
        "Record outcome",
        "Record failure",
      ]);
      expect(prod.States).to.not.have.property("Check auto-approve");
      expect(prod.States["Validate request"].Default).to.equal("Approval manager");
      expect(approvalTarget(prod, "manager")).to.equal("Approval finance");
      expect(approvalTarget(prod, "finance")).to.equal("Approved");
    });
  });

  describe("the sns-callback Task (JSONata)", () => {
    const task = () => copy(snsStage("finance", 3600).states["Approval finance"]);
    const lintTask = (change: (state: any) => void) => {
      const definition = assembleWorkflowDefinition({ stages: [snsStage("finance", 3600)] }) as any;
      change(definition.States["Approval finance"]);
      return validateDefinition(definition);
    };

    it("is the only JSONata state besides the reminder and escalation publishes and the decision record's writes; the workflow stays JSONPath", () => {
      const definition = generated.staging;
      const jsonata = Object.entries<any>(allStates(definition))
        .filter(([, state]) => state.QueryLanguage === "JSONata")
        .map(([name]) => name);
      expect(jsonata).to.deep.equal([
        "Approval team-lead reminder",
        "Approval team-lead escalation 1",
        "Record team-lead decision",
        "Approval finance",
        "Approval finance reminder",
        "Approval finance escalation 1",
        "Record finance decision",
        "Record outcome",
        "Record failure",
      ]);
      expect(definition).to.not.have.property("QueryLanguage");
    });

    it("publishes to the stage topic and waits, with a timeout and no Lambda", () => {
      expect(task()).to.deep.include({
        Type: "Task",
        QueryLanguage: "JSONata",
        Resource: "arn:aws:states:::sns:publish.waitForTaskToken",
        TimeoutSeconds: 3600,
        // A throttled publish waits for capacity (about the stage's timeout), then ends as timed_out.
        Retry: [
          {
            ErrorEquals: ["SNS.ThrottledException", "SNS.ThrottlingException", "SNS.Throttling"],
            IntervalSeconds: 5,
            MaxAttempts: 110,
            BackoffRate: 2,
            MaxDelaySeconds: 36,
            JitterStrategy: "FULL",
          },
        ],
        Catch: [
          { ErrorEquals: ["States.Timeout"], Output: "{% $states.input %}", Next: "Approval finance timed out" },
          {
            ErrorEquals: ["SNS.ThrottledException", "SNS.ThrottlingException", "SNS.Throttling"],
            Output: "{% $merge([$states.input, {'failure': $states.errorOutput}]) %}",
            Next: "Approval finance no capacity",
          },
        ],
        Next: "Check finance",
      });
      expect(Object.keys(task().Arguments)).to.deep.equal(["TopicArn", "Subject", "Message"]);
      expect(task().Arguments.TopicArn).to.equal(TOPIC_ARN);
    });

    it("the lint catches a JSONata callback whose Arguments never use the token", () => {
      expect(
        lintTask((state) => {
          state.Arguments.Message = "{% 'no token here' %}";
        }),
      ).to.deep.equal([
        "state 'Approval finance': a .waitForTaskToken task must pass $states.context.Task.Token in its Arguments (in a {% %} expression), or nobody can ever answer it",
      ]);
    });

    it("the lint catches JSONPath fields and broken expressions in a JSONata state", () => {
      const problems = lintTask((state) => {
        state.ResultPath = "$.decisions.finance";
        state.Arguments.Subject = "{% 'unclosed %}";
      });
      expect(problems).to.include(
        "state 'Approval finance': a JSONata state cannot use ResultPath (use Arguments and Output)",
      );
      expect(
        problems.some((p) => p.startsWith("state 'Approval finance': JSONata expression does not compile:")),
      ).to.equal(true);
    });
  });

  describe("the lint catches what asl-validator misses", () => {
    function lintWith(change: (definition: any) => void): string[] {
      const definition = copy(ONE_STAGE);
      change(definition);
      return validateDefinition(definition);
    }

    it("an unknown arn:aws:states::: integration (seed 002's lambda:invokeActivity)", () => {
      const resource = "arn:aws:states:::lambda:invokeActivity:foo";
      const problems = lintWith((d) => {
        d.States["Approval manager"].Resource = resource;
      });
      expect(problems).to.have.length(1);
      expect(problems[0]).to.match(
        /^state 'Approval manager': unknown service integration Resource 'arn:aws:states:::lambda:invokeActivity:foo'/,
      );
    });

    it("a nonexistent integration in another partition", () => {
      const problems = lintWith((d) => {
        d.States["Approval manager"].Resource = "arn:aws-cn:states:::lambda:invokeActivity:foo";
      });
      expect(problems).to.have.length(1);
      expect(problems[0]).to.include(
        "unknown service integration Resource 'arn:aws-cn:states:::lambda:invokeActivity:foo'",
      );
    });

    it("a states ARN that is neither an integration nor an activity", () => {
      const problems = lintWith((d) => {
        d.States["Approval manager"].Resource = "arn:aws:states:eu-west-1:123456789012:stateMachine:approve";
      });
      expect(problems).to.deep.equal([
        "state 'Approval manager': Resource 'arn:aws:states:eu-west-1:123456789012:stateMachine:approve' is neither a service integration (arn:aws:states:::...) nor an activity ARN (arn:aws:states:<region>:<account>:activity:<name>)",
      ]);
    });

    it("a waitForTaskToken task without TimeoutSeconds", () => {
      const problems = lintWith((d) => {
        delete d.States["Approval manager"].TimeoutSeconds;
      });
      expect(problems).to.deep.equal([
        "state 'Approval manager': waits for a callback or activity worker (Resource 'arn:aws:states:::lambda:invoke.waitForTaskToken') but has no TimeoutSeconds, so it can wait up to a year",
      ]);
    });

    it("an activity task without TimeoutSeconds", () => {
      const problems = lintWith((d) => {
        const task = d.States["Approval manager"];
        task.Resource = ACTIVITY_ARN;
        delete task.Parameters;
        delete task.TimeoutSeconds;
      });
      expect(problems).to.deep.equal([
        `state 'Approval manager': waits for a callback or activity worker (Resource '${ACTIVITY_ARN}') but has no TimeoutSeconds, so it can wait up to a year`,
      ]);
    });

    it("accepts an activity ARN with TimeoutSeconds and a shorter HeartbeatSeconds", () => {
      const problems = lintWith((d) => {
        const task = d.States["Approval manager"];
        task.Resource = ACTIVITY_ARN;
        task.Parameters = { "request.$": "$.request", stage: "manager" };
        task.HeartbeatSeconds = 300;
      });
      expect(problems).to.deep.equal([]);
    });

    it("HeartbeatSeconds equal to TimeoutSeconds", () => {
      const problems = lintWith((d) => {
        d.States["Approval manager"].HeartbeatSeconds = 3900;
      });
      expect(problems).to.deep.equal([
        "state 'Approval manager': HeartbeatSeconds (3900) must be less than TimeoutSeconds (3900)",
      ]);
    });

    it("HeartbeatSeconds above TimeoutSeconds", () => {
      const problems = lintWith((d) => {
        d.States["Approval manager"].HeartbeatSeconds = 4000;
      });
      expect(problems).to.deep.equal([
        "state 'Approval manager': HeartbeatSeconds (4000) must be less than TimeoutSeconds (3900)",
      ]);
    });

    it("the generated activity Task with HeartbeatSeconds equal to its TimeoutSeconds", () => {
      const definition = assembleWorkflowDefinition({ stages: [activityStage("manager", 600, 600)] });
      expect(validateDefinition(definition)).to.deep.equal([
        "state 'Approval manager': HeartbeatSeconds (600) must be less than TimeoutSeconds (600)",
      ]);
    });

    it("dev's generated activity Task with HeartbeatSeconds raised above its TimeoutSeconds, or without TimeoutSeconds", () => {
      const raised = copy(generated.dev);
      raised.States["Approval manager"].HeartbeatSeconds = 3601;
      expect(validateDefinition(raised)).to.deep.equal([
        "state 'Approval manager': HeartbeatSeconds (3601) must be less than TimeoutSeconds (3600)",
      ]);
      const unbounded = copy(generated.dev);
      delete unbounded.States["Approval manager"].TimeoutSeconds;
      expect(validateDefinition(unbounded)).to.deep.equal([
        "state 'Approval manager': waits for a callback or activity worker (Resource 'arn:aws:states:eu-west-1:123456789012:activity:sfn-approvals-dev-manager') but has no TimeoutSeconds, so it can wait up to a year",
        "state 'Approval manager': has HeartbeatSeconds (120) but no TimeoutSeconds",
      ]);
    });

    it("a waitForTaskToken task that never passes $$.Task.Token", () => {
      const message =
        "state 'Approval manager': a .waitForTaskToken task must pass $$.Task.Token in its Parameters (in a 'key.$' field), or nobody can ever answer it";
      expect(
        lintWith((d) => {
          delete d.States["Approval manager"].Parameters.Payload["taskToken.$"];
        }),
      ).to.deep.equal([message]);
      // A literal (non-".$") field passes the text "$$.Task.Token", not the token.
      expect(
        lintWith((d) => {
          const payload = d.States["Approval manager"].Parameters.Payload;
          delete payload["taskToken.$"];
          payload.taskToken = "$$.Task.Token";
        }),
      ).to.deep.equal([message]);
    });

    it("accepts sns:publish.waitForTaskToken passing the token inside an intrinsic (seed 004 style)", () => {
      const problems = lintWith((d) => {
        d.States["Approval manager"].Resource = "arn:aws:states:::sns:publish.waitForTaskToken";
        d.States["Approval manager"].Parameters = {
          TopicArn: "arn:aws:sns:eu-west-1:123456789012:approvals",
          "Message.$":
            "States.Format('Approve: https://example.com/approve?token={}', States.Base64Encode($$.Task.Token))",
        };
      });
      expect(problems).to.deep.equal([]);
    });

    it("a dangling Next", () => {
      const problems = lintWith((d) => {
        d.States["Approval manager"].Next = "Check managr";
      });
      expect(problems).to.include("state 'Approval manager': Next 'Check managr' names no state of this scope");
      expect(problems).to.include(
        "asl-validator MISSING_TRANSITION_TARGET: Missing 'StartAt'|'Next'|'Default' target: Check managr",
      );
      expect(problems).to.have.length(2);
    });

    it("a dangling Catch target, and the state it no longer reaches", () => {
      const problems = lintWith((d) => {
        d.States["Approval manager"].Catch[0].Next = "Nowhere";
      });
      expect(problems).to.include("state 'Approval manager': Catch[0].Next 'Nowhere' names no state of this scope");
      expect(problems).to.include("state 'Approval manager timed out': is not reachable from StartAt 'Read request'");
    });

    it("a dangling Choice rule Next and Default", () => {
      const problems = lintWith((d) => {
        d.States["Check manager"].Choices[1].Next = "Timed out at managr";
        d.States["Check manager"].Default = "Rejected at managr";
      });
      expect(problems).to.include(
        "state 'Check manager': Choices[1].Next 'Timed out at managr' names no state of this scope",
      );
      expect(problems).to.include("state 'Check manager': Default 'Rejected at managr' names no state of this scope");
    });

    it("an unreachable state", () => {
      const problems = lintWith((d) => {
        d.States.Orphan = { Type: "Succeed" };
      });
      expect(problems).to.include("state 'Orphan': is not reachable from StartAt 'Read request'");
    });

    it("a missing top-level TimeoutSeconds", () => {
      const problems = lintWith((d) => {
        delete d.TimeoutSeconds;
      });
      expect(problems).to.deep.equal(["top level: TimeoutSeconds is not set, so an execution can run for a year"]);
    });

    it("looks inside Parallel branches and Map item processors", () => {
      const waitWithoutTimeout = {
        Type: "Task",
        Resource: "arn:aws:states:::lambda:invoke.waitForTaskToken",
        Parameters: { FunctionName: FUNCTION_ARN, Payload: { "taskToken.$": "$$.Task.Token" } },
        End: true,
      };
      const definition = {
        StartAt: "Both",
        TimeoutSeconds: 3600,
        States: {
          Both: {
            Type: "Parallel",
            Branches: [
              { StartAt: "Fine", States: { Fine: { Type: "Pass", End: true } } },
              { StartAt: "Wait", States: { Wait: waitWithoutTimeout } },
            ],
            Next: "Each",
          },
          Each: {
            Type: "Map",
            ItemProcessor: {
              ProcessorConfig: { Mode: "INLINE" },
              StartAt: "Invoke",
              States: { Invoke: { Type: "Task", Resource: "arn:aws:states:::lambda:invokeActivity:foo", End: true } },
            },
            End: true,
          },
        },
      };
      expect(validateDefinition(definition)).to.deep.equal([
        "state 'Both' branch 1 > state 'Wait': waits for a callback or activity worker (Resource 'arn:aws:states:::lambda:invoke.waitForTaskToken') but has no TimeoutSeconds, so it can wait up to a year",
        "state 'Each' ItemProcessor > state 'Invoke': unknown service integration Resource 'arn:aws:states:::lambda:invokeActivity:foo' (known: arn:aws:states:::lambda:invoke, arn:aws:states:::lambda:invoke.waitForTaskToken, arn:aws:states:::sns:publish, arn:aws:states:::sns:publish.waitForTaskToken, arn:aws:states:::states:startExecution, arn:aws:states:::states:startExecution.sync:2, arn:aws:states:::aws-sdk:s3:putObject)",
      ]);
    });

    it("reports asl-validator's own schema errors", () => {
      const problems = lintWith((d) => {
        d.States["Read request"].Type = "Passs";
      });
      expect(problems.some((p) => p.startsWith("asl-validator SCHEMA_VALIDATION_FAILED"))).to.equal(true);
    });

    it("does not modify the definition it checks", () => {
      const definition = copy(ONE_STAGE);
      validateDefinition(definition);
      expect(definition).to.deep.equal(copy(ONE_STAGE));
    });
  });
});

describe("workflow definition: execution length", () => {
  it("refuses stages whose waits add up beyond a Standard execution's year, naming them", () => {
    const { assembleWorkflowDefinition: assemble, stageTaskOptions: options } =
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require("../components/workflow/definition") as typeof import("../components/workflow/definition");
    const stageOf = (name: string, days: number) => ({
      stage: name,
      mechanism: "activity" as const,
      maxWaitSeconds: days * 86400,
      states: { [options(name).stateName]: { Type: "Pass" as const, Next: options(name).next } },
    });
    expect(() => assemble({ stages: [stageOf("a", 200), stageOf("b", 170)] })).to.throw(
      "The stages a (up to 200d), b (up to 170d) can wait 370 days in all, beyond a Standard execution's 365 days; shorten their timeouts",
    );
    expect(() => assemble({ stages: [stageOf("a", 200), stageOf("b", 160)] })).to.not.throw();
  });

  it("ApprovalWorkflow refuses them when it is constructed, before any stage's ARN is known (so `pulumi preview` does)", async () => {
    const never = new Promise<never>(() => undefined);
    const stage = (name: string, days: number): ApprovalStage => ({
      stage: name,
      mechanism: "email-link",
      maxWaitSeconds: days * 86400,
      stackOutput: pulumi.output({} as Record<string, string>),
      // States that never resolve, as in a first preview: the check must not wait for them.
      taskState: () => ({ states: pulumi.output(never), statements: pulumi.output(never) }),
      grantTaskResponse: () => undefined,
    });
    await runWithMocks("staging", {}, () => {
      expect(() => new ApprovalWorkflow("wf", { stages: [stage("a", 200), stage("b", 170)] })).to.throw(
        "The stages a (up to 200d), b (up to 170d) can wait 370 days in all, beyond a Standard execution's 365 days; shorten their timeouts",
      );
    });
  });
});
