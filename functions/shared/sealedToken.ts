// A task token kept at rest under a secret that only its holder has (an email link's code, a Slack
// request's key): AES-256-GCM with a key derived from the secret (HKDF-SHA256, a label per use),
// bound to the secret's SHA-256, the stage and the execution as associated data. A table reader
// without the secret gets no token; a sealed token opens only for its own stage and execution.
// Plain TypeScript with no Pulumi import: the handlers that use it are serialized into Lambdas.
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from "crypto";

/** SHA-256 of a secret, hex: what a table is keyed by instead of the secret itself. */
export function secretHash(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

function tokenKey(secret: string, label: string): Buffer {
  return Buffer.from(hkdfSync("sha256", Buffer.from(secret, "utf8"), Buffer.alloc(0), label, 32));
}

function associatedData(hash: string, stage: string, executionArn: string): Buffer {
  return Buffer.from(JSON.stringify([hash, stage, executionArn]), "utf8");
}

/** The token encrypted: base64 of iv (12) | ciphertext | tag (16). */
export function sealTokenUnder(
  secret: string,
  label: string,
  token: string,
  stage: string,
  executionArn: string,
): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", tokenKey(secret, label), iv);
  cipher.setAAD(associatedData(secretHash(secret), stage, executionArn));
  const sealed = Buffer.concat([cipher.update(token, "utf8"), cipher.final()]);
  return Buffer.concat([iv, sealed, cipher.getAuthTag()]).toString("base64");
}

/** The token back, or undefined when the secret, stage or execution does not match what was sealed. */
export function openTokenUnder(
  secret: string,
  label: string,
  sealed: string,
  stage: string,
  executionArn: string,
): string | undefined {
  const bytes = Buffer.from(sealed, "base64");
  if (bytes.length < 12 + 16 + 1) return undefined;
  try {
    const decipher = createDecipheriv("aes-256-gcm", tokenKey(secret, label), bytes.subarray(0, 12));
    decipher.setAAD(associatedData(secretHash(secret), stage, executionArn));
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    return Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]).toString("utf8");
  } catch {
    return undefined;
  }
}
