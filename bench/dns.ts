// DNS queries for the bench's sparse-flow probe (dns-probe.ts): the query it sends and the reading
// of a reply, by hand (RFC 1035 section 4), so that every query really goes out (no resolver
// cache, no retries) and is timed alone. Pure functions, tested in dns.test.ts.

/** Query type A, class IN. */
const TYPE_A = 1;
const CLASS_IN = 1;
/** Header flags of a query: recursion desired. */
const FLAGS_RD = 0x0100;
/** Header flags: this is a response. */
const FLAG_QR = 0x8000;
const HEADER_BYTES = 12;

/** A standard query for the A record of `name`, with this id. */
export function buildQuery(id: number, name: string): Uint8Array {
  const labels = name.split(".").filter((label) => label.length > 0);
  const nameBytes = labels.reduce((n, label) => n + 1 + label.length, 1);
  const query = new Uint8Array(HEADER_BYTES + nameBytes + 4);
  const view = new DataView(query.buffer);
  view.setUint16(0, id & 0xffff);
  view.setUint16(2, FLAGS_RD);
  view.setUint16(4, 1); // one question
  let offset = HEADER_BYTES;
  for (const label of labels) {
    if (label.length > 63 || !/^[\x21-\x7e]+$/.test(label)) throw new RangeError(`bad DNS label ${label}`);
    query[offset++] = label.length;
    for (let i = 0; i < label.length; i++) query[offset++] = label.charCodeAt(i);
  }
  query[offset++] = 0;
  view.setUint16(offset, TYPE_A);
  view.setUint16(offset + 2, CLASS_IN);
  return query;
}

/**
 * A reply's id and whether it answers (rcode 0 with at least one answer record); undefined for
 * bytes that are no DNS response.
 */
export function readReply(bytes: Uint8Array): { id: number; answered: boolean } | undefined {
  if (bytes.length < HEADER_BYTES) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const flags = view.getUint16(2);
  if ((flags & FLAG_QR) === 0) return undefined;
  return { id: view.getUint16(0), answered: (flags & 0x000f) === 0 && view.getUint16(6) > 0 };
}

/** What the probe prints: queries sent, and the time of each one answered within the timeout, ms. */
export interface DnsProbeResult {
  sent: number;
  timesMs: number[];
  /** Replies that said no (an error rcode, no answer): a broken server, not the path. */
  refused: number;
}

/** Loss is what got no good answer within the timeout, percent; undefined when nothing was sent. */
export function dnsLossPct(result: DnsProbeResult): number | undefined {
  return result.sent === 0 ? undefined : (100 * (result.sent - result.timesMs.length)) / result.sent;
}
