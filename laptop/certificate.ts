// The laptop's TLS identity for the phone's wss:// leg: a certificate (and a CA of its own) made once and
// kept in the config folder, so the phone trusts it once. The pairing link carries its SPKI
// fingerprint, which is what the phone (and a test's Chromium) pins.
import { createHash, X509Certificate } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { generate } from "selfsigned";

/** How long the certificate is valid: long, since re-trusting it on the phone is a chore. */
const VALIDITY_DAYS = 825;

export interface Certificate {
  /** PEM of the server certificate. */
  cert: string;
  key: string;
  /** PEM of the CA that signed it: what a phone installs to trust the laptop (iOS profile). */
  caCert: string | undefined;
  /** base64 SHA-256 of the certificate's SubjectPublicKeyInfo (what Chromium's SPKI pins use). */
  spkiSha256: string;
  /** Folder the files are in. */
  dir: string;
}

export function spkiFingerprint(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(spki).digest("base64");
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

function validity(): { notBeforeDate: Date; notAfterDate: Date } {
  const now = Date.now();
  return { notBeforeDate: new Date(now - 60_000), notAfterDate: new Date(now + VALIDITY_DAYS * 86_400_000) };
}

/**
 * Loads `${name}-cert.pem` (and the CA that signed it) from `dir`, making them first if there are
 * none. The certificate is signed by a small CA of its own, made beside it and never used for
 * anything else: iOS lets a user turn on full trust only for a CA, and the CA is what the phone's
 * profile installs. Certificates made before there was a CA are kept as they are (self-signed).
 */
export async function loadOrCreateCertificate(
  dir: string,
  addresses: string[],
  name = "laptop",
): Promise<Certificate> {
  const paths = {
    cert: join(dir, `${name}-cert.pem`),
    key: join(dir, `${name}-key.pem`),
    caCert: join(dir, `${name}-ca-cert.pem`),
    caKey: join(dir, `${name}-ca-key.pem`),
  };
  const [cert, key, caCert] = await Promise.all([
    readIfExists(paths.cert),
    readIfExists(paths.key),
    readIfExists(paths.caCert),
  ]);
  if (cert && key) return { cert, key, caCert, spkiSha256: spkiFingerprint(cert), dir };

  const ca = await generate([{ name: "commonName", value: `Tether ${name} CA` }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    ...validity(),
    extensions: [
      { name: "basicConstraints", cA: true, pathLenConstraint: 0, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const leaf = await generate([{ name: "commonName", value: `Tether ${name}` }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    ...validity(),
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [{ type: 2, value: "localhost" }, ...addresses.map((ip) => ({ type: 7 as const, ip }))],
      },
    ],
  });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(paths.caKey, ca.private, { mode: 0o600 });
  await writeFile(paths.caCert, ca.cert, { mode: 0o644 });
  await writeFile(paths.key, leaf.private, { mode: 0o600 });
  await writeFile(paths.cert, leaf.cert, { mode: 0o644 });
  return { cert: leaf.cert, key: leaf.private, caCert: ca.cert, spkiSha256: spkiFingerprint(leaf.cert), dir };
}

/** What the TLS server sends: the certificate, then the CA that signed it (when there is one). */
export function certificateChain(certificate: Certificate): string {
  return certificate.caCert ? `${certificate.cert.trim()}\n${certificate.caCert.trim()}\n` : certificate.cert;
}
