import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/errors.js";
import { initDefaults } from "../../src/init/fields.js";
import { givenValues, missingUnderCi, withGiven } from "../../src/init/values.js";

describe("init: values given ahead of the questions", () => {
  it("flags win over AEG_* variables; lists and agents come from repeated flags or comma-separated variables", () => {
    const given = givenValues({ "apim-name": "from-flag", agent: ["kb=11111111-2222-3333-4444-555555555555"] }, { AEG_APIM_NAME: "from-env", AEG_AUDIENCES: "api://a, b", AEG_LOCATION: "westeurope" });
    expect(given).toEqual(
      expect.arrayContaining([
        { path: ["apim", "name"], value: "from-flag", source: "--apim-name" },
        { path: ["agents"], value: [{ id: "kb", audienceGroupId: "11111111-2222-3333-4444-555555555555" }], source: "--agent" },
        { path: ["gateway", "audiences"], value: ["api://a", "b"], source: "AEG_AUDIENCES" },
        { path: ["location"], value: "westeurope", source: "AEG_LOCATION" },
      ]),
    );
  });

  it("an agent that is not id=group is named with where it came from", () => {
    expect(() => givenValues({}, { AEG_AGENTS: "kb" })).toThrow(ConfigError);
    expect(() => givenValues({}, { AEG_AGENTS: "kb" })).toThrow("AEG_AGENTS: 'kb' is not id=audienceGroupId");
  });

  it("under --ci, each required value from nowhere is one line naming its flag and variable", () => {
    const missing = missingUnderCi(initDefaults(), givenValues({ subscription: "s" }, {}));
    expect(missing).toContain("--tenant (or AEG_TENANT_ID): required under --ci (tenantId)");
    expect(missing.some((l) => l.startsWith("--subscription"))).toBe(false);
    // Defaulted values are not required: the API path, the channel, the policy version, the hub.
    expect(missing.join("\n")).not.toMatch(/api-path|channel|policy-version|--eventhub /);
  });

  it("the namespace is named after the instance unless given", () => {
    expect(withGiven(initDefaults(), givenValues({ "apim-name": "apim-contoso" }, {}))).toMatchObject({ telemetry: { namespace: "ehns-apim-contoso", eventHub: "aeg-decisions" } });
    expect(withGiven(initDefaults(), givenValues({ "apim-name": "apim-contoso", "eventhub-namespace": "ehns-mine" }, {}))).toMatchObject({ telemetry: { namespace: "ehns-mine" } });
  });

  it("the policy version defaults to the day, as YYYY.MM.DD", () => {
    expect(initDefaults(new Date("2026-06-09T12:00:00Z"))).toMatchObject({ gateway: { policyVersion: "2026.06.09" } });
  });
});
