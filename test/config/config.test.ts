import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { configPath, envOverrides, readConfigFile, resolveConfig } from "../../src/config/load.js";
import { sandboxSampleConfig } from "../../src/config/sandbox-sample.js";
import { ConfigError, ExitCode } from "../../src/errors.js";

const valid = () => ({
  ...sandboxSampleConfig(),
  subscriptionId: "00000000-1111-2222-3333-444444444444",
  tenantId: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
});

function problems(raw: Record<string, unknown>, overrides = [] as Parameters<typeof resolveConfig>[1]): string[] {
  try {
    resolveConfig(raw, overrides);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).exitCode).toBe(ExitCode.usage);
    return (err as ConfigError).problems;
  }
  return [];
}

describe("configuration", () => {
  it("accepts the sandbox sample and fills defaults", () => {
    const config = resolveConfig(valid());
    expect(config.gateway.apiId).toBe("aeg-gateway");
    expect(config.gateway.unknownPathway).toBe("allow-anomaly");
    expect(config.telemetry.loggerId).toBe("aeg-decision-logger");
    expect(config.cloud.name).toBe("AzureCloud");
    expect(config.agents).toHaveLength(2);
  });

  it("names every problem with its field path, one line each", () => {
    const raw = valid();
    (raw.agents as Array<Record<string, unknown>>)[1]!.audienceGroupId = "not-a-guid";
    raw.subscriptionId = "sub";
    delete (raw as Record<string, unknown>).location;
    (raw.apim as Record<string, unknown>).publisherEmail = "nobody";
    expect(problems(raw).sort()).toEqual(
      ["agents[1].audienceGroupId: not a GUID", "apim.publisherEmail: not an email address", "location: required (set it in the file, or with AEG_LOCATION or --location)", "subscriptionId: not a GUID"].sort(),
    );
  });

  it("rejects unknown settings instead of ignoring a typo", () => {
    const raw = { ...valid(), resourcegroup: "x" };
    expect(problems(raw)).toEqual(["(top level): unknown setting resourcegroup"]);
  });

  it("rejects two agents whose ids make the same slug", () => {
    const raw = valid();
    raw.agents = [
      { id: "Contoso KB", audienceGroupId: "11111111-2222-3333-4444-555555555555" },
      { id: "contoso-kb", audienceGroupId: "11111111-2222-3333-4444-555555555555" },
    ];
    expect(problems(raw)).toEqual(["agents[1].id: same slug 'contoso-kb' as agents[0].id"]);
  });

  it("lets flags win over environment variables over the file, and names the flag at fault", () => {
    const raw = valid();
    const env = envOverrides({ AEG_RESOURCE_GROUP: "rg-from-env", AEG_LOCATION: "northeurope" });
    const config = resolveConfig(raw, [...env, { path: ["resourceGroup"], value: "rg-from-flag", source: "--resource-group" }]);
    expect(config.resourceGroup).toBe("rg-from-flag");
    expect(config.location).toBe("northeurope");
    expect(problems(raw, [{ path: ["subscriptionId"], value: "nope", source: "--subscription" }])).toEqual(["--subscription (subscriptionId): not a GUID"]);
  });

  it("requires endpoints for a custom cloud", () => {
    const raw = { ...valid(), cloud: { name: "custom" } };
    expect(problems(raw).sort()).toEqual(["cloud.authority: required when cloud.name is custom", "cloud.resourceManager: required when cloud.name is custom"]);
  });

  it("finds aeg.yaml, or aeg.<env>.yaml with --env, and --config wins", () => {
    expect(configPath("/p", {})).toBe("/p/aeg.yaml");
    expect(configPath("/p", { env: "prod" })).toBe("/p/aeg.prod.yaml");
    expect(configPath("/p", { env: "prod", config: "x.yaml" })).toBe("/p/x.yaml");
  });

  it("reports YAML syntax errors with line and column, and a missing file clearly", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "aeg-config-"));
    const file = path.join(dir, "aeg.yaml");
    await writeFile(file, "apim:\n  name: [unclosed\n");
    await expect(readConfigFile(file)).rejects.toThrow(/aeg\.yaml:\d+:\d+/);
    await expect(readConfigFile(path.join(dir, "missing.yaml"))).rejects.toThrow(/missing\.yaml: not found/);
  });
});
