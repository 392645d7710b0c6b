// The trust files a phone's browser fetches from the laptop: the page that says the certificate is
// trusted (and links back to the app), and the certificate as an iOS profile and as a file.
import { X509Certificate } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Certificate, loadOrCreateCertificate } from "./certificate.js";
import {
  CERTIFICATE_PATH,
  mobileconfig,
  PROFILE_CONTENT_TYPE,
  PROFILE_PATH,
  trustFiles,
  trustPage,
} from "./trust-page.js";

const UUID = /^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/;

let dir: string;
let certificate: Certificate;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tether-trust-page-test-"));
  certificate = await loadOrCreateCertificate(dir, ["192.168.43.2"]);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The value after <key>name</key> in the first payload dict. */
function plistValue(xml: string, key: string, index = 0): string | undefined {
  const matches = [...xml.matchAll(new RegExp(`<key>${key}</key>\\s*<(string|data)>([^<]*)</\\1>`, "g"))];
  return matches[index]?.[2]?.trim();
}

describe("the laptop's trust files", () => {
  it("puts the very certificate the laptop serves into the iOS profile as a root payload", () => {
    const profile = mobileconfig(certificate.cert);
    expect(profile).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<!DOCTYPE plist/);
    expect(plistValue(profile, "PayloadType", 0)).toBe("com.apple.security.root");
    expect(plistValue(profile, "PayloadType", 1)).toBe("Configuration");
    const der = Buffer.from(plistValue(profile, "PayloadContent")!.replace(/\s+/g, ""), "base64");
    const inProfile = new X509Certificate(der);
    expect(inProfile.fingerprint256).toBe(new X509Certificate(certificate.cert).fingerprint256);
  });

  it("gives the profile stable, well-formed and distinct UUIDs, so a second download replaces the first", () => {
    const first = mobileconfig(certificate.cert);
    expect(mobileconfig(certificate.cert)).toBe(first);
    const payload = plistValue(first, "PayloadUUID", 0)!;
    const profile = plistValue(first, "PayloadUUID", 1)!;
    expect(payload).toMatch(UUID);
    expect(profile).toMatch(UUID);
    expect(payload).not.toBe(profile);
  });

  it("links the trust page back to the app's origin, escaped", () => {
    const page = trustPage("https://exit.example:8443");
    expect(page).toContain("Certificate trusted");
    expect(page).toContain('href="https://exit.example:8443/"');
    expect(page).toContain(`href="${PROFILE_PATH}"`);
    expect(trustPage('https://x"><script>')).not.toContain("<script>");
  });

  it("serves the page, the profile with the type iOS installs, and the certificate as DER", () => {
    const files = trustFiles(certificate.cert, "https://exit.example:8443");
    expect([...files.keys()].sort()).toEqual(["/", CERTIFICATE_PATH, PROFILE_PATH].sort());
    expect(files.get("/")?.contentType).toBe("text/html; charset=utf-8");
    expect(files.get(PROFILE_PATH)?.contentType).toBe(PROFILE_CONTENT_TYPE);
    const der = files.get(CERTIFICATE_PATH)?.body as Buffer;
    expect(new X509Certificate(der).subject).toContain("Tether laptop");
  });
});
