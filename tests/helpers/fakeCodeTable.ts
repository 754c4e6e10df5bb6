// The email-link code table (functions/mechanisms/email/linkCodes.ts) behind FakeAws: PutItem, GetItem and the three
// UpdateItem calls (claim, confirm, release), evaluating exactly the expressions the code sends (any
// other expression is refused, so a changed expression fails the tests instead of passing unchecked).
import { AwsError, FakeAws } from "./fakeAws";

type Item = Record<string, { S?: string; N?: string }>;

const PUT_CONDITION = "attribute_not_exists(codeHash)";
const CLAIM_CONDITION =
  "attribute_exists(codeHash) AND expiresAt > :now AND attribute_not_exists(confirmedAt)" +
  " AND (attribute_not_exists(claimedAt) OR claimId = :claim OR claimedAt < :stale)";
/** The condition of both the confirmation and the release: only the claim's own request. */
const OWN_CLAIM_CONDITION = "claimId = :claim";

export class FakeCodeTable {
  readonly items = new Map<string, Item>();

  constructor(readonly tableName: string) {}

  /** Serves the table's operations on `aws` (after aws.reset(), serve again). */
  serve(aws: FakeAws): void {
    aws.on("PutItem", (body) => this.put(body));
    aws.on("GetItem", (body) => this.get(body));
    aws.on("UpdateItem", (body) => this.update(body));
  }

  private check(body: any): AwsError | undefined {
    return body.TableName === this.tableName
      ? undefined
      : new AwsError("ResourceNotFoundException", `Requested resource not found: Table: ${body.TableName} not found`);
  }

  private put(body: any): unknown {
    const missing = this.check(body);
    if (missing) return missing;
    if (body.ConditionExpression !== PUT_CONDITION)
      return new AwsError(
        "ValidationException",
        `FakeCodeTable does not know the condition ${body.ConditionExpression}`,
      );
    const key = body.Item.codeHash.S as string;
    if (this.items.has(key)) return new AwsError("ConditionalCheckFailedException", "The conditional request failed");
    this.items.set(key, structuredClone(body.Item));
    return {};
  }

  private get(body: any): unknown {
    const missing = this.check(body);
    if (missing) return missing;
    const item = this.items.get(body.Key.codeHash.S);
    return item ? { Item: structuredClone(item) } : {};
  }

  private update(body: any): unknown {
    const missing = this.check(body);
    if (missing) return missing;
    const values = body.ExpressionAttributeValues;
    const item = this.items.get(body.Key.codeHash.S);
    const failed = new AwsError("ConditionalCheckFailedException", "The conditional request failed");
    const number = (field: string) => (item?.[field]?.N === undefined ? undefined : Number(item[field].N));
    if (body.ConditionExpression === CLAIM_CONDITION) {
      const now = Number(values[":now"].N);
      const claimedAt = number("claimedAt");
      const open =
        item !== undefined &&
        number("expiresAt")! > now &&
        item.confirmedAt === undefined &&
        (claimedAt === undefined || item.claimId?.S === values[":claim"].S || claimedAt < Number(values[":stale"].N));
      if (!open) return failed;
      if (body.UpdateExpression !== "SET claimedAt = :now, claimId = :claim")
        return new AwsError("ValidationException", `unknown update ${body.UpdateExpression}`);
      Object.assign(item!, { claimedAt: values[":now"], claimId: values[":claim"] });
      return {};
    }
    if (body.ConditionExpression === OWN_CLAIM_CONDITION) {
      if (item === undefined || item.claimId?.S !== values[":claim"].S) return failed;
      if (body.UpdateExpression === "SET confirmedAt = :at, decision = :decision") {
        Object.assign(item, { confirmedAt: values[":at"], decision: values[":decision"] });
        return {};
      }
      if (body.UpdateExpression === "REMOVE claimedAt, claimId") {
        delete item.claimedAt;
        delete item.claimId;
        return {};
      }
      return new AwsError("ValidationException", `unknown update ${body.UpdateExpression}`);
    }
    return new AwsError("ValidationException", `FakeCodeTable does not know the condition ${body.ConditionExpression}`);
  }
}
