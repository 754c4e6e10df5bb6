// The workflow's first states: read the execution input as the request and refuse a malformed one
// before any stage, by the rules of functions/contract.ts (REQUEST_FIELDS), as requestProblems() does.
import { REQUEST_FIELDS, REQUEST_INVALID_ERROR, RequestFieldRule, requestRulesText } from "../../functions/contract";
import {
  AslStates,
  Condition,
  and,
  isNumeric,
  isPresent,
  isString,
  not,
  numericLessThan,
  stringEquals,
  when,
} from "./asl";

/** The conditions under which a request breaks `rule` (tried in order, so each type test only sees a present field). */
function breaks(rule: RequestFieldRule): Condition[] {
  const path = `$.request.${rule.field}`;
  const wrongType = not(rule.type === "string" ? isString(path) : isNumeric(path));
  const outOfBounds =
    rule.type === "string"
      ? rule.nonEmpty
        ? [stringEquals(path, "")]
        : []
      : rule.min !== undefined
        ? [numericLessThan(path, rule.min)]
        : [];
  if (rule.required) return [not(isPresent(path)), wrongType, ...outOfBounds];
  return [wrongType, ...outOfBounds].map((condition) => and(isPresent(path), condition));
}

/** "Read request" (the input becomes $.request), "Validate request" (on to `next`) and "Request invalid". */
export function requestValidation(next: string): AslStates {
  const invalid = "Request invalid";
  return {
    "Read request": {
      Type: "Pass",
      Comment: "The execution input is the request",
      Parameters: { "request.$": "$" },
      Next: "Validate request",
    },
    "Validate request": {
      Type: "Choice",
      Choices: REQUEST_FIELDS.flatMap(breaks).map((condition) => when(condition, invalid)),
      Default: next,
    },
    [invalid]: {
      Type: "Fail",
      Error: REQUEST_INVALID_ERROR,
      Cause: requestRulesText(),
    },
  };
}
