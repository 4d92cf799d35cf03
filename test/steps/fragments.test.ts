import { describe, expect, it } from "vitest";
import { fragmentsStep } from "../../src/steps/fragments.js";
import { planInput } from "../support/seed.js";

describe("step fragments", () => {
  it.each([
    ["none uploaded", () => undefined, ["create", "create"]],
    ["both as APIM stores them (CRLF, other indentation)", (xml: string) => xml.replace(/\n/g, "\r\n").replace(/ {2}/g, "\t"), ["ok", "ok"]],
    ["one edited by hand", (xml: string, id: string) => (id === "aeg-validate-jwt" ? xml.replace("</fragment>", "<set-variable name=\"x\" value=\"1\" /></fragment>") : xml), ["update", "ok"]],
  ])("%s", async (_name, live, expected) => {
    const desired = fragmentsStep.desired(await planInput()) as { fragments: Array<{ id: string; value: string }> };
    const found = new Map(desired.fragments.flatMap(({ id, value }) => {
      const stored = live(value, id);
      return stored === undefined ? [] : [[id, { value: stored, etag: `"${id}-1"` }] as const];
    }));
    const changes = fragmentsStep.plan(desired, found);
    expect(changes.map((c) => c.action)).toEqual(expected);
    for (const c of changes.filter((x) => x.action !== "ok")) expect(c.op).toMatchObject({ id: c.resource.split("/")[1], value: expect.stringContaining("<fragment") });
    // Neither fragment includes the other: they may be written side by side.
    for (const c of changes.filter((x) => x.action !== "ok")) expect(c.after).toEqual([]);
    const update = changes.find((c) => c.action === "update");
    if (update) {
      expect(update.fields[0]!.lines!.some((l) => l.startsWith("-") && l.includes("set-variable"))).toBe(true);
      // An update is planned against what was read: If-Match with its ETag, and the ETag is what the plan saw.
      expect(update).toMatchObject({ op: { ifMatch: '"aeg-validate-jwt-1"' }, seen: 'etag:"aeg-validate-jwt-1"' });
    }
  });
});
