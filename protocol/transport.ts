// The boundary between a tunnel end and the leg it speaks over: one message channel, as
// wireguard-go's conn.Bind is the boundary between its device and UDP. A tunnel end (tunnel/end.ts)
// depends only on this; `tunnel/ws-transport.ts` adapts a `ws` WebSocket to it, and
// `memoryTransportPair()` below connects two ends in one process for tests.
//
//   open ──send/message──> open ──close(code) or terminate() or the peer closes──> closed (once)
//
// Messages are whole: one message is one frame (binary bytes, or base64 text). The transport knows
// nothing of frames, encodings or the protocol. Isomorphic: no Node APIs.

/** One message as a leg carries it: binary bytes, or text. */
export type Message = Uint8Array | string;

/** The normal close of a WebSocket (RFC 6455 7.4.1). */
export const CLOSE_NORMAL = 1000;
/** Reported, never sent: the connection went without a close frame (RFC 6455 7.4.1). */
export const CLOSE_ABNORMAL = 1006;

export interface TransportClose {
  /** The close code the peer sent, or CLOSE_ABNORMAL when none arrived. */
  code: number;
  reason: string;
  /**
   * Set when the transport itself failed or refused what the peer sent (a message over its size
   * limit, broken WebSocket framing, a socket error) rather than the peer closing: the peer
   * misbehaved below the protocol.
   */
  error?: Error | undefined;
}

export interface Transport {
  /**
   * Queues one message. `onSent` is called exactly once, later (never synchronously): without an
   * error when the transport has handed the message on (to the OS socket, or to the peer), with
   * one when it never will (closed meanwhile). A tunnel end measures queue delay with it. Never
   * throws; after close the message is discarded and `onSent` gets an error.
   */
  send(message: Message, onSent?: (error?: Error) => void): void;

  /** Bytes queued by send() and not handed on yet: the backlog a send queue must bound. */
  readonly bufferedAmount: number;

  /** True until close(), terminate() or the peer's close: while send() can still deliver. */
  readonly open: boolean;

  /**
   * Ends the connection with a close code and reason the peer sees (messages sent before it are
   * delivered first). The close event follows, once, when the transport is done; again is a no-op.
   */
  close(code: number, reason: string): void;

  /** Drops the connection at once, without a close handshake (a dead leg). The close event follows. */
  terminate(): void;

  /**
   * Registers the receiver of every message, in order, from now on (one receiver: the tunnel end).
   * Text messages arrive as strings, binary ones as bytes; a message is not touched afterwards,
   * so the receiver may keep views into it.
   */
  onMessage(receive: (message: Message) => void): void;

  /** Registers the handler of the close, called once, after the last message. */
  onClose(closed: (close: TransportClose) => void): void;
}

/** A transport whose far end is another in-memory transport. */
export interface MemoryTransport extends Transport {
  /** Messages this side has sent, in order, while `record` is on (for tests' assertions). */
  readonly sent: Message[];
  /** Whether to keep what is sent in `sent` (off by default: a fuzz test sends a lot). */
  record: boolean;
  /** How the close ended, once it has. */
  readonly closed: TransportClose | undefined;
  /** Makes the next sends wait (bufferedAmount grows) until `resume()`: a peer that stops reading. */
  pause(): void;
  resume(): void;
  /** Nothing scheduled on this side: every message sent so far delivered (unless paused). */
  readonly idle: boolean;
}

/**
 * Waits until every transport given is idle: what they carry delivered, and whatever the receivers
 * sent back at once delivered too, without a turn of the event loop. Async work of a receiver (a
 * HELLO's check on the thread pool) is not waited for.
 */
export async function memoryDrained(...transports: MemoryTransport[]): Promise<void> {
  for (let turn = 0; turn < MAX_DRAIN_TURNS && transports.some((t) => !t.idle); turn++) {
    await Promise.resolve();
  }
}

/** Microtask turns memoryDrained() waits at most: bounds a pair that never goes quiet. */
const MAX_DRAIN_TURNS = 10_000;

/**
 * Two transports connected to each other in memory: what one sends, the other receives, in order,
 * each message in its own microtask (never during the send() that sent it); a close on one closes
 * both, after what was sent before it, with the same code on both sides. bufferedAmount counts
 * bytes (text: characters) sent and not delivered yet.
 */
export function memoryTransportPair(): [MemoryTransport, MemoryTransport] {
  const a = new MemoryEnd();
  const b = new MemoryEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

function byteLength(message: Message): number {
  return typeof message === "string" ? message.length : message.byteLength;
}

const CLOSED = () => new Error("transport closed");

class MemoryEnd implements MemoryTransport {
  peer: MemoryEnd | undefined;
  readonly sent: Message[] = [];
  record = false;
  closed: TransportClose | undefined;
  private buffered = 0;
  private paused = false;
  private flushing = false;
  /** What send() and close() queued, delivered in order. */
  private readonly backlog: (
    | { message: Message; onSent: ((error?: Error) => void) | undefined }
    | { close: TransportClose }
  )[] = [];
  private closing = false;
  private receive: ((message: Message) => void) | undefined;
  private closedHandler: ((close: TransportClose) => void) | undefined;
  /** Messages that arrived before a receiver was registered. */
  private readonly early: Message[] = [];
  /** Microtasks scheduled and not run yet. */
  private scheduled = 0;

  get idle(): boolean {
    return this.scheduled === 0 && (this.paused || this.backlog.length === 0);
  }

  /** Runs `task` in a microtask, counted for `idle`. */
  private later(task: () => void): void {
    this.scheduled++;
    queueMicrotask(() => {
      this.scheduled--;
      task();
    });
  }

  get bufferedAmount(): number {
    return this.buffered;
  }

  get open(): boolean {
    return !this.closing && this.closed === undefined;
  }

  send(message: Message, onSent?: (error?: Error) => void): void {
    if (!this.open) {
      if (onSent) this.later(() => onSent(CLOSED()));
      return;
    }
    if (this.record) this.sent.push(message);
    this.buffered += byteLength(message);
    this.backlog.push({ message, onSent });
    this.flush();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.flush();
  }

  close(code: number, reason: string): void {
    if (!this.open) return;
    this.closing = true;
    this.backlog.push({ close: { code, reason } });
    this.flush();
  }

  terminate(): void {
    if (this.closed) return;
    this.closing = true;
    const close = { code: CLOSE_ABNORMAL, reason: "" };
    this.later(() => {
      this.ended(close);
      this.peer?.ended(close);
    });
  }

  onMessage(receive: (message: Message) => void): void {
    this.receive = receive;
    for (const message of this.early.splice(0)) receive(message);
  }

  onClose(closed: (close: TransportClose) => void): void {
    this.closedHandler = closed;
  }

  private deliver(message: Message): void {
    if (this.closed) return;
    if (this.receive) this.receive(message);
    else this.early.push(message);
  }

  private ended(close: TransportClose): void {
    if (this.closed) return;
    this.closing = true;
    this.closed = close;
    for (const item of this.backlog.splice(0)) {
      if ("onSent" in item && item.onSent) {
        const onSent = item.onSent;
        this.later(() => onSent(CLOSED()));
      }
    }
    this.buffered = 0;
    this.closedHandler?.(close);
  }

  /** Delivers the backlog, one item per microtask, unless paused. */
  private flush(): void {
    if (this.flushing || this.paused || this.backlog.length === 0) return;
    this.flushing = true;
    this.later(() => {
      this.flushing = false;
      if (this.paused || this.closed) return;
      const next = this.backlog.shift();
      if (!next) return;
      if ("close" in next) {
        this.ended(next.close);
        this.peer?.ended(next.close);
        return;
      }
      this.buffered -= byteLength(next.message);
      this.peer?.deliver(next.message);
      next.onSent?.();
      this.flush();
    });
  }
}
