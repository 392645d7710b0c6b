// What the laptop serves a phone's browser besides the relay socket: the pages that get its
// self-signed certificate trusted.
//   /                             "Certificate trusted": on Android the user reaches it by accepting
//                                 Chrome's warning once; it links back to the app. iOS steps too.
//   /tether-laptop.mobileconfig   the certificate as an iOS configuration profile (a root payload),
//                                 which Settings installs and Certificate Trust Settings enables.
//   /laptop.crt                   the certificate itself (DER), for anyone who installs it by hand.
// Pure: certificate and app origin in, responses out (phone-server.ts serves them).
import { createHash, X509Certificate } from "node:crypto";
import { PROFILE_PATH } from "../protocol/paths.js";

export { PROFILE_PATH };
export const CERTIFICATE_PATH = "/laptop.crt";
/** What iOS Safari needs to offer installing a profile. */
export const PROFILE_CONTENT_TYPE = "application/x-apple-aspen-config";

export interface TrustFile {
  contentType: string;
  body: string | Buffer;
  /** Offered as a download under this name. */
  filename?: string;
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A stable UUID from the certificate, so downloading the profile twice replaces, not duplicates. */
function uuidFrom(der: Buffer, salt: string): string {
  const hex = createHash("sha256").update(salt).update(der).digest("hex");
  // Version 4 layout (random-looking), variant 10xx: what iOS expects of a PayloadUUID.
  const variant = ((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`.toUpperCase();
}

/** The certificate as an iOS configuration profile with one root-certificate payload. */
export function mobileconfig(certificatePem: string): string {
  const der = Buffer.from(new X509Certificate(certificatePem).raw);
  const id = createHash("sha256").update(der).digest("hex").slice(0, 16);
  const base64 = der.toString("base64").replace(/(.{64})/g, "$1\n      ");
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>PayloadContent</key>
  <array>
    <dict>
      <key>PayloadCertificateFileName</key>
      <string>tether-laptop.cer</string>
      <key>PayloadContent</key>
      <data>
      ${base64}
      </data>
      <key>PayloadDescription</key>
      <string>The certificate of your laptop's Tether relay.</string>
      <key>PayloadDisplayName</key>
      <string>Tether laptop</string>
      <key>PayloadIdentifier</key>
      <string>app.tether.laptop.${id}.certificate</string>
      <key>PayloadType</key>
      <string>com.apple.security.root</string>
      <key>PayloadUUID</key>
      <string>${uuidFrom(der, "certificate")}</string>
      <key>PayloadVersion</key>
      <integer>1</integer>
    </dict>
  </array>
  <key>PayloadDescription</key>
  <string>Lets the Tether app on this device connect to your laptop over your local network.</string>
  <key>PayloadDisplayName</key>
  <string>Tether laptop</string>
  <key>PayloadIdentifier</key>
  <string>app.tether.laptop.${id}</string>
  <key>PayloadRemovalDisallowed</key>
  <false/>
  <key>PayloadType</key>
  <string>Configuration</string>
  <key>PayloadUUID</key>
  <string>${uuidFrom(der, "profile")}</string>
  <key>PayloadVersion</key>
  <integer>1</integer>
</dict>
</plist>
`;
}

/** The page at /: proof that this browser now trusts the certificate, and the way back. */
export function trustPage(appOrigin: string): string {
  const back = escapeHtml(`${appOrigin}/`);
  return `<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tether laptop: certificate trusted</title>
<style>body{font-family:system-ui,sans-serif;margin:1.5rem;line-height:1.5;max-width:36rem}h1{color:#0f766e}
a.button{display:inline-block;padding:.7rem 1.2rem;border-radius:.3rem;background:#0f766e;color:#fff;text-decoration:none;font-weight:600}
@media (prefers-color-scheme:dark){body{background:#0b1512;color:#e5f2ef}h1{color:#5eead4}a{color:#5eead4}a.button{background:#5eead4;color:#04201b}}</style>
<h1>Certificate trusted</h1>
<p>This browser now trusts your laptop's Tether certificate. Go back to the Tether app: it connects by itself.</p>
<p><a class="button" id="back" href="${back}">Back to Tether</a></p>
<h2>On an iPhone or iPad</h2>
<p>Safari's warning page trusts the laptop only for this page, not for the app. Install the certificate instead:</p>
<ol>
<li><a href="${PROFILE_PATH}">Download the Tether laptop profile</a> and allow it.</li>
<li>Settings › General › VPN &amp; Device Management: tap “Tether laptop”, then Install.</li>
<li>Settings › General › About › Certificate Trust Settings: turn on “Tether laptop”.</li>
<li><a href="${back}">Back to Tether</a>.</li>
</ol>
<p>The certificate alone: <a href="${CERTIFICATE_PATH}">laptop.crt</a>.</p>
</html>
`;
}

/** Every trust response by path. */
export function trustFiles(certificatePem: string, appOrigin: string): Map<string, TrustFile> {
  return new Map<string, TrustFile>([
    ["/", { contentType: "text/html; charset=utf-8", body: trustPage(appOrigin) }],
    [
      PROFILE_PATH,
      {
        contentType: PROFILE_CONTENT_TYPE,
        body: mobileconfig(certificatePem),
        filename: "tether-laptop.mobileconfig",
      },
    ],
    [
      CERTIFICATE_PATH,
      {
        contentType: "application/x-x509-ca-cert",
        body: Buffer.from(new X509Certificate(certificatePem).raw),
        filename: "tether-laptop.crt",
      },
    ],
  ]);
}
