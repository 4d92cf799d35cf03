// Sandbox-only: change a seeded governance row in place (`PATCH /_sandbox/tables/{set}/rows/{id}`),
// so a test can make a persona ineligible or an agent non-compliant the way a governance team
// would in real Dataverse. The seed is per running sandbox and in memory: a restart restores it.
import { json, type Reply, type Router } from "../http.js";
import { ENTITY_SETS } from "./dataverse.js";
import type { ColumnType } from "./odata.js";
import type { GovernanceSeed } from "./personas.js";

const badRequest = (message: string): Reply => json(400, { error: { code: "BadRequest", message } });

function fits(type: ColumnType, v: unknown): boolean {
  if (v === null) return true;
  switch (type) {
    case "Int32":
      return Number.isInteger(v);
    case "Boolean":
      return typeof v === "boolean";
    case "DateTimeOffset":
      return typeof v === "string" && !Number.isNaN(Date.parse(v));
    default:
      return typeof v === "string";
  }
}

export function registerSeedAdmin(router: Router<unknown>, data: GovernanceSeed): void {
  router.add("PATCH", "/_sandbox/tables/{set}/rows/{id}", (req) => {
    const set = ENTITY_SETS[req.params["set"]!];
    if (!set) return json(404, { error: { code: "NotFound", message: `No seeded table has the entity set '${req.params["set"]}'.` } });
    const id = req.params["id"]!.toLowerCase();
    const row = set.rows(data).find((r) => String(r[set.key]).toLowerCase() === id);
    if (!row) return json(404, { error: { code: "NotFound", message: `${set.logicalName} has no row ${req.params["id"]}.` } });
    const body = req.body;
    if (!body || typeof body !== "object" || Array.isArray(body)) return badRequest("Body must be a JSON object of column values.");
    for (const [column, value] of Object.entries(body)) {
      const type = set.columns[column];
      if (!type || column === set.key) return badRequest(`'${column}' is not a column of ${set.logicalName} that can change.`);
      if (!fits(type, value)) return badRequest(`'${column}' must be ${type} or null.`);
    }
    Object.assign(row, body);
    return json(200, row);
  });
}
