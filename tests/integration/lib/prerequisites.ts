// What the integration suite needs before it deploys anything, and the one line per item it prints.
// The facts are gathered by ../preflight.ts (Pulumi CLI, backend login, STS); this file only judges them.

export type Probe<T> = ({ ok: true } & T) | { ok: false; reason: string };

export interface PrerequisiteFacts {
  /** `pulumi version`. */
  pulumiCli: Probe<{ version: string }>;
  /** `pulumi whoami` (undefined when there is no CLI to ask). */
  backend?: Probe<{ user: string; url?: string }>;
  /** PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE is set (even empty). */
  passphraseSet: boolean;
  /** PULUMI_ACCESS_TOKEN is set (a Pulumi Cloud login without `pulumi login`). */
  accessTokenSet: boolean;
  /** AWS_REGION, else AWS_DEFAULT_REGION. */
  region?: { name: string; from: "AWS_REGION" | "AWS_DEFAULT_REGION" };
  /** STS GetCallerIdentity with the default credential chain. */
  aws: Probe<{ arn: string; account: string }>;
  /** Credential sources the environment names (env variables set, shared files present), for the message. */
  awsSources: string[];
}

export interface PrerequisiteLine {
  ok: boolean;
  item: string;
  text: string;
}

const REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d$/;

/** Backends other than Pulumi Cloud (file://, s3://, gs://, azblob://, postgres://) keep secrets with a passphrase. */
export function isDiyBackend(url: string | undefined): boolean {
  return url !== undefined && !/^https?:\/\//.test(url);
}

export function prerequisiteLines(facts: PrerequisiteFacts): PrerequisiteLine[] {
  const lines: PrerequisiteLine[] = [];
  const add = (ok: boolean, item: string, text: string) => lines.push({ ok, item, text });

  if (facts.pulumiCli.ok) {
    add(true, "Pulumi CLI", facts.pulumiCli.version);
  } else {
    add(
      false,
      "Pulumi CLI",
      `${facts.pulumiCli.reason}; install it (https://www.pulumi.com/docs/install/, e.g. \`curl -fsSL https://get.pulumi.com | sh\`) and put it on PATH (the @pulumi/pulumi npm package does not include it)`,
    );
  }

  const passphraseHow = "export PULUMI_CONFIG_PASSPHRASE=<any passphrase> (the test stacks hold no secrets)";
  if (!facts.backend) {
    if (facts.passphraseSet || facts.accessTokenSet) {
      add(
        true,
        "Pulumi backend",
        `not checked without the CLI; ${facts.passphraseSet ? "PULUMI_CONFIG_PASSPHRASE" : "PULUMI_ACCESS_TOKEN"} is set`,
      );
    } else {
      add(
        false,
        "Pulumi backend",
        `no logged-in backend (\`pulumi whoami\` needs the CLI) and PULUMI_CONFIG_PASSPHRASE is not set; after installing the CLI run \`pulumi login --local\` and ${passphraseHow}, or \`pulumi login\` to Pulumi Cloud`,
      );
    }
  } else if (!facts.backend.ok) {
    add(
      false,
      "Pulumi backend",
      `not logged in (\`pulumi whoami\`: ${facts.backend.reason}); run \`pulumi login --local\` and ${passphraseHow}, or \`pulumi login\` to Pulumi Cloud`,
    );
  } else if (isDiyBackend(facts.backend.url) && !facts.passphraseSet) {
    add(
      false,
      "Pulumi passphrase",
      `the backend ${facts.backend.url} keeps stack secrets with a passphrase and neither PULUMI_CONFIG_PASSPHRASE nor PULUMI_CONFIG_PASSPHRASE_FILE is set; ${passphraseHow}`,
    );
  } else {
    add(true, "Pulumi backend", `${facts.backend.user}${facts.backend.url ? ` at ${facts.backend.url}` : ""}`);
  }

  if (!facts.region) {
    add(
      false,
      "AWS Region",
      "neither AWS_REGION nor AWS_DEFAULT_REGION is set; export AWS_REGION=<the Region to deploy the test stacks in>, e.g. eu-west-1",
    );
  } else if (!REGION_PATTERN.test(facts.region.name)) {
    add(
      false,
      "AWS Region",
      `${facts.region.from} is '${facts.region.name}', which is not a Region name; export AWS_REGION=<a Region like eu-west-1>`,
    );
  } else {
    add(true, "AWS Region", `${facts.region.name} (from ${facts.region.from})`);
  }

  if (facts.aws.ok) {
    add(true, "AWS credentials", `${facts.aws.arn} (account ${facts.aws.account})`);
  } else {
    const seen =
      facts.awsSources.length > 0
        ? `; credential sources found: ${facts.awsSources.join(", ")}`
        : "; no credential source found in the environment or ~/.aws";
    const how =
      facts.awsSources.length > 0
        ? "check that they are valid and not expired (`aws sts get-caller-identity`, `aws sso login`) and that STS is reachable"
        : "export AWS_PROFILE=<profile> (set up with `aws configure` or `aws configure sso`), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN for temporary credentials)";
    add(false, "AWS credentials", `STS GetCallerIdentity failed (${facts.aws.reason})${seen}; ${how}`);
  }
  return lines;
}

export function formatPrerequisiteLine(line: PrerequisiteLine): string {
  return `  ${line.ok ? "ok      " : "missing "} ${line.item}: ${line.text}`;
}
