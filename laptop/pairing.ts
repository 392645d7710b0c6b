// The pairing link: the exit's PWA URL with everything the phone needs in the fragment (which
// never leaves the phone): the laptop's wss address, the pairing secret and the certificate's
// fingerprint. Printed as text and as a QR code for the phone's camera.
import QRCode from "qrcode";

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
  const fragment = new URLSearchParams({
    v: "1",
    laptop: pairing.laptopUrl,
    secret: pairing.secret,
    fp: pairing.spkiSha256,
  });
  return `${pairing.appOrigin}/#${fragment.toString()}`;
}

export function pairingQr(link: string): Promise<string> {
  return QRCode.toString(link, { type: "terminal", small: true, errorCorrectionLevel: "L" });
}
