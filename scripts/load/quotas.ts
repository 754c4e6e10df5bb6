// The documented quotas the load run's fakes enforce, each with its source (the numbers are the
// defaults per account and Region unless said; soft quotas can be raised). Where a service has
// Region rows, the stricter row is used (docs/limits.md reads them for the stack's Region).
import { VirtualClock } from "./clock";

export interface Quota {
  /** What the number bounds. */
  what: string;
  /** Burst (bucket size) or concurrent count. */
  limit: number;
  /** Refill per simulated second (token buckets); absent for concurrency limits. */
  perSecond?: number;
  source: string;
}

export interface LoadQuotas {
  ssmConcurrent: Quota;
  ssmQueue: Quota;
  pipelineConcurrent: Quota;
  startExecution: Quota;
  sendTask: Quota;
  getExecutionHistory: Quota;
  describeExecution: Quota;
  snsPublish: Quota;
  snsEmail: Quota;
  lambdaConcurrency: Quota;
  dynamoWrite: Quota;
  dynamoRead: Quota;
  slackPost: Quota;
  slackTier3: Quota;
  slackTier4: Quota;
  approvalPage: Quota;
}

const SFN_QUOTAS =
  "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html (archived awsdocs copy, 'other Regions' row)";

export function defaultQuotas(pipelineConcurrency = 50): LoadQuotas {
  return {
    ssmConcurrent: {
      what: "SSM automations running at once (more wait as Pending)",
      limit: 100,
      source: "https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-concepts.html",
    },
    ssmQueue: {
      what: "SSM automations queued (Pending); beyond: AutomationExecutionLimitExceededException",
      limit: 5000,
      source: "https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-concepts.html",
    },
    pipelineConcurrent: {
      what: "CodePipeline executions in progress per PARALLEL pipeline; beyond: ConcurrentPipelineExecutionsLimitExceededException",
      limit: pipelineConcurrency,
      source:
        "NOT DOCUMENTED where we could read (https://docs.aws.amazon.com/codepipeline/latest/userguide/limits.html): a parameter of the run (--pipeline-concurrency)",
    },
    startExecution: { what: "StartExecution", limit: 800, perSecond: 150, source: SFN_QUOTAS },
    sendTask: {
      what: "SendTaskSuccess/Failure/Heartbeat, GetActivityTask (one bucket each)",
      limit: 1500,
      perSecond: 300,
      source: SFN_QUOTAS,
    },
    getExecutionHistory: { what: "GetExecutionHistory", limit: 400, perSecond: 20, source: SFN_QUOTAS },
    describeExecution: { what: "DescribeExecution", limit: 250, perSecond: 10, source: SFN_QUOTAS },
    snsPublish: {
      what: "SNS Publish per second (no burst documented: a bucket of one second)",
      limit: 300,
      perSecond: 300,
      source:
        "https://docs.aws.amazon.com/general/latest/gr/sns.html (300/s: the Regions' lowest row; eu-west-1 has 9,000)",
    },
    snsEmail: {
      what: "SNS email deliveries per second (hard): later messages are delivered later",
      limit: 10,
      perSecond: 10,
      source: "https://docs.aws.amazon.com/general/latest/gr/sns.html",
    },
    lambdaConcurrency: {
      what: "Lambda invocations in flight per account; beyond: Lambda.TooManyRequestsException",
      limit: 1000,
      source: "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
    },
    dynamoWrite: {
      what: "DynamoDB on-demand write units per table per second (new table)",
      limit: 4000,
      perSecond: 4000,
      source:
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode-max-throughput.html",
    },
    dynamoRead: {
      what: "DynamoDB on-demand read units per table per second (new table)",
      limit: 12000,
      perSecond: 12000,
      source:
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode-max-throughput.html",
    },
    slackPost: {
      what: "Slack chat.postMessage per channel (429 with Retry-After)",
      limit: 1,
      perSecond: 1,
      source: "https://docs.slack.dev/apis/web-api/rate-limits ('one message per second per channel')",
    },
    slackTier3: {
      what: "Slack Tier 3 methods (chat.update) per workspace",
      limit: 50,
      perSecond: 50 / 60,
      source:
        "https://docs.slack.dev/apis/web-api/rate-limits (Tier 3: 50+ per minute); https://api.slack.com/methods/chat.update",
    },
    slackTier4: {
      what: "Slack Tier 4 methods (views.open, users.info, chat.postEphemeral: tier assumed) per workspace",
      limit: 100,
      perSecond: 100 / 60,
      source:
        "https://docs.slack.dev/apis/web-api/rate-limits (Tier 4: 100+ per minute); views.open, users.info method pages",
    },
    approvalPage: {
      what: "the approval page's API Gateway route (ours): 429 beyond",
      limit: 10,
      perSecond: 5,
      source: "components/mechanisms/approvalPage.ts DEFAULT_THROTTLE (5 req/s, burst 10); docs/limits.md",
    },
  };
}

/** A token bucket on simulated time; counts what it refused. */
export class TokenBucket {
  private tokens: number;
  private at: number;
  refused = 0;
  /** Simulated ms of the first refusal. */
  firstRefusalAt?: number;

  constructor(
    readonly quota: Quota,
    private readonly clock: VirtualClock,
  ) {
    this.tokens = quota.limit;
    this.at = clock.now;
  }

  private refill(): void {
    const elapsed = (this.clock.now - this.at) / 1000;
    this.at = this.clock.now;
    this.tokens = Math.min(this.quota.limit, this.tokens + elapsed * (this.quota.perSecond ?? 0));
  }

  take(cost = 1): boolean {
    this.refill();
    if (this.tokens >= cost) {
      this.tokens -= cost;
      return true;
    }
    this.refused += 1;
    this.firstRefusalAt ??= this.clock.now;
    return false;
  }

  /** Whole seconds until one token is back (Retry-After). */
  secondsUntilToken(): number {
    this.refill();
    return Math.max(1, Math.ceil((1 - this.tokens) / (this.quota.perSecond ?? 1)));
  }
}
