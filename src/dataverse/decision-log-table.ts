/**
 * `fsi_aegdecisionlog` exactly as the gateway contract defines it (shared/design/gateway-contract.md):
 * the one definition the setup step creates and checks and the sink maps records onto. A typed
 * module rather than a JSON template: the sink's value maps are checked against the option sets
 * at compile time, and nothing has to be located and parsed at run time.
 */

export const DECISION_LOG_LOGICAL_NAME = "fsi_aegdecisionlog";
export const DECISION_LOG_ENTITY_SET = "fsi_aegdecisionlogs";
/** The alternate key every write goes through, so a replayed event updates instead of adding a row. */
export const CORRELATION_KEY = { schemaName: "fsi_correlationid_key", attribute: "fsi_correlationid" } as const;

export type ColumnType = "String" | "Memo" | "DateTime" | "Integer" | "Boolean" | "Picklist";

export interface OptionSetDef {
  name: string;
  /** Label → value. Values are what is stored and compared; labels are localized by Dataverse. */
  options: Record<string, number>;
}

export interface ColumnDef {
  logicalName: string;
  displayName: string;
  type: ColumnType;
  maxLength?: number;
  primaryName?: boolean;
  optionSet?: OptionSetDef;
  minValue?: number;
  maxValue?: number;
}

export const CHANNEL = { name: "fsi_aeg_channel", options: { CustomWeb: 100000000, DirectLine: 100000001 } } as const;
export const PATHWAY = {
  name: "fsi_aeg_pathway",
  options: { None: 100000000, McpCopilotStudio: 100000001, McpAgentBuilder: 100000002, ApiDirect: 100000003, Metered: 100000004, Unmapped: 100000005 },
} as const;
export const DECISION = { name: "fsi_aeg_decision", options: { Allow: 100000000, Deny: 100000001 } } as const;
export const DENY_REASON = {
  name: "fsi_aeg_denyreason",
  options: {
    None: 100000000,
    JwtValidationFailed: 100000001,
    MissingRequiredClaim: 100000002,
    OutOfPolicyAudience: 100000003,
    NotInEligibleCohort: 100000004,
    AgentNonCompliant: 100000005,
    GovernanceStoreUnavailable: 100000006,
  },
} as const;

/** Records are under 200 KB (the log-to-eventhub limit), so the raw JSON always fits. */
export const RAW_CONTEXT_MAX = 204_800;

export const DECISION_LOG_COLUMNS: readonly ColumnDef[] = [
  { logicalName: "fsi_name", displayName: "Name", type: "String", maxLength: 200, primaryName: true },
  { logicalName: "fsi_correlationid", displayName: "Correlation id", type: "String", maxLength: 200 },
  { logicalName: "fsi_decisiontime", displayName: "Decision time", type: "DateTime" },
  { logicalName: "fsi_agentid", displayName: "Agent id", type: "String", maxLength: 200 },
  { logicalName: "fsi_userobjectid", displayName: "User object id", type: "String", maxLength: 100 },
  { logicalName: "fsi_channel", displayName: "Channel", type: "Picklist", optionSet: CHANNEL },
  { logicalName: "fsi_pathway", displayName: "Pathway", type: "Picklist", optionSet: PATHWAY },
  { logicalName: "fsi_decision", displayName: "Decision", type: "Picklist", optionSet: DECISION },
  { logicalName: "fsi_denyreason", displayName: "Deny reason", type: "Picklist", optionSet: DENY_REASON },
  { logicalName: "fsi_httpstatus", displayName: "HTTP status", type: "Integer", minValue: 100, maxValue: 599 },
  { logicalName: "fsi_anomaly", displayName: "Anomaly", type: "Boolean" },
  { logicalName: "fsi_policyversion", displayName: "Policy version", type: "String", maxLength: 50 },
  { logicalName: "fsi_gatewayinstance", displayName: "Gateway instance", type: "String", maxLength: 200 },
  { logicalName: "fsi_rawcontext", displayName: "Raw context", type: "Memo", maxLength: RAW_CONTEXT_MAX },
];

// ---- the metadata API bodies (reference: dataverse-web-api.md §6) ----

const label = (text: string) => ({ "@odata.type": "Microsoft.Dynamics.CRM.Label", LocalizedLabels: [{ "@odata.type": "Microsoft.Dynamics.CRM.LocalizedLabel", Label: text, LanguageCode: 1033 }] });

/** The AttributeMetadata body that creates one column (POST EntityDefinitions(…)/Attributes). */
export function attributeBody(c: ColumnDef): Record<string, unknown> {
  const common = { SchemaName: c.logicalName, DisplayName: label(c.displayName), RequiredLevel: { Value: "None" } };
  switch (c.type) {
    case "String":
      return { "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata", ...common, AttributeType: "String", AttributeTypeName: { Value: "StringType" }, MaxLength: c.maxLength, FormatName: { Value: "Text" }, ...(c.primaryName ? { IsPrimaryName: true } : {}) };
    case "Memo":
      return { "@odata.type": "Microsoft.Dynamics.CRM.MemoAttributeMetadata", ...common, AttributeType: "Memo", AttributeTypeName: { Value: "MemoType" }, MaxLength: c.maxLength, Format: "TextArea" };
    case "DateTime":
      return { "@odata.type": "Microsoft.Dynamics.CRM.DateTimeAttributeMetadata", ...common, AttributeType: "DateTime", AttributeTypeName: { Value: "DateTimeType" }, Format: "DateAndTime" };
    case "Integer":
      return { "@odata.type": "Microsoft.Dynamics.CRM.IntegerAttributeMetadata", ...common, AttributeType: "Integer", AttributeTypeName: { Value: "IntegerType" }, Format: "None", MinValue: c.minValue, MaxValue: c.maxValue };
    case "Boolean":
      return {
        "@odata.type": "Microsoft.Dynamics.CRM.BooleanAttributeMetadata",
        ...common,
        AttributeType: "Boolean",
        AttributeTypeName: { Value: "BooleanType" },
        OptionSet: { "@odata.type": "Microsoft.Dynamics.CRM.BooleanOptionSetMetadata", OptionSetType: "Boolean", TrueOption: { Value: 1, Label: label("Yes") }, FalseOption: { Value: 0, Label: label("No") } },
      };
    case "Picklist":
      return {
        "@odata.type": "Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
        ...common,
        AttributeType: "Picklist",
        AttributeTypeName: { Value: "PicklistType" },
        OptionSet: {
          "@odata.type": "Microsoft.Dynamics.CRM.OptionSetMetadata",
          Name: c.optionSet!.name,
          IsGlobal: false,
          OptionSetType: "Picklist",
          Options: Object.entries(c.optionSet!.options).map(([text, value]) => ({ Value: value, Label: label(text) })),
        },
      };
  }
}

/**
 * The EntityMetadata body that creates the table with its primary name column only: the other
 * columns are added one by one through the same call that repairs a table missing some.
 */
export function tableBody(): Record<string, unknown> {
  return {
    "@odata.type": "Microsoft.Dynamics.CRM.EntityMetadata",
    SchemaName: DECISION_LOG_LOGICAL_NAME,
    EntitySetName: DECISION_LOG_ENTITY_SET,
    DisplayName: label("AEG decision log"),
    DisplayCollectionName: label("AEG decision logs"),
    Description: label("One row per gateway decision, written by aeg sink (managed by aeg)."),
    OwnershipType: "OrganizationOwned",
    IsActivity: false,
    HasActivities: false,
    HasNotes: false,
    Attributes: [attributeBody(DECISION_LOG_COLUMNS.find((c) => c.primaryName)!)],
  };
}

export function keyBody(): Record<string, unknown> {
  return { "@odata.type": "Microsoft.Dynamics.CRM.EntityKeyMetadata", SchemaName: CORRELATION_KEY.schemaName, DisplayName: label("Correlation id"), KeyAttributes: [CORRELATION_KEY.attribute] };
}
