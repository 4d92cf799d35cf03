// Request latency of the sandbox gateway running the shipped policies (real C# via Mono):
// an allowed call (token check, audience gate, two governance reads, one decision record,
// the echo backend) and a denied one (audience gate fails, record, 403).
// Usage: npm run build && node bench/gateway.mjs [--requests N]   (writes bench/GATEWAY.md)
import { execFile } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { writeSandboxConfig } from "../dist/src/app/sandbox-config.js";
import { personaToken, startSandbox } from "../dist/sandbox/index.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const requests = Number(process.argv[process.argv.indexOf("--requests") + 1]) || 300;

const cwd = await mkdtemp(path.join(os.tmpdir(), "aeg-bench-gw-"));
const stateDir = path.join(cwd, "tenant");
const sandbox = await startSandbox({ stateDir, apimActivationMs: 500, retryAfterSeconds: 0 });
tls.setDefaultCACertificates([...tls.getCACertificates("default"), await readFile(sandbox.caFile, "utf8")]);
try {
  const config = await writeSandboxConfig(sandbox, stateDir);
  await promisify(execFile)(process.execPath, [path.join(root, "bin", "run.js"), "setup", "--config", config, "--ci", "--skip-validation"], { cwd, env: { ...process.env, AEG_POLL_INTERVAL_MS: "100" } });
  const url = `${sandbox.gateway}/apim-aeg-sandbox/agents/contoso-kb-assistant`;
  const measure = async (persona) => {
    const token = await personaToken(stateDir, { persona, audience: "api://agent-eligibility-gateway", version: "v1" });
    const call = async () => {
      const started = performance.now();
      const res = await fetch(url, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: "{}" });
      await res.arrayBuffer();
      return { ms: performance.now() - started, status: res.status };
    };
    for (let i = 0; i < 20; i++) await call(); // warm-up: first compile, connections, token caches
    const samples = [];
    for (let i = 0; i < requests; i++) samples.push(await call());
    const ms = samples.map((s) => s.ms).sort((a, b) => a - b);
    const at = (q) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))];
    return { persona, status: samples[0].status, median: at(0.5), p95: at(0.95), p99: at(0.99) };
  };
  const rows = [await measure("alice"), await measure("noah")];
  const report = [
    "# Benchmark: sandbox gateway request latency",
    "",
    `Measured ${new Date().toISOString().slice(0, 10)} with \`node bench/gateway.mjs --requests ${requests}\` on ${os.cpus().length} cores, Node ${process.version}, Mono ${(await promisify(execFile)("mono", ["--version"])).stdout.split("\n")[0].replace(/^.*version /, "").split(" ")[0]}.`,
    `${requests} sequential requests per row after 20 warm-up requests; client and sandbox in one process, over HTTPS on loopback.`,
    "",
    "| caller | answer | median | p95 | p99 |",
    "|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.persona} | ${r.status} | ${r.median.toFixed(1)} ms | ${r.p95.toFixed(1)} ms | ${r.p99.toFixed(1)} ms |`),
    "",
    "alice: allowed (token, audience gate, compliance and entitlement reads from the sandbox Dataverse with the",
    "gateway's managed identity, one decision record, the echo backend). noah: denied at the audience gate (403).",
    "These are the sandbox's numbers, for regressions in the policies and the sandbox; APIM's own latency differs.",
    "",
  ].join("\n");
  await writeFile(path.join(root, "bench", "GATEWAY.md"), report);
  process.stdout.write(report);
} finally {
  await sandbox.close();
}
