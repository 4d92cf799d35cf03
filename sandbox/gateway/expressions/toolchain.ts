// Finds Mono, mcs and Newtonsoft.Json, and builds the context library and the worker from the
// C# sources shipped in csharp/ into a cache directory keyed by the sources' hash.
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const INSTALL_HINT =
  "Policy expressions need Mono: apt-get install -y mono-mcs mono-runtime libnewtonsoft-json5.0-cil";

export interface ToolchainOptions {
  /** Where built binaries and compiled units are kept (e.g. `<stateDir>/csharp`). */
  cacheDir: string;
  mono?: string;
  /** mcs.exe, the compiler assembly the worker loads in-process. */
  mcsExe?: string;
  newtonsoftDll?: string;
  /** Directory holding Context.cs etc.; found next to this module by default. */
  sourceDir?: string;
}

export interface Toolchain {
  mono: string;
  mcsExe: string;
  newtonsoftDll: string;
  /** `<cacheDir>/<hash>`: Aeg.Sandbox.Apim.dll, worker.exe and units/. */
  buildDir: string;
  workerExe: string;
}

const NEWTONSOFT_GAC = "/usr/lib/mono/gac/Newtonsoft.Json";
const LIBRARY = "Aeg.Sandbox.Apim.dll";
const WORKER = "worker.exe";

export async function prepareToolchain(opts: ToolchainOptions): Promise<Toolchain> {
  const mono = opts.mono ?? "mono";
  await checkMono(mono);
  const mcsExe = opts.mcsExe ?? "/usr/lib/mono/4.5/mcs.exe";
  if (!existsSync(mcsExe)) throw new Error(`${mcsExe} not found. ${INSTALL_HINT}`);
  const newtonsoftDll = opts.newtonsoftDll ?? (await findNewtonsoft());

  const sourceDir = opts.sourceDir ?? findSourceDir();
  const library = await listCs(sourceDir);
  const worker = await listCs(join(sourceDir, "worker"));
  const hash = await hashFiles([...library, ...worker], sourceDir);
  const buildDir = join(resolve(opts.cacheDir), hash);
  const workerExe = join(buildDir, WORKER);

  if (!existsSync(workerExe)) {
    // Build beside the final directory and rename, so concurrent starts never see half a build.
    await mkdir(opts.cacheDir, { recursive: true });
    const tmp = join(resolve(opts.cacheDir), `tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
    await mkdir(tmp, { recursive: true });
    try {
      const refs = [`-r:${newtonsoftDll}`, "-r:System.dll", "-r:System.Core.dll", "-r:System.Xml.dll", "-r:System.Xml.Linq.dll"];
      await runMcs(mono, mcsExe, ["-target:library", `-out:${join(tmp, LIBRARY)}`, ...refs, ...library]);
      await runMcs(mono, mcsExe, [`-out:${join(tmp, WORKER)}`, `-r:${join(tmp, LIBRARY)}`, ...refs, ...worker]);
      await rename(tmp, buildDir).catch(async (err: NodeJS.ErrnoException) => {
        if (!existsSync(workerExe)) throw err; // someone else won the race: use theirs
      });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
  return { mono, mcsExe, newtonsoftDll, buildDir, workerExe };
}

/** Mono, mcs and Newtonsoft are where prepareToolchain expects them; throws with the install hint. */
export async function checkToolchain(opts: Pick<ToolchainOptions, "mono" | "mcsExe" | "newtonsoftDll"> = {}): Promise<void> {
  await checkMono(opts.mono ?? "mono");
  const mcsExe = opts.mcsExe ?? "/usr/lib/mono/4.5/mcs.exe";
  if (!existsSync(mcsExe)) throw new Error(`${mcsExe} not found. ${INSTALL_HINT}`);
  if (!opts.newtonsoftDll) await findNewtonsoft();
}

async function checkMono(mono: string): Promise<void> {
  const result = await run(mono, ["--version"]).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") throw new Error(`'${mono}' not found. ${INSTALL_HINT}`);
    throw err;
  });
  if (result.code !== 0) throw new Error(`'${mono} --version' failed: ${result.output.trim()}. ${INSTALL_HINT}`);
}

async function findNewtonsoft(): Promise<string> {
  const versions = existsSync(NEWTONSOFT_GAC) ? (await readdir(NEWTONSOFT_GAC)).sort().reverse() : [];
  for (const v of versions) {
    const dll = join(NEWTONSOFT_GAC, v, "Newtonsoft.Json.dll");
    if (existsSync(dll)) return dll;
  }
  throw new Error(`Newtonsoft.Json not found under ${NEWTONSOFT_GAC}. ${INSTALL_HINT}`);
}

// From dist/ (tsc output) the .cs files are not copied, so also look in the source tree.
function findSourceDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, "csharp"), resolve(here, "../../../../sandbox/gateway/expressions/csharp")];
  const found = candidates.find((c) => existsSync(join(c, "Context.cs")));
  if (!found) throw new Error(`C# sources for policy expressions not found (looked in ${candidates.join(", ")})`);
  return found;
}

async function listCs(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith(".cs")).sort().map((f) => join(dir, f));
}

async function hashFiles(files: string[], base: string): Promise<string> {
  const hash = createHash("sha256");
  for (const f of files) {
    hash.update(f.slice(base.length)).update("\0").update(await readFile(f)).update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}

async function runMcs(mono: string, mcsExe: string, args: string[]): Promise<void> {
  const result = await run(mono, [mcsExe, "-warn:0", "-debug-", ...args]);
  if (result.code !== 0) throw new Error(`building the policy-expression worker failed:\n${result.output.trim()}`);
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code, output }));
  });
}
