import type { AttributeMetadata, DataverseClient, TableMetadata } from "../azure/dataverse.js";
import { DUPLICATE_RECORD } from "../azure/dataverse.js";
import { azureCode, statusOf } from "../azure/errors.js";
import { attributeBody, CORRELATION_KEY, DECISION_LOG_COLUMNS, DECISION_LOG_ENTITY_SET, DECISION_LOG_LOGICAL_NAME, keyBody, tableBody, type ColumnDef } from "../dataverse/decision-log-table.js";
import { blocked, inSync, seen, skipped, type Change, type FieldChange } from "../engine/change.js";
import { defineStep } from "../engine/step.js";
import { ExitCode } from "../errors.js";
import { dataversePreflight } from "../preflight/identity.js";

interface DecisionLogObserved {
  table?: TableMetadata;
}

type DecisionLogOp = { kind: "table" } | { kind: "column"; column: string } | { kind: "key" };

const T = DECISION_LOG_LOGICAL_NAME;

/**
 * The decision-log table (issue 5, seed step 6): `fsi_aegdecisionlog` with exactly the contract's
 * columns and option sets and an alternate key on the correlation id, created through the metadata
 * API when `dataverse.decisionLog.enabled`. Missing columns and the key are added; a column of
 * another type or other option values is blocked, never "fixed" (Dataverse cannot change a
 * column's type, and dropping a column loses its data).
 */
export const decisionLogStep = defineStep<{ enabled: boolean }, DecisionLogObserved, DecisionLogOp>({
  id: "decision-log",
  title: "Decision-log table in Dataverse",
  needs: [],

  desired: ({ config }) => ({ enabled: config.dataverse.decisionLog.enabled }),

  observe: async (ctx, desired) => (desired.enabled ? { table: await ctx.clients.dataverse.tableMetadata(T) } : {}),

  plan: (desired, observed) => (desired.enabled ? decisionLogChanges(observed.table) : [skipped(`tables/${T}`, "dataverse.decisionLog.enabled is false")]),

  async apply(ctx, { op }) {
    const dv = ctx.clients.dataverse;
    switch (op.kind) {
      case "table":
        return createTable(dv);
      case "column":
        return addColumn(dv, columnNamed(op.column));
      case "key":
        return addKey(dv);
    }
  },

  preflight: dataversePreflight,

  outputs: (_desired, { table }) => ({ decisionLogEntitySet: table?.EntitySetName }),
});

/** What it takes to make the live table match the contract. Pure. */
export function decisionLogChanges(table: TableMetadata | undefined): Change<DecisionLogOp>[] {
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
        op: { kind: "table" },
        seen: seen(table),
      },
    ];
  }
  const changes: Change<DecisionLogOp>[] = [];
  const tableFields: FieldChange[] = [];
  if (table.OwnershipType !== "OrganizationOwned") tableFields.push({ field: "OwnershipType", from: table.OwnershipType, to: "OrganizationOwned" });
  if (table.EntitySetName !== DECISION_LOG_ENTITY_SET) tableFields.push({ field: "EntitySetName", from: table.EntitySetName, to: DECISION_LOG_ENTITY_SET });
  const tableSeen = seen({ OwnershipType: table.OwnershipType, EntitySetName: table.EntitySetName });
  changes.push({ ...(tableFields.length ? refused(`tables/${T}`, tableFields, "a table's ownership and entity set name are fixed when it is created") : inSync(`tables/${T}`)), seen: tableSeen });

  for (const column of DECISION_LOG_COLUMNS) {
    const resource = `tables/${T}/columns/${column.logicalName}`;
    const live = table.Attributes.find((a) => a.LogicalName === column.logicalName);
    if (!live) {
      changes.push({ action: "create", resource, fields: [{ field: "column", to: describeColumn(column) }], op: { kind: "column", column: column.logicalName }, seen: seen(live) });
      continue;
    }
    const fields = columnDiff(column, live);
    changes.push({ ...(fields.length ? refused(resource, fields, "Dataverse cannot change a column's type, and aeg never drops a column (its data would go)") : inSync(resource)), seen: seen(live) });
  }

  const keyResource = `tables/${T}/keys/${CORRELATION_KEY.schemaName}`;
  const key = table.Keys.find((k) => k.KeyAttributes.length === 1 && k.KeyAttributes[0] === CORRELATION_KEY.attribute);
  if (!key) changes.push({ action: "create", resource: keyResource, fields: [{ field: "KeyAttributes", to: [CORRELATION_KEY.attribute] }], op: { kind: "key" }, seen: seen(key) });
  else if (key.EntityKeyIndexStatus === "Active") changes.push(inSync(keyResource, key));
  else if (key.EntityKeyIndexStatus === "Failed") changes.push(refused(keyResource, [{ field: "EntityKeyIndexStatus", from: "Failed", to: "Active" }], "the key's index failed (rows already share a correlation id): remove the duplicates, then reactivate the key in the maker portal"));
  else changes.push({ action: "unverifiable", resource: keyResource, fields: [], note: `the key's index is ${key.EntityKeyIndexStatus}: Dataverse builds it in the background; the sink's upserts wait for it` });
  return changes;
}

function describeColumn(c: ColumnDef): string {
  if (c.optionSet) return `Picklist ${c.optionSet.name}`;
  return c.maxLength ? `${c.type} ${c.maxLength}` : c.type;
}

/** Differences in what a column holds: its type, a text column's length, a choice's values. */
function columnDiff(desired: ColumnDef, live: AttributeMetadata): FieldChange[] {
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

/** A difference aeg reports and will not write: drift (exit 4) that a person must resolve. */
function refused(resource: string, fields: FieldChange[], why: string): Change<DecisionLogOp> {
  return blocked(
    resource,
    `differs from the contract (${fields.map((f) => f.field).join(", ")}): ${why}`,
    ExitCode.drift,
    `Fix ${T} in the Power Apps maker portal (or delete the table if its rows can go), then re-run.`,
    fields,
  );
}

function columnNamed(logicalName: string): ColumnDef {
  const column = DECISION_LOG_COLUMNS.find((c) => c.logicalName === logicalName);
  if (!column) throw new Error(`decision-log: the plan names a column the contract does not have: ${logicalName}`);
  return column;
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

async function createTable(dv: DataverseClient): Promise<void> {
  await tolerateDuplicate(dv.createTable(tableBody()));
  const table = await dv.tableMetadata(T);
  if (!table) throw new Error(`decision-log: ${T} was created but cannot be read back`);
  for (const column of DECISION_LOG_COLUMNS) if (!table.Attributes.some((a) => a.LogicalName === column.logicalName)) await addColumn(dv, column);
  if (!table.Keys.some((k) => k.KeyAttributes.includes(CORRELATION_KEY.attribute))) await addKey(dv);
}

function addColumn(dv: DataverseClient, column: ColumnDef): Promise<void> {
  return tolerateDuplicate(dv.createAttribute(T, attributeBody(column)));
}

function addKey(dv: DataverseClient): Promise<void> {
  return tolerateDuplicate(dv.createKey(T, keyBody()));
}
