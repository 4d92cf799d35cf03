import { AggregateAuthenticationError, CredentialUnavailableError } from "@azure/identity";
import { RestError } from "@azure/core-rest-pipeline";
import { describe, expect, it } from "vitest";
import { explainAzureError } from "../../src/azure/errors.js";
import { PermissionError } from "../../src/errors.js";

describe("what Azure or the credential chain threw, as one user error", () => {
  it("DefaultAzureCredential with no usable link (the aggregate it throws) is exit 3 with how to sign in", () => {
    const err = explainAzureError(new AggregateAuthenticationError([new CredentialUnavailableError("Azure CLI could not be found.")], "ChainedTokenCredential authentication failed."), "init", "Reader");
    expect(err).toBeInstanceOf(PermissionError);
    expect(err).toMatchObject({ exitCode: 3, message: "init: no usable Azure credential (ChainedTokenCredential authentication failed.)", hint: expect.stringMatching(/az login/) });
  });

  it("a 403 names the role the step needs", () => {
    const err = explainAzureError(new RestError("denied", { statusCode: 403, code: "AuthorizationFailed" }), "remove-apim", "API Management Service Contributor");
    expect(err).toMatchObject({ exitCode: 3, hint: "This step needs API Management Service Contributor." });
  });
});
