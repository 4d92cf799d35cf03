import { mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runAeg } from "../support/cli.js";

describe("the quick start: aeg setup --sandbox with no configuration", () => {
  it("uses the sample configuration, applies everything, and a second run writes nothing", async () => {
    const cwd = await mkdtemp(path.join(os.tmpdir(), "aeg-quick-"));
    const first = await runAeg(["setup", "--sandbox"], { cwd });
    expect(first.stderr).toMatch(/using the sandbox sample configuration \(two agents\)/);
    expect(first.stderr).toMatch(/Setup complete/);
    // It ends with the validation matrix against the sandbox gateway, every scenario passing.
    expect(first.stderr).toMatch(/Validation: (\d+) of \1 scenarios passed\./);
    expect(first.code).toBe(0);

    const second = await runAeg(["setup", "--sandbox", "--json"], { cwd });
    expect(second.code).toBe(0);
    const out = JSON.parse(second.stdout) as { status: string; arm: { writes: number } };
    expect(out).toMatchObject({ status: "in-sync", arm: { writes: 0 } });

    const dry = await runAeg(["setup", "--sandbox", "--dry-run"], { cwd });
    expect(dry.code).toBe(0);
    expect(dry.stderr).toMatch(/Dry run: everything is in sync/);
    expect((await runAeg(["doctor", "--sandbox"], { cwd })).code).toBe(0);
    const junit = await runAeg(["validate", "--sandbox", "--junit", "out.xml"], { cwd });
    expect(junit.code).toBe(0);
    expect(await readFile(path.join(cwd, "out.xml"), "utf8")).toMatch(/<testsuites name="aeg validate" tests="\d+" failures="0"/);

    // The on-disk tenant (no server running) still answers for personas and tokens.
    const token = await runAeg(["sandbox", "token", "--persona", "alice", "--v2"], { cwd });
    expect(token.code).toBe(0);
    expect(token.stdout.trim().split(".")).toHaveLength(3);
    const listed = JSON.parse((await runAeg(["sandbox", "personas", "--json"], { cwd })).stdout) as { running: boolean; agents: Array<{ url: string }> };
    expect(listed.running).toBe(false);
    expect(listed.agents).toHaveLength(2);
  });
});
