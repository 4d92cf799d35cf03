import { createHash } from "node:crypto";
import { explainAzureError } from "../azure/errors.js";
import { UserError } from "../errors.js";
import { levels, SerialQueue } from "./graph.js";
import { appliedStatus, pending, planStatus } from "./plan.js";
import type { Change, RunContext, Step, StepId, StepOutputs, StepReport } from "./types.js";

export interface EngineEvents {
  started(step: Step, phase: "plan" | "apply"): void;
  progress(step: Step, message: string): void;
  finished(step: Step, report: StepReport): void;
}

export type BaseContext = Omit<RunContext, "outputs" | "progress">;

interface Planned {
  step: Step;
  observed: unknown;
  changes: Change[];
  outputs: StepOutputs;
}

/**
 * Runs steps in dependency order, independent steps concurrently, writes to the APIM instance one
 * at a time. `plan` only reads; `apply` writes, then reads again and fails the step if a second plan
 * still finds a difference (Azure accepted the write but did not keep it).
 */
export class Engine {
  private readonly apimWrites = new SerialQueue();
  private readonly planned = new Map<StepId, Planned>();
  private readonly failures = new Map<StepId, Error>();

  constructor(
    private readonly steps: Step[],
    private readonly base: BaseContext,
    private readonly events: EngineEvents,
  ) {}

  /** Observe and plan every step. Throws a user error when a read is refused. */
  async plan(): Promise<StepReport[]> {
    for (const level of levels(this.steps)) {
      await Promise.all(
        level.map(async (step) => {
          this.events.started(step, "plan");
          const result = await this.observeAndPlan(step);
          this.planned.set(step.id, result);
          this.events.finished(step, this.report(step, result.changes));
        }),
      );
    }
    return this.steps.map((s) => this.report(s, this.planned.get(s.id)!.changes));
  }

  get hasChanges(): boolean {
    return [...this.planned.values()].some((p) => pending(p.changes).length > 0);
  }

  /** Runs every planned step's preflight (those with changes) before anything is written. */
  async preflight(): Promise<void> {
    for (const { step, changes } of this.planned.values()) {
      if (!step.preflight || pending(changes).length === 0) continue;
      try {
        await step.preflight(this.context(step));
      } catch (err) {
        throw explainAzureError(err, step.id, step.requiredRole);
      }
    }
  }

  /** Apply the plan. Returns a report per step; never throws for a step failure. */
  async apply(): Promise<StepReport[]> {
    const reports = new Map<StepId, StepReport>();
    const changed = new Set<StepId>();
    const inputsHash = createHash("sha256").update(JSON.stringify(this.base.config)).digest("hex").slice(0, 16);
    for (const level of levels(this.steps)) {
      await Promise.all(
        level.map(async (step) => {
          // A step skipped by configuration (nothing to do) does not block; one not run because its own inputs failed does.
          const blocked = step.needs.find((n) => reports.get(n)?.status === "failed" || (reports.get(n)?.status === "skipped" && reports.get(n)?.error));
          if (blocked) {
            const report: StepReport = { id: step.id, title: step.title, status: "skipped", changes: [], error: `not run: ${blocked} did not complete` };
            reports.set(step.id, report);
            this.events.finished(step, report);
            return;
          }
          this.events.started(step, "apply");
          try {
            // Upstream writes can change this step's inputs (a principal id now exists): plan again.
            let current = this.planned.get(step.id)!;
            if (step.needs.some((n) => changed.has(n))) current = await this.observeAndPlan(step);
            const writes = pending(current.changes);
            if (writes.length === 0) {
              await this.base.journal.record(step.id, { status: "done", inputsHash, outputs: current.outputs, error: undefined });
              const report = this.report(step, current.changes);
              reports.set(step.id, report);
              this.events.finished(step, report);
              return;
            }
            await this.base.journal.record(step.id, { status: "applying", inputsHash, error: undefined });
            const ctx = this.context(step);
            for (const change of writes) {
              const write = change.write;
              if (!write) continue;
              await (change.apimWrite ? this.apimWrites.run(() => write(ctx)) : write(ctx));
            }
            const verified = await this.observeAndPlan(step);
            this.planned.set(step.id, verified);
            const left = pending(verified.changes);
            if (left.length > 0) {
              throw new UserError(
                `${step.id}: Azure accepted the writes but a second read still differs: ${left.map(describe).join("; ")}`,
                1,
              );
            }
            changed.add(step.id);
            await this.base.journal.record(step.id, { status: "done", outputs: verified.outputs });
            const report: StepReport = { id: step.id, title: step.title, status: appliedStatus(planStatus(writes)), changes: current.changes };
            reports.set(step.id, report);
            this.events.finished(step, report);
          } catch (err) {
            const error = explainAzureError(err, step.id, step.requiredRole);
            await this.base.journal.record(step.id, { status: "failed", error: error.message }).catch(() => undefined);
            const report: StepReport = { id: step.id, title: step.title, status: "failed", changes: this.planned.get(step.id)?.changes ?? [], error: error.message };
            this.failures.set(step.id, error);
            reports.set(step.id, report);
            this.events.finished(step, report);
          }
        }),
      );
    }
    return this.steps.map((s) => reports.get(s.id)!);
  }

  /** The first failure of the last apply, as thrown (keeps its exit code). */
  get firstFailure(): Error | undefined {
    return [...this.failures.values()][0];
  }

  private async observeAndPlan(step: Step): Promise<Planned> {
    const ctx = this.context(step);
    try {
      const observed = await step.observe(ctx);
      const changes = step.plan(ctx, observed);
      return { step, observed, changes, outputs: step.outputs(ctx, observed) };
    } catch (err) {
      throw explainAzureError(err, step.id, step.requiredRole);
    }
  }

  private context(step: Step): RunContext {
    const outputs: Record<string, StepOutputs> = {};
    for (const [id, p] of this.planned) outputs[id] = p.outputs;
    return { ...this.base, outputs, progress: (message) => this.events.progress(step, message) };
  }

  private report(step: Step, changes: Change[]): StepReport {
    return { id: step.id, title: step.title, status: planStatus(changes), changes };
  }
}

function describe(c: Change): string {
  const fields = c.fields.map((f) => f.field).join(", ");
  return fields ? `${c.resource} (${fields})` : c.resource;
}
