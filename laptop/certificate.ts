// The laptop's TLS identity for the phone's wss:// leg: a self-signed certificate made once and
// kept in the config folder, so the phone trusts it once. The pairing link carries its SPKI
// fingerprint, which is what the phone (and a test's Chromium) pins.
import { createHash, X509Certificate } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { generate } from "selfsigned";

/** How long the certificate is valid: long, since re-trusting it on the phone is a chore. */
const VALIDITY_DAYS = 825;

export interface Certificate {
  cert: string;
  key: string;
  /** base64 SHA-256 of the certificate's SubjectPublicKeyInfo (what Chromium's SPKI pins use). */
  spkiSha256: string;
  /** Folder the files are in. */
  dir: string;
}

export function spkiFingerprint(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(spki).digest("base64");
}

/** Loads the certificate `${name}-cert.pem` from `dir`, making it first if there is none. */
export async function loadOrCreateCertificate(
  dir: string,
  addresses: string[],
  name = "laptop",
): Promise<Certificate> {
  const certPath = join(dir, `${name}-cert.pem`);
  const keyPath = join(dir, `${name}-key.pem`);
  try {
    const [cert, key] = await Promise.all([readFile(certPath, "utf8"), readFile(keyPath, "utf8")]);
    return { cert, key, spkiSha256: spkiFingerprint(cert), dir };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const now = new Date();
  const generated = await generate([{ name: "commonName", value: `Tether ${name}` }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    notBeforeDate: new Date(now.getTime() - 60_000),
    notAfterDate: new Date(now.getTime() + VALIDITY_DAYS * 86_400_000),
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
  await writeFile(keyPath, generated.private, { mode: 0o600 });
  await writeFile(certPath, generated.cert, { mode: 0o644 });
  return { cert: generated.cert, key: generated.private, spkiSha256: spkiFingerprint(generated.cert), dir };
}
