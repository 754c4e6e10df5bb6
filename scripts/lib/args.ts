// A small, strict command-line parser: `--name value` options and `--flag` switches; anything
// unknown is an error with the usage text, never silently ignored. What it echoes back is made
// terminal-safe.
import { cell } from "./terminalFormat";

export class UsageError extends Error {}

export interface OptionSpec {
  /** Options that take a value. */
  values: string[];
  /** Switches without a value. */
  flags: string[];
}

export function parseArgs(argv: string[], spec: OptionSpec): { values: Record<string, string>; flags: Set<string> } {
  const values: Record<string, string> = {};
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const name = arg.startsWith("--") ? arg.slice(2).split("=")[0] : undefined;
    if (name === undefined) throw new UsageError(`unexpected argument '${cell(arg)}'`);
    const inline = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : undefined;
    if (spec.flags.includes(name)) {
      if (inline !== undefined) throw new UsageError(`--${cell(name)} takes no value`);
      flags.add(name);
    } else if (spec.values.includes(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined || (inline === undefined && value.startsWith("--"))) throw new UsageError(`--${cell(name)} needs a value`);
      values[name] = value;
    } else {
      throw new UsageError(`unknown option --${cell(name)}`);
    }
  }
  return { values, flags };
}

/**
 * parseArgs for commands that also take operands (words not starting with `--`), such as
 * `approvals list` or `approvals show ARN`: the operands are returned in order.
 */
export function parseArgsWithOperands(argv: string[], spec: OptionSpec): { values: Record<string, string>; flags: Set<string>; operands: string[] } {
  const options: string[] = [];
  const operands: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) {
      operands.push(arg);
      continue;
    }
    options.push(arg);
    const name = arg.slice(2).split("=")[0];
    if (!arg.includes("=") && spec.values.includes(name) && i + 1 < argv.length && !argv[i + 1].startsWith("--")) options.push(argv[++i]);
  }
  return { ...parseArgs(options, spec), operands };
}
