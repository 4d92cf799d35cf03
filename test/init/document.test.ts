import { describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { resolveConfig } from "../../src/config/load.js";
import { configDocument } from "../../src/init/document.js";
import { sampleConfig } from "../support/seed.js";

describe("init: the file it writes", () => {
  it("round-trips through the schema, with a header and a comment on every line that holds a value", () => {
    const config = sampleConfig((raw) => (raw.auth = { clientId: "5d9a4f6e-0c1b-4d7a-9b38-2f1e6c7a8b90" }));
    const text = configDocument(config, { header: ["written by a test"], notes: { "agents[0].audienceGroupId": "KB Assistant Users" } });
    expect(text.startsWith("# written by a test\n")).toBe(true);
    expect(resolveConfig(parseDocument(text).toJS())).toEqual(config);
    // Scalars carry their comment beside them; lists and blocks carry it on the line above.
    const lines = text.split("\n").filter((l) => /^\s*(- )?[A-Za-z]+:(\s|$)/.test(l));
    for (const [i, line] of lines.entries()) {
      const block = /:\s*$/.test(line);
      if (block) expect(text.split("\n")[text.split("\n").indexOf(line) - 1], line).toMatch(/^\s*# /);
      else expect(line, `line ${i}`).toMatch(/ # \S/);
    }
    expect(text).toContain("audienceGroupId: 11111111-2222-3333-4444-555555555555 # Entra group whose members may use the agent: KB Assistant Users");
  });

  it("writes neither a connection-string source nor templatesDir (init asks for neither)", () => {
    const config = sampleConfig((raw) => {
      raw.telemetry = { ...raw.telemetry, connectionString: { fromEnv: "EH_CS" } };
      raw.templatesDir = "./mine";
    });
    const text = configDocument(config, { header: [] });
    expect(text).not.toContain("connectionString");
    expect(text).not.toContain("templatesDir");
  });

  it("a field without a comment is a bug that stops the write", () => {
    const config = sampleConfig();
    const odd = { ...config, agents: [{ ...config.agents[0]!, colour: "blue" }] } as never;
    expect(() => configDocument(odd, { header: [] })).toThrow("init writes agents[0].colour without a comment");
  });
});
