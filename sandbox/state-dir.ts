// The state directory as a place on disk. Its files are written atomically (temp file + rename),
// so a run killed at any point leaves the last complete file behind. A pid lock keeps a second
// sandbox off the directory; a lock left by a dead process is taken over.
import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";

const LOCK_FILE = "sandbox.lock";

export function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/** Whether a process of this pid exists (EPERM: it does, owned by someone else). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The live process that holds the directory's lock, or undefined (no lock, or its holder died). */
export function lockHolder(dir: string): number | undefined {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(path.join(dir, LOCK_FILE), "utf8").trim());
  } catch {
    return undefined;
  }
  return Number.isInteger(pid) && pid > 0 && pidAlive(pid) ? pid : undefined;
}

/** Takes the directory's lock or throws a clear error naming the holder. Returns the release function. */
export function acquireLock(dir: string): () => void {
  const file = path.join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: "wx" });
      let released = false;
      return () => {
        if (released) return;
        released = true;
        fs.rmSync(file, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const holder = lockHolder(dir);
      if (holder !== undefined) {
        throw new SandboxInUseError(`the sandbox state directory ${dir} is in use by another sandbox (process ${holder})`);
      }
      // The holder died without releasing (e.g. kill -9): the lock is stale.
      fs.rmSync(file, { force: true });
    }
  }
  throw new Error(`Could not lock the sandbox state directory ${dir}.`);
}

/** Another live sandbox holds this state directory (matched by name in src/azure/sandbox.ts). */
export class SandboxInUseError extends Error {
  override readonly name = "SandboxInUseError";
}
