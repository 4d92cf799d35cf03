// The gateway contract, proven end to end: a real `aeg setup` against a sandbox tenant, then every
// row of the validation matrix and the adversarial cases over HTTPS against the sandbox gateway,
// which runs the stored policies with real C#. Each answer's status, denyReason, anomaly and echoed
// correlation id is checked, and exactly one decision record with that id must reach the Event Hub.
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { generateKeyPair, importJWK, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { personaToken, sandboxPersonas, type Persona } from "../../sandbox/index.js";
import { assertTrafficConformsToSpecs } from "../support/fidelity.js";
import { runAeg, testTenant, waitFor, type TestTenant } from "../support/cli.js";

const APP_ID_URI = "api://agent-eligibility-gateway";
const CLIENT_ID = "5d9a4f6e-0c1b-4d7a-9b38-2f1e6c7a8b90";
const KB = "contoso-kb-assistant";
const HR = "contoso-hr-helper";

let tenant: TestTenant;
let fallbackConfig: string;
let seq = 0;

beforeAll(async () => {
  tenant = await testTenant();
  const config = parse(await readFile(tenant.configFile, "utf8")) as Record<string, any>;
  config.gateway.storeTimeoutSeconds = 1; // so "store slow past the timeout" takes a second, not ten
  await writeFile(tenant.configFile, stringify(config));
  fallbackConfig = path.join(tenant.cwd, "fallback-on.yaml");
  await writeFile(fallbackConfig, stringify({ ...config, graphFallback: { enabled: true } }));
  const setup = await runAeg(["setup", "--skip-validation", "--config", tenant.configFile, "--ci"], { cwd: tenant.cwd });
  expect(setup.stderr).toMatch(/Setup complete/);
});

afterAll(async () => {
  await tenant.close();
  await assertTrafficConformsToSpecs(tenant.trafficFile);
});

interface Answer {
  status: number;
  correlationId: string | null;
  body: Record<string, unknown>;
  sent: string;
}

async function call(agent: string, token: string | undefined, headers: Record<string, string> = {}, query = ""): Promise<Answer> {
  const sent = `e2e-${++seq}-${agent}`;
  const res = await fetch(`${tenant.sandbox.gateway}/apim-aeg-sandbox/agents/${agent}${query}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-aeg-correlation-id": sent, ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body: JSON.stringify({ text: "hello" }),
  });
  const text = await res.text();
  return { status: res.status, correlationId: res.headers.get("x-aeg-correlation-id"), body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, sent };
}

async function records(correlationId: string): Promise<Array<Record<string, unknown>>> {
  const res = await fetch(`${tenant.sandbox.arm}/_sandbox/eventhubs/ehns-aeg-sandbox/aeg-decisions/events`);
  const { events } = (await res.json()) as { events: Array<{ body: string }> };
  return events.map((e) => JSON.parse(e.body) as Record<string, unknown>).filter((r) => r.correlationId === correlationId);
}

/** The answer and its one decision record agree with the contract. */
async function expectDecision(answer: Answer, expected: { status: number; denyReason: string; anomaly: boolean }, agent = KB): Promise<void> {
  expect(answer.status).toBe(expected.status);
  expect(answer.correlationId).toBe(answer.sent);
  if (expected.status === 200) expect(answer.body.echo).toBe(true); // reached the backend
  else expect(answer.body).toMatchObject({ denyReason: expected.denyReason, correlationId: answer.sent });
  const [record, ...more] = await waitFor(async () => {
    const found = await records(answer.sent);
    return found.length > 0 ? found : undefined;
  }, `the decision record ${answer.sent}`);
  expect(more).toEqual([]);
  expect(record).toMatchObject({
    schemaVersion: 1,
    agentId: agent,
    decision: expected.status === 200 ? "Allow" : "Deny",
    denyReason: expected.denyReason,
    anomaly: expected.anomaly,
    httpStatus: expected.status,
    channel: "custom-web",
    policyVersion: "2026.06.09",
  });
}

const tokenFor = (persona: string, version: "v1" | "v2" = "v1") =>
  personaToken(path.join(tenant.cwd, "tenant"), { persona, audience: version === "v1" ? APP_ID_URI : CLIENT_ID, version });

const { personas } = sandboxPersonas();
const applies = (check: { tokenVersion?: "v1" | "v2"; graphFallback?: boolean }, fallback: boolean) => (check.graphFallback ?? fallback) === fallback;

describe("the validation matrix, one persona per row (graph fallback off)", () => {
  const rows = personas.flatMap((p: Persona) => [
    ...(applies(p, false) ? [{ persona: p.name, agent: KB, exercises: p.exercises, expected: p.expected, version: p.tokenVersion }] : []),
    ...(p.alsoExercises ?? []).filter((c) => applies(c, false)).map((c) => ({ persona: p.name, agent: c.agentId, exercises: c.exercises, expected: c.expected, version: c.tokenVersion })),
  ]);

  it.each(rows)("$persona → $agent: $exercises", async ({ persona, agent, expected, version }) => {
    await expectDecision(await call(agent, await tokenFor(persona, version ?? "v1")), expected, agent);
  });
});

describe("tokens the gateway must refuse (401, recorded)", () => {
  const denied = { status: 401, denyReason: "JwtValidationFailed", anomaly: false };
  let signingJwk: Record<string, string>;
  const claims = (over: Record<string, unknown> = {}) => ({
    aud: APP_ID_URI,
    iss: `https://sts.windows.net/${tenant.sandbox.tenantId}/`,
    tid: tenant.sandbox.tenantId,
    oid: "3f1c3c0e-0000-4000-8000-00000000a11c",
    upn: "alice@contoso.example",
    groups: ["11111111-2222-3333-4444-555555555555"],
    ver: "1.0",
    ...over,
  });
  const sign = async (payload: Record<string, unknown>, expiresIn = "1h") => {
    const key = await importJWK(signingJwk, "RS256");
    return new SignJWT(payload).setProtectedHeader({ alg: "RS256", typ: "JWT", kid: signingJwk.kid! }).setIssuedAt().setExpirationTime(expiresIn).sign(key);
  };

  beforeAll(async () => {
    signingJwk = JSON.parse(await readFile(path.join(tenant.cwd, "tenant", "signing-key.json"), "utf8")) as Record<string, string>;
    // The key file holds the private JWK; its public half is what the JWKS serves under this kid.
    expect(signingJwk.d).toBeTruthy();
  });

  it("a well-formed token signed by this key passes (the control case)", async () => {
    await expectDecision(await call(KB, await sign(claims())), { status: 200, denyReason: "None", anomaly: false });
  });

  it("no token", async () => expectDecision(await call(KB, undefined), denied));
  it("a malformed token", async () => expectDecision(await call(KB, "not.a.jwt"), denied));

  it("a token signed by a key aeg makes up, under the tenant's kid", async () => {
    const { privateKey } = await generateKeyPair("RS256");
    const forged = await new SignJWT(claims()).setProtectedHeader({ alg: "RS256", kid: signingJwk.kid! }).setIssuedAt().setExpirationTime("1h").sign(privateKey);
    await expectDecision(await call(KB, forged), denied);
  });

  it("alg: none", async () => {
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const now = Math.floor(Date.now() / 1000);
    await expectDecision(await call(KB, `${b64({ alg: "none", typ: "JWT" })}.${b64({ ...claims(), iat: now, exp: now + 3600 })}.`), denied);
  });

  it("expired", async () => expectDecision(await call(KB, await sign(claims(), "-5m")), denied));
  it("wrong audience", async () => expectDecision(await call(KB, await sign(claims({ aud: "api://someone-else" }))), denied));

  it("another tenant (its issuer and tid)", async () => {
    const other = "99999999-8888-7777-6666-555555555555";
    await expectDecision(await call(KB, await sign(claims({ iss: `https://sts.windows.net/${other}/`, tid: other }))), denied);
  });

  it("this tenant's issuer but another tid", async () => {
    await expectDecision(await call(KB, await sign(claims({ tid: "99999999-8888-7777-6666-555555555555" }))), denied);
  });

  it("a valid token without upn is MissingRequiredClaim", async () => {
    const { upn: _upn, ...noUpn } = claims();
    await expectDecision(await call(KB, await sign(noUpn)), { status: 401, denyReason: "MissingRequiredClaim", anomaly: false });
  });
});

describe("adversarial callers and token forms", () => {
  it("accepts v2 tokens (client id audience, v2 issuer) as well as v1", async () => {
    await expectDecision(await call(KB, await tokenFor("emma", "v2")), { status: 200, denyReason: "None", anomaly: false });
  });

  it("ignores a client header or query that tries to choose another agent", async () => {
    const token = await tokenFor("alice");
    const answer = await call(HR, token, { "x-aeg-agent-id": KB, "x-agent-id": KB }, `?agentId=${KB}`);
    await expectDecision(answer, { status: 403, denyReason: "AgentNonCompliant", anomaly: false }, HR);
  });

  it("reads the entitlement of a UPN with a single quote (escaped, not broken)", async () => {
    const liam = personas.find((p) => p.upn.includes("'"))!;
    await expectDecision(await call(KB, await tokenFor(liam.name)), liam.expected);
  });

  it("replaces a correlation id that is not 1-64 of [A-Za-z0-9._-] with the request id", async () => {
    const res = await fetch(`${tenant.sandbox.gateway}/apim-aeg-sandbox/agents/${KB}`, {
      method: "POST",
      headers: { authorization: `Bearer ${await tokenFor("alice")}`, "x-aeg-correlation-id": "bad id with spaces" },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-aeg-correlation-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("fail closed when the governance store fails", () => {
  const fault = (mode: string, extra: Record<string, unknown> = {}) =>
    fetch(`${tenant.sandbox.dataverse}/_sandbox/faults`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ mode, ...extra }) });

  it("store down → 503 GovernanceStoreUnavailable", async () => {
    await fault("down");
    try {
      await expectDecision(await call(KB, await tokenFor("alice")), { status: 503, denyReason: "GovernanceStoreUnavailable", anomaly: false });
    } finally {
      await fault("ok");
    }
  });

  it("store slower than the policy's timeout → 503", async () => {
    await fault("slow", { delayMs: 2500 });
    try {
      await expectDecision(await call(KB, await tokenFor("mia")), { status: 503, denyReason: "GovernanceStoreUnavailable", anomaly: false });
    } finally {
      await fault("ok");
    }
  });

  it("store answering 500 → 503, never read as 'no row'", async () => {
    await fault("error", { status: 500 });
    try {
      await expectDecision(await call(KB, await tokenFor("mia")), { status: 503, denyReason: "GovernanceStoreUnavailable", anomaly: false });
    } finally {
      await fault("ok");
    }
  });
});

describe("groups overage with the Graph fallback on", () => {
  beforeAll(async () => {
    const setup = await runAeg(["setup", "--skip-validation", "--config", fallbackConfig, "--ci"], { cwd: tenant.cwd });
    expect(setup.code).toBe(0);
  });

  const overage = personas.filter((p) => [p, ...(p.alsoExercises ?? [])].some((c) => c.graphFallback === true));

  it.each(overage.map((p) => ({ persona: p.name, check: [p, ...(p.alsoExercises ?? [])].find((c) => c.graphFallback === true)! })))(
    "$persona: a member, asked through Graph, continues to the other gates",
    async ({ persona, check }) => {
      await expectDecision(await call(KB, await tokenFor(persona)), check.expected);
    },
  );

  it("Graph down under overage → 403 OutOfPolicyAudience (any failure means not a member)", async () => {
    const graphFault = (mode: string) =>
      fetch(`${tenant.sandbox.graph}/_sandbox/faults`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ mode }) });
    await graphFault("down");
    try {
      await expectDecision(await call(KB, await tokenFor(overage[0]!.name)), { status: 403, denyReason: "OutOfPolicyAudience", anomaly: false });
    } finally {
      await graphFault("ok");
    }
  });
});

describe("the unknown-pathway setting", () => {
  it("deny turns 'no row / unmapped' into 403 NotInEligibleCohort, still flagged as an anomaly; store failures stay 503", async () => {
    const config = parse(await readFile(tenant.configFile, "utf8")) as Record<string, any>;
    const denyConfig = path.join(tenant.cwd, "deny-unknown.yaml");
    await writeFile(denyConfig, stringify({ ...config, gateway: { ...config.gateway, unknownPathway: "deny" } }));
    expect((await runAeg(["setup", "--skip-validation", "--config", denyConfig, "--ci"], { cwd: tenant.cwd })).code).toBe(0);
    try {
      await expectDecision(await call(KB, await tokenFor("mia")), { status: 403, denyReason: "NotInEligibleCohort", anomaly: true });
      await expectDecision(await call(KB, await tokenFor("ivan")), { status: 403, denyReason: "NotInEligibleCohort", anomaly: true });
      await expectDecision(await call(KB, await tokenFor("alice")), { status: 200, denyReason: "None", anomaly: false });
    } finally {
      expect((await runAeg(["setup", "--skip-validation", "--config", tenant.configFile, "--ci"], { cwd: tenant.cwd })).code).toBe(0);
    }
  });
});
