// Command line of the integration suite: `npm run test:integration -- [options]`.
import { MECHANISMS, Mechanism } from "../../../functions/contract";

export const USAGE = `Usage: npm run test:integration -- [--mechanism NAME]... [--keep] [--verbose]

Deploys one ephemeral stack per approval mechanism (it-<mechanism>-<random>), starts an approval
with examples/expense-report.json, approves it through the mechanism's own API, checks the
execution's output, then destroys the stack and removes it from the workspace.

  --mechanism NAME   test only this mechanism (repeatable, or comma-separated): ${MECHANISMS.join(", ")}
                     default: all five, one after the other
  --keep             do not destroy the stacks (for debugging); the suite prints how to remove them
  --verbose          stream Pulumi's output (otherwise it goes to a log file, shown on failure)
  --help             this text

Needs the Pulumi CLI with a logged-in backend (and PULUMI_CONFIG_PASSPHRASE for a local one), AWS
credentials, and AWS_REGION (or AWS_DEFAULT_REGION). Email stages go to SFN_APPROVALS_IT_EMAIL
(default approvals-it@example.com); the suite decides them on the approval page itself.
Without the prerequisites it deploys nothing, says what is missing and exits 0.`;

export class SuiteUsageError extends Error {}

export interface SuiteOptions {
  mechanisms: Mechanism[];
  keep: boolean;
  verbose: boolean;
  help: boolean;
}

export function parseSuiteArgs(argv: string[]): SuiteOptions {
  const chosen: Mechanism[] = [];
  const options: SuiteOptions = { mechanisms: [], keep: false, verbose: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [name, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    const flag = (set: () => void) => {
      if (inline !== undefined) throw new SuiteUsageError(`${name} takes no value`);
      set();
    };
    switch (name) {
      case "--mechanism": {
        const value = inline ?? argv[++i];
        if (value === undefined || value === "" || (inline === undefined && value.startsWith("--"))) throw new SuiteUsageError("--mechanism needs a value");
        for (const item of value.split(",").map((part) => part.trim()).filter(Boolean)) {
          if (!(MECHANISMS as readonly string[]).includes(item)) throw new SuiteUsageError(`unknown mechanism '${item}': choose from ${MECHANISMS.join(", ")}`);
          if (!chosen.includes(item as Mechanism)) chosen.push(item as Mechanism);
        }
        break;
      }
      case "--keep": flag(() => { options.keep = true; }); break;
      case "--verbose": flag(() => { options.verbose = true; }); break;
      case "--help": case "-h": flag(() => { options.help = true; }); break;
      default: throw new SuiteUsageError(`unexpected argument '${arg}'`);
    }
  }
  // Always in the README's order, whatever order they were given in.
  options.mechanisms = chosen.length === 0 ? [...MECHANISMS] : MECHANISMS.filter((m) => chosen.includes(m));
  return options;
}
