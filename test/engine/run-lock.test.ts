// The run lock against real holders: a zombie, a live process with another start time (a recycled
// pid), a live holder, a holder from before a reboot, and runs racing for one stale lock.
import { existsSync } from "node:fs";
import { mkdtemp, readFile, readdir, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isRunning } from "../../src/engine/process-identity.js";
import { RunLock } from "../../src/engine/run-lock.js";
import { ExitCode, UserError } from "../../src/errors.js";
import { bootId, procStat, sleeper, zombie, type TestProcess } from "../support/processes.js";

let dir: string;
let dead: TestProcess;
let live: TestProcess;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "aeg-lock-"));
  [dead, live] = await Promise.all([zombie(), sleeper()]);
});

afterAll(async () => {
  await Promise.all([dead?.close(), live?.close()]);
});

const holder = (pid: number, extra: Record<string, unknown> = {}) => JSON.stringify({ pid, host: hostname(), since: new Date().toISOString(), ...extra });

async function lockNaming(name: string, text: string): Promise<string> {
  const file = path.join(dir, `${name}.lock`);
  await writeFile(file, text);
  return file;
}

async function refusal(file: string): Promise<UserError> {
  try {
    const lock = await RunLock.acquire(file);
    await lock.release();
  } catch (err) {
    return err as UserError;
  }
  throw new Error("the lock was taken, but its holder is alive");
}

describe("RunLock", () => {
  it("the zombie really is one: kill(pid, 0) still says it exists", () => {
    expect(procStat(dead.pid)?.state).toBe("Z");
    expect(() => process.kill(dead.pid, 0)).not.toThrow();
    expect(isRunning({ pid: dead.pid })).toBe(false);
  });

  it("takes over a lock held by a zombie, recorded with or without its start time", async () => {
    for (const [name, text] of [
      ["zombie-full", holder(dead.pid, { boot: bootId(), start: dead.start })],
      ["zombie-old-format", holder(dead.pid)],
    ] as const) {
      const file = await lockNaming(name, text);
      const lock = await RunLock.acquire(file);
      expect(JSON.parse(await readFile(file, "utf8")).pid).toBe(process.pid);
      await lock.release();
      expect(existsSync(file)).toBe(false);
    }
  });

  it("takes over a lock whose pid now belongs to another process (other start time)", async () => {
    const file = await lockNaming("recycled", holder(live.pid, { boot: bootId(), start: String(Number(live.start) + 1) }));
    const lock = await RunLock.acquire(file);
    await lock.release();
  });

  it("takes over a lock written before a reboot", async () => {
    const file = await lockNaming("rebooted", holder(live.pid, { boot: "00000000-0000-0000-0000-000000000000", start: live.start }));
    const lock = await RunLock.acquire(file);
    await lock.release();
  });

  it("refuses with exit 2 while the holder lives, naming its pid", async () => {
    const file = await lockNaming("live", holder(live.pid, { boot: bootId(), start: live.start }));
    const err = await refusal(file);
    expect(err).toBeInstanceOf(UserError);
    expect(err.exitCode).toBe(ExitCode.usage);
    expect(err.message).toBe(`another aeg run (pid ${live.pid}) is using live`);
    // The old format (pid only) still refuses for a live pid: kill(0) and /proc agree.
    const old = await lockNaming("live-old", holder(live.pid));
    expect((await refusal(old)).exitCode).toBe(ExitCode.usage);
  });

  it("of many runs racing for one stale lock, exactly one wins", async () => {
    const file = await lockNaming("race", holder(dead.pid, { boot: bootId(), start: dead.start }));
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => RunLock.acquire(file)));
    const won = results.filter((r) => r.status === "fulfilled");
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === "rejected") expect((r.reason as UserError).exitCode).toBe(ExitCode.usage);
    await (won[0] as PromiseFulfilledResult<RunLock>).value.release();
    expect((await readdir(dir)).filter((f) => f.startsWith("race"))).toEqual([]);
  });

  it("release leaves alone a lock that is no longer its own", async () => {
    const file = path.join(dir, "mine.lock");
    const lock = await RunLock.acquire(file);
    await writeFile(file, holder(live.pid, { boot: bootId(), start: live.start }));
    await lock.release();
    expect(JSON.parse(await readFile(file, "utf8")).pid).toBe(live.pid);
  });
});
