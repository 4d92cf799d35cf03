import { setImmediate as tick } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { dependencies, maxParallelWritesFrom, WriteScheduler, type Clock, type ScheduledWrite } from "../../src/engine/scheduler.js";
import { ConfigError } from "../../src/errors.js";

/**
 * Fake writes: each records when it starts and ends (as events, never clock time) and yields to
 * the event loop a few times, so that whatever may overlap does.
 */
function recorder(fail: (w: ScheduledWrite) => boolean = () => false) {
  const events: string[] = [];
  const running = new Set<string>();
  let most = 0;
  const overlaps: Array<[string, string]> = [];
  const write = async (w: ScheduledWrite) => {
    for (const other of running) overlaps.push([other, w.resource]);
    running.add(w.resource);
    most = Math.max(most, running.size);
    events.push(`start ${w.resource}`);
    for (let i = 0; i < 3; i++) await tick();
    running.delete(w.resource);
    events.push(`end ${w.resource}`);
    if (fail(w)) throw new Error(`${w.resource} refused`);
  };
  const before = (a: string, b: string) => events.indexOf(`end ${a}`) < events.indexOf(`start ${b}`);
  return { write, events, overlaps, before, most: () => most };
}

/** A clock that jumps forward when the scheduler waits: no test here waits on real time. */
function fakeClock(): Clock & { time: number } {
  const clock = {
    time: 0,
    now: () => clock.time,
    after: async (ms: number) => {
      await tick();
      clock.time += ms;
    },
  };
  return clock;
}

const scheduler = (bound: number, writesPerSecond = 10, clock: Clock = fakeClock(), burst?: number) => new WriteScheduler(bound, { writesPerSecond, clock, ...(burst === undefined ? {} : { burst }) });

const nv = (i: number): ScheduledWrite => ({ resource: `namedValues/nv-${i}`, apimWrite: true, after: [] });

/** What the api step plans for a fresh API with `n` agents (see src/steps/api.ts). */
function freshApi(n: number): ScheduledWrite[] {
  const api = "apis/aeg";
  const ops = [...Array(n).keys()].map((i) => `${api}/operations/agent-${i}`);
  return [
    { resource: api, apimWrite: true, after: [], lock: api },
    ...ops.map((op) => ({ resource: op, apimWrite: true, after: [api], lock: api })),
    { resource: `${api}/policies/policy`, apimWrite: true, after: [api], lock: api },
    ...ops.map((op) => ({ resource: `${op}/policies/policy`, apimWrite: true, after: [api, op], lock: api })),
  ];
}

describe("the write scheduler", () => {
  it("runs independent APIM writes side by side, never more than the bound", async () => {
    const r = recorder();
    await scheduler(3).run([...Array(20).keys()].map(nv), r.write);
    expect(r.most()).toBe(3);
    expect(r.events.filter((e) => e.startsWith("end"))).toHaveLength(20);
  });

  it("shares the bound between steps writing at the same time", async () => {
    const r = recorder();
    const shared = scheduler(2);
    await Promise.all([shared.run([0, 1, 2, 3].map(nv), r.write), shared.run([4, 5, 6, 7].map(nv), r.write)]);
    expect(r.most()).toBe(2);
  });

  it("does not bound writes outside APIM", async () => {
    const r = recorder();
    await scheduler(1).run([...Array(5).keys()].map((i) => ({ resource: `roleAssignments/${i}`, after: [] })), r.write);
    expect(r.most()).toBe(5);
  });

  it("serializes every write under one API and keeps the API before its operations, each operation before its policy", async () => {
    const r = recorder();
    const writes = freshApi(4);
    await scheduler(8).run(writes, r.write);
    expect(r.overlaps).toEqual([]);
    for (const w of writes) for (const dep of w.after ?? []) expect(r.before(dep, w.resource)).toBe(true);
  });

  it("lets writes under different locks overlap, and named values run beside an API's chain", async () => {
    const r = recorder();
    const a = freshApi(2).map((w) => ({ ...w, resource: `a/${w.resource}`, after: w.after?.map((x) => `a/${x}`), lock: "a" }));
    const b = freshApi(2).map((w) => ({ ...w, resource: `b/${w.resource}`, after: w.after?.map((x) => `b/${x}`), lock: "b" }));
    await scheduler(8).run([...a, ...b, nv(1), nv(2)], r.write);
    expect(r.overlaps.some(([x, y]) => x.startsWith("a/") && y.startsWith("b/"))).toBe(true);
    expect(r.overlaps.some(([x, y]) => x.startsWith("a/") && y.startsWith("a/"))).toBe(false);
    expect(r.overlaps.some(([x, y]) => x.startsWith("b/") && y.startsWith("b/"))).toBe(false);
  });

  it("keeps plan order, one at a time, for a step that says nothing about order", async () => {
    const r = recorder();
    const writes = ["namespaces/ns", "namespaces/ns/eventhubs/hub", "roleAssignments/sender", "loggers/decisions"].map((resource) => ({ resource }));
    await scheduler(8).run(writes, r.write);
    expect(r.events).toEqual(writes.flatMap((w) => [`start ${w.resource}`, `end ${w.resource}`]));
  });

  it("after a failure starts nothing more, lets running writes finish, and throws the failure", async () => {
    const r = recorder((w) => w.resource === "apis/aeg/operations/agent-0");
    const run = scheduler(8).run([...freshApi(3), nv(1)], r.write);
    await expect(run).rejects.toThrow("apis/aeg/operations/agent-0 refused");
    expect(r.events).not.toContain("start apis/aeg/operations/agent-0/policies/policy");
    expect(r.events).not.toContain("start apis/aeg/operations/agent-1");
    expect(r.events.filter((e) => e.startsWith("start")).length).toBe(r.events.filter((e) => e.startsWith("end")).length);
  });

  it("starts APIM writes within a token bucket: the burst at once, then its pace", async () => {
    const clock = fakeClock();
    const starts: number[] = [];
    await scheduler(100, 10, clock, 20).run([...Array(55).keys()].map(nv), async () => {
      starts.push(clock.now());
      await tick();
    });
    expect(starts).toHaveLength(55);
    expect(starts.filter((t) => t === 0)).toHaveLength(20);
    // Any window of a second holds at most the burst and a second's refill.
    for (const t of starts) expect(starts.filter((u) => u >= t && u < t + 1000).length).toBeLessThanOrEqual(30);
    // 35 past the burst at 10 a second.
    expect(clock.time).toBeGreaterThanOrEqual(3400);
    expect(clock.time).toBeLessThan(4000);
  });

  it("spends half of ARM's write bucket at most, unless told otherwise", async () => {
    const clock = fakeClock();
    const starts: number[] = [];
    await scheduler(200, 10, clock).run([...Array(101).keys()].map(nv), async () => {
      starts.push(clock.now());
      await tick();
    });
    expect(starts.filter((t) => t === 0)).toHaveLength(100);
    expect(starts[100]).toBeGreaterThanOrEqual(100);
  });

  it("writes nothing for an empty batch", async () => {
    const r = recorder();
    await scheduler(1).run([], r.write);
    expect(r.events).toEqual([]);
  });

  it("refuses an order with a cycle, and ignores names the batch does not write", () => {
    expect(() => dependencies([{ resource: "a", after: ["b"] }, { resource: "b", after: ["a"] }])).toThrow(/cycle: a, b/);
    expect(dependencies([{ resource: "a", after: ["elsewhere"] }, { resource: "b" }])).toEqual([[], [0]]);
  });

  it("takes its bound from AEG_MAX_PARALLEL_WRITES, and refuses a bad one naming the variable", () => {
    expect(maxParallelWritesFrom({})).toBe(32);
    expect(maxParallelWritesFrom({ AEG_MAX_PARALLEL_WRITES: "1" })).toBe(1);
    for (const bad of ["0", "2.5", "many", "100"]) {
      expect(() => maxParallelWritesFrom({ AEG_MAX_PARALLEL_WRITES: bad })).toThrow(ConfigError);
      expect(() => maxParallelWritesFrom({ AEG_MAX_PARALLEL_WRITES: bad })).toThrow(/AEG_MAX_PARALLEL_WRITES/);
    }
  });
});
