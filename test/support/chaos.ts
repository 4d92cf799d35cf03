// Chaos harness: a tenant whose configuration makes every setup step write, random transient
// faults per request class, the sandbox's request counters, and the duplicate census the chaos
// matrices assert on. `AEG_CHAOS=full` (npm run test:chaos) selects the full matrices; without it
// the default suite runs a reduced set. `AEG_CHAOS_REPORT=<dir>` makes the matrices write their
// figures there (scripts/chaos-report.mjs renders them).
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { expect } from "vitest";
import { clients } from "./sandbox.js";
import { configWith, runAeg, testTenant, type CliResult, type TestTenant } from "./cli.js";

export const FULL = process.env.AEG_CHAOS === "full";
export const RG = "rg-aeg-sandbox";
export const SVC = "apim-aeg-sandbox";
export const NAMESPACE = "ehns-aeg-sandbox";
export const HUB = "aeg-decisions";
export const ROLE_NAME = "AEG Gateway Reader";
const DATA_SENDER = "2b629674-e913-4c01-ae53-ef4638d8f975";
const DV = "/api/data/v9.2";

export interface ChaosTenant extends TestTenant {
  /** The sample configuration plus the decision log and the Graph fallback: every step writes. */
  config: string;
}

export async function chaosTenant(opts: Parameters<typeof testTenant>[0] = {}): Promise<ChaosTenant> {
  const tenant = await testTenant(opts);
  const config = await configWith(tenant, "chaos.yaml", (c) => {
    c.dataverse.decisionLog = { enabled: true };
    c.graphFallback = { enabled: true };
  });
  return Object.assign(tenant, { config });
}

export const setup = (t: ChaosTenant, ...extra: string[]): Promise<CliResult> => runAeg(["setup", "--skip-validation", "--config", t.config, "--ci", ...extra], { cwd: t.cwd });
export const doctor = (t: ChaosTenant): Promise<CliResult> => runAeg(["doctor", "--config", t.config, "--ci"], { cwd: t.cwd });

// ---- faults ------------------------------------------------------------------------------------

export type FaultKind = "429" | "503" | "reset" | "mixed";
export type FaultClass = "arm" | "dataverse" | "graph" | "all";
export const FAULT_KINDS: FaultKind[] = ["429", "503", "reset", "mixed"];

/** The random-fault body for a kind: 30 % of the class's requests fail transiently. */
export function faultBody(kind: FaultKind, seed: number, probability = 0.3): Record<string, unknown> {
  const outcome = { "429": [{ status: 429 }], "503": [{ status: 503 }], reset: [{ reset: true }], mixed: [{ status: 429 }, { status: 503 }, { reset: true }] }[kind];
  return { probability, seed, mix: outcome };
}

const listeners = (t: TestTenant) => ({ arm: t.sandbox.arm, dataverse: t.sandbox.dataverse, graph: t.sandbox.graph });

async function admin(base: string, method: string, p: string, body?: unknown): Promise<any> {
  const res = await fetch(`${base}/_sandbox${p}`, { method, headers: { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (res.status >= 400) throw new Error(`${method} ${base}/_sandbox${p}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** Random faults on every request of a class (each listener draws from its own seed offset). */
export async function injectFaults(t: TestTenant, cls: FaultClass, kind: FaultKind, seed: number): Promise<void> {
  const all = listeners(t);
  const targets = cls === "all" ? (["arm", "dataverse", "graph"] as const) : ([cls] as const);
  for (const [i, name] of targets.entries()) await admin(all[name], "POST", "/faults", faultBody(kind, seed + i));
}

export async function clearFaults(t: TestTenant): Promise<void> {
  for (const base of Object.values(listeners(t))) await admin(base, "DELETE", "/faults");
}

export interface Served {
  arm: { total: number; writes: number; recent: Array<{ method: string; path: string; status: number }> };
  dataverse: { total: number; writes: number; faulted: number };
  graph: { total: number; writes: number; faulted: number };
}

/** What each listener served since its counters were last reset. */
export async function served(t: TestTenant): Promise<Served> {
  const all = listeners(t);
  // ARM's counters are /_sandbox/requests; Dataverse's and Graph's own are /_sandbox/served.
  const [arm, dataverse, graph] = await Promise.all([admin(all.arm, "GET", "/requests"), admin(all.dataverse, "GET", "/served"), admin(all.graph, "GET", "/served")]);
  return { arm, dataverse, graph };
}

export async function resetServed(t: TestTenant): Promise<void> {
  const all = listeners(t);
  await admin(all.arm, "POST", "/requests/reset");
  for (const base of [all.dataverse, all.graph]) await admin(base, "POST", "/served/reset");
}

// ---- the duplicate census -----------------------------------------------------------------------

/** How many of each resource setup must make exactly once exist (faults must be cleared first). */
export interface Census {
  apimServices: number;
  dataSenderAssignments: number;
  applicationUsers: number;
  roles: number;
  roleAssignments: number;
  /** The most grants of any one Graph app role to the identity. */
  graphGrantsPerRole: number;
  decisionLogTables: number;
}

async function operatorToken(t: TestTenant, scope: string): Promise<string> {
  const sb = t.sandbox;
  const res = await fetch(`${sb.authority}/${sb.tenantId}/oauth2/v2.0/token`, { method: "POST", body: new URLSearchParams({ grant_type: "client_credentials", client_id: sb.clientId, client_secret: sb.clientSecret, scope }) });
  return ((await res.json()) as { access_token: string }).access_token;
}

async function read(t: TestTenant, base: string, scope: string, p: string): Promise<any> {
  const res = await fetch(`${base}${p}`, { headers: { authorization: `Bearer ${await operatorToken(t, scope)}` } });
  if (res.status !== 200) throw new Error(`GET ${p}: ${res.status} ${await res.text()}`);
  return res.json();
}

export async function census(t: TestTenant): Promise<Census> {
  const { apim, authorization } = clients(t.sandbox);
  const dv = (p: string) => read(t, t.sandbox.dataverse, `${t.sandbox.dataverse}/.default`, `${DV}${p}`);
  const graph = (p: string) => read(t, t.sandbox.graph, "https://graph.microsoft.com/.default", `/v1.0${p}`);
  let apimServices = 0;
  for await (const _ of apim.apiManagementService.listByResourceGroup(RG)) apimServices++;
  const principalId = (await apim.apiManagementService.get(RG, SVC)).identity!.principalId!;
  const hubId = `/subscriptions/${t.sandbox.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.EventHub/namespaces/${NAMESPACE}/eventhubs/${HUB}`;
  let dataSenderAssignments = 0;
  for await (const a of authorization.roleAssignments.listForScope(hubId, { filter: `principalId eq '${principalId}'` })) {
    if (a.roleDefinitionId?.toLowerCase().endsWith(DATA_SENDER)) dataSenderAssignments++;
  }
  const appId = (await graph(`/servicePrincipals/${principalId}`)).appId as string;
  const users = (await dv(`/systemusers?$filter=applicationid eq ${appId}`)).value as Array<{ systemuserid: string }>;
  const roles = (await dv(`/roles?$filter=name eq '${ROLE_NAME}'`)).value as Array<{ roleid: string }>;
  const roleIds = new Set(roles.map((r) => r.roleid));
  let roleAssignments = 0;
  for (const u of users) {
    const held = (await dv(`/systemusers(${u.systemuserid})/systemuserroles_association`)).value as Array<{ roleid: string }>;
    roleAssignments += held.filter((r) => roleIds.has(r.roleid)).length;
  }
  const grants = (await graph(`/servicePrincipals/${principalId}/appRoleAssignments`)).value as Array<{ appRoleId: string }>;
  const perRole = new Map<string, number>();
  for (const g of grants) perRole.set(g.appRoleId, (perRole.get(g.appRoleId) ?? 0) + 1);
  const tables = (await dv(`/EntityDefinitions?$select=LogicalName&$filter=LogicalName eq 'fsi_aegdecisionlog'`)).value as unknown[];
  return {
    apimServices,
    dataSenderAssignments,
    applicationUsers: users.length,
    roles: roles.length,
    roleAssignments,
    graphGrantsPerRole: Math.max(0, ...perRole.values()),
    decisionLogTables: tables.length,
  };
}

/** Resources beyond the one each should be (0 when the census is clean). */
export function duplicatesIn(c: Census): number {
  return Object.values(c).reduce((sum, n) => sum + Math.max(0, n - 1), 0);
}

export const EXACTLY_ONE: Census = { apimServices: 1, dataSenderAssignments: 1, applicationUsers: 1, roles: 1, roleAssignments: 1, graphGrantsPerRole: 1, decisionLogTables: 1 };

// ---- what a failed run must look like ------------------------------------------------------------

/** The line a failed setup ends with: "Setup stopped: <step>: <why>" (or "aeg: <step>: <why>"). */
export const FAILURE_LINE = /(?:Setup stopped|aeg): ([a-z]+(?:-[a-z]+)*): (.+)$/m;

/** A run that failed says why in a line naming the step that failed, with no stack trace. */
export function expectClearFailure(run: CliResult): void {
  expect(run.code, run.stderr).not.toBe(0);
  expect(run.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  expect(run.stderr).not.toMatch(/unexpected error/);
  expect(run.stderr, "the failure names its step").toMatch(FAILURE_LINE);
}

// ---- figures ---------------------------------------------------------------------------------------

/** Writes a matrix's rows as JSON under AEG_CHAOS_REPORT (no-op when unset). */
export async function report(matrix: string, rows: unknown[], meta: Record<string, unknown> = {}): Promise<void> {
  const dir = process.env.AEG_CHAOS_REPORT;
  if (!dir) return;
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, `${matrix}.json`), JSON.stringify({ matrix, full: FULL, at: new Date().toISOString(), ...meta, rows }, null, 2));
}

/**
 * At most `n` bodies at a time: concurrent tests (one per scenario, so each is reported on its own)
 * queue here, as vitest's maxConcurrency is one setting for the whole suite.
 */
export function limiter(n: number): <T>(body: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async (body) => {
    if (active >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await body();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}
