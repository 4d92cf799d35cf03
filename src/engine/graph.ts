/** Groups steps into levels: every step's needs are in earlier levels. Pure. */
export function levels<T extends { id: string; needs: string[] }>(steps: T[]): T[][] {
  const known = new Set(steps.map((s) => s.id));
  const placed = new Set<string>();
  const result: T[][] = [];
  let remaining = steps;
  while (remaining.length > 0) {
    const ready = remaining.filter((s) => s.needs.every((n) => placed.has(n) || !known.has(n)));
    if (ready.length === 0) throw new Error(`dependency cycle among steps: ${remaining.map((s) => s.id).join(", ")}`);
    ready.forEach((s) => placed.add(s.id));
    result.push(ready);
    remaining = remaining.filter((s) => !placed.has(s.id));
  }
  return result;
}
