// Value parsers for option tables: each takes the text as typed and `where` (the flag, variable or
// config key, for the message) and returns the value or throws a coded error. Strict on purpose:
// a value that is refused here cannot fail later, deep in a running process.
import { type Ipv4Cidr, parseIp, parseIpv4, parseIpv4CidrList } from "../protocol/ip.js";
import { UsageError } from "./errors.js";

const WHOLE_NUMBER = /^(?:0|[1-9][0-9]*)$/;

/** A whole number from `min` to `max` (no sign, no leading zeros, no fraction). */
export function integer(min: number, max: number): (text: string, where: string) => number {
  return (text, where) => {
    const value = Number(text.trim());
    if (!WHOLE_NUMBER.test(text.trim()) || value < min || value > max) {
      throw new UsageError(
        "USAGE_BAD_VALUE",
        `${where} wants a whole number from ${min} to ${max}: ${JSON.stringify(text)}`,
      );
    }
    return value;
  };
}

export const port = integer(1, 65535);

/** One of a few words. */
export function oneOf<T extends string>(...words: T[]): (text: string, where: string) => T {
  return (text, where) => {
    if (!(words as string[]).includes(text)) {
      throw new UsageError("USAGE_BAD_VALUE", `${where} wants ${words.join(", ")}: ${JSON.stringify(text)}`);
    }
    return text as T;
  };
}

/** Any non-empty text (a path, a name). */
export function nonEmpty(text: string, where: string): string {
  if (text.trim() === "") throw new UsageError("USAGE_BAD_VALUE", `${where} wants a value`);
  return text;
}

/** A URL with one of the given schemes ("wss:", "https:"), kept as typed. */
export function url(protocols: string[], example: string): (text: string, where: string) => string {
  return (text, where) => {
    let parsed: URL;
    try {
      parsed = new URL(text);
    } catch {
      throw new UsageError(
        "USAGE_BAD_VALUE",
        `${where} wants a URL like ${example}: ${JSON.stringify(text)}`,
      );
    }
    if (!protocols.includes(parsed.protocol)) {
      throw new UsageError(
        "USAGE_BAD_VALUE",
        `${where} wants a ${protocols.map((p) => `${p}//`).join(" or ")} URL like ${example}: ${JSON.stringify(text)}`,
      );
    }
    return text;
  };
}

/** A network interface name as Linux takes it (1 to 15 of letters, digits, '_', '.', '-'). */
export function interfaceName(text: string, where: string): string {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(text)) {
    throw new UsageError(
      "USAGE_BAD_VALUE",
      `${where} wants an interface name of 1 to 15 letters, digits, '_', '.' or '-': ${JSON.stringify(text)}`,
    );
  }
  return text;
}

/** IPv4 addresses (protocol/ip.ts's strict reading), kept as typed. */
export function ipv4Addresses(items: string[]): string[] {
  for (const item of items) parseIpv4(item);
  return items;
}

/** IP addresses of either family, kept as typed. */
export function ipAddresses(items: string[]): string[] {
  for (const item of items) parseIp(item);
  return items;
}

/** IPv4 prefixes or bare addresses (as /32). */
export function ipv4Prefixes(items: string[]): Ipv4Cidr[] {
  return parseIpv4CidrList(items.join(","), { bareAddress: true });
}

/** Items as they are. */
export function strings(items: string[]): string[] {
  return items;
}

/** HOST:PORT, where HOST is an IP address ([::1] for IPv6) or empty for every address. */
export function hostPort(text: string, where: string): { host: string; port: number } {
  const match = /^(.*):([^:\]]*)$/.exec(text);
  if (!match)
    throw new UsageError(
      "USAGE_BAD_VALUE",
      `${where} wants HOST:PORT, like 0.0.0.0:8443: ${JSON.stringify(text)}`,
    );
  const host = match[1]!.replace(/^\[(.*)\]$/, "$1");
  if (host !== "" && host !== "localhost") parseIp(host);
  return { host: host || "0.0.0.0", port: port(match[2]!, where) };
}
