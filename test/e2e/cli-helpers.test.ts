// The CLI helps people type: shell completion (@oclif/plugin-autocomplete) and a suggestion for a
// mistyped command (@oclif/plugin-not-found), both through the built CLI.
import { execFile } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { repoRoot, runAeg } from "../support/cli.js";
import { Pty } from "../support/pty.js";

const bin = path.join(repoRoot, "bin", "run.js");
let env: NodeJS.ProcessEnv;
let cwd: string;

beforeAll(async () => {
  cwd = await mkdtemp(path.join(os.tmpdir(), "aeg-cli-"));
  // The completion cache goes to a folder of the test's own, never the user's ~/.cache.
  env = { ...process.env, NO_COLOR: "1", XDG_CACHE_HOME: path.join(cwd, "cache") };
});

/** What bash completes after `words` (the last one being typed), with aeg's completion loaded. */
async function complete(...words: string[]): Promise<string[]> {
  const script = `eval "$("${process.execPath}" "${bin}" autocomplete script bash)"; COMP_WORDS=(aeg ${words.join(" ")}); COMP_CWORD=${words.length}; _aeg_autocomplete; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const { stdout } = await promisify(execFile)("bash", ["-c", script], { cwd, env });
  return stdout.split("\n").filter(Boolean);
}

describe("a CLI that helps people type", () => {
  it("aeg autocomplete builds the completion, and bash then completes commands and their flags", async () => {
    const setup = await runAeg(["autocomplete", "bash"], { cwd, env });
    expect(setup.code, setup.stderr).toBe(0);
    expect(setup.stdout).toContain("aeg autocomplete script bash");
    expect(await complete("tear")).toEqual(["teardown"]);
    expect(await complete("in")).toEqual(["init"]);
    expect(await complete("teardown", "--pu")).toEqual(["--purge"]);
  });

  it("a mistyped command gets a suggestion in a terminal; declining it exits 127", async () => {
    const pty = Pty.spawn([process.execPath, bin, "teardwon"], { cwd, env });
    try {
      await pty.expect(/teardwon is not a aeg command/);
      await pty.expect(/Did you mean teardown\?/);
      pty.type("n\r");
      await pty.expect(/Run aeg help for a list of available commands/);
      expect(await pty.exited).toBe(127);
    } finally {
      pty.kill();
    }
  });
});
