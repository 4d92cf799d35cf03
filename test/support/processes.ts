// Real processes for lock tests: a zombie (killed, never reaped) and a live sleeper, read from /proc.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { waitFor } from "./cli.js";

export interface ProcStat {
  state: string;
  /** Field 22: start time in clock ticks after boot. */
  start: string;
}

export function procStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { state: rest[0]!, start: rest[19]! };
  } catch {
    return undefined;
  }
}

export const bootId = (): string => readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();

export interface TestProcess {
  pid: number;
  start: string;
  close(): Promise<void>;
}

/**
 * Runs `argv` under a parent that never reaps: `sh` starts it in the background and then execs
 * into `sleep`, which never calls wait(). Killed with -9, the process stays in state Z for as long
 * as that parent lives, as under a container PID 1 without an init. close() kills the parent, and
 * init reaps both.
 */
export async function underNonReapingParent(argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ pid: number; stderr(): string; zombify(): Promise<TestProcess>; close(): Promise<void> }> {
  const parent = spawn("sh", ["-c", '"$@" 1>&2 & echo $!; exec sleep 601', "sh", ...argv], { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  parent.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  parent.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const pid = await waitFor(() => (/^\d+\n/.test(out) ? Number(out.trim()) : undefined), "the background process's pid", 10_000);
  let zombified = false;
  return {
    pid,
    stderr: () => err,
    async zombify() {
      zombified = true;
      process.kill(pid, "SIGKILL");
      const stat = await waitFor(() => (procStat(pid)?.state === "Z" ? procStat(pid) : undefined), `process ${pid} to become a zombie`, 10_000);
      return { pid, start: stat.start, close: () => stop(parent) };
    },
    async close() {
      try {
        if (!zombified) process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
      await stop(parent);
    },
  };
}

/** A zombie that held nothing: a `sleep` killed under a non-reaping parent. */
export async function zombie(): Promise<TestProcess> {
  return (await underNonReapingParent(["sleep", "600"])).zombify();
}

/** A live process that is not the lock's holder (its pid stands in for a recycled one). */
export async function sleeper(): Promise<TestProcess> {
  const child = spawn("sleep", ["600"], { stdio: "ignore" });
  const pid = child.pid!;
  const stat = await waitFor(() => procStat(pid), `process ${pid} to start`, 10_000);
  return { pid, start: stat.start, close: () => stop(child) };
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
  child.kill("SIGKILL");
  return closed;
}
