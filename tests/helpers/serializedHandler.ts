// Runs the serialized code of a CallbackFunction (its __index.js, exactly as Pulumi would upload
// it) with `node` in a child process, like the Lambda runtime: only the archive's files, the AWS
// SDK resolved from node_modules as the runtime provides it, fake credentials and endpoints.
import { execFile } from "child_process";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { dirname, join, resolve } from "path";
import { ARCHIVE_FOLDER } from "./pulumiMocks";

export interface HandlerRun {
  ok: boolean;
  result?: any;
  error?: { name: string; message: string };
  /**
   * On an error, what the Lambda runtime makes of it: the error response it posts (what Step
   * Functions records as the Task's Cause and an on-failure destination as responsePayload), also
   * logged as "Invoke Error" with the error's enumerable fields. As in
   * aws/aws-lambda-nodejs-runtime-interface-client src/utils/error.ts (formatError, toFormatted).
   */
  response?: { errorType: string; errorMessage: string; trace: string[] };
  /** Everything the handler logged (stdout and stderr). */
  logs: string;
}

const RUNNER = `
const { handler } = require("./__index.js");
const event = JSON.parse(process.env.TEST_EVENT);
const report = (value) => process.stdout.write("\\n@@RESULT@@" + JSON.stringify(value) + "\\n");
const runtimeView = (e) => {
  if (!(e instanceof Error)) return { errorType: typeof e, errorMessage: String(e), trace: [] };
  const response = { errorType: e.name, errorMessage: e.message, trace: String(e.stack).split("\\n") };
  let formatted;
  try {
    formatted = JSON.stringify(e, (k, v) => v instanceof Error ? Object.assign({ errorType: v.name, errorMessage: v.message, code: v.code }, v, { stack: String(v.stack).split("\\n") }) : v);
  } catch {
    formatted = JSON.stringify(response);
  }
  console.error("Invoke Error \\t" + formatted);
  return response;
};
Promise.resolve()
  .then(() => handler(event, { functionName: "test", awsRequestId: "req-1" }))
  .then((result) => report({ ok: true, result }), (e) => report({ ok: false, error: { name: e && e.name, message: e && e.message }, response: runtimeView(e) }));
`;

export function writeArchive(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "sfn-approvals-lambda-"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    // A bundled package: linked in from node_modules, so the handler loads it from its own archive
    // (as in Lambda, where /var/task comes before the runtime's SDK on NODE_PATH).
    if (text.startsWith(ARCHIVE_FOLDER)) symlinkSync(resolve(text.slice(ARCHIVE_FOLDER.length)), join(dir, path), "dir");
    else writeFileSync(join(dir, path), text);
  }
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
