// The fidelity gate: every ARM request/response pair the sandbox served must conform to the
// official OpenAPI documents (oav 4.0.3 LiveValidator, ARM rules on), and must match an operation.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import oav from "oav";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const SPEC_DIR = path.resolve(repoRoot, "../shared/azure-rest-api-specs/specification");

/**
 * Polling URLs that real Azure uses but no spec document describes. They are still recorded
 * (so the traffic stays complete) and only these exact kinds are exempt from "must match":
 * - APIM child LROs poll `…/service/{svc}/tenant/operationResults/{id}` (the Azure-AsyncOperation
 *   shape in the APIM examples, e.g. ApiManagementCreateNamedValue.json); operationStatuses.json
 *   only covers the location-scoped URLs, which the sandbox uses for the service LROs.
 * - Event Hubs namespace LROs poll `…/namespaces/{ns}/operationresults/{id}`; openapi.json for
 *   2026-01-01 defines no operation-result path.
 */
const UNSPECIFIED_POLL_URLS: RegExp[] = [
  /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.ApiManagement\/service\/[^/]+\/tenant\/operationResults\/[^/]+$/i,
  /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.EventHub\/namespaces\/[^/]+\/operationresults\/[^/]+$/i,
];

/**
 * `Permissions_ListForResource` is `…/providers/{resourceProviderNamespace}/{parentResourcePath}/
 * {resourceType}/{resourceName}/providers/Microsoft.Authorization/permissions`. oav's path matcher
 * lets only a path's first parameter span several segments, so no real resource id matches it: a
 * top-level resource has an empty parentResourcePath, a child one has a slash in it. Such a pair is
 * validated against the resource group's operation, which has the same parameters and the same
 * response schema (PermissionGetResult); the resource id's shape is checked here.
 */
const RESOURCE_PERMISSIONS = /^(\/subscriptions\/[^/]+\/resourceGroups\/[^/]+)\/providers\/[^/]+(?:\/[^/]+\/[^/]+)+\/providers\/Microsoft\.Authorization\/permissions$/i;

function asResourceGroupPermissions(pair: TrafficLine): TrafficLine | undefined {
  const url = new URL(pair.liveRequest.url);
  const group = RESOURCE_PERMISSIONS.exec(url.pathname)?.[1];
  if (pair.liveRequest.method !== "GET" || !group) return undefined;
  url.pathname = `${group}/providers/Microsoft.Authorization/permissions`;
  return { ...pair, liveRequest: { ...pair.liveRequest, url: url.toString() } };
}

interface TrafficLine {
  liveRequest: { url: string; method: string; headers?: Record<string, string>; body?: unknown };
  liveResponse: { statusCode: string; headers?: Record<string, string>; body?: unknown };
}

interface ValidationResultPart {
  isSuccessful?: boolean;
  errors: { code: string; message: string; path?: string; jsonPathsInPayload?: string[] }[];
  runtimeException?: { code: string; message: string };
  operationInfo?: { operationId?: string };
}

type Validator = {
  initialize(): Promise<void>;
  validateLiveRequestResponse(pair: TrafficLine): Promise<{ requestValidationResult: ValidationResultPart; responseValidationResult: ValidationResultPart }>;
};

let validator: Promise<Validator> | undefined;

/** oav logs every unmatched poll URL; the gate reports what matters itself. */
const quiet = (): void => undefined;

/** One LiveValidator per process: loading the specs takes seconds. */
function getValidator(): Promise<Validator> {
  validator ??= (async () => {
    // oav loads an empty directory without a word and then matches nothing: say where the specs belong.
    if (!fs.existsSync(path.join(SPEC_DIR, "apimanagement"))) {
      throw new Error(`The official ARM specs are not at ${SPEC_DIR}: the checkout must sit beside ../shared (clone it next to the project, not elsewhere).`);
    }
    const { LiveValidator } = oav as unknown as { LiveValidator: new (opts: object, log?: (message: string, level: string) => void) => Validator };
    const v = new LiveValidator({
      directory: SPEC_DIR,
      // Spec documents sit directly in their version folder; examples live below it and are not specs.
      swaggerPathsPattern: ["**/stable/*/*.json", "common-types/resource-management/*/*.json"],
      excludedSwaggerPathsPattern: ["**/examples/**"],
      isArmCall: true,
      git: { shouldClone: false },
      loadValidatorInBackground: false,
      loadValidatorInInitialize: true,
    }, quiet);
    await v.initialize();
    return v;
  })();
  return validator;
}

function describe(part: ValidationResultPart, side: string): string[] {
  const out: string[] = [];
  if (part.runtimeException) out.push(`${side}: ${part.runtimeException.code}: ${part.runtimeException.message}`);
  for (const e of part.errors ?? []) out.push(`${side}: ${e.code} at ${(e.jsonPathsInPayload ?? [e.path ?? ""]).join(",")}: ${e.message}`);
  return out;
}

/**
 * Validates every recorded pair and throws one error listing every violation. A request the
 * sandbox rejected with a 4xx may itself be invalid (that is what the 4xx is about), so request
 * errors count only for requests it accepted; response errors always count.
 */
export async function assertTrafficConformsToSpecs(trafficFile: string): Promise<void> {
  const v = await getValidator();
  const lines = fs.readFileSync(trafficFile, "utf8").split("\n").filter((l) => l.trim());
  const violations: string[] = [];
  for (const [i, text] of lines.entries()) {
    const pair = JSON.parse(text) as TrafficLine;
    const url = new URL(pair.liveRequest.url);
    const where = `#${i + 1} ${pair.liveRequest.method} ${url.pathname}${url.search} → ${pair.liveResponse.statusCode}`;
    const rewritten = asResourceGroupPermissions(pair);
    const result = await v.validateLiveRequestResponse(rewritten ?? pair);
    const rq = result.requestValidationResult;
    const rs = result.responseValidationResult;
    const notFound = [rq, rs].some((p) => p.runtimeException?.code.startsWith("OPERATION_NOT_FOUND"));
    if (notFound) {
      const exempt = pair.liveRequest.method === "GET" && UNSPECIFIED_POLL_URLS.some((re) => re.test(url.pathname));
      if (!exempt) violations.push(`${where}\n    OPERATION_NOT_FOUND_IN_CACHE: no spec operation matches this request`);
      continue;
    }
    const status = Number(pair.liveResponse.statusCode);
    const opId = rs.operationInfo?.operationId ?? rq.operationInfo?.operationId;
    let responseProblems = describe(rs, "response");
    if (opId === "Subscriptions_Get" && status >= 400) {
      // subscriptions.json (2022-12-01) wraps ErrorResponse in CloudError, i.e. {error:{error:{…}}};
      // ARM answers {error:{code,message}} like every other API. Only that defect is ignored.
      responseProblems = responseProblems.filter((p) => !/OBJECT_ADDITIONAL_PROPERTIES at \$\.error\.(code|message|details|target)\b/.test(p));
    }
    const problems = [...(status >= 400 && status < 500 ? [] : describe(rq, "request")), ...responseProblems];
    if (problems.length) violations.push(`${where} [${opId ?? "?"}]\n    ${problems.join("\n    ")}`);
  }
  if (violations.length) throw new Error(`${violations.length} of ${lines.length} recorded ARM exchanges do not conform to the specs:\n${violations.join("\n")}`);
}
