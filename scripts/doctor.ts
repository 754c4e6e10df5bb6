// npm run doctor -- (--stack STACK | --state-machine-arn ARN)
//
// Checks a deployed stack against live AWS and prints one line per check: its verdict, what it
// checked and, when it fails, the fix. Only reads (Describe/Get/List/Simulate); see docs/doctor.md.
import { UsageError, parseArgs } from "./lib/args";
import { CliIO, PROCESS_IO, isProgram } from "./lib/cliIO";
import { doctorClients } from "./lib/doctorClients";
import { exitCode, formatLine, runChecks } from "./lib/doctorChecks";
import { reportFailure } from "./lib/failures";
import { STATE_MACHINE_ARN_INSTEAD, StackOutputError, readStackOutputs } from "./lib/stackOutputs";
import { cell } from "./lib/terminalFormat";
import { STATE_MACHINE_ARN, WorkflowTarget, targetFromArn } from "./lib/workflowTarget";

const USAGE = `Usage: npm run doctor -- (--stack STACK | --state-machine-arn ARN)

  --stack STACK            check this stack (reads its outputs; needs the Pulumi CLI)
  --state-machine-arn ARN  check this state machine only: the checks that need the stack's
                           outputs say "not checked: needs --stack"
  --help                   this text

Prints one line per check: ok, FAIL (with the fix) or not checked. Changes nothing.
Exit codes: 0 every check holds; 1 a check failed; 2 could not check: usage, no credentials, no
such stack or state machine, or an AWS call a check needs was refused or failed.`;

async function command(argv: string[], io: CliIO): Promise<number> {
  const { values, flags } = parseArgs(argv, { values: ["stack", "state-machine-arn"], flags: ["help"] });
  if (flags.has("help")) {
    io.out(`${USAGE}\n`);
    return 0;
  }
  if (!values.stack === !values["state-machine-arn"])
    throw new UsageError("give either --stack or --state-machine-arn");
  let target: WorkflowTarget;
  let outputs: Record<string, unknown> | undefined;
  if (values.stack) {
    outputs = (await readStackOutputs(values.stack, STATE_MACHINE_ARN_INSTEAD)) as Record<string, unknown>;
    const arn = outputs.stateMachineArn;
    if (typeof arn !== "string" || !STATE_MACHINE_ARN.test(arn))
      throw new StackOutputError(
        `stack '${cell(values.stack)}' has no stateMachineArn output (is it deployed? 'pulumi up --stack ${cell(values.stack)}'); or pass --state-machine-arn`,
      );
    target = { ...targetFromArn(arn), stack: values.stack };
  } else {
    target = targetFromArn(values["state-machine-arn"]);
  }
  io.err(
    `Checking ${target.stateMachineName} (${target.region})${target.stack ? `, stack ${cell(target.stack)}` : ""}\n`,
  );
  const lines = await runChecks({
    clients: doctorClients(target.region),
    target,
    outputs,
    now: new Date(),
    progress: (text) => io.err(`  ${text}…\n`),
  });
  for (const line of lines) io.out(`${formatLine(line)}\n`);
  const code = exitCode(lines);
  const count = (verdict: string) => lines.filter((l) => l.verdict === verdict).length;
  io.out(`${count("ok")} ok, ${count("FAIL")} failed, ${count("not checked")} not checked\n`);
  return code;
}

/** The command with its arguments; prints to `through` and returns the exit code. */
export async function main(argv: string[], through: CliIO = PROCESS_IO): Promise<number> {
  try {
    return await command(argv, through);
  } catch (error) {
    // Usage, unreadable stack outputs, no credentials, no such state machine: nothing was checked.
    return reportFailure("doctor", error, USAGE, through.err);
  }
}

if (isProgram(__filename)) main(process.argv.slice(2)).then((code) => process.exit(code));
