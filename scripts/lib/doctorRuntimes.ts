// When Lambda deprecates each Node.js runtime: a table to update as AWS publishes dates (AWS Lambda
// Developer Guide, "Lambda runtimes", supported and deprecated runtimes tables:
// https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html; earlier ones on
// https://docs.aws.amazon.com/lambda/latest/dg/runtime-support-policy.html). After the deprecation
// date a runtime gets no security patches; Lambda later blocks creating, then updating, functions on it.

/** Runtime identifier -> deprecation date (YYYY-MM-DD). */
export const LAMBDA_RUNTIME_DEPRECATION: Record<string, string> = {
  "nodejs24.x": "2028-04-30",
  "nodejs22.x": "2027-04-30",
  "nodejs20.x": "2026-04-30",
  "nodejs18.x": "2025-09-01",
  "nodejs16.x": "2024-06-12",
  "nodejs14.x": "2023-12-04",
  "nodejs12.x": "2023-03-31",
  "nodejs10.x": "2021-07-30",
  "nodejs8.10": "2020-03-06",
  "nodejs6.10": "2019-08-12",
  "nodejs4.3": "2020-03-06",
  nodejs: "2016-10-31",
};

/** Within this many days of its deprecation a runtime is reported with a warning (still ok). */
export const DEPRECATION_WARNING_DAYS = 180;

export type RuntimeStatus =
  | { status: "supported"; deprecates: string; daysLeft: number }
  | { status: "deprecated"; since: string }
  | { status: "unknown" };

export function runtimeStatus(runtime: string, now: Date): RuntimeStatus {
  const date = LAMBDA_RUNTIME_DEPRECATION[runtime];
  if (!date) return { status: "unknown" };
  const at = Date.parse(`${date}T00:00:00Z`);
  if (now.getTime() >= at) return { status: "deprecated", since: date };
  return { status: "supported", deprecates: date, daysLeft: Math.floor((at - now.getTime()) / 86400000) };
}
