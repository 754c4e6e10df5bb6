// Execution histories of Step Functions link each event to the one it follows in its own branch
// (previousEventId): the first event of each Parallel branch follows the ParallelStateStarted,
// a TaskScheduled its TaskStateEntered, a TaskStarted its TaskScheduled, and so on. Concurrent
// branches interleave, so "what happened to this Task" means the events that follow its
// TaskScheduled through those links, not the events after it in time.
// Plain TypeScript with no import: the approval page's function is serialized with it.

/** The parts of a history event that tie it to the events it follows. */
export interface LinkedEvent {
  id?: number;
  previousEventId?: number;
  type?: string;
}

/** The events of `events` (in any order) that follow event `startId` through previousEventId links, oldest first. */
export function eventsFollowing<T extends LinkedEvent>(startId: number, events: T[]): T[] {
  const linked: Record<number, true> = { [startId]: true };
  const found: T[] = [];
  // Oldest first: an event's previousEventId is always older than the event itself.
  for (const event of [...events].sort((a, b) => (a.id ?? 0) - (b.id ?? 0))) {
    if (
      event.id === undefined ||
      event.id <= startId ||
      event.previousEventId === undefined ||
      !linked[event.previousEventId]
    )
      continue;
    linked[event.id] = true;
    found.push(event);
  }
  return found;
}
