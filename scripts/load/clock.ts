// The load run's simulated time. Functions and fakes run at full speed while simulated time
// stands still; when no work is in flight (no function invocation, no approver request), the
// clock jumps to the next timer: an approver's delay, a Retry's wait, a Task's TimeoutSeconds, a
// token bucket's refill. So rates and waits are measured in simulated seconds whatever the
// machine's speed, and a run of hours of simulated time takes seconds.
//
// aws-local-stepfunctions sleeps (Retry, Wait) and times Tasks out with the global setTimeout
// (build/main.node.esm.js `sleep`, TaskStateAction.execute); while a run is on, those calls (and
// only those: the calling frame is the library's) are timers of this clock. Nothing in the
// definition is changed.
import { join } from "path";

export class VirtualTimer {
  constructor(
    readonly due: number,
    readonly seq: number,
    readonly fire: () => void,
  ) {}
  cleared = false;
  // The library calls neither, but a Timeout has them.
  unref(): this {
    return this;
  }
  ref(): this {
    return this;
  }
}

/** Real milliseconds work may run without the clock moving before the run counts as stalled. */
const STALL_MS = 600000;

const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;

export class VirtualClock {
  /** Simulated milliseconds since the run began. */
  now = 0;
  private timers: VirtualTimer[] = [];
  private seq = 0;
  private busy = 0;
  private idleTurns = 0;
  private running = false;
  private movedAt = Date.now();

  setTimeout(fire: () => void, ms: number): VirtualTimer {
    const timer = new VirtualTimer(this.now + Math.max(0, Number(ms) || 0), this.seq++, fire);
    // Kept sorted by due time, then by creation.
    let i = this.timers.length;
    while (
      i > 0 &&
      (this.timers[i - 1].due > timer.due ||
        (this.timers[i - 1].due === timer.due && this.timers[i - 1].seq > timer.seq))
    )
      i--;
    this.timers.splice(i, 0, timer);
    return timer;
  }

  clear(timer: VirtualTimer): void {
    timer.cleared = true;
    const i = this.timers.indexOf(timer);
    if (i >= 0) this.timers.splice(i, 1);
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimeout(resolve, ms));
  }

  /** Work that takes no simulated time: the clock does not move until it has settled. */
  async work<T>(task: () => Promise<T>): Promise<T> {
    this.busy += 1;
    try {
      return await task();
    } finally {
      this.busy -= 1;
      this.movedAt = Date.now();
    }
  }

  get pendingTimers(): number {
    return this.timers.length;
  }

  /**
   * Moves time on until `done()` says the run is over. Returns false when nothing is in flight and
   * no timer is left while the run is not over (nothing can happen any more: requests are stuck).
   */
  run(done: () => boolean): Promise<boolean> {
    this.running = true;
    this.movedAt = Date.now();
    return new Promise((resolve) => {
      const turn = () => {
        if (done()) {
          this.running = false;
          resolve(true);
          return;
        }
        if (this.busy > 0) {
          this.idleTurns = 0;
          // Work that never ends (a hung function process) would stop time for good.
          if (Date.now() - this.movedAt > STALL_MS) {
            this.running = false;
            resolve(false);
            return;
          }
          // Work in flight: look again soon, without spinning a core the functions need.
          realSetTimeout(turn, 1);
          return;
        }
        // Idle for a few turns of the event loop (I/O already read has been handled): move on.
        if (++this.idleTurns < 3) {
          setImmediate(turn);
          return;
        }
        this.idleTurns = 0;
        const next = this.timers[0];
        if (!next) {
          this.running = false;
          resolve(false);
          return;
        }
        this.now = next.due;
        this.movedAt = Date.now();
        while (this.timers.length > 0 && this.timers[0].due === this.now) {
          const timer = this.timers.shift()!;
          timer.fire();
        }
        setImmediate(turn);
      };
      setImmediate(turn);
    });
  }

  get isRunning(): boolean {
    return this.running;
  }
}

// The library's timers, and the 30-s limit tests/helpers/serializedHandler.ts puts on an invocation
// (a function's run takes no simulated time; on a busy machine it may take 30 real seconds).
const LIBRARY = /aws-local-stepfunctions|serializedHandler/;

/**
 * While installed, the library's timers run on `clock`; every other setTimeout stays real.
 * Returns the function that removes it.
 */
export function installLibraryTimers(clock: VirtualClock): () => void {
  const patchedSet = function (this: unknown, callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) {
    // Only a call made by the library itself (its caller's frame), not one made under it.
    const caller = (new Error().stack ?? "").split("\n")[2] ?? "";
    if (LIBRARY.test(caller)) return clock.setTimeout(() => callback(...args), ms ?? 0) as unknown as NodeJS.Timeout;
    return realSetTimeout(callback, ms, ...args);
  } as unknown as typeof globalThis.setTimeout;
  const patchedClear = function (timer: unknown) {
    if (timer instanceof VirtualTimer) clock.clear(timer);
    else realClearTimeout(timer as NodeJS.Timeout);
  } as typeof globalThis.clearTimeout;
  globalThis.setTimeout = patchedSet;
  globalThis.clearTimeout = patchedClear;
  return () => {
    globalThis.setTimeout = realSetTimeout;
    globalThis.clearTimeout = realClearTimeout;
  };
}

/**
 * Preloaded into each function's process (NODE_OPTIONS --require): its own waits (the SDK's retry
 * backoff, the Slack client's Retry-After) pass 1000 times faster. They take no simulated time.
 */
export const CHILD_TIMERS = join(__dirname, "childTimers.js");
