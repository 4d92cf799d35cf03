import type { TokenCredential } from "@azure/core-auth";
import { RequestCounter } from "./arm.js";
import type { CloudProfile } from "./cloud.js";
import { ServiceClient, type RetryOptions } from "./service-pipeline.js";

export const MICROSOFT_GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000";
/** Directory roles that may consent to Microsoft Graph application permissions. */
export const PRIVILEGED_ROLE_ADMINISTRATOR = "e8611ab8-c189-46e8-94e1-60213ab1f814";
export const GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10";

export interface ServicePrincipal {
  id: string;
  appId: string;
  displayName?: string;
  servicePrincipalType?: string;
  appRoles?: Array<{ id: string; value: string; allowedMemberTypes: string[]; isEnabled?: boolean }>;
}

export interface AppRoleAssignment {
  id: string;
  appRoleId: string;
  principalId: string;
  resourceId: string;
}

export interface DirectoryGroup {
  id: string;
  displayName: string;
  description?: string | null;
}

/** The Microsoft Graph calls aeg makes, typed. */
export class GraphClient {
  private readonly service: ServiceClient;

  constructor(cloud: CloudProfile, credential: TokenCredential, counter?: RequestCounter, retry?: Partial<RetryOptions>) {
    this.service = new ServiceClient(`${cloud.graph}/v1.0`, credential, `${cloud.graphAudience}/.default`, counter, retry);
  }

  get counter(): RequestCounter {
    return this.service.counter;
  }

  async servicePrincipal(objectId: string): Promise<ServicePrincipal> {
    return (await this.service.send("GET", `/servicePrincipals/${objectId}?$select=id,appId,displayName,servicePrincipalType`)).body as ServicePrincipal;
  }

  async servicePrincipalByAppId(appId: string): Promise<ServicePrincipal> {
    return (await this.service.send("GET", `/servicePrincipals(appId='${appId}')?$select=id,appId,displayName,appRoles`)).body as ServicePrincipal;
  }

  /** What the principal was granted (the principal's side lists grants; appRoleAssignedTo lists grants on a resource). */
  async appRoleAssignments(principalId: string): Promise<AppRoleAssignment[]> {
    return ((await this.service.send("GET", `/servicePrincipals/${principalId}/appRoleAssignments`)).body as { value: AppRoleAssignment[] }).value;
  }

  async assignAppRole(resourceId: string, principalId: string, appRoleId: string): Promise<void> {
    await this.service.send("POST", `/servicePrincipals/${resourceId}/appRoleAssignedTo`, { principalId, resourceId, appRoleId });
  }

  async removeAppRoleAssignment(resourceId: string, assignmentId: string): Promise<void> {
    await this.service.send("DELETE", `/servicePrincipals/${resourceId}/appRoleAssignedTo/${assignmentId}`);
  }

  /** Groups whose name has a word starting with `text` (Graph's tokenized `$search`; needs ConsistencyLevel: eventual). */
  async searchGroups(text: string, top = 25): Promise<DirectoryGroup[]> {
    const term = text.replace(/["\\]/g, " ").trim();
    const query = `$search=${encodeURIComponent(`"displayName:${term}"`)}&$select=id,displayName,description&$top=${top}`;
    return ((await this.service.send("GET", `/groups?${query}`, undefined, { ConsistencyLevel: "eventual" })).body as { value: DirectoryGroup[] }).value;
  }

  async group(id: string): Promise<DirectoryGroup> {
    return (await this.service.send("GET", `/groups/${encodeURIComponent(id)}?$select=id,displayName,description`)).body as DirectoryGroup;
  }

  /** Directory roles (template ids) the caller holds, directly or through groups. */
  async directoryRoleTemplates(objectId: string, kind: "app" | "user"): Promise<string[]> {
    const owner = kind === "app" ? "servicePrincipals" : "users";
    const res = await this.service.send("GET", `/${owner}/${objectId}/transitiveMemberOf/microsoft.graph.directoryRole?$select=id,displayName,roleTemplateId`);
    return ((res.body as { value: Array<{ roleTemplateId: string }> }).value ?? []).map((r) => r.roleTemplateId.toLowerCase());
  }
}
