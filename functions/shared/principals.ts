// Whether the principal that acted (an IAM user ARN, a role ARN, or a role session's
// "assumed-role" ARN as AWS reports it) is one of the principals config names.

/** True when `actor` is `configured`, or a session of the role `configured` names. */
export function actorIsPrincipal(actor: string, configured: string): boolean {
  if (actor === configured) return true;
  const role = /^arn:([a-z-]+):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(configured);
  if (!role) return false;
  const [, partition, account, name] = role;
  const session = /^arn:([a-z-]+):sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/.exec(actor);
  return session !== null && session[1] === partition && session[2] === account && session[3] === name;
}

export function actorIsAnyOf(actor: string | undefined, configured: string[]): boolean {
  return actor !== undefined && configured.some((principal) => actorIsPrincipal(actor, principal));
}
