// The ephemeral Pulumi stacks, driven with the Automation API on the project itself (workDir =
// the repository: Pulumi.yaml, index.ts and its node_modules). The Automation API runs the
// `pulumi` CLI it is given, by default the one on PATH (PulumiCommand.get() without a root,
// @pulumi/pulumi/automation/cmd.js); the suite asks for it once. A stack's config file
// Pulumi.<stack>.yaml appears in the repository while the stack exists; removeStack deletes it.
import { LocalWorkspace, OutputMap, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { ConfigEntry } from "./lib/stackConfig";
import { Interrupted, Writer, seconds } from "./progress";

export const REPO_ROOT = join(__dirname, "..", "..");

/** Where Pulumi's output of one stack goes: a log file, and the terminal with --verbose. */
export class PulumiLog {
  readonly path: string;
  private readonly fd: number;
  private pending = "";

  constructor(
    stackName: string,
    private readonly verbose: boolean,
    private readonly out: Writer,
  ) {
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
    for (const line of lines) this.out(`    pulumi | ${line}\n`);
  };

  heading(text: string): void {
    writeSync(this.fd, `\n===== ${new Date().toISOString()} ${text}\n`);
  }

  /** The last lines written, for a failure report. */
  tail(lines: number): string[] {
    return readFileSync(this.path, "utf8")
      .split("\n")
      .filter((line) => line.trim() !== "")
      .slice(-lines);
  }

  close(): void {
    if (this.pending) this.out(`    pulumi | ${this.pending}\n`);
    closeSync(this.fd);
  }
}

/**
 * Counts the resource operations Pulumi reports while it runs. Its non-interactive output has one
 * line per finished operation, e.g. " +  aws:iam:Role stage-it-start-role created (1s) ".
 */
export class OperationCounter {
  done = 0;
  last?: string;
  private pending = "";

  feed(chunk: string): void {
    this.pending += chunk;
    const lines = this.pending.split("\n");
    this.pending = lines.pop() ?? "";
    for (const line of lines) {
      const match =
        /^\s*[-+~]{1,3}\s+(\S+:\S+)\s+(\S+)\s+(created|updated|deleted|replaced|creating replacement|deleted original)\b/.exec(
          line,
        );
      if (match) {
        this.done += 1;
        this.last = `${match[1]} ${match[2]} ${match[3]}`;
      }
    }
  }
}

export interface StackOperationOptions {
  log: PulumiLog;
  /** Cancels the operation (interrupt); Pulumi gets SIGINT and stops gracefully. */
  signal: AbortSignal;
  timeoutMs: number;
  /** Called every `everyMs` while the operation runs. */
  progress: (text: string) => void;
  everyMs: number;
}

/** The operation ran into its timeout (the suite destroys what it created). */
export class StackTimeout extends Error {}

async function withProgress<T>(
  what: string,
  options: StackOperationOptions,
  run: (opts: {
    onOutput: (chunk: string) => void;
    onError: (chunk: string) => void;
    signal: AbortSignal;
  }) => Promise<T>,
): Promise<T> {
  const counter = new OperationCounter();
  const started = Date.now();
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), options.timeoutMs);
  const ticker = setInterval(() => {
    options.progress(
      `${what}: ${seconds(Date.now() - started)}, ${counter.done} resource operation(s) done${counter.last ? ` (last: ${counter.last})` : ""}`,
    );
  }, options.everyMs);
  const onOutput = (chunk: string) => {
    options.log.write(chunk);
    counter.feed(chunk);
  };
  try {
    return await run({
      onOutput,
      onError: options.log.write,
      signal: AbortSignal.any([options.signal, timeout.signal]),
    });
  } catch (error) {
    if (timeout.signal.aborted)
      throw new StackTimeout(`${what} did not finish within ${seconds(options.timeoutMs)}: cancelled`);
    if (options.signal.aborted) throw new Interrupted();
    throw error;
  } finally {
    clearTimeout(timer);
    clearInterval(ticker);
  }
}

/** The CLI every stack operation runs; asked for once (`pulumi version` checks it). */
export function pulumiCommand(): Promise<PulumiCommand> {
  return PulumiCommand.get();
}

/** A new stack (never an existing one: createStack fails if the name is taken) with its config. */
export async function createStack(
  stackName: string,
  config: Record<string, ConfigEntry>,
  command: PulumiCommand,
): Promise<Stack> {
  const stack = await LocalWorkspace.createStack({ stackName, workDir: REPO_ROOT }, { pulumiCommand: command });
  try {
    await stack.setAllConfig(config);
  } catch (error) {
    // Nothing is deployed yet: leave no empty stack behind.
    await stack.workspace.removeStack(stackName).catch(() => undefined);
    throw error;
  }
  return stack;
}

export async function deploy(stack: Stack, options: StackOperationOptions): Promise<OutputMap> {
  options.log.heading(`pulumi up --stack ${stack.name}`);
  const result = await withProgress("pulumi up", options, (opts) => stack.up({ ...opts, color: "never" }));
  return result.outputs;
}

export async function destroyAndRemove(stack: Stack, options: StackOperationOptions): Promise<void> {
  options.log.heading(`pulumi destroy --stack ${stack.name}`);
  await withProgress("pulumi destroy", options, (opts) => stack.destroy({ ...opts, color: "never" }));
  options.log.heading(`pulumi stack rm ${stack.name}`);
  await stack.workspace.removeStack(stack.name);
}

/** The stacks of the current backend and project (`pulumi stack ls --json`). */
export async function listStacks(
  command: PulumiCommand,
): Promise<Array<{ name: string; lastUpdate?: string; updateInProgress?: boolean }>> {
  const workspace = await LocalWorkspace.create({ workDir: REPO_ROOT, pulumiCommand: command });
  return workspace.listStacks();
}

export async function selectStack(stackName: string, command: PulumiCommand): Promise<Stack> {
  return LocalWorkspace.selectStack({ stackName, workDir: REPO_ROOT }, { pulumiCommand: command });
}

/** What to run by hand when the suite could not (or was told not to) clean up. */
export function manualCleanup(stackName: string): string {
  return `pulumi destroy --stack ${stackName} --yes && pulumi stack rm ${stackName} --yes (or: npm run test:integration -- --cleanup-stale --older-than 0m)`;
}
