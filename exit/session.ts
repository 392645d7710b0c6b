// A laptop's session at the exit: its address and the relay leg that currently carries it.
// Sessions are found by address (for packets from the TUN) and by resume token.
import type { WebSocket } from "ws";
import { packDataFrames } from "../protocol/batch.js";
import { type Encoding, toMessage } from "../protocol/encoding.js";
import type { ExitMetrics } from "./metrics.js";

/**
 * Most bytes the WebSocket may hold unsent before packets for it are dropped. A deeper buffer only
 * adds delay to every flow of the session; the inner TCP recovers from a drop in one round trip.
 */
export const MAX_SEND_BUFFER_BYTES = 1024 * 1024;

export interface Leg {
  socket: WebSocket;
  encoding: Encoding;
}

export class Session {
  readonly id: Uint8Array;
  readonly clientId: string;
  readonly address: string;
  readonly addressInt: number;
  readonly resumeToken: Uint8Array;
  readonly started = Date.now();
  leg: Leg | undefined;

  constructor(fields: {
    id: Uint8Array;
    clientId: string;
    address: string;
    addressInt: number;
    resumeToken: Uint8Array;
    leg: Leg;
  }) {
    this.id = fields.id;
    this.clientId = fields.clientId;
    this.address = fields.address;
    this.addressInt = fields.addressInt;
    this.resumeToken = fields.resumeToken;
    this.leg = fields.leg;
  }

  /** Sends packets from the internet to the laptop, batched; drops them when the leg is backed up. */
  sendPackets(packets: Uint8Array[], metrics: ExitMetrics): void {
    const leg = this.leg;
    if (!leg || leg.socket.readyState !== leg.socket.OPEN) {
      metrics.drop("no_session", packets.length);
      return;
    }
    if (leg.socket.bufferedAmount > MAX_SEND_BUFFER_BYTES) {
      metrics.drop("send_buffer_full", packets.length);
      return;
    }
    let bytes = 0;
    for (const packet of packets) bytes += packet.length;
    const oversized = packDataFrames(packets, (frame) => sendFrame(leg, frame));
    if (oversized) metrics.drop("frame_too_large", oversized);
    metrics.relayed("down", packets.length - oversized, bytes);
  }
}

export function sendFrame(leg: Leg, frame: Uint8Array): void {
  leg.socket.send(toMessage(frame, leg.encoding));
}

export class SessionTable {
  private readonly byAddress = new Map<number, Session>();

  get size(): number {
    return this.byAddress.size;
  }

  add(session: Session): void {
    this.byAddress.set(session.addressInt, session);
  }

  remove(session: Session): void {
    if (this.byAddress.get(session.addressInt) === session) this.byAddress.delete(session.addressInt);
  }

  byDestination(address: number): Session | undefined {
    return this.byAddress.get(address);
  }

  all(): IterableIterator<Session> {
    return this.byAddress.values();
  }
}
