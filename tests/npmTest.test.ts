// npm test's runner (scripts/test.js): `npm test -- FILE [-g WORDS]` runs that file only, or only
// its tests whose names hold WORDS, without the type check.
import { expect } from "chai";
import { execFileSync } from "child_process";
import { join } from "path";

describe("npm test -- FILE (scripts/test.js)", function () {
  this.timeout(60000);

  it("runs only that file, and with -g only the tests whose names match", () => {
    const root = join(__dirname, "..");
    const output = execFileSync(
      process.execPath,
      ["scripts/test.js", "tests/config.test.ts", "-g", "unknown key", "--reporter", "json"],
      { cwd: root, encoding: "utf8" },
    );
    const report = JSON.parse(output) as {
      stats: { tests: number; failures: number };
      tests: Array<{ fullTitle: string; file: string }>;
    };
    expect(report.stats.failures).to.equal(0);
    expect(report.stats.tests).to.be.greaterThan(0);
    expect([...new Set(report.tests.map((t) => t.file))]).to.deep.equal([join(root, "tests", "config.test.ts")]);
    for (const test of report.tests) expect(test.fullTitle).to.contain("unknown key");
  });
});
