import { DefaultRenderer, Listr, ListrLogger, ProcessOutput, type ListrTaskWrapper } from "listr2";
import type { EngineEvents } from "../engine/runner.js";
import type { StepReport } from "../engine/change.js";
import type { Step } from "../engine/step.js";

export type OutputMode = "tty" | "plain" | "json";

/** listr2 in a terminal; plain timestamped lines under --ci, without a TTY or with NO_COLOR; nothing but JSON with --json. */
export function outputMode(flags: { json?: boolean; ci?: boolean }, env: NodeJS.ProcessEnv = process.env, stderrIsTty = Boolean(process.stderr.isTTY)): OutputMode {
  if (flags.json) return "json";
  if (flags.ci || !stderrIsTty || env.NO_COLOR !== undefined || env.CI === "true") return "plain";
  return "tty";
}

export interface Reporter extends EngineEvents {
  /** A line for the person running aeg (never on stdout: stdout is reserved for --json). */
  say(line: string): void;
  beginApply(steps: readonly Step[]): void;
  endApply(): Promise<void>;
}

/** Timestamped lines on stderr: what a CI log wants. */
class PlainReporter implements Reporter {
  constructor(private readonly write: (line: string) => void = (l) => process.stderr.write(`${l}\n`)) {}
  say(line: string): void {
    this.write(`${new Date().toISOString()} ${line}`);
  }
  started(step: Step, phase: "plan" | "apply"): void {
    if (phase === "apply") this.say(`[${step.id}] applying`);
  }
  progress(step: Step, message: string): void {
    this.say(`[${step.id}] ${message}`);
  }
  finished(step: Step, report: StepReport): void {
    if (report.status === "failed" || report.status === "skipped" || !["create", "update", "delete", "ok", "unverifiable"].includes(report.status)) {
      this.say(`[${step.id}] ${report.status}${report.error ? `: ${report.error}` : ""}`);
    }
  }
  beginApply(): void {}
  async endApply(): Promise<void> {}
}

/** --json: the envelope is the only output. */
export class SilentReporter implements Reporter {
  say(): void {}
  started(): void {}
  progress(): void {}
  finished(): void {}
  beginApply(): void {}
  async endApply(): Promise<void> {}
}

type TaskWrapper = ListrTaskWrapper<unknown, typeof DefaultRenderer, typeof DefaultRenderer>;

interface Pending {
  resolve: () => void;
  reject: (err: Error) => void;
  task?: TaskWrapper;
  done: Promise<void>;
}

/** A live task list in a terminal. The engine runs the steps; listr2 only draws them. */
class ListrReporter implements Reporter {
  private readonly pending = new Map<string, Pending>();
  private running?: Promise<unknown>;

  say(line: string): void {
    process.stderr.write(`${line}\n`);
  }

  beginApply(steps: readonly Step[]): void {
    for (const step of steps) {
      let resolve!: () => void;
      let reject!: (err: Error) => void;
      const done = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
      done.catch(() => undefined);
      this.pending.set(step.id, { resolve, reject, done });
    }
    const list = new Listr(
      steps.map((step) => ({
        title: step.title,
        task: async (_ctx: unknown, task: TaskWrapper) => {
          const entry = this.pending.get(step.id)!;
          entry.task = task;
          await entry.done;
        },
      })),
      {
        renderer: "default",
        concurrent: true,
        exitOnError: false,
        registerSignalListeners: false,
        rendererOptions: { logger: new ListrLogger({ processOutput: new ProcessOutput(process.stderr, process.stderr) }) },
      },
    );
    this.running = list.run().catch(() => undefined);
  }

  started(): void {}

  progress(step: Step, message: string): void {
    const task = this.pending.get(step.id)?.task;
    if (task) task.output = message;
  }

  finished(step: Step, report: StepReport): void {
    const entry = this.pending.get(step.id);
    if (!entry) return;
    if (entry.task) entry.task.title = `${step.title}: ${report.status}`;
    if (report.status === "failed") entry.reject(new Error(report.error ?? "failed"));
    else if (report.status === "skipped") {
      entry.task?.skip(report.error);
      entry.resolve();
    } else entry.resolve();
  }

  async endApply(): Promise<void> {
    await this.running;
  }
}

export function makeReporter(mode: OutputMode): Reporter {
  if (mode === "json") return new SilentReporter();
  if (mode === "plain") return new PlainReporter();
  return new ListrReporter();
}
