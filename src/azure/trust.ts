import { readFileSync } from "node:fs";
import tls from "node:tls";
import { ConfigError } from "../errors.js";

const trusted = new Set<string>();

/**
 * Adds a PEM bundle to the CAs every TLS connection of this process trusts. The sandbox (and some
 * corporate proxies) use their own CA; NODE_EXTRA_CA_CERTS would need a restart to take effect.
 */
export function trustCaFile(caFile: string): void {
  if (trusted.has(caFile)) return;
  let pem: string;
  try {
    pem = readFileSync(caFile, "utf8");
  } catch {
    throw new ConfigError([`cloud.caFile: cannot read ${caFile}`], "Point it at a PEM file of CA certificates.");
  }
  tls.setDefaultCACertificates([...tls.getCACertificates("default"), pem]);
  trusted.add(caFile);
}
