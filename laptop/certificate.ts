// The laptop's TLS identity for the phone's wss:// leg: a certificate (and a CA of its own) made once and
// kept in the config folder, so the phone trusts it once. The pairing link carries its SPKI
// fingerprint, which is what the phone (and a test's Chromium) pins.
//
// The CA is what an iPhone may be told to trust fully, so it is made as harmless as a CA can be:
// name-constrained (RFC 5280 nameConstraints, critical) to private and link-local addresses and to
// `localhost` and `.local` names, so it cannot vouch for any site on the internet even if its key
// leaked; and its private key is thrown away once it has signed the laptop's certificate, so there
// is no key to leak (a new certificate means a new CA, trusted again). The CA is made with
// @peculiar/x509, since `selfsigned` drops extensions it does not know.
import { createHash, randomBytes, webcrypto, X509Certificate } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import { generate } from "selfsigned";
import { tryParseIpv4 } from "../protocol/ip.js";
import { readFileNoFollow, writeFileSafely } from "./safe-write.js";

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

/** Root reads these in a folder the user owns: never through a planted link. */
const readIfExists = readFileNoFollow;

/** IPv4 networks the CA may vouch for: RFC 1918, link-local, loopback. */
export const CA_PERMITTED_IPV4 = [
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "169.254.0.0/16",
  "127.0.0.0/8",
];
/** IPv6 networks the CA may vouch for: unique local and link-local. */
const CA_PERMITTED_IPV6: readonly { network: number[]; length: number }[] = [
  { network: [0xfc], length: 7 },
  { network: [0xfe, 0x80], length: 10 },
];
/** DNS names the CA may vouch for (each with every name below it). */
export const CA_PERMITTED_DNS = ["localhost", "local"];

const NAME_CONSTRAINTS_OID = "2.5.29.30";

function der(tag: number, content: Uint8Array): Uint8Array {
  const length = content.length;
  const head =
    length < 0x80
      ? [tag, length]
      : length < 0x100
        ? [tag, 0x81, length]
        : [tag, 0x82, length >> 8, length & 0xff];
  const out = new Uint8Array(head.length + length);
  out.set(head);
  out.set(content, head.length);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function maskBytes(length: number, bytes: number): number[] {
  return Array.from({ length: bytes }, (_, i) => {
    const bits = Math.max(0, Math.min(8, length - 8 * i));
    return (0xff00 >> bits) & 0xff;
  });
}

/**
 * The DER of a nameConstraints extension's value permitting only the ranges above:
 * NameConstraints ::= SEQUENCE { permittedSubtrees [0] SEQUENCE OF GeneralSubtree }, each
 * GeneralSubtree a SEQUENCE holding one GeneralName: iPAddress [7] (address then mask) or
 * dNSName [2].
 */
export function nameConstraintsValue(): Uint8Array {
  const subtrees: Uint8Array[] = [];
  for (const cidr of CA_PERMITTED_IPV4) {
    const [address = "", length = "32"] = cidr.split("/");
    const value = tryParseIpv4(address) ?? 0;
    const octets = [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
    subtrees.push(der(0x30, der(0x87, Uint8Array.from([...octets, ...maskBytes(Number(length), 4)]))));
  }
  for (const { network, length } of CA_PERMITTED_IPV6) {
    const address = [...network, ...new Array<number>(16 - network.length).fill(0)];
    subtrees.push(der(0x30, der(0x87, Uint8Array.from([...address, ...maskBytes(length, 16)]))));
  }
  for (const name of CA_PERMITTED_DNS) subtrees.push(der(0x30, der(0x82, new TextEncoder().encode(name))));
  return der(0x30, der(0xa0, concat(subtrees)));
}

/** Whether the CA may vouch for this address (the certificate names only those). */
export function caMayName(address: string): boolean {
  const value = tryParseIpv4(address);
  if (value === undefined) return false;
  return CA_PERMITTED_IPV4.some((cidr) => {
    const [network = "", length = "32"] = cidr.split("/");
    const mask = (0xffffffff << (32 - Number(length))) >>> 0;
    return (value & mask) >>> 0 === (tryParseIpv4(network) ?? -1);
  });
}

const EC_P256 = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

function pem(label: string, bytes: ArrayBuffer): string {
  const body = Buffer.from(bytes)
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .trimEnd();
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

/** A name-constrained CA, with its key: the caller signs one certificate and drops the key. */
export async function createCertificateAuthority(name: string): Promise<{ cert: string; key: string }> {
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const keys = (await webcrypto.subtle.generateKey(EC_P256, true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
  const { notBeforeDate, notAfterDate } = validity();
  const serial = randomBytes(16);
  serial[0]! &= 0x7f; // a positive INTEGER
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString("hex"),
    name: `CN=Tether ${name} CA`,
    notBefore: notBeforeDate,
    notAfter: notAfterDate,
    signingAlgorithm: EC_P256,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.Extension(NAME_CONSTRAINTS_OID, true, nameConstraintsValue()),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    cert: cert.toString("pem"),
    key: pem("PRIVATE KEY", await webcrypto.subtle.exportKey("pkcs8", keys.privateKey)),
  };
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
  // A CA key an earlier version kept: the certificate it signed stays, the key goes.
  await rm(paths.caKey, { force: true });
  if (cert && key) return { cert, key, caCert, spkiSha256: spkiFingerprint(cert), dir };

  const ca = await createCertificateAuthority(name);
  const leaf = await generate([{ name: "commonName", value: `Tether ${name}` }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    ...validity(),
    ca: { key: ca.key, cert: ca.cert },
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        // Only names the CA may vouch for: one it may not would make the phone refuse the lot.
        altNames: [
          { type: 2, value: "localhost" },
          ...addresses.filter(caMayName).map((ip) => ({ type: 7 as const, ip })),
        ],
      },
    ],
  });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileSafely(paths.caCert, ca.cert, 0o644);
  await writeFileSafely(paths.key, leaf.private, 0o600);
  await writeFileSafely(paths.cert, leaf.cert, 0o644);
  return { cert: leaf.cert, key: leaf.private, caCert: ca.cert, spkiSha256: spkiFingerprint(leaf.cert), dir };
}

/** What the TLS server sends: the certificate, then the CA that signed it (when there is one). */
export function certificateChain(certificate: Certificate): string {
  return certificate.caCert ? `${certificate.cert.trim()}\n${certificate.caCert.trim()}\n` : certificate.cert;
}
