// Gathers the facts lib/prerequisites.ts judges: the Pulumi CLI and its backend login, the Region
// and AWS credentials (by calling STS, with a short timeout).
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { execFile } from "child_process";
import { existsSync } from "fs";
import { homedir } from "os";
import { join } from "path";
import { PrerequisiteFacts, Probe } from "./lib/prerequisites";

/** The CLI the Automation API runs: `pulumi` from PATH (PulumiCommand.get() without a root). */
export const PULUMI = "pulumi";
const STS_TIMEOUT_MS = 10000;

interface CommandResult {
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    // No update check: it would reach the network and print advice into our output.
    execFile(
      command,
      args,
      { timeout: timeoutMs, env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true" } },
      (error, stdout, stderr) => {
        if (error) reject(Object.assign(error, { stdout, stderr }));
        else resolve({ stdout, stderr });
      },
    );
  });
}

function commandError(command: string, error: unknown): string {
  const e = error as NodeJS.ErrnoException & { stderr?: string; killed?: boolean };
  if (e.code === "ENOENT") return `\`${command}\` is not on PATH (spawn ${command} ENOENT)`;
  if (e.killed) return `\`${command}\` did not answer in time`;
  const detail = (e.stderr ?? "").trim().split("\n").filter(Boolean).pop() ?? e.message;
  return detail.replace(/^error:\s*/i, "");
}

async function pulumiVersion(): Promise<Probe<{ version: string }>> {
  try {
    const { stdout } = await run(PULUMI, ["version"], 20000);
    return { ok: true, version: stdout.trim() };
  } catch (error) {
    return { ok: false, reason: commandError(PULUMI, error) };
  }
}

async function pulumiWhoami(): Promise<Probe<{ user: string; url?: string }>> {
  try {
    // `--json` is what the Automation API of @pulumi/pulumi 3.270 itself runs (LocalWorkspace.whoAmI).
    const { stdout } = await run(PULUMI, ["whoami", "--json", "--non-interactive"], 30000);
    const parsed = JSON.parse(stdout) as { user?: string; url?: string };
    return { ok: true, user: parsed.user ?? "?", url: parsed.url };
  } catch (error) {
    const unknownFlag =
      error instanceof SyntaxError || /unknown flag/i.test((error as { stderr?: string }).stderr ?? "");
    if (!unknownFlag) return { ok: false, reason: commandError(PULUMI, error) };
  }
  // A CLI without --json: `whoami --verbose` prints "User: ..." and "Backend URL: ...".
  try {
    const { stdout } = await run(PULUMI, ["whoami", "--verbose", "--non-interactive"], 30000);
    return {
      ok: true,
      user: /User:\s*(\S+)/.exec(stdout)?.[1] ?? stdout.trim(),
      url: /Backend URL:\s*(\S+)/.exec(stdout)?.[1],
    };
  } catch (error) {
    return { ok: false, reason: commandError(PULUMI, error) };
  }
}

/** The caller's identity with the default credential chain, or why it could not be had. */
export async function callerIdentity(region: string | undefined): Promise<Probe<{ arn: string; account: string }>> {
  const sts = new STSClient({
    region: region ?? "us-east-1",
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 3000, requestTimeout: 5000 },
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(Object.assign(new Error(`no answer within ${STS_TIMEOUT_MS / 1000} s`), { name: "Timeout" })),
        STS_TIMEOUT_MS,
      );
    });
    const identity = await Promise.race([sts.send(new GetCallerIdentityCommand({})), timeout]);
    if (!identity.Arn || !identity.Account) return { ok: false, reason: "STS returned no ARN" };
    return { ok: true, arn: identity.Arn, account: identity.Account };
  } catch (error) {
    const e = error as { name?: string; message?: string };
    return { ok: false, reason: `${e.name ?? "Error"}: ${(e.message ?? String(error)).split("\n")[0]}` };
  } finally {
    if (timer) clearTimeout(timer);
    sts.destroy();
  }
}

function credentialSources(): string[] {
  const env = [
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
  ].filter((key) => process.env[key]);
  const files = [
    process.env.AWS_SHARED_CREDENTIALS_FILE ?? join(homedir(), ".aws", "credentials"),
    process.env.AWS_CONFIG_FILE ?? join(homedir(), ".aws", "config"),
  ].filter((file) => existsSync(file));
  return [...env, ...files];
}

export function regionFromEnv(): PrerequisiteFacts["region"] {
  if (process.env.AWS_REGION) return { name: process.env.AWS_REGION, from: "AWS_REGION" };
  if (process.env.AWS_DEFAULT_REGION) return { name: process.env.AWS_DEFAULT_REGION, from: "AWS_DEFAULT_REGION" };
  return undefined;
}

export async function gatherPrerequisites(): Promise<PrerequisiteFacts> {
  const region = regionFromEnv();
  const [pulumiCli, aws] = await Promise.all([pulumiVersion(), callerIdentity(region?.name)]);
  return {
    pulumiCli,
    backend: pulumiCli.ok ? await pulumiWhoami() : undefined,
    passphraseSet:
      process.env.PULUMI_CONFIG_PASSPHRASE !== undefined || process.env.PULUMI_CONFIG_PASSPHRASE_FILE !== undefined,
    accessTokenSet: Boolean(process.env.PULUMI_ACCESS_TOKEN),
    region,
    aws,
    awsSources: credentialSources(),
  };
}
