// The ephemeral Pulumi stack of one mechanism, driven with the Automation API on the project
// itself (workDir = the repository: Pulumi.yaml, index.ts and its node_modules). The stack's
// config file Pulumi.<stack>.yaml appears in the repository while the stack exists;
// removeStack deletes it again.
import { LocalWorkspace, OutputMap, Stack } from "@pulumi/pulumi/automation";
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { ConfigEntry } from "./lib/stackConfig";

export const REPO_ROOT = join(__dirname, "..", "..");

/** Where Pulumi's output of one stack goes: a log file, and the terminal with --verbose. */
export class PulumiLog {
  readonly path: string;
  private readonly fd: number;
  private pending = "";

  constructor(stackName: string, private readonly verbose: boolean) {
    const dir = join(tmpdir(), "sfn-approvals-it");
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, `${stackName}.log`);
    this.fd = openSync(this.path, "a");
  }

  /** For the Automation API's onOutput and onError: chunks, not necessarily whole lines. */
  readonly write = (chunk: string): void => {
    writeSync(this.fd, chunk);
    if (!this.verbose) return;
    this.pending += chunk;
    const lines = this.pending.split("\n");
    this.pending = lines.pop() ?? "";
    for (const line of lines) process.stdout.write(`    pulumi | ${line}\n`);
  };

  heading(text: string): void {
    writeSync(this.fd, `\n===== ${new Date().toISOString()} ${text}\n`);
  }

  /** The last lines written, for a failure report. */
  tail(lines: number): string[] {
    return readFileSync(this.path, "utf8").split("\n").filter((line) => line.trim() !== "").slice(-lines);
  }

  close(): void {
    if (this.pending) process.stdout.write(`    pulumi | ${this.pending}\n`);
    closeSync(this.fd);
  }
}

/** A new stack (never an existing one: createStack fails if the name is taken) with its config. */
export async function createStack(stackName: string, config: Record<string, ConfigEntry>): Promise<Stack> {
  const stack = await LocalWorkspace.createStack({ stackName, workDir: REPO_ROOT });
  try {
    await stack.setAllConfig(config);
  } catch (error) {
    // Nothing is deployed yet: leave no empty stack behind.
    await stack.workspace.removeStack(stackName).catch(() => undefined);
    throw error;
  }
  return stack;
}

export async function deploy(stack: Stack, log: PulumiLog): Promise<OutputMap> {
  log.heading(`pulumi up --stack ${stack.name}`);
  const result = await stack.up({ onOutput: log.write, onError: log.write, color: "never" });
  return result.outputs;
}

export async function destroyAndRemove(stack: Stack, log: PulumiLog): Promise<void> {
  log.heading(`pulumi destroy --stack ${stack.name}`);
  await stack.destroy({ onOutput: log.write, onError: log.write, color: "never" });
  log.heading(`pulumi stack rm ${stack.name}`);
  await stack.workspace.removeStack(stack.name);
}

/** What to run by hand when the suite could not (or was told not to) clean up. */
export function manualCleanup(stackName: string): string {
  return `pulumi destroy --stack ${stackName} --yes && pulumi stack rm ${stackName} --yes`;
}
