// A small line diff (longest common subsequence) with unified-style hunks, for showing policy
// drift in terminal output. Policies are a few hundred lines, so the O(n·m) table is cheap; past
// MAX_CELLS the diff degrades to "everything changed" rather than using a lot of memory.

const MAX_CELLS = 4_000_000;

type Op = { kind: " " | "-" | "+"; text: string; aLine: number };

export function lineDiff(
  a: string[],
  b: string[],
  options: { context?: number; maxLines?: number } = {},
): string[] {
  const context = options.context ?? 2;
  const maxLines = options.maxLines ?? 60;
  const ops = diffOps(a, b);
  const lines: string[] = [];

  // Hunks: changed lines plus `context` unchanged lines either side; hunks that touch merge.
  const changedAt = ops.flatMap((op, k) => (op.kind === " " ? [] : [k]));
  let h = 0;
  while (h < changedAt.length) {
    let last = h;
    while (last + 1 < changedAt.length && changedAt[last + 1]! - changedAt[last]! <= 2 * context + 1) last++;
    const from = Math.max(0, changedAt[h]! - context);
    const to = Math.min(ops.length, changedAt[last]! + context + 1);
    lines.push(`@@ line ${ops[from]!.aLine} @@`);
    for (let k = from; k < to; k++) lines.push(`${ops[k]!.kind} ${ops[k]!.text}`);
    h = last + 1;
  }

  if (lines.length <= maxLines) return lines;
  const hidden = lines.slice(maxLines).filter((l) => l.startsWith("- ") || l.startsWith("+ ")).length;
  return [...lines.slice(0, maxLines), `… ${hidden} more changed line(s) not shown`];
}

function diffOps(a: string[], b: string[]): Op[] {
  const n = a.length;
  const m = b.length;
  if ((n + 1) * (m + 1) > MAX_CELLS) {
    return [
      ...a.map((text, k): Op => ({ kind: "-", text, aLine: k + 1 })),
      ...b.map((text): Op => ({ kind: "+", text, aLine: n + 1 })),
    ];
  }
  // lcs[i][j] = LCS length of a[i..] and b[j..]
  const width = m + 1;
  const lcs = new Uint32Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * width + j] =
        a[i] === b[j] ? lcs[(i + 1) * width + j + 1]! + 1 : Math.max(lcs[(i + 1) * width + j]!, lcs[i * width + j + 1]!);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      ops.push({ kind: " ", text: a[i]!, aLine: i + 1 });
      i++;
      j++;
    } else if (i < n && (j === m || lcs[(i + 1) * width + j]! >= lcs[i * width + j + 1]!)) {
      ops.push({ kind: "-", text: a[i]!, aLine: i + 1 });
      i++;
    } else {
      ops.push({ kind: "+", text: b[j]!, aLine: i + 1 });
      j++;
    }
  }
  return ops;
}
