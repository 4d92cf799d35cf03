// The state directory's files are written atomically (temp file + rename), so a run killed at any
// point leaves the last complete file behind. The lock that keeps a second sandbox off the
// directory is in lock.ts.
import fs from "node:fs";
import { randomBytes } from "node:crypto";

export function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o600 });
  fs.renameSync(tmp, file);
}
