// Progress lines with timings: `[14:03:12 +83.4s] codepipeline: deploying it-codepipeline-3f9a1c ...`,
// and the waiting primitives of the suite (sleep and poll that an interrupt cuts short).

/** Where the suite writes: the terminal, or a buffer in the offline tests. */
export type Writer = (text: string) => void;

export class Progress {
  private readonly started = Date.now();

  constructor(
    readonly write: Writer = (text) => {
      process.stdout.write(text);
    },
  ) {}

  line(scope: string, text: string): void {
    const clock = new Date().toISOString().slice(11, 19);
    this.write(`[${clock} +${seconds(Date.now() - this.started)}] ${scope}: ${text}\n`);
  }

  /** Runs one step between a start line and a line with its duration (or its failure). */
  async step<T>(scope: string, what: string, action: () => Promise<T>, done?: (result: T) => string): Promise<T> {
    const t0 = Date.now();
    this.line(scope, `${what} ...`);
    try {
      const result = await action();
      this.line(scope, `${what}: ${done ? `${done(result)}, ` : ""}done in ${seconds(Date.now() - t0)}`);
      return result;
    } catch (error) {
      this.line(scope, `${what}: FAILED after ${seconds(Date.now() - t0)}`);
      throw error;
    }
  }
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** Resolves after `ms`, or rejects at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new Interrupted());
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Interrupted());
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

export class Interrupted extends Error {
  constructor() {
    super("interrupted");
    this.name = "Interrupted";
  }
}

/** A wait that ran out of time: the suite then prints what the stage's plumbing says (dead letters, errors). */
export class GaveUp extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GaveUp";
  }
}

export interface PollOptions {
  timeoutMs: number;
  intervalMs: number;
  signal: AbortSignal;
  lastSeen?: () => string | undefined;
}

/**
 * Asks `probe` every `intervalMs` until it returns a value; throws GaveUp after `timeoutMs` saying
 * what never happened. A probe that throws ends the wait with its error (a watched execution,
 * automation or pipeline that failed says why at once, rather than after the timeout).
 */
export async function poll<T>(what: string, probe: () => Promise<T | undefined>, options: PollOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (options.signal.aborted) throw new Interrupted();
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() + options.intervalMs > deadline) {
      const last = options.lastSeen?.();
      throw new GaveUp(
        `gave up after ${seconds(options.timeoutMs)} waiting for ${what}${last ? ` (last seen: ${last})` : ""}`,
      );
    }
    await sleep(options.intervalMs, options.signal);
  }
}

/** AccessDenied from IAM: what a principal sees until a new role, trust or policy has propagated. */
export function isAccessDenied(error: unknown): boolean {
  const name = (error as { name?: string; Code?: string })?.name ?? "";
  return /^(AccessDenied|AccessDeniedException|UnauthorizedOperation|UnauthorizedException)$/.test(name);
}

/**
 * Runs `action`, retrying while IAM says AccessDenied (a role, trust policy or attachment created
 * moments ago is not known everywhere yet; IAM User Guide, "Changes that I make are not always
 * immediately visible"), for at most `windowMs`. Any other error, or AccessDenied after the window, is thrown.
 */
export async function retryWhileDenied<T>(
  action: () => Promise<T>,
  options: { windowMs: number; intervalMs: number; signal: AbortSignal; onRetry?: (error: Error) => void },
): Promise<T> {
  const deadline = Date.now() + options.windowMs;
  for (;;) {
    try {
      return await action();
    } catch (error) {
      if (!isAccessDenied(error) || Date.now() + options.intervalMs > deadline) throw error;
      options.onRetry?.(error as Error);
    }
    await sleep(options.intervalMs, options.signal);
  }
}
