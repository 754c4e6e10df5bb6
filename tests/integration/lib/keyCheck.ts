// Read access without the execution data key, on real AWS: a principal that
// may call states:GetExecutionHistory but that the key policy does not name reads the history of
// a waiting email stage. It must not see the task token. What AWS answers it (an error such as
// KmsAccessDeniedException, or events without their data) is one of the unknowns the suite prints.
//
// Such a principal: a federated user from STS GetFederationToken, whose session policy allows only
// the reads (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetFederationToken.html). Only
// an IAM user's long-term credentials may call GetFederationToken; a role session cannot, and the
// check is then skipped (saying so).
import { GetExecutionHistoryCommand, HistoryEvent, SFNClient } from "@aws-sdk/client-sfn";
import { GetFederationTokenCommand, STSClient } from "@aws-sdk/client-sts";
import { taskTokenFromHistory } from "./history";

export interface KeylessRead {
  /** false: the caller is not an IAM user, nothing was read. */
  ran: boolean;
  /** What AWS answered, for the progress line. */
  answer: string;
  /** A task token was readable without the key: the defect. */
  tokenVisible: boolean;
}

/** The session policy of the federated reader: the two reads, on this execution only. */
export function readerSessionPolicy(executionArn: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      { Effect: "Allow", Action: ["states:GetExecutionHistory", "states:DescribeExecution"], Resource: executionArn },
    ],
  });
}

/** Judges what a reader without the key got: an error, or events that must not hold the token. */
export function judgeKeylessRead(result: { events: HistoryEvent[] } | { error: string }): KeylessRead {
  if ("error" in result) return { ran: true, answer: `AWS refused the read: ${result.error}`, tokenVisible: false };
  const withData = result.events.filter(
    (event) => JSON.stringify(event).includes('"parameters"') || JSON.stringify(event).includes('"input"'),
  ).length;
  const tokenVisible = taskTokenFromHistory(result.events) !== undefined;
  return {
    ran: true,
    answer: `AWS returned ${result.events.length} events, ${withData} with execution data${tokenVisible ? ", a task token among them" : ", no task token"}`,
    tokenVisible,
  };
}

export async function readHistoryWithoutKey(args: {
  region: string;
  callerArn: string;
  executionArn: string;
}): Promise<KeylessRead> {
  if (!/^arn:aws[a-z-]*:iam::\d{12}:user\//.test(args.callerArn)) {
    return {
      ran: false,
      answer:
        "skipped: only an IAM user can get a federation token (run the suite as an IAM user to settle what such a reader gets)",
      tokenVisible: false,
    };
  }
  const sts = new STSClient({ region: args.region });
  const { Credentials: credentials } = await sts.send(
    new GetFederationTokenCommand({
      Name: "sfn-approvals-it-reader",
      DurationSeconds: 900,
      Policy: readerSessionPolicy(args.executionArn),
    }),
  );
  if (!credentials?.AccessKeyId || !credentials.SecretAccessKey)
    throw new Error("STS GetFederationToken returned no credentials");
  const sfn = new SFNClient({
    region: args.region,
    maxAttempts: 1,
    credentials: {
      accessKeyId: credentials.AccessKeyId,
      secretAccessKey: credentials.SecretAccessKey,
      sessionToken: credentials.SessionToken,
    },
  });
  try {
    const { events = [] } = await sfn.send(
      new GetExecutionHistoryCommand({
        executionArn: args.executionArn,
        reverseOrder: true,
        maxResults: 100,
        includeExecutionData: true,
      }),
    );
    return judgeKeylessRead({ events });
  } catch (error) {
    return judgeKeylessRead({ error: (error as Error).name });
  }
}
