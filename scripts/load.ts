// npm run load [-- --requests N] [--mechanism M] [--pipeline-concurrency C] [--json]
//
// The load run: N requests at once through each mechanism's real workflow, locally, against fakes
// that enforce the documented quotas (scripts/load/quotas.ts), with simulated approvers and
// simulated time (scripts/load/clock.ts). Progress on stderr; the table (or --json) on stdout.
// It is a model, not AWS: it shows which ceilings a burst reaches and that every request ends
// with a reason; it proves nothing about AWS itself.
import { resolve } from "path";
import { parseArgs } from "util";
import { MECHANISMS, Mechanism, MechanismReport, runLoad } from "./load/run";
import { defaultQuotas } from "./load/quotas";
import { reportTable } from "./load/report";

const USAGE = `Usage: npm run load [-- [--requests N] [--mechanism M] [--pipeline-concurrency C] [--json]]

Runs N requests at once (default 500) through the workflow of each mechanism (or only M: ${MECHANISMS.join(", ")})
on aws-local-stepfunctions, with the serialized functions and fakes enforcing AWS's documented quotas.
Approvers decide 5 to 60 simulated seconds after a request reached them. Time is simulated: function
runs take none, waits (approvers, Retry, timeouts, refills) pass at once when nothing else runs.

  --requests N               requests per mechanism (default 500)
  --mechanism M              one mechanism (default: all)
  --pipeline-concurrency C   CodePipeline executions in progress per pipeline (default 50: AWS documents no number we could read)
  --json                     the report as JSON
  --help                     this text

Exit codes: 0 no request lost, 1 a request was lost, 2 a usage error.`;

export async function main(argv: string[]): Promise<number> {
  let values: {
    requests?: string;
    mechanism?: string;
    "pipeline-concurrency"?: string;
    json?: boolean;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        requests: { type: "string" },
        mechanism: { type: "string" },
        "pipeline-concurrency": { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const requests = Number(values.requests ?? 500);
  const pipelineConcurrency = Number(values["pipeline-concurrency"] ?? 50);
  if (
    !Number.isInteger(requests) ||
    requests < 1 ||
    !Number.isInteger(pipelineConcurrency) ||
    pipelineConcurrency < 1
  ) {
    process.stderr.write(`--requests and --pipeline-concurrency take a whole number of at least 1\n`);
    return 2;
  }
  if (values.mechanism !== undefined && !MECHANISMS.includes(values.mechanism as Mechanism)) {
    process.stderr.write(`unknown mechanism '${values.mechanism}' (mechanisms: ${MECHANISMS.join(", ")})\n`);
    return 2;
  }
  const mechanisms = values.mechanism ? [values.mechanism as Mechanism] : [...MECHANISMS];
  const quotas = defaultQuotas(pipelineConcurrency);
  const reports: MechanismReport[] = [];
  for (const mechanism of mechanisms) {
    process.stderr.write(`${mechanism}: ${requests} requests...\n`);
    reports.push(
      await runLoad({ mechanism, requests, quotas, progress: (line) => process.stderr.write(`  ${line}\n`) }),
    );
  }
  process.stdout.write(
    values.json ? `${JSON.stringify({ quotas, reports }, null, 2)}\n` : `${reportTable(reports, quotas)}\n`,
  );
  return reports.some((r) => r.lost > 0) ? 1 : 0;
}

// Run as a program (node scripts/run.js sets argv[1] to this file), not when imported.
if (require.main === module || resolve(process.argv[1] ?? "") === __filename) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`load run failed: ${(error as Error).stack ?? String(error)}\n`);
      process.exit(2);
    },
  );
}
