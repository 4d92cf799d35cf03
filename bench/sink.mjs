// Throughput of `aeg sink` against the sandbox: N decision records pre-loaded into the hub with
// the producer client, then the time `aeg sink --once` takes to drain them into fsi_aegdecisionlog,
// and the Dataverse requests service protection counted for it. No limits and no modelled execution
// time here: this is aeg's own cost; bench/sink-limits.mjs measures the rate the limits allow.
// Usage: npm run build && node bench/sink.mjs [N]   (writes bench/SINK.md)
import { spawn } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import { EventHubProducerClient } from "@azure/event-hubs";
import { ClientSecretCredential } from "@azure/identity";
import { parse, stringify } from "yaml";
import { startSandbox } from "../dist/sandbox/index.js";
import { writeSandboxConfig } from "../dist/src/app/sandbox-config.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const N = Number(process.argv[2] ?? 5000);
const cwd = await mkdtemp(path.join(os.tmpdir(), "aeg-bench-sink-"));
const sb = await startSandbox({ stateDir: path.join(cwd, "tenant"), apimActivationMs: 1000, retryAfterSeconds: 0, lroPolls: 1 });
tls.setDefaultCACertificates([...tls.getCACertificates("default"), await readFile(sb.caFile, "utf8")]);

function aeg(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(root, "bin/run.js"), ...args], { cwd, env: { ...process.env, NO_COLOR: "1", AEG_POLL_INTERVAL_MS: "50" } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

try {
  const config = path.join(cwd, "aeg.yaml");
  const c = parse(await readFile(await writeSandboxConfig(sb, path.join(cwd, "tenant")), "utf8"));
  c.dataverse.decisionLog = { enabled: true };
  await writeFile(config, stringify(c));
  const setup = await aeg(["setup", "--skip-validation", "--ci", "--config", config]);
  if (setup.code !== 0) throw new Error(`setup failed: ${setup.stderr}`);

  const credential = new ClientSecretCredential(sb.tenantId, sb.clientId, sb.clientSecret, { authorityHost: sb.authority, disableInstanceDiscovery: true });
  const producer = new EventHubProducerClient(`${c.telemetry.namespace}.servicebus.windows.net`, c.telemetry.eventHub, credential, { customEndpointAddress: sb.eventHubs });
  let batch = await producer.createBatch();
  for (let i = 0; i < N; i++) {
    const body = JSON.stringify({ schemaVersion: 1, correlationId: `bench-${i}`, decisionTime: new Date().toISOString(), agentId: "contoso-kb-assistant", userObjectId: null, channel: "custom-web", pathway: "none", decision: "Allow", denyReason: "None", anomaly: false, httpStatus: 200, policyVersion: "2026.06.09", gatewayInstance: "bench" });
    if (!batch.tryAdd({ body })) {
      await producer.sendBatch(batch);
      batch = await producer.createBatch();
      batch.tryAdd({ body });
    }
  }
  await producer.sendBatch(batch);
  await producer.close();

  await fetch(`${sb.dataverse}/_sandbox/requests/reset`, { method: "POST" });
  const started = performance.now();
  const run = await aeg(["sink", "--once", "--json", "--config", config, "--checkpoint-dir", path.join(cwd, "cp")]);
  const seconds = (performance.now() - started) / 1000;
  if (run.code !== 0) throw new Error(`sink failed: ${run.stderr}`);
  const summary = JSON.parse(run.stdout);
  const rows = (await (await fetch(`${sb.dataverse}/_sandbox/tables/fsi_aegdecisionlogs/rows`)).json()).value.length;
  const counted = await (await fetch(`${sb.dataverse}/_sandbox/requests`)).json();
  const rate = Math.round(summary.written / seconds);
  const md = `# aeg sink throughput (sandbox)

\`node bench/sink.mjs ${N}\`, ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"}).

${N} decision records pre-loaded into the sandbox hub (4 partitions) with the producer client, then
\`aeg sink --once\` with its defaults (1,000 rows per UpsertMultiple, as many requests at once as
\`x-ms-dop-hint\` says) timed from process start to exit, including sign-in, the table check and the
Event Hubs connection. "Dataverse requests" is what the sandbox's service protection counted for the
run (\`GET {dataverse}/_sandbox/requests\`): the sink's WhoAmI and table check included.

| events | written | poison | write requests | write mode | throttled | rows in table | Dataverse requests | seconds | events/s |
|---|---|---|---|---|---|---|---|---|---|
| ${summary.received} | ${summary.written} | ${summary.poison} | ${summary.batches} | ${summary.writeMode} | ${summary.throttled} | ${rows} | ${counted.total} | ${seconds.toFixed(1)} | ${rate} |

What this does not measure: Dataverse's execution time per row (the sandbox charges it but answers at
once here) and its service-protection limits; \`bench/SINK-LIMITS.md\` (\`node bench/sink-limits.mjs\`)
measures the rate one identity sustains within them.
`;
  await writeFile(path.join(root, "bench", "SINK.md"), md);
  process.stdout.write(md);
} finally {
  await sb.close();
}
