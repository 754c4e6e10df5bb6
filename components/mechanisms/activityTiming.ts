// The activity mechanism's timing, shared by its component and the approval worker CLI (kept apart
// from the component so the CLI starts without loading Pulumi).

/** Longest silence between two heartbeats of a worker that holds the task (the worker beats every 30 s). */
export const ACTIVITY_HEARTBEAT_SECONDS = 120;
/** How often a task released by a vanished worker (heartbeat timeout) is offered again. */
export const ACTIVITY_RELEASES = 3;
