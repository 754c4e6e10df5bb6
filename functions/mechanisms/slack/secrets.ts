// The Slack app's secrets, read at run time from one Secrets Manager secret whose SecretString is
// JSON { "botToken": "xoxb-…", "signingSecret": "…" }, and cached in the warm function for
// SLACK_SECRETS_TTL_MS (AWS recommends client-side caching; a rotated value is picked up once the
// cached one expires). GetSecretValue (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html):
// request { SecretId } (the ARN or name), response SecretString (or SecretBinary, not used here);
// IAM action secretsmanager:GetSecretValue.
// Errors name the secret and the field, never a value: a JSON.parse message would quote the text.
// Plain TypeScript with no Pulumi import: the stage's functions are serialized with it.

/** How long a read secret is used before it is read again. */
export const SLACK_SECRETS_TTL_MS = 5 * 60 * 1000;

export interface SlackSecrets {
  botToken: string;
  signingSecret: string;
}

/** GetSecretValue's request, as the API reference names its fields. */
export interface GetSecretValueInput {
  SecretId: string;
}

/** What readSlackSecrets needs of a Secrets Manager client: `send(command)` answering GetSecretValue. */
export interface SecretsManagerLike {
  send(command: unknown): Promise<{ SecretString?: string }>;
}

export interface ReadSlackSecretsOptions {
  /**
   * Builds the command sent to the client: the SDK's GetSecretValueCommand with
   * @aws-sdk/client-secrets-manager (secretsManagerClient.ts); the default `{ input }` suits a plain fake.
   */
  newCommand?: (input: GetSecretValueInput) => unknown;
  /** Milliseconds since the epoch (tests inject a clock). */
  now?: () => number;
  ttlMs?: number;
}

type CacheEntry = { expiresAt: number; value: Promise<SlackSecrets> };
// Pulumi's closure serialization cannot carry a Map (it arrives as an object without the Map's
// internal slots, so its methods throw): the cache is made on first use, where the function runs.
const CACHE_KEY = "__sfnApprovalsSlackSecrets";
function cache(): Map<string, CacheEntry> {
  const holder = globalThis as unknown as Record<string, Map<string, CacheEntry> | undefined>;
  return (holder[CACHE_KEY] ??= new Map());
}

/** Forgets every cached secret (tests). */
export function clearSlackSecretsCache(): void {
  cache().clear();
}

function secretError(code: "secret_invalid" | "secret_unavailable", message: string): Error {
  const error = new Error(message);
  Object.defineProperty(error, "name", { value: `Slack.${code}`, writable: true, configurable: true });
  return error;
}

/** The secrets in a SecretString, validated; errors name the field, never a value. */
export function parseSlackSecrets(secretString: unknown, secretId: string): SlackSecrets {
  const where = `The Slack secret ${secretId}`;
  if (typeof secretString !== "string" || secretString === "") {
    throw secretError("secret_invalid", `${where} has no SecretString (a JSON object with botToken and signingSecret)`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(secretString);
  } catch {
    throw secretError("secret_invalid", `${where} is not JSON (expected {"botToken": "xoxb-…", "signingSecret": "…"})`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw secretError("secret_invalid", `${where} is not a JSON object with botToken and signingSecret`);
  }
  const fields = parsed as Record<string, unknown>;
  const missing = ["botToken", "signingSecret"].filter((f) => typeof fields[f] !== "string" || fields[f] === "");
  if (missing.length > 0) {
    throw secretError("secret_invalid", `${where} has no ${missing.join(" and no ")} (a non-empty string)`);
  }
  const botToken = fields.botToken as string;
  const signingSecret = fields.signingSecret as string;
  // A bot token (https://docs.slack.dev/authentication/tokens): "xoxb-" and printable characters.
  if (!/^xoxb-[\x21-\x7e]+$/.test(botToken)) {
    throw secretError("secret_invalid", `${where}: botToken is not a bot token (it must start with xoxb-)`);
  }
  if (!/^[\x21-\x7e]+$/.test(signingSecret)) {
    throw secretError("secret_invalid", `${where}: signingSecret holds spaces or other unprintable characters`);
  }
  return { botToken, signingSecret };
}

async function read(client: SecretsManagerLike, secretId: string, command: unknown): Promise<SlackSecrets> {
  let answer: { SecretString?: string } | undefined;
  try {
    answer = await client.send(command);
  } catch (error) {
    // AWS's errors for GetSecretValue describe the request (ARN, permission), not the value.
    const e = error as { name?: unknown; message?: unknown };
    const name = typeof e?.name === "string" ? e.name : "Error";
    const message = typeof e?.message === "string" ? e.message : "";
    throw secretError("secret_unavailable", `Could not read the Slack secret ${secretId}: ${name}: ${message}`);
  }
  return parseSlackSecrets(answer?.SecretString, secretId);
}

/**
 * The bot token and signing secret in `secretId`, read once per TTL per warm function; concurrent
 * callers share one read, and a failed read is not cached.
 */
export function readSlackSecrets(
  client: SecretsManagerLike,
  secretId: string,
  options: ReadSlackSecretsOptions = {},
): Promise<SlackSecrets> {
  if (typeof secretId !== "string" || secretId === "") {
    return Promise.reject(secretError("secret_unavailable", "No Slack secret ID was given"));
  }
  const now = (options.now ?? Date.now)();
  const cached = cache().get(secretId);
  if (cached && cached.expiresAt > now) return cached.value;
  const newCommand = options.newCommand ?? ((input: GetSecretValueInput) => ({ input }));
  const value = read(client, secretId, newCommand({ SecretId: secretId }));
  const entry: CacheEntry = { expiresAt: now + (options.ttlMs ?? SLACK_SECRETS_TTL_MS), value };
  cache().set(secretId, entry);
  value.catch(() => {
    if (cache().get(secretId) === entry) cache().delete(secretId);
  });
  return value;
}
