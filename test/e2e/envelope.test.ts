// One output path: every command's --json is one envelope on stdout, on success and on failure.
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runAeg } from "../support/cli.js";

let cwd: string;
let stateDir: string;
beforeAll(async () => {
  cwd = await mkdtemp(path.join(os.tmpdir(), "aeg-envelope-"));
  await writeFile(path.join(cwd, "not-a-dir"), "");
  stateDir = path.join(cwd, "tenant");
});

const cases: Array<[string, () => string[], number, string]> = [
  ["setup without a configuration file", () => ["setup", "--config", "nowhere.yaml", "--ci"], 2, "setup"],
  ["doctor without a configuration file", () => ["doctor", "--config", "nowhere.yaml"], 2, "doctor"],
  ["validate without a configuration file", () => ["validate", "--config", "nowhere.yaml"], 2, "validate"],
  ["sink without a configuration file", () => ["sink", "--config", "nowhere.yaml", "--once"], 2, "sink"],
  ["setup with an unknown flag", () => ["setup", "--no-such-flag"], 2, "setup"],
  ["setup --report with --dry-run (nothing would be tested)", () => ["setup", "--config", "nowhere.yaml", "--dry-run", "--report", "evidence"], 2, "setup"],
  ["validate --report-url without --report", () => ["validate", "--config", "nowhere.yaml", "--report-url", "https://ci.example/runs/1"], 2, "validate"],
  ["validate --report into a file, not a directory", () => ["validate", "--config", "nowhere.yaml", "--report", path.join(cwd, "not-a-dir")], 2, "validate"],
  ["agents check, offline, passing", () => ["agents", "check", "--authentication-mode", "Integrated", "--require-sign-in"], 0, "agents check"],
  ["agents check, offline, failing", () => ["agents", "check", "--authentication-mode", "None"], 5, "agents check"],
  ["agents check with a mode that is not one", () => ["agents", "check", "--authentication-mode", "bogus"], 2, "agents check"],
  ["sandbox token for an unknown persona", () => ["sandbox", "token", "--persona", "nobody", "--state-dir", stateDir], 2, "sandbox token"],
  ["sandbox token", () => ["sandbox", "token", "--persona", "alice", "--state-dir", stateDir], 0, "sandbox token"],
  ["sandbox personas", () => ["sandbox", "personas", "--state-dir", stateDir], 0, "sandbox personas"],
  ["init --ci without the values it needs", () => ["init", "--ci", "--config", "init-ci.yaml"], 2, "init"],
  ["init --sandbox --ci", () => ["init", "--sandbox", "--sandbox-dir", stateDir, "--ci", "--config", "init-sandbox.yaml"], 0, "init"],
  ["init over an existing file without --force", () => ["init", "--sandbox", "--sandbox-dir", stateDir, "--ci", "--config", "init-sandbox.yaml"], 2, "init"],
  ["teardown without --confirm", () => ["teardown", "--sandbox", "--sandbox-dir", stateDir], 2, "teardown"],
  ["teardown with another instance's name", () => ["teardown", "--sandbox", "--sandbox-dir", stateDir, "--confirm", "apim-prod"], 2, "teardown"],
  ["teardown of a tenant with nothing of aeg's, dry run", () => ["teardown", "--sandbox", "--sandbox-dir", stateDir, "--confirm", "apim-aeg-sandbox", "--dry-run"], 0, "teardown"],
  ["sandbox reset", () => ["sandbox", "reset", "--state-dir", stateDir], 0, "sandbox reset"],
];

describe("--json", () => {
  it.each(cases)("%s: one envelope with schemaVersion, command, status and exitCode", async (_name, args, code, command) => {
    const run = await runAeg([...args(), "--json"], { cwd });
    expect(run.code, run.stderr).toBe(code);
    const lines = run.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const doc = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(Object.keys(doc).slice(0, 4)).toEqual(["schemaVersion", "command", "status", "exitCode"]);
    expect(doc).toMatchObject({ schemaVersion: 1, command, exitCode: code });
    if (code === 2) expect(doc).toMatchObject({ status: "error", error: { message: expect.any(String) } });
    expect(run.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
  });
});
