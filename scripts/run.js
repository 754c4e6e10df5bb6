// Runs one of the project's TypeScript programs with plain node: node scripts/run.js FILE.ts [args].
// The npm scripts (approvals, start-approval, approval-worker) start the CLIs through it.
"use strict";
const { resolve } = require("path");

// TypeScript, and Node's compile cache (V8's code for the AWS SDK, kept between starts).
require("./register.js");

const file = process.argv[2];
if (!file || !file.endsWith(".ts")) {
  process.stderr.write("usage: node scripts/run.js FILE.ts [ARGS...]\n");
  process.exit(2);
}
// The program sees itself as argv[1] and its own arguments from argv[2] on, as under node FILE.
process.argv.splice(1, 2, resolve(file));
require(resolve(file));
