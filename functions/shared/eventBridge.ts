// The envelope of an event EventBridge delivers to a rule's target (Amazon EventBridge User Guide,
// "Amazon EventBridge events", Event structure reference:
// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html). The samples
// in tests/fixtures/aws-events/ are AWS's own events of this shape.

export interface EventBridgeEvent<DetailType extends string = string> {
  /** "0" in all events. */
  version: string;
  id: string;
  /** With `source`, says which fields `detail` holds. */
  "detail-type": DetailType;
  /** "aws.<service prefix>" for events from AWS services. */
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, unknown>;
}

/**
 * The detail-type and detail of an event from `source` with one of `detailTypes`, or an
 * InvalidEvent error. The handlers read no other envelope field, so none is checked.
 */
export function parseEventBridgeEvent<DetailType extends string>(
  event: unknown,
  source: string,
  detailTypes: readonly DetailType[],
): { detailType: DetailType; detail: Record<string, unknown> } {
  if (typeof event !== "object" || event === null) {
    throw new Error("InvalidEvent: expected an EventBridge event object");
  }
  const e = event as Partial<Record<keyof EventBridgeEvent, unknown>>;
  const detailType = e["detail-type"];
  if (e.source !== source || !detailTypes.includes(detailType as DetailType)) {
    const expected = detailTypes.map((t) => `'${t}'`).join(" or ");
    throw new Error(
      `InvalidEvent: expected source '${source}' and detail-type ${expected}, got '${String(e.source)}' / '${String(detailType)}'`,
    );
  }
  const detail = e.detail;
  if (typeof detail !== "object" || detail === null) {
    throw new Error("InvalidEvent: the event has no 'detail' object");
  }
  return { detailType: detailType as DetailType, detail: detail as Record<string, unknown> };
}
