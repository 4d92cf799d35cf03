// APIM service children: named values, policy fragments, APIs, operations, API/operation
// policies and loggers — with APIM's LROs, ETags, secrets and save-time policy validation.
import { randomBytes } from "node:crypto";
import { json, type Reply, type Req } from "../http.js";
import type { ApimService, ApiRecord, ChildRecord, PolicyRecord } from "../store.js";
import { APIM_API, findService, serviceId } from "./apim.js";
import { checkNamedValueRoom, checkOperationRoom, checkPolicySize } from "./apimLimits.js";
import {
  body,
  checkIfMatch,
  fail,
  formatParam,
  listReply,
  newEtag,
  newOperation,
  pollCountBased,
  props,
  retryAfter,
  stringProp,
  validationError,
  type ArmContext,
  type ArmRouter,
} from "./common.js";
import { PolicyParseError, collectRefs, parsePolicy, renameNamedValue, serializePolicy, validatePolicy, type PElement, type PolicyFormat } from "./policyXml.js";

const SVC = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ApiManagement/service/{svc}";
const ENTITY_ID = /^[^*#&+:<>?]+$/;
const FRAGMENT_ID = /(^[\w]+$)|(^[\w][\w-]+[\w]$)/;
const DISPLAY_NAME = /^[A-Za-z0-9-._]+$/;

function notFound(entity: string): never {
  fail(404, "ResourceNotFound", `${entity} not found.`);
}

function checkId(id: string, pattern: RegExp, max: number, what: string): void {
  if (!pattern.test(id) || id.length > max) validationError([{ target: what, message: `'${id}' is not a valid ${what}.` }]);
}

/** Every policy document of a service (API, operation, fragment), for reference checks. */
function allPolicies(svc: ApimService): { where: string; policy: PolicyRecord }[] {
  const out: { where: string; policy: PolicyRecord }[] = [];
  for (const f of Object.values(svc.fragments)) out.push({ where: `policy fragment '${f.name}'`, policy: f.policy });
  for (const a of Object.values(svc.apis)) {
    if (a.policy) out.push({ where: `API '${a.name}'`, policy: a.policy });
    for (const o of Object.values(a.operations)) if (o.policy) out.push({ where: `operation '${o.name}' of API '${a.name}'`, policy: o.policy });
  }
  return out;
}

function childLroHeaders(ctx: ArmContext, req: Req, svc: ApimService, status: number): Record<string, string> {
  const op = newOperation(ctx, "apim-child", undefined, req);
  const resource = `${ctx.urls.arm()}${req.path}`;
  return {
    "Azure-AsyncOperation": `${ctx.urls.arm()}${serviceId(ctx, svc)}/tenant/operationResults/${op.id}?api-version=${APIM_API}`,
    Location: `${resource}?api-version=${APIM_API}&asyncId=${op.id}&asyncCode=${status}`,
    ...retryAfter(ctx),
  };
}

/** Parses and validates a policy document at save time, answering APIM's 400s. */
async function savePolicy(ctx: ArmContext, svc: ApimService, value: unknown, format: unknown, kind: "policy" | "fragment"): Promise<PolicyRecord> {
  if (typeof value !== "string" || !value.trim()) validationError([{ target: "value", message: "Policy content is required." }]);
  const fmt = (format ?? "xml") as string;
  if (fmt === "xml-link" || fmt === "rawxml-link") validationError([{ target: "format", message: `The sandbox cannot fetch policies by link ('${fmt}'); send the content inline.` }]);
  if (fmt !== "xml" && fmt !== "rawxml") validationError([{ target: "format", message: `Format '${fmt}' is not supported.` }]);
  checkPolicySize(svc, value, kind);
  let tree: PElement;
  try {
    tree = parsePolicy(value, fmt);
  } catch (e) {
    if (e instanceof PolicyParseError) validationError([{ target: "representation", message: `The policy document is not well-formed XML: ${e.message}` }]);
    throw e;
  }
  const ci = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
  const issues = await validatePolicy(tree, {
    kind,
    // APIM looks named values up by display name, case-sensitively.
    namedValueExists: (n) => Object.values(svc.namedValues).some((nv) => nv.properties["displayName"] === n),
    namedValueValue: (n) => {
      const v = Object.values(svc.namedValues).find((nv) => nv.properties["displayName"] === n)?.properties["value"];
      return typeof v === "string" ? v : undefined;
    },
    fragmentExists: (id) => Object.values(svc.fragments).some((f) => ci(f.name, id)),
    loggerExists: (id) => Object.values(svc.loggers).some((l) => ci(l.name, id)),
    checkExpression: ctx.checkExpression,
  });
  if (issues.length) validationError(issues.map((i) => ({ target: i.element, message: `Error in element '${i.element}' on line ${i.line}, column ${i.col}: ${i.message}` })));
  const refs = collectRefs(tree);
  return { etag: newEtag(), tree, namedValueRefs: refs.namedValues, fragmentRefs: refs.fragments };
}

function renderPolicyValue(p: PolicyRecord, format: PolicyFormat): string {
  return serializePolicy(p.tree as PElement, format);
}

export function registerApimEntities(r: ArmRouter, ctx: ArmContext): void {
  const tag = { apiVersion: APIM_API };

  /**
   * The reads every direct child of a service answers alike: the collection, one child with its
   * ETag, and HEAD with the ETag alone. `renderer` is made once per request (it may read query
   * parameters) and only after the child is found, so a missing child answers 404 first.
   */
  const childReads = <T extends ChildRecord>(
    collection: string,
    param: string,
    all: (svc: ApimService) => Record<string, T>,
    get: (svc: ApimService, id: string) => T,
    renderer: (req: Req, svc: ApimService) => (child: T) => unknown,
  ) => {
    r.add("GET", `${SVC}/${collection}`, (req) => {
      const svc = findService(ctx, req);
      return listReply(req, Object.values(all(svc)).map(renderer(req, svc)));
    }, tag);
    r.add("GET", `${SVC}/${collection}/{${param}}`, (req) => {
      const svc = findService(ctx, req);
      const child = get(svc, req.params[param]!);
      return json(200, renderer(req, svc)(child), { ETag: child.etag });
    }, tag);
    r.add("HEAD", `${SVC}/${collection}/{${param}}`, (req) => ({ status: 200, headers: { ETag: get(findService(ctx, req), req.params[param]!).etag } }), tag);
  };

  // --- LRO status for child entities (APIM's tenant-scoped operation results) ---
  r.add("GET", `${SVC}/tenant/operationResults/{op}`, (req) => {
    const svc = findService(ctx, req);
    const op = ctx.state.operations[req.params["op"]!];
    if (!op) notFound("Operation");
    const status = pollCountBased(op);
    return json(
      200,
      { id: `${serviceId(ctx, svc)}/tenant/operationResults/${op.id}`, name: op.id, status, started: op.startTime, updated: new Date().toISOString() },
      status === "InProgress" ? retryAfter(ctx) : {},
    );
  }, tag);

  // --- Named values ---
  const nvId = (svc: ApimService, id: string) => `${serviceId(ctx, svc)}/namedValues/${id}`;
  const renderNv = (svc: ApimService, nv: ChildRecord, extra: Record<string, unknown> = {}) => {
    const p = { ...nv.properties };
    if (p["secret"] === true) delete p["value"]; // "This property will not be filled on 'GET' operations!"
    return { id: nvId(svc, nv.name), type: "Microsoft.ApiManagement/service/namedValues", name: nv.name, properties: { ...p, ...extra } };
  };
  const getNv = (svc: ApimService, id: string) => svc.namedValues[id.toLowerCase()] ?? notFound("NamedValue");

  childReads("namedValues", "id", (svc) => svc.namedValues, getNv, (_req, svc) => (nv) => renderNv(svc, nv));
  r.add("PUT", `${SVC}/namedValues/{id}`, (req) => {
    const svc = findService(ctx, req);
    const id = req.params["id"]!;
    checkId(id, ENTITY_ID, 256, "namedValueId");
    const existing = svc.namedValues[id.toLowerCase()];
    checkIfMatch(req, existing?.etag, false);
    if (!existing) checkNamedValueRoom(svc);
    const p = props(body(req));
    const displayName = stringProp(p, "displayName");
    if (!displayName) validationError([{ target: "displayName", message: "'displayName' is required." }]);
    if (!DISPLAY_NAME.test(displayName) || displayName.length > 256) {
      validationError([{ target: "displayName", message: "Named value display name may contain only letters, digits, periods, dashes and underscores, up to 256 characters." }]);
    }
    const clash = Object.values(svc.namedValues).find((nv) => nv.name.toLowerCase() !== id.toLowerCase() && String(nv.properties["displayName"]).toLowerCase() === displayName.toLowerCase());
    if (clash) validationError([{ target: "name", message: "Property with the same name already exist." }]);
    const value = p["value"];
    const keyVault = p["keyVault"];
    if (value === undefined && !keyVault) validationError([{ target: "value", message: "'value' is required unless 'keyVault' is set." }]);
    if (value !== undefined && (typeof value !== "string" || !value.trim() || value.length > 4096)) {
      validationError([{ target: "value", message: "Value may not be empty, consist only of whitespace, or exceed 4096 characters." }]);
    }
    const tags = p["tags"];
    if (tags !== undefined && (!Array.isArray(tags) || tags.length > 32)) validationError([{ target: "tags", message: "At most 32 tags are allowed." }]);
    const properties: Record<string, unknown> = { displayName, secret: p["secret"] === true };
    if (value !== undefined) properties["value"] = value;
    if (tags !== undefined) properties["tags"] = tags;
    if (keyVault) properties["keyVault"] = { ...(keyVault as object), lastStatus: { code: "Success", timeStampUtc: new Date().toISOString() } };
    const oldName = existing?.properties["displayName"] as string | undefined;
    if (existing && oldName && oldName !== displayName) {
      // APIM rewrites policies that reference a renamed named value.
      for (const { policy } of allPolicies(svc)) {
        if (policy.namedValueRefs.includes(oldName)) {
          renameNamedValue(policy.tree as PElement, oldName, displayName);
          policy.namedValueRefs = collectRefs(policy.tree as PElement).namedValues;
        }
      }
    }
    const nv: ChildRecord = { name: existing?.name ?? id, etag: newEtag(), properties };
    svc.namedValues[id.toLowerCase()] = nv;
    const status = existing ? 200 : 201;
    return json(status, renderNv(svc, nv, { provisioningState: "InProgress" }), { ETag: nv.etag, ...childLroHeaders(ctx, req, svc, status) });
  }, tag);
  r.add("POST", `${SVC}/namedValues/{id}/listValue`, (req) => {
    const nv = getNv(findService(ctx, req), req.params["id"]!);
    return json(200, { value: nv.properties["value"] ?? "" }, { ETag: nv.etag });
  }, tag);
  r.add("DELETE", `${SVC}/namedValues/{id}`, (req) => {
    const svc = findService(ctx, req);
    const nv = svc.namedValues[req.params["id"]!.toLowerCase()];
    checkIfMatch(req, nv?.etag, true);
    if (!nv) return { status: 204 };
    const dn = String(nv.properties["displayName"]);
    const users = allPolicies(svc).filter((x) => x.policy.namedValueRefs.includes(dn)).map((x) => x.where);
    for (const l of Object.values(svc.loggers)) if (JSON.stringify(l.properties["credentials"] ?? {}).includes(`{{${dn}}}`)) users.push(`logger '${l.name}'`);
    if (users.length) {
      validationError([{ target: "namedValue", message: `Named value '${dn}' is referenced by ${users.join(", ")}. Remove the references before deleting it.` }]);
    }
    delete svc.namedValues[req.params["id"]!.toLowerCase()];
    return { status: 200 };
  }, tag);

  // --- Policy fragments ---
  const renderFragment = (svc: ApimService, f: ChildRecord & { policy: PolicyRecord }, format: PolicyFormat | undefined, extra: Record<string, unknown> = {}) => {
    const properties: Record<string, unknown> = { ...f.properties, value: renderPolicyValue(f.policy, format ?? "xml"), ...extra };
    // `format` comes back only when it was asked for and is not the default.
    if (format && format !== "xml") properties["format"] = format;
    return { id: `${serviceId(ctx, svc)}/policyFragments/${f.name}`, type: "Microsoft.ApiManagement/service/policyFragments", name: f.name, properties };
  };
  const getFragment = (svc: ApimService, id: string) => svc.fragments[id.toLowerCase()] ?? notFound("PolicyFragment");
  childReads("policyFragments", "id", (svc) => svc.fragments, getFragment, (req, svc) => {
    const format = formatParam(req);
    return (f) => renderFragment(svc, f, format);
  });
  r.add("PUT", `${SVC}/policyFragments/{id}`, async (req) => {
    const svc = findService(ctx, req);
    const id = req.params["id"]!;
    checkId(id, FRAGMENT_ID, 80, "policy fragment id");
    const existing = svc.fragments[id.toLowerCase()];
    checkIfMatch(req, existing?.etag, false);
    const p = props(body(req));
    const description = p["description"];
    if (description !== undefined && (typeof description !== "string" || description.length > 1000)) validationError([{ target: "description", message: "Description must be at most 1000 characters." }]);
    const policy = await savePolicy(ctx, svc, p["value"], p["format"], "fragment");
    const f = { name: existing?.name ?? id, etag: policy.etag, properties: description !== undefined ? { description } : {}, policy };
    svc.fragments[id.toLowerCase()] = f;
    const status = existing ? 200 : 201;
    return json(status, renderFragment(svc, f, undefined, { provisioningState: "InProgress" }), { ETag: f.etag, ...childLroHeaders(ctx, req, svc, status) });
  }, tag);
  r.add("DELETE", `${SVC}/policyFragments/{id}`, (req) => {
    const svc = findService(ctx, req);
    const f = svc.fragments[req.params["id"]!.toLowerCase()];
    checkIfMatch(req, f?.etag, true);
    if (!f) return { status: 204 };
    const users = allPolicies(svc).filter((x) => x.policy.fragmentRefs.some((id) => id.toLowerCase() === f.name.toLowerCase())).map((x) => x.where);
    if (users.length) validationError([{ target: "policyFragment", message: `Policy fragment '${f.name}' is referenced by ${users.join(", ")}. Remove the references before deleting it.` }]);
    delete svc.fragments[f.name.toLowerCase()];
    return { status: 200 };
  }, tag);
  r.add("POST", `${SVC}/policyFragments/{id}/listReferences`, (req) => {
    const svc = findService(ctx, req);
    const f = getFragment(svc, req.params["id"]!);
    const refs: { id: string; name: string; type: string }[] = [];
    for (const a of Object.values(svc.apis)) {
      if (a.policy?.fragmentRefs.some((x) => x.toLowerCase() === f.name.toLowerCase())) {
        refs.push({ id: `${serviceId(ctx, svc)}/apis/${a.name}/policies/policy`, name: "policy", type: "Microsoft.ApiManagement/service/apis/policies" });
      }
      for (const o of Object.values(a.operations)) {
        if (o.policy?.fragmentRefs.some((x) => x.toLowerCase() === f.name.toLowerCase())) {
          refs.push({ id: `${serviceId(ctx, svc)}/apis/${a.name}/operations/${o.name}/policies/policy`, name: "policy", type: "Microsoft.ApiManagement/service/apis/operations/policies" });
        }
      }
    }
    return json(200, { value: refs, count: refs.length });
  }, tag);

  // --- APIs ---
  const apiPath = (svc: ApimService, a: ApiRecord) => `${serviceId(ctx, svc)}/apis/${a.name}`;
  const renderApi = (svc: ApimService, a: ApiRecord, extra: Record<string, unknown> = {}) => ({
    id: apiPath(svc, a),
    type: "Microsoft.ApiManagement/service/apis",
    name: a.name,
    properties: {
      apiRevision: "1",
      isCurrent: true,
      subscriptionRequired: true,
      protocols: ["https"],
      subscriptionKeyParameterNames: { header: "Ocp-Apim-Subscription-Key", query: "subscription-key" },
      ...a.properties,
      ...extra,
    },
  });
  const getApi = (svc: ApimService, id: string) => svc.apis[id.toLowerCase()] ?? notFound("Api");
  childReads("apis", "api", (svc) => svc.apis, getApi, (_req, svc) => (a) => renderApi(svc, a));
  r.add("PUT", `${SVC}/apis/{api}`, (req) => {
    const svc = findService(ctx, req);
    const id = req.params["api"]!;
    checkId(id, ENTITY_ID, 256, "apiId");
    const existing = svc.apis[id.toLowerCase()];
    checkIfMatch(req, existing?.etag, false);
    const p = props(body(req));
    if (p["value"] !== undefined || p["format"] !== undefined) validationError([{ target: "format", message: "API import (format/value) is not supported by the sandbox; define the API and its operations directly." }]);
    const errors: { target: string; message: string }[] = [];
    const path = p["path"];
    if (typeof path !== "string") errors.push({ target: "path", message: "'path' is required." });
    else if (path.length > 400) errors.push({ target: "path", message: "'path' must be at most 400 characters." });
    const displayName = p["displayName"] ?? existing?.properties["displayName"];
    if (typeof displayName !== "string" || !displayName || displayName.length > 300) errors.push({ target: "displayName", message: "'displayName' is required (1-300 characters)." });
    if (typeof p["serviceUrl"] === "string" && p["serviceUrl"].length > 2000) errors.push({ target: "serviceUrl", message: "'serviceUrl' must be at most 2000 characters." });
    if (errors.length) validationError(errors);
    const properties: Record<string, unknown> = { ...p, displayName };
    delete properties["provisioningState"];
    const a: ApiRecord = { name: existing?.name ?? id, etag: newEtag(), properties, operations: existing?.operations ?? {}, policy: existing?.policy };
    svc.apis[id.toLowerCase()] = a;
    const status = existing ? 200 : 201;
    return json(status, renderApi(svc, a, { provisioningState: "InProgress" }), { ETag: a.etag, ...childLroHeaders(ctx, req, svc, status) });
  }, tag);
  r.add("DELETE", `${SVC}/apis/{api}`, (req) => {
    const svc = findService(ctx, req);
    const a = svc.apis[req.params["api"]!.toLowerCase()];
    checkIfMatch(req, a?.etag, true);
    if (!a) return { status: 204 };
    delete svc.apis[a.name.toLowerCase()];
    // Api_Delete is an LRO answering 202 (or 204): report the deletion through the tenant operation.
    const op = newOperation(ctx, "apim-child", undefined, req);
    const status = `${ctx.urls.arm()}${serviceId(ctx, svc)}/tenant/operationResults/${op.id}?api-version=${APIM_API}`;
    return { status: 202, headers: { "Azure-AsyncOperation": status, Location: status, ...retryAfter(ctx) } };
  }, tag);

  // --- API operations ---
  const renderOp = (svc: ApimService, a: ApiRecord, o: ChildRecord) => ({
    id: `${apiPath(svc, a)}/operations/${o.name}`,
    type: "Microsoft.ApiManagement/service/apis/operations",
    name: o.name,
    properties: { templateParameters: [], responses: [], ...o.properties },
  });
  const getOp = (a: ApiRecord, id: string) => a.operations[id.toLowerCase()] ?? notFound("Operation");
  r.add("GET", `${SVC}/apis/{api}/operations`, (req) => {
    const svc = findService(ctx, req);
    const a = getApi(svc, req.params["api"]!);
    return listReply(req, Object.values(a.operations).map((o) => renderOp(svc, a, o)));
  }, tag);
  r.add("GET", `${SVC}/apis/{api}/operations/{op}`, (req) => {
    const svc = findService(ctx, req);
    const a = getApi(svc, req.params["api"]!);
    const o = getOp(a, req.params["op"]!);
    return json(200, renderOp(svc, a, o), { ETag: o.etag });
  }, tag);
  r.add("HEAD", `${SVC}/apis/{api}/operations/{op}`, (req) => ({ status: 200, headers: { ETag: getOp(getApi(findService(ctx, req), req.params["api"]!), req.params["op"]!).etag } }), tag);
  r.add("PUT", `${SVC}/apis/{api}/operations/{op}`, (req) => {
    const svc = findService(ctx, req);
    const a = getApi(svc, req.params["api"]!);
    const id = req.params["op"]!;
    checkId(id, /^[^*#&+:<>?]+$/, 80, "operationId");
    const existing = a.operations[id.toLowerCase()];
    checkIfMatch(req, existing?.etag, false);
    if (!existing) checkOperationRoom(svc, a.name);
    const p = props(body(req));
    const errors: { target: string; message: string }[] = [];
    for (const f of ["displayName", "method", "urlTemplate"]) if (typeof p[f] !== "string" || !p[f]) errors.push({ target: f, message: `'${f}' is required.` });
    if (errors.length) validationError(errors);
    const o = { name: existing?.name ?? id, etag: newEtag(), properties: { ...p }, policy: existing?.policy };
    a.operations[id.toLowerCase()] = o;
    return json(existing ? 200 : 201, renderOp(svc, a, o), { ETag: o.etag });
  }, tag);
  r.add("DELETE", `${SVC}/apis/{api}/operations/{op}`, (req) => {
    const svc = findService(ctx, req);
    const a = getApi(svc, req.params["api"]!);
    const o = a.operations[req.params["op"]!.toLowerCase()];
    checkIfMatch(req, o?.etag, true);
    if (!o) return { status: 204 };
    delete a.operations[o.name.toLowerCase()];
    return { status: 200 };
  }, tag);

  // --- API and operation policies ---
  type Holder = { policy?: PolicyRecord };
  const policyRoutes = (path: string, resolve: (req: Req, svc: ApimService) => { holder: Holder; id: string; type: string }) => {
    const checkName = (req: Req) => {
      // APIM knows exactly one policy per scope, named `policy`.
      if (req.params["policy"]!.toLowerCase() !== "policy") fail(400, "BadRequest", "");
    };
    const render = (id: string, type: string, p: PolicyRecord, format: PolicyFormat | undefined) => {
      const properties: Record<string, unknown> = { value: renderPolicyValue(p, format ?? "xml") };
      if (format && format !== "xml") properties["format"] = format;
      return { id, type, name: "policy", properties };
    };
    r.add("GET", path.replace(/\/\{policy\}$/, ""), (req) => {
      const svc = findService(ctx, req);
      const { holder, id, type } = resolve(req, svc);
      const format = formatParam(req);
      return listReply(req, holder.policy ? [render(`${id}/policy`, type, holder.policy, format)] : []);
    }, tag);
    r.add("GET", path, (req) => {
      checkName(req);
      const svc = findService(ctx, req);
      const { holder, id, type } = resolve(req, svc);
      if (!holder.policy) notFound("Policy");
      return json(200, render(`${id}/policy`, type, holder.policy, formatParam(req)), { ETag: holder.policy.etag });
    }, tag);
    r.add("HEAD", path, (req) => {
      checkName(req);
      const { holder } = resolve(req, findService(ctx, req));
      if (!holder.policy) notFound("Policy");
      return { status: 200, headers: { ETag: holder.policy.etag } };
    }, tag);
    r.add("PUT", path, async (req) => {
      checkName(req);
      const svc = findService(ctx, req);
      const { holder, id, type } = resolve(req, svc);
      checkIfMatch(req, holder.policy?.etag, false);
      const p = props(body(req));
      const existed = !!holder.policy;
      holder.policy = await savePolicy(ctx, svc, p["value"], p["format"], "policy");
      // The PUT answer is the stored policy re-serialized as `xml`, whatever format was sent.
      return json(existed ? 200 : 201, render(`${id}/policy`, type, holder.policy, undefined), { ETag: holder.policy.etag });
    }, tag);
    r.add("DELETE", path, (req) => {
      checkName(req);
      const { holder } = resolve(req, findService(ctx, req));
      checkIfMatch(req, holder.policy?.etag, true);
      if (!holder.policy) return { status: 204 };
      delete holder.policy;
      return { status: 200 };
    }, tag);
  };
  policyRoutes(`${SVC}/apis/{api}/policies/{policy}`, (req, svc) => {
    const a = getApi(svc, req.params["api"]!);
    return { holder: a, id: `${apiPath(svc, a)}/policies`, type: "Microsoft.ApiManagement/service/apis/policies" };
  });
  policyRoutes(`${SVC}/apis/{api}/operations/{op}/policies/{policy}`, (req, svc) => {
    const a = getApi(svc, req.params["api"]!);
    const o = getOp(a, req.params["op"]!) as ChildRecord & Holder;
    return { holder: o, id: `${apiPath(svc, a)}/operations/${o.name}/policies`, type: "Microsoft.ApiManagement/service/apis/operations/policies" };
  });

  // --- Loggers ---
  const renderLogger = (svc: ApimService, l: ChildRecord) => ({
    id: `${serviceId(ctx, svc)}/loggers/${l.name}`,
    type: "Microsoft.ApiManagement/service/loggers",
    name: l.name,
    properties: l.properties,
  });
  const getLogger = (svc: ApimService, id: string) => svc.loggers[id.toLowerCase()] ?? notFound("Logger");
  childReads("loggers", "id", (svc) => svc.loggers, getLogger, (_req, svc) => (l) => renderLogger(svc, l));
  r.add("PUT", `${SVC}/loggers/{id}`, (req) => {
    const svc = findService(ctx, req);
    const id = req.params["id"]!;
    checkId(id, ENTITY_ID, 256, "loggerId");
    const existing = svc.loggers[id.toLowerCase()];
    checkIfMatch(req, existing?.etag, false);
    const p = props(body(req));
    const loggerType = p["loggerType"];
    if (!["azureEventHub", "applicationInsights", "azureMonitor"].includes(String(loggerType))) {
      validationError([{ target: "loggerType", message: "'loggerType' must be one of azureEventHub, applicationInsights, azureMonitor." }]);
    }
    if (typeof p["description"] === "string" && p["description"].length > 256) validationError([{ target: "description", message: "Description must be at most 256 characters." }]);
    const properties: Record<string, unknown> = { loggerType, isBuffered: p["isBuffered"] === undefined ? true : p["isBuffered"] === true };
    if (p["description"] !== undefined) properties["description"] = p["description"];
    if (p["resourceId"] !== undefined) properties["resourceId"] = p["resourceId"];
    const creds = (p["credentials"] ?? {}) as Record<string, unknown>;
    if (loggerType === "azureEventHub") properties["credentials"] = eventHubCredentials(svc, creds, existing);
    else if (p["credentials"] !== undefined) properties["credentials"] = creds;
    const l = { name: existing?.name ?? id, etag: newEtag(), properties };
    svc.loggers[id.toLowerCase()] = l;
    return json(existing ? 200 : 201, renderLogger(svc, l), { ETag: l.etag });
  }, tag);
  r.add("DELETE", `${SVC}/loggers/{id}`, (req) => {
    const svc = findService(ctx, req);
    const l = svc.loggers[req.params["id"]!.toLowerCase()];
    checkIfMatch(req, l?.etag, true);
    if (!l) return { status: 204 };
    delete svc.loggers[l.name.toLowerCase()];
    return { status: 200 };
  }, tag);
}

/**
 * An Event Hub logger names its hub and either a connection string (which APIM moves into a
 * secret `Logger-Credentials-<hex>` named value, never echoing it) or a managed identity.
 */
function eventHubCredentials(svc: ApimService, creds: Record<string, unknown>, existing: ChildRecord | undefined): Record<string, unknown> {
  const name = creds["name"];
  if (typeof creds["connectionString"] === "string") {
    const cs = creds["connectionString"];
    if (/^\{\{Logger-Credentials-[0-9a-f]{24}\}\}$/.test(cs)) {
      // Re-sending what GET returned keeps the stored secret; it must still exist.
      const dn = cs.slice(2, -2);
      if (!Object.values(svc.namedValues).some((nv) => nv.properties["displayName"] === dn)) {
        validationError([{ target: "credentials", message: `One or more Properties ['${dn}'] specified are missing.` }]);
      }
      return { connectionString: cs };
    }
    if (!/Endpoint=sb:\/\//i.test(cs)) validationError([{ target: "credentials", message: "The Event Hub connection string is not valid." }]);
    const previous = JSON.stringify((existing?.properties["credentials"] as object | undefined) ?? {}).match(/Logger-Credentials-[0-9a-f]{24}/)?.[0];
    const dn = previous ?? `Logger-Credentials-${randomBytes(12).toString("hex")}`;
    const nvKey = dn.toLowerCase();
    if (!svc.namedValues[nvKey]) checkNamedValueRoom(svc);
    svc.namedValues[nvKey] = { name: svc.namedValues[nvKey]?.name ?? dn, etag: newEtag(), properties: { displayName: dn, value: cs, secret: true } };
    return { connectionString: `{{${dn}}}` };
  }
  if (typeof creds["endpointAddress"] === "string") {
    const errors: { target: string; message: string }[] = [];
    if (typeof name !== "string" || !name) errors.push({ target: "credentials", message: "'name' (the event hub name) is required." });
    if (/[/:]/.test(creds["endpointAddress"])) errors.push({ target: "credentials", message: "'endpointAddress' must be the namespace host name, e.g. <namespace>.servicebus.windows.net." });
    const clientId = creds["identityClientId"];
    if (typeof clientId !== "string" || !clientId) errors.push({ target: "credentials", message: "'identityClientId' is required with 'endpointAddress' (use 'SystemAssigned' for the service identity)." });
    else if (clientId === "SystemAssigned" && !svc.identity?.principalId) {
      errors.push({ target: "credentials", message: "The API Management service has no system-assigned managed identity." });
    }
    if (errors.length) validationError(errors);
    return { endpointAddress: creds["endpointAddress"], identityClientId: clientId, name };
  }
  validationError([{ target: "credentials", message: "Event Hub logger credentials need either 'connectionString' or 'endpointAddress' with 'identityClientId', and 'name'." }]);
}
