import { publicChange } from "../engine/plan.js";
import type { StepReport } from "../engine/types.js";

/** The one JSON document `--json` prints on stdout. Versioned: fields are only ever added. */
export interface Envelope {
  schemaVersion: 1;
  command: string;
  status: string;
  exitCode: number;
  environment?: string;
  dryRun?: boolean;
  steps: Array<{ id: string; title: string; status: string; changes: Record<string, unknown>[]; error?: string }>;
  arm?: { reads: number; writes: number };
  error?: { message: string; hint?: string };
  notes?: string[];
  /** `agents check` and `doctor`: the agent precondition per agent. */
  agents?: Array<{ agentId: string; schemaName?: string; ok: boolean; problems: string[] }>;
}

export function envelope(parts: Omit<Envelope, "schemaVersion" | "steps"> & { steps?: StepReport[] }): Envelope {
  return {
    schemaVersion: 1,
    ...parts,
    steps: (parts.steps ?? []).map((s) => ({
      id: s.id,
      title: s.title,
      status: s.status,
      changes: s.changes.map(publicChange),
      ...(s.error ? { error: s.error } : {}),
    })),
  };
}
