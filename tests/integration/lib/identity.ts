// Who approves the IAM-authenticated stages of the test stacks: the caller itself, so that the
// suite can decide them with its own credentials.

export class ApproverIdentityError extends Error {}

/**
 * The IAM principal to list as approver for a caller ARN from STS GetCallerIdentity:
 * an IAM user as it is; a role session (`arn:aws:sts::<acct>:assumed-role/<role>/<session>`) as
 * the role `arn:aws:iam::<acct>:role/<role>`. A session ARN does not show the role's path, so a
 * role with a path comes back without it; the stack's attachments and SSM use only the role's name
 * and account, while the result functions compare sessions by role name.
 * Root and federated users cannot be approvers: they throw.
 */
export function approverArnFromCaller(callerArn: string): string {
  const user = /^arn:(aws[a-z-]*):iam::(\d{12}):user\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/.exec(callerArn);
  if (user) return callerArn;
  const role = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/.exec(callerArn);
  if (role) return callerArn;
  const session = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([\w+=,.@-]{1,64})\/[\w+=,.@-]+$/.exec(callerArn);
  if (session) {
    const [, partition, account, roleName] = session;
    return `arn:${partition}:iam::${account}:role/${roleName}`;
  }
  if (/^arn:aws[a-z-]*:iam::\d{12}:root$/.test(callerArn)) {
    throw new ApproverIdentityError(`the caller is the account's root user (${callerArn}), which cannot be an approver: run the suite as an IAM user or a role session`);
  }
  if (/^arn:aws[a-z-]*:sts::\d{12}:federated-user\//.test(callerArn)) {
    throw new ApproverIdentityError(`the caller is a federated user (${callerArn}), which cannot be an approver: run the suite as an IAM user or a role session`);
  }
  throw new ApproverIdentityError(`the caller ARN '${callerArn}' is neither an IAM user nor a role session, so it cannot be an approver`);
}

