// Uplink: packets from a laptop to the internet, a session's DATA to the exit's TUN.
//
//   1. phone -> the exit leg's WebSocket -> the session's tunnel end decodes a DATA frame
//      (tunnel/end.ts; malformed: the connection ends with the codec's code)
//   2. ExitConnection: DATA only once established (else UNEXPECTED_FRAME), then here
//   3. toTun, each packet in turn, dropped and counted under the first reason that applies:
//      neither IPv4 nor IPv6 (`not_ip`); IPv6 from a session without IPv6 (`no_ipv6`); source
//      not the session's address of that family (`spoofed_source`); a destination that family's
//      egress guard refuses (its range's reason, exit/egress-guard.ts, egress-guard6.ts; the
//      checks by family live in exit/dual-stack.ts); over the session's rate limit
//      (`rate_limited`); then what passed goes to the TUN in one call, a flow's TCP segments
//      coalesced into a super-packet where the kernel takes them, a super-packet from the laptop
//      (its inner header checked as above; `bad_super_packet` when malformed or not negotiated)
//      written as it is; refused: `tun_write_failed`
//   4. TUN -> kernel -> NAT (exit/nat.ts masquerades the pools; a routed IPv6 prefix goes as it
//      is) -> internet
//
// The IP bytes written go back to the tunnel end (SendQueue.received: which way traffic goes).
import { ipv4Source, isIpv4 } from "../protocol/ip.js";
import { unwrapSlot } from "../protocol/super-packet.js";
import type { TunDevice } from "../tun/device.js";
import { ipPacketCount } from "../tun/gso-peer.js";
import type { DualStack } from "./dual-stack.js";
import type { EgressGuard } from "./egress-guard.js";
import type { ExitMetrics } from "./metrics.js";
import type { SessionRateLimiter } from "./rate-limit.js";
import type { Session } from "./session.js";

export interface Uplink {
  tun: TunDevice;
  metrics: ExitMetrics;
  /** Where laptops may not send packets; none in some tests. */
  egress?: EgressGuard | undefined;
  rateLimit?: SessionRateLimiter | undefined;
  /** Both families' checks (exit/dual-stack.ts); without it (some tests) IPv4 only, as `egress` says. */
  dualStack?: DualStack<Session> | undefined;
}

/**
 * A DATA frame's packets from `session`'s laptop to the TUN, what may go. A super-packet slot
 * (protocol/super-packet.ts, only from a laptop whose leg negotiated them: `superPackets`) is
 * checked by its inner header, which every segment the kernel makes of it repeats. Returns the IP
 * bytes written.
 */
export function toTun(
  session: Session,
  slots: readonly Uint8Array[],
  uplink: Uplink,
  superPackets = false,
): number {
  const { tun, metrics, egress, rateLimit, dualStack } = uplink;
  const now = rateLimit ? performance.now() : 0;
  const passed: Uint8Array[] = [];
  const sizes: number[] = [];
  let superPacketsPassed = 0;
  for (const slot of slots) {
    const unwrapped = unwrapSlot(slot);
    if (!unwrapped || (unwrapped.segmentSize > 0 && !superPackets)) {
      metrics.drop("bad_super_packet");
      continue;
    }
    const { packet, segmentSize } = unwrapped;
    const refusal = dualStack
      ? dualStack.upstreamDrop(packet, session)
      : !isIpv4(packet)
        ? "not_ip"
        : ipv4Source(packet) !== session.addressInt
          ? "spoofed_source"
          : egress?.check(packet);
    if (refusal) {
      metrics.drop(refusal);
    } else if (rateLimit && !rateLimit.allow(session, "up", packet.length, now)) {
      metrics.drop("rate_limited");
    } else {
      passed.push(packet);
      sizes.push(segmentSize);
      if (segmentSize > 0) superPacketsPassed++;
    }
  }
  // A flow's segments coalesced into one write where the kernel takes super-packets
  // (tun/gso-coalesce.ts); super-packets from the laptop written as they are, for it to segment.
  const segmentSizes = superPacketsPassed > 0 ? sizes : undefined;
  const written = tun.writePackets(passed, segmentSizes);
  const expected = ipPacketCount(passed, segmentSizes);
  if (written.packets < expected) metrics.drop("tun_write_failed", expected - written.packets);
  metrics.relayed("up", written.packets, written.bytes);
  return written.bytes;
}
