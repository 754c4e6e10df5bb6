// Loaded by mocha before the tests (in each worker when they run in parallel).
import { Suite } from "mocha";

// Stack traces point into the .ts sources (scripts/register.js compiles with inline source maps).
process.setSourceMapsEnabled(true);

// "before all" hooks get 10 minutes, whatever the suite's limit: what they set up (the program
// under mocks, a browser, fake endpoints) takes longer on a busy machine, and a slow start is not a
// failure; the limit only ends a setup that hangs. Tests and teardown keep their own limits.
const SETUP_LIMIT_MS = 10 * 60 * 1000;
const beforeAll = Suite.prototype.beforeAll as (this: Suite, ...args: unknown[]) => unknown;
Object.assign(Suite.prototype, {
  beforeAll(this: Suite, ...args: unknown[]) {
    const hook = beforeAll.apply(this, args);
    // A pending suite returns itself instead of a hook.
    if (hook !== this && typeof (hook as { timeout?: unknown }).timeout === "function")
      (hook as { timeout(ms: number): void }).timeout(SETUP_LIMIT_MS);
    return hook;
  },
});

// Pulumi stack outputs and the handlers must not pick up a developer's real AWS settings.
for (const key of Object.keys(process.env)) {
  if (key.startsWith("AWS_")) delete process.env[key];
}
