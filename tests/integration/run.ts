// npm run test:integration -- [--mechanism NAME]... [--keep] [--verbose] [--require] | --cleanup-stale
//
// The integration suite on real AWS (docs/integration.md): for each approval mechanism an
// ephemeral stack (it-<mechanism>-<random>) whose approver is a role the suite creates and
// assumes; three requests decided through the mechanism's real API as that role (approve, reject)
// or left to time out; each execution's output checked; the open questions of docs/unknowns.md
// printed and judged; everything it created removed again, also on Ctrl-C and SIGTERM. Without the
// Pulumi CLI, a backend, AWS credentials or a Region it deploys nothing, says what is missing and
// exits 0 (3 with --require or CI=true). Not part of `npm test` (no *.test.ts here): it needs an
// AWS account and takes minutes per mechanism. This file is only the command line: tests/integration/suite.ts.
import { runSuite } from "./suite";

function main(): void {
  // The AWS SDK's notice about future Node versions would interleave with the progress lines.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const controller = new AbortController();
  // Ctrl-C reaches `pulumi` (same process group) from the terminal; SIGTERM must be passed on.
  const stopPulumi = new AbortController();
  const live = new Set<string>();
  let interrupts = 0;
  let code = 130;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupts += 1;
    if (interrupts === 1) {
      code = signal === "SIGTERM" ? 143 : 130;
      process.stdout.write(
        `\n${signal}: stopping the current requests and removing what this run created (${signal} again leaves it behind).\n`,
      );
      controller.abort();
      if (signal === "SIGTERM") stopPulumi.abort();
      return;
    }
    for (const thing of live) process.stdout.write(`left behind: ${thing}\n`);
    if (live.size > 0)
      process.stdout.write("remove it later with: npm run test:integration -- --cleanup-stale --older-than 0m\n");
    process.exit(signal === "SIGTERM" ? 143 : 130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  runSuite(process.argv.slice(2), {
    write: (text) => {
      process.stdout.write(text);
    },
    signal: controller.signal,
    stopPulumi: stopPulumi.signal,
    live,
    interruptedCode: () => code,
  }).then(
    (exitCode) => process.exit(exitCode),
    (error: unknown) => {
      process.stderr.write(
        `test:integration: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exit(1);
    },
  );
}

main();
