// Command line of the integration suite: `npm run test:integration -- [options]`.
import { IT_UNSUPPORTED, MECHANISMS, Mechanism } from "./stackConfig";

export const USAGE = `Usage: npm run test:integration -- [--mechanism NAME]... [--keep] [--verbose] [--require]
       npm run test:integration -- --cleanup-stale [--older-than DURATION]

Deploys one ephemeral stack per approval mechanism (it-<mechanism>-<random>) whose approver is a
role the suite creates and assumes; starts three requests on it and decides them as that role
through the mechanism's own API (approve, reject, and one left to time out), checks each
execution's output and what the open AWS questions of docs/unknowns.md turn out to be, then
destroys the stack and deletes the roles. See docs/integration.md.

  --mechanism NAME   test only this mechanism (repeatable, or comma-separated): ${MECHANISMS.join(", ")}
                     default: all five, one after the other (not slack: it needs a Slack workspace)
  --keep             do not destroy the stacks or delete the roles (for debugging); the suite prints how
  --verbose          stream Pulumi's output (otherwise it goes to a log file, shown on failure)
  --require          missing prerequisites fail the run (exit 3) instead of skipping it; CI=true does the same
  --cleanup-stale    remove what earlier runs left behind (it-* stacks of the Pulumi backend, the suite's
                     roles and inbox queues) that is older than --older-than (default 2h), then exit
  --help             this text

Needs the Pulumi CLI with a logged-in backend (and PULUMI_CONFIG_PASSPHRASE for a local one), AWS
credentials allowed what docs/integration.md lists, and AWS_REGION (or AWS_DEFAULT_REGION). Email
stages go to SFN_APPROVALS_IT_EMAIL (default approvals-it@example.com); the suite reads their
emails from an SQS queue it subscribes to the stage's topic.
Exit codes: 0 every check passed (or prerequisites missing without --require), 1 a check failed,
2 usage error, 3 prerequisites missing with --require or CI=true, 130/143 interrupted (SIGINT/SIGTERM).`;

export class SuiteUsageError extends Error {}

export interface SuiteOptions {
  mechanisms: Mechanism[];
  keep: boolean;
  verbose: boolean;
  help: boolean;
  /** Missing prerequisites fail the run. */
  require: boolean;
  /** Remove leftovers of earlier runs instead of testing. */
  cleanupStale: boolean;
  /** --cleanup-stale removes only what is older than this (ms). */
  olderThanMs: number;
}

export const DEFAULT_STALE_AFTER_MS = 2 * 60 * 60 * 1000;
const UNIT_MS: Record<string, number> = { m: 60 * 1000, h: 60 * 60 * 1000, d: 24 * 60 * 60 * 1000 };

export function parseSuiteArgs(argv: string[]): SuiteOptions {
  const chosen: Mechanism[] = [];
  const options: SuiteOptions = {
    mechanisms: [],
    keep: false,
    verbose: false,
    help: false,
    require: false,
    cleanupStale: false,
    olderThanMs: DEFAULT_STALE_AFTER_MS,
  };
  let olderThanGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [name, inline] =
      arg.startsWith("--") && arg.includes("=")
        ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
        : [arg, undefined];
    const flag = (set: () => void) => {
      if (inline !== undefined) throw new SuiteUsageError(`${name} takes no value`);
      set();
    };
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === "" || (inline === undefined && v.startsWith("--")))
        throw new SuiteUsageError(`${name} needs a value`);
      return v;
    };
    switch (name) {
      case "--mechanism": {
        for (const item of value()
          .split(",")
          .map((part) => part.trim())
          .filter(Boolean)) {
          const unsupported = (IT_UNSUPPORTED as Record<string, string | undefined>)[item];
          if (unsupported !== undefined)
            throw new SuiteUsageError(`mechanism '${item}' is not run by this suite: ${unsupported}`);
          if (!(MECHANISMS as readonly string[]).includes(item))
            throw new SuiteUsageError(`unknown mechanism '${item}': choose from ${MECHANISMS.join(", ")}`);
          if (!chosen.includes(item as Mechanism)) chosen.push(item as Mechanism);
        }
        break;
      }
      case "--older-than": {
        const text = value();
        const match = /^(\d{1,4})([mhd])$/.exec(text);
        if (!match)
          throw new SuiteUsageError(
            `--older-than '${text}' must be a whole number followed by m, h or d, like 0m, 30m or 2h`,
          );
        options.olderThanMs = Number(match[1]) * UNIT_MS[match[2]];
        olderThanGiven = true;
        break;
      }
      case "--keep":
        flag(() => {
          options.keep = true;
        });
        break;
      case "--verbose":
        flag(() => {
          options.verbose = true;
        });
        break;
      case "--require":
        flag(() => {
          options.require = true;
        });
        break;
      case "--cleanup-stale":
        flag(() => {
          options.cleanupStale = true;
        });
        break;
      case "--help":
      case "-h":
        flag(() => {
          options.help = true;
        });
        break;
      default:
        throw new SuiteUsageError(`unexpected argument '${arg}'`);
    }
  }
  if (olderThanGiven && !options.cleanupStale) throw new SuiteUsageError("--older-than goes with --cleanup-stale");
  if (options.cleanupStale && (chosen.length > 0 || options.keep))
    throw new SuiteUsageError("--cleanup-stale runs no tests: leave out --mechanism and --keep");
  // Always in the README's order, whatever order they were given in.
  options.mechanisms = chosen.length === 0 ? [...MECHANISMS] : MECHANISMS.filter((m) => chosen.includes(m));
  return options;
}
