import { createHash } from "node:crypto";
import { createPipelineRequest, RestError } from "@azure/core-rest-pipeline";
import { decodeJwt } from "jose";
import { armScope } from "../azure/cloud.js";
import type { TableDefinition } from "../azure/dataverse.js";
import { orMissing, statusOf } from "../azure/errors.js";
import { MICROSOFT_GRAPH_APP_ID } from "../azure/graph.js";
import type { Session } from "../app/session.js";
import { DECISION_LOG_LOGICAL_NAME } from "../dataverse/decision-log-table.js";
import { desiredPrivileges, policyEntitySets } from "../dataverse/role-privileges.js";
import { POLICY_FORMAT } from "../policy/format.js";
import { FRAGMENT_IDS, includedFragments, loadTemplates } from "../policy/templates.js";
import { listShardApis } from "../steps/api-shards.js";
import { FALLBACK_PERMISSIONS } from "../steps/graph-grant.js";
import { EVENT_HUBS_DATA_SENDER } from "../steps/telemetry.js";
import { checksDecisionLog } from "../validate/gateway.js";
import type { ScenarioResult } from "../validate/run.js";
import { judgeAzureRoles, judgeDataverseRoles, judgeGraphRoles, type HeldDataverseRole } from "./access.js";
import { planMatch, readAppliedPlan } from "./applied-plan.js";
import type { AccessEvidence, Evidence, PolicyEvidence } from "./evidence.js";

export interface ValidationRunFacts {
  aegVersion: string;
  startedAt: Date;
  finishedAt: Date;
  scenarios: ScenarioResult[];
  url?: string;
  /** Why validation did not run, when it did not. */
  skipped?: string;
}

/**
 * Reads, after the run, everything the report states besides the scenarios: the policy documents
 * as stored, the gateway identity's access, the journal's record of the last apply, and who ran
 * it. Read-only. A part it cannot read is listed under "not checked" with why, never guessed.
 */
export async function collectEvidence(session: Session, run: ValidationRunFacts): Promise<Evidence> {
  const { config, arm, cloud } = session;
  const notChecked: Evidence["notChecked"] = [];
  const service = await arm.apim.apiManagementService.get(config.resourceGroup, config.apim.name);
  const serviceId = service.id ?? `/subscriptions/${config.subscriptionId}/resourceGroups/${config.resourceGroup}/providers/Microsoft.ApiManagement/service/${config.apim.name}`;
  const appliedPlan = await readAppliedPlan(session.journal.file);
  if (appliedPlan.state === "unreadable") notChecked.push({ what: "Policies against the applied plan", why: `the journal's record of the last apply cannot be read (${appliedPlan.why})` });
  const documents = await readPolicyDocuments(session, serviceId);
  const policies: PolicyEvidence[] = documents.map((d) => ({ ...d, sha256: sha256(d.value), plan: planMatch(appliedPlan, d.resourceId, sha256(d.value)) }));
  const policyVersion = (await orMissing(arm.apim.namedValue.get(config.resourceGroup, config.apim.name, "aeg-policy-version")))?.value;
  if (policyVersion === undefined) notChecked.push({ what: "Policy version", why: "the gateway has no aeg-policy-version named value" });

  const access = await readAccess(session, service.identity?.principalId, notChecked);
  notChecked.push(...planGaps(session, run));
  return {
    aegVersion: run.aegVersion,
    environment: session.environment,
    cloud: cloud.sandbox ? "sandbox" : cloud.name,
    startedAt: run.startedAt.toISOString(),
    finishedAt: run.finishedAt.toISOString(),
    operator: await operator(session),
    configurationDigest: sha256(canonicalJson(config)),
    service: { id: serviceId, name: config.apim.name, gatewayUrl: service.gatewayUrl ?? "", resourceUrl: `${cloud.resourceManager.replace(/\/+$/, "")}${serviceId}` },
    ...(policyVersion !== undefined ? { policyVersion } : {}),
    ...(run.url ? { url: run.url } : {}),
    ...(run.skipped ? { skipped: run.skipped } : {}),
    scenarios: run.scenarios,
    decisionLogChecked: checksDecisionLog(config),
    policies,
    appliedPlan,
    access,
    notChecked,
  };
}

/**
 * The SHA-256 (hex) of every policy document the gateway runs, by ARM resource id, as read now:
 * what `aeg apply` records after its verifying read, so a later report can say "matches".
 */
export async function policyDigests(session: Session): Promise<Record<string, string>> {
  const { config } = session;
  const serviceId = `/subscriptions/${config.subscriptionId}/resourceGroups/${config.resourceGroup}/providers/Microsoft.ApiManagement/service/${config.apim.name}`;
  const documents = await readPolicyDocuments(session, serviceId);
  return Object.fromEntries(documents.map((d) => [d.resourceId, sha256(d.value)]));
}

export function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** JSON with object keys sorted, so the digest does not depend on the file's key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

interface PolicyDocument {
  resourceId: string;
  kind: PolicyEvidence["kind"];
  label: string;
  value: string;
}

/**
 * The documents the gateway runs for aeg's API: the API policy, each operation's policy and every
 * fragment they include (aeg's own, plus any other a document names), each `value` exactly as ARM
 * returns it with format=xml.
 */
async function readPolicyDocuments(session: Session, serviceId: string): Promise<PolicyDocument[]> {
  const { config, arm } = session;
  const docs: PolicyDocument[] = [];
  // Every API aeg's agents are spread over (steps/api-shards.ts), in order.
  for (const { shard } of await listShardApis(arm.apim, config)) {
    const apiPath = `${serviceId}/apis/${encodeURIComponent(shard.apiId)}`;
    const operations: string[] = [];
    for await (const op of arm.apim.apiOperation.listByApi(config.resourceGroup, config.apim.name, shard.apiId)) if (op.name) operations.push(op.name);
    const api = await readPolicy(session, `${apiPath}/policies/policy`);
    const perOperation = await Promise.all(operations.sort().map((op) => readPolicy(session, `${apiPath}/operations/${encodeURIComponent(op)}/policies/policy`)));
    if (api) docs.push({ ...api, kind: "api", label: shard.apiId });
    perOperation.forEach((doc, i) => doc && docs.push({ ...doc, kind: "operation", label: shard.index === 1 ? operations[i]! : `${shard.apiId}/${operations[i]!}` }));
  }
  // aeg's fragments, and any fragment a document includes, followed until no new id appears.
  const wanted = [...new Set<string>([...FRAGMENT_IDS, ...docs.flatMap((d) => includedFragments(d.value))])];
  const fragments: PolicyDocument[] = [];
  for (let i = 0; i < wanted.length; i++) {
    const doc = await readPolicy(session, `${serviceId}/policyFragments/${encodeURIComponent(wanted[i]!)}`);
    if (!doc) continue;
    fragments.push({ ...doc, kind: "fragment", label: wanted[i]! });
    for (const next of includedFragments(doc.value)) if (!wanted.includes(next)) wanted.push(next);
  }
  return [...fragments, ...docs];
}

/**
 * One policy document by a plain GET: the SDK's typed reads re-shape some answers (its
 * `apiPolicy.get` drops `value`), and the digest must be over the text ARM sent.
 */
async function readPolicy(session: Session, resourceId: string): Promise<{ resourceId: string; value: string } | undefined> {
  const client = session.arm.apim;
  const url = `${session.cloud.resourceManager.replace(/\/+$/, "")}${resourceId}?api-version=${client.apiVersion}&format=${POLICY_FORMAT}`;
  const request = createPipelineRequest({ url, method: "GET" });
  const response = await client.sendRequest(request);
  if (response.status === 404) return undefined;
  const body = response.bodyAsText ? (JSON.parse(response.bodyAsText) as { id?: string; properties?: { value?: string }; error?: { code?: string; message?: string } }) : {};
  if (response.status !== 200) throw new RestError(body.error?.message ?? `GET ${resourceId} answered ${response.status}`, { statusCode: response.status, code: body.error?.code, request, response });
  if (typeof body.properties?.value !== "string") return undefined;
  return { resourceId: body.id ?? resourceId, value: body.properties.value };
}

/** Who ran the validation, from the claims of the token aeg signs in with (never the token). */
async function operator(session: Session): Promise<Evidence["operator"]> {
  try {
    const token = await session.credential.getToken(armScope(session.cloud));
    const claims = token ? decodeJwt(token.token) : {};
    const text = (k: string) => (typeof claims[k] === "string" && claims[k] ? (claims[k] as string) : undefined);
    const user = Boolean(text("upn") ?? text("scp"));
    const name = text("upn") ?? text("unique_name") ?? text("name") ?? text("app_displayname") ?? text("appid") ?? text("azp");
    const objectId = text("oid");
    return { kind: user ? "user" : "application", ...(name ? { name } : {}), ...(objectId ? { objectId } : {}) };
  } catch {
    return { kind: "application" };
  }
}

async function readAccess(session: Session, principalId: string | undefined, notChecked: Evidence["notChecked"]): Promise<AccessEvidence> {
  if (!principalId) {
    notChecked.push({ what: "The gateway identity's access", why: "the API Management service has no system-assigned identity" });
    return {};
  }
  const [azure, dataverse, graph] = await Promise.all([
    attempt("Azure role assignments", notChecked, () => azureRoles(session, principalId)),
    attempt("Dataverse security roles", notChecked, () => dataverseRoles(session, principalId)),
    attempt("Microsoft Graph application permissions", notChecked, () => graphRoles(session, principalId)),
  ]);
  return { principalId, ...(azure ? { azure } : {}), ...(dataverse ? { dataverse } : {}), ...(graph ? { graph } : {}) };
}

/** A read the signed-in identity may not be allowed to make: its refusal is a finding, not a crash. */
async function attempt<T>(what: string, notChecked: Evidence["notChecked"], read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    const status = statusOf(err);
    if (status === undefined) throw err; // not an answer from the service: a bug, not a finding
    const message = (err instanceof Error ? err.message : String(err)).split("\n")[0]!;
    notChecked.push({ what, why: `reading them was refused or failed (HTTP ${status}: ${message})` });
    return undefined;
  }
}

async function azureRoles(session: Session, principalId: string) {
  const { config } = session;
  const held: Array<{ roleDefinitionId: string; scope: string }> = [];
  // ARM lists the principal's assignments at the subscription and every scope below it.
  for await (const a of session.arm.authorization.roleAssignments.listForSubscription({ filter: `principalId eq '${principalId}'` })) {
    if (a.principalId?.toLowerCase() === principalId.toLowerCase()) held.push({ roleDefinitionId: a.roleDefinitionId ?? "", scope: a.scope ?? "" });
  }
  const hub = `/subscriptions/${config.subscriptionId}/resourceGroups/${config.resourceGroup}/providers/Microsoft.EventHub/namespaces/${config.telemetry.namespace}/eventhubs/${config.telemetry.eventHub}`;
  return judgeAzureRoles(held, { roleDefinitionGuid: EVENT_HUBS_DATA_SENDER, scope: hub, why: "the gateway sends one decision record per call to this Event Hub" });
}

async function dataverseRoles(session: Session, principalId: string) {
  const { config, identity } = session;
  const dv = identity.dataverse(config.dataverse.url);
  const appId = (await identity.graph.servicePrincipal(principalId)).appId.toLowerCase();
  const user = await dv.applicationUser(appId);
  const templates = await loadTemplates(session.templatesDir);
  const tables = (await Promise.all(policyEntitySets(templates).map((s) => dv.tableByEntitySet(s)))).flatMap((t) => (t ? [t] : []));
  const decisionLog = config.dataverse.decisionLog.enabled ? await dv.tableByLogicalName(DECISION_LOG_LOGICAL_NAME) : undefined;
  const design = desiredPrivileges(tables, decisionLog);
  const why = new Map(design.map((p) => [p.id, decisionLog?.Privileges.some((x) => x.PrivilegeId.toLowerCase() === p.id) ? "the sink writes decision records to fsi_aegdecisionlog" : `the policy reads ${tableOf(tables, p.id) ?? "this table"}`]));
  const known = [...tables, ...(decisionLog ? [decisionLog] : [])];
  const held: HeldDataverseRole[] = [];
  for (const role of user ? await dv.userRoles(user.systemuserid) : []) {
    const privileges = await dv.rolePrivileges(role.roleid);
    held.push({ roleId: role.roleid, name: role.name, privileges: privileges.map((p) => ({ id: p.PrivilegeId, name: p.PrivilegeName ?? privilegeName(known, p.PrivilegeId) ?? p.PrivilegeId, depth: p.Depth })) });
  }
  return judgeDataverseRoles(held, { roleName: config.dataverse.roleName, privileges: design, why });
}

function tableOf(tables: TableDefinition[], privilegeId: string): string | undefined {
  return tables.find((t) => t.Privileges.some((p) => p.PrivilegeId.toLowerCase() === privilegeId))?.EntitySetName;
}

function privilegeName(tables: TableDefinition[], privilegeId: string): string | undefined {
  return tables.flatMap((t) => t.Privileges).find((p) => p.PrivilegeId.toLowerCase() === privilegeId.toLowerCase())?.Name;
}

async function graphRoles(session: Session, principalId: string) {
  const { graph } = session.identity;
  const [held, graphSp] = await Promise.all([graph.appRoleAssignments(principalId), graph.servicePrincipalByAppId(MICROSOFT_GRAPH_APP_ID)]);
  return judgeGraphRoles(held, { id: graphSp.id, appRoles: graphSp.appRoles ?? [] }, FALLBACK_PERMISSIONS, session.config.graphFallback.enabled);
}

/** What the run left untested, in words a reviewer can act on. */
function planGaps(session: Session, run: ValidationRunFacts): Evidence["notChecked"] {
  const gaps: Evidence["notChecked"] = [];
  if (run.skipped) gaps.push({ what: "Every scenario", why: `validation did not run: ${run.skipped}` });
  for (const agent of session.config.agents) {
    const withCaller = run.scenarios.some((s) => s.agentId === agent.id && s.caller.kind !== "none");
    if (!run.skipped && !withCaller) gaps.push({ what: `Agent ${agent.id}`, why: "no scenario in the plan calls it with a caller's token, so only token rejection was tested, not eligibility" });
  }
  if (!checksDecisionLog(session.config)) gaps.push({ what: "Decision records in fsi_aegdecisionlog", why: "the decision log is off (dataverse.decisionLog.enabled), or validation.checkDecisionLog is false" });
  gaps.push({ what: "The service-wide (All APIs) and product policies", why: "aeg does not manage them; they run around aeg's documents through <base/> and are not part of this evidence" });
  gaps.push({ what: "Named values' contents", why: "the documents name them ({{aeg-…}}); their values are not digested here (aeg setup checks them against the configuration)" });
  return gaps;
}
