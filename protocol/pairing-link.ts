// The pairing link: what the laptop prints (as text and QR code) and the phone app reads. It is
// the exit's app URL with everything the phone needs in the fragment, which never leaves the phone:
//
//   https://EXIT/#v=1&laptop=wss%3A%2F%2F192.168.43.2%3A7443&secret=S&fp=F[&encoding=base64]
//
//   v         link format version (PAIRING_LINK_VERSION); a link without one is read as version 1
//   laptop    the laptop's relay address, ws:// or wss://
//   secret    the pairing secret the laptop checks on its relay path (protocol/paths.ts)
//   fp        base64 SHA-256 of the laptop certificate's public key (SPKI), for the trust page
//   encoding  how both legs carry frames (protocol/encoding.ts); absent: binary
//
// One writer (formatPairingLink, used by laptop/pairing.ts), one reader (parsePairingLink, used
// by the phone app), both here so they cannot drift.
import { ENCODING_PARAM, type Encoding, parseEncoding } from "./encoding.js";

/** The link format this code writes and reads. */
export const PAIRING_LINK_VERSION = "1";

/** The fragment's parameter names. */
export const PAIRING_PARAMS = {
  version: "v",
  laptop: "laptop",
  secret: "secret",
  fingerprint: "fp",
  encoding: ENCODING_PARAM,
} as const;

export interface Pairing {
  /** The laptop's relay address, e.g. wss://192.168.43.2:7443 (no trailing slash). */
  laptopUrl: string;
  secret: string;
  /** Base64 SHA-256 of the laptop certificate's SPKI; empty when the link carries none. */
  fingerprint: string;
  /** Forced encoding for both legs (testing, or a network that mangles binary frames). */
  encoding: Encoding;
}

export type PairingErrorCode =
  /** Text with no pairing in it (no fragment, or a fragment without laptop and secret). */
  | "PAIRING_NOT_A_LINK"
  /** A laptop address without a secret, or the other way round. */
  | "PAIRING_INCOMPLETE"
  /** The laptop address is not a ws:// or wss:// URL. */
  | "PAIRING_BAD_LAPTOP_URL"
  | "PAIRING_BAD_ENCODING"
  /** A link format this code does not know (a newer laptop). */
  | "PAIRING_VERSION";

export class PairingError extends Error {
  override name = "PairingError";
  constructor(
    readonly code: PairingErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The whole link for the app served at `appOrigin` (https://EXIT[:PORT]). */
export function formatPairingLink(appOrigin: string, pairing: Pairing): string {
  const fragment = new URLSearchParams({
    [PAIRING_PARAMS.version]: PAIRING_LINK_VERSION,
    [PAIRING_PARAMS.laptop]: pairing.laptopUrl,
    [PAIRING_PARAMS.secret]: pairing.secret,
    [PAIRING_PARAMS.fingerprint]: pairing.fingerprint,
  });
  if (pairing.encoding !== "binary") fragment.set(PAIRING_PARAMS.encoding, pairing.encoding);
  return `${appOrigin}/#${fragment.toString()}`;
}

/** The pairing in a URL fragment ("#v=1&laptop=...&secret=..."); undefined when it carries none. */
export function parsePairing(fragment: string): Pairing | undefined {
  const params = new URLSearchParams(fragment.replace(/^#/, ""));
  const laptopUrl = params.get(PAIRING_PARAMS.laptop);
  const secret = params.get(PAIRING_PARAMS.secret);
  if (!laptopUrl && !secret) return undefined;
  const version = params.get(PAIRING_PARAMS.version) ?? PAIRING_LINK_VERSION;
  if (version !== PAIRING_LINK_VERSION) {
    throw new PairingError(
      "PAIRING_VERSION",
      `this pairing link is format ${version}, this app reads ${PAIRING_LINK_VERSION}: reload the app to update it`,
    );
  }
  if (!laptopUrl || !secret)
    throw new PairingError(
      "PAIRING_INCOMPLETE",
      "the pairing link is incomplete: open it again from the laptop",
    );
  let url: URL;
  try {
    url = new URL(laptopUrl);
  } catch {
    throw new PairingError(
      "PAIRING_BAD_LAPTOP_URL",
      `the laptop address in the link is not a URL: ${laptopUrl}`,
    );
  }
  if (url.protocol !== "wss:" && url.protocol !== "ws:") {
    throw new PairingError("PAIRING_BAD_LAPTOP_URL", `the laptop address must be wss://: ${laptopUrl}`);
  }
  const encoding = parseEncoding(params.get(PAIRING_PARAMS.encoding));
  if (!encoding)
    throw new PairingError("PAIRING_BAD_ENCODING", `unknown encoding ${params.get(PAIRING_PARAMS.encoding)}`);
  return {
    laptopUrl: laptopUrl.replace(/\/$/, ""),
    secret,
    fingerprint: params.get(PAIRING_PARAMS.fingerprint) ?? "",
    encoding,
  };
}

/** A whole pairing link as pasted by a person (or just its fragment). */
export function parsePairingLink(text: string): Pairing {
  const trimmed = text.trim();
  const hash = trimmed.indexOf("#");
  const pairing = parsePairing(hash >= 0 ? trimmed.slice(hash) : trimmed);
  if (!pairing)
    throw new PairingError(
      "PAIRING_NOT_A_LINK",
      "that is not a Tether pairing link: copy the whole link the laptop prints",
    );
  return pairing;
}
