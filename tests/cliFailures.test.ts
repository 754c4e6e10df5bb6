// The three CLIs (approvals, start-approval, approval-worker) meet the same causes alike: one
// message and one exit code per cause. The parser and the messages are checked in
// process; each cause once per tool as a real process (scripts/run.js, as npm run starts them).
import { expect } from "chai";
import { spawn } from "child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { UsageError, nearestOption, parseArgs, parseArgsWithOperands } from "../scripts/lib/args";
import { AwsCallError, EXIT_FAILURE, failureCause, failureMessage } from "../scripts/lib/failures";
import { RequestInputError } from "../scripts/lib/requestInput";
import { StackOutputError } from "../scripts/lib/stackOutputs";
import { cliArgs, fakeAwsCliEnv } from "./helpers/cliEnv";
import { AwsError, FakeAws } from "./helpers/fakeAws";

const ROOT = join(__dirname, "..");
const STATE_MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:sfn-approvals-prod";
const ACTIVITY = "arn:aws:states:eu-west-1:123456789012:activity:sfn-approvals-dev-manager";
const EXAMPLE = join(ROOT, "examples", "expense-report.json");
const SPEC = { values: ["stack", "state-machine-arn", "max"], flags: ["help", "once"] };

describe("CLI arguments (scripts/lib/args.ts, on util.parseArgs)", () => {
  const usageError = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      expect(error).to.be.instanceOf(UsageError);
      return (error as Error).message;
    }
    throw new Error("no usage error");
  };

  it("reads --name value, --name=value and --flag; the last of a repeated option wins", () => {
    const { values, flags } = parseArgs(["--stack", "dev", "--max=5", "--once", "--stack", "prod"], SPEC);
    expect(values).to.deep.equal({ stack: "prod", max: "5" });
    expect([...flags]).to.deep.equal(["once"]);
    expect(parseArgsWithOperands(["show", "--stack", "dev", "er-1"], SPEC)).to.deep.equal({
      values: { stack: "dev" },
      flags: new Set(),
      operands: ["show", "er-1"],
    });
  });

  it("refuses what it does not know, in the tools' words, naming the nearest option for a mistyped one", () => {
    expect(usageError(() => parseArgs(["--stak", "dev"], SPEC))).to.equal(
      "unknown option --stak (did you mean --stack?)",
    );
    expect(usageError(() => parseArgs(["--state-machine", "arn"], SPEC))).to.equal(
      "unknown option --state-machine (did you mean --state-machine-arn?)",
    );
    expect(usageError(() => parseArgs(["--onec"], SPEC))).to.equal("unknown option --onec (did you mean --once?)");
    expect(usageError(() => parseArgs(["--verbose"], SPEC))).to.equal("unknown option --verbose");
    expect(usageError(() => parseArgs(["-s", "dev"], SPEC))).to.equal(
      "unknown option -s (options start with --; see --help)",
    );
    expect(usageError(() => parseArgs(["--stack"], SPEC))).to.equal("--stack needs a value");
    expect(usageError(() => parseArgs(["--stack", "--once"], SPEC))).to.equal("--stack needs a value");
    expect(usageError(() => parseArgs(["--once=yes"], SPEC))).to.equal("--once takes no value");
    expect(usageError(() => parseArgs(["list"], SPEC))).to.equal("unexpected argument 'list'");
    expect(usageError(() => parseArgs(["--\u001b[31mbogus"], SPEC))).to.equal("unknown option --bogus");
    expect(parseArgs(["--stack=--odd"], SPEC).values).to.deep.equal({ stack: "--odd" });
  });

  it("suggests only a near option", () => {
    expect(nearestOption("activity", ["activity-arn", "stack"])).to.equal("activity-arn");
    expect(nearestOption("decied", ["decide", "comment"])).to.equal("decide");
    expect(nearestOption("x", ["max", "stack"])).to.equal(undefined);
    expect(nearestOption("bogus", ["stack", "input", "once"])).to.equal(undefined);
  });
});

describe("CLI failures (scripts/lib/failures.ts): one message and one exit code per cause", () => {
  const sdkError = (name: string, message: string, extra: object = {}) =>
    Object.assign(new Error(message), { name, ...extra });

  it("names each cause, whichever service the call went to", () => {
    const none = sdkError("CredentialsProviderError", "Could not load credentials from any providers");
    expect(failureCause(none)).to.equal("no-credentials");
    expect(failureCause(new AwsCallError("STS", none))).to.equal("no-credentials");
    expect(failureMessage(new AwsCallError("STS", none))).to.equal(failureMessage(none));
    expect(
      failureCause(
        sdkError("ExpiredTokenException", "The security token included in the request is expired", {
          $metadata: { httpStatusCode: 403 },
        }),
      ),
    ).to.equal("expired-credentials");
    expect(
      failureCause(sdkError("TokenProviderError", "The SSO session token is expired. Run aws sso login")),
    ).to.equal("expired-credentials");
    expect(failureCause(new StackOutputError("could not read the outputs of stack 'x'"))).to.equal("stack-outputs");
    // The tool's own words about a request file, path and all: nothing in them is redacted.
    const file =
      "the request in '/tmp/start-approval-Xq3ZpL/request-k2j4h5g6f7d8s9a0.json' is not a valid approval request";
    expect(failureMessage(new RequestInputError(file))).to.equal(file);
    expect(failureCause(sdkError("AccessDeniedException", "no", { $metadata: { httpStatusCode: 400 } }))).to.equal(
      "aws-refused",
    );
    expect(failureCause(sdkError("InternalFailure", "oops", { $metadata: { httpStatusCode: 500 } }))).to.equal(
      "aws-failed",
    );
    expect(
      failureCause(sdkError("Error", "connect ECONNREFUSED 127.0.0.1:9", { code: "ECONNREFUSED", $metadata: {} })),
    ).to.equal("unreachable");
    expect(
      failureMessage(
        new AwsCallError("STS", sdkError("Error", "getaddrinfo ENOTFOUND sts", { code: "ENOTFOUND", $metadata: {} })),
      ),
    ).to.equal("could not reach STS: Error (ENOTFOUND): getaddrinfo ENOTFOUND sts");
    expect(EXIT_FAILURE).to.equal(2);
  });
});

describe("the three CLIs alike (real processes against a fake endpoint)", function () {
  this.timeout(60000);
  const aws = new FakeAws();
  let url = "";
  const dir = mkdtempSync(join(tmpdir(), "cli-failures-"));
  // A fake `pulumi` that knows no stack, as the Pulumi CLI answers then (exit 255).
  const pulumi = join(dir, "pulumi");
  writeFileSync(pulumi, "#!/bin/sh\necho \"error: no stack named '$5' found\" >&2\nexit 255\n");
  chmodSync(pulumi, 0o755);
  const home = mkdtempSync(join(tmpdir(), "cli-failures-home-"));
  const noCredentials = {
    AWS_ACCESS_KEY_ID: undefined,
    AWS_SECRET_ACCESS_KEY: undefined,
    HOME: home,
    AWS_CONFIG_FILE: join(home, "config"),
    AWS_SHARED_CREDENTIALS_FILE: join(home, "credentials"),
  };

  before(async () => {
    url = await aws.start();
  });
  after(() => aws.stop());
  beforeEach(() => aws.reset());

  function run(
    tool: "approvals" | "start-approval" | "approval-worker",
    args: string[],
    extra: Record<string, string | undefined> = {},
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const env = Object.fromEntries(
      Object.entries({
        ...fakeAwsCliEnv({ AWS_ENDPOINT_URL_SFN: url, AWS_ENDPOINT_URL_STS: url, PULUMI_COMMAND: pulumi }),
        ...extra,
      }).filter(([, value]) => value !== undefined),
    ) as Record<string, string>;
    return new Promise((resolve) => {
      let stdout = "";
      let stderr = "";
      const child = spawn(process.execPath, cliArgs(tool, args), { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      child.on("exit", (code) => resolve({ code, stdout, stderr }));
    });
  }

  const TOOLS = {
    approvals: { byArn: ["--state-machine-arn", STATE_MACHINE], byStack: ["--stack", "nope", "list"] },
    "start-approval": {
      byArn: ["--state-machine-arn", STATE_MACHINE, "--input", EXAMPLE],
      byStack: ["--stack", "nope", "--input", EXAMPLE],
    },
    "approval-worker": { byArn: ["--activity-arn", ACTIVITY, "--once"], byStack: ["--stack", "nope", "--once"] },
  } as const;

  for (const [tool, args] of Object.entries(TOOLS) as Array<[keyof typeof TOOLS, (typeof TOOLS)[keyof typeof TOOLS]]>) {
    describe(tool, () => {
      it("no AWS credentials: the sign-in hint, exit 2, nothing sent", async () => {
        const result = await run(tool, [...args.byArn], noCredentials);
        expect(result.stderr).to.equal(
          `${tool}: no AWS credentials were found (CredentialsProviderError: Could not load credentials from any providers); ` +
            "sign in (e.g. aws sso login) or set AWS_PROFILE, then try again\n",
        );
        expect(result.code).to.equal(2);
        expect(aws.requests).to.have.length(0);
      });

      it("expired credentials (ExpiredTokenException): sign in again, exit 2", async () => {
        const expired = () =>
          new AwsError("ExpiredTokenException", "The security token included in the request is expired", 403);
        aws.on("ListExecutions", expired).on("StartExecution", expired).on("GetCallerIdentity", expired);
        const result = await run(tool, [...args.byArn]);
        expect(result.stderr).to.equal(
          `${tool}: your AWS credentials have expired (ExpiredTokenException: The security token included in the request is expired); ` +
            "sign in again (e.g. aws sso login), then try again\n",
        );
        expect(result.code).to.equal(2);
      });

      it("a stack that does not exist: Pulumi's answer, exit 2", async () => {
        const result = await run(tool, [...args.byStack]);
        expect(result.stderr).to.equal(
          `${tool}: could not read the outputs of stack 'nope': error: no stack named 'nope' found\n`,
        );
        expect(result.code).to.equal(2);
        expect(aws.requests).to.have.length(0);
      });

      it("a mistyped option: did you mean, the usage text, exit 2", async () => {
        const result = await run(tool, ["--stak", "nope"]);
        expect(result.stderr).to.match(
          new RegExp(`^${tool}: unknown option --stak \\(did you mean --stack\\?\\)\\n\\nUsage: npm run ${tool} -- `),
        );
        expect(result.code).to.equal(2);
      });
    });
  }
});
