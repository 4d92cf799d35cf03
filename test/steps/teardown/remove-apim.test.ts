import { describe, expect, it } from "vitest";
import { removeApimStep as step } from "../../../src/steps/teardown/apim.js";
import { planInput, writes } from "../../support/seed.js";
import { activating, deleting, GONE, OURS, SOFT_DELETED, THEIRS } from "./gateways.js";

const plan = async (observed: unknown, purge = false) => step.plan(step.desired(await planInput({ options: { purgeSoftDeleted: purge } })), observed as never);

describe("step remove-apim", () => {
  it.each([
    ["aeg's instance: soft-deleted", OURS, false, [["delete", "service/apim-aeg-sandbox"]]],
    ["aeg's instance with --purge: deleted and purged", OURS, true, [["delete", "service/apim-aeg-sandbox"]]],
    ["someone else's instance blocks the run", THEIRS, false, [["blocked", "service/apim-aeg-sandbox"]]],
    ["an instance still activating blocks the run", activating(), false, [["blocked", "service/apim-aeg-sandbox"]]],
    ["a deletion already running: waited for", deleting, true, [["delete", "service/apim-aeg-sandbox"]]],
    ["soft-deleted, no --purge: nothing to do", SOFT_DELETED, false, []],
    ["soft-deleted and aeg's, --purge: purged", SOFT_DELETED, true, [["delete", "deletedservices/apim-aeg-sandbox"]]],
    ["soft-deleted but not recorded as aeg's, --purge: left", { ...SOFT_DELETED, owned: false }, true, [["skipped", "service/apim-aeg-sandbox"]]],
    ["nothing there", GONE, true, []],
  ])("%s", async (_name, observed, purge, expected) => {
    expect(writes(await plan(observed, purge))).toEqual(expected);
  });

  it("each write says what it sends, and a blocked instance says why with exit 2", async () => {
    expect((await plan(OURS))[0]).toMatchObject({ op: { kind: "delete" }, note: expect.stringMatching(/48 hours.*--recover-soft-deleted.*--purge/) });
    expect((await plan(OURS, true))[0]!.op).toEqual({ kind: "delete-and-purge" });
    expect((await plan(deleting, true))[0]!.op).toEqual({ kind: "wait-deleted-and-purge" });
    expect((await plan(deleting))[0]!.op).toEqual({ kind: "wait-deleted" });
    expect((await plan(SOFT_DELETED, true))[0]!.op).toEqual({ kind: "purge" });
    expect((await plan(SOFT_DELETED))[0]!.note).toBe("soft-deleted until 2026-06-11T10:00:00.000Z; aeg teardown --purge frees the name");
    expect((await plan(THEIRS))[0]).toMatchObject({ exitCode: 2, note: expect.stringMatching(/no managed-by: aeg tag/), hint: expect.stringMatching(/managed-by=aeg/) });
  });

  it("records the id of what it deleted, so a later --purge knows the soft-deleted service is aeg's", async () => {
    const input = await planInput();
    expect(step.outputs(step.desired(input), SOFT_DELETED)).toEqual({ serviceId: SOFT_DELETED.deleted!.serviceId, scheduledPurgeDate: "2026-06-11T10:00:00.000Z" });
    expect(step.outputs(step.desired(input), { ...SOFT_DELETED, owned: false }).serviceId).toBeUndefined();
  });
});
