// The fault matrix: a fresh setup, then a no-op re-run, each under 30 % transient faults of one kind
// (429, 503, connection reset, or a mix) on one request class (ARM, Dataverse, Graph, or all three),
// for several seeds. Each phase converges under the faults or, failing with a clear error, in one
// plain re-run; afterwards doctor exits 0 and nothing exists twice. The default suite runs one seed
// on all classes at once; AEG_CHAOS=full runs every class on its own too, with three seeds.
import { afterAll, describe, expect, it } from "vitest";
import {
  EXACTLY_ONE,
  FAILURE_LINE,
  FAULT_KINDS,
  FULL,
  census,
  chaosTenant,
  clearFaults,
  doctor,
  duplicatesIn,
  expectClearFailure,
  injectFaults,
  limiter,
  report,
  resetServed,
  served,
  setup,
  type Census,
  type ChaosTenant,
  type FaultClass,
  type FaultKind,
} from "../support/chaos.js";

const SEEDS = FULL ? [7, 1009, 4242] : [7];
const CLASSES: FaultClass[] = FULL ? ["arm", "dataverse", "graph", "all"] : ["all"];
const SCENARIOS = SEEDS.flatMap((seed) => CLASSES.flatMap((cls) => FAULT_KINDS.map((kind) => ({ seed, cls, kind }))));

interface Phase {
  /** Exit code of the run under faults. */
  underFaults: number | null;
  /** Plain re-runs it took to converge (0: converged under the faults). */
  reruns: number;
  converged: boolean;
  /** Requests the sandbox failed on purpose during the run under faults. */
  faulted: number;
  /** The first line of the error, when the run under faults failed. */
  error?: string;
}

interface Row {
  /** Why the scenario could not be run to the end (the test fails with it). */
  error?: string;
  seed: number;
  kind: FaultKind;
  cls: FaultClass;
  setup: Phase;
  noop: Phase;
  doctor: number | null;
  census: Census;
  duplicates: number;
  seconds: number;
}

const rows: Row[] = [];

async function faultedSoFar(t: ChaosTenant): Promise<number> {
  const s = await served(t);
  const arm = s.arm.recent.filter((r) => r.status === 0 || r.status === 429 || r.status === 503).length;
  return arm + s.dataverse.faulted + s.graph.faulted;
}

/** One run under faults, then (when it failed) one plain run; `ok` says whether a run converged. */
async function phase(t: ChaosTenant, sc: { seed: number; cls: FaultClass; kind: FaultKind }, json: boolean): Promise<Phase> {
  const args = json ? ["--json"] : [];
  const ok = (r: { code: number | null; stdout: string }) => r.code === 0 && (!json || (JSON.parse(r.stdout) as { status: string }).status === "in-sync");
  await resetServed(t);
  await injectFaults(t, sc.cls, sc.kind, sc.seed);
  const first = await setup(t, ...args);
  await clearFaults(t);
  const faulted = await faultedSoFar(t);
  if (ok(first)) return { underFaults: first.code, reruns: 0, converged: true, faulted };
  if (json) {
    const out = JSON.parse(first.stdout) as { status: string; error?: { message: string } };
    expect(out.status, first.stdout).toBe("error");
    expect(out.error?.message).not.toMatch(/\n\s+at /);
  } else expectClearFailure(first);
  const error = json ? (JSON.parse(first.stdout) as { error?: { message: string } }).error?.message.split("\n")[0] : FAILURE_LINE.exec(first.stderr)?.[0];
  const second = await setup(t);
  return { underFaults: first.code, reruns: 1, converged: second.code === 0, faulted, ...(error ? { error } : {}) };
}

async function scenario(sc: { seed: number; cls: FaultClass; kind: FaultKind }): Promise<Row> {
  const started = Date.now();
  const t = await chaosTenant();
  try {
    const fresh = await phase(t, sc, false);
    const noop = await phase(t, sc, true);
    const doc = await doctor(t);
    const c = await census(t);
    return { ...sc, setup: fresh, noop, doctor: doc.code, census: c, duplicates: duplicatesIn(c), seconds: Math.round((Date.now() - started) / 1000) };
  } finally {
    await t.close();
  }
}

afterAll(async () => {
  await report("fault-matrix", rows, { seeds: SEEDS, classes: CLASSES, kinds: FAULT_KINDS, probability: 0.3 });
});

describe("setup under 30 % transient faults converges within one plain re-run, with no duplicates", () => {
  // Scenarios are independent tenants, mostly waiting on back-off: several run at once.
  const lanes = FULL ? 3 : 4;
  const lane = limiter(lanes);
  it.for(SCENARIOS)("seed $seed: $kind on $cls", { concurrent: true, timeout: Math.ceil(SCENARIOS.length / lanes) * 300_000 }, async (sc) => {
    const r = await lane(() => scenario(sc).catch((e: Error) => ({ ...sc, error: e.message }) as Row));
    rows.push(r);
    if (r.error) throw new Error(r.error);
    expect(r.setup.faulted, "faults were injected").toBeGreaterThan(0);
    expect(r.setup.converged, "fresh setup converged").toBe(true);
    expect(r.noop.converged, "no-op re-run converged").toBe(true);
    expect(r.doctor, "doctor").toBe(0);
    expect(r.census, "census").toEqual(EXACTLY_ONE);
  });
});
