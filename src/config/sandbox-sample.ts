/**
 * The configuration used with --sandbox when no aeg.yaml exists: a small but complete gateway with
 * two agents, so every step has something real to do. Tenant, subscription and endpoints are filled
 * in from the running sandbox.
 */
export function sandboxSampleConfig(): Record<string, unknown> {
  return {
    resourceGroup: "rg-aeg-sandbox",
    location: "westeurope",
    apim: {
      name: "apim-aeg-sandbox",
      sku: "Developer",
      publisherName: "AEG Sandbox",
      publisherEmail: "governance@example.com",
    },
    gateway: {
      audiences: ["api://agent-eligibility-gateway", "5d9a4f6e-0c1b-4d7a-9b38-2f1e6c7a8b90"],
      policyVersion: "2026.06.09",
      channel: "custom-web",
      apiPath: "agents",
      backendUrl: "https://agents.example.com/api",
    },
    agents: [
      { id: "contoso-kb-assistant", audienceGroupId: "11111111-2222-3333-4444-555555555555", schemaName: "contoso_kbAssistant" },
      { id: "contoso-hr-helper", audienceGroupId: "66666666-7777-8888-9999-000000000000", schemaName: "contoso_hrHelper" },
    ],
    telemetry: { namespace: "ehns-aeg-sandbox", eventHub: "aeg-decisions" },
    dataverse: { url: "https://org-aeg-sandbox.crm.dynamics.com" },
  };
}
