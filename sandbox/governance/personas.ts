// The governance seed: test users (personas), agents, and the Dataverse rows the gateway reads.
// Static and deterministic (every GUID is written here) so a test, `aeg validate` and a person with
// curl all see the same tenant. Each persona names the gateway-contract row it exercises and the
// answer the gateway must give, so the seed doubles as the validation matrix.

/** `fsi_cai_risklevel` (gateway contract, "Option-set values"). */
export const RiskLevel = { Low: 100000000, Medium: 100000001, High: 100000002, Critical: 100000003, Unknown: 100000004 } as const;
/** `fsi_cbg_pathway`. */
export const Pathway = { none: 100000000, "mcp-cs": 100000001, "mcp-agentbuilder": 100000002, "api-direct": 100000003, metered: 100000004, unmapped: 100000005 } as const;
/** `fsi_cbg_decision`. */
export const Decision = { Allow: 100000000, Block: 100000001, "Allow - Eligibility N/A": 100000002, "Fail-open - Anomaly": 100000003, "Fail-closed - Zero-rating Unresolved": 100000004 } as const;
/** `fsi_cbg_blockreason` (the `fsi_decisionreason` column). */
export const BlockReason = {
  "No eligible cohort": 100000000,
  "Missing license": 100000001,
  "Zero-rating unresolved - fail-closed": 100000002,
  "Not in credit scope": 100000003,
  "Policy cap exceeded": 100000004,
  "Unmapped pathway": 100000005,
} as const;

/** English labels by integer, for the FormattedValue annotations (clients must never compare them). */
export const OPTION_LABELS: Record<string, Record<number, string>> = {
  fsi_risklevel: invert(RiskLevel),
  fsi_pathway: invert(Pathway),
  fsi_decision: invert(Decision),
  fsi_decisionreason: invert(BlockReason),
};

function invert(o: Record<string, number>): Record<number, string> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [v, k]));
}

export type DenyReason = "None" | "JwtValidationFailed" | "MissingRequiredClaim" | "OutOfPolicyAudience" | "NotInEligibleCohort" | "AgentNonCompliant" | "GovernanceStoreUnavailable";

/** What the gateway must answer (with the contract's default `allow-anomaly` for unknown pathways). */
export interface Expectation {
  status: 200 | 401 | 403 | 503;
  denyReason: DenyReason;
  anomaly: boolean;
}

export interface PersonaCheck {
  agentId: string;
  /** The contract row exercised, in the validation matrix's words. */
  exercises: string;
  expected: Expectation;
  /** Set when the expectation holds only for that token version (v1 tokens always carry `upn`). */
  tokenVersion?: "v1" | "v2";
  /** Set when the expectation holds only with the Graph overage fallback on (true) or off (false). */
  graphFallback?: boolean;
}

export interface Persona {
  /** Short key used by the admin routes and `personaToken`. */
  name: string;
  displayName: string;
  oid: string;
  upn: string;
  /** Transitive group memberships (object ids); what Graph answers and, below 200, the `groups` claim. */
  groups: string[];
  /** Whether the API registration adds `upn` to v2 tokens as an optional claim. */
  upnInV2: boolean;
  /** The contract row this persona exercises against contoso-kb-assistant, and the answer. */
  exercises: string;
  expected: Expectation;
  /** Limits of that expectation, as in PersonaCheck. */
  tokenVersion?: "v1" | "v2";
  graphFallback?: boolean;
  /** Further checks (other agents, the overage fallback switched on, …). */
  alsoExercises?: PersonaCheck[];
}

export interface Agent {
  id: string;
  /** Audience group from the sandbox sample configuration; undefined for agents only the store knows. */
  audienceGroupId?: string;
  riskLevel: number | null;
}

export interface ComplianceRow {
  fsi_caicompliancestateid: string;
  fsi_agentid: string | null;
  fsi_risklevel: number | null;
}

export interface EntitlementRow {
  fsi_cbgentitlementmaterializedid: string;
  fsi_agentid: string;
  fsi_userupn: string;
  fsi_pathway: number | null;
  fsi_decision: number | null;
  fsi_decisionreason: number | null;
  /** DateTimeOffset, ISO 8601 UTC. */
  fsi_ttlexpiresat: string | null;
}

export const KB_AGENT = "contoso-kb-assistant";
export const HR_AGENT = "contoso-hr-helper";
export const KB_GROUP = "11111111-2222-3333-4444-555555555555";
export const HR_GROUP = "66666666-7777-8888-9999-000000000000";
/** Groups with no agent behind them (everyone's "All staff", a "Viewers" group, …). */
export const STAFF_GROUP = "0a5e7c1d-3f2b-4c8e-9d1a-6b7c8d9e0f10";
export const VIEWERS_GROUP = "0b6f8d2e-4a3c-4d9f-8e2b-7c8d9e0f1a21";
/** The named groups of the directory, as Graph lists and searches them (`aeg init` finds audiences here). */
export const GROUPS: ReadonlyArray<{ id: string; displayName: string; description: string }> = [
  { id: KB_GROUP, displayName: "KB Assistant Users", description: "Audience of the Contoso KB Assistant agent" },
  { id: HR_GROUP, displayName: "HR Helper Users", description: "Audience of the Contoso HR Helper agent" },
  { id: STAFF_GROUP, displayName: "All Staff", description: "Everyone at Contoso" },
  { id: VIEWERS_GROUP, displayName: "Viewers", description: "Read-only access to shared reports" },
];
/** JWT groups claims stop at 200 entries; past that Entra sends the overage indicator instead. */
export const GROUPS_OVERAGE_LIMIT = 200;
/** The client app the personas sign in to (the agent front end): `appid` / `azp` in their tokens. */
export const PERSONA_CLIENT_APP_ID = "7c3e9a51-2d84-4f6b-a0c9-1e5d7f2b8a46";

const VALID_UNTIL = "2099-12-31T23:59:59Z";
const EXPIRED_AT = "2024-01-01T00:00:00Z";

const ALLOW: Expectation = { status: 200, denyReason: "None", anomaly: false };
const ALLOW_ANOMALY: Expectation = { status: 200, denyReason: "None", anomaly: true };
const deny = (status: 401 | 403, denyReason: DenyReason): Expectation => ({ status, denyReason, anomaly: false });

export const AGENTS: Agent[] = [
  { id: KB_AGENT, audienceGroupId: KB_GROUP, riskLevel: RiskLevel.Low },
  { id: HR_AGENT, audienceGroupId: HR_GROUP, riskLevel: RiskLevel.High },
  { id: "contoso-research-agent", riskLevel: RiskLevel.Medium },
  { id: "contoso-legacy-bot", riskLevel: RiskLevel.Critical },
  { id: "contoso-unrated-agent", riskLevel: RiskLevel.Unknown },
  // A row exists but nobody scored it: null must deny like Unknown.
  { id: "contoso-unscored-agent", riskLevel: null },
];

/** 240 deterministic group ids for the overage persona (more than a JWT may carry). */
function manyGroups(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `9a000000-0000-4000-8000-${(i + 1).toString(16).padStart(12, "0")}`);
}

/** Persona oids: a readable fixed pattern, one per persona. */
const oid = (n: number) => `5e7a0000-0000-4000-a000-${n.toString(16).padStart(12, "0")}`;

const HR_NON_COMPLIANT: PersonaCheck = {
  agentId: HR_AGENT,
  exercises: "Agent non-compliant in governance store (contoso-hr-helper is High) → 403 AgentNonCompliant",
  expected: deny(403, "AgentNonCompliant"),
};

export const PERSONAS: Persona[] = [
  {
    name: "alice",
    displayName: "Alice Lindqvist",
    oid: oid(1),
    upn: "alice@contoso.example",
    groups: [STAFF_GROUP, KB_GROUP, HR_GROUP],
    upnInV2: true,
    exercises: "Authorized caller, pathway none (row says Block: the pathway decides first) → 200",
    expected: ALLOW,
    alsoExercises: [HR_NON_COMPLIANT],
  },
  { name: "ben", displayName: "Ben Okafor", oid: oid(2), upn: "ben@contoso.example", groups: [STAFF_GROUP, KB_GROUP], upnInV2: true, exercises: "Authorized caller, pathway mcp-cs → 200", expected: ALLOW },
  { name: "chloe", displayName: "Chloe Martin", oid: oid(3), upn: "chloe@contoso.example", groups: [KB_GROUP], upnInV2: true, exercises: "Authorized caller, pathway mcp-agentbuilder → 200", expected: ALLOW },
  { name: "dev", displayName: "Dev Raman", oid: oid(4), upn: "dev@contoso.example", groups: [KB_GROUP], upnInV2: true, exercises: "Authorized caller, pathway api-direct (row says Fail-closed) → 200", expected: ALLOW },
  {
    name: "emma",
    displayName: "Emma Novak",
    oid: oid(5),
    upn: "emma@contoso.example",
    groups: [STAFF_GROUP, KB_GROUP],
    upnInV2: true,
    exercises: "Authorized caller, pathway metered, in eligible cohort (Allow) → 200",
    expected: ALLOW,
  },
  { name: "farah", displayName: "Farah Haddad", oid: oid(6), upn: "farah@contoso.example", groups: [KB_GROUP], upnInV2: true, exercises: "Authorized caller, pathway metered, Allow - Eligibility N/A → 200", expected: ALLOW },
  { name: "gus", displayName: "Gus Almeida", oid: oid(7), upn: "gus@contoso.example", groups: [KB_GROUP], upnInV2: true, exercises: "Authorized caller, pathway metered, Fail-open - Anomaly → 200 with anomaly", expected: ALLOW_ANOMALY },
  {
    // The quote makes the UPN an OData literal that must be escaped ('') and URL-encoded; the row
    // is a Block, so a lookup that lost the row (and allowed with an anomaly) is caught.
    name: "liam",
    displayName: "Liam O'Brien",
    oid: oid(8),
    upn: "liam.o'brien@contoso.example",
    groups: [STAFF_GROUP, KB_GROUP],
    upnInV2: true,
    exercises: "Authorized caller, pathway metered, in no eligible cohort (Block) → 403 NotInEligibleCohort",
    expected: deny(403, "NotInEligibleCohort"),
  },
  {
    name: "hana",
    displayName: "Hana Sato",
    oid: oid(9),
    upn: "hana@contoso.example",
    groups: [KB_GROUP],
    upnInV2: true,
    exercises: "Authorized caller, pathway metered, Fail-closed - Zero-rating Unresolved → 403 NotInEligibleCohort",
    expected: deny(403, "NotInEligibleCohort"),
  },
  { name: "ivan", displayName: "Ivan Petrov", oid: oid(10), upn: "ivan@contoso.example", groups: [KB_GROUP], upnInV2: true, exercises: "Pathway unmapped → 200 with anomaly", expected: ALLOW_ANOMALY },
  { name: "jade", displayName: "Jade Nguyen", oid: oid(11), upn: "jade@contoso.example", groups: [KB_GROUP], upnInV2: true, exercises: "Pathway unknown (row with null fsi_pathway) → 200 with anomaly", expected: ALLOW_ANOMALY },
  {
    name: "kofi",
    displayName: "Kofi Mensah",
    oid: oid(12),
    upn: "kofi@contoso.example",
    groups: [KB_GROUP],
    upnInV2: true,
    exercises: "Pathway unknown (only row expired: fsi_ttlexpiresat passed; it says metered Block) → 200 with anomaly",
    expected: ALLOW_ANOMALY,
  },
  { name: "mia", displayName: "Mia Rossi", oid: oid(13), upn: "mia@contoso.example", groups: [KB_GROUP], upnInV2: true, exercises: "Pathway unknown (no entitlement row) → 200 with anomaly", expected: ALLOW_ANOMALY },
  {
    // Has an Allow row: the audience gate must come before the entitlement read.
    name: "noah",
    displayName: "Noah Fischer",
    oid: oid(14),
    upn: "noah@contoso.example",
    groups: [STAFF_GROUP, VIEWERS_GROUP],
    upnInV2: true,
    exercises: "Caller not in audience / Viewers group → 403 OutOfPolicyAudience",
    expected: deny(403, "OutOfPolicyAudience"),
    alsoExercises: [{ agentId: HR_AGENT, exercises: "Caller not in audience → 403 OutOfPolicyAudience", expected: deny(403, "OutOfPolicyAudience") }],
  },
  {
    name: "olga",
    displayName: "Olga Ivanova",
    oid: oid(15),
    upn: "olga@contoso.example",
    groups: [...manyGroups(239), KB_GROUP],
    upnInV2: true,
    exercises: "Groups overage, fallback off → 403 OutOfPolicyAudience",
    expected: deny(403, "OutOfPolicyAudience"),
    graphFallback: false,
    alsoExercises: [
      { agentId: KB_AGENT, exercises: "Groups overage, fallback on, member (then metered Allow) → 200", expected: ALLOW, graphFallback: true },
      { agentId: HR_AGENT, exercises: "Groups overage, fallback on, not a member → 403 OutOfPolicyAudience", expected: deny(403, "OutOfPolicyAudience"), graphFallback: true },
    ],
  },
  {
    // Their API registration has no `upn` optional claim: v2 tokens carry only preferred_username.
    name: "pat",
    displayName: "Pat Kowalski",
    oid: oid(16),
    upn: "pat@contoso.example",
    groups: [KB_GROUP],
    upnInV2: false,
    exercises: "Valid token without upn (v2 token; preferred_username must not stand in) → 401 MissingRequiredClaim",
    expected: deny(401, "MissingRequiredClaim"),
    tokenVersion: "v2",
    alsoExercises: [{ agentId: KB_AGENT, exercises: "Same caller with a v1 token (upn present), pathway none → 200", expected: ALLOW, tokenVersion: "v1" }],
  },
];

const cr = (n: number) => `c0a1c000-0000-4000-b000-${n.toString(16).padStart(12, "0")}`;
export const COMPLIANCE_ROWS: ComplianceRow[] = AGENTS.map((a, i) => ({ fsi_caicompliancestateid: cr(i + 1), fsi_agentid: a.id, fsi_risklevel: a.riskLevel }));

const er = (n: number) => `e0b2e000-0000-4000-b000-${n.toString(16).padStart(12, "0")}`;
function ent(n: number, upn: string, pathway: number | null, decision: number | null, reason: number | null = null, ttl: string = VALID_UNTIL): EntitlementRow {
  return { fsi_cbgentitlementmaterializedid: er(n), fsi_agentid: KB_AGENT, fsi_userupn: upn, fsi_pathway: pathway, fsi_decision: decision, fsi_decisionreason: reason, fsi_ttlexpiresat: ttl };
}

export const ENTITLEMENT_ROWS: EntitlementRow[] = [
  ent(1, "alice@contoso.example", Pathway.none, Decision.Block, BlockReason["No eligible cohort"]),
  ent(2, "ben@contoso.example", Pathway["mcp-cs"], Decision.Allow),
  ent(3, "chloe@contoso.example", Pathway["mcp-agentbuilder"], Decision.Allow),
  ent(4, "dev@contoso.example", Pathway["api-direct"], Decision["Fail-closed - Zero-rating Unresolved"], BlockReason["Zero-rating unresolved - fail-closed"]),
  ent(5, "emma@contoso.example", Pathway.metered, Decision.Allow),
  ent(6, "farah@contoso.example", Pathway.metered, Decision["Allow - Eligibility N/A"]),
  ent(7, "gus@contoso.example", Pathway.metered, Decision["Fail-open - Anomaly"]),
  ent(8, "liam.o'brien@contoso.example", Pathway.metered, Decision.Block, BlockReason["No eligible cohort"]),
  ent(9, "hana@contoso.example", Pathway.metered, Decision["Fail-closed - Zero-rating Unresolved"], BlockReason["Zero-rating unresolved - fail-closed"]),
  ent(10, "ivan@contoso.example", Pathway.unmapped, Decision.Allow, null),
  ent(11, "jade@contoso.example", null, null),
  ent(12, "kofi@contoso.example", Pathway.metered, Decision.Block, BlockReason["No eligible cohort"], EXPIRED_AT),
  ent(13, "noah@contoso.example", Pathway.metered, Decision.Allow),
  ent(14, "olga@contoso.example", Pathway.metered, Decision.Allow),
  ent(15, "pat@contoso.example", Pathway.none, Decision.Allow),
  // mia has no row on purpose.
];

export interface GovernanceSeed {
  personas: Persona[];
  agents: Agent[];
  compliance: ComplianceRow[];
  entitlements: EntitlementRow[];
}

/** A fresh deep copy of the seed (each running sandbox may change its own copy). */
export function governanceSeed(): GovernanceSeed {
  return structuredClone({ personas: PERSONAS, agents: AGENTS, compliance: COMPLIANCE_ROWS, entitlements: ENTITLEMENT_ROWS });
}

export function findPersona(personas: Persona[], name: string): Persona | undefined {
  const n = name.toLowerCase();
  return personas.find((p) => p.name === n || p.upn.toLowerCase() === n);
}

/** True when Entra would send the overage indicator instead of a `groups` claim. */
export function hasOverage(p: Persona): boolean {
  return p.groups.length > GROUPS_OVERAGE_LIMIT;
}
