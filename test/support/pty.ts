// A pseudo-terminal for interactive commands, through util-linux `script` (no native module):
// the child sees a terminal on stdin, stdout and stderr; the test types into it and reads it.
import { spawn, type ChildProcess } from "node:child_process";

const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[=>()][0-9A-Za-z]?|\r/g;
const quote = (arg: string) => `'${arg.replaceAll("'", "'\\''")}'`;

export class Pty {
  private raw = "";
  private seen = 0;
  readonly exited: Promise<number | null>;

  private constructor(private readonly child: ChildProcess) {
    child.stdout!.on("data", (d: Buffer) => (this.raw += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (this.raw += d.toString()));
    this.exited = new Promise((resolve) => child.on("close", resolve));
  }

  /** Runs `argv` in a terminal of its own; `script -e` exits with the child's code. */
  static spawn(argv: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): Pty {
    const child = spawn("script", ["-qfec", argv.map(quote).join(" "), "/dev/null"], { cwd: opts.cwd, env: { ...opts.env, TERM: "xterm", COLUMNS: "160", LINES: "50" }, stdio: ["pipe", "pipe", "pipe"] });
    return new Pty(child);
  }

  /** What the terminal showed so far, without escape sequences. */
  get text(): string {
    return this.raw.replace(ANSI, "");
  }

  /** Waits until text after the previous match matches `pattern`; fails after the deadline, showing the screen. */
  async expect(pattern: RegExp, deadlineMs = 20_000): Promise<void> {
    const until = Date.now() + deadlineMs;
    for (;;) {
      const rest = this.text.slice(this.seen);
      const m = pattern.exec(rest);
      if (m) {
        this.seen += m.index + m[0].length;
        return;
      }
      if (Date.now() > until) throw new Error(`timed out waiting for ${pattern} in the terminal; it shows:\n${this.text.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Types keys as a person would (`\r` is Enter). */
  type(keys: string): void {
    this.child.stdin!.write(keys);
  }

  kill(): void {
    this.child.kill("SIGKILL");
  }
}
