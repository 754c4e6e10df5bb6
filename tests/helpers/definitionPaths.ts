// Paths through a generated workflow definition, read the way Step Functions would follow them.

/**
 * Where a stage's Check state sends an explicit approval (the rule testing approved == true); with
 * the decision record, through "Record <stage> decision" and "Route <stage> decision".
 */
export function approvalTarget(definition: any, stage: string): string {
  const rules = definition.States[`Check ${stage}`].Choices.filter((c: any) =>
    c.And?.some((r: any) => r.BooleanEquals === true),
  );
  if (rules.length !== 1) throw new Error(`Check ${stage} has ${rules.length} approval rules`);
  if (rules[0].Next !== `Record ${stage} decision`) return rules[0].Next;
  if (definition.States[rules[0].Next].Next !== `Route ${stage} decision`)
    throw new Error(`Record ${stage} decision does not go on to Route ${stage} decision`);
  const route = definition.States[`Route ${stage} decision`].Choices.filter((c: any) => c.StringEquals === "approved");
  if (route.length !== 1) throw new Error(`Route ${stage} decision has ${route.length} approval rules`);
  return route[0].Next;
}
