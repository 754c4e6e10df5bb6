// Progress lines with timings: `[14:03:12 +83.4s] codepipeline: deploying it-codepipeline-3f9a1c ...`.

export class Progress {
  private readonly started = Date.now();

  line(scope: string, text: string): void {
    const clock = new Date().toISOString().slice(11, 19);
    process.stdout.write(`[${clock} +${seconds(Date.now() - this.started)}] ${scope}: ${text}\n`);
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
    if (signal.aborted) { reject(new Interrupted()); return; }
    const timer = setTimeout(() => { signal.removeEventListener("abort", onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(timer); reject(new Interrupted()); };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

export class Interrupted extends Error {
  constructor() {
    super("interrupted (Ctrl-C)");
    this.name = "Interrupted";
  }
}

/** Asks `probe` every `intervalMs` until it returns a value; throws after `timeoutMs` saying what never happened. */
export async function poll<T>(what: string, probe: () => Promise<T | undefined>, options: { timeoutMs: number; intervalMs: number; signal: AbortSignal; lastSeen?: () => string | undefined }): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (options.signal.aborted) throw new Interrupted();
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() + options.intervalMs > deadline) {
      const last = options.lastSeen?.();
      throw new Error(`gave up after ${seconds(options.timeoutMs)} waiting for ${what}${last ? ` (last seen: ${last})` : ""}`);
    }
    await sleep(options.intervalMs, options.signal);
  }
}
