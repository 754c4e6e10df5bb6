// readSlackSecrets with a tiny Secrets Manager double: the GetSecretValue request it sends, the
// module-scope cache (one read per TTL, shared by concurrent callers, failures not cached, a new
// value after expiry), and errors that name the field but never a secret value.
import { expect } from "chai";
import {
  SLACK_SECRETS_TTL_MS,
  clearSlackSecretsCache,
  parseSlackSecrets,
  readSlackSecrets,
} from "../functions/mechanisms/slack/secrets";

const SECRET_ID = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:sfn-approvals/slack-AbCdEf";
const BOT_TOKEN = "xoxb-1111111111-2222222222222-SecretBotTokenValue0000";
const SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5";
const ROTATED_TOKEN = "xoxb-1111111111-2222222222222-RotatedBotTokenValue000";

/** Answers GetSecretValue with the queued SecretStrings (or errors), recording each command. */
function fakeSecretsManager(...answers: Array<string | Error | undefined>) {
  const commands: any[] = [];
  return {
    commands,
    send: async (command: any) => {
      commands.push(command);
      const answer = answers.length > 1 ? answers.shift() : answers[0];
      if (answer instanceof Error) throw answer;
      return answer === undefined ? {} : { SecretString: answer };
    },
  };
}

const json = (value: unknown) => JSON.stringify(value);
const good = json({ botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET });

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a failure");
}

/** Neither secret value (nor a piece of one) appears in the error. */
function expectNoSecret(error: Error, ...values: string[]) {
  const text = `${error.name} ${error.message} ${error.stack}`;
  for (const value of [BOT_TOKEN, SIGNING_SECRET, ...values]) {
    expect(text).to.not.include(value);
    expect(text).to.not.include(value.slice(5, 25));
  }
}

describe("Slack secrets from Secrets Manager", () => {
  let clock = 1_700_000_000_000;
  const now = () => clock;
  beforeEach(() => {
    clearSlackSecretsCache();
    clock = 1_700_000_000_000;
  });

  it("sends GetSecretValue { SecretId } and returns botToken and signingSecret", async () => {
    const client = fakeSecretsManager(good);
    expect(await readSlackSecrets(client, SECRET_ID, { now })).to.deep.equal({
      botToken: BOT_TOKEN,
      signingSecret: SIGNING_SECRET,
    });
    expect(client.commands).to.deep.equal([{ input: { SecretId: SECRET_ID } }]);
  });

  it("builds the command with newCommand when given (an SDK client's GetSecretValueCommand)", async () => {
    const client = fakeSecretsManager(good);
    await readSlackSecrets(client, SECRET_ID, { now, newCommand: (input) => ({ kind: "GetSecretValue", input }) });
    expect(client.commands).to.deep.equal([{ kind: "GetSecretValue", input: { SecretId: SECRET_ID } }]);
  });

  it("reads once per TTL: later and concurrent callers get the cached value", async () => {
    const client = fakeSecretsManager(good);
    const [a, b] = await Promise.all([
      readSlackSecrets(client, SECRET_ID, { now }),
      readSlackSecrets(client, SECRET_ID, { now }),
    ]);
    clock += SLACK_SECRETS_TTL_MS - 1;
    const c = await readSlackSecrets(client, SECRET_ID, { now });
    expect([a, b, c].every((s) => s.botToken === BOT_TOKEN)).to.equal(true);
    expect(client.commands).to.have.length(1);
    // Another secret is cached apart.
    await readSlackSecrets(client, "other-secret", { now });
    expect(client.commands.map((c) => c.input.SecretId)).to.deep.equal([SECRET_ID, "other-secret"]);
  });

  it("reads again once the TTL has passed, picking up a rotated value", async () => {
    const client = fakeSecretsManager(good, json({ botToken: ROTATED_TOKEN, signingSecret: SIGNING_SECRET }));
    expect((await readSlackSecrets(client, SECRET_ID, { now })).botToken).to.equal(BOT_TOKEN);
    clock += SLACK_SECRETS_TTL_MS;
    expect((await readSlackSecrets(client, SECRET_ID, { now })).botToken).to.equal(ROTATED_TOKEN);
    clock += 1000;
    expect((await readSlackSecrets(client, SECRET_ID, { now })).botToken).to.equal(ROTATED_TOKEN);
    expect(client.commands).to.have.length(2);
    expect(SLACK_SECRETS_TTL_MS).to.equal(5 * 60 * 1000);
  });

  it("a failed read is not cached: the next call reads again", async () => {
    const denied = Object.assign(new Error("User: arn:aws:sts::123456789012:assumed-role/fn is not authorized"), {
      name: "AccessDeniedException",
    });
    const client = fakeSecretsManager(denied, good);
    const error = await failure(readSlackSecrets(client, SECRET_ID, { now }));
    expect(error.name).to.equal("Slack.secret_unavailable");
    expect(error.message).to.equal(
      `Could not read the Slack secret ${SECRET_ID}: AccessDeniedException: ${denied.message}`,
    );
    expect((await readSlackSecrets(client, SECRET_ID, { now })).botToken).to.equal(BOT_TOKEN);
    expect(client.commands).to.have.length(2);
  });

  it("malformed JSON fails as Slack.secret_invalid without quoting the text", async () => {
    const malformed = `{"botToken": "${BOT_TOKEN}", "signingSecret": "${SIGNING_SECRET}"`;
    const error = await failure(readSlackSecrets(fakeSecretsManager(malformed), SECRET_ID, { now }));
    expect(error.name).to.equal("Slack.secret_invalid");
    expect(error.message).to.equal(
      `The Slack secret ${SECRET_ID} is not JSON (expected {"botToken": "xoxb-…", "signingSecret": "…"})`,
    );
    expectNoSecret(error);
    // Nothing cached: a fixed secret is read on the next call.
    expect((await readSlackSecrets(fakeSecretsManager(good), SECRET_ID, { now })).botToken).to.equal(BOT_TOKEN);
  });

  it("names the missing or wrong field, never its value", async () => {
    const cases: Array<[string | undefined, string]> = [
      [undefined, "has no SecretString (a JSON object with botToken and signingSecret)"],
      [json([BOT_TOKEN, SIGNING_SECRET]), "is not a JSON object with botToken and signingSecret"],
      [json({ signingSecret: SIGNING_SECRET }), "has no botToken (a non-empty string)"],
      [json({ botToken: BOT_TOKEN }), "has no signingSecret (a non-empty string)"],
      [json({ botToken: BOT_TOKEN, signingSecret: "" }), "has no signingSecret (a non-empty string)"],
      [json({ token: BOT_TOKEN, secret: SIGNING_SECRET }), "has no botToken and no signingSecret (a non-empty string)"],
      [json({ botToken: 42, signingSecret: SIGNING_SECRET }), "has no botToken (a non-empty string)"],
      [
        json({ botToken: "xoxp-1111111111-2222222222222-UserTokenNotBot000000", signingSecret: SIGNING_SECRET }),
        ": botToken is not a bot token (it must start with xoxb-)",
      ],
      [
        json({ botToken: `${BOT_TOKEN}\n`, signingSecret: SIGNING_SECRET }),
        ": botToken is not a bot token (it must start with xoxb-)",
      ],
      [
        json({ botToken: BOT_TOKEN, signingSecret: `${SIGNING_SECRET} ` }),
        ": signingSecret holds spaces or other unprintable characters",
      ],
    ];
    for (const [secretString, expected] of cases) {
      clearSlackSecretsCache();
      const error = await failure(readSlackSecrets(fakeSecretsManager(secretString), SECRET_ID, { now }));
      expect(error.name, String(secretString)).to.equal("Slack.secret_invalid");
      expect(error.message).to.equal(`The Slack secret ${SECRET_ID}${expected.startsWith(":") ? "" : " "}${expected}`);
      expectNoSecret(error, "UserTokenNotBot000000");
    }
  });

  it("parseSlackSecrets accepts exactly the two fields' values, ignoring other keys", () => {
    expect(
      parseSlackSecrets(json({ botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET, note: "x" }), "s"),
    ).to.deep.equal({ botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET });
  });

  it("refuses an empty secret ID without calling Secrets Manager", async () => {
    const client = fakeSecretsManager(good);
    expect((await failure(readSlackSecrets(client, "", { now }))).name).to.equal("Slack.secret_unavailable");
    expect(client.commands).to.deep.equal([]);
  });
});
