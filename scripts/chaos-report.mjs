// Renders the chaos matrices' figures (the JSON the tests write under AEG_CHAOS_REPORT) as the
// markdown of test/CHAOS.md. Usage: node scripts/chaos-report.mjs <report dir> <out.md> [seconds]
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";

const [dir, out, seconds] = process.argv.slice(2);
if (!dir || !out) {
  console.error("usage: node scripts/chaos-report.mjs <report dir> <out.md> [total seconds]");
  process.exit(2);
}

async function load(name) {
  try {
    return JSON.parse(await readFile(path.join(dir, `${name}.json`), "utf8"));
  } catch {
    return undefined;
  }
}

const yes = (b) => (b ? "yes" : "**no**");
const phase = (p) => `${p.underFaults === 0 ? "under faults" : `after ${p.reruns} plain re-run`}${p.converged ? "" : " **NOT CONVERGED**"}`;
const lines = [];
const say = (...l) => lines.push(...l);

say(
  "# Chaos figures",
  "",
  "Written by `npm run test:chaos` (AEG_CHAOS=full: the full matrices of `test/chaos/`, then this",
  "script). The default `npm test` runs a reduced set of the same tests. Each scenario is a fresh",
  "sandbox tenant; setup runs with the decision log and the Graph fallback on, so every step writes.",
  "",
);
if (seconds) say(`Last full run: ${new Date().toISOString().slice(0, 10)}, ${Math.round(Number(seconds) / 60)} min wall on this machine.`, "");

const faults = await load("fault-matrix");
if (faults) {
  const failed = faults.rows.filter((r) => r.error);
  const rows = faults.rows.filter((r) => !r.error);
  const ok = rows.filter((r) => r.setup.converged && r.noop.converged && r.doctor === 0 && r.duplicates === 0).length;
  say(
    "## Fault matrix",
    "",
    `${rows.length} scenarios: seeds ${faults.seeds.join(", ")} × request classes ${faults.classes.join(", ")} × kinds ${faults.kinds.join(", ")};`,
    `${Math.round(faults.probability * 100)} % of the class's requests fail (random, per seed). Each scenario: a fresh setup under the`,
    "faults, then a no-op re-run under the same faults; a run that fails must say which step failed and",
    "why, and then one plain re-run (no faults) must converge. Then doctor, and a census of what must",
    "exist once: APIM service, Data Sender assignment, application user, security role, its assignment,",
    "each Graph app-role grant, the decision-log table. Each request's draw is fixed by the seed (method,",
    "path and how many times that request was sent before); how often a run polls depends on timing,",
    "so the same seed can fail a run in one place on one machine and elsewhere, or not at all, on another.",
    "",
    `**${ok} of ${faults.rows.length} converged within one plain re-run, doctor 0, no duplicates.**`,
    "",
    ...failed.map((r) => `- seed ${r.seed} ${r.kind} on ${r.cls} did not finish: ${r.error.split("\n")[0]}`),
    ...(failed.length ? [""] : []),
    "| seed | kind | class | faults injected | fresh setup converged | no-op re-run converged | re-runs needed | doctor | duplicates | first error (when a run under faults failed) |",
    "|---:|---|---|---:|---|---|---:|---:|---:|---|",
  );
  for (const r of rows.sort((a, b) => a.seed - b.seed || a.cls.localeCompare(b.cls) || a.kind.localeCompare(b.kind))) {
    const err = (r.setup.error ?? r.noop.error ?? "").replace(/\|/g, "\\|").replace(/127\.0\.0\.1:\d+/g, "127.0.0.1:<port>").replace(/^\S+Z /, "");
    say(`| ${r.seed} | ${r.kind} | ${r.cls} | ${r.setup.faulted + r.noop.faulted} | ${phase(r.setup)} | ${phase(r.noop)} | ${r.setup.reruns + r.noop.reruns} | ${r.doctor} | ${r.duplicates} | ${err} |`);
  }
  const byKind = {};
  for (const r of rows) {
    const k = (byKind[`${r.kind} on ${r.cls}`] ??= { n: 0, firstRunOk: 0 });
    k.n++;
    if (r.setup.reruns === 0) k.firstRunOk++;
  }
  say("", "Fresh setups that converged under the faults with no re-run, by kind and class:", "", "| kind on class | converged under faults |", "|---|---:|");
  for (const [k, v] of Object.entries(byKind).sort()) say(`| ${k} | ${v.firstRunOk} of ${v.n} |`);
  say(
    "",
    "Why a first run fails: Dataverse and Graph POSTs (the decision-log table and its columns, the",
    "application user, the role, the grants) are not retried after a 5xx or a dropped connection, since",
    "the write may have landed; the next run observes and adopts it. ARM requests get the Azure SDK's",
    "three retries, so with 30 % faults on ~170 ARM requests one of them often fails four times.",
    "",
  );
}

const kills = await load("kill-matrix");
if (kills) {
  const failed = kills.rows.filter((r) => r.error);
  const rows = kills.rows.filter((r) => !r.error);
  const ok = rows.filter((r) => r.killed && r.rerun === 0 && (r.doctor === 0 || (r.doctor === null && !kills.full)) && r.duplicates === 0).length;
  say(
    "## Kill matrix",
    "",
    `${rows.length} points: \`aeg setup\` on a fresh tenant killed with -9 once the sandbox had served the N-th`,
    "write of a class (or the N-th poll of APIM while it was being created); then one plain re-run,",
    "doctor and the census. Steps in flight are those the run had said it was applying and not yet",
    "finished when it was killed.",
    "",
    `**${ok} of ${kills.rows.length} converged in one plain re-run, doctor 0, no duplicates.** Steps in flight at some kill: ${kills.stepsInFlightAtSomeKill.join(", ")}.`,
    "",
    ...failed.map((r) => `- ${r.point} did not finish: ${r.error.split("\n")[0]}`),
    ...(failed.length ? [""] : []),
    "| kill point | served at kill (ARM / Dataverse / Graph writes, APIM polls) | steps in flight | re-run | doctor | duplicates |",
    "|---|---|---|---:|---:|---:|",
  );
  for (const r of rows) say(`| ${r.point} | ${r.at.arm} / ${r.at.dataverse} / ${r.at.graph}, ${r.at.apimPolls} | ${r.inFlight.join(", ") || "(between steps)"} | ${r.rerun} | ${r.doctor ?? "-"} | ${r.duplicates} |`);
  say("");
}

const sink = await load("sink-kill");
if (sink) {
  say(
    "## Sink killed while writing",
    "",
    `${sink.rows.length} kills of \`aeg sink\` with -9 while Dataverse answered slowly (batches in flight),`,
    "with new records sent to the hub before each restart; a final `aeg sink --once` drains the rest.",
    "",
    `**${sink.records} records, ${sink.missing} missing, ${sink.duplicates} written twice.**`,
    "",
    "| kill | rows before start | rows at kill | records sent so far | killed by -9 |",
    "|---:|---:|---:|---:|---|",
  );
  for (const r of sink.rows) say(`| ${r.round} | ${r.landedBefore} | ${r.landedAtKill} | ${r.produced} | ${yes(r.killed)} |`);
  say("");
}

await writeFile(out, `${lines.join("\n")}\n`);
console.log(`chaos: figures written to ${out}`);
