// A plan is plain data: it survives JSON whole, and applying the parsed plan with a fresh engine
// does what `aeg setup` does with the plan in memory (same steps, same writes, same end state).
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { NO_SOFT_DELETE_CHOICE, setupEngine } from "../../src/app/engine.js";
import { openSession, type Session } from "../../src/app/session.js";
import type { StepReport } from "../../src/engine/change.js";
import { SilentReporter } from "../../src/render/reporters.js";
import { tempDir } from "../support/sandbox.js";

const sessions: Session[] = [];
afterAll(async () => {
  await Promise.all(sessions.map((s) => s.close()));
});

async function tenant(): Promise<Session> {
  const cwd = tempDir("aeg-plan-data-");
  const session = await openSession({ sandbox: true, "sandbox-dir": path.join(cwd, "tenant") }, { lock: true, cwd });
  sessions.push(session);
  return session;
}

const engineOf = (session: Session) => setupEngine(session, new SilentReporter(), { options: NO_SOFT_DELETE_CHOICE, signal: new AbortController().signal });
const statuses = (reports: StepReport[]) => reports.map((r) => `${r.id}: ${r.status}`);
// Each tenant mints its own identities: their GUIDs are not part of what is compared.
const resources = (reports: StepReport[]) => reports.flatMap((r) => r.changes.map((c) => `${c.action} ${c.resource}`.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, "<guid>"))).sort();

/** Plans a fresh sandbox tenant, applies (through JSON or not), and plans again. */
async function setUp(throughJson: boolean) {
  const session = await tenant();
  const plan = await (await engineOf(session)).plan();
  let toApply = plan;
  if (throughJson) {
    toApply = JSON.parse(JSON.stringify(plan)) as StepReport[];
    expect(toApply).toEqual(plan); // nothing lost: no function, no class, no undefined that matters
  }
  // A fresh engine: nothing of the planning run is kept but the plan itself.
  const applied = await (await engineOf(session)).apply(toApply);
  const writes = session.arm.counter.writes;
  const after = await (await engineOf(session)).plan();
  return { plan, applied, writes, after, secondWrites: session.arm.counter.writes - writes };
}

describe("a plan as data", () => {
  it("applied after a JSON round trip, does exactly what setup does", async () => {
    const [direct, viaJson] = await Promise.all([setUp(false), setUp(true)]);
    expect(resources(viaJson.plan)).toEqual(resources(direct.plan));
    expect(viaJson.plan.flatMap((r) => r.changes).filter((c) => c.action === "create").length).toBeGreaterThan(30);
    expect(statuses(viaJson.applied)).toEqual(statuses(direct.applied));
    expect(viaJson.applied.some((r) => r.status === "failed")).toBe(false);
    expect(viaJson.writes).toBe(direct.writes);
    // Both end in sync: the second plan writes nothing and finds nothing to do.
    for (const run of [direct, viaJson]) {
      expect(run.after.flatMap((r) => r.changes).filter((c) => !["ok", "skipped", "unverifiable"].includes(c.action))).toEqual([]);
      expect(run.secondWrites).toBe(0);
    }
    expect(resources(viaJson.after)).toEqual(resources(direct.after));
  });

  it("refuses a plan holding a blocked change before its first write", async () => {
    const session = await tenant();
    const plan = await (await engineOf(session)).plan();
    const tampered = JSON.parse(JSON.stringify(plan)) as StepReport[];
    tampered[0]!.changes.push({ action: "blocked", resource: "namespaces/x/eventhubs/y", fields: [], note: "telemetry.partitionCount: cannot change", hint: "Use a new hub.", exitCode: 2 });
    const before = session.arm.counter.writes;
    await expect((await engineOf(session)).apply(tampered)).rejects.toMatchObject({ exitCode: 2, message: "namespaces/x/eventhubs/y: telemetry.partitionCount: cannot change" });
    expect(session.arm.counter.writes).toBe(before);
  });
});
