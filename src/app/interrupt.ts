import type { Session } from "./session.js";

/** The command line that resumes a run: the same one, without --dry-run. */
export function resumeCommand(command: string, argv: string[]): string {
  return [`aeg ${command}`, ...argv.filter((a) => a !== "--dry-run")].join(" ");
}

/**
 * Ctrl+C during a run: say at once what it means, release the lock, and leave Azure to finish
 * what it started. Returns the function that stops listening.
 */
export function onInterrupt(session: Session, resume: string, inFlight: string): () => void {
  const handler = () => {
    process.stderr.write(`\nInterrupted. Azure keeps working on any operation already started (${inFlight}).\nRun \`${resume}\` to resume: it re-attaches to what is in flight.\n`);
    void session.close().finally(() => process.exit(130));
  };
  process.once("SIGINT", handler);
  return () => process.off("SIGINT", handler);
}
