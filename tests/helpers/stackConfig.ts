// Stack config from the committed Pulumi.<stack>.yaml files, in the shape setAllConfig takes.
import { readFileSync } from "fs";
import { join } from "path";
import { parse } from "yaml";

export function stackConfig(stack: string, overrides: Record<string, unknown> = {}): Record<string, string> {
  const file = parse(readFileSync(join(__dirname, "..", "..", `Pulumi.${stack}.yaml`), "utf8")) as {
    config: Record<string, unknown>;
  };
  const merged = { ...file.config, ...overrides };
  return Object.fromEntries(
    Object.entries(merged)
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => [key, typeof value === "string" ? value : JSON.stringify(value)]),
  );
}
