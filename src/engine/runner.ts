import { createHash } from "node:crypto";
import { explainAzureError } from "../azure/errors.js";
import { UserError } from "../errors.js";
import { blockedChanges, pending, type Change, type StepId, type StepOutputs, type StepReport } from "./change.js";
import { levels } from "./graph.js";
import { appliedStatus, planStatus } from "./plan.js";
import { DEFAULT_MAX_PARALLEL_WRITES, WriteScheduler } from "./scheduler.js";
import type { RunContext, Step, Write } from "./step.js";

export interface EngineEvents {
  started(step: Step, phase: "plan" | "apply"): void;
  progress(step: Step, message: string): void;
  finished(step: Step, report: StepReport): void;
}

/** What every step's context starts from, and how many APIM writes may run at once (scheduler.ts). */
export type BaseContext = Omit<RunContext, "outputs" | "progress"> & { maxParallelWrites?: number };

/**
 * Runs steps in dependency order, independent steps concurrently, and each step's writes
 * concurrently as far as their `after`/`lock` data and the APIM bound allow (scheduler.ts).
 * `plan` only reads and returns plain data; `apply` takes such a plan (this run's, or one read
 * back from JSON), writes, then reads again and fails the step if a second plan still finds a
 * difference (Azure accepted the write but did not keep it).
 */
export class Engine {
  private readonly writes: WriteScheduler;
  private readonly failures = new Map<StepId, Error>();

  constructor(
    readonly steps: readonly Step[],
    private readonly base: BaseContext,
    private readonly events: EngineEvents,
    /** The role each step needs, named in permission errors. */
    private readonly roles: Readonly<Record<StepId, string>>,
  ) {
    this.writes = new WriteScheduler(base.maxParallelWrites ?? DEFAULT_MAX_PARALLEL_WRITES);
  }

  /** Observe and plan every step. Throws a user error when a read is refused. */
  async plan(): Promise<StepReport[]> {
    const outputs: Partial<Record<StepId, StepOutputs>> = {};
    const reports = new Map<StepId, StepReport>();
    for (const level of levels([...this.steps])) {
      await Promise.all(
        level.map(async (step) => {
          this.events.started(step, "plan");
          const report = await this.observeAndPlan(step, outputs);
          outputs[step.id] = report.outputs;
          reports.set(step.id, report);
          this.events.finished(step, report);
        }),
      );
    }
    return this.steps.map((s) => reports.get(s.id)!);
  }

  /** Runs the preflight of every step with writes in the plan, before anything is written. */
  async preflight(plan: StepReport[]): Promise<void> {
    const outputs = outputsOf(plan);
    for (const report of plan) {
      const step = this.step(report.id);
      if (!step.preflight || pending(report.changes).length === 0) continue;
      try {
        await step.preflight(this.context(step, outputs));
      } catch (err) {
        throw explainAzureError(err, step.id, this.roles[step.id]);
      }
    }
  }

  /** Apply a plan. Returns a report per step; never throws for a step failure. */
  async apply(plan: StepReport[]): Promise<StepReport[]> {
    const refused = refusal(plan);
    if (refused) throw refused;
    const planned = new Map(plan.map((r) => [r.id, r]));
    const outputs = outputsOf(plan);
    const reports = new Map<StepId, StepReport>();
    const changed = new Set<StepId>();
    const inputsHash = createHash("sha256").update(JSON.stringify(this.base.config)).digest("hex").slice(0, 16);
    const finish = (step: Step, report: StepReport) => {
      reports.set(step.id, report);
      this.events.finished(step, report);
    };
    for (const level of levels([...this.steps])) {
      await Promise.all(
        level.map(async (step) => {
          // A step skipped by configuration (nothing to do) does not block; one not run because its own inputs failed does.
          const upstream = step.needs.find((n) => reports.get(n)?.status === "failed" || (reports.get(n)?.status === "skipped" && reports.get(n)?.error));
          if (upstream) return finish(step, { id: step.id, title: step.title, status: "skipped", changes: [], error: `not run: ${upstream} did not complete` });
          this.events.started(step, "apply");
          let current = planned.get(step.id);
          if (!current) throw new Error(`the plan has no entry for step ${step.id}`);
          try {
            // Upstream writes can change this step's inputs (a principal id now exists): plan again.
            if (step.needs.some((n) => changed.has(n))) current = await this.observeAndPlan(step, outputs);
            const writes = pending(current.changes);
            if (writes.length === 0) {
              await this.base.journal.record(step.id, { status: "done", inputsHash, outputs: current.outputs, error: undefined });
              return finish(step, current);
            }
            await this.base.journal.record(step.id, { status: "applying", inputsHash, error: undefined });
            const ctx = this.context(step, outputs);
            await this.writes.run(writes, (change) => step.apply(ctx, asWrite(step, change)));
            const verified = await this.observeAndPlan(step, outputs);
            const left = pending(verified.changes);
            if (left.length > 0) {
              throw new UserError(`${step.id}: Azure accepted the writes but a second read still differs: ${left.map(describe).join("; ")}`, 1);
            }
            outputs[step.id] = verified.outputs;
            changed.add(step.id);
            await this.base.journal.record(step.id, { status: "done", outputs: verified.outputs });
            finish(step, { id: step.id, title: step.title, status: appliedStatus(planStatus(writes)), changes: current.changes, outputs: verified.outputs });
          } catch (err) {
            const error = explainAzureError(err, step.id, this.roles[step.id]);
            await this.base.journal.record(step.id, { status: "failed", error: error.message }).catch(() => undefined);
            this.failures.set(step.id, error);
            finish(step, { id: step.id, title: step.title, status: "failed", changes: current.changes, error: error.message });
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

  private step(id: StepId): Step {
    const step = this.steps.find((s) => s.id === id);
    if (!step) throw new Error(`the plan names a step this engine does not run: ${id}`);
    return step;
  }

  private async observeAndPlan(step: Step, outputs: Partial<Record<StepId, StepOutputs>>): Promise<StepReport> {
    const ctx = this.context(step, outputs);
    try {
      const desired = step.desired(ctx);
      const observed = await step.observe(ctx, desired);
      const changes = step.plan(desired, observed);
      return { id: step.id, title: step.title, status: planStatus(changes), changes, outputs: step.outputs(desired, observed) };
    } catch (err) {
      throw explainAzureError(err, step.id, this.roles[step.id]);
    }
  }

  private context(step: Step, outputs: Partial<Record<StepId, StepOutputs>>): RunContext {
    return { ...this.base, outputs: { ...outputs }, progress: (message) => this.events.progress(step, message) };
  }
}

/** Every step's outputs as the plan recorded them: where apply starts from. */
function outputsOf(plan: StepReport[]): Partial<Record<StepId, StepOutputs>> {
  return Object.fromEntries(plan.map((r) => [r.id, r.outputs ?? {}]));
}

function asWrite(step: Step, change: Change): Write<unknown> {
  if (change.op === undefined) throw new Error(`${step.id}: the planned ${change.action} of ${change.resource} says nothing to send`);
  return change as Write<unknown>;
}

/**
 * Why a plan must not be applied, or undefined: a blocked change anywhere stops the run before its
 * first write, with the blocked changes' own exit code.
 */
export function refusal(plan: StepReport[]): UserError | undefined {
  const found = blockedChanges(plan);
  if (found.length === 0) return undefined;
  const hints = [...new Set(found.map((c) => c.hint).filter(Boolean))];
  return new UserError(found.map((c) => `${c.resource}: ${c.note ?? "blocked"}`).join("\n"), found[0]!.exitCode ?? 1, [...hints, "Nothing was written."].join(" "));
}

function describe(c: Change): string {
  const fields = c.fields.map((f) => f.field).join(", ");
  return fields ? `${c.resource} (${fields})` : c.resource;
}
