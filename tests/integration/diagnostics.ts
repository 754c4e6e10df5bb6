// What the suite prints when a wait runs out of time: where a decision may have got stuck. The
// stage's dead-letter queue (decisions EventBridge or the result function could not deliver), the
// errors its functions logged (JSON logs, level ERROR; the functions redact tokens), and the
// failed invocations of the rule that delivers decision events (AWS/Events FailedInvocations).
import { GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { SignedAws } from "./lib/signedAws";

export interface StageOutputs {
  deadLetterQueueUrl?: string;
  startFunctionName?: string;
  resultFunctionName?: string;
}

const MAX_ERRORS = 5;

export async function stageDiagnostics(args: {
  outputs: StageOutputs;
  sqs: SQSClient;
  aws: SignedAws;
  since: Date;
}): Promise<string[]> {
  const { outputs, sqs, aws, since } = args;
  const lines: string[] = [];
  const attempt = async (what: string, action: () => Promise<void>) => {
    try {
      await action();
    } catch (error) {
      lines.push(`${what}: could not be read (${(error as Error).name}: ${(error as Error).message.split("\n")[0]})`);
    }
  };
  const queueUrl = outputs.deadLetterQueueUrl;
  if (queueUrl) {
    await attempt("dead-letter queue", async () => {
      const { Attributes: a = {} } = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        }),
      );
      lines.push(
        `dead-letter queue ${queueUrl.split("/").pop()}: ${a.ApproximateNumberOfMessages ?? "?"} message(s) waiting, ${a.ApproximateNumberOfMessagesNotVisible ?? "?"} in flight`,
      );
    });
  }
  for (const [role, name] of [
    ["start function", outputs.startFunctionName],
    ["result function", outputs.resultFunctionName],
  ] as const) {
    if (!name) continue;
    await attempt(`${role} ${name}`, async () => {
      const configuration = await aws.functionConfiguration(name);
      const logGroup = configuration.LoggingConfig?.LogGroup ?? `/aws/lambda/${name}`;
      const errors = await aws.filterLogEvents({
        logGroupName: logGroup,
        startTime: since.getTime(),
        filterPattern: '{ $.level = "ERROR" }',
        limit: MAX_ERRORS,
      });
      lines.push(
        `${role} ${name}: ${errors.length === 0 ? "no errors logged" : `${errors.length}${errors.length === MAX_ERRORS ? "+" : ""} error(s) logged`}`,
      );
      for (const event of errors)
        lines.push(`  ${new Date(event.timestamp ?? 0).toISOString()} ${(event.message ?? "").trim().slice(0, 400)}`);
      if (role === "result function" && configuration.FunctionArn) {
        for (const rule of await aws.ruleNamesByTarget(configuration.FunctionArn)) {
          const sums = await aws.metricSums({
            namespace: "AWS/Events",
            metricName: "FailedInvocations",
            dimensions: { RuleName: rule },
            start: since,
            end: new Date(),
            periodSeconds: 60,
          });
          lines.push(`rule ${rule}: ${sums.reduce((a, b) => a + b, 0)} failed invocation(s) since the run started`);
        }
      }
    });
  }
  return lines;
}
