// Physical names of AWS resources. They start with a prefix that defaults to
// "<project>-<stack>", so two stacks, or two programs, in one account and Region never collide.
import * as pulumi from "@pulumi/pulumi";

export function defaultNamePrefix(): string {
  return `${pulumi.getProject()}-${pulumi.getStack()}`.replace(/[^A-Za-z0-9-]/g, "-");
}

/** Checks a physical name against the service's limit, with a message that says how to fix it. */
export function checkedName(
  component: string,
  what: string,
  name: string,
  maxLength: number,
  pattern = /^[A-Za-z0-9_-]+$/,
): string {
  if (name.length > maxLength || !pattern.test(name)) {
    throw new pulumi.RunError(
      `${component}: the ${what} name '${name}' must be at most ${maxLength} characters of ${pattern.source}; choose a shorter namePrefix or stage name`,
    );
  }
  return name;
}

/** A resource-name suffix for an email address that stays the same when other addresses change. */
export function emailSuffix(email: string): string {
  return email.toLowerCase().replace(/[^a-z0-9]+/g, "-");
}
