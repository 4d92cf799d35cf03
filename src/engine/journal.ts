import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import writeFileAtomic from "write-file-atomic";
import { UserError, ExitCode } from "../errors.js";
import type { StepOutputs } from "./change.js";
import { RunLock } from "./run-lock.js";

/**
 * The resume journal, `.aeg/state/<environment>.json`: per step its status, the hash of its inputs,
 * its outputs (resource ids, principal ids) and any long-running operation in flight. It never holds
 * a secret or a token. A run always re-reads live state before trusting it: the journal says what
 * aeg did, Azure says what is.
 */
interface StepRecord {
  status: "applying" | "done" | "failed";
  inputsHash?: string;
  outputs?: StepOutputs;
  /** A long-running operation started by aeg and not yet seen to finish. */
  operation?: { kind: string; resource: string; startedAt: string };
  error?: string;
  updatedAt: string;
}

/** Who applied which saved plan, and when (`aeg apply`): what an auditor asks of a change. */
export interface AppliedPlan {
  planDigest: string;
  changeId?: string;
  planner: { objectId: string; name: string; tenantId: string };
  applier: { objectId: string; name: string; tenantId: string };
  plannedAt: string;
  appliedAt: string;
  /** applied: every change made and verified; failed: the run stopped part-way (resume with a new plan). */
  outcome: "applied" | "failed";
  /** SHA-256 (hex) of each policy document as ARM returned it after the apply, by resource id. */
  policyDigests?: Record<string, string>;
}

interface StateFile {
  schemaVersion: 1;
  environment: string;
  updatedAt: string;
  steps: Record<string, StepRecord>;
  lastApply?: AppliedPlan;
}

export class Journal {
  private constructor(
    readonly file: string,
    private state: StateFile,
    private readonly lock: RunLock | undefined,
  ) {}

  /** Opens (and, for runs that write, locks) the journal of an environment. */
  static async open(stateDir: string, environment: string, opts: { lock: boolean }): Promise<Journal> {
    await mkdir(stateDir, { recursive: true });
    const file = path.join(stateDir, `${environment}.json`);
    const lock = opts.lock ? await RunLock.acquire(`${file}.lock`) : undefined;
    let state: StateFile = { schemaVersion: 1, environment, updatedAt: new Date().toISOString(), steps: {} };
    try {
      const parsed = JSON.parse(await readFile(file, "utf8")) as StateFile;
      if (parsed.schemaVersion === 1 && parsed.steps) state = parsed;
    } catch {
      // No journal yet, or an unreadable one: live state is read anyway, so start afresh.
    }
    return new Journal(file, state, lock);
  }

  get(step: string): StepRecord | undefined {
    return this.state.steps[step];
  }

  get lastApply(): AppliedPlan | undefined {
    return this.state.lastApply;
  }

  async recordApply(applied: AppliedPlan): Promise<void> {
    this.state = { ...this.state, updatedAt: applied.appliedAt, lastApply: applied };
    await this.save();
  }

  async record(step: string, patch: Partial<Omit<StepRecord, "updatedAt">>): Promise<void> {
    const now = new Date().toISOString();
    const prior = this.state.steps[step];
    const next: StepRecord = { status: "applying", ...prior, ...patch, updatedAt: now };
    // An explicit undefined in the patch clears the field (e.g. a finished operation).
    for (const [key, value] of Object.entries(patch)) if (value === undefined) delete next[key as keyof StepRecord];
    this.state = { ...this.state, updatedAt: now, steps: { ...this.state.steps, [step]: next } };
    await this.save();
  }

  /** Only a run that holds the lock writes the journal. */
  private async save(): Promise<void> {
    if (this.lock) await writeFileAtomic(this.file, `${JSON.stringify(this.state, null, 2)}\n`, { mode: 0o600 });
  }

  async close(): Promise<void> {
    await this.lock?.release();
  }
}
