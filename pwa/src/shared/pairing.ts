// The pairing the laptop printed, carried in the URL fragment (which never leaves the phone):
// the laptop's wss address, the pairing secret, and its certificate's fingerprint.
import { type Encoding, parseEncoding } from "../../../protocol/encoding.js";

export interface Pairing {
  laptopUrl: string;
  secret: string;
  fingerprint: string;
  /** Forced encoding for both legs (testing, or a network that mangles binary frames). */
  encoding: Encoding;
}

export class PairingError extends Error {
  override name = "PairingError";
}

/** The pairing in a URL fragment ("#v=1&laptop=...&secret=..."); undefined when it carries none. */
export function parsePairing(fragment: string): Pairing | undefined {
  const params = new URLSearchParams(fragment.replace(/^#/, ""));
  const laptopUrl = params.get("laptop");
  const secret = params.get("secret");
  if (!laptopUrl && !secret) return undefined;
  if (!laptopUrl || !secret)
    throw new PairingError("the pairing link is incomplete: open it again from the laptop");
  let url: URL;
  try {
    url = new URL(laptopUrl);
  } catch {
    throw new PairingError(`the laptop address in the link is not a URL: ${laptopUrl}`);
  }
  if (url.protocol !== "wss:" && url.protocol !== "ws:") {
    throw new PairingError(`the laptop address must be wss://: ${laptopUrl}`);
  }
  const encoding = parseEncoding(params.get("encoding"));
  if (!encoding) throw new PairingError(`unknown encoding ${params.get("encoding")}`);
  return { laptopUrl: laptopUrl.replace(/\/$/, ""), secret, fingerprint: params.get("fp") ?? "", encoding };
}

/** A whole pairing link as pasted by a person (or just its fragment). */
export function parsePairingLink(text: string): Pairing {
  const trimmed = text.trim();
  const hash = trimmed.indexOf("#");
  const pairing = parsePairing(hash >= 0 ? trimmed.slice(hash) : trimmed);
  if (!pairing)
    throw new PairingError("that is not a Tether pairing link: copy the whole link the laptop prints");
  return pairing;
}

/** The laptop's https:// address (its trust page) for its wss:// relay address. */
export function laptopPageUrl(laptopUrl: string): string {
  const url = new URL(laptopUrl);
  url.protocol = url.protocol === "ws:" ? "http:" : "https:";
  url.pathname = "/";
  url.search = "";
  return url.toString();
}

/** Where the laptop serves its certificate as an iOS configuration profile. */
export const PROFILE_PATH = "/tether-laptop.mobileconfig";
