// Loaded by mocha before the tests (in each worker when they run in parallel).
import { Suite } from "mocha";

// Stack traces point into the .ts sources (scripts/register.js compiles with inline source maps).
process.setSourceMapsEnabled(true);

// "before all" and "after all" hooks have no time limit: what they set up (the program under mocks,
// a browser, fake endpoints) takes longer on a busy machine, and a slow start is not a failure.
// Each test keeps its own limit (.mocharc.json, or the suite's this.timeout).
for (const kind of ["beforeAll", "afterAll"] as const) {
  const create = Suite.prototype[kind] as (this: Suite, ...args: unknown[]) => unknown;
  Object.assign(Suite.prototype, {
    [kind](this: Suite, ...args: unknown[]) {
      const hook = create.apply(this, args) as { timeout?: (ms: number) => void } | Suite;
      // A pending suite returns itself instead of a hook.
      if (hook !== this && typeof (hook as { timeout?: unknown }).timeout === "function") (hook as { timeout(ms: number): void }).timeout(0);
      return hook;
    },
  });
}

// Pulumi stack outputs and the handlers must not pick up a developer's real AWS settings.
for (const key of Object.keys(process.env)) {
  if (key.startsWith("AWS_")) delete process.env[key];
}
