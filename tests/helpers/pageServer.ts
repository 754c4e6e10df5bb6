// A local HTTP adapter on 127.0.0.1 for the approval page: each request becomes an API Gateway
// HTTP API (payload format 2.0) event as API Gateway builds it (method, decoded query parameters,
// lower-case headers, body), and the handler's response is written back as API Gateway would.
import { Server, createServer } from "http";
import { AddressInfo } from "net";
import { HttpEvent, HttpResponse } from "../../functions/mechanisms/email/approvalPage";
import { PAGE_PATH } from "../../functions/mechanisms/email/approvalLink";
import { invokeArchive } from "./serializedHandler";

export type PageHandler = (event: HttpEvent) => Promise<HttpResponse>;

export interface PageServer {
  /** http://127.0.0.1:<port>/decide */
  url: string;
  /** Every event the handler received, in order. */
  events: HttpEvent[];
  close(): Promise<void>;
}

export async function startPageServer(handler: PageHandler): Promise<PageServer> {
  const events: HttpEvent[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://localhost");
      // API Gateway routes only GET and POST /decide to the function (see components/mechanisms/approvalPage.ts).
      if (url.pathname !== PAGE_PATH || (req.method !== "GET" && req.method !== "POST")) {
        res.writeHead(404, { "content-type": "application/json" });
        res.end('{"message":"Not Found"}');
        return;
      }
      const body = Buffer.concat(chunks);
      const event: HttpEvent = {
        requestContext: {
          http: { method: req.method, sourceIp: "127.0.0.1", userAgent: String(req.headers["user-agent"] ?? "") },
        },
        queryStringParameters: url.search ? Object.fromEntries(url.searchParams) : undefined,
        headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
        // API Gateway base64-encodes bodies it does not treat as text; a form body arrives as text.
        body: body.length > 0 ? body.toString("utf8") : undefined,
        isBase64Encoded: false,
      };
      events.push(event);
      handler(event).then(
        (response) => {
          res.writeHead(response.statusCode, response.headers);
          res.end(response.body);
        },
        (error: unknown) => {
          // What API Gateway answers when the function fails: the test sees the 500.
          res.writeHead(500, { "content-type": "application/json" });
          res.end(JSON.stringify({ message: "Internal Server Error", error: String(error) }));
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${PAGE_PATH}`,
    events,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** The serialized page function (an archive from writeArchive), run in a child node per request. */
export function serializedPageHandler(archiveDir: string, env: Record<string, string>): PageHandler {
  return async (event) => {
    const run = await invokeArchive(archiveDir, event, env);
    if (!run.ok) throw new Error(`page function failed: ${run.error?.name}: ${run.error?.message}\n${run.logs}`);
    return run.result as HttpResponse;
  };
}
