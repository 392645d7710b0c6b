// Downlink: packets from the internet to the laptops, the exit's TUN to the sessions.
//
//   1. internet -> kernel: NAT reverses the masquerade, the destination is a laptop's address
//   2. the TUN reader thread reads until EAGAIN and hands over one batch (tun/linux-reader.ts),
//      TSO/GRO super-packets whole with their segment sizes (super-packet mode)
//   3. routeToSessions: each packet to the session holding its destination, IPv4 or IPv6
//      (exit/dual-stack.ts: an IPv6 address's index in the pool is its session's IPv4 host index,
//      then SessionTable by address), one batch per session; no session: dropped, `no_session`;
//      neither IPv4 nor IPv6: `not_ip`
//   4. withinRate: the session's rate limit, when set (a policer: over it, dropped, `rate_limited`)
//   5. toLaptop: the session's tunnel end packs the batch into DATA frames behind its flow queues
//      (tunnel/end.ts), super-packets as they are for a laptop that took them, else split there;
//      no leg now (detached): held a moment (exit/detached-hold.ts, bounded; what falls out is
//      `detached`) and sent by sendHeld when the session resumes; a queue too long: its reason
//   6. the tunnel end's transport (the exit leg's WebSocket) -> phone -> laptop
//
// Nothing here waits: a packet goes on, is held (detached, bounded), or is dropped and counted.
import { forPeer } from "../tun/gso-peer.js";
import type { DualStack } from "./dual-stack.js";
import type { ExitMetrics } from "./metrics.js";
import type { SessionRateLimiter } from "./rate-limit.js";
import type { Session } from "./session.js";

/**
 * Hands each packet from the TUN to the session that owns its destination, one batch per session.
 * `segmentSizes` (a TUN in super-packet mode): per packet, 0 or a super-packet's segment size;
 * each session's tunnel end sends super-packets on, or splits them for a laptop without them.
 */
export function routeToSessions(
  packets: Uint8Array[],
  sessions: Pick<DualStack<Session>, "sessionFor">,
  metrics: ExitMetrics,
  rateLimit?: SessionRateLimiter,
  segmentSizes?: ArrayLike<number>,
): void {
  if (packets.length === 1) {
    // The common case when the link is quiet: no map for one packet.
    const session = sessions.sessionFor(packets[0]!);
    if (typeof session !== "string")
      toLaptop(session, withinRate(session, { packets, sizes: segmentSizes }, metrics, rateLimit), metrics);
    else metrics.drop(session);
    return;
  }
  const batches = new Map<Session, { packets: Uint8Array[]; sizes: number[] | undefined }>();
  for (let i = 0; i < packets.length; i++) {
    const packet = packets[i]!;
    const session = sessions.sessionFor(packet);
    if (typeof session === "string") {
      metrics.drop(session);
      continue;
    }
    let batch = batches.get(session);
    if (!batch) {
      batch = { packets: [], sizes: segmentSizes ? [] : undefined };
      batches.set(session, batch);
    }
    batch.packets.push(packet);
    batch.sizes?.push(segmentSizes?.[i] ?? 0);
  }
  for (const [session, batch] of batches) {
    toLaptop(session, withinRate(session, batch, metrics, rateLimit), metrics);
  }
}

/** One session's packets of a TUN batch, with their segment sizes when the TUN gives them. */
interface Batch {
  packets: Uint8Array[];
  sizes: ArrayLike<number> | undefined;
}

/** The packets of `batch` within the session's rate limit (all of them without a limit). */
function withinRate(
  session: Session,
  batch: Batch,
  metrics: ExitMetrics,
  rateLimit: SessionRateLimiter | undefined,
): Batch {
  if (!rateLimit) return batch;
  const now = performance.now();
  const passed = { packets: [] as Uint8Array[], sizes: batch.sizes ? ([] as number[]) : undefined };
  for (let i = 0; i < batch.packets.length; i++) {
    const packet = batch.packets[i]!;
    if (!rateLimit.allow(session, "down", packet.length, now)) continue;
    passed.packets.push(packet);
    passed.sizes?.push(batch.sizes?.[i] ?? 0);
  }
  const dropped = batch.packets.length - passed.packets.length;
  if (dropped > 0) metrics.drop("rate_limited", dropped);
  return passed;
}

/**
 * Sends packets to the laptop through the session's tunnel end, batched. Without a leg (detached)
 * they are held a moment (bounded in bytes and age, the rest dropped and counted), so the inner
 * TCP need not wait out its retransmission timer once the phone is back; with the leg backed up
 * they are dropped and counted.
 */
function toLaptop(session: Session, { packets, sizes }: Batch, metrics: ExitMetrics): void {
  if (packets.length === 0) return;
  const end = session.end;
  if (!end?.open) {
    // Held as ordinary packets: the next leg may not take super-packets.
    const ordinary = forPeer(packets, sizes, false);
    if (ordinary.refused > 0) metrics.drop("bad_super_packet", ordinary.refused);
    const dropped = session.held.hold(ordinary.packets, performance.now());
    if (dropped > 0) metrics.drop("detached", dropped);
    return;
  }
  const sent = end.sendPackets(packets, sizes);
  if (sent.reason) metrics.drop(sent.reason, sent.dropped);
  metrics.relayed("down", sent.packets, sent.bytes);
}

/**
 * A resumed session's held packets, oldest first, right after its WELCOME (sealed under the new
 * leg's keys like any other); those too old to be worth sending are counted as `detached`.
 */
export function sendHeld(session: Session, metrics: ExitMetrics): void {
  const { packets, expired } = session.held.take(performance.now());
  if (expired > 0) metrics.drop("detached", expired);
  toLaptop(session, { packets, sizes: undefined }, metrics);
}
