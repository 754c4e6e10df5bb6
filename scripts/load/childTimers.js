// Preloaded into a function's process during a load run (scripts/load/clock.ts): its waits (the
// SDK's retry backoff, the Slack client's Retry-After sleep) pass LOAD_TIME_FACTOR times faster.
"use strict";
const factor = Number(process.env.LOAD_TIME_FACTOR) || 1000;
const real = globalThis.setTimeout;
globalThis.setTimeout = function (callback, ms, ...args) {
  return real(callback, Math.floor((Number(ms) || 0) / factor), ...args);
};
