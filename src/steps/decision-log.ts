import type { AttributeMetadata, DataverseClient, TableMetadata } from "../azure/dataverse.js";
import { DUPLICATE_RECORD } from "../azure/dataverse.js";
import { azureCode, statusOf } from "../azure/errors.js";
import { attributeBody, CORRELATION_KEY, DECISION_LOG_COLUMNS, DECISION_LOG_ENTITY_SET, DECISION_LOG_LOGICAL_NAME, keyBody, tableBody, type ColumnDef } from "../dataverse/decision-log-table.js";
import type { Change, FieldChange, RunContext, Step } from "../engine/types.js";
import { UserError, ExitCode } from "../errors.js";
import { dataversePreflight, services } from "./identity-preflight.js";

export interface DecisionLogObserved {
  enabled: boolean;
  table?: TableMetadata;
}

const T = DECISION_LOG_LOGICAL_NAME;

/**
 * The decision-log table (issue 5, seed step 6): `fsi_aegdecisionlog` with exactly the contract's
 * columns and option sets and an alternate key on the correlation id, created through the metadata
 * API when `dataverse.decisionLog.enabled`. Missing columns and the key are added; a column of
 * another type or other option values is reported and never "fixed" (Dataverse cannot change a
 * column's type, and dropping a column loses its data).
 */
export const decisionLogStep: Step<DecisionLogObserved> = {
  id: "decision-log",
  title: "Decision-log table in Dataverse",
  needs: [],
  requiredRole: "Dataverse System Administrator (or System Customizer) in the governance-store environment",

  async observe(ctx) {
    const enabled = ctx.config.dataverse.decisionLog.enabled;
    return { enabled, ...(enabled ? { table: await client(ctx).tableMetadata(T) } : {}) };
  },

  plan(_ctx, observed): Change[] {
    if (!observed.enabled) return [{ action: "skipped", resource: `tables/${T}`, fields: [], note: "dataverse.decisionLog.enabled is false" }];
    return decisionLogChanges(observed.table);
  },

  preflight: (ctx) => dataversePreflight(ctx, ctx.config.dataverse.url),

  outputs(_ctx, { table }) {
    return { decisionLogEntitySet: table?.EntitySetName };
  },
};

function client(ctx: RunContext): DataverseClient {
  return services(ctx).dataverse(ctx.config.dataverse.url);
}

/** What it takes to make the live table match the contract. Pure. */
export function decisionLogChanges(table: TableMetadata | undefined): Change[] {
  if (!table) {
    return [
      {
        action: "create",
        resource: `tables/${T}`,
        fields: [
          { field: "EntitySetName", to: DECISION_LOG_ENTITY_SET },
          { field: "OwnershipType", to: "OrganizationOwned" },
          ...DECISION_LOG_COLUMNS.map((c) => ({ field: `columns/${c.logicalName}`, to: describeColumn(c) })),
          { field: `keys/${CORRELATION_KEY.schemaName}`, to: [CORRELATION_KEY.attribute] },
        ],
        write: createTable,
      },
    ];
  }
  const changes: Change[] = [];
  const tableFields: FieldChange[] = [];
  if (table.OwnershipType !== "OrganizationOwned") tableFields.push({ field: "OwnershipType", from: table.OwnershipType, to: "OrganizationOwned" });
  if (table.EntitySetName !== DECISION_LOG_ENTITY_SET) tableFields.push({ field: "EntitySetName", from: table.EntitySetName, to: DECISION_LOG_ENTITY_SET });
  changes.push(tableFields.length ? refused(`tables/${T}`, tableFields, "a table's ownership and entity set name are fixed when it is created") : { action: "ok", resource: `tables/${T}`, fields: [] });

  for (const column of DECISION_LOG_COLUMNS) {
    const resource = `tables/${T}/columns/${column.logicalName}`;
    const live = table.Attributes.find((a) => a.LogicalName === column.logicalName);
    if (!live) {
      changes.push({ action: "create", resource, fields: [{ field: "column", to: describeColumn(column) }], write: (ctx) => addColumn(ctx, column) });
      continue;
    }
    const fields = columnDiff(column, live);
    changes.push(fields.length ? refused(resource, fields, "Dataverse cannot change a column's type, and aeg never drops a column (its data would go)") : { action: "ok", resource, fields: [] });
  }

  const keyResource = `tables/${T}/keys/${CORRELATION_KEY.schemaName}`;
  const key = table.Keys.find((k) => k.KeyAttributes.length === 1 && k.KeyAttributes[0] === CORRELATION_KEY.attribute);
  if (!key) changes.push({ action: "create", resource: keyResource, fields: [{ field: "KeyAttributes", to: [CORRELATION_KEY.attribute] }], write: addKey });
  else if (key.EntityKeyIndexStatus === "Active") changes.push({ action: "ok", resource: keyResource, fields: [] });
  else if (key.EntityKeyIndexStatus === "Failed") changes.push(refused(keyResource, [{ field: "EntityKeyIndexStatus", from: "Failed", to: "Active" }], "the key's index failed (rows already share a correlation id): remove the duplicates, then reactivate the key in the maker portal"));
  else changes.push({ action: "unverifiable", resource: keyResource, fields: [], note: `the key's index is ${key.EntityKeyIndexStatus}: Dataverse builds it in the background; the sink's upserts wait for it` });
  return changes;
}

function describeColumn(c: ColumnDef): string {
  if (c.optionSet) return `Picklist ${c.optionSet.name}`;
  return c.maxLength ? `${c.type} ${c.maxLength}` : c.type;
}

/** Differences in what a column holds: its type, a text column's length, a choice's values. */
export function columnDiff(desired: ColumnDef, live: AttributeMetadata): FieldChange[] {
  if (live.AttributeType !== desired.type) return [{ field: "AttributeType", from: live.AttributeType, to: desired.type }];
  const fields: FieldChange[] = [];
  if (desired.maxLength !== undefined && live.MaxLength !== undefined && live.MaxLength < desired.maxLength) fields.push({ field: "MaxLength", from: live.MaxLength, to: desired.maxLength });
  if (desired.optionSet) {
    const want = Object.values(desired.optionSet.options).sort();
    const have = (live.OptionSet?.Options ?? []).map((o) => o.Value).sort();
    if (want.join(",") !== have.join(",")) fields.push({ field: "OptionSet", from: have, to: want });
  }
  return fields;
}

/** A difference aeg reports but will not write; its write fails with the reason and what to do. */
function refused(resource: string, fields: FieldChange[], why: string): Change {
  const note = `${why}; fix ${T} in the Power Apps maker portal (or delete the table if its rows can go), then re-run`;
  return {
    action: "update",
    resource,
    fields,
    note,
    write: async () => {
      throw new UserError(`decision-log: ${resource} differs from the contract (${fields.map((f) => f.field).join(", ")}): ${why}`, ExitCode.drift, note);
    },
  };
}

// ---- writes: each tolerates a concurrent run having made the same thing ----

const alreadyThere = (err: unknown) => azureCode(err) === DUPLICATE_RECORD || (statusOf(err) === 400 && /already exists/i.test((err as Error).message));

async function tolerateDuplicate(write: Promise<void>): Promise<void> {
  try {
    await write;
  } catch (err) {
    if (!alreadyThere(err)) throw err;
  }
}

async function createTable(ctx: RunContext): Promise<void> {
  const dv = client(ctx);
  await tolerateDuplicate(dv.createTable(tableBody()));
  const table = await dv.tableMetadata(T);
  if (!table) throw new Error(`decision-log: ${T} was created but cannot be read back`);
  for (const column of DECISION_LOG_COLUMNS) if (!table.Attributes.some((a) => a.LogicalName === column.logicalName)) await addColumn(ctx, column);
  if (!table.Keys.some((k) => k.KeyAttributes.includes(CORRELATION_KEY.attribute))) await addKey(ctx);
}

function addColumn(ctx: RunContext, column: ColumnDef): Promise<void> {
  return tolerateDuplicate(client(ctx).createAttribute(T, attributeBody(column)));
}

function addKey(ctx: RunContext): Promise<void> {
  return tolerateDuplicate(client(ctx).createKey(T, keyBody()));
}
