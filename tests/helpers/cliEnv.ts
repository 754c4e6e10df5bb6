// The environment of a CLI run in a child process by the tests: no real credentials, no instance
// metadata, a fixed Region; endpoints and the rest come from `extra`.
import type { CliIO } from "../../scripts/lib/cliIO";

export function fakeAwsCliEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "/tmp",
    AWS_REGION: "eu-west-1",
    AWS_ACCESS_KEY_ID: "AKIAFAKEFORTESTS",
    AWS_SECRET_ACCESS_KEY: "fake-secret-for-tests",
    AWS_EC2_METADATA_DISABLED: "true",
    ...extra,
  };
}

/**
 * The arguments of `node` that start a CLI as `npm run <name>` does: scripts/run.js, whose cached
 * transpiled code keeps each start well under a second (ts-node took 1.5 to 2.5 s of CPU per run).
 */
export function cliArgs(script: "approvals" | "start-approval" | "approval-worker", args: string[] = []): string[] {
  return ["scripts/run.js", `scripts/${script}.ts`, ...args];
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** One in-process run at a time: a run owns process.env and the CLI's output while it lasts. */
let previousRun: Promise<unknown> = Promise.resolve();

/**
 * Runs a CLI's main in this process, as `node scripts/run.js` would run it with `env` as its whole
 * environment (process.env is swapped for the run and restored after), collecting what it prints.
 * For the cases about what the CLI does; the cases about the process itself (Ctrl-C, start-up,
 * credentials from the environment) start it for real (cliArgs).
 */
export function runInProcess(
  main: (argv: string[], io: CliIO) => Promise<number>,
  args: string[],
  env: Record<string, string | undefined>,
): Promise<CliResult> {
  const run = previousRun.then(async () => {
    const saved = { ...process.env };
    const replace = (values: Record<string, string | undefined>) => {
      for (const key of Object.keys(process.env)) delete process.env[key];
      for (const [key, value] of Object.entries(values)) if (value !== undefined) process.env[key] = value;
    };
    let stdout = "";
    let stderr = "";
    replace(env);
    try {
      const code = await main(args, {
        out: (text) => {
          stdout += text;
        },
        err: (text) => {
          stderr += text;
        },
      });
      return { code, stdout, stderr };
    } finally {
      replace(saved);
    }
  });
  previousRun = run.catch(() => undefined);
  return run;
}
