// Runs the serialized code of a CallbackFunction (its __index.js, exactly as Pulumi would upload
// it) with `node` in a child process, like the Lambda runtime: only the archive's files, the AWS
// SDK resolved from node_modules as the runtime provides it, fake credentials and endpoints.
import { execFile } from "child_process";
import { mkdtempSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";

export interface HandlerRun {
  ok: boolean;
  result?: any;
  error?: { name: string; message: string };
  /** Everything the handler logged (stdout and stderr). */
  logs: string;
}

const RUNNER = `
const { handler } = require("./__index.js");
const event = JSON.parse(process.env.TEST_EVENT);
const report = (value) => process.stdout.write("\\n@@RESULT@@" + JSON.stringify(value) + "\\n");
Promise.resolve()
  .then(() => handler(event, { functionName: "test", awsRequestId: "req-1" }))
  .then((result) => report({ ok: true, result }), (e) => report({ ok: false, error: { name: e && e.name, message: e && e.message } }));
`;

export function writeArchive(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "sfn-approvals-lambda-"));
  for (const [path, text] of Object.entries(files)) writeFileSync(join(dir, path), text);
  writeFileSync(join(dir, "runner.js"), RUNNER);
  return dir;
}

export function invokeArchive(dir: string, event: unknown, env: Record<string, string>): Promise<HandlerRun> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ["runner.js"], {
      cwd: dir,
      timeout: 30000,
      env: {
        PATH: process.env.PATH ?? "",
        NODE_PATH: join(__dirname, "..", "..", "node_modules"),
        AWS_REGION: "eu-west-1",
        AWS_ACCESS_KEY_ID: "AKIAFAKEFORTESTS",
        AWS_SECRET_ACCESS_KEY: "fake-secret-for-tests",
        AWS_EC2_METADATA_DISABLED: "true",
        TEST_EVENT: JSON.stringify(event),
        ...env,
      },
    }, (error, stdout, stderr) => {
      const marker = stdout.lastIndexOf("@@RESULT@@");
      if (marker < 0) {
        reject(new Error(`handler process produced no result (${error?.message ?? "no error"}):\n${stdout}\n${stderr}`));
        return;
      }
      const report = JSON.parse(stdout.slice(marker + "@@RESULT@@".length).trim());
      resolve({ ...report, logs: stdout.slice(0, marker) + stderr });
    });
  });
}
