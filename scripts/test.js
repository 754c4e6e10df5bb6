// npm test: the type check (tsc --noEmit) and every offline test (mocha, test files in parallel)
// side by side; it fails if either fails.
// npm test -- FILE... [MOCHA OPTIONS]: only those test files (no type check), e.g.
//   npm test -- tests/config.test.ts
//   npm test -- tests/config.test.ts -g "unknown key"
// Options alone (npm test -- -g "unknown key") run them over every test file.
"use strict";
const { spawn } = require("child_process");
const { existsSync, globSync } = require("fs");
const { availableParallelism, setPriority } = require("os");
const { join } = require("path");

const ROOT = join(__dirname, "..");
const ALL = "tests/**/*.test.ts";
const args = process.argv.slice(2);
// Test files that take longest (seconds, one file alone): mocha's workers take files in the order
// given, so these start first and none is left running alone at the end. The rest follow by name.
const SLOW_FIRST = [
  "tests/load.test.ts", // the slowest: its load runs take 22 s of CPU
  "tests/approvalWorker.test.ts", // 24 (tmux, real processes)
  "tests/approvalPageBrowser.test.ts", // 20 (headless Chromium)
  "tests/workflowDefinition.test.ts", // 16
  "tests/demo.test.ts", // 15
  "tests/awsValidators.test.ts", // 12
  "tests/sandboxSlack.test.ts", // 11
  "tests/iamSimulation.test.ts", // 10
  "tests/flows.test.ts", // 10
  "tests/ssoApprovers.test.ts", // 9
  "tests/program.test.ts", // 9
  "tests/approvalPage.test.ts", // 8
  "tests/integrationRun.test.ts", // 8
  "tests/followUps.test.ts", // 8
  "tests/codePipeline.test.ts", // 8
];
// Mocha workers: more than the cores, since many tests wait on child processes and timers.
const jobs = Number(process.env.SFN_APPROVALS_TEST_JOBS) || Math.max(2, availableParallelism()) + 1;

function run(script, scriptArgs, options) {
  const child = spawn(process.execPath, [require.resolve(script, { paths: [ROOT] }), ...scriptArgs], {
    cwd: ROOT,
    ...options,
  });
  const exited = new Promise((resolve) => child.on("close", (code, signal) => resolve(code ?? (signal ? 1 : 0))));
  return { child, exited };
}

/** Every test file, the slow ones first. */
function allTestFiles() {
  const found = globSync(ALL, { cwd: ROOT })
    .map((file) => file.split("\\").join("/"))
    .sort();
  const slow = SLOW_FIRST.filter((file) => found.includes(file));
  return [...slow, ...found.filter((file) => !slow.includes(file))];
}

function mochaArgs() {
  const files = args.filter((arg) => !arg.startsWith("-") && (arg.includes("*") || existsSync(join(ROOT, arg))));
  if (files.length === 1 && !files[0].includes("*")) return args;
  return ["--parallel", "--jobs", String(jobs), ...(files.length === 0 ? allTestFiles() : []), ...args];
}

async function main() {
  if (args.length > 0) return await run("mocha/bin/mocha.js", mochaArgs(), { stdio: "inherit" }).exited;

  const started = Date.now();
  // The type check waits for the tests' spare CPU: it has no timers to miss.
  const tsc = run(
    "typescript/bin/tsc",
    [
      "--noEmit",
      "--incremental",
      "--tsBuildInfoFile",
      "node_modules/.cache/sfn-approvals/tsconfig.tsbuildinfo",
      "-p",
      ".",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  try {
    setPriority(tsc.child.pid, 10);
  } catch {
    /* not allowed here: same priority */
  }
  let tscOutput = "";
  tsc.child.stdout.on("data", (chunk) => {
    tscOutput += chunk;
  });
  tsc.child.stderr.on("data", (chunk) => {
    tscOutput += chunk;
  });
  const mocha = run("mocha/bin/mocha.js", mochaArgs(), { stdio: "inherit" });
  const [tscCode, mochaCode] = await Promise.all([tsc.exited, mocha.exited]);
  const seconds = Math.round((Date.now() - started) / 1000);
  if (tscCode !== 0) process.stdout.write(`\n${tscOutput}\nType check (tsc --noEmit) FAILED.\n`);
  else process.stdout.write(`\nType check (tsc --noEmit): no errors.\n`);
  process.stdout.write(`Tests ${mochaCode === 0 ? "passed" : "FAILED"}; ${seconds} s in all.\n`);
  return tscCode !== 0 || mochaCode !== 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`${error.stack ?? error}\n`);
    process.exit(2);
  },
);
