// A local HTTP server on 127.0.0.1 that speaks the AWS JSON protocol (X-Amz-Target) and the query
// protocol (form-encoded Action=..., XML answers, as STS and SNS use) of the services the code calls. Tests script each operation's answer and assert on the requests
// the handlers really sent.
import { AddressInfo } from "net";
import { IncomingHttpHeaders, Server, createServer } from "http";

export interface RecordedRequest {
  /** e.g. "AmazonSSM.StartAutomationExecution", "AWSStepFunctions.SendTaskSuccess" */
  target: string;
  /** The operation alone, e.g. "StartAutomationExecution". */
  operation: string;
  body: any;
  headers: IncomingHttpHeaders;
  /** When the request arrived (ms since the epoch). */
  at: number;
}

export class AwsError {
  constructor(readonly type: string, readonly message: string, readonly status = 400) {}
}

/** Returns the JSON answer; for query-protocol operations (STS), the XML text. */
export type OperationHandler = (body: any) => unknown | AwsError | Promise<unknown | AwsError>;

/** STS GetCallerIdentity's XML answer for `arn`. */
export function callerIdentityXml(arn: string, account = "123456789012"): string {
  return `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>${arn}</Arn><UserId>AROAEXAMPLE:session</UserId><Account>${account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata></GetCallerIdentityResponse>`;
}

/**
 * SNS Publish's XML answer. SNS speaks the query protocol (@aws-sdk/client-sns uses AwsQueryProtocol):
 * a Publish arrives as operation "Publish" with the form fields (TopicArn, Subject, Message) as body.
 */
export function snsPublishXml(messageId: string): string {
  return `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>${messageId}</MessageId></PublishResult><ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata></PublishResponse>`;
}

export class FakeAws {
  readonly requests: RecordedRequest[] = [];
  private readonly handlers = new Map<string, OperationHandler>();
  private server?: Server;
  url = "";

  /** Scripts the answer of an operation, by operation name (e.g. "SendTaskSuccess"). */
  on(operation: string, handler: OperationHandler): this {
    this.handlers.set(operation, handler);
    return this;
  }

  operations(): string[] {
    return this.requests.map((r) => r.operation);
  }

  reset(): void {
    this.requests.length = 0;
    this.handlers.clear();
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", async () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const query = String(req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded");
        let target = String(req.headers["x-amz-target"] ?? "");
        let body: any;
        if (query) {
          body = Object.fromEntries(new URLSearchParams(text));
          target = `query.${String(body.Action)}`;
        } else {
          try {
            body = text ? JSON.parse(text) : {};
          } catch {
            body = { unparsable: text };
          }
        }
        const operation = target.split(".").pop() ?? "";
        this.requests.push({ target, operation, body, headers: req.headers, at: Date.now() });
        const handler = this.handlers.get(operation);
        let answer: unknown;
        try {
          answer = handler ? await handler(body) : new AwsError("UnknownOperationException", `FakeAws has no handler for ${target || "(no X-Amz-Target)"}`);
        } catch (error) {
          answer = new AwsError("InternalFailure", String(error), 500);
        }
        if (query && !(answer instanceof AwsError)) {
          res.writeHead(200, { "content-type": "text/xml" });
          res.end(String(answer));
        } else if (answer instanceof AwsError && query) {
          res.writeHead(answer.status, { "content-type": "text/xml" });
          res.end(`<ErrorResponse><Error><Type>Sender</Type><Code>${answer.type}</Code><Message>${answer.message}</Message></Error><RequestId>fake</RequestId></ErrorResponse>`);
        } else if (answer instanceof AwsError) {
          res.writeHead(answer.status, { "content-type": "application/x-amz-json-1.1", "x-amzn-errortype": answer.type });
          res.end(JSON.stringify({ __type: answer.type, message: answer.message }));
        } else {
          res.writeHead(200, { "content-type": "application/x-amz-json-1.1" });
          res.end(JSON.stringify(answer ?? {}));
        }
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
