// The exit's HTTP server as a public server: how long a stranger may hold a connection before
// it is a WebSocket (the access limits in exit/limits.ts start only then), how many connections it
// keeps at once, and who may read /metrics (traffic volumes and session counts are the operator's
// business, not the internet's).
import { tryParseIpv4 } from "../protocol/ip.js";
import { type Cidr, refusedRange } from "./egress-guard.js";

/** Request headers must be in within this, ms: a slowloris client is cut off here. */
export const HEADERS_TIMEOUT_MS = 10_000;
/** A whole plain-HTTP request (page, metrics) must be in within this, ms. */
export const REQUEST_TIMEOUT_MS = 30_000;
/** How often Node looks for connections past those timeouts, ms (its default, 30 s, is lax). */
export const CONNECTIONS_CHECK_INTERVAL_MS = 1_000;
/** A TLS handshake must finish within this, ms (Node's default is 120 s). */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Connections beyond one per session and one per handshake: page loads, probes, scrapes. */
export const CONNECTION_HEADROOM = 1024;

/** Options for http(s).createServer that bound what an idle or slow connection costs. */
export const SERVER_TIMEOUTS = {
  headersTimeout: HEADERS_TIMEOUT_MS,
  requestTimeout: REQUEST_TIMEOUT_MS,
  connectionsCheckingInterval: CONNECTIONS_CHECK_INTERVAL_MS,
} as const;

/** Most TCP connections the server holds at once; past it new ones are closed at once. */
export function maxConnections(limits: { maxSessions: number; maxHandshakes: number }): number {
  return limits.maxSessions + limits.maxHandshakes + CONNECTION_HEADROOM;
}

function contains(cidr: Cidr, address: number): boolean {
  return (address & cidr.mask) >>> 0 === cidr.network;
}

/**
 * Whether a client at `remote` may read /metrics: by default this machine (its own addresses,
 * loopback) and private networks (RFC 1918, CGNAT, link-local; IPv6 ULA and link-local), where a
 * Prometheus or a container network is; `allow` adds ranges, or "any" opens it to all.
 */
export function metricsAllowed(
  remote: string | undefined,
  allow: readonly Cidr[] | "any",
  ownAddresses: () => readonly string[],
): boolean {
  if (allow === "any") return true;
  if (!remote) return false;
  const address = remote.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, "");
  const value = tryParseIpv4(address);
  if (value === undefined) {
    const lower = address.toLowerCase();
    return lower === "::1" || /^f[cd][0-9a-f]{2}:/.test(lower) || /^fe[89ab][0-9a-f]:/.test(lower);
  }
  const range = refusedRange(value);
  if (range === "egress_private" || range === "egress_loopback" || range === "egress_link_local") return true;
  if (allow.some((cidr) => contains(cidr, value))) return true;
  return ownAddresses().includes(address);
}

/** The host name of an Origin or Host header's value, lower case; undefined if it is not one. */
function hostNameOf(text: string, withScheme: boolean): string | undefined {
  try {
    const url = new URL(withScheme ? text : `http://${text}`);
    if (withScheme && url.protocol !== "https:" && url.protocol !== "http:") return undefined;
    return url.hostname.toLowerCase() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether an upgrade of /tunnel may come from a page at `origin`: the exit's own app (the Origin
 * names the host the request was sent to, `host`, or one of `alsoAllowed`), or no Origin at all
 * (not a browser: a browser always sends one on a WebSocket). Any other site's page may not make a
 * visitor's browser a relay to this exit. Host names are compared, not ports.
 */
export function tunnelOriginAllowed(
  origin: string | undefined,
  host: string | undefined,
  alsoAllowed: readonly string[] = [],
): boolean {
  if (origin === undefined) return true;
  const from = hostNameOf(origin, true);
  if (from === undefined) return false; // "null" (a sandboxed frame, a file) or malformed
  if (host !== undefined && hostNameOf(host, false) === from) return true;
  return alsoAllowed.some((name) => name.toLowerCase() === from);
}
