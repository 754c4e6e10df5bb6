// npm run demo [-- --stack STACK] [--decide approve|reject] [--input FILE]
// npm run demo -- slack-click --as USER approve|reject [--comment TEXT]   (a click in a running sandbox's Slack)
//
// The local sandbox: runs the stack's real workflow on this machine with no AWS account (see
// scripts/demo/sandbox.ts). It is a sandbox, not AWS: nothing it shows proves IAM permissions or
// AWS service behaviour.
import { Interface, createInterface } from "readline";
import { resolve } from "path";
import { parseArgs } from "util";
import { DEFAULT_EMAIL_DIR, NOT_AWS, knownStacks } from "./demo/basics";
import type { SandboxIO } from "./demo/sandbox";
import { slackClickMain } from "./demo/slackClick";

const USAGE = `Usage: npm run demo [-- [--stack STACK] [--decide approve|reject] [--input FILE]]

Runs the stack's workflow locally with no AWS account: the generated state machine on
aws-local-stepfunctions, the Lambda functions from their serialized archives, the approval page
on 127.0.0.1, emails printed and saved under ${DEFAULT_EMAIL_DIR.replace(`${process.cwd()}/`, "")}/, the approval
worker on the stage's activity. You answer each stage as its approvers would; the run ends with
the workflow's final output. A slack stage's message is printed as the local Slack shows it, and
its approvers click here or, from another terminal, with
  npm run demo -- slack-click --as USER approve|reject [--comment TEXT]
(--help after slack-click says more).

  --stack STACK            the stack whose Pulumi.<stack>.yaml is used (default dev; stacks: ${knownStacks().join(", ")})
  --decide approve|reject  answer every stage without a person (scripts, CI)
  --input FILE             the request (default examples/expense-report.json)
  --help                   this text

Exit codes: 0 approved, 1 not approved (rejected, timed out or failed), 2 a problem with the
sandbox itself or a usage error, 130 interrupted.

${NOT_AWS}.`;

class UsageError extends Error {}

const OPTIONS = {
  stack: { type: "string" },
  decide: { type: "string" },
  input: { type: "string" },
  help: { type: "boolean" },
} as const;

/** Edit distance (insertions, deletions, substitutions) between two short words. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

/** parseArgs's message, with the nearest option for a mistyped one. */
function usageMessage(error: Error & { code?: string }): string {
  const unknown =
    error.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" ? /'(-{1,2}[^']*)'/.exec(error.message)?.[1] : undefined;
  if (!unknown) return error.message;
  const word = unknown.replace(/^-+/, "").split("=")[0];
  const near = Object.keys(OPTIONS)
    .filter((name) => distance(word, name) <= 2)
    .sort((x, y) => distance(word, x) - distance(word, y))[0];
  return `unknown option ${unknown}${near ? ` (did you mean --${near}?)` : ""}`;
}

/**
 * The terminal: one readline per question, so the approval worker (a child process) can read the
 * terminal in between. Input that is not a terminal (a pipe) is read by one reader for the whole
 * run, so no answer is lost between questions.
 */
function terminal(): SandboxIO {
  const say = (text: string) => {
    process.stdout.write(`${text}\n`);
  };
  if (process.stdin.isTTY) {
    return {
      say,
      ask: (question) =>
        new Promise((resolve) => {
          const rl = createInterface({ input: process.stdin, output: process.stdout });
          let answered = false;
          rl.question(question, (answer) => {
            answered = true;
            rl.close();
            resolve(answer);
          });
          // Ctrl-C at a prompt stops the sandbox, as anywhere else (readline would only pause).
          rl.on("SIGINT", () => {
            rl.close();
            process.emit("SIGINT");
          });
          rl.on("close", () => {
            if (!answered) resolve(null);
          });
        }),
    };
  }
  let reader: Interface | undefined;
  const lines: string[] = [];
  const waiting: Array<(line: string | null) => void> = [];
  let ended = false;
  return {
    say,
    ask: (question) => {
      process.stdout.write(question);
      if (!reader) {
        reader = createInterface({ input: process.stdin });
        reader.on("line", (line) => {
          const next = waiting.shift();
          if (next) next(line);
          else lines.push(line);
        });
        reader.on("close", () => {
          ended = true;
          for (const next of waiting.splice(0)) next(null);
        });
      }
      if (lines.length > 0) return Promise.resolve(lines.shift()!);
      return ended ? Promise.resolve(null) : new Promise((resolve) => waiting.push(resolve));
    },
  };
}

export async function main(argv: string[], io: SandboxIO = terminal()): Promise<number> {
  if (argv[0] === "slack-click") return slackClickMain(argv.slice(1), io.say);
  let values: { stack?: string; decide?: string; input?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }));
    if (values.help) {
      io.say(USAGE);
      return 0;
    }
    if (values.decide !== undefined && values.decide !== "approve" && values.decide !== "reject")
      throw new UsageError(`--decide must be approve or reject, got '${values.decide}'`);
  } catch (error) {
    io.say(`demo: ${error instanceof UsageError ? error.message : usageMessage(error as Error)}\n\n${USAGE}`);
    return 2;
  }
  // Loaded only now: the program, the page and the fakes take seconds to load, --help none.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { runSandbox } = require("./demo/sandbox") as typeof import("./demo/sandbox");
  const result = await runSandbox({
    stack: values.stack ?? "dev",
    decide: values.decide as "approve" | "reject" | undefined,
    inputFile: values.input,
    io,
  });
  return result.code;
}

// Run as a program (ts-node, or node scripts/run.js, which sets argv[1] to this file), not when imported.
if (require.main === module || resolve(process.argv[1] ?? "") === __filename) {
  process.on("SIGINT", () => {
    process.stdout.write(`\nStopped (Ctrl-C): nothing more is decided.\n${NOT_AWS}\n`);
    process.exit(130);
  });
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`demo: ${(error as Error).message}\n${NOT_AWS}\n`);
      process.exit(2);
    },
  );
}
