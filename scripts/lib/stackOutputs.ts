// Reads a stack's outputs with the Pulumi CLI (`pulumi stack output --json --stack NAME`).
import { execFile } from "child_process";

export class StackOutputError extends Error {}

export interface StageOutput {
  name: string;
  mechanism: string;
  [handle: string]: string;
}

export interface StackOutputs {
  stateMachineArn: string;
  region: string;
  stages: StageOutput[];
  [key: string]: unknown;
}

export function readStackOutputs(stack: string, pulumiCommand = process.env.PULUMI_COMMAND ?? "pulumi"): Promise<StackOutputs> {
  return new Promise((resolve, reject) => {
    execFile(pulumiCommand, ["stack", "output", "--json", "--stack", stack], { timeout: 60000 }, (error, stdout, stderr) => {
      if (error && (error as NodeJS.ErrnoException).code === "ENOENT") {
        reject(new StackOutputError(`the Pulumi CLI ('${pulumiCommand}') is not installed or not on PATH; install it, or pass the ARN directly (for the approval worker: --activity-arn, see 'aws stepfunctions list-activities')`));
      } else if (error) {
        reject(new StackOutputError(`could not read the outputs of stack '${stack}': ${stderr.trim() || error.message}`));
      } else {
        try {
          resolve(JSON.parse(stdout) as StackOutputs);
        } catch {
          reject(new StackOutputError(`'pulumi stack output --json --stack ${stack}' did not print JSON`));
        }
      }
    });
  });
}
