import { readFileSync } from "node:fs";
import { hostname } from "node:os";

/**
 * A process named precisely enough to tell, later, whether it still runs: its pid, and on Linux the
 * boot it ran in and its start time, so a pid the kernel has since handed to another process does
 * not pass for it.
 */
export interface ProcessIdentity {
  pid: number;
  host: string;
  /** /proc/sys/kernel/random/boot_id: a new one after every reboot. */
  boot?: string;
  /** Field 22 of /proc/<pid>/stat: clock ticks after boot at which the process started. */
  start?: string;
}

export function currentProcess(): ProcessIdentity {
  const stat = readStat(process.pid);
  const boot = bootId();
  return { pid: process.pid, host: hostname(), ...(boot ? { boot } : {}), ...(typeof stat === "object" ? { start: stat.start } : {}) };
}

/**
 * Whether the process a lock names still runs (on this host; another host's cannot be checked).
 * `process.kill(pid, 0)` alone is not enough: it says yes for a zombie (killed with -9 under a PID 1
 * that never reaps, as in container jobs and `docker run` without `--init`) and for an unrelated
 * process that got the pid later (a container restarted on the same volume starts at the same low
 * pid). On Linux, /proc tells both apart: state Z or X is dead, and a start time other than the
 * one recorded is another process. Elsewhere (no /proc) kill(0) is all there is.
 */
export function isRunning(holder: Pick<ProcessIdentity, "pid" | "boot" | "start">): boolean {
  if (!Number.isInteger(holder.pid) || holder.pid <= 0) return false;
  const boot = bootId();
  if (holder.boot && boot && holder.boot !== boot) return false; // the machine rebooted since
  const stat = readStat(holder.pid);
  if (stat === "gone") return false;
  if (stat === "unknown") return signalable(holder.pid);
  if (stat.state === "Z" || stat.state === "X") return false;
  return holder.start === undefined || holder.start === stat.start;
}

type Stat = { state: string; start: string } | "gone" | "unknown";

function readStat(pid: number): Stat {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch (err) {
    // ENOENT on a system with /proc means no such process; no /proc at all (macOS) or a hidden one
    // (hidepid) means we cannot tell from here.
    return (err as NodeJS.ErrnoException).code === "ENOENT" && hasProcfs() ? "gone" : "unknown";
  }
  // The command name (field 2) is in parentheses and may hold spaces or ')': split after the last ')'.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const state = fields[0];
  const start = fields[19];
  return state && start ? { state, start } : "unknown";
}

let procfs: boolean | undefined;
function hasProcfs(): boolean {
  if (procfs === undefined) {
    try {
      readFileSync("/proc/self/stat");
      procfs = true;
    } catch {
      procfs = false;
    }
  }
  return procfs;
}

let boot: string | null | undefined;
function bootId(): string | undefined {
  if (boot === undefined) {
    try {
      boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim() || null;
    } catch {
      boot = null;
    }
  }
  return boot ?? undefined;
}

/** kill(pid, 0): EPERM means it exists under another user. */
function signalable(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
