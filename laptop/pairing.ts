// The pairing link as the laptop prints it: text (its format is protocol/pairing-link.ts, beside
// the phone app's reader) and a QR code for the phone's camera.
import QRCode from "qrcode";
import { formatPairingLink } from "../protocol/pairing-link.js";

export interface Pairing {
  /** The PWA's origin, e.g. https://exit.example:8443 */
  appOrigin: string;
  /** The laptop's relay address, e.g. wss://192.168.43.2:7443 */
  laptopUrl: string;
  secret: string;
  spkiSha256: string;
}

/** The exit's wss:// URL as the origin its PWA is served from. */
export function appOriginOf(exitUrl: string): string {
  const url = new URL(exitUrl);
  if (
    url.protocol !== "wss:" &&
    url.protocol !== "https:" &&
    url.protocol !== "ws:" &&
    url.protocol !== "http:"
  ) {
    throw new Error(`--exit wants a wss:// or https:// URL: ${exitUrl}`);
  }
  const secure = url.protocol === "wss:" || url.protocol === "https:";
  return `${secure ? "https" : "http"}://${url.host}`;
}

export function pairingLink(pairing: Pairing): string {
  return formatPairingLink(pairing.appOrigin, {
    laptopUrl: pairing.laptopUrl,
    secret: pairing.secret,
    fingerprint: pairing.spkiSha256,
    encoding: "binary",
  });
}

export function pairingQr(link: string): Promise<string> {
  return QRCode.toString(link, { type: "terminal", small: true, errorCorrectionLevel: "L" });
}
