import { exec } from "node:child_process";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { InteractiveBrowserCredential } from "@azure/identity";
import { generateKeyPair, SignJWT } from "jose";
import { ConfigError } from "../errors.js";
import type { TokenPlan } from "./scenarios.js";

const run = promisify(exec);

export interface TokenContext {
  tenantId: string;
  /** Audiences the gateway accepts; callers ask for the first. */
  audiences: string[];
  authority: string;
  v1IssuerHost: string;
  /** Mints a sandbox persona's token (only with --sandbox). */
  personaToken?: (persona: string, audience: string, version: "v1" | "v2") => Promise<string>;
}

/** The bearer token a scenario presents, or undefined for "no token". Never logged. */
export async function scenarioToken(plan: TokenPlan, ctx: TokenContext): Promise<string | undefined> {
  switch (plan.kind) {
    case "persona": {
      if (!ctx.personaToken) throw new ConfigError(["validation: persona scenarios need --sandbox"]);
      // v2 access tokens carry the API's client id as audience; v1 the App ID URI asked for.
      const audience = plan.version === "v2" ? (ctx.audiences.find(isGuid) ?? ctx.audiences[0]!) : (ctx.audiences.find((a) => !isGuid(a)) ?? ctx.audiences[0]!);
      return ctx.personaToken(plan.persona, audience, plan.version);
    }
    case "failure":
      return failureToken(plan.failure, ctx);
    case "caller":
      return callerToken(plan.source, ctx);
  }
}

async function callerToken(source: Extract<TokenPlan, { kind: "caller" }>["source"], ctx: TokenContext): Promise<string> {
  switch (source.from) {
    case "env": {
      const value = process.env[source.variable];
      if (!value) throw new ConfigError([`validation caller: environment variable ${source.variable} is not set`]);
      return value.trim();
    }
    case "file":
      try {
        return (await readFile(source.path, "utf8")).trim();
      } catch {
        throw new ConfigError([`validation caller: cannot read ${source.path}`]);
      }
    case "command": {
      const { stdout } = await run(source.command, { timeout: 60_000 }).catch((err: Error) => {
        throw new ConfigError([`validation caller: \`${source.command}\` failed: ${err.message.split("\n")[0]}`]);
      });
      const text = stdout.trim();
      // `az account get-access-token` prints JSON; other tools print the bare token.
      return text.startsWith("{") ? String((JSON.parse(text) as { accessToken?: string }).accessToken ?? "") : text;
    }
    case "interactive": {
      const credential = new InteractiveBrowserCredential({ tenantId: ctx.tenantId, loginHint: source.loginHint, authorityHost: ctx.authority, ...(source.clientId ? { clientId: source.clientId } : {}) });
      const token = await credential.getToken(`${ctx.audiences.find((a) => !isGuid(a)) ?? ctx.audiences[0]!}/.default`);
      return token.token;
    }
  }
}

/**
 * Tokens the gateway must refuse. "forged" looks right in every claim but is signed by a key aeg
 * makes up on the spot; "other-tenant" is the same for another tenant's issuer and tid.
 */
async function failureToken(failure: "none" | "malformed" | "forged" | "other-tenant", ctx: TokenContext): Promise<string | undefined> {
  if (failure === "none") return undefined;
  if (failure === "malformed") return "this.is-not-a.jwt";
  const { privateKey } = await generateKeyPair("RS256");
  const tid = failure === "forged" ? ctx.tenantId : "9f3d2c1b-0a9e-4d8c-b7a6-5f4e3d2c1b0a";
  return new SignJWT({ tid, oid: "00000000-0000-0000-0000-00000000beef", upn: "validator@example.com", ver: "1.0" })
    .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: "aeg-validate-forged" })
    .setIssuer(`${ctx.v1IssuerHost}/${tid}/`)
    .setAudience(ctx.audiences[0]!)
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(privateKey);
}

function isGuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}
