// Sandbox-only admin routes on the authority listener: list the personas and mint their tokens,
// so clients outside this process (the CLI, curl, `aeg validate`) can act as a test user. Real
// Entra has no such endpoint; a user token there needs an interactive sign-in.
import { json, type Reply, type Router } from "../http.js";
import { TOKEN_LIFETIME_S, type EntraContext } from "../entra.js";
import { hasOverage, type Agent, type GovernanceSeed, type Persona } from "./personas.js";
import { UnknownPersonaError, mintPersonaToken, resolvePersona } from "./tokens.js";

interface PersonaSummary {
  name: string;
  displayName: string;
  upn: string;
  oid: string;
  groupCount: number;
  overage: boolean;
  upnInV2: boolean;
  exercises: string;
  expected: Persona["expected"];
  tokenVersion?: Persona["tokenVersion"];
  graphFallback?: boolean;
  alsoExercises: NonNullable<Persona["alsoExercises"]>;
}

function summarize(p: Persona): PersonaSummary {
  return {
    name: p.name,
    displayName: p.displayName,
    upn: p.upn,
    oid: p.oid,
    groupCount: p.groups.length,
    overage: hasOverage(p),
    upnInV2: p.upnInV2,
    exercises: p.exercises,
    expected: p.expected,
    ...(p.tokenVersion ? { tokenVersion: p.tokenVersion } : {}),
    ...(p.graphFallback !== undefined ? { graphFallback: p.graphFallback } : {}),
    alsoExercises: p.alsoExercises ?? [],
  };
}

const badRequest = (message: string): Reply => json(400, { error: { code: "BadRequest", message } });

export function registerPersonaRoutes(router: Router<unknown>, entra: EntraContext, data: GovernanceSeed): void {
  router.add("GET", "/_sandbox/personas", () => json(200, { personas: data.personas.map(summarize), agents: data.agents satisfies Agent[] }));
  router.add("POST", "/_sandbox/personas/{name}/token", async (req) => {
    const b = req.body as { audience?: unknown; version?: unknown } | undefined;
    if (!b || typeof b.audience !== "string" || !b.audience) return badRequest('Body must be {"audience": "<aud>", "version": "v1" | "v2"}.');
    if (b.version !== "v1" && b.version !== "v2") return badRequest('version must be "v1" or "v2".');
    let persona: Persona;
    try {
      persona = resolvePersona(req.params["name"]!, data.personas);
    } catch (e) {
      if (e instanceof UnknownPersonaError) return json(404, { error: { code: "NotFound", message: e.message } });
      throw e;
    }
    const token = await mintPersonaToken(entra, { persona, audience: b.audience, version: b.version });
    return json(200, { token_type: "Bearer", expires_in: TOKEN_LIFETIME_S, access_token: token });
  });
}
