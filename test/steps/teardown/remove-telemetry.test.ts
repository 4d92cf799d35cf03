import { describe, expect, it } from "vitest";
import { removeTelemetryStep as step } from "../../../src/steps/teardown/telemetry.js";
import { planInput, writes } from "../../support/seed.js";

const NS = "namespaces/ehns-aeg-sandbox";
const HUB = `${NS}/eventhubs/aeg-decisions`;
const ours = { tags: { "managed-by": "aeg" }, sku: { name: "Standard" } };
const hub = { id: "/sub/.../eventhubs/aeg-decisions", name: "aeg-decisions", partitionCount: 4 };

describe("step remove-telemetry", () => {
  it.each([
    ["aeg's namespace: the hub, then the namespace", { namespace: ours, hub, otherHubs: [] }, [["delete", HUB], ["delete", NS]]],
    ["someone's namespace, aeg's recorded hub: only the hub", { namespace: { tags: {} }, hub, otherHubs: [], recordedHubId: hub.id }, [["delete", HUB], ["skipped", NS]]],
    ["someone's namespace and hub: both stay", { namespace: { tags: {} }, hub, otherHubs: [] }, [["skipped", HUB], ["skipped", NS]]],
    ["aeg's namespace holding another hub: the namespace stays", { namespace: ours, hub, otherHubs: ["payroll"] }, [["delete", HUB], ["skipped", NS]]],
    ["the hub gone, the namespace left from an interrupted run", { namespace: ours, otherHubs: [] }, [["delete", NS]]],
    ["nothing there", { otherHubs: [] }, []],
  ])("%s", async (_name, observed, expected) => {
    expect(writes(step.plan(step.desired(await planInput()), observed as never))).toEqual(expected);
  });
});
