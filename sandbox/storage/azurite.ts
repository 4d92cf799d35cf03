// Microsoft's storage emulator, Azurite (the `azurite` npm package), run as a child process:
// blob service only, on a free loopback port, over HTTPS with the sandbox's server certificate,
// accepting Entra bearer tokens (`--oauth basic`, which needs HTTPS), its state kept in the
// sandbox's state directory.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

export interface AzuriteOptions {
  /** Where Azurite keeps its metadata and blobs (created if missing). */
  location: string;
  /** PEM files of the TLS server certificate and its key. */
  certFile: string;
  keyFile: string;
  /** How long Azurite may take to listen before start fails (ms). */
  startTimeoutMs?: number;
}

export interface Azurite {
  /** https://127.0.0.1:<port> */
  url: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * The flags, each for a reason: `--skipApiVersionCheck` because the storage SDKs send newer
 * x-ms-version values than an Azurite release may know; `--oauth basic` so bearer tokens are
 * accepted (Azurite checks their lifetime, issuer and audience, not their signature: the front
 * in front of it checks that); `--silent` because the access log would fill the sandbox's output.
 */
export function azuriteArgs(o: AzuriteOptions): string[] {
  return [
    "--blobHost", "127.0.0.1",
    "--blobPort", "0",
    "--location", o.location,
    "--cert", o.certFile,
    "--key", o.keyFile,
    "--oauth", "basic",
    "--skipApiVersionCheck",
    "--disableTelemetry",
    "--silent",
  ];
}

/** The `azurite-blob` entry point of the installed package, found through its package.json. */
export function azuriteBlobBin(): string {
  const require = createRequire(import.meta.url);
  const pkgFile = require.resolve("azurite/package.json");
  const bin = (JSON.parse(fs.readFileSync(pkgFile, "utf8")) as { bin?: Record<string, string> }).bin?.["azurite-blob"];
  if (!bin) throw new Error(`${pkgFile} names no azurite-blob entry point`);
  return path.resolve(path.dirname(pkgFile), bin);
}

// Runs the entry point as if it were the script (argv[1] is its path), and turns the loss of the
// IPC channel (the sandbox stopped or died, even by kill -9) into Azurite's own graceful SIGTERM.
const LAUNCHER = `process.on("disconnect", () => process.kill(process.pid, "SIGTERM")); require(process.argv[1]);`;

export async function startAzurite(o: AzuriteOptions): Promise<Azurite> {
  fs.mkdirSync(o.location, { recursive: true });
  const env = { ...process.env };
  delete env["NODE_OPTIONS"]; // a test runner's loaders have no business in the emulator
  delete env["AZURITE_ACCOUNTS"]; // the sandbox's account is the emulator's default one
  const child = spawn(process.execPath, ["-e", LAUNCHER, azuriteBlobBin(), ...azuriteArgs(o)], {
    cwd: o.location,
    env,
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  const port = await listening(child, o.startTimeoutMs ?? 60_000);
  return { url: `https://127.0.0.1:${port}`, port, stop: () => stopChild(child) };
}

/** Resolves with the port once Azurite says it listens; rejects if it exits or the deadline passes. */
function listening(child: ChildProcess, timeoutMs: number): Promise<number> {
  let output = "";
  return new Promise<number>((resolve, reject) => {
    const fail = (why: string) => {
      cleanup();
      child.kill("SIGKILL");
      reject(new Error(`Azurite did not start: ${why}${output.trim() ? ` (${output.trim().split("\n").slice(-3).join(" | ")})` : ""}`));
    };
    const timer = setTimeout(() => fail(`no "listens on" line within ${timeoutMs} ms`), timeoutMs);
    const onData = (d: Buffer) => {
      output = (output + d.toString()).slice(-4000);
      const m = /successfully listens on https:\/\/[^:\s]+:(\d+)/.exec(output);
      if (m) {
        cleanup();
        resolve(Number(m[1]));
      }
    };
    const onExit = (code: number | null, signal: string | null) => fail(`it exited (${signal ?? code})`);
    const onError = (err: Error) => fail(err.message);
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout!.off("data", onData);
      child.stderr!.off("data", onData);
      child.off("exit", onExit);
      child.off("error", onError);
      // Keep draining: a child blocked on a full pipe stops answering.
      child.stdout!.resume();
      child.stderr!.resume();
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", onExit);
    child.once("error", onError);
  });
}

/** Azurite's graceful stop (it saves its metadata), then SIGKILL if it takes too long. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  if (child.connected) child.disconnect();
  else child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}
