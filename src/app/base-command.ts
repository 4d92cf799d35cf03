import { Command, Flags } from "@oclif/core";
import { ExitCode, UserError } from "../errors.js";
import { envelope } from "../render/envelope.js";

/**
 * Every aeg command: runs `execute`, turns any error into one or two lines on stderr (or the JSON
 * envelope with --json) and the documented exit code. A stack trace only with --debug.
 */
export abstract class AegCommand extends Command {
  static override baseFlags = {
    json: Flags.boolean({ description: "print one JSON document on stdout, nothing else; progress goes nowhere" }),
    debug: Flags.boolean({ description: "show stack traces and SDK errors in full", helpGroup: "GLOBAL" }),
  };

  static override enableJsonFlag = false;

  protected abstract execute(): Promise<number>;

  private wantsJson = false;
  private wantsDebug = false;

  async run(): Promise<void> {
    this.wantsJson = this.argv.includes("--json");
    this.wantsDebug = this.argv.includes("--debug");
    try {
      process.exitCode = await this.execute();
    } catch (err) {
      process.exitCode = this.report(err);
    }
  }

  private report(thrown: unknown): number {
    const err = fileSystemRefusal(thrown) ?? thrown;
    const exitCode = exitCodeOf(err);
    const message = err instanceof Error ? err.message : String(err);
    const hint = err instanceof UserError ? err.hint : undefined;
    if (this.wantsJson) {
      process.stdout.write(`${JSON.stringify(envelope({ command: this.id ?? "aeg", status: "error", exitCode, error: { message, ...(hint ? { hint } : {}) } }))}\n`);
    } else {
      const lines = exitCode === ExitCode.unexpected && !(err instanceof UserError) ? [`aeg: unexpected error: ${message}`, "Re-run with --debug for details, and report it if it persists."] : [`aeg: ${message}`, ...(hint ? [hint] : [])];
      process.stderr.write(`${lines.join("\n")}\n`);
    }
    if (this.wantsDebug && thrown instanceof Error && thrown.stack) process.stderr.write(`${thrown.stack}\n`);
    return exitCode;
  }
}

export function exitCodeOf(err: unknown): number {
  if (err instanceof UserError) return err.exitCode;
  // oclif's own parse errors (unknown flag, missing value) are usage errors.
  if (err instanceof Error && /CLIError|Parse|Flag|Arg/.test(err.constructor.name)) return ExitCode.usage;
  if (typeof err === "object" && err !== null && "oclif" in err) return ExitCode.usage;
  return ExitCode.unexpected;
}

const REFUSALS: Record<string, string> = {
  ENOENT: "no such file or directory",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENOTDIR: "a path component is a file, not a directory",
  EISDIR: "is a directory",
  EEXIST: "already exists (as a file where a directory is needed?)",
  EROFS: "read-only file system",
  ENAMETOOLONG: "name too long",
  ELOOP: "too many symbolic links",
};

/**
 * A path the file system refused (a --checkpoint-dir that is a file, a directory without write
 * permission) is the user's to fix: exit 2 with the path, not "unexpected error".
 */
function fileSystemRefusal(err: unknown): UserError | undefined {
  if (!(err instanceof Error) || err instanceof UserError) return undefined;
  const { code, path: where } = err as NodeJS.ErrnoException;
  const reason = code ? REFUSALS[code] : undefined;
  if (!reason || typeof where !== "string") return undefined;
  return new UserError(`${where}: ${reason} (${code})`, ExitCode.usage, "Check the path (a flag, or a file the configuration names) and its permissions.");
}
