// Reads a stack's outputs with the Pulumi CLI (`pulumi stack output --json --stack NAME`).
import { execFile } from "child_process";
import { cell, truncate } from "./terminalFormat";

export class StackOutputError extends Error {}

export interface StageOutput {
  name: string;
  mechanism: string;
  [handle: string]: string;
}

export interface StackOutputs {
  stateMachineArn: string;
  /** What requests start: the workflow's alias (absent on stacks deployed before it). */
  aliasArn?: string;
  region: string;
  stages: StageOutput[];
  [key: string]: unknown;
}

/** What to pass instead of --stack, by command: the approval worker's activity, or the workflow's state machine. */
export const ACTIVITY_ARN_INSTEAD = "for the approval worker: --activity-arn, see 'aws stepfunctions list-activities'";
export const STATE_MACHINE_ARN_INSTEAD = "--state-machine-arn, see 'aws stepfunctions list-state-machines'";

/** `instead` says which option takes the ARN directly, for the command that reads the outputs. */
export function readStackOutputs(
  stack: string,
  instead = ACTIVITY_ARN_INSTEAD,
  pulumiCommand = process.env.PULUMI_COMMAND ?? "pulumi",
): Promise<StackOutputs> {
  const name = cell(stack);
  return new Promise((resolve, reject) => {
    execFile(
      pulumiCommand,
      ["stack", "output", "--json", "--stack", stack],
      { timeout: 60000 },
      (error, stdout, stderr) => {
        if (error && (error as NodeJS.ErrnoException).code === "ENOENT") {
          reject(
            new StackOutputError(
              `the Pulumi CLI ('${cell(pulumiCommand)}') is not installed or not on PATH; install it, or pass the ARN directly (${instead})`,
            ),
          );
        } else if (error) {
          reject(
            new StackOutputError(
              `could not read the outputs of stack '${name}': ${truncate(cell(stderr.trim() || error.message), 500)}`,
            ),
          );
        } else {
          let outputs: unknown;
          try {
            outputs = JSON.parse(stdout);
          } catch {
            reject(new StackOutputError(`'pulumi stack output --json --stack ${name}' did not print JSON`));
            return;
          }
          if (typeof outputs !== "object" || outputs === null || Array.isArray(outputs)) {
            const printed = outputs === null ? "null" : Array.isArray(outputs) ? "an array" : `a ${typeof outputs}`;
            reject(
              new StackOutputError(
                `'pulumi stack output --json --stack ${name}' printed ${printed}, not the stack's outputs (an object); or pass the ARN directly (${instead})`,
              ),
            );
            return;
          }
          resolve(outputs as StackOutputs);
        }
      },
    );
  });
}
