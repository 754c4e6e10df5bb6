// Which approval workflow a command works on: from a stack's outputs (`--stack`, which also tells
// each stage's mechanism and approvers) or from a state machine ARN (`--state-machine-arn`).
import { UsageError } from "./args";
import { StackOutputError, readStackOutputs } from "./stackOutputs";

export const STATE_MACHINE_ARN = /^arn:aws[a-z-]*:states:([a-z0-9-]+):(\d{12}):stateMachine:([^:\s]+)$/;
export const EXECUTION_ARN = /^arn:aws[a-z-]*:states:([a-z0-9-]+):(\d{12}):execution:([^:\s]+):([^:\s]+)$/;

/** What the stack outputs say about a stage (`stages[]` of index.ts). */
export interface StageInfo {
  name: string;
  mechanism?: string;
  /** IAM ARNs or email addresses; empty when the outputs do not say. */
  approvers: string[];
  timeout?: string;
}

export interface WorkflowTarget {
  stateMachineArn: string;
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
  const match = STATE_MACHINE_ARN.exec(arn);
  if (!match) throw new UsageError(`${option} '${arn}' is not a Step Functions state machine ARN (arn:aws:states:REGION:ACCOUNT:stateMachine:NAME)`);
  return { stateMachineArn: arn, stateMachineName: match[3], region: match[1], stages: [] };
}

function stagesFromOutputs(value: unknown): StageInfo[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((stage): StageInfo[] => {
    if (typeof stage !== "object" || stage === null || typeof (stage as { name?: unknown }).name !== "string") return [];
    const s = stage as Record<string, unknown>;
    return [{
      name: s.name as string,
      mechanism: typeof s.mechanism === "string" ? s.mechanism : undefined,
      approvers: Array.isArray(s.approvers) ? s.approvers.filter((a): a is string => typeof a === "string") : [],
      timeout: typeof s.timeout === "string" ? s.timeout : undefined,
    }];
  });
}

export async function targetFromStack(stack: string): Promise<WorkflowTarget> {
  const outputs = await readStackOutputs(stack);
  const arn = (outputs as { stateMachineArn?: unknown }).stateMachineArn;
  if (typeof arn !== "string" || !STATE_MACHINE_ARN.test(arn)) {
    throw new StackOutputError(`stack '${stack}' has no stateMachineArn output (is it deployed? 'pulumi up --stack ${stack}'); or pass --state-machine-arn`);
  }
  const threshold = (outputs as { autoApproveBelow?: unknown }).autoApproveBelow;
  return {
    ...targetFromArn(arn),
    stack,
    autoApproveBelow: typeof threshold === "number" ? threshold : undefined,
    stages: stagesFromOutputs(outputs.stages),
  };
}

/** `--stack STACK` or `--state-machine-arn ARN`, exactly one of them. */
export async function resolveTarget(values: Record<string, string>): Promise<WorkflowTarget> {
  if (!values.stack === !values["state-machine-arn"]) throw new UsageError("give either --stack or --state-machine-arn");
  return values.stack ? targetFromStack(values.stack) : targetFromArn(values["state-machine-arn"]);
}

export function stageInfo(target: WorkflowTarget | undefined, stage: string): StageInfo | undefined {
  return target?.stages.find((s) => s.name === stage);
}

/** The execution ARN for an execution name (or ARN) of the target's state machine. */
export function executionArnOf(target: WorkflowTarget, nameOrArn: string): string {
  const prefix = `${target.stateMachineArn.replace(":stateMachine:", ":execution:")}:`;
  if (!EXECUTION_ARN.test(nameOrArn)) {
    if (nameOrArn.includes(":")) throw new UsageError(`'${nameOrArn}' is neither an execution ARN nor an execution name`);
    return `${prefix}${nameOrArn}`;
  }
  if (!nameOrArn.startsWith(prefix)) throw new UsageError(`'${nameOrArn}' is not an execution of ${target.stateMachineArn}`);
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
    ? `npm run approvals -- --stack ${target.stack} show ${executionArn.split(":").pop()}`
    : `npm run approvals -- show ${executionArn}`;
}
