// What the unprivileged tether may ask of its privileged helper, one JSON object per line on a
// pipe, and what the helper answers. The helper reads these from a process that faces the LAN and
// may have been taken over, so every line is parsed here as hostile input: bounded in length,
// exactly the fields of one known request, each of the right type and range. What the values
// mean (is this address allowed on the TUN?) is checked by the helper's system seam, not here.
//
//   parent -> helper   {"id":1,"op":"address","address":"10.77.0.2","prefixLength":16,"mtu":1400}
//                      {"id":2,"op":"address6","address":"fd77::2","prefixLength":64}
//                      {"id":3,"op":"address6","address":null}        (IPv6 unreachable)
//                      {"id":4,"op":"dns","servers":["10.77.0.1"]}
//                      {"id":5,"op":"restore"}                        (everything back)
//   helper -> parent   {"ready":true,"notices":[...]}                 (once, at start)
//                      {"id":1,"ok":true}
//                      {"id":1,"ok":false,"code":"ROUTES_LOCAL_NETWORK","message":"..."}
//
// The pipe closing is the last request: the helper restores everything and exits.
import { MIN_MTU } from "../protocol/codec.js";
import { MAX_DNS_SERVERS } from "../protocol/limits.js";

/** Where the helpers keep what they must put back (the original resolv.conf), root's alone. */
export const HELPER_STATE_ROOT = "/var/lib/tether";
/** Longest interface name Linux takes (IFNAMSIZ less its NUL). */
export const MAX_TUN_NAME_CHARS = 15;
/** Longest request line, bytes: the largest request (dns, 8 IPv6 servers) is under 500. */
export const MAX_REQUEST_LINE_BYTES = 4096;
/** Longest address text a request may carry (an IPv6 address is at most 45 characters). */
const MAX_ADDRESS_CHARS = 64;
/** Highest request id; ids are the parent's counter, so this is never reached in practice. */
const MAX_REQUEST_ID = 2 ** 31 - 1;

export type PrivilegedRequest =
  | { id: number; op: "address"; address: string; prefixLength: number; mtu: number }
  | { id: number; op: "address6"; address: string | null; prefixLength?: number }
  | { id: number; op: "dns"; servers: string[] }
  | { id: number; op: "restore" };

export type PrivilegedReply =
  | { id: number; ok: true }
  | { id: number; ok: false; code: string; message: string };

export interface ReadyLine {
  ready: true;
  /** What the helper put back at its start (left by a killed run), in words. */
  notices: string[];
}

export type PrivilegedErrorCode =
  /** Not one JSON object, an unknown op, or a field missing, extra, of the wrong type or range. */
  | "PRIVILEGED_BAD_REQUEST"
  /** A line longer than MAX_REQUEST_LINE_BYTES: dropped unread. */
  | "PRIVILEGED_LINE_TOO_LONG"
  /** A DNS change, from a tether started with --no-dns. */
  | "PRIVILEGED_DNS_OFF"
  /** More requests waiting than the helper's backlog holds (the parent sends one at a time). */
  | "PRIVILEGED_BUSY"
  /** The change failed in a way that carries no code of its own. */
  | "PRIVILEGED_FAILED"
  /** The helper is gone (or never started): nothing can be changed any more. */
  | "PRIVILEGED_HELPER_GONE"
  /** The helper did not answer in time. */
  | "PRIVILEGED_TIMEOUT";

export class PrivilegedError extends Error {
  override name = "PrivilegedError";
  constructor(
    readonly code: PrivilegedErrorCode | (string & {}),
    message: string,
  ) {
    super(message);
  }
}

const FIELDS: Record<PrivilegedRequest["op"], readonly string[]> = {
  address: ["id", "op", "address", "prefixLength", "mtu"],
  address6: ["id", "op", "address", "prefixLength"],
  dns: ["id", "op", "servers"],
  restore: ["id", "op"],
};

function bad(message: string): PrivilegedError {
  return new PrivilegedError("PRIVILEGED_BAD_REQUEST", message);
}

function integerIn(value: unknown, min: number, max: number, name: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw bad(`${name} must be an integer in ${min}..${max}`);
  }
  return value;
}

function addressText(value: unknown, name: string): string {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_ADDRESS_CHARS) {
    throw bad(`${name} must be a string of 1..${MAX_ADDRESS_CHARS} characters`);
  }
  return value;
}

/** The request id of a line, if it has a usable one (so even a refusal can say which request). */
export function requestIdOf(value: unknown): number {
  if (typeof value !== "object" || value === null) return 0;
  const id = (value as { id?: unknown }).id;
  return typeof id === "number" && Number.isInteger(id) && id >= 0 && id <= MAX_REQUEST_ID ? id : 0;
}

/** One request line (without its newline), or PrivilegedError PRIVILEGED_BAD_REQUEST. */
export function parseRequest(line: string): PrivilegedRequest {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw bad("not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw bad("not a JSON object");
  const record = value as Record<string, unknown>;
  const op = record.op;
  if (typeof op !== "string" || !Object.hasOwn(FIELDS, op)) throw bad(`unknown op ${JSON.stringify(op)}`);
  const allowed = FIELDS[op as PrivilegedRequest["op"]];
  const extra = Object.keys(record).find((key) => !allowed.includes(key));
  if (extra !== undefined) throw bad(`${op} takes no field ${JSON.stringify(extra)}`);
  const id = integerIn(record.id, 0, MAX_REQUEST_ID, "id");
  switch (op) {
    case "address":
      return {
        id,
        op,
        address: addressText(record.address, "address"),
        prefixLength: integerIn(record.prefixLength, 1, 32, "prefixLength"),
        mtu: integerIn(record.mtu, MIN_MTU, 0xffff, "mtu"),
      };
    case "address6":
      if (record.address === null) {
        if (record.prefixLength !== undefined) throw bad("address6 without an address takes no prefixLength");
        return { id, op, address: null };
      }
      return {
        id,
        op,
        address: addressText(record.address, "address"),
        prefixLength: integerIn(record.prefixLength, 1, 128, "prefixLength"),
      };
    case "dns": {
      const servers = record.servers;
      // Up to MAX_DNS_SERVERS of each family, as WELCOME carries them.
      if (!Array.isArray(servers) || servers.length > 2 * MAX_DNS_SERVERS) {
        throw bad(`servers must be a list of at most ${2 * MAX_DNS_SERVERS} addresses`);
      }
      return { id, op, servers: servers.map((server, i) => addressText(server, `servers[${i}]`)) };
    }
    default:
      return { id, op: "restore" };
  }
}

/** A reply line (without its newline), as the parent reads it; undefined for anything else. */
export function parseReply(line: string): PrivilegedReply | ReadyLine | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const record = value as Record<string, unknown>;
  if (record.ready === true) {
    const notices = Array.isArray(record.notices) ? record.notices.filter((n) => typeof n === "string") : [];
    return { ready: true, notices };
  }
  if (typeof record.id !== "number") return undefined;
  if (record.ok === true) return { id: record.id, ok: true };
  if (record.ok === false && typeof record.code === "string" && typeof record.message === "string") {
    return { id: record.id, ok: false, code: record.code, message: record.message };
  }
  return undefined;
}
