import { describe, expect, it } from "vitest";
import { fieldProblem } from "../../src/config/field.js";

describe("one field checked by the configuration schema's own rule", () => {
  it.each([
    [["apim", "name"], "apim-contoso", undefined],
    [["apim", "name"], "9-starts-with-a-digit", "letters, digits and hyphens, starting with a letter and not ending with a hyphen"],
    [["agents", 0, "audienceGroupId"], "kb", "not a GUID"],
    [["gateway", "audiences"], ["a", "b", "c"], "at most two audiences (App ID URI and client id)"],
    [["gateway", "backendUrl"], "agents.example.com", "not a URL (expected https://…)"],
    [["telemetry", "namespace"], "ehns", "at least 6 characters"],
    [["apim", "sku"], "Developer", undefined],
  ])("%j = %j", (path, value, problem) => {
    expect(fieldProblem(path as (string | number)[], value)).toBe(problem);
  });

  it("a path the schema does not have is a bug, said as such", () => {
    expect(() => fieldProblem(["apim", "colour"], "x")).toThrow("the configuration schema has no field apim.colour");
  });
});
