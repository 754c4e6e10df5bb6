// The few AWS calls the suite makes without an SDK client among the project's dependencies:
// Lambda Invoke and GetFunctionConfiguration (REST-JSON), CloudWatch Logs FilterLogEvents and
// EventBridge ListRuleNamesByTarget (JSON 1.1), CloudWatch GetMetricStatistics (query protocol).
// Each request is signed with Signature V4 by the SDK's own signer (@smithy/signature-v4, which
// every @aws-sdk client depends on). Endpoints follow the SDK's rule, so the offline tests can
// point them at a local fake: AWS_ENDPOINT_URL_<SERVICE>, else AWS_ENDPOINT_URL, else the Region's
// (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html).
import { SignatureV4 } from "@smithy/signature-v4";

/** The signing inputs of any SDK v3 client (its config resolves credentials and the SHA-256 constructor). */
export interface Signing {
  region: string;
  credentials: ConstructorParameters<typeof SignatureV4>[0]["credentials"];
  sha256: ConstructorParameters<typeof SignatureV4>[0]["sha256"];
}

interface Service {
  /** Signing name and endpoint prefix. */
  signingName: string;
  /** The SDK's env suffix (serviceId, upper case, spaces as underscores). */
  envName: string;
}

const LAMBDA: Service = { signingName: "lambda", envName: "LAMBDA" };
const LOGS: Service = { signingName: "logs", envName: "CLOUDWATCH_LOGS" };
const EVENTS: Service = { signingName: "events", envName: "EVENTBRIDGE" };
const MONITORING: Service = { signingName: "monitoring", envName: "CLOUDWATCH" };

export class SignedAwsError extends Error {
  constructor(
    readonly operation: string,
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(`${operation} failed: ${status} ${type}${message ? `: ${message}` : ""}`);
    this.name = type || "SignedAwsError";
  }
}

export class SignedAws {
  constructor(
    private readonly signing: Signing,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  endpoint(service: Service): URL {
    const configured = this.env[`AWS_ENDPOINT_URL_${service.envName}`] ?? this.env.AWS_ENDPOINT_URL;
    return new URL(configured ?? `https://${service.signingName}.${this.signing.region}.amazonaws.com`);
  }

  private async send(
    operation: string,
    service: Service,
    request: {
      method: string;
      path: string;
      query?: Record<string, string>;
      headers: Record<string, string>;
      body?: string;
    },
  ): Promise<{ status: number; headers: Headers; text: string }> {
    const base = this.endpoint(service);
    const signer = new SignatureV4({
      service: service.signingName,
      region: this.signing.region,
      credentials: this.signing.credentials,
      sha256: this.signing.sha256,
    });
    const path = `${base.pathname.replace(/\/$/, "")}${request.path}`;
    const signed = await signer.sign({
      method: request.method,
      protocol: base.protocol,
      hostname: base.hostname,
      port: base.port ? Number(base.port) : undefined,
      path,
      query: request.query ?? {},
      headers: { host: base.host, ...request.headers },
      body: request.body,
    });
    const url = new URL(`${base.origin}${path}`);
    for (const [key, value] of Object.entries(request.query ?? {})) url.searchParams.set(key, value);
    // fetch sets Host itself (to the same value).
    const { host: _host, ...headers } = signed.headers;
    const response = await fetch(url, {
      method: request.method,
      headers,
      body: request.body,
      signal: AbortSignal.timeout(30000),
    });
    const text = await response.text();
    if (!response.ok) {
      let type = response.headers.get("x-amzn-errortype")?.split(":")[0] ?? "";
      let message: string;
      try {
        const parsed = JSON.parse(text) as { __type?: string; message?: string; Message?: string };
        type ||= (parsed.__type ?? "").split("#").pop() ?? "";
        message = parsed.message ?? parsed.Message ?? "";
      } catch {
        type ||= /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? "";
        message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? "";
      }
      throw new SignedAwsError(operation, response.status, type, message);
    }
    return { status: response.status, headers: response.headers, text };
  }

  private async json<T>(service: Service, target: string, input: Record<string, unknown>): Promise<T> {
    const { text } = await this.send(target.split(".").pop()!, service, {
      method: "POST",
      path: "/",
      headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": target },
      body: JSON.stringify(input),
    });
    return JSON.parse(text || "{}") as T;
  }

  /**
   * Lambda Invoke, RequestResponse: the function's result, or its error (X-Amz-Function-Error) as
   * the function reported it (this project's functions redact tokens from their errors).
   * https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html
   */
  async invoke(functionName: string, payload: unknown): Promise<{ result?: unknown; functionError?: string }> {
    const { headers, text } = await this.send("Invoke", LAMBDA, {
      method: "POST",
      path: `/2015-03-31/functions/${encodeURIComponent(functionName)}/invocations`,
      headers: { "content-type": "application/json", "x-amz-invocation-type": "RequestResponse" },
      body: JSON.stringify(payload),
    });
    let result: unknown;
    try {
      result = JSON.parse(text || "null");
    } catch {
      result = text;
    }
    const failed = headers.get("x-amz-function-error");
    return failed
      ? {
          functionError: `${failed}: ${String((result as { errorMessage?: string })?.errorMessage ?? text).slice(0, 500)}`,
        }
      : { result };
  }

  /** GetFunctionConfiguration: the function's ARN and log group (LoggingConfig.LogGroup). */
  async functionConfiguration(
    functionName: string,
  ): Promise<{ FunctionArn?: string; LoggingConfig?: { LogGroup?: string } }> {
    const { text } = await this.send("GetFunctionConfiguration", LAMBDA, {
      method: "GET",
      path: `/2015-03-31/functions/${encodeURIComponent(functionName)}/configuration`,
      headers: {},
    });
    return JSON.parse(text || "{}") as { FunctionArn?: string; LoggingConfig?: { LogGroup?: string } };
  }

  /** FilterLogEvents (Logs_20140328), one page. */
  async filterLogEvents(input: {
    logGroupName: string;
    startTime: number;
    filterPattern?: string;
    limit?: number;
  }): Promise<Array<{ timestamp?: number; message?: string }>> {
    const { events = [] } = await this.json<{ events?: Array<{ timestamp?: number; message?: string }> }>(
      LOGS,
      "Logs_20140328.FilterLogEvents",
      input,
    );
    return events;
  }

  /** ListRuleNamesByTarget (AWSEvents): the rules that deliver to `targetArn`. */
  async ruleNamesByTarget(targetArn: string): Promise<string[]> {
    const { RuleNames: names = [] } = await this.json<{ RuleNames?: string[] }>(
      EVENTS,
      "AWSEvents.ListRuleNamesByTarget",
      { TargetArn: targetArn },
    );
    return names;
  }

  /** GetMetricStatistics (query protocol, Version 2010-08-01): the Sum of each datapoint. */
  async metricSums(input: {
    namespace: string;
    metricName: string;
    dimensions: Record<string, string>;
    start: Date;
    end: Date;
    periodSeconds: number;
  }): Promise<number[]> {
    const params: Record<string, string> = {
      Action: "GetMetricStatistics",
      Version: "2010-08-01",
      Namespace: input.namespace,
      MetricName: input.metricName,
      StartTime: input.start.toISOString(),
      EndTime: input.end.toISOString(),
      Period: String(input.periodSeconds),
      "Statistics.member.1": "Sum",
    };
    Object.entries(input.dimensions).forEach(([name, value], i) => {
      params[`Dimensions.member.${i + 1}.Name`] = name;
      params[`Dimensions.member.${i + 1}.Value`] = value;
    });
    const { text } = await this.send("GetMetricStatistics", MONITORING, {
      method: "POST",
      path: "/",
      headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
      body: new URLSearchParams(params).toString(),
    });
    return [...text.matchAll(/<Sum>([^<]+)<\/Sum>/g)].map((match) => Number(match[1]));
  }
}
