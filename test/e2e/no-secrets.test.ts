// No secret anywhere: every command that talks to a tenant, in every output mode (tty-less plain,
// --ci, --json, --debug), on its happy path and on failures, then a grep of everything it printed
// and every file it wrote (journal and locks under .aeg/, plan files, JUnit and validation reports,
// sink checkpoints) for the sandbox's client secrets, any access token (JWT shape), the Event Hubs key
// and "SharedAccessKey=". The logger authenticates with a connection string (from an environment
// variable), so a real key flows through setup. Excluded, because a secret is their product:
// `aeg sandbox token`'s stdout (a persona token) and `aeg sandbox start`'s (the operator's secret).
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { runAeg, type CliResult } from "../support/cli.js";
import { clients } from "../support/sandbox.js";
import { HUB, NAMESPACE, RG, SVC, chaosTenant, clearFaults, limiter, type ChaosTenant } from "../support/chaos.js";

const MODES = { plain: [], ci: ["--ci"], json: ["--json"], debug: ["--debug"] } as const;
type Mode = keyof typeof MODES;
const JWT = /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+/;
const CS_ENV = "AEG_TEST_EVENTHUB_CONNECTION";

interface Printed {
  what: string;
  stdout: string;
  stderr: string;
  /** stdout is the command's product (a token): not searched. */
  productOnStdout?: boolean;
}

/** Every string the sandbox holds that must stay secret, plus the patterns of any token or key. */
async function secretsOf(t: ChaosTenant, connectionString: string): Promise<{ literals: Map<string, string>; patterns: Map<string, RegExp> }> {
  const state = JSON.parse(await readFile(path.join(t.cwd, "tenant", "state.json"), "utf8")) as Record<string, unknown>;
  const literals = new Map<string, string>();
  // Any field named like a secret or key anywhere in the tenant state: every app's client secret,
  // the Event Hubs namespaces' SAS keys, and whatever a later feature adds under such a name.
  const walk = (v: unknown, where: string) => {
    if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) {
      if (typeof x === "string" && /secret|key$|password/i.test(k) && x.length >= 16 && !/^-----BEGIN/.test(x)) literals.set(x, `${where}.${k}`);
      else walk(x, `${where}.${k}`);
    }
  };
  walk(state, "state");
  const key = /SharedAccessKey=([^;]+)/.exec(connectionString)![1]!;
  literals.set(key, "the Event Hubs SAS key");
  expect([...literals.values()].filter((w) => /apps\.operator\.clientSecret/.test(w))).toHaveLength(1);
  expect([...literals.values()].filter((w) => /apps\.reader\.clientSecret/.test(w))).toHaveLength(1);
  return { literals, patterns: new Map([["an access token (JWT)", JWT], ["a connection-string key", /SharedAccessKey=/i]]) };
}

/** Files under `dir` (recursively), skipping the sandbox's own state and the harness's files. */
async function filesWritten(dir: string, skip: Set<string>): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(dir)) {
    const p = path.join(dir, name);
    if (skip.has(p)) continue;
    if ((await stat(p)).isDirectory()) out.push(...(await filesWritten(p, skip)));
    else out.push(p);
  }
  return out;
}

function hits(text: string, where: string, s: Awaited<ReturnType<typeof secretsOf>>): string[] {
  const found: string[] = [];
  for (const [literal, what] of s.literals) if (text.includes(literal)) found.push(`${where}: ${what}`);
  for (const [what, re] of s.patterns) if (re.test(text)) found.push(`${where}: ${what} (${re.exec(text)![0].slice(0, 24)}…)`);
  return found;
}

describe("no secret in anything aeg prints or writes", () => {
  const tenants = new Map<Mode, ChaosTenant>();
  const printed = new Map<Mode, Printed[]>();
  const connection = new Map<Mode, string>();
  const lane = limiter(2);

  beforeAll(async () => {
    for (const mode of Object.keys(MODES) as Mode[]) {
      const t = await chaosTenant();
      // The namespace's real key, in the form Azure's portal gives (the gateway sends with it).
      const key = /SharedAccessKey=([^;]+)/.exec(t.sandbox.eventHubsConnectionString(NAMESPACE, HUB))![1]!;
      const cs = `Endpoint=sb://${NAMESPACE}.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=${key};EntityPath=${HUB}`;
      const c = parse(await readFile(t.config, "utf8")) as Record<string, any>;
      c.telemetry.connectionString = { fromEnv: CS_ENV };
      // Validation checks the hub; the sink runs later, so rows are not awaited.
      c.validation = { checkDecisionLog: false };
      await writeFile(t.config, stringify(c));
      // The reader's secret in a file: its runs fail with 403s that must not echo it.
      const readerSecret = path.join(t.cwd, "tenant", "reader.secret");
      await writeFile(readerSecret, t.sandbox.readerClientSecret);
      await writeFile(path.join(t.cwd, "reader.yaml"), stringify({ ...c, auth: { clientId: t.sandbox.readerClientId, clientSecretFile: readerSecret } }));
      tenants.set(mode, t);
      connection.set(mode, cs);
    }
  });

  afterAll(async () => {
    for (const t of tenants.values()) await t.close();
  });

  /** The whole life of a gateway in one output mode, on a tenant of its own. */
  async function session(mode: Mode): Promise<Printed[]> {
    const t = tenants.get(mode)!;
    const flags = MODES[mode];
    const env = { [CS_ENV]: connection.get(mode)! };
    const out: Printed[] = [];
    const run = async (what: string, args: string[], opts: { expect?: number | "fail"; productOnStdout?: boolean; modeFlags?: readonly string[] } = {}): Promise<CliResult> => {
      const r = await runAeg([...args, ...(opts.modeFlags ?? flags)], { cwd: t.cwd, env });
      out.push({ what, stdout: r.stdout, stderr: r.stderr, ...(opts.productOnStdout ? { productOnStdout: true } : {}) });
      if (opts.expect === "fail") expect(r.code, `${what} (${mode}) should fail`).not.toBe(0);
      else expect(r.code, `${what} (${mode}): ${r.stderr}${r.stdout}`).toBe(opts.expect ?? 0);
      return r;
    };
    const cfg = ["--config", t.config];
    // Flags that only environment commands take: sandbox commands have no --ci.
    const sandboxFlags = flags.filter((f) => f !== "--ci");
    // Validation runs once, as its own command below (setup's closing validation prints the same).
    await run("setup (fresh)", ["setup", ...cfg, "--yes", "--skip-validation"]);
    await run("doctor", ["doctor", ...cfg]);
    await run("validate", ["validate", ...cfg, "--junit", path.join(t.cwd, "validation.xml"), "--report", path.join(t.cwd, "report")]);
    await run("plan --out", ["plan", ...cfg, "--out", path.join(t.cwd, "change.plan.json")]);
    await run("apply", ["apply", path.join(t.cwd, "change.plan.json")]);
    await run("sink --once", ["sink", ...cfg, "--once", "--checkpoint-dir", path.join(t.cwd, "sink-checkpoints")]);
    await run("teardown --dry-run", ["teardown", ...cfg, "--confirm", SVC, "--dry-run"]);
    await run("sandbox personas", ["sandbox", "personas", "--state-dir", path.join(t.cwd, "tenant")], { modeFlags: sandboxFlags });
    await run("sandbox token", ["sandbox", "token", "--persona", "alice", "--state-dir", path.join(t.cwd, "tenant")], { modeFlags: sandboxFlags, productOnStdout: true });
    // Failures, where SDK errors and (with --debug) stacks are printed. A named value changed out
    // of band gives the reader something to write, which ARM refuses (403, exit 3).
    await clients(t.sandbox).apim.namedValue.beginCreateOrUpdateAndWait(RG, SVC, "aeg-policy-version", { displayName: "aeg-policy-version", value: "tampered" }, { updateIntervalInMs: 10 });
    await run("setup as the reader (403)", ["setup", "--config", path.join(t.cwd, "reader.yaml"), "--yes", "--skip-validation"], { expect: 3 });
    // Answers that are not retried, so the failures come at once: an ARM 400 on every read, a
    // Dataverse 403 on every request.
    const fault = (base: string, body: unknown) => fetch(`${base}/_sandbox/faults`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    await fault(t.sandbox.arm, { match: { method: "GET" }, status: 400, body: { error: { code: "BadRequest", message: "sandbox fault" } } });
    await fault(t.sandbox.dataverse, { probability: 1, seed: 1, status: 403 });
    try {
      await run("doctor while ARM answers 400", ["doctor", ...cfg], { expect: "fail" });
      await run("setup while ARM answers 400", ["setup", ...cfg, "--yes", "--skip-validation"], { expect: "fail" });
      await run("sink while Dataverse answers 403", ["sink", ...cfg, "--once", "--checkpoint-dir", path.join(t.cwd, "sink-checkpoints")], { expect: "fail" });
    } finally {
      await clearFaults(t);
    }
    return out;
  }

  it.for(Object.keys(MODES) as Mode[])("%s: every command, happy and failing, prints no secret and writes none", { concurrent: true, timeout: 900_000 }, async (mode) => {
    const found: string[] = [];
    const t = tenants.get(mode)!;
    const secrets = await secretsOf(t, connection.get(mode)!);
    const runs = await lane(() => session(mode));
    printed.set(mode, runs);
    for (const p of runs) {
      if (!p.productOnStdout) found.push(...hits(p.stdout, `${p.what} stdout`, secrets));
      found.push(...hits(p.stderr, `${p.what} stderr`, secrets));
    }
    // The search finds what it looks for when it is there: the token command's product is a token,
    // and the secrets themselves are found in text that holds them.
    const product = runs.find((p) => p.productOnStdout)!;
    expect(hits(product.stdout, "token", secrets).some((h) => h.includes("an access token (JWT)"))).toBe(true);
    expect(hits(`a${t.sandbox.clientSecret}b ${connection.get(mode)}`, "probe", secrets).length).toBeGreaterThanOrEqual(3);
    // --debug printed the failures' stacks: the failing paths really were taken in that mode.
    if (mode === "debug") expect(runs.filter((p) => /^\s+at .+:\d+:\d+\)?$/m.test(p.stderr)).map((p) => p.what)).not.toEqual([]);
    const skip = new Set([path.join(t.cwd, "tenant"), t.trafficFile, t.configFile, t.config, path.join(t.cwd, "reader.yaml")]);
    const files = await filesWritten(t.cwd, skip);
    // What aeg wrote: the journal (.aeg/state), the plan, the JUnit and validation reports, checkpoints.
    const rel = files.map((f) => path.relative(t.cwd, f));
    expect(rel).toEqual(expect.arrayContaining(["change.plan.json", "validation.xml", "report/report.html", "report/attestation.json", expect.stringMatching(/^\.aeg\/state\//), expect.stringMatching(/^sink-checkpoints\//)]));
    for (const f of files) found.push(...hits(await readFile(f, "utf8"), path.relative(t.cwd, f), secrets));
    expect(found).toEqual([]);
  });
});
