// The governance stand-ins' slots in the tenant document. Declared here, beside the code that
// seeds and reads them, so store.ts (the ground floor) names no service and imports none.
import type { TableDef } from "./dataverse-tables-meta.js";
import type { DataverseIdentityState } from "./dataverse-identity-state.js";
import type { GraphDirectoryState } from "./graph-directory-state.js";

declare module "../store.js" {
  interface TenantState {
    /** Dataverse users, business units, roles, table metadata and bots; seeded on first use. */
    dataverseIdentity?: DataverseIdentityState;
    /** Graph service principals' app-role assignments and directory roles; seeded on first use. */
    graphDirectory?: GraphDirectoryState;
    /** Custom Dataverse tables (metadata and rows), keyed by logical name. */
    dataverseTables?: Record<string, TableDef>;
  }
}
