// The laptop's CA as a phone told to trust it fully would see it, checked by openssl itself.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generate } from "selfsigned";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { caMayName, createCertificateAuthority, loadOrCreateCertificate } from "./certificate.js";

const hasOpenssl = spawnSync("openssl", ["version"]).status === 0;

/** `openssl verify` of `leaf` against `ca` alone: its last line ("...: OK" or the error). */
function verify(dir: string, ca: string, leaf: string): string {
  const result = spawnSync("openssl", ["verify", "-CAfile", join(dir, ca), join(dir, leaf)], {
    encoding: "utf8",
  });
  return `${result.stdout}${result.stderr}`.trim();
}

describe.skipIf(!hasOpenssl)("the laptop's CA (needs openssl)", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "tether-cert-"));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("signs the laptop's certificate, is name-constrained to private names, and keeps no key", async () => {
    const made = await loadOrCreateCertificate(dir, ["192.168.43.2", "203.0.113.5"]);
    expect(existsSync(join(dir, "laptop-ca-key.pem"))).toBe(false);
    expect(verify(dir, "laptop-ca-cert.pem", "laptop-cert.pem")).toMatch(/: OK$/);
    const ca = execFileSync("openssl", ["x509", "-in", join(dir, "laptop-ca-cert.pem"), "-noout", "-text"], {
      encoding: "utf8",
    });
    expect(ca).toMatch(/X509v3 Name Constraints: critical/);
    for (const permitted of [
      "IP:10.0.0.0/255.0.0.0",
      "IP:172.16.0.0/255.240.0.0",
      "IP:192.168.0.0/255.255.0.0",
      "IP:169.254.0.0/255.255.0.0",
      "IP:127.0.0.0/255.0.0.0",
      "IP:FC00:0:0:0:0:0:0:0/FE00:0:0:0:0:0:0:0",
      "IP:FE80:0:0:0:0:0:0:0/FFC0:0:0:0:0:0:0:0",
      "DNS:localhost",
      "DNS:local",
    ]) {
      expect(ca).toContain(permitted);
    }
    const leaf = execFileSync(
      "openssl",
      ["x509", "-in", join(dir, "laptop-cert.pem"), "-noout", "-ext", "subjectAltName"],
      {
        encoding: "utf8",
      },
    );
    expect(leaf).toContain("IP Address:192.168.43.2");
    expect(leaf).not.toContain("203.0.113.5"); // a public address the CA may not name is left out
    expect(made.caCert).toBe(await readFile(join(dir, "laptop-ca-cert.pem"), "utf8"));
  });

  it("cannot vouch for a site on the internet even with its key", async () => {
    const ca = await createCertificateAuthority("test");
    await writeFile(join(dir, "ca.pem"), ca.cert);
    for (const [file, altNames] of [
      ["public-dns.pem", [{ type: 2 as const, value: "bank.example" }]],
      ["public-ip.pem", [{ type: 7 as const, ip: "8.8.8.8" }]],
      [
        "private-ip.pem",
        [
          { type: 7 as const, ip: "10.1.2.3" },
          { type: 2 as const, value: "laptop.local" },
        ],
      ],
    ] as const) {
      const leaf = await generate([{ name: "commonName", value: "leaf" }], {
        keyType: "ec",
        curve: "P-256",
        algorithm: "sha256",
        ca: { key: ca.key, cert: ca.cert },
        extensions: [
          { name: "basicConstraints", cA: false },
          { name: "subjectAltName", altNames: [...altNames] },
        ],
      });
      await writeFile(join(dir, file), leaf.cert);
    }
    expect(verify(dir, "ca.pem", "public-dns.pem")).toMatch(/permitted subtree violation/);
    expect(verify(dir, "ca.pem", "public-ip.pem")).toMatch(/permitted subtree violation/);
    expect(verify(dir, "ca.pem", "private-ip.pem")).toMatch(/: OK$/);
  });

  it("removes a CA key an earlier version left, keeping the certificate it signed", async () => {
    const first = await loadOrCreateCertificate(dir, ["192.168.43.2"]);
    await writeFile(join(dir, "laptop-ca-key.pem"), "an old CA key\n");
    const again = await loadOrCreateCertificate(dir, ["192.168.43.2"]);
    expect(again.spkiSha256).toBe(first.spkiSha256);
    expect(existsSync(join(dir, "laptop-ca-key.pem"))).toBe(false);
  });
});

describe("the names the CA may vouch for", () => {
  it.each([
    ["192.168.43.2", true],
    ["10.9.8.7", true],
    ["172.20.10.2", true],
    ["169.254.1.1", true],
    ["172.32.0.1", false],
    ["203.0.113.5", false],
    ["fe80::1", false],
  ])("%s: %s", (address, expected) => {
    expect(caMayName(address)).toBe(expected);
  });
});
