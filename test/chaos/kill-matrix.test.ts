// The kill matrix: `aeg setup` on a fresh tenant is killed with -9 at a point picked by what the
// sandbox has served (the N-th ARM, Dataverse or Graph write, or the N-th poll of APIM while it is
// being created), then one plain re-run must converge: exit 0, nothing twice (and doctor 0, in the
// full matrix; the default suite trusts the re-run's own verifying read). Reads get a
// little latency during the killed run so that a kill after a write lands while its step is still
// verifying it; the steps in flight at each kill are recorded from the run's own progress lines.
import { afterAll, describe, expect, it } from "vitest";
import { spawnAeg, waitFor } from "../support/cli.js";
import {
  EXACTLY_ONE,
  FULL,
  SVC,
  census,
  chaosTenant,
  doctor,
  duplicatesIn,
  limiter,
  report,
  served,
  setup,
  type Census,
  type ChaosTenant,
  type Served,
} from "../support/chaos.js";

type Point = { on: "arm" | "dataverse" | "graph"; writes: number } | { on: "apim-polls"; polls: number };

/** Setup writes 35 times to ARM (the sink's consumer group included), 19 to Dataverse and twice to Graph (decision log and fallback on). */
const ALL_POINTS: Point[] = [
  { on: "arm", writes: 1 }, // resource group
  { on: "arm", writes: 2 }, // the APIM create was accepted
  { on: "apim-polls", polls: 1 }, // creation: 3 s of polls every 50 ms (fewer under load)
  { on: "apim-polls", polls: 5 },
  { on: "apim-polls", polls: 10 },
  { on: "arm", writes: 3 }, // named values and telemetry, interleaved
  { on: "arm", writes: 6 },
  { on: "arm", writes: 10 },
  { on: "arm", writes: 14 },
  { on: "arm", writes: 18 },
  { on: "arm", writes: 22 },
  { on: "arm", writes: 26 },
  { on: "arm", writes: 27 }, // fragments
  { on: "arm", writes: 28 },
  { on: "arm", writes: 29 }, // the API, its operations and policies
  { on: "arm", writes: 31 },
  { on: "arm", writes: 33 },
  { on: "dataverse", writes: 1 }, // the decision-log table: 15 writes (table, columns, key)
  { on: "dataverse", writes: 5 },
  { on: "dataverse", writes: 10 },
  { on: "dataverse", writes: 15 },
  { on: "dataverse", writes: 16 }, // the application user, its role, privileges, assignment
  { on: "dataverse", writes: 17 },
  { on: "dataverse", writes: 18 },
  { on: "graph", writes: 1 }, // the fallback's app-role grants
  { on: "graph", writes: 2 },
];
const DEFAULT_POINTS: Point[] = [
  { on: "apim-polls", polls: 5 },
  { on: "arm", writes: 14 },
  { on: "arm", writes: 29 },
  { on: "dataverse", writes: 10 },
  { on: "dataverse", writes: 17 },
  { on: "graph", writes: 1 },
];
const POINTS = FULL ? ALL_POINTS : DEFAULT_POINTS;
const label = (p: Point) => (p.on === "apim-polls" ? `APIM creation poll ${p.polls}` : `${p.on} write ${p.writes}`);

/** GETs of the APIM service after its create was sent: the run is waiting for the creation. */
function apimPolls(s: Served): number {
  const recent = s.arm.recent;
  const put = recent.findIndex((r) => r.method === "PUT" && r.path.toLowerCase().endsWith(`/service/${SVC}`));
  if (put < 0) return 0;
  return recent.slice(put + 1).filter((r) => r.method === "GET" && r.path.toLowerCase().endsWith(`/service/${SVC}`)).length;
}

function reached(p: Point, s: Served): boolean {
  return p.on === "apim-polls" ? apimPolls(s) >= p.polls : s[p.on].writes >= p.writes;
}

/** Steps the run said it was applying and had not finished, from its `--ci` progress lines. */
function inFlight(stderr: string): string[] {
  const open = new Set<string>();
  for (const m of stderr.matchAll(/\[([a-z-]+)\] (applying|created|updated|deleted|ok|failed|skipped|in sync)\b/g)) {
    if (m[2] === "applying") open.add(m[1]!);
    else open.delete(m[1]!);
  }
  return [...open].sort();
}

interface Row {
  point: string;
  /** Why the point could not be run to the end (the test fails with it). */
  error?: string;
  /** Writes the sandbox had served per class when the kill landed. */
  at: { arm: number; dataverse: number; graph: number; apimPolls: number };
  killed: boolean;
  inFlight: string[];
  rerun: number | null;
  doctor: number | null;
  census: Census;
  duplicates: number;
  seconds: number;
}
const rows: Row[] = [];

async function latency(t: ChaosTenant, on: boolean): Promise<void> {
  const post = (base: string, body: unknown, method = "POST") => fetch(`${base}/_sandbox/faults`, { method, headers: { "content-type": "application/json" }, body: method === "DELETE" ? undefined : JSON.stringify(body) });
  if (on) {
    await post(t.sandbox.arm, { match: { method: "GET" }, delayMs: 40 });
    for (const base of [t.sandbox.dataverse, t.sandbox.graph]) await post(base, { mode: "slow", delayMs: 40 });
  } else {
    await post(t.sandbox.arm, undefined, "DELETE");
    for (const base of [t.sandbox.dataverse, t.sandbox.graph]) await post(base, undefined, "DELETE");
  }
}

async function killAt(p: Point): Promise<Row> {
  const started = Date.now();
  const t = await chaosTenant({ apimActivationMs: 3000 });
  try {
    await latency(t, true);
    const child = spawnAeg(["setup", "--skip-validation", "--config", t.config, "--ci"], { cwd: t.cwd });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    let done = false;
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
      child.on("close", (code, signal) => {
        done = true;
        resolve(signal ?? code);
      }),
    );
    const at = await waitFor(async () => {
      const s = await served(t);
      if (reached(p, s)) return s;
      // A point the run never reaches is a wrong point, said at once rather than at the deadline.
      if (done) throw new Error(`the run ended (${await exited}) before ${label(p)}: ${JSON.stringify({ arm: s.arm.writes, dataverse: s.dataverse.writes, graph: s.graph.writes, apimPolls: apimPolls(s) })}`);
      return undefined;
    }, label(p), 120_000);
    const flying = inFlight(stderr);
    child.kill("SIGKILL");
    const ended = await exited;
    await latency(t, false);
    const rerun = await setup(t);
    expect(rerun.code, rerun.stderr).toBe(0);
    // The re-run verified what it applied by a second read; the full matrix asks doctor as well.
    const doc = FULL ? (await doctor(t)).code : null;
    const c = await census(t);
    return {
      point: label(p),
      at: { arm: at.arm.writes, dataverse: at.dataverse.writes, graph: at.graph.writes, apimPolls: apimPolls(at) },
      killed: ended === "SIGKILL",
      inFlight: flying,
      rerun: rerun.code,
      doctor: doc,
      census: c,
      duplicates: duplicatesIn(c),
      seconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    await t.close();
  }
}

afterAll(async () => {
  const order = POINTS.map(label);
  rows.sort((a, b) => order.indexOf(a.point) - order.indexOf(b.point));
  const covered = [...new Set(rows.flatMap((r) => r.inFlight ?? []))].sort();
  await report("kill-matrix", rows, { points: POINTS.length, stepsInFlightAtSomeKill: covered });
});

describe("setup killed with -9 anywhere is finished by one plain re-run, with no duplicates", () => {
  const lanes = 3;
  const lane = limiter(lanes);
  it.for(POINTS.map((p) => ({ ...p, name: label(p) })))("killed at $name", { concurrent: true, timeout: Math.ceil(POINTS.length / lanes) * 180_000 }, async (p) => {
    const r = await lane(() => killAt(p).catch((e: Error) => ({ point: label(p), error: e.message }) as Row));
    rows.push(r);
    if (r.error) throw new Error(r.error);
    expect(r.killed, "the kill landed before the run finished").toBe(true);
    expect(r.rerun).toBe(0);
    if (FULL) expect(r.doctor).toBe(0);
    expect(r.census).toEqual(EXACTLY_ONE);
  });

  if (FULL) {
    it("the kills landed inside every step that writes", { timeout: 10_000 }, () => {
      // Runs after the points (same file, sequence): the union of steps in flight at some kill.
      const covered = new Set(rows.flatMap((r) => r.inFlight ?? []));
      for (const step of ["resource-group", "apim", "named-values", "telemetry", "fragments", "api", "decision-log", "dataverse-access", "graph-grant"]) {
        expect(covered.has(step), `a kill inside ${step}`).toBe(true);
      }
    });
  }
});
