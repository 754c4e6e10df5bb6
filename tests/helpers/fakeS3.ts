// A local S3 on 127.0.0.1 speaking the REST-XML protocol for the calls the record readers make:
// ListObjectsV2 (list-type=2 with prefix, delimiter, start-after, max-keys, continuation-token) and
// GetObject, path style (the SDK uses path style for an IP endpoint). Objects live in memory; every
// request is recorded with the access key and signing service that signed it.
// Shapes: https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html, API_GetObject.html.
import { AddressInfo } from "net";
import { Server, createServer } from "http";

export interface S3Request {
  method: string;
  bucket: string;
  /** The object key (GetObject), "" for a bucket operation. */
  key: string;
  /** "ListObjectsV2", "GetObject" or what else came. */
  operation: string;
  query: Record<string, string>;
  accessKeyId: string;
  service: string;
}

/** An S3 error answer: https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html */
export class S3Error {
  constructor(
    readonly code: string,
    readonly message: string,
    readonly status: number,
  ) {}
}

const xml = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

export class FakeS3 {
  readonly requests: S3Request[] = [];
  readonly buckets = new Map<string, Map<string, string>>();
  /** Keys per ListObjectsV2 page at most (S3's own maximum is 1,000); small to make pages. */
  pageSize = 1000;
  /** Answers a request instead of the store (e.g. AccessDenied for one key); undefined: the store answers. */
  intercept?: (request: S3Request) => S3Error | undefined;
  private server?: Server;
  url = "";

  put(bucket: string, key: string, body: string): this {
    if (!this.buckets.has(bucket)) this.buckets.set(bucket, new Map());
    this.buckets.get(bucket)!.set(key, body);
    return this;
  }

  reset(): void {
    this.requests.length = 0;
    this.buckets.clear();
    this.pageSize = 1000;
    this.intercept = undefined;
  }

  private list(bucket: Map<string, string>, name: string, q: Record<string, string>): string {
    const prefix = q.prefix ?? "";
    const delimiter = q.delimiter;
    const maxKeys = Math.min(Number(q["max-keys"] ?? 1000), this.pageSize);
    // The continuation token is opaque: here the base64 of the last entry returned (holds + / =).
    const after = q["continuation-token"]
      ? Buffer.from(q["continuation-token"], "base64").toString("utf8")
      : (q["start-after"] ?? "");
    // Keys and common prefixes in one UTF-8 binary order, each prefix once (ListObjectsV2's rules).
    const entries: Array<{ key?: string; prefix?: string; name: string }> = [];
    const seen = new Set<string>();
    for (const key of [...bucket.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))) {
      if (!key.startsWith(prefix)) continue;
      const cut = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
      if (cut >= 0) {
        const common = key.slice(0, cut + delimiter!.length);
        if (!seen.has(common)) {
          seen.add(common);
          entries.push({ prefix: common, name: common });
        }
      } else entries.push({ key, name: key });
    }
    const remaining = entries.filter((e) => Buffer.compare(Buffer.from(e.name), Buffer.from(after)) > 0);
    const page = remaining.slice(0, maxKeys);
    const truncated = remaining.length > page.length;
    const contents = page
      .filter((e) => e.key !== undefined)
      .map(
        (e) =>
          `<Contents><Key>${xml(e.key!)}</Key><LastModified>2026-12-02T10:00:00.000Z</LastModified><ETag>&quot;0123&quot;</ETag><Size>${Buffer.byteLength(bucket.get(e.key!)!)}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
      )
      .join("");
    const prefixes = page
      .filter((e) => e.prefix !== undefined)
      .map((e) => `<CommonPrefixes><Prefix>${xml(e.prefix!)}</Prefix></CommonPrefixes>`)
      .join("");
    const next = truncated ? Buffer.from(page[page.length - 1].name).toString("base64") : undefined;
    return (
      `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
      `<Name>${xml(name)}</Name><Prefix>${xml(prefix)}</Prefix><KeyCount>${page.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys>` +
      (delimiter ? `<Delimiter>${xml(delimiter)}</Delimiter>` : "") +
      `<IsTruncated>${truncated}</IsTruncated>` +
      (q["continuation-token"] ? `<ContinuationToken>${xml(q["continuation-token"])}</ContinuationToken>` : "") +
      (next ? `<NextContinuationToken>${xml(next)}</NextContinuationToken>` : "") +
      contents +
      prefixes +
      `</ListBucketResult>`
    );
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        const url = new URL(req.url ?? "/", "http://127.0.0.1");
        const [, bucketName = "", ...keyParts] = url.pathname.split("/");
        const key = decodeURIComponent(keyParts.join("/"));
        const query = Object.fromEntries(url.searchParams);
        const operation =
          req.method === "GET" && key === "" && query["list-type"] === "2"
            ? "ListObjectsV2"
            : req.method === "GET" && key !== ""
              ? "GetObject"
              : `${req.method} ${url.pathname}`;
        const credential = /Credential=([^/,\s]+)\/\d{8}\/[^/]+\/([^/]+)\//.exec(
          String(req.headers.authorization ?? ""),
        );
        const request: S3Request = {
          method: req.method ?? "",
          bucket: decodeURIComponent(bucketName),
          key,
          operation,
          query,
          accessKeyId: credential?.[1] ?? "",
          service: credential?.[2] ?? "",
        };
        this.requests.push(request);
        const fail = (error: S3Error) => {
          res.writeHead(error.status, { "content-type": "application/xml" });
          res.end(
            `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${error.code}</Code><Message>${xml(error.message)}</Message><RequestId>FAKE0123</RequestId></Error>`,
          );
        };
        const intercepted = this.intercept?.(request);
        if (intercepted) return fail(intercepted);
        const bucket = this.buckets.get(request.bucket);
        if (!bucket) return fail(new S3Error("NoSuchBucket", "The specified bucket does not exist", 404));
        if (operation === "ListObjectsV2") {
          res.writeHead(200, { "content-type": "application/xml" });
          return res.end(this.list(bucket, request.bucket, query));
        }
        if (operation === "GetObject") {
          const body = bucket.get(key);
          if (body === undefined) return fail(new S3Error("NoSuchKey", "The specified key does not exist.", 404));
          res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
          return res.end(body);
        }
        fail(new S3Error("NotImplemented", `FakeS3 does not answer ${operation}`, 501));
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
