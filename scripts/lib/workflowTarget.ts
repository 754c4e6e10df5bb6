// Which approval workflow a command works on: from a stack's outputs (`--stack`, which also tells
// each stage's mechanism and approvers) or from a state machine ARN (`--state-machine-arn`).
import { UsageError } from "./args";
import { STATE_MACHINE_ARN_INSTEAD, StackOutputError, readStackOutputs } from "./stackOutputs";
import { cell } from "./terminalFormat";
import { CONTROL_CHARACTERS, hasControlCharacters } from "../../functions/contract";

// Names hold no whitespace, ':' or control characters (Step Functions' naming rules).
const NAME = `[^:\\s${CONTROL_CHARACTERS}]+`;
export const STATE_MACHINE_ARN = new RegExp(`^arn:aws[a-z-]*:states:([a-z0-9-]+):(\\d{12}):stateMachine:(${NAME})$`);
/** A state machine ARN, unqualified or with a version number or alias name (what StartExecution takes). */
export const STARTABLE_ARN = new RegExp(
  `^(arn:aws[a-z-]*:states:([a-z0-9-]+):(\\d{12}):stateMachine:(${NAME}))(?::(${NAME}))?$`,
);
export const EXECUTION_ARN = new RegExp(`^arn:aws[a-z-]*:states:([a-z0-9-]+):(\\d{12}):execution:(${NAME}):(${NAME})$`);

/** What the stack outputs say about a stage (`stages[]` of index.ts). */
export interface StageInfo {
  name: string;
  mechanism?: string;
  /** IAM ARNs or email addresses; empty when the outputs do not say. */
  approvers: string[];
  timeout?: string;
}

export interface WorkflowTarget {
  /** Unqualified: executions of every version list and describe under it. */
  stateMachineArn: string;
  /** What StartExecution takes: the stack's alias (docs/rollout.md), or the ARN given. */
  startArn: string;
  /** For display: terminal-safe. */
  stateMachineName: string;
  /** The state machine's Region (from its ARN). */
  region: string;
  /** The stack it came from, when --stack was given. */
  stack?: string;
  autoApproveBelow?: number;
  /** In the workflow's order; empty when only the ARN is known. */
  stages: StageInfo[];
}

export function targetFromArn(arn: string, option = "--state-machine-arn"): WorkflowTarget {
  const match = STARTABLE_ARN.exec(arn);
  if (!match) {
    const control = hasControlCharacters(arn) ? "; it holds control characters" : "";
    throw new UsageError(
      `${option} '${cell(arn)}' is not a Step Functions state machine ARN (arn:aws:states:REGION:ACCOUNT:stateMachine:NAME)${control}`,
    );
  }
  return { stateMachineArn: match[1], startArn: arn, stateMachineName: cell(match[4]), region: match[2], stages: [] };
}

function stagesFromOutputs(value: unknown): StageInfo[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((stage): StageInfo[] => {
    if (typeof stage !== "object" || stage === null || typeof (stage as { name?: unknown }).name !== "string")
      return [];
    const s = stage as Record<string, unknown>;
    return [
      {
        name: s.name as string,
        mechanism: typeof s.mechanism === "string" ? s.mechanism : undefined,
        approvers: Array.isArray(s.approvers) ? s.approvers.filter((a): a is string => typeof a === "string") : [],
        timeout: typeof s.timeout === "string" ? s.timeout : undefined,
      },
    ];
  });
}

export async function targetFromStack(stack: string): Promise<WorkflowTarget> {
  const outputs = await readStackOutputs(stack, STATE_MACHINE_ARN_INSTEAD);
  const arn = (outputs as { stateMachineArn?: unknown }).stateMachineArn;
  if (typeof arn !== "string" || !STATE_MACHINE_ARN.test(arn)) {
    throw new StackOutputError(
      `stack '${cell(stack)}' has no stateMachineArn output (is it deployed? 'pulumi up --stack ${cell(stack)}'); or pass --state-machine-arn`,
    );
  }
  // Requests start through the alias; a stack deployed before it existed has none.
  const alias = (outputs as { aliasArn?: unknown }).aliasArn;
  const startArn = typeof alias === "string" && STARTABLE_ARN.exec(alias)?.[1] === arn ? alias : arn;
  const threshold = (outputs as { autoApproveBelow?: unknown }).autoApproveBelow;
  return {
    ...targetFromArn(arn),
    startArn,
    stack,
    autoApproveBelow: typeof threshold === "number" ? threshold : undefined,
    stages: stagesFromOutputs(outputs.stages),
  };
}

/** `--stack STACK` or `--state-machine-arn ARN`, exactly one of them. */
export async function resolveTarget(values: Record<string, string>): Promise<WorkflowTarget> {
  if (!values.stack === !values["state-machine-arn"])
    throw new UsageError("give either --stack or --state-machine-arn");
  return values.stack ? targetFromStack(values.stack) : targetFromArn(values["state-machine-arn"]);
}

export function stageInfo(target: WorkflowTarget | undefined, stage: string): StageInfo | undefined {
  return target?.stages.find((s) => s.name === stage);
}

/** The execution ARN for an execution name (or ARN) of the target's state machine. */
export function executionArnOf(target: WorkflowTarget, nameOrArn: string): string {
  const prefix = `${target.stateMachineArn.replace(":stateMachine:", ":execution:")}:`;
  if (hasControlCharacters(nameOrArn))
    throw new UsageError(
      `'${cell(nameOrArn)}' is neither an execution ARN nor an execution name: it holds control characters`,
    );
  if (!EXECUTION_ARN.test(nameOrArn)) {
    if (nameOrArn.includes(":"))
      throw new UsageError(`'${cell(nameOrArn)}' is neither an execution ARN nor an execution name`);
    return `${prefix}${nameOrArn}`;
  }
  if (!nameOrArn.startsWith(prefix))
    throw new UsageError(`'${cell(nameOrArn)}' is not an execution of ${target.stateMachineArn}`);
  return nameOrArn;
}

/** The Step Functions console page of an execution. */
export function consoleLink(executionArn: string): string {
  const region = executionArn.split(":")[3];
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}

/** The command that shows an execution later, for hints. */
export function showCommand(target: WorkflowTarget | undefined, executionArn: string): string {
  return target?.stack
    ? `npm run approvals -- --stack ${cell(target.stack)} show ${cell(executionArn.split(":").pop())}`
    : `npm run approvals -- show ${cell(executionArn)}`;
}
