// A stack config problem: Pulumi prints a RunError's message without a stack trace.
import * as pulumi from "@pulumi/pulumi";

/** Every problem of the stack config at once, each naming the key, the bad value and what is allowed. */
export class ConfigError extends pulumi.RunError {
  constructor(readonly problems: string[]) {
    super(`Invalid sfn-approvals stack config:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}
