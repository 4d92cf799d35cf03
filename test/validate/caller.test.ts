import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { describeCaller } from "../../src/validate/caller.js";

const token = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode("k".repeat(32)));

describe("describeCaller", () => {
  it("names the persona and the token's UPN, never the token", async () => {
    const t = await token({ upn: "alice@contoso.example" });
    const caller = describeCaller({ kind: "persona", persona: "alice", version: "v1" }, t);
    expect(caller).toEqual({ kind: "persona", label: "persona alice", upn: "alice@contoso.example" });
    expect(JSON.stringify(caller)).not.toContain(t);
  });

  it.each([
    [{ from: "env", variable: "AEG_TOKEN" } as const, "token from environment variable AEG_TOKEN"],
    [{ from: "command", command: "get-token --secret hunter2" } as const, "token from a command"],
    [{ from: "interactive", loginHint: "bob@contoso.example" } as const, "interactive sign-in as bob@contoso.example"],
  ])("a configured caller: %o → %s", async (source, label) => {
    expect(describeCaller({ kind: "caller", source }, await token({ preferred_username: "p@x" }))).toEqual({ kind: "caller", label, upn: "p@x" });
  });

  it("keeps nothing from a failure token's made-up claims", async () => {
    expect(describeCaller({ kind: "failure", failure: "forged" }, await token({ upn: "made-up@x" }))).toEqual({ kind: "none", label: "no caller: a token signed by a key aeg made up" });
    expect(describeCaller({ kind: "persona", persona: "x", version: "v2" }, "not.a.jwt")).toEqual({ kind: "persona", label: "persona x" });
  });
});
