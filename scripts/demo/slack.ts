// The sandbox's Slack, for a stack with a slack stage (npm run demo): the stage's real serialized
// start and interaction functions run against
// - a local Slack Web API on 127.0.0.1 (tests/helpers/fakeSlack.ts, in place of https://slack.com/api/
//   through SLACK_API_URL): it records chat.postMessage (also to an approver's ID: a direct
//   message), chat.update, chat.postEphemeral, chat.getPermalink, views.open and users.info and
//   answers as Slack documents them; any other method gets
//   `{ ok: false, error: "unknown_method" }` ("This method does not exist." in the error lists of
//   Slack's method pages, e.g. functions.completeError). Every call is printed, messages as a
//   terminal can show them;
// - a local Secrets Manager holding the stack's secret (GetSecretValue), whose value is the
//   stack's own SecretVersion: the bot token and signing secret the sandbox generates per process
//   and puts in the stack config in place of the stack's (never printed);
// - the interaction function's endpoint on 127.0.0.1 (POST /slack/interactions, an API Gateway
//   HTTP API event of payload format 2.0, as the stage's route sends it), which Slack's clicks reach
//   signed (./slackClick.ts), from the sandbox's prompts, --decide, or `npm run demo -- slack-click`.
// It is a sandbox, not Slack: nothing it shows proves Slack's behaviour.
import { randomBytes } from "crypto";
import { IncomingHttpHeaders, Server, createServer } from "http";
import { AddressInfo } from "net";
import { AwsError, FakeAws } from "../../tests/helpers/fakeAws";
import { FakeSlack, RecordedSlackCall, SlackUser, slackUser } from "../../tests/helpers/fakeSlack";
import type { RecordedResource } from "../../tests/helpers/pulumiMocks";
import type { InteractionAnswer } from "./slackClick";

/** The route Slack posts interactions to (components/mechanisms/slackApproval.ts SLACK_INTERACTIONS_PATH). */
export const INTERACTIONS_PATH = "/slack/interactions";
/** The workspace of a stack config that names none. */
export const SANDBOX_TEAM_ID = "T0SANDBOX";

/** The sandbox app's credentials: new per process (so the program under mocks runs once), never printed. */
export const SANDBOX_SLACK_APP = {
  botToken: `xoxb-sandbox-${randomBytes(12).toString("hex")}`,
  signingSecret: randomBytes(16).toString("hex"),
};

/** The number of slack stages in a stack config (its `sfn-approvals:stages` JSON). */
export function slackStageCount(config: Record<string, string>): number {
  try {
    const stages = JSON.parse(config["sfn-approvals:stages"] ?? "[]") as unknown;
    return Array.isArray(stages)
      ? stages.filter((s) => (s as { mechanism?: unknown })?.mechanism === "slack").length
      : 0;
  } catch {
    return 0;
  }
}

/**
 * The config with the sandbox app's bot token and signing secret in place of the stack's (which
 * `pulumi config set --secret` keeps encrypted, and which are real credentials), and a workspace
 * ID when it has none. Unchanged without a slack stage.
 */
export function withSandboxSlackApp(config: Record<string, string>): Record<string, string> {
  if (slackStageCount(config) === 0) return config;
  return {
    ...config,
    "sfn-approvals:slackTeamId": config["sfn-approvals:slackTeamId"] ?? SANDBOX_TEAM_ID,
    "sfn-approvals:slackBotToken": SANDBOX_SLACK_APP.botToken,
    "sfn-approvals:slackSigningSecret": SANDBOX_SLACK_APP.signingSecret,
  };
}

/**
 * Secrets Manager's GetSecretValue for the stack's secrets, each with its SecretVersion's value
 * (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html: SecretId
 * the ARN or name; ARN, Name, VersionId, SecretString, VersionStages, CreatedDate;
 * ResourceNotFoundException for an unknown secret).
 */
export class SandboxSecretsManager {
  private readonly secrets: Array<{ arn: string; name: string; value: string }> = [];

  constructor(resources: RecordedResource[]) {
    for (const secret of resources.filter((r) => r.type === "aws:secretsmanager/secret:Secret")) {
      // The mocks give each resource the id "<name>-id" (tests/helpers/pulumiMocks.ts).
      const version = resources.find(
        (r) => r.type === "aws:secretsmanager/secretVersion:SecretVersion" && r.inputs.secretId === `${secret.name}-id`,
      );
      const text = version?.inputs.secretString as unknown;
      // A Pulumi secret arrives under mocks as its wire form { <signature>, value }.
      const value = typeof text === "string" ? text : (text as { value?: unknown } | undefined)?.value;
      if (typeof value === "string")
        this.secrets.push({ arn: String(secret.state.arn), name: String(secret.state.name), value });
    }
  }

  serve(aws: FakeAws): void {
    aws.on("GetSecretValue", (body) => {
      const secret = this.secrets.find((s) => s.arn === body.SecretId || s.name === body.SecretId);
      if (!secret) return new AwsError("ResourceNotFoundException", "Secrets Manager can't find the specified secret.");
      return {
        ARN: secret.arn,
        Name: secret.name,
        VersionId: "00000000-0000-0000-0000-000000000001",
        SecretString: secret.value,
        VersionStages: ["AWSCURRENT"],
        CreatedDate: 1700000000,
      };
    });
  }
}

// ---- Block Kit as a terminal shows it ----

/** mrkdwn as plain terminal text: dates as their fallback, mentions as @ID, links as label (url), no bold marks, entities decoded. */
export function terminalText(mrkdwn: string): string {
  return mrkdwn
    .replace(/<!date\^\d+\^[^|>]*\|([^>]*)>/g, "$1")
    .replace(/<@([A-Z0-9]+)>/g, "@$1")
    .replace(/<#([A-Z0-9]+)(?:\|[^>]*)?>/g, "#$1")
    .replace(/<!(here|channel|everyone)>/g, "@$1")
    .replace(/<(https?:\/\/[^|>]+)\|([^>]+)>/g, (_, url: string, label: string) =>
      label === url ? url : `${label} (${url})`,
    )
    .replace(/<(https?:\/\/[^>]+)>/g, "$1")
    .replace(/\*([^*\n]+)\*/g, "$1")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

type TextObject = { type?: string; text?: string };
const textOf = (t: TextObject | undefined) =>
  t?.type === "mrkdwn" ? terminalText(String(t.text ?? "")) : String(t?.text ?? "");

/** A message's blocks as lines: the header underlined, fields as "Label: value", buttons as [ Label ]. */
export function renderMessage(text: string | undefined, blocks: unknown[] | undefined): string[] {
  if (!Array.isArray(blocks) || blocks.length === 0) return terminalText(text ?? "").split("\n");
  const lines: string[] = [];
  for (const raw of blocks) {
    const block = raw as {
      type?: string;
      text?: TextObject;
      fields?: TextObject[];
      elements?: Array<{ type?: string; text?: TextObject | string }>;
    };
    switch (block.type) {
      case "header": {
        const title = textOf(block.text);
        lines.push(title, "=".repeat(Math.min(Math.max(title.length, 3), 72)));
        break;
      }
      case "section":
        if (block.text) lines.push(...textOf(block.text).split("\n"));
        for (const field of block.fields ?? []) {
          const [label, ...value] = textOf(field).split("\n");
          lines.push(value.length > 0 ? `${label}: ${value.join(" ")}` : label);
        }
        break;
      case "actions":
        lines.push(
          (block.elements ?? [])
            .map((e) => (e.type === "button" ? `[ ${textOf(e.text as TextObject)} ]` : `(${e.type})`))
            .join("  "),
        );
        break;
      case "context":
        lines.push((block.elements ?? []).map((e) => textOf(e as TextObject)).join("  "));
        break;
      case "divider":
        lines.push("-".repeat(40));
        break;
      default:
        lines.push(`(a ${String(block.type)} block)`);
    }
  }
  return lines;
}

// ---- the local Slack and the interaction endpoint ----

/**
 * What the interaction endpoint hands the interaction function: an API Gateway HTTP API event of
 * payload format 2.0 (version, routeKey, rawPath, rawQueryString, lower-case headers,
 * requestContext.http, body, isBase64Encoded:
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html).
 */
export interface InteractionEvent {
  version: "2.0";
  routeKey: string;
  rawPath: string;
  rawQueryString: string;
  headers: Record<string, string>;
  requestContext: {
    http: { method: string; path: string; protocol: string; sourceIp: string; userAgent: string };
    routeKey: string;
    stage: string;
  };
  body: string;
  isBase64Encoded: boolean;
}
export interface InteractionResponse {
  statusCode: number;
  headers?: Record<string, string>;
  body?: string;
}
export type InteractionHandler = (event: InteractionEvent) => Promise<InteractionResponse>;

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const json = (status: number, value: unknown): Reply => ({
  status,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(value),
});

/** Any user ID that clicks is a member of the sandbox's workspace, named after its ID (no display name set). */
function sandboxUser(id: string, teamId: string): SlackUser {
  return slackUser(id, id.toLowerCase(), `Sandbox user ${id}`, "", teamId);
}

/** The fields of an interaction payload the endpoint reads to say what it is. */
interface PayloadFields {
  type?: unknown;
  trigger_id?: unknown;
  user?: { id?: unknown };
  team?: { id?: unknown };
  actions?: Array<{ action_id?: unknown; text?: { text?: unknown } }>;
  view?: { title?: { text?: unknown } };
}

/** A modal as views.open gets it: the fields shown. */
interface ViewArgument {
  callback_id?: unknown;
  title?: { text?: unknown };
  blocks?: Array<{ type?: unknown; optional?: unknown; label?: { text?: unknown } }>;
}

/** The arguments of the Web API calls the sandbox shows. */
interface CallArguments {
  channel?: unknown;
  ts?: unknown;
  thread_ts?: unknown;
  message_ts?: unknown;
  user?: unknown;
  text?: string;
  blocks?: unknown[];
  view?: ViewArgument;
}

/** The comment input of a modal. */
const inputOf = (view: ViewArgument | undefined) => view?.blocks?.find((b) => b?.type === "input");

/** The interaction payload of a form body `payload=<json>`, if it has one. */
function payloadOf(body: string): PayloadFields | undefined {
  try {
    const parsed = JSON.parse(new URLSearchParams(body).get("payload") ?? "") as unknown;
    return typeof parsed === "object" && parsed !== null ? (parsed as PayloadFields) : undefined;
  } catch {
    return undefined;
  }
}

export class SandboxSlack {
  readonly fake: FakeSlack;
  /** http://127.0.0.1:<port>/slack/interactions */
  interactionsUrl = "";
  /** http://127.0.0.1:<port>/sandbox/answers (what an interaction led to, by trigger_id) */
  answersUrl = "";
  private server?: Server;
  private reported = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly answers = new Map<string, InteractionAnswer>();

  constructor(
    private readonly say: (text: string) => void,
    readonly options: { teamId: string; channels: string[]; approvers: string[] },
  ) {
    this.fake = new FakeSlack({
      token: SANDBOX_SLACK_APP.botToken,
      teamId: options.teamId,
      teamName: "Sandbox workspace",
      teamDomain: "sandbox",
      channels: options.channels,
      users: options.approvers.map((id) => sandboxUser(id, options.teamId)),
    });
  }

  /** Starts the Web API and the interaction endpoint, whose requests `handler` answers. */
  async start(handler: InteractionHandler): Promise<void> {
    await this.fake.start();
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        this.route(req.method ?? "GET", req.url ?? "/", req.headers, Buffer.concat(chunks).toString("utf8"), handler)
          .catch((error: unknown) => json(500, { message: "Internal Server Error", error: String(error) }))
          .then((reply) => {
            res.writeHead(reply.status, reply.headers);
            res.end(reply.body);
          });
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.interactionsUrl = `${base}${INTERACTIONS_PATH}`;
    this.answersUrl = `${base}/sandbox/answers`;
  }

  /** Lets an interaction being answered finish (at most 5 s), then stops both servers. */
  async stop(): Promise<void> {
    await Promise.race([this.queue, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    await this.fake.stop();
  }

  private async route(
    method: string,
    rawUrl: string,
    headers: IncomingHttpHeaders,
    body: string,
    handler: InteractionHandler,
  ): Promise<Reply> {
    const url = new URL(rawUrl, "http://127.0.0.1");
    if (method === "GET" && url.pathname === "/sandbox/answers") {
      const answer = this.answers.get(url.searchParams.get("trigger_id") ?? "");
      return answer ? json(200, answer) : json(404, { message: "no interaction with this trigger_id" });
    }
    // As API Gateway answers a route the API does not have.
    if (method !== "POST" || url.pathname !== INTERACTIONS_PATH) return json(404, { message: "Not Found" });
    // One interaction at a time, so the Slack calls made meanwhile are its own.
    const run = this.queue.then(() => this.interact(headers, body, handler));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async interact(headers: IncomingHttpHeaders, body: string, handler: InteractionHandler): Promise<Reply> {
    const payload = payloadOf(body);
    const user = typeof payload?.user?.id === "string" ? payload.user.id : undefined;
    if (user && /^[UW][A-Z0-9]{2,63}$/.test(user))
      this.fake.addUser(
        sandboxUser(user, typeof payload?.team?.id === "string" ? payload.team.id : this.options.teamId),
      );
    const what =
      payload?.type === "block_actions"
        ? `${user} clicks "${String(payload.actions?.[0]?.text?.text ?? payload.actions?.[0]?.action_id)}"`
        : payload?.type === "view_submission"
          ? `${user} submits the modal "${String(payload.view?.title?.text ?? "")}"`
          : "a request";
    this.say(`  Slack -> POST ${INTERACTIONS_PATH}: ${what} (signed) -> the interaction function (serialized archive)`);
    const event: InteractionEvent = {
      version: "2.0",
      routeKey: `POST ${INTERACTIONS_PATH}`,
      rawPath: INTERACTIONS_PATH,
      rawQueryString: "",
      headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)])),
      requestContext: {
        http: {
          method: "POST",
          path: INTERACTIONS_PATH,
          protocol: "HTTP/1.1",
          sourceIp: "127.0.0.1",
          userAgent: String(headers["user-agent"] ?? ""),
        },
        routeKey: `POST ${INTERACTIONS_PATH}`,
        stage: "$default",
      },
      // A form body arrives as text (as tests/helpers/pageServer.ts hands the page's form to it).
      body,
      isBase64Encoded: false,
    };
    let response: InteractionResponse;
    try {
      response = await handler(event);
    } catch (error) {
      // What API Gateway answers when the integration fails.
      this.say(`    the interaction function failed: ${(error as Error).message}`);
      response = { statusCode: 500, body: JSON.stringify({ message: "Internal Server Error" }) };
    }
    const text = response.body ?? "";
    this.say(`    it answers ${response.statusCode}${text ? `: ${text.slice(0, 300)}` : " (empty: acknowledged)"}`);
    const calls = this.report();
    const ok = (c: RecordedSlackCall) => c.answer?.ok === true;
    const update = calls.filter((c) => ok(c) && c.method === "chat.update").pop();
    const view = calls.find((c) => ok(c) && c.method === "views.open");
    const opened = view?.body as CallArguments | undefined;
    const input = inputOf(opened?.view);
    const answer: InteractionAnswer = {
      status: response.statusCode,
      body: text,
      ephemerals: calls
        .filter((c) => ok(c) && c.method === "chat.postEphemeral")
        .map((c) => terminalText(String((c.body as CallArguments).text ?? ""))),
      ...(view
        ? {
            modal: {
              id: String(view.answer.view.id),
              callbackId: String(opened?.view?.callback_id),
              title: String(opened?.view?.title?.text ?? ""),
              label: String(input?.label?.text ?? ""),
              optional: input?.optional === true,
            },
          }
        : {}),
      ...(update
        ? { message: renderMessage((update.body as CallArguments).text, (update.body as CallArguments).blocks) }
        : {}),
    };
    if (typeof payload?.trigger_id === "string") this.answers.set(payload.trigger_id, answer);
    return { status: response.statusCode, headers: response.headers ?? {}, body: text };
  }

  /** Prints the Web API calls the functions made since the last report; returns them. */
  report(): RecordedSlackCall[] {
    const calls = this.fake.calls.slice(this.reported);
    this.reported = this.fake.calls.length;
    for (const call of calls) for (const line of describeCall(call)) this.say(line);
    return calls;
  }
}

/** A Web API call as the terminal shows it. */
function describeCall(call: RecordedSlackCall): string[] {
  const args = call.body as CallArguments;
  if (call.answer?.ok !== true) {
    const error = typeof call.answer?.error === "string" ? call.answer.error : `HTTP ${call.status}`;
    if (error === "unknown_method")
      return [
        `  SLACK ${call.method}: a method the sandbox's Slack does not model; answered {"ok":false,"error":"unknown_method"}`,
      ];
    return [`  SLACK ${call.method} failed: ${error}`];
  }
  const quote = (lines: string[]) => lines.map((line) => `    | ${line}`);
  switch (call.method) {
    case "chat.postMessage":
      return [
        `  SLACK chat.postMessage to ${String(call.answer.channel)}${/^[UW]/.test(String(args.channel)) ? ` (a direct message to ${String(args.channel)})` : ""}${args.thread_ts ? ` (a reply in the thread of ${String(args.thread_ts)})` : ""}, as the app's bot (ts ${String(call.answer.ts)}):`,
        ...quote(renderMessage(args.text, args.blocks)),
      ];
    case "chat.update":
      return [
        `  SLACK chat.update of message ${String(args.ts)}: it now reads`,
        ...quote(renderMessage(args.text, args.blocks)),
      ];
    case "chat.postEphemeral":
      return [`  SLACK ephemeral to ${String(args.user)} (only they see it): ${terminalText(String(args.text ?? ""))}`];
    case "views.open": {
      const input = inputOf(args.view);
      return [
        `  SLACK views.open: the modal "${String(args.view?.title?.text ?? "")}" opens for the clicker: ${String(input?.label?.text ?? "")}${input?.optional ? " (optional)" : ""}`,
      ];
    }
    case "chat.getPermalink":
      return [`  SLACK chat.getPermalink of message ${String(args.message_ts)}: ${String(call.answer.permalink)}`];
    case "users.info":
      return [`  SLACK users.info ${String(args.user)}: ${String(call.answer.user?.real_name ?? "")}`];
    default:
      return [`  SLACK ${call.method}: ok`];
  }
}
