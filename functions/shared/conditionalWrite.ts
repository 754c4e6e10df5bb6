import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";

/**
 * Runs a DynamoDB write that has a ConditionExpression: true when written, false when the condition
 * did not hold; any other error is thrown. The name is compared too, since the runtime's SDK may
 * be another copy than the one whose class is imported.
 */
export async function conditionalWrite(write: () => Promise<unknown>): Promise<boolean> {
  try {
    await write();
    return true;
  } catch (error) {
    if (
      error instanceof ConditionalCheckFailedException ||
      (error as { name?: string }).name === "ConditionalCheckFailedException"
    )
      return false;
    throw error;
  }
}
