// What one APIM instance holds, by tier, enforced as APIM does: a 400 `ValidationError` naming the
// limit. The figures and their sources are the product's (src/steps/apim-limits.ts, which the
// sandbox does not import: a fake must not share the code it checks). Only creations count: APIM
// keeps what an instance already had when a limit arrived.
//
// The operations-per-API answer is APIM's own (Microsoft Q&A 5859937, Basic v2, April 2026); the
// answers for named values and for the instance's operations follow its wording, naming the entity
// and the scope; the policy-size answer is APIM's as users report it (vscode-apimanagement#230,
// azure-api-management-devops-resource-kit#159).
import type { ApimService } from "../store.js";
import { fail } from "./common.js";

interface Limits {
  namedValues: number;
  operations: number;
  operationsPerApi: number;
  policyKb: number;
  fragmentKb: number;
}

const tier = (namedValues: number, operations: number, policyKb = 250): Limits => ({ namedValues, operations, operationsPerApi: 100, policyKb, fragmentKb: Math.min(32, policyKb) });

const LIMITS: Record<string, Limits> = {
  consumption: tier(5_000, 3_000, 16),
  developer: tier(5_000, 3_000),
  basic: tier(5_000, 10_000),
  basicv2: tier(5_000, 10_000),
  standard: tier(10_000, 50_000),
  standardv2: tier(10_000, 50_000),
  premium: tier(18_000, 75_000),
  premiumv2: tier(18_000, 75_000),
  isolated: tier(18_000, 75_000),
};

const limitsOf = (svc: ApimService): Limits => LIMITS[svc.sku.name.toLowerCase()] ?? LIMITS["developer"]!;

function reached(entity: string, max: number, scope: string): never {
  fail(
    400,
    "ValidationError",
    `You've reached the maximum number of ${entity} (${max}) in ${scope}. Please delete one or more ${entity.replace(/s$/, "")}(s) from ${scope} to continue, or consider upgrading your plan to increase the limit.`,
  );
}

/** Before a named value is created. */
export function checkNamedValueRoom(svc: ApimService): void {
  const { namedValues } = limitsOf(svc);
  if (Object.keys(svc.namedValues).length >= namedValues) reached("Named values", namedValues, "Service");
}

/** Before an operation is created in `apiId`. */
export function checkOperationRoom(svc: ApimService, apiId: string): void {
  const limits = limitsOf(svc);
  const api = svc.apis[apiId.toLowerCase()];
  if (api && Object.keys(api.operations).length >= limits.operationsPerApi) reached("Operations", limits.operationsPerApi, "API");
  const total = Object.values(svc.apis).reduce((n, a) => n + Object.keys(a.operations).length, 0);
  if (total >= limits.operations) reached("Operations", limits.operations, "Service");
}

/** Before a policy document or fragment is saved: its size as sent. */
export function checkPolicySize(svc: ApimService, value: unknown, kind: "policy" | "fragment"): void {
  if (typeof value !== "string") return;
  const limits = limitsOf(svc);
  const kb = kind === "fragment" ? limits.fragmentKb : limits.policyKb;
  if (Buffer.byteLength(value, "utf8") > kb * 1024) fail(400, "ValidationError", `Policy size exceeds allowed limit of ${kb} KB`);
}
