// Keys and certificates the sandbox persists in its state directory: a CA (so clients can trust
// the sandbox once per state directory), the TLS server certificate it issues for 127.0.0.1 and
// localhost, and the RS256 key that signs Entra tokens.
import fs from "node:fs";
import path from "node:path";
import { webcrypto, randomBytes } from "node:crypto";
// @peculiar/x509 uses tsyringe, which needs the Reflect metadata polyfill loaded first.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { exportJWK, generateKeyPair, importJWK, calculateJwkThumbprint, type JWK } from "jose";
import { writeAtomic } from "./state-dir.js";

x509.cryptoProvider.set(webcrypto as never);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const EC = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY = 86_400_000;

export const CA_CERT_FILE = "ca.pem";
export const CA_KEY_FILE = "ca.key.pem";
export const SERVER_CERT_FILE = "server.pem";
export const SERVER_KEY_FILE = "server.key.pem";
export const SIGNING_KEY_FILE = "signing-key.json";

export interface Pki {
  caFile: string;
  caPem: string;
  tls: { key: string; cert: string };
  signing: { privateKey: CryptoKey; publicJwk: JWK & { kid: string } };
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString("base64").replace(/(.{64})/g, "$1\n").trim();
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

function derOf(pemText: string): Buffer {
  return Buffer.from(pemText.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
}

const serial = () => "01" + randomBytes(15).toString("hex"); // positive, 16 bytes

async function loadOrCreateCa(dir: string): Promise<{ cert: x509.X509Certificate; key: CryptoKey; pem: string }> {
  const certFile = path.join(dir, CA_CERT_FILE);
  const keyFile = path.join(dir, CA_KEY_FILE);
  if (fs.existsSync(certFile) && fs.existsSync(keyFile)) {
    const certPem = fs.readFileSync(certFile, "utf8");
    const key = await webcrypto.subtle.importKey("pkcs8", derOf(fs.readFileSync(keyFile, "utf8")), EC, false, ["sign"]);
    return { cert: new x509.X509Certificate(certPem), key: key as CryptoKey, pem: certPem };
  }
  const keys = (await webcrypto.subtle.generateKey(EC, true, ["sign", "verify"])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=aeg sandbox CA ${randomBytes(4).toString("hex")}, O=aeg sandbox`,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + 3650 * DAY),
    keys,
    signingAlgorithm: EC,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const certPem = cert.toString("pem") + "\n";
  writeAtomic(keyFile, pem("PRIVATE KEY", await webcrypto.subtle.exportKey("pkcs8", keys.privateKey)));
  writeAtomic(certFile, certPem);
  return { cert, key: keys.privateKey, pem: certPem };
}

async function loadOrCreateServerCert(dir: string, ca: { cert: x509.X509Certificate; key: CryptoKey }): Promise<{ key: string; cert: string }> {
  const certFile = path.join(dir, SERVER_CERT_FILE);
  const keyFile = path.join(dir, SERVER_KEY_FILE);
  if (fs.existsSync(certFile) && fs.existsSync(keyFile)) {
    const cert = fs.readFileSync(certFile, "utf8");
    const parsed = new x509.X509Certificate(cert);
    // Reissue a month before expiry, or if the CA was replaced underneath it.
    if (parsed.notAfter.getTime() - Date.now() > 30 * DAY && parsed.issuer === ca.cert.subject) {
      return { key: fs.readFileSync(keyFile, "utf8"), cert };
    }
  }
  const keys = (await webcrypto.subtle.generateKey(EC, true, ["sign", "verify"])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: "CN=127.0.0.1",
    issuer: ca.cert.subject,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + 365 * DAY),
    signingKey: ca.key,
    publicKey: keys.publicKey,
    signingAlgorithm: EC,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: "ip", value: "127.0.0.1" },
        { type: "dns", value: "localhost" },
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  const keyPem = pem("PRIVATE KEY", await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  const certPem = cert.toString("pem") + "\n";
  writeAtomic(keyFile, keyPem);
  writeAtomic(certFile, certPem);
  return { key: keyPem, cert: certPem };
}

async function loadOrCreateSigningKey(dir: string): Promise<Pki["signing"]> {
  const file = path.join(dir, SIGNING_KEY_FILE);
  let jwk: JWK;
  if (fs.existsSync(file)) jwk = JSON.parse(fs.readFileSync(file, "utf8")) as JWK;
  else {
    const { privateKey } = await generateKeyPair("RS256", { extractable: true, modulusLength: 2048 });
    jwk = await exportJWK(privateKey);
    // Entra key ids are opaque strings; the thumbprint is stable and unique.
    jwk.kid = await calculateJwkThumbprint(jwk);
    writeAtomic(file, JSON.stringify(jwk));
  }
  const privateKey = (await importJWK({ ...jwk, alg: "RS256" }, "RS256")) as CryptoKey;
  const { kty, n, e, kid } = jwk;
  return { privateKey, publicJwk: { kty, n, e, kid: kid!, use: "sig", alg: "RS256" } };
}

export async function loadPki(dir: string): Promise<Pki> {
  const ca = await loadOrCreateCa(dir);
  const tls = await loadOrCreateServerCert(dir, ca);
  const signing = await loadOrCreateSigningKey(dir);
  return { caFile: path.join(dir, CA_CERT_FILE), caPem: ca.pem, tls, signing };
}
