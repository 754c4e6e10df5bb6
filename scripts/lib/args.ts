// The command-line parser of the CLIs: Node's util.parseArgs (`--name value`, `--name=value`,
// `--flag`), strict about what it accepts: anything unknown is an error with the usage text, never
// silently ignored, and a mistyped option names the nearest known one. What it echoes back is made
// terminal-safe.
import { parseArgs as nodeParseArgs } from "util";
import { cell } from "./terminalFormat";

export class UsageError extends Error {}

export interface OptionSpec {
  /** Options that take a value. */
  values: string[];
  /** Switches without a value. */
  flags: string[];
}

export interface ParsedArgs {
  values: Record<string, string>;
  flags: Set<string>;
  operands: string[];
}

/** Edit distance (insertions, deletions, substitutions, swaps of neighbours) between two names. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The known option a mistyped `name` most likely meant: close in spelling, or the one it starts or ends. */
export function nearestOption(name: string, known: string[]): string | undefined {
  const ranked = known
    .map((option) => ({ option, score: distance(name.toLowerCase(), option) }))
    .filter(
      ({ option, score }) =>
        score <= Math.max(1, Math.floor(option.length / 3)) ||
        (name.length >= 3 && (option.startsWith(name) || name.startsWith(option))),
    )
    .sort((a, b) => a.score - b.score);
  return ranked[0]?.option;
}

function parse(argv: string[], spec: OptionSpec, operandsAllowed: boolean): ParsedArgs {
  const options = Object.fromEntries([
    ...spec.values.map((name) => [name, { type: "string" as const }]),
    ...spec.flags.map((name) => [name, { type: "boolean" as const }]),
  ]);
  // Not strict: its tokens let each problem be named here, in the tools' own words.
  const { tokens } = nodeParseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  const values: Record<string, string> = {};
  const flags = new Set<string>();
  const operands: string[] = [];
  for (const token of tokens) {
    if (token.kind === "positional") {
      if (!operandsAllowed) throw new UsageError(`unexpected argument '${cell(token.value)}'`);
      operands.push(token.value);
    } else if (token.kind === "option-terminator") {
      if (!operandsAllowed) throw new UsageError("unexpected argument '--'");
    } else if (!token.rawName.startsWith("--")) {
      throw new UsageError(`unknown option ${cell(token.rawName)} (options start with --; see --help)`);
    } else if (spec.flags.includes(token.name)) {
      if (token.value !== undefined) throw new UsageError(`--${cell(token.name)} takes no value`);
      flags.add(token.name);
    } else if (spec.values.includes(token.name)) {
      // `--stack --once`: the next word is another option, not the value.
      if (token.value === undefined || (!token.inlineValue && token.value.startsWith("--")))
        throw new UsageError(`--${cell(token.name)} needs a value`);
      values[token.name] = token.value;
    } else {
      const near = nearestOption(token.name, [...spec.values, ...spec.flags]);
      throw new UsageError(`unknown option --${cell(token.name)}${near ? ` (did you mean --${near}?)` : ""}`);
    }
  }
  return { values, flags, operands };
}

/** `--name value` options and `--flag` switches, nothing else. */
export function parseArgs(argv: string[], spec: OptionSpec): { values: Record<string, string>; flags: Set<string> } {
  const { values, flags } = parse(argv, spec, false);
  return { values, flags };
}

/**
 * parseArgs for commands that also take operands (words not starting with `--`), such as
 * `approvals list` or `approvals show ARN`: the operands are returned in order.
 */
export function parseArgsWithOperands(argv: string[], spec: OptionSpec): ParsedArgs {
  return parse(argv, spec, true);
}
