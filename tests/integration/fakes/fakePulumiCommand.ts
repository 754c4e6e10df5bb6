// The fake pulumi (fakePulumi.js) as the Automation API's PulumiCommand, run in this process: the
// same answers as the `pulumi` wrapper on PATH, without a process per command (node starts in
// about 0.3 s here, and a stack's life is ten commands). It implements what LocalWorkspace and
// Stack call on their PulumiCommand, `run(args, cwd, env, onOutput, onError, signal)`, which
// @pulumi/pulumi 3.270 keeps internal (automation/cmd.js); errors are made by the API's own
// createCommandError, so the suite sees what it sees from the real CLI.
import type { PulumiCommand } from "@pulumi/pulumi/automation";

/** Internal to @pulumi/pulumi (no types): the result and error classes its CLI runner uses. */
interface CommandResult {
  stdout: string;
  stderr: string;
  code: number;
}
// Pulumi's automation internals and the plain-JS fake have no ES module entry to import.
/* eslint-disable @typescript-eslint/no-require-imports */
const { CommandResult } = require("@pulumi/pulumi/automation/cmd") as {
  CommandResult: new (stdout: string, stderr: string, code: number) => CommandResult;
};
const { createCommandError } = require("@pulumi/pulumi/automation/errors") as {
  createCommandError: (result: CommandResult) => Error;
};

const { fakePulumi } = require("./fakePulumi.js") as {
  fakePulumi: (args: string[], dir: string) => { stdout: string; stderr: string; code: number };
};
/* eslint-enable @typescript-eslint/no-require-imports */

/** `upMs`: `pulumi up` takes this long, and a cancel (the API's SIGINT) ends it as Pulumi does. */
export function fakePulumiCommand(dir: string, options: { upMs?: number } = {}): PulumiCommand {
  const command = {
    command: "pulumi",
    // Read only for engine event logs (onEvent), which the suite does not use.
    version: null,
    async run(
      args: string[],
      _cwd: string,
      _env: Record<string, string>,
      onOutput?: (chunk: string) => void,
      onError?: (chunk: string) => void,
      signal?: AbortSignal,
    ): Promise<CommandResult> {
      if (args[0] === "up" && options.upMs) {
        onOutput?.("Updating:\n +  aws:kms:Key execution-data-key creating (0s)\n");
        const cancelled = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), options.upMs);
          signal?.addEventListener(
            "abort",
            () => {
              clearTimeout(timer);
              resolve(true);
            },
            { once: true },
          );
        });
        if (cancelled) {
          const result = new CommandResult("", "error: update canceled\n", 255);
          onError?.(result.stderr);
          throw createCommandError(result);
        }
      }
      // A tick later, as a process would answer.
      await new Promise((resolve) => setImmediate(resolve));
      const { stdout, stderr, code } = fakePulumi(args, dir);
      if (stdout) onOutput?.(stdout);
      if (stderr) onError?.(stderr);
      const result = new CommandResult(stdout, stderr, code);
      if (code !== 0) throw createCommandError(result);
      return result;
    },
  };
  return command as unknown as PulumiCommand;
}
