// Attaching a component's managed policy to the IAM users and roles that config names.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/** "arn:aws:iam::123456789012:role/path/Name" -> { kind: "role", account: "123456789012", name: "Name" } */
export function principalOf(arn: string): { kind: "user" | "role"; account: string; name: string } {
  const match = /^arn:[a-z-]+:iam::(\d{12}):(user|role)\/(?:.*\/)?([^/]+)$/.exec(arn);
  if (!match) throw new pulumi.RunError(`'${arn}' is not an IAM user or role ARN`);
  return { account: match[1], kind: match[2] as "user" | "role", name: match[3] };
}

/**
 * Attaches `policyArn` to each principal. Attachments name the principal only, in the stack's
 * account: an ARN of another account would otherwise grant the same-named principal here, so such
 * an ARN fails the deployment before anything is attached.
 */
export function attachToPrincipals(args: {
  component: string;
  resourceName: string;
  principals: string[];
  policyArn: pulumi.Input<string>;
  accountId: pulumi.Output<string>;
  parent: pulumi.Resource;
}): void {
  for (const arn of args.principals) {
    const principal = principalOf(arn);
    const principalName = args.accountId.apply((account) => {
      if (principal.account !== account) {
        throw new pulumi.RunError(`${args.component}: approver ${arn} is not in the stack's account ${account}; approvers of this mechanism must be users or roles of that account`);
      }
      return principal.name;
    });
    const opts = { parent: args.parent };
    if (principal.kind === "role") {
      new aws.iam.RolePolicyAttachment(`${args.resourceName}-approver-role-${principal.name}`, { role: principalName, policyArn: args.policyArn }, opts);
    } else {
      new aws.iam.UserPolicyAttachment(`${args.resourceName}-approver-user-${principal.name}`, { user: principalName, policyArn: args.policyArn }, opts);
    }
  }
}
