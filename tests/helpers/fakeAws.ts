// A local HTTP server on 127.0.0.1 that speaks the AWS JSON protocol (X-Amz-Target) of the
// services the handlers call. Tests script each operation's answer and assert on the requests
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
}

export class AwsError {
  constructor(readonly type: string, readonly message: string, readonly status = 400) {}
}

export type OperationHandler = (body: any) => unknown | AwsError | Promise<unknown | AwsError>;

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
        const target = String(req.headers["x-amz-target"] ?? "");
        const operation = target.split(".").pop() ?? "";
        const text = Buffer.concat(chunks).toString("utf8");
        let body: any;
        try {
          body = text ? JSON.parse(text) : {};
        } catch {
          body = { unparsable: text };
        }
        this.requests.push({ target, operation, body, headers: req.headers });
        const handler = this.handlers.get(operation);
        let answer: unknown;
        try {
          answer = handler ? await handler(body) : new AwsError("UnknownOperationException", `FakeAws has no handler for ${target || "(no X-Amz-Target)"}`);
        } catch (error) {
          answer = new AwsError("InternalFailure", String(error), 500);
        }
        if (answer instanceof AwsError) {
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
