import { randomBytes } from "node:crypto";
import { link, open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { ExitCode, UserError } from "../errors.js";
import { currentProcess, isRunning, type ProcessIdentity } from "./process-identity.js";

/**
 * One writer per resource (an environment's journal, a sink's checkpoint directory).
 *
 * Mechanism: a lock file created atomically (hard link of a complete temp file, so nobody ever
 * reads a half-written one) naming the holder by pid, boot id and start time; a run that finds it
 * checks the holder against /proc (see isRunning) and takes the lock over at once when the holder
 * is gone, a zombie, or a recycled pid. Why not the alternatives: an OS lock (flock/fcntl) is not
 * in Node without a native addon, and a heartbeat lease makes the next run wait out the lease after
 * every kill -9 and needs a timer that keeps ticking through the holder's longest await.
 *
 * A lock written on another host cannot be checked and is taken over (a checkpoint volume
 * outlives the container that wrote it): share a directory between hosts only one run at a time.
 */
export class RunLock {
  private constructor(
    private readonly file: string,
    private readonly text: string,
  ) {}

  static async acquire(file: string): Promise<RunLock> {
    const text = JSON.stringify({ ...currentProcess(), since: new Date().toISOString() });
    for (let attempt = 0; attempt < 5; attempt++) {
      if (await createExclusive(file, text)) return new RunLock(file, text);
      const found = await readText(file);
      if (found === undefined) continue; // released in the meantime
      const holder = parseHolder(found);
      if (holder && holder.host === hostname() && isRunning(holder)) {
        throw new UserError(
          `another aeg run (pid ${holder.pid}) is using ${path.basename(file, ".lock")}`,
          ExitCode.usage,
          "Wait for it to finish, or stop it; a run that died (even one left a zombie) releases its lock automatically.",
        );
      }
      await removeStale(file, found);
    }
    throw new UserError(`cannot take the lock ${file}: other runs keep taking it`, ExitCode.usage, "Another aeg run is starting on the same environment or directory; try again.");
  }

  /** Removes the lock if it is still ours (never a lock another run has since taken over). */
  async release(): Promise<void> {
    if ((await readText(this.file)) === this.text) await rm(this.file, { force: true });
  }
}

/** Creates `file` holding `text`, or returns false when it exists. */
async function createExclusive(file: string, text: string): Promise<boolean> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  try {
    await link(tmp, file);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "ENOSYS") throw err;
    // A file system without hard links: an exclusive create, written at once.
    return createWithOpen(file, text);
  } finally {
    await rm(tmp, { force: true });
  }
}

async function createWithOpen(file: string, text: string): Promise<boolean> {
  try {
    const handle = await open(file, "wx", 0o600);
    try {
      await handle.writeFile(text);
    } finally {
      await handle.close();
    }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  }
}

/**
 * Removes a lock judged stale, unless another run took it over between our read and now: the
 * lock is moved aside first (atomic), and put back if what was moved is not what was judged.
 */
async function removeStale(file: string, judged: string): Promise<void> {
  const aside = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.stale`;
  try {
    await rename(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  if ((await readText(aside)) !== judged) await link(aside, file).catch(() => undefined);
  await rm(aside, { force: true });
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** The holder a lock names; undefined for a damaged file (treated as stale). */
function parseHolder(text: string): ProcessIdentity | undefined {
  try {
    const h = JSON.parse(text) as Partial<ProcessIdentity>;
    if (typeof h.pid !== "number" || typeof h.host !== "string") return undefined;
    return { pid: h.pid, host: h.host, ...(typeof h.boot === "string" ? { boot: h.boot } : {}), ...(typeof h.start === "string" ? { start: h.start } : {}) };
  } catch {
    return undefined;
  }
}
