// A handler from functions/ deployed as a Lambda with the project's secure defaults: its own
// least-privilege role (never CallbackFunction's default role with its *FullAccess policies),
// its own log group with retention, nodejs24.x, small memory, short timeout, and an archive that
// holds only the handler (the runtime provides AWS SDK v3), plus any client the handler needs newer
// than the runtime's SDK (bundledPackages).
import * as aws from "@pulumi/aws";
import { readFileSync } from "fs";
import { join } from "path";
import * as pulumi from "@pulumi/pulumi";
import { redactingHandler } from "../../functions/shared/redact";
import { PolicyStatement, policyDocument, serviceTrustPolicy } from "./iam";

// Node.js 24, deprecated on 30 April 2028 (https://docs.aws.amazon.com/lambda/latest/dg/lambda-nodejs.html);
// the tests and the CLIs run on the same major (package.json devDependencies.node).
export const LAMBDA_RUNTIME = "nodejs24.x";
export const LAMBDA_MEMORY_MB = 128;
export const LAMBDA_TIMEOUT_SECONDS = 30;
export const LOG_RETENTION_DAYS = 365;

/**
 * Every production dependency is either an AWS SDK v3 client, which the Lambda runtime already
 * provides, or a Pulumi package the handlers never load. Excluding them all keeps each archive to
 * the serialized handler alone, also when a new client is added to package.json; a function ships a
 * client only when it names it in bundledPackages.
 */
export const EXCLUDED_PACKAGES: string[] = Object.keys(
  (
    JSON.parse(readFileSync(join(__dirname, "..", "..", "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    }
  ).dependencies,
);

export interface ApprovalFunctionArgs<E, R> {
  description: string;
  callback: aws.lambda.Callback<E, R>;
  environment: Record<string, pulumi.Input<string>>;
  /** What the handler may do besides writing its own logs. */
  statements: pulumi.Input<PolicyStatement[]>;
  /**
   * Production dependencies shipped in the archive instead of taken from the runtime: an AWS SDK
   * client whose response fields the handler reads are newer than the runtime's SDK is known to
   * have (tests/sdkResponseFields.test.ts); the runtime's older client would silently drop them.
   */
  bundledPackages?: string[];
}

export class ApprovalFunction<E = unknown, R = unknown> extends pulumi.ComponentResource {
  readonly role: aws.iam.Role;
  readonly logGroup: aws.cloudwatch.LogGroup;
  readonly function: aws.lambda.CallbackFunction<E, R>;

  constructor(name: string, args: ApprovalFunctionArgs<E, R>, opts?: pulumi.ComponentResourceOptions) {
    super("sfn-approvals:index:ApprovalFunction", name, {}, opts);
    const parent = { parent: this };

    this.logGroup = new aws.cloudwatch.LogGroup(
      `${name}-logs`,
      {
        name: `/${pulumi.getProject()}/${pulumi.getStack()}/${name}`,
        retentionInDays: LOG_RETENTION_DAYS,
      },
      parent,
    );

    this.role = new aws.iam.Role(
      `${name}-role`,
      {
        description: `Runs ${args.description}`,
        assumeRolePolicy: serviceTrustPolicy("lambda.amazonaws.com"),
      },
      parent,
    );

    const policy = new aws.iam.RolePolicy(
      `${name}-policy`,
      {
        role: this.role.id,
        policy: policyDocument(
          pulumi.output(args.statements).apply((statements) => [
            {
              Sid: "WriteOwnLogs",
              Effect: "Allow" as const,
              Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
              Resource: [pulumi.interpolate`${this.logGroup.arn}:*`],
            },
            ...statements,
          ]),
        ),
      },
      parent,
    );

    // Every error the handler throws and every line it logs is redacted first, so no task token
    // (an AWS error message may echo it) reaches the logs, a Task's Cause or a dead-letter record.
    // The wrapper captures only the callback (not `args`, whose Outputs cannot be serialized).
    const callback = args.callback;
    this.function = new aws.lambda.CallbackFunction<E, R>(
      `${name}-fn`,
      {
        description: args.description,
        callback: redactingHandler(callback) as aws.lambda.Callback<E, R>,
        role: this.role,
        runtime: LAMBDA_RUNTIME,
        memorySize: LAMBDA_MEMORY_MB,
        timeout: LAMBDA_TIMEOUT_SECONDS,
        environment: { variables: args.environment },
        loggingConfig: { logFormat: "JSON", logGroup: this.logGroup.name },
        codePathOptions: {
          extraExcludePackages: EXCLUDED_PACKAGES.filter((name) => !(args.bundledPackages ?? []).includes(name)),
        },
      },
      { parent: this, dependsOn: [policy] },
    );

    this.registerOutputs({ functionArn: this.function.arn, roleArn: this.role.arn });
  }

  /** Grants the function more rights later (for ARNs that exist only after the function, such as its state machine). */
  allow(name: string, statements: pulumi.Input<PolicyStatement[]>): aws.iam.RolePolicy {
    return new aws.iam.RolePolicy(name, { role: this.role.id, policy: policyDocument(statements) }, { parent: this });
  }
}
