// The environment of a CLI run in a child process by the tests: no real credentials, no instance
// metadata, a fixed Region; endpoints and the rest come from `extra`.
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
