// A small, strict command-line parser: `--name value` options and `--flag` switches; anything
// unknown is an error with the usage text, never silently ignored.
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
    if (name === undefined) throw new UsageError(`unexpected argument '${arg}'`);
    const inline = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : undefined;
    if (spec.flags.includes(name)) {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      flags.add(name);
    } else if (spec.values.includes(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined || (inline === undefined && value.startsWith("--"))) throw new UsageError(`--${name} needs a value`);
      values[name] = value;
    } else {
      throw new UsageError(`unknown option --${name}`);
    }
  }
  return { values, flags };
}
