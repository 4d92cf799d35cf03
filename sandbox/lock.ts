// One sandbox per state directory. The lock file names its holder by pid and, on Linux, by boot id
// and process start time (/proc/<pid>/stat field 22). A lock whose holder is gone, a zombie (state
// Z/X: a process killed with -9 under a PID 1 that never reaps, where kill(pid, 0) still succeeds)
// or a recycled pid (same pid, other start time) is taken over at once; without /proc, kill(pid, 0)
// decides. Chosen over a heartbeat lease so a restarted sandbox never waits for one to expire.
// The sandbox keeps its own copy of this logic: it never imports the product's code.
import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";

export const LOCK_FILE = "sandbox.lock";

export interface LockHolder {
  pid: number;
  boot?: string;
  start?: string;
}

/** Another live sandbox holds this state directory. */
export class SandboxInUseError extends Error {
  override readonly name = "SandboxInUseError";
}

/** Takes the per-directory lock or throws a clear error naming the holder. Returns the release function. */
export function acquireLock(dir: string): () => void {
  const file = path.join(dir, LOCK_FILE);
  const text = JSON.stringify(self());
  for (let attempt = 0; attempt < 5; attempt++) {
    if (createExclusive(file, text)) {
      let released = false;
      return () => {
        if (released) return;
        released = true;
        if (readText(file) === text) fs.rmSync(file, { force: true });
      };
    }
    const found = readText(file);
    if (found === undefined) continue;
    const holder = parseHolder(found);
    if (holder && holderAlive(holder)) {
      throw new SandboxInUseError(`the sandbox state directory ${dir} is in use by another sandbox (process ${holder.pid})`);
    }
    removeStale(file, found);
  }
  throw new Error(`Could not lock the sandbox state directory ${dir}.`);
}

/** The holder named by the directory's lock, if there is a lock. */
export function lockHolder(dir: string): LockHolder | undefined {
  try {
    const text = readText(path.join(dir, LOCK_FILE));
    return text === undefined ? undefined : parseHolder(text);
  } catch {
    return undefined; // unreadable: nobody we can reach holds it
  }
}

/** Whether the lock's holder still runs (see the header for why kill(pid, 0) alone is not enough). */
export function holderAlive(holder: LockHolder): boolean {
  if (!Number.isInteger(holder.pid) || holder.pid <= 0) return false;
  const boot = bootId();
  if (holder.boot && boot && holder.boot !== boot) return false;
  const stat = procStat(holder.pid);
  if (stat === "gone") return false;
  if (stat === "unknown") {
    try {
      process.kill(holder.pid, 0);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === "EPERM";
    }
  }
  if (stat.state === "Z" || stat.state === "X") return false;
  return !holder.start || holder.start === stat.start;
}

function self(): LockHolder {
  const stat = procStat(process.pid);
  const boot = bootId();
  return { pid: process.pid, ...(boot ? { boot } : {}), ...(typeof stat === "object" ? { start: stat.start } : {}) };
}

/** Older sandboxes wrote the bare pid; both forms are read. */
function parseHolder(text: string): LockHolder | undefined {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return { pid: Number(trimmed) };
  try {
    const h = JSON.parse(trimmed) as Partial<LockHolder>;
    if (typeof h.pid !== "number") return undefined;
    return { pid: h.pid, ...(typeof h.boot === "string" ? { boot: h.boot } : {}), ...(typeof h.start === "string" ? { start: h.start } : {}) };
  } catch {
    return undefined;
  }
}

function procStat(pid: number): { state: string; start: string } | "gone" | "unknown" {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ENOENT" && fs.existsSync("/proc/self/stat") ? "gone" : "unknown";
  }
  // Field 2 (the command) is parenthesised and may contain spaces: fields resume after the last ')'.
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return rest[0] && rest[19] ? { state: rest[0], start: rest[19] } : "unknown";
}

function bootId(): string | undefined {
  try {
    return fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Hard-links a complete temp file into place, so a reader never sees a half-written lock. */
function createExclusive(file: string, text: string): boolean {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o600 });
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** Moves the stale lock aside, and back if another sandbox replaced it after we judged it stale. */
function removeStale(file: string, judged: string): void {
  const aside = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.stale`;
  try {
    fs.renameSync(file, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw e;
  }
  if (readText(aside) !== judged) {
    try {
      fs.linkSync(aside, file);
    } catch {
      // a third sandbox already holds it: it wins
    }
  }
  fs.rmSync(aside, { force: true });
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}
