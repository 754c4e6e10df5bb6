// What the sandbox's command line needs before the sandbox itself is loaded (its --help, its
// argument errors): loading the program, the page and the fakes takes seconds.
import { readdirSync } from "fs";
import { join } from "path";

export const NOT_AWS = "SANDBOX — not AWS: nothing here proves IAM permissions or AWS service behaviour";
export const ROOT = join(__dirname, "..", "..");
export const DEFAULT_INPUT = join(ROOT, "examples", "expense-report.json");
export const DEFAULT_EMAIL_DIR = join(ROOT, ".sandbox", "emails");

/** The stacks of this project: Pulumi.<stack>.yaml next to Pulumi.yaml. */
export function knownStacks(): string[] {
  return readdirSync(ROOT)
    .map((f) => /^Pulumi\.([^.]+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
}
