// The Slack request table (functions/mechanisms/slack/requestStore.ts) behind FakeAws: PutItem, GetItem and
// UpdateItem, evaluating exactly the expressions the store sends once their #names are put in (a changed
// expression is refused, so it fails the tests instead of passing unchecked). Like DynamoDB, a name or
// value given but not used in the expressions is a ValidationException, and the vote's user ID stays
// the placeholder #user (its value is checked separately). Every write is applied at once, in the
// order the requests arrive, as DynamoDB applies writes to one item.
import { AwsError, FakeAws } from "./fakeAws";

type Value = { S?: string; N?: string; SS?: string[]; M?: Record<string, Value>; NULL?: boolean };
type Item = Record<string, Value>;

const PUT_CONDITION = "attribute_not_exists(keyHash)";
const BIND_UPDATE = "SET channel = :channel, ts = :ts";
const BIND_CONDITION =
  "attribute_exists(keyHash) AND (attribute_not_exists(channel) OR (channel = :channel AND ts = :ts))";
const VOTE_CONDITION =
  "attribute_exists(keyHash) AND status = :waiting AND deadline > :at AND contains(approvers, :user)" +
  " AND attribute_not_exists(votes.#user) AND approvals = :seen";
const COUNT_UPDATE = "SET votes.#user = :vote ADD approvals :inc";
const DECIDE_UPDATE =
  "SET votes.#user = :vote, status = :decided, decision = :decision, decidedBy = :user, decidedAt = :at ADD approvals :inc";
const TIMEOUT_UPDATE = "SET status = :timedOut, decidedAt = :at";
const TIMEOUT_CONDITION = "attribute_exists(keyHash) AND status = :waiting";
const UNPOSTED_CONDITION = "attribute_exists(keyHash) AND status = :waiting AND attribute_not_exists(channel)";
const DELIVERED_UPDATE = "SET deliveredAt = :at";
const DELIVERED_CONDITION = "status = :decided AND attribute_not_exists(deliveredAt)";
const POINTER_UPDATE =
  "SET executionArn = :executionArn, stage = :stage, expiresAt = :expiresAt ADD keyHashes :keyHashes";
const POINTER_CONDITION = "attribute_not_exists(keyHash) OR (executionArn = :executionArn AND stage = :stage)";

const failed = () => new AwsError("ConditionalCheckFailedException", "The conditional request failed");
const invalid = (message: string) => new AwsError("ValidationException", message);

export class FakeSlackRequestTable {
  readonly items = new Map<string, Item>();
  /** Awaited before each GetItem is answered (e.g. a barrier that lets two votes read the same item). */
  beforeGet?: () => Promise<void>;

  constructor(readonly tableName: string) {}

  /** Serves the table's operations on `aws` (after aws.reset(), serve again). */
  serve(aws: FakeAws): void {
    aws.on("PutItem", (body) => this.put(body));
    aws.on("GetItem", async (body) => {
      if (this.beforeGet) await this.beforeGet();
      return this.get(body);
    });
    aws.on("UpdateItem", (body) => this.update(body));
  }

  /** The expressions with their #names put in (but #user), or the ValidationException DynamoDB would give. */
  private resolve(body: any, expressions: string[]): string[] | AwsError {
    const names: Record<string, string> = body.ExpressionAttributeNames ?? {};
    const values: Record<string, unknown> = body.ExpressionAttributeValues ?? {};
    const text = expressions.join(" ");
    for (const name of Object.keys(names)) {
      if (!new RegExp(`${name}(?![A-Za-z0-9_])`).test(text))
        return invalid(`Value provided in ExpressionAttributeNames unused in expressions: keys: {${name}}`);
    }
    for (const value of Object.keys(values)) {
      if (!new RegExp(`${value}(?![A-Za-z0-9_])`).test(text)) {
        return invalid(`Value provided in ExpressionAttributeValues unused in expressions: keys: {${value}}`);
      }
    }
    for (const value of text.match(/:[A-Za-z0-9_]+/g) ?? []) {
      if (!(value in values))
        return invalid(`An expression attribute value used in expression is not defined; attribute value: ${value}`);
    }
    const out: string[] = [];
    for (const expression of expressions) {
      let missing: string | undefined;
      out.push(
        expression.replace(/#[A-Za-z0-9_]+/g, (token) => {
          if (!(token in names)) missing = token;
          return token === "#user" ? token : names[token];
        }),
      );
      if (missing)
        return invalid(
          `An expression attribute name used in the document path is not defined; attribute name: ${missing}`,
        );
    }
    return out;
  }

  private check(body: any): AwsError | undefined {
    return body.TableName === this.tableName
      ? undefined
      : new AwsError("ResourceNotFoundException", `Requested resource not found: Table: ${body.TableName} not found`);
  }

  private put(body: any): unknown {
    const missing = this.check(body);
    if (missing) return missing;
    const resolved = this.resolve(body, [body.ConditionExpression]);
    if (resolved instanceof AwsError) return resolved;
    if (resolved[0] !== PUT_CONDITION)
      return invalid(`FakeSlackRequestTable does not know the condition ${resolved[0]}`);
    const key = body.Item.keyHash.S as string;
    if (this.items.has(key)) return failed();
    this.items.set(key, structuredClone(body.Item));
    return {};
  }

  private get(body: any): unknown {
    const missing = this.check(body);
    if (missing) return missing;
    if (body.ConsistentRead !== true) return invalid("FakeSlackRequestTable expects consistent reads");
    const item = this.items.get(body.Key.keyHash.S);
    return item ? { Item: structuredClone(item) } : {};
  }

  private update(body: any): unknown {
    const missing = this.check(body);
    if (missing) return missing;
    const resolved = this.resolve(body, [body.UpdateExpression, body.ConditionExpression]);
    if (resolved instanceof AwsError) return resolved;
    const [update, condition] = resolved;
    const values = body.ExpressionAttributeValues;
    const item = this.items.get(body.Key.keyHash.S);
    const answer = () => (body.ReturnValues === "ALL_NEW" ? { Attributes: structuredClone(item) } : {});
    if (condition === BIND_CONDITION && update === BIND_UPDATE) {
      const open =
        item !== undefined &&
        (item.channel === undefined || (item.channel.S === values[":channel"].S && item.ts?.S === values[":ts"].S));
      if (!open) return failed();
      Object.assign(item, { channel: values[":channel"], ts: values[":ts"] });
      return answer();
    }
    if (condition === VOTE_CONDITION && (update === COUNT_UPDATE || update === DECIDE_UPDATE)) {
      const user = body.ExpressionAttributeNames["#user"] as string;
      const holds =
        item !== undefined &&
        item.status.S === values[":waiting"].S &&
        item.deadline.S! > values[":at"].S &&
        item.approvers.SS!.includes(values[":user"].S) &&
        item.votes.M![user] === undefined &&
        item.approvals.N === values[":seen"].N;
      if (!holds) return failed();
      item.votes.M![user] = structuredClone(values[":vote"]);
      item.approvals = { N: String(Number(item.approvals.N) + Number(values[":inc"].N)) };
      if (update === DECIDE_UPDATE) {
        Object.assign(item, {
          status: values[":decided"],
          decision: values[":decision"],
          decidedBy: values[":user"],
          decidedAt: values[":at"],
        });
      }
      return answer();
    }
    if (condition === TIMEOUT_CONDITION && update === TIMEOUT_UPDATE) {
      if (item === undefined || item.status.S !== values[":waiting"].S) return failed();
      Object.assign(item, { status: values[":timedOut"], decidedAt: values[":at"] });
      return answer();
    }
    if (condition === UNPOSTED_CONDITION && update === TIMEOUT_UPDATE) {
      if (item === undefined || item.status.S !== values[":waiting"].S || item.channel !== undefined) return failed();
      Object.assign(item, { status: values[":timedOut"], decidedAt: values[":at"] });
      return answer();
    }
    if (condition === DELIVERED_CONDITION && update === DELIVERED_UPDATE) {
      if (item === undefined || item.status.S !== values[":decided"].S || item.deliveredAt !== undefined)
        return failed();
      item.deliveredAt = values[":at"];
      return answer();
    }
    if (condition === POINTER_CONDITION && update === POINTER_UPDATE) {
      // UpdateItem creates a missing item; ADD adds to a string set, creating it when absent.
      if (item && (item.executionArn?.S !== values[":executionArn"].S || item.stage?.S !== values[":stage"].S))
        return failed();
      const key = body.Key.keyHash.S as string;
      const kept = item?.keyHashes?.SS ?? [];
      this.items.set(key, {
        ...(item ?? { keyHash: { S: key } }),
        executionArn: values[":executionArn"],
        stage: values[":stage"],
        expiresAt: values[":expiresAt"],
        keyHashes: { SS: [...kept, ...values[":keyHashes"].SS.filter((h: string) => !kept.includes(h))] },
      });
      return {};
    }
    return invalid(`FakeSlackRequestTable does not know the update ${update} with the condition ${condition}`);
  }
}
