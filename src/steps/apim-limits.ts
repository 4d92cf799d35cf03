// What one APIM instance holds, by tier, so that a configuration that would cross a limit is
// blocked while planning instead of failing half-way through a run.
//
// Sources (read 2026-12):
// - Instance limits: learn.microsoft.com/azure/api-management/service-limits ("Changes to service
//   limits - 2026 update", rolled out March to May 2026) and the announcement on Tech Community
//   ("New Azure API Management service limits", 2026-02-26). Operations are counted over every API
//   of the instance, versions and revisions included.
// - Operations per API: 100, listed for v2 tiers (2024) and classic tiers (2025) and dropped from
//   the 2026 table, yet still enforced: Microsoft Q&A 5859937 (Basic v2, April 2026) shows APIM's
//   400 `ValidationError` "You've reached the maximum number of Operations (100) in API". aeg keeps
//   to 100 on every tier and spreads agents over more APIs (api-shards.ts).
// - Policy document size: the limits page says 512 KiB (16 KiB on Consumption); older pages said
//   256 KiB and users report "Policy size exceeds allowed limit of 250 KB"
//   (github.com/microsoft/vscode-apimanagement/issues/230), so aeg keeps to 250 KiB. Consumption's
//   16 KiB: github.com/Azure/azure-api-management-devops-resource-kit/issues/159.
// - Policy fragment size: 32 KB on the English policy-fragments page (from the product group,
//   MicrosoftDocs/azure-docs pull 110092); some translations say 512 KB. aeg keeps to 32 KiB.

import type { Config } from "../config/schema.js";
import { blocked, type Change } from "../engine/change.js";
import { ExitCode } from "../errors.js";

export type ApimSku = Config["apim"]["sku"];

export interface ApimLimits {
  /** Named values per instance. */
  namedValues: number;
  /** Operations per instance, over all its APIs. */
  operations: number;
  /** Operations in one API. */
  operationsPerApi: number;
  /** Bytes of one API or operation policy document. */
  policyBytes: number;
  /** Bytes of one policy fragment. */
  fragmentBytes: number;
}

const KIB = 1024;
const POLICY = 250 * KIB;
const FRAGMENT = 32 * KIB;
const PER_API = 100;

const tier = (namedValues: number, operations: number, policyBytes = POLICY): ApimLimits => ({ namedValues, operations, operationsPerApi: PER_API, policyBytes, fragmentBytes: Math.min(FRAGMENT, policyBytes) });

export const APIM_LIMITS: Record<ApimSku, ApimLimits> = {
  Consumption: tier(5_000, 3_000, 16 * KIB),
  Developer: tier(5_000, 3_000),
  Basic: tier(5_000, 10_000),
  BasicV2: tier(5_000, 10_000),
  Standard: tier(10_000, 50_000),
  StandardV2: tier(10_000, 50_000),
  Premium: tier(18_000, 75_000),
  PremiumV2: tier(18_000, 75_000),
};

/** How many agents a tier holds when `globals` named values are aeg's own and `others` belong to someone else. */
export function agentsThatFit(limits: ApimLimits, perAgentNamedValues: number, globals: number, others: { namedValues: number; operations: number }): number {
  const byNamedValues = Math.floor((limits.namedValues - globals - others.namedValues) / perAgentNamedValues);
  const byOperations = limits.operations - others.operations;
  return Math.max(0, Math.min(byNamedValues, byOperations));
}

export function kib(bytes: number): string {
  return `${Math.round((bytes / KIB) * 10) / 10} KiB`;
}

/**
 * A policy document APIM would refuse for its size, as a blocked change; undefined when it fits.
 * Measured as the UTF-8 bytes aeg sends.
 */
export function oversizedPolicy(resource: string, value: string, sku: ApimSku, kind: "policy" | "fragment"): Change<never> | undefined {
  const limits = APIM_LIMITS[sku];
  const max = kind === "fragment" ? limits.fragmentBytes : limits.policyBytes;
  const size = Buffer.byteLength(value, "utf8");
  if (size <= max) return undefined;
  return blocked(
    resource,
    `templates: this ${kind === "fragment" ? "policy fragment" : "policy document"} is ${kib(size)}; the ${sku} tier of API Management accepts at most ${kib(max)}`,
    ExitCode.usage,
    sku === "Consumption" ? "Use another apim.sku (Consumption holds 16 KiB per policy), or shorten the template in templatesDir." : "Shorten the template in templatesDir.",
  );
}
