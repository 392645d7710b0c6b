// The pairing the laptop printed, carried in the URL fragment (which never leaves the phone):
// the laptop's wss address, the pairing secret, and its certificate's fingerprint.
import { type Encoding, parseEncoding } from "../../protocol/encoding.js";

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
