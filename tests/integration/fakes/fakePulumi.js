#!/usr/bin/env node
// A fake `pulumi` CLI for the offline tests of the integration suite (tests/integrationRun.test.ts):
// it answers the commands the Automation API of @pulumi/pulumi 3.270 runs (version, whoami,
// stack init/select/ls/rm/output/history, config set-all, up, destroy) from a state file, and
// logs every invocation. The test puts a `pulumi` wrapper on PATH that runs this file; the
// in-process tests run the same function through a PulumiCommand double (no process per call).
//
// FAKE_PULUMI_DIR holds:
//   scenario.json  { outputs: { <mechanism>: {...} }, failUp: [<mechanism>], stacks: { <name>: { lastUpdate } } }
//                  ("{{stack}}" in outputs becomes the stack name)
//   state.json     { stacks: { <name>: { config, outputs, resources, lastUpdate } } }, written here
//   calls.jsonl    one line per invocation: { args }
"use strict";
const fs = require("fs");
const path = require("path");

class Exit extends Error {}

/** Runs one command: { stdout, stderr, code }, as the CLI would print and exit. */
function fakePulumi(argv, dir) {
  const result = { stdout: "", stderr: "", code: 0 };
  try {
    run(
      argv.filter((arg) => arg !== "--non-interactive"),
      dir,
      result,
    );
  } catch (error) {
    if (!(error instanceof Exit)) throw error;
  }
  return result;
}

function run(args, dir, result) {
  fs.appendFileSync(path.join(dir, "calls.jsonl"), `${JSON.stringify({ args })}\n`);

  const read = (file, fallback) =>
    fs.existsSync(path.join(dir, file)) ? JSON.parse(fs.readFileSync(path.join(dir, file), "utf8")) : fallback;
  const scenario = read("scenario.json", {});
  const state = read("state.json", { stacks: {} });
  for (const [name, stack] of Object.entries(scenario.stacks ?? {}))
    state.stacks[name] ??= { config: {}, outputs: {}, resources: 3, ...stack };
  const save = () => fs.writeFileSync(path.join(dir, "state.json"), JSON.stringify(state, null, 2));
  const out = (text) => {
    result.stdout += text;
  };
  const fail = (text) => {
    result.stderr += `error: ${text}\n`;
    result.code = 255;
    throw new Exit();
  };
  const flag = (name) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const stackNamed = (name) => state.stacks[name] ?? fail(`no stack named '${name}' found`);
  const mechanismOf = (name) => /^it-(ssm-automation|codepipeline|activity|email-link|sns-callback)-/.exec(name)?.[1];

  const [command, sub] = args;
  if (command === "version") {
    out("v3.270.0\n");
  } else if (command === "whoami") {
    out(args.includes("--json") ? `${JSON.stringify({ user: "tester", url: `file://${dir}` })}\n` : "tester\n");
  } else if (command === "stack" && sub === "init") {
    const name = args[2];
    if (state.stacks[name]) fail(`stack '${name}' already exists`);
    state.stacks[name] = { config: {}, outputs: {}, resources: 0 };
    save();
    out(`Created stack '${name}'\n`);
  } else if (command === "stack" && sub === "select") {
    stackNamed(flag("--stack"));
  } else if (command === "stack" && sub === "ls") {
    out(
      `${JSON.stringify(Object.entries(state.stacks).map(([name, stack]) => ({ name, current: false, ...(stack.lastUpdate ? { lastUpdate: stack.lastUpdate } : {}), updateInProgress: false, resourceCount: stack.resources })))}\n`,
    );
  } else if (command === "stack" && sub === "rm") {
    const name =
      args
        .filter((arg) => !arg.startsWith("--"))
        .slice(2)
        .pop() ?? flag("--stack");
    const stack = stackNamed(name);
    if (stack.resources > 0) fail(`'${name}' still has resources; removal rejected`);
    delete state.stacks[name];
    save();
    out(`Stack '${name}' has been removed!\n`);
  } else if (command === "stack" && sub === "output") {
    out(`${JSON.stringify(stackNamed(flag("--stack")).outputs)}\n`);
  } else if (command === "stack" && sub === "history") {
    out("[]\n");
  } else if (command === "config" && sub === "set-all") {
    const stack = stackNamed(flag("--stack"));
    args.forEach((arg, i) => {
      if (arg !== "--plaintext" && arg !== "--secret") return;
      const pair = args[i + 1];
      const at = pair.indexOf("=");
      stack.config[pair.slice(0, at)] = pair.slice(at + 1);
    });
    save();
  } else if (command === "up") {
    const name = flag("--stack");
    const stack = stackNamed(name);
    const mechanism = mechanismOf(name);
    out(`Updating (${name}):\n`);
    out(" +  pulumi:pulumi:Stack sfn-approvals-" + name + " creating (0s)\n");
    out(" +  aws:kms:Key execution-data-key creating (0s)\n");
    out(" +  aws:kms:Key execution-data-key created (1s)\n");
    stack.resources = 2;
    stack.lastUpdate = new Date().toISOString();
    if ((scenario.failUp ?? []).includes(mechanism)) {
      out(" +  aws:iam:Role stage-it-start-role creating (0s)\n");
      save();
      result.stderr +=
        "error: update failed\n    aws:iam:Role (stage-it-start-role):\n    error: creating IAM Role (stage-it-start-role): operation error IAM: CreateRole, https response error StatusCode: 403, api error AccessDenied: not allowed by the fake\n";
      result.code = 255;
      throw new Exit();
    }
    const outputs = JSON.parse(JSON.stringify(scenario.outputs?.[mechanism] ?? {}).replaceAll("{{stack}}", name));
    stack.outputs = outputs;
    stack.resources = 40;
    save();
    out(" +  aws:sfn:StateMachine approvals-state-machine created (2s)\n");
    out(" +  pulumi:pulumi:Stack sfn-approvals-" + name + " created (3s)\n");
    out("Resources:\n    + 40 created\n");
  } else if (command === "destroy") {
    const name = flag("--stack");
    const stack = stackNamed(name);
    out(`Destroying (${name}):\n`);
    out(" -  aws:sfn:StateMachine approvals-state-machine deleted (1s)\n");
    if ((scenario.failDestroy ?? []).includes(mechanismOf(name))) {
      save();
      fail("destroy failed in the fake");
    }
    stack.resources = 0;
    stack.outputs = {};
    save();
    out(" -  pulumi:pulumi:Stack sfn-approvals-" + name + " deleted (0.1s)\n");
    out("Resources:\n    - 40 deleted\n");
  } else {
    fail(`the fake pulumi does not know '${args.join(" ")}'`);
  }
}

module.exports = { fakePulumi };

if (require.main === module) {
  const dir = process.env.FAKE_PULUMI_DIR;
  if (!dir) {
    process.stderr.write("error: FAKE_PULUMI_DIR is not set\n");
    process.exit(255);
  }
  const result = fakePulumi(process.argv.slice(2), dir);
  process.stdout.write(result.stdout);
  process.stderr.write(result.stderr);
  process.exitCode = result.code;
}
