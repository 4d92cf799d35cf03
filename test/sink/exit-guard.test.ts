// The stopped sink's exit guard, in a child process built as the CLI runs it: a timer left behind
// (as @azure/event-hubs leaves a receiver's token renewal) no longer keeps the process alive, and
// the exit code already set is the one it exits with.
import { spawn } from "node:child_process";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../support/cli.js";

function run(script: string): Promise<number | string | null> {
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: "ignore" });
  return new Promise((resolve) => child.once("close", (code, signal) => resolve(code ?? signal)));
}

const guard = pathToFileURL(path.join(repoRoot, "dist", "src", "sink", "exit-guard.js")).href;

describe("exitWhenStopped", () => {
  it("ends a process an hour-long timer would keep alive, with the exit code set before", async () => {
    expect(await run(`import { exitWhenStopped } from ${JSON.stringify(guard)}; process.exitCode = 3; setTimeout(() => {}, 3_600_000); exitWhenStopped(100);`)).toBe(3);
  });

  it("does not keep a process alive itself", async () => {
    expect(await run(`import { exitWhenStopped } from ${JSON.stringify(guard)}; process.exitCode = 0; exitWhenStopped(3_600_000);`)).toBe(0);
  });
});
