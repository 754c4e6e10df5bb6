// Runs the serialized code of a CallbackFunction (its __index.js, exactly as Pulumi would upload
// it) with `node` in a child process, like the Lambda runtime: only the archive's files, the AWS
// SDK resolved from node_modules as the runtime provides it, fake credentials and endpoints.
import { ChildProcess, spawn } from "child_process";
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

// A warm execution environment, as Lambda keeps one between invocations: the archive is loaded once,
// then each event arrives over IPC; its logs are what the process writes until the result marker
// (stdout) and the end marker (stderr). Module scope lives on between invocations, as in Lambda.
const RUNNER = `
const { handler } = require("./__index.js");
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
process.on("message", (event) => {
  const report = (value) => {
    process.stdout.write("\\n@@RESULT@@" + JSON.stringify(value) + "\\n");
    process.stderr.write("\\n@@END@@\\n");
  };
  Promise.resolve()
    .then(() => handler(event, { functionName: "test", awsRequestId: "req-1" }))
    .then((result) => report({ ok: true, result }), (e) => report({ ok: false, error: { name: e && e.name, message: e && e.message }, response: runtimeView(e) }));
});
process.on("disconnect", () => process.exit(0));
`;

export function writeArchive(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "sfn-approvals-lambda-"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    // A bundled package: linked in from node_modules, so the handler loads it from its own archive
    // (as in Lambda, where /var/task comes before the runtime's SDK on NODE_PATH).
    if (text.startsWith(ARCHIVE_FOLDER))
      symlinkSync(resolve(text.slice(ARCHIVE_FOLDER.length)), join(dir, path), "dir");
    else writeFileSync(join(dir, path), text);
  }
  writeFileSync(join(dir, "runner.js"), RUNNER);
  return dir;
}

const RESULT = "@@RESULT@@";
const END = "\n@@END@@\n";
const INVOKE_TIMEOUT_MS = 30000;

/** One warm environment: a node process running runner.js, busy with at most one event at a time. */
class Environment {
  readonly child: ChildProcess;
  busy = false;
  gone = false;
  private stdout = "";
  private stderr = "";
  private waiting?: { resolve(run: HandlerRun): void; reject(error: Error): void; timer: NodeJS.Timeout };

  constructor(dir: string, env: Record<string, string>) {
    this.child = spawn(process.execPath, ["runner.js"], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe", "ipc"] });
    this.child.stdout!.on("data", (chunk: Buffer) => {
      this.stdout += chunk.toString();
      this.settle();
    });
    this.child.stderr!.on("data", (chunk: Buffer) => {
      this.stderr += chunk.toString();
      this.settle();
    });
    this.child.on("exit", (code, signal) => {
      this.gone = true;
      this.fail(
        new Error(
          `handler process produced no result (exited with ${signal ?? code}):\n${this.stdout}\n${this.stderr}`,
        ),
      );
    });
    this.idle();
  }

  invoke(event: unknown): Promise<HandlerRun> {
    this.busy = true;
    this.active();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(
          new Error(
            `handler process produced no result within ${INVOKE_TIMEOUT_MS} ms:\n${this.stdout}\n${this.stderr}`,
          ),
        );
        this.child.kill();
      }, INVOKE_TIMEOUT_MS);
      this.waiting = { resolve, reject, timer };
      // Round-tripped through JSON, as Lambda passes events.
      this.child.send(JSON.parse(JSON.stringify(event)));
    });
  }

  private settle(): void {
    const marker = this.stdout.indexOf(RESULT);
    const resultEnd = marker < 0 ? -1 : this.stdout.indexOf("\n", marker);
    const end = this.stderr.indexOf(END);
    if (!this.waiting || resultEnd < 0 || end < 0) return;
    const report = JSON.parse(this.stdout.slice(marker + RESULT.length, resultEnd));
    const logs = this.stdout.slice(0, marker) + this.stderr.slice(0, end);
    this.stdout = this.stdout.slice(resultEnd + 1);
    this.stderr = this.stderr.slice(end + END.length);
    const { resolve, timer } = this.waiting;
    clearTimeout(timer);
    this.waiting = undefined;
    this.busy = false;
    this.idle();
    resolve({ ...report, logs });
  }

  private fail(error: Error): void {
    this.gone = true;
    if (!this.waiting) return;
    const { reject, timer } = this.waiting;
    clearTimeout(timer);
    this.waiting = undefined;
    reject(error);
  }

  /** An idle environment does not keep the test process alive. */
  private idle(): void {
    this.child.unref();
    (this.child.stdout as unknown as { unref(): void }).unref();
    (this.child.stderr as unknown as { unref(): void }).unref();
    (this.child as unknown as { channel?: { unref(): void } }).channel?.unref();
  }

  private active(): void {
    this.child.ref();
    (this.child.stdout as unknown as { ref(): void }).ref();
    (this.child.stderr as unknown as { ref(): void }).ref();
    (this.child as unknown as { channel?: { ref(): void } }).channel?.ref();
  }
}

/** Warm environments by archive and settings; a busy one gets a sibling, as Lambda scales out. */
const environments = new Map<string, Environment[]>();

export function invokeArchive(dir: string, event: unknown, env: Record<string, string>): Promise<HandlerRun> {
  const fullEnv = {
    PATH: process.env.PATH ?? "",
    NODE_PATH: join(__dirname, "..", "..", "node_modules"),
    AWS_REGION: "eu-west-1",
    AWS_ACCESS_KEY_ID: "AKIAFAKEFORTESTS",
    AWS_SECRET_ACCESS_KEY: "fake-secret-for-tests",
    AWS_EC2_METADATA_DISABLED: "true",
    // V8's code for the SDK, kept between runs (as fast as a warm start; the code run is the same).
    NODE_COMPILE_CACHE: join(__dirname, "..", "..", "node_modules", ".cache", "sfn-approvals", "v8"),
    ...env,
  };
  const key = `${dir}\n${JSON.stringify(fullEnv)}`;
  const pool = (environments.get(key) ?? []).filter((e) => !e.gone);
  environments.set(key, pool);
  let environment = pool.find((e) => !e.busy);
  if (!environment) {
    environment = new Environment(dir, fullEnv);
    pool.push(environment);
  }
  return environment.invoke(event);
}
