// A request that got no HTTP answer (connection reset, refused, timed out) after the clients' own
// retries is reported naming the step and the host, not as a bare "socket hang up".
import { createPipelineRequest, RestError } from "@azure/core-rest-pipeline";
import { describe, expect, it } from "vitest";
import { explainAzureError } from "../../src/azure/errors.js";
import { ExitCode, UserError } from "../../src/errors.js";

describe("explainAzureError: no answer at all", () => {
  it.each(["ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "REQUEST_SEND_ERROR"])("%s names the step and the host (exit 1, not 'unexpected')", (code) => {
    const request = createPipelineRequest({ url: "https://org.crm.dynamics.com/api/data/v9.2/roles" });
    const err = explainAzureError(new RestError("socket hang up", { code, request }), "dataverse-access", "System Administrator");
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).exitCode).toBe(ExitCode.unexpected);
    expect(err.message).toBe(`dataverse-access: the connection to org.crm.dynamics.com failed with no answer (${code}: socket hang up)`);
  });

  it("a plain Node error with a connection code is named too; other errors pass through", () => {
    const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
    expect(explainAzureError(reset, "api", "Contributor").message).toBe("api: the connection to the service failed with no answer (ECONNRESET: read ECONNRESET)");
    const bug = new TypeError("x is undefined");
    expect(explainAzureError(bug, "api", "Contributor")).toBe(bug);
  });

  it("an HTTP answer is still explained as one", () => {
    const request = createPipelineRequest({ url: "https://management.azure.com/x" });
    const err = explainAzureError(new RestError("busy", { code: "ServerBusy", statusCode: 503, request }), "apim", "Contributor");
    expect(err.message).toMatch(/^apim: Azure answered 503 ServerBusy/);
  });
});
