// Client for the Mono expression worker: JSON lines over the worker's stdin/stdout, replies
// matched to calls by sequence number, so any number of calls may be in flight. A crashed
// worker fails the calls in flight; the next call starts a new one and recompiles the units.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import type {
  CompileResult,
  ContextDump,
  ContextInit,
  EvalResult,
  ExpressionSource,
  LastErrorInit,
  RequestUpdate,
  ResponseInit,
  VariableValue,
} from "./protocol.js";
import { INSTALL_HINT, prepareToolchain, type Toolchain, type ToolchainOptions } from "./toolchain.js";

export type * from "./protocol.js";
export { INSTALL_HINT } from "./toolchain.js";

export interface ExpressionHostOptions extends ToolchainOptions {
  /** Per-call limit; a call that exceeds it (say, an expression that loops) kills the worker. Default 10 s. */
  callTimeoutMs?: number;
  /** Limit for compile calls. Default 120 s. */
  compileTimeoutMs?: number;
}

interface Pending {
  resolve: (reply: Record<string, unknown>) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** One running `mono worker.exe`. */
class WorkerProcess {
  readonly pending = new Map<number, Pending>();
  readonly exited: Promise<void>;
  private stderrTail = "";
  private failure: Error | undefined;

  constructor(
    readonly child: ChildProcessWithoutNullStreams,
    private readonly onGone: (w: WorkerProcess) => void,
  ) {
    createInterface({ input: child.stdout }).on("line", (line) => this.receive(line));
    child.stderr.on("data", (d: Buffer) => (this.stderrTail = (this.stderrTail + d.toString()).slice(-4000)));
    // Writes after an exit fail asynchronously; the exit handler reports them.
    child.stdin.on("error", () => {});
    this.exited = new Promise((resolve) => {
      child.on("error", (err: NodeJS.ErrnoException) => {
        this.failure = err.code === "ENOENT" ? new Error(`mono not found. ${INSTALL_HINT}`) : err;
        this.gone(this.failure);
        resolve();
      });
      child.on("exit", (code, signal) => {
        this.gone(this.failure ?? new Error(`policy-expression worker exited (${signal ?? `code ${code}`})${this.stderrSuffix()}`));
        resolve();
      });
    });
  }

  send(seq: number, message: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new Error(`policy-expression worker did not answer '${String(message.op)}' within ${timeoutMs} ms; restarting it`));
        this.child.kill("SIGKILL");
      }, timeoutMs);
      this.pending.set(seq, { resolve, reject, timer });
      this.child.stdin.write(JSON.stringify({ seq, ...message }) + "\n");
    });
  }

  private receive(line: string): void {
    let reply: Record<string, unknown>;
    try {
      reply = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.stderrTail += `\n[unparsable stdout] ${line.slice(0, 200)}`;
      return;
    }
    const seq = typeof reply.seq === "number" ? reply.seq : -1;
    const call = this.pending.get(seq);
    if (!call) return;
    this.pending.delete(seq);
    clearTimeout(call.timer);
    if (typeof reply.fault === "string") call.reject(new Error(`policy-expression worker: ${reply.fault}`));
    else call.resolve(reply);
  }

  private gone(err: Error): void {
    for (const [, call] of this.pending) {
      clearTimeout(call.timer);
      call.reject(err);
    }
    this.pending.clear();
    this.onGone(this);
  }

  private stderrSuffix(): string {
    const tail = this.stderrTail.trim();
    return tail ? `: ${tail}` : "";
  }
}

export class ExpressionHost {
  private worker: WorkerProcess | undefined;
  private closed = false;
  private seq = 0;
  private contextCounter = 0;
  // Successfully compiled units, replayed into a restarted worker (their assemblies are cached on disk).
  private readonly units = new Map<string, ExpressionSource[]>();

  private constructor(
    private readonly toolchain: Toolchain,
    private readonly opts: ExpressionHostOptions,
  ) {}

  /** Builds the C# context library and worker if needed, and starts the worker. */
  static async start(opts: ExpressionHostOptions): Promise<ExpressionHost> {
    const host = new ExpressionHost(await prepareToolchain(opts), opts);
    await host.call({ op: "ping" });
    return host;
  }

  /** Compiles a unit (one policy version's expressions); a no-op when the unit is unchanged. */
  async compile(unit: string, expressions: ExpressionSource[]): Promise<CompileResult> {
    const reply = await this.call({ op: "compile", unit, expressions }, this.opts.compileTimeoutMs ?? 120_000);
    if (reply.ok === true) this.units.set(unit, expressions);
    delete reply.seq;
    return reply as unknown as CompileResult;
  }

  /** Creates a request context; returns its id. */
  async newContext(init: ContextInit): Promise<string> {
    // Ids come from the host, so an id from before a worker restart can never name a new context.
    const context = `c${++this.contextCounter}`;
    await this.call({ op: "context.new", context, ...init });
    return context;
  }

  async updateRequest(context: string, request: RequestUpdate): Promise<void> {
    await this.call({ op: "context.request", context, request });
  }

  async set(context: string, name: string, value: VariableValue): Promise<void> {
    await this.call({ op: "context.set", context, name, value });
  }

  async setLastError(context: string, error: LastErrorInit): Promise<void> {
    await this.call({ op: "context.lastError", context, ...error });
  }

  /** Sets context.Response (outbound, on-error); null clears it. */
  async setResponse(context: string, response: ResponseInit | null): Promise<void> {
    await this.call({ op: "context.response", context, response });
  }

  /** Evaluates one expression. With `assign`, the typed result is also stored as that variable (set-variable). */
  async eval(context: string, unit: string, id: string, opts: { assign?: string } = {}): Promise<EvalResult> {
    const reply = await this.call({ op: "eval", context, unit, expr: id, ...(opts.assign ? { assign: opts.assign } : {}) });
    delete reply.seq;
    return reply as unknown as EvalResult;
  }

  async variables(context: string): Promise<ContextDump> {
    const reply = await this.call({ op: "context.variables", context });
    return { variables: reply.variables as ContextDump["variables"], traces: reply.traces as string[] };
  }

  async dispose(context: string): Promise<void> {
    await this.call({ op: "context.dispose", context });
  }

  /** The worker's process id, if one is running (for tests and diagnostics). */
  get pid(): number | undefined {
    return this.worker?.child.pid;
  }

  /** Stops the worker and waits for it to exit. */
  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    if (!w) return;
    w.child.stdin.end(); // the worker exits at end of input
    const killer = setTimeout(() => w.child.kill("SIGKILL"), 3000);
    await w.exited;
    clearTimeout(killer);
  }

  private async call(message: Record<string, unknown>, timeoutMs = this.opts.callTimeoutMs ?? 10_000): Promise<Record<string, unknown>> {
    if (this.closed) throw new Error("ExpressionHost is closed");
    return this.ensureWorker().send(++this.seq, message, timeoutMs);
  }

  private ensureWorker(): WorkerProcess {
    if (this.worker) return this.worker;
    const tc = this.toolchain;
    const child = spawn(tc.mono, [tc.workerExe, tc.buildDir, tc.mcsExe, tc.newtonsoftDll], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, MONO_PATH: tc.buildDir },
    });
    const worker = new WorkerProcess(child, (w) => {
      if (this.worker === w) this.worker = undefined;
    });
    this.worker = worker;
    // The worker handles messages in order, so these land before whatever call started it.
    for (const [unit, expressions] of this.units) {
      worker.send(++this.seq, { op: "compile", unit, expressions }, this.opts.compileTimeoutMs ?? 120_000).catch(() => {});
    }
    return worker;
  }
}
