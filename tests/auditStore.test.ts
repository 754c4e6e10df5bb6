// The decision record's store (components/audit/auditStore.ts) under Pulumi mocks, built alone:
// an Object Lock bucket with the configured default retention, versioning, SSE-S3, public access
// blocked, ACLs off, kept by `pulumi destroy`; its bucket policy (TLS only, only readers read a
// record's content, no delete markers, only the workflow writes); and the statements the workflow
// role and a reader need.
import * as pulumi from "@pulumi/pulumi";
import { expect } from "chai";
import { AuditStore, bucketPrefix } from "../components/audit/auditStore";
import { CollectedPolicy, collectPolicies, simulateCall, withoutPath } from "./helpers/iamSimulation";
import { RecordedResource, named, resolveDeep, runWithMocks } from "./helpers/pulumiMocks";

const READERS = ["arn:aws:iam::123456789012:role/audit/Auditor", "arn:aws:iam::123456789012:user/erin"];
const WRITER = "arn:aws:iam::123456789012:role/approvals-role-a1b2c3d";
const ADMIN = "arn:aws:iam::123456789012:role/Administrator";
// Under mocks a bucket without a name is named after its resource (tests/helpers/pulumiMocks.ts).
const BUCKET = "audit-bucket-a1b2c3d";
const ARN = `arn:aws:s3:::${BUCKET}`;

interface Built {
  resources: RecordedResource[];
  retained: Record<string, boolean | undefined>;
  outputs: { bucketName: string; bucketArn: string; write: unknown; read: unknown; policy: string };
}

async function build(stack: string, args: ConstructorParameters<typeof AuditStore>[1]): Promise<Built> {
  const retained: Record<string, boolean | undefined> = {};
  const { resources, result } = await runWithMocks(stack, {}, () => {
    const store = new AuditStore("audit", args, {
      // Sees each child's options as the engine gets them (the mocks do not receive retainOnDelete).
      transformations: [
        (child) => {
          retained[child.name] = child.opts.retainOnDelete;
          return undefined;
        },
      ],
    });
    return {
      bucketName: store.bucketName,
      bucketArn: store.bucketArn,
      write: store.writeStatements(),
      read: store.readStatements(),
      policy: store.policy,
    };
  });
  return { resources, retained, outputs: await resolveDeep(result) };
}

const policyOf = (built: Built) => JSON.parse(named(built.resources, "audit-policy").inputs.policy);
const settings = (resource: RecordedResource) => {
  const { bucket, ...rest } = resource.inputs;
  expect(bucket, resource.name).to.equal(BUCKET);
  return rest;
};

describe("audit store (issue 15): the decision record's Object Lock bucket", () => {
  let governance: Built;
  let compliance: Built;
  const warnings: string[] = [];
  before(async () => {
    const warn = pulumi.log.warn;
    (pulumi.log as { warn: typeof pulumi.log.warn }).warn = async (message: string) => {
      warnings.push(message);
    };
    try {
      governance = await build("prod", {
        retention: { years: 7 },
        mode: "GOVERNANCE",
        readers: READERS,
        writerRoleArn: WRITER,
      });
      compliance = await build("dev", { retention: { days: 30 }, mode: "COMPLIANCE", readers: [] });
    } finally {
      (pulumi.log as { warn: typeof pulumi.log.warn }).warn = warn;
    }
  });

  it("creates exactly a bucket with Object Lock and its six settings, all kept by pulumi destroy", () => {
    // Registration order depends on when each input resolves: compared as a set.
    expect(governance.resources.map((r) => [r.type, r.name])).to.have.deep.members([
      ["sfn-approvals:index:AuditStore", "audit"],
      ["aws:s3/bucket:Bucket", "audit-bucket"],
      ["aws:s3/bucketVersioning:BucketVersioning", "audit-versioning"],
      ["aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", "audit-object-lock"],
      ["aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "audit-encryption"],
      ["aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "audit-public-access-block"],
      ["aws:s3/bucketOwnershipControls:BucketOwnershipControls", "audit-ownership"],
      ["aws:s3/bucketPolicy:BucketPolicy", "audit-policy"],
    ]);
    // Records under retention cannot be deleted: destroy forgets the bucket and every setting, the policy included.
    expect(governance.retained).to.deep.equal({
      audit: undefined,
      ...Object.fromEntries(governance.resources.filter((r) => r.name !== "audit").map((r) => [r.name, true])),
    });
    expect(named(governance.resources, "audit-bucket").inputs).to.deep.equal({
      bucketPrefix: "sfn-approvals-prod-audit-",
      objectLockEnabled: true,
      forceDestroy: false,
    });
    expect(governance.outputs.bucketName).to.equal(BUCKET);
    expect(governance.outputs.bucketArn).to.equal(ARN);
  });

  it("sets the default retention and mode from config (years or days), versioning, SSE-S3 without SSE-C, no public access, no ACLs", () => {
    const lock = (built: Built) => settings(named(built.resources, "audit-object-lock"));
    expect(lock(governance)).to.deep.equal({
      objectLockEnabled: "Enabled",
      rule: { defaultRetention: { mode: "GOVERNANCE", years: 7 } },
    });
    expect(lock(compliance)).to.deep.equal({
      objectLockEnabled: "Enabled",
      rule: { defaultRetention: { mode: "COMPLIANCE", days: 30 } },
    });
    expect(settings(named(governance.resources, "audit-versioning"))).to.deep.equal({
      versioningConfiguration: { status: "Enabled" },
    });
    expect(settings(named(governance.resources, "audit-encryption"))).to.deep.equal({
      rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, blockedEncryptionTypes: ["SSE-C"] }],
    });
    expect(settings(named(governance.resources, "audit-public-access-block"))).to.deep.equal({
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    expect(settings(named(governance.resources, "audit-ownership"))).to.deep.equal({
      rule: { objectOwnership: "BucketOwnerEnforced" },
    });
  });

  it("has exactly this bucket policy: TLS only, content read by the readers alone, no delete markers, writes by the workflow alone", () => {
    const policy = policyOf(governance);
    expect(policy.Version).to.equal("2012-10-17");
    expect(policy.Statement).to.deep.equal([
      {
        Sid: "DenyWithoutTls",
        Effect: "Deny",
        Principal: "*",
        Action: ["s3:*"],
        Resource: [ARN, `${ARN}/*`],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
      {
        Sid: "OnlyReadersReadRecords",
        Effect: "Deny",
        Principal: "*",
        Action: ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectVersionForReplication"],
        Resource: [`${ARN}/*`],
        Condition: { ArnNotEquals: { "aws:PrincipalArn": READERS } },
      },
      {
        Sid: "ListDecisionRecords",
        Effect: "Allow",
        Principal: { AWS: READERS },
        Action: ["s3:ListBucket", "s3:ListBucketVersions"],
        Resource: [ARN],
        Condition: { StringLike: { "s3:prefix": "records/*" } },
      },
      {
        Sid: "ReadDecisionRecords",
        Effect: "Allow",
        Principal: { AWS: READERS },
        Action: ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectRetention", "s3:GetObjectLegalHold"],
        Resource: [`${ARN}/records/*`],
      },
      {
        Sid: "NoDeleteMarkers",
        Effect: "Deny",
        Principal: "*",
        Action: ["s3:DeleteObject"],
        Resource: [`${ARN}/*`],
      },
      {
        Sid: "OnlyTheWorkflowWritesRecords",
        Effect: "Deny",
        Principal: "*",
        Action: ["s3:PutObject"],
        Resource: [`${ARN}/*`],
        Condition: { ArnNotEquals: { "aws:PrincipalArn": WRITER } },
      },
    ]);
    expect(governance.outputs.policy).to.equal(named(governance.resources, "audit-policy").inputs.policy);
  });

  it("denies every principal a record's content when nobody is named to read it, and leaves writes to IAM without a writer", () => {
    const policy = policyOf(compliance);
    const arn = "arn:aws:s3:::audit-bucket-a1b2c3d";
    expect(policy.Statement.map((s: { Sid: string }) => s.Sid)).to.deep.equal([
      "DenyWithoutTls",
      "OnlyReadersReadRecords",
      "NoDeleteMarkers",
    ]);
    expect(policy.Statement[1]).to.deep.equal({
      Sid: "OnlyReadersReadRecords",
      Effect: "Deny",
      Principal: "*",
      Action: ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectVersionForReplication"],
      Resource: [`${arn}/*`],
    });
    // No Allow names anyone: nothing in the bucket policy gives access.
    expect(policy.Statement.filter((s: { Effect: string }) => s.Effect === "Allow")).to.deep.equal([]);
  });

  it("gives the workflow role exactly PutObject under records/ (the bucket's default retention needs no s3:PutObjectRetention)", () => {
    expect(governance.outputs.write).to.deep.equal([
      { Sid: "WriteDecisionRecords", Effect: "Allow", Action: ["s3:PutObject"], Resource: [`${ARN}/records/*`] },
    ]);
  });

  it("gives a reader's IAM policy the list and read statements of the bucket policy, without a principal", () => {
    expect(governance.outputs.read).to.deep.equal([
      {
        Sid: "ListDecisionRecords",
        Effect: "Allow",
        Action: ["s3:ListBucket", "s3:ListBucketVersions"],
        Resource: [ARN],
        Condition: { StringLike: { "s3:prefix": "records/*" } },
      },
      {
        Sid: "ReadDecisionRecords",
        Effect: "Allow",
        Action: ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectRetention", "s3:GetObjectLegalHold"],
        Resource: [`${ARN}/records/*`],
      },
    ]);
  });

  it("does what it says when AWS evaluates it (iam-simulate over the Service Authorization Reference)", async () => {
    const identity = (principal: string, statements: unknown): CollectedPolicy => ({
      origin: `${principal} identity policy`,
      kind: "identity",
      principal: withoutPath(principal),
      document: { Version: "2012-10-17", Statement: statements as CollectedPolicy["document"]["Statement"] },
    });
    const policies = [
      ...collectPolicies(governance.resources),
      identity(WRITER, governance.outputs.write),
      // An administrator: s3:* through IAM (AdministratorAccess, AmazonS3FullAccess).
      identity(ADMIN, [{ Effect: "Allow", Action: "s3:*", Resource: "*" }]),
    ];
    const record = `${ARN}/records/2026-12-02/ER98765/2026-12-02T10:00:00.000Z-outcome.json`;
    const call = async (principal: string, action: string, resource: string, context: Record<string, string> = {}) =>
      (
        await simulateCall(policies, {
          principal,
          action,
          resource,
          context: { "aws:PrincipalArn": principal, "aws:SecureTransport": "true", ...context },
        })
      ).result;
    const outcomes = {
      writerPuts: await call(WRITER, "s3:PutObject", record),
      writerPutsWithoutTls: await call(WRITER, "s3:PutObject", record, { "aws:SecureTransport": "false" }),
      writerPutsElsewhere: await call(WRITER, "s3:PutObject", `${ARN}/other.json`),
      writerReads: await call(WRITER, "s3:GetObject", record),
      readerReads: await call(READERS[0], "s3:GetObject", record),
      readerReadsAVersion: await call(READERS[1], "s3:GetObjectVersion", record),
      readerSeesRetention: await call(READERS[0], "s3:GetObjectRetention", record),
      readerLists: await call(READERS[0], "s3:ListBucket", ARN, { "s3:prefix": "records/2026-12-02/" }),
      readerListsAll: await call(READERS[0], "s3:ListBucket", ARN, { "s3:prefix": "" }),
      readerPuts: await call(READERS[0], "s3:PutObject", record),
      adminReads: await call(ADMIN, "s3:GetObject", record),
      adminPuts: await call(ADMIN, "s3:PutObject", record),
      adminPlacesDeleteMarker: await call(ADMIN, "s3:DeleteObject", record),
      adminDeletesAVersion: await call(ADMIN, "s3:DeleteObjectVersion", record),
      adminBypassesGovernance: await call(ADMIN, "s3:BypassGovernanceRetention", record),
      adminChangesThePolicy: await call(ADMIN, "s3:PutBucketPolicy", ARN),
      adminChangesTheRetention: await call(ADMIN, "s3:PutBucketObjectLockConfiguration", ARN),
      adminLists: await call(ADMIN, "s3:ListBucket", ARN, { "s3:prefix": "records/" }),
    };
    expect(outcomes).to.deep.equal({
      writerPuts: "Allowed",
      writerPutsWithoutTls: "ExplicitlyDenied",
      writerPutsElsewhere: "ImplicitlyDenied",
      writerReads: "ExplicitlyDenied",
      readerReads: "Allowed",
      readerReadsAVersion: "Allowed",
      readerSeesRetention: "Allowed",
      readerLists: "Allowed",
      readerListsAll: "ImplicitlyDenied",
      readerPuts: "ExplicitlyDenied",
      adminReads: "ExplicitlyDenied",
      adminPuts: "ExplicitlyDenied",
      adminPlacesDeleteMarker: "ExplicitlyDenied",
      // Left to Object Lock: a version under retention cannot be deleted (governance: unless bypassed).
      adminDeletesAVersion: "Allowed",
      adminBypassesGovernance: "Allowed",
      // Managing the bucket stays with IAM.
      adminChangesThePolicy: "Allowed",
      adminChangesTheRetention: "Allowed",
      adminLists: "Allowed",
    });
  });

  it("names the bucket after the stack, lowercase, within the provider's 37 characters before its unique suffix", () => {
    expect(named(compliance.resources, "audit-bucket").inputs.bucketPrefix).to.equal("sfn-approvals-dev-audit-");
    expect(bucketPrefix("My_Project-Production")).to.equal("my-project-production-audit-");
    const long = bucketPrefix("sfn-approvals-production-eu-west-1-blue");
    expect(long).to.equal("sfn-approvals-production-eu-we-audit-");
    expect(long).to.have.length(37);
    expect(bucketPrefix("---")).to.equal("sfn-approvals-audit-");
  });

  it("warns at preview when nobody may read the records (dev), and only then", () => {
    expect(warnings).to.deep.equal([
      "Nobody may read the decision records: name readers in sfn-approvals:audit.readers or sfn-approvals:executionDataReaders (docs/audit.md#who-may-read-it).",
    ]);
  });
});
