// The HTTP paths and query parameters the three sides agree on. The laptop serves the relay leg
// and its trust page, the exit serves the phone app and the tunnel leg, and the phone dials both:
//
//   laptop  wss://LAPTOP/relay?secret=S[&encoding=E]   the phone's laptop leg (S from the pairing link)
//           https://LAPTOP/                            the trust page for the laptop's certificate
//           https://LAPTOP/tether-laptop.mobileconfig  the same certificate as an iOS profile
//   exit    wss://EXIT/tunnel[?encoding=E]             the phone's exit leg
//           https://EXIT/                              the phone app
//
// E is "binary" (the default, also when absent) or "base64" (protocol/encoding.ts).
import { ENCODING_PARAM, type Encoding } from "./encoding.js";

export { ENCODING_PARAM } from "./encoding.js";

/** The laptop's WebSocket path for the phone's leg. */
export const RELAY_PATH = "/relay";
/** The query parameter of RELAY_PATH carrying the pairing secret. */
export const SECRET_PARAM = "secret";
/** The exit's WebSocket path for the phone's leg. */
export const TUNNEL_PATH = "/tunnel";
/** Where the laptop serves its certificate as an iOS configuration profile. */
export const PROFILE_PATH = "/tether-laptop.mobileconfig";

/** The URL the phone dials for its laptop leg, from the laptop's wss:// address in the pairing link. */
export function relayUrl(laptopUrl: string, secret: string, encoding: Encoding): string {
  const url = new URL(laptopUrl);
  url.pathname = RELAY_PATH;
  url.search = "";
  url.searchParams.set(SECRET_PARAM, secret);
  url.searchParams.set(ENCODING_PARAM, encoding);
  return url.toString();
}

/** What the laptop reads from a request's target: whether it is the relay path, the secret, the encoding text. */
export function readRelayTarget(url: URL): { isRelay: boolean; secret: string; encoding: string | null } {
  return {
    isRelay: url.pathname === RELAY_PATH,
    secret: url.searchParams.get(SECRET_PARAM) ?? "",
    encoding: url.searchParams.get(ENCODING_PARAM),
  };
}

/** The URL the phone dials for its exit leg, from the origin the app was served from. */
export function tunnelUrl(appOrigin: string): string {
  const url = new URL(appOrigin);
  url.protocol = url.protocol === "http:" ? "ws:" : "wss:";
  url.pathname = TUNNEL_PATH;
  url.search = "";
  url.hash = "";
  return url.toString();
}

/** The laptop's https:// address (its trust page) for its wss:// relay address. */
export function laptopPageUrl(laptopUrl: string): string {
  const url = new URL(laptopUrl);
  url.protocol = url.protocol === "ws:" ? "http:" : "https:";
  url.pathname = "/";
  url.search = "";
  url.hash = "";
  return url.toString();
}
