// How many writes the sandbox had in flight at once, so a test can check that a client writes
// concurrently (and within its bound) without looking at the clock. A write is in flight from its
// arrival until its answer, or until the long-running operation it started ends.

export interface WriteWindow {
  /** The write is over at `at` (default: now). */
  end(at?: number): void;
}

export class WriteConcurrency {
  private open: Array<{ apim: boolean; end?: number }> = [];
  private maxWrites = 0;
  private maxApimWrites = 0;
  private apiConflicts = 0;

  constructor(private readonly now: () => number = Date.now) {}

  begin(apim: boolean): WriteWindow {
    const t = this.now();
    this.open = this.open.filter((w) => w.end === undefined || w.end > t);
    const window: { apim: boolean; end?: number } = { apim };
    this.open.push(window);
    this.maxWrites = Math.max(this.maxWrites, this.open.length);
    this.maxApimWrites = Math.max(this.maxApimWrites, this.open.filter((w) => w.apim).length);
    return { end: (at) => void (window.end = at ?? this.now()) };
  }

  /** A write refused by APIM's API lock. */
  conflict(): void {
    this.apiConflicts++;
  }

  /** The fields `/_sandbox/requests` adds. */
  snapshot(): { maxConcurrentWrites: number; maxConcurrentApimWrites: number; apiConflicts: number } {
    return { maxConcurrentWrites: this.maxWrites, maxConcurrentApimWrites: this.maxApimWrites, apiConflicts: this.apiConflicts };
  }

  /** Forgets the maxima and the count; writes still in flight stay counted. */
  reset(): void {
    this.maxWrites = 0;
    this.maxApimWrites = 0;
    this.apiConflicts = 0;
  }
}
