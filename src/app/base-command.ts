import { Command, Flags } from "@oclif/core";
import { ExitCode, UserError } from "../errors.js";
import { envelope } from "../render/envelope.js";

/** What every command returns: the envelope's common fields, then the command's own. */
export interface CommandResult {
  status: string;
  exitCode: number;
}

/**
 * Every aeg command: `execute` returns a typed result and this class prints it, either as the one
 * versioned JSON envelope on stdout (`--json`) or as the command's human text (`text`). Errors take
 * the same path: the envelope with `status: "error"`, or one or two lines on stderr, and the
 * documented exit code. A stack trace only with --debug.
 */
export abstract class AegCommand<R extends CommandResult = CommandResult> extends Command {
  static override baseFlags = {
    json: Flags.boolean({ description: "print one JSON document on stdout, nothing else; progress goes nowhere" }),
    debug: Flags.boolean({ description: "show stack traces and SDK errors in full", helpGroup: "GLOBAL" }),
  };

  static override enableJsonFlag = false;

  protected abstract execute(): Promise<R>;

  /** The result for a person; progress already went to stderr while the command ran. */
  protected abstract text(result: R): void;

  /** The command's name in the envelope. */
  protected get commandName(): string {
    return (this.id ?? "aeg").replaceAll(":", " ");
  }

  private output = { json: false, debug: false };
  private announced = false;

  /**
   * A long-running command's one document, printed as soon as it is ready (`sandbox start` once it
   * listens), in every output mode: stdout is the command's product. Nothing is printed at the end.
   */
  protected announce(result: R): void {
    this.print(envelope(this.commandName, result));
    this.announced = true;
  }

  async run(): Promise<void> {
    try {
      const { flags } = await this.parse(this.ctor as typeof AegCommand);
      this.output = { json: flags.json, debug: flags.debug };
    } catch (err) {
      // Flags that cannot be parsed cannot be read either: the raw arguments say how to answer.
      this.output = { json: this.argv.includes("--json"), debug: this.argv.includes("--debug") };
      process.exitCode = this.report(err);
      return;
    }
    try {
      const result = await this.execute();
      if (this.announced) {
        // Said already.
      } else if (this.output.json) this.print(envelope(this.commandName, result));
      else this.text(result);
      process.exitCode = result.exitCode;
    } catch (err) {
      process.exitCode = this.report(err);
    }
  }

  protected get jsonOutput(): boolean {
    return this.output.json;
  }

  private print(document: unknown): void {
    process.stdout.write(`${JSON.stringify(document)}\n`);
  }

  private report(thrown: unknown): number {
    const err = fileSystemRefusal(thrown) ?? thrown;
    const exitCode = exitCodeOf(err);
    const message = err instanceof Error ? err.message : String(err);
    const hint = err instanceof UserError ? err.hint : undefined;
    if (this.output.json) {
      const failure = { status: "error", exitCode, error: { message, ...(hint ? { hint } : {}) } };
      this.print(envelope(this.commandName, failure));
    } else {
      const lines = exitCode === ExitCode.unexpected && !(err instanceof UserError) ? [`aeg: unexpected error: ${message}`, "Re-run with --debug for details, and report it if it persists."] : [`aeg: ${message}`, ...(hint ? [hint] : [])];
      process.stderr.write(`${lines.join("\n")}\n`);
    }
    if (this.output.debug && thrown instanceof Error && thrown.stack) process.stderr.write(`${thrown.stack}\n`);
    return exitCode;
  }
}

function exitCodeOf(err: unknown): number {
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
