// Measures what "fast where it matters" promises, against a local sandbox tenant:
// the ARM requests of a fresh setup and of a no-op re-run, their wall time, and CLI start-up.
// Usage: npm run build && node bench/setup.mjs [--runs N]   (writes bench/REPORT.md)
import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { writeSandboxConfig } from "../dist/src/app/sandbox-config.js";
import { startSandbox } from "../dist/sandbox/index.js";

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const bin = path.join(root, "bin", "run.js");
const runs = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 5;

async function aeg(args, cwd) {
  const started = performance.now();
  const { stdout } = await run(process.execPath, [bin, ...args], { cwd, env: { ...process.env, AEG_POLL_INTERVAL_MS: "100" } }).catch((e) => e);
  return { ms: performance.now() - started, out: stdout?.startsWith("{") ? JSON.parse(stdout) : undefined };
}

async function served(sandbox) {
  return (await fetch(`${sandbox.arm}/_sandbox/requests`)).json();
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms) => `${(ms / 1000).toFixed(2)} s`;

const cwd = await mkdtemp(path.join(os.tmpdir(), "aeg-bench-"));
const sandbox = await startSandbox({ stateDir: path.join(cwd, "tenant"), apimActivationMs: 2000, retryAfterSeconds: 0 });
const config = await writeSandboxConfig(sandbox, path.join(cwd, "tenant"));
process.env.NODE_EXTRA_CA_CERTS = sandbox.caFile;
const tls = await import("node:tls");
const { readFileSync } = await import("node:fs");
tls.setDefaultCACertificates([...tls.getCACertificates("default"), readFileSync(sandbox.caFile, "utf8")]);

try {
  await fetch(`${sandbox.arm}/_sandbox/requests/reset`, { method: "POST" });
  const fresh = await aeg(["setup", "--config", config, "--ci", "--json", "--skip-validation"], cwd);
  const freshServed = await served(sandbox);

  const noop = [];
  let noopServed;
  for (let i = 0; i < runs; i++) {
    await fetch(`${sandbox.arm}/_sandbox/requests/reset`, { method: "POST" });
    noop.push(await aeg(["setup", "--config", config, "--ci", "--json", "--skip-validation"], cwd));
    noopServed = await served(sandbox);
  }
  const doctor = [];
  for (let i = 0; i < runs; i++) doctor.push(await aeg(["doctor", "--config", config, "--ci", "--json"], cwd));
  const validate = [];
  for (let i = 0; i < runs; i++) validate.push(await aeg(["validate", "--config", config, "--ci", "--json"], cwd));
  const startup = [];
  for (let i = 0; i < runs; i++) startup.push(await aeg(["--version"], cwd));

  const rows = [
    ["fresh `aeg setup` (APIM creation takes 2 s in the sandbox)", fmt(fresh.ms), fresh.out.arm.reads, fresh.out.arm.writes, freshServed.total, freshServed.writes],
    [`no-op re-run of \`aeg setup\` (median of ${runs})`, fmt(median(noop.map((r) => r.ms))), noop[0].out.arm.reads, noop[0].out.arm.writes, noopServed.total, noopServed.writes],
    [`\`aeg doctor\` in sync (median of ${runs})`, fmt(median(doctor.map((r) => r.ms))), doctor[0].out.arm.reads, doctor[0].out.arm.writes, "", ""],
    [`\`aeg validate\`, ${validate[0].out.scenarios.length} scenarios, each record read back from the Event Hub (median of ${runs})`, fmt(median(validate.map((r) => r.ms))), "", "", "", ""],
    [`CLI start-up, \`aeg --version\` (median of ${runs})`, fmt(median(startup.map((r) => r.ms))), "", "", "", ""],
  ];
  const report = [
    "# Benchmark: setup against the sandbox",
    "",
    `Measured ${new Date().toISOString().slice(0, 10)} with \`node bench/setup.mjs --runs ${runs}\` on ${os.cpus().length} cores, Node ${process.version}.`,
    "The sandbox answers in milliseconds, so these times are aeg's own cost (process start, token, reads, planning), not Azure's.",
    "ARM requests are counted twice: by the CLI (its `--json` envelope) and by the sandbox (what it served; its admin calls are not counted).",
    "",
    "| run | wall time | ARM reads (CLI) | ARM writes (CLI) | requests served | writes served |",
    "|---|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.join(" | ")} |`),
    "",
    "Setup runs here with `--skip-validation`; validation is measured on its own row. ARM counts cover",
    "ARM only: steps 5 and 8 also read Dataverse and Graph (a no-op re-run writes to neither).",
    "A no-op re-run makes zero writes; its reads run concurrently within each dependency level.",
    "",
  ].join("\n");
  await writeFile(path.join(root, "bench", "REPORT.md"), report);
  process.stdout.write(report);
} finally {
  await sandbox.close();
}
