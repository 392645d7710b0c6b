// One of the relay's two WebSockets. It dials, keeps itself alive with the heartbeat (answering
// for its own PINGs, so its PONGs never reach the other leg), and when it drops it dials again
// with backoff, on its own, until stopped.
//
//   idle ──start──> connecting ──open──> open ──close/silence──> backoff ──timer/nudge──> connecting
//     ^                  └──timeout/error──────────────────────────┘                        │
//     └──────────────────────────────── stop (from any state) ──────────────────────────────┘
import { decodeFrame, encodeFrame } from "../../protocol/codec.js";
import { type Encoding, fromMessage, peekHeader, toMessage } from "../../protocol/encoding.js";
import { codeForClose } from "../../protocol/errors.js";
import { FrameType, type Hop } from "../../protocol/frames.js";
import { Heartbeat } from "../../protocol/heartbeat.js";
import { Backoff } from "./backoff.js";

/** A leg that has not opened by now is abandoned and dialed again, ms. */
export const CONNECT_TIMEOUT_MS = 8_000;

export type LegName = "laptop" | "exit";
export type LegState = "idle" | "connecting" | "open" | "backoff";

export interface LegStats {
  name: LegName;
  state: LegState;
  encoding: Encoding;
  /** Round trip of this leg's last answered heartbeat PING, ms. */
  rttMs: number | undefined;
  messagesIn: number;
  bytesIn: number;
  messagesOut: number;
  bytesOut: number;
  /** Bytes the socket holds unsent (sampled when the relay's stats are read). */
  bufferedAmount: number;
  /** Times the leg opened; every one after the first is a reconnect. */
  opens: number;
  /** When the next dial happens, while in backoff (Date.now() ms). */
  retryAt: number | undefined;
  /** Why the leg last closed, for people. */
  lastClose: string;
  openedAt: number | undefined;
}

export interface LegOptions {
  name: LegName;
  /** The hop this leg's own PINGs carry (answered by the far end of this leg). */
  hop: Hop;
  encoding: Encoding;
  url: () => string;
  /** A message for the other leg (everything but this leg's own PONGs). */
  message(data: ArrayBuffer | string): void;
  opened(): void;
  closed(): void;
  /** State changed (for the view). */
  changed(): void;
}

function describeClose(event: CloseEvent): string {
  const code = codeForClose(event.code);
  if (code) return event.reason && event.reason !== code ? `${code}: ${event.reason}` : code;
  return event.code === 1006 ? "connection lost" : `code ${event.code}`;
}

export class Leg {
  readonly stats: LegStats;
  /** Each round trip of this leg's own PINGs, as measured (the self-test listens), ms. */
  onRtt: ((ms: number) => void) | undefined;
  private nextProbeId = 0x8000_0000;
  private socket: WebSocket | undefined;
  private heartbeat: Heartbeat | undefined;
  private readonly backoff = new Backoff();
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private wanted = false;

  constructor(private readonly options: LegOptions) {
    this.stats = {
      name: options.name,
      state: "idle",
      encoding: options.encoding,
      rttMs: undefined,
      messagesIn: 0,
      bytesIn: 0,
      messagesOut: 0,
      bytesOut: 0,
      bufferedAmount: 0,
      opens: 0,
      retryAt: undefined,
      lastClose: "",
      openedAt: undefined,
    };
  }

  get open(): boolean {
    return this.stats.state === "open";
  }

  get bufferedAmount(): number {
    return this.socket?.bufferedAmount ?? 0;
  }

  /** Keep this leg up from now on. */
  start(): void {
    if (this.wanted) return;
    this.wanted = true;
    this.dial();
  }

  /** Close (with `closeCode`, for the far end) and stay closed until start(). */
  stop(reason = "stopped", closeCode = 1000): void {
    this.wanted = false;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.backoff.reset();
    this.teardown(reason, closeCode);
    this.setState("idle");
  }

  /** The network may be back (online, visible again, page shown): dial now instead of waiting. */
  nudge(): void {
    if (this.wanted && this.stats.state === "backoff") {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      this.dial();
    }
  }

  /** Sends a message on; false when the leg is not open. */
  send(data: ArrayBuffer | string): boolean {
    const socket = this.socket;
    if (!socket || this.stats.state !== "open") return false;
    socket.send(data);
    this.stats.messagesOut++;
    this.stats.bytesOut += typeof data === "string" ? data.length : data.byteLength;
    return true;
  }

  /** Sends a frame in this leg's encoding; false when the leg is not open. */
  sendFrame(frame: Uint8Array): boolean {
    return this.send(toMessage(frame, this.options.encoding) as ArrayBuffer | string);
  }

  /** One PING of this leg's own now, besides the heartbeat's (ids apart from the heartbeat's). */
  pingNow(): boolean {
    this.nextProbeId = this.nextProbeId >= 0xffff_ffff ? 0x8000_0000 : this.nextProbeId + 1;
    return this.sendFrame(
      encodeFrame({ type: FrameType.PING, hop: this.options.hop, id: this.nextProbeId, sentAt: Date.now() }),
    );
  }

  private setState(state: LegState): void {
    if (this.stats.state === state) return;
    this.stats.state = state;
    this.options.changed();
  }

  private dial(): void {
    this.stats.retryAt = undefined;
    this.setState("connecting");
    const socket = new WebSocket(this.options.url());
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    this.connectTimer = setTimeout(() => this.drop("connect timeout"), CONNECT_TIMEOUT_MS);
    socket.onopen = () => {
      if (socket !== this.socket) return;
      clearTimeout(this.connectTimer);
      this.backoff.reset();
      this.stats.opens++;
      this.stats.openedAt = Date.now();
      this.heartbeat = new Heartbeat({
        ping: (id, sentAt) => this.ping(id, sentAt),
        dead: () => this.drop("no heartbeat"),
      });
      this.setState("open");
      this.options.opened();
    };
    socket.onmessage = (event: MessageEvent<ArrayBuffer | string>) => {
      if (socket !== this.socket) return;
      this.received(event.data);
    };
    socket.onclose = (event) => {
      if (socket !== this.socket) return;
      this.drop(describeClose(event));
    };
  }

  private ping(id: number, sentAt: number): void {
    const frame = encodeFrame({ type: FrameType.PING, hop: this.options.hop, id, sentAt });
    this.send(toMessage(frame, this.options.encoding) as ArrayBuffer | string);
  }

  private received(data: ArrayBuffer | string): void {
    this.stats.messagesIn++;
    this.stats.bytesIn += typeof data === "string" ? data.length : data.byteLength;
    this.heartbeat?.alive();
    const header = peekHeader(data);
    if (header?.type === FrameType.PONG) {
      try {
        const pong = decodeFrame(fromMessage(data));
        if (pong?.type === FrameType.PONG && pong.hop === this.options.hop) {
          this.heartbeat?.pong(pong.sentAt);
          this.stats.rttMs = this.heartbeat?.rttMs;
          this.onRtt?.(Date.now() - pong.sentAt);
          return;
        }
      } catch {
        // not ours to judge: the far end will
      }
    }
    this.options.message(data);
  }

  /** The leg is gone (closed, silent, or never opened): tear down, and dial again if wanted. */
  private drop(reason: string): void {
    this.teardown(reason);
    if (!this.wanted) return;
    const wait = this.backoff.next();
    this.stats.retryAt = Date.now() + wait;
    this.setState("backoff");
    this.options.closed();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.wanted) this.dial();
    }, wait);
  }

  private teardown(reason: string, closeCode = 1000): void {
    clearTimeout(this.connectTimer);
    this.heartbeat?.stop();
    this.heartbeat = undefined;
    const socket = this.socket;
    this.socket = undefined;
    if (!socket) return;
    const wasOpen = this.stats.state === "open";
    this.stats.lastClose = reason;
    this.stats.openedAt = undefined;
    socket.onopen = socket.onmessage = socket.onclose = null;
    if (socket.readyState === WebSocket.CONNECTING || socket.readyState === WebSocket.OPEN)
      socket.close(closeCode, codeForClose(closeCode) ?? "");
    if (wasOpen && !this.wanted) this.options.closed();
  }
}
