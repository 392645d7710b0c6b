// The relay: two WebSockets, one to the laptop and one to the exit, and every message from one
// sent on the other as it came (an ArrayBuffer is forwarded untouched: no copy, no parsing of
// DATA). It knows nothing of the page; the view reads `stats` and listens to `onChange`.
//
//   laptop leg opens ──> exit leg opens ──> relaying ──> either closes ──> both closed ──> retry
import { ENCODING_PARAM, type Encoding } from "../../protocol/encoding.js";
import { codeForClose } from "../../protocol/errors.js";

/** Wait before dialing again after the legs dropped, ms (issue-3 work replaces this with backoff). */
const RETRY_DELAY_MS = 1_000;
/** A leg that has not opened by now is abandoned and dialed again, ms. */
const CONNECT_TIMEOUT_MS = 10_000;

export type LegName = "laptop" | "exit";
export type LegState = "idle" | "connecting" | "open" | "closed";

export interface LegStats {
  state: LegState;
  messagesIn: number;
  bytesIn: number;
  lastClose: string;
}

export interface RelayStats {
  laptop: LegStats;
  exit: LegStats;
  /** Bytes relayed laptop -> exit (up) and exit -> laptop (down). */
  bytesUp: number;
  bytesDown: number;
  connects: number;
}

export interface RelayOptions {
  laptopUrl: string;
  secret: string;
  exitUrl: string;
  encoding: Encoding;
}

const newLeg = (): LegStats => ({ state: "idle", messagesIn: 0, bytesIn: 0, lastClose: "" });

function messageBytes(data: ArrayBuffer | string): number {
  return typeof data === "string" ? data.length : data.byteLength;
}

function describeClose(event: CloseEvent): string {
  const code = codeForClose(event.code);
  return code
    ? `${code}${event.reason && event.reason !== code ? `: ${event.reason}` : ""}`
    : `code ${event.code}`;
}

export class Relay {
  readonly stats: RelayStats = { laptop: newLeg(), exit: newLeg(), bytesUp: 0, bytesDown: 0, connects: 0 };
  onChange: () => void = () => undefined;
  private laptop: WebSocket | undefined;
  private exit: WebSocket | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private running = false;

  constructor(private readonly options: RelayOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.dial();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.retryTimer);
    this.closeLegs();
  }

  private dial(): void {
    const { options } = this;
    const laptopUrl = `${options.laptopUrl}/relay?secret=${encodeURIComponent(options.secret)}&${ENCODING_PARAM}=${options.encoding}`;
    this.open("laptop", laptopUrl, () => {
      const exitUrl = `${options.exitUrl}?${ENCODING_PARAM}=${options.encoding}`;
      this.open("exit", exitUrl, () => {
        this.stats.connects++;
        this.onChange();
      });
    });
  }

  private open(name: LegName, url: string, opened: () => void): void {
    const stats = this.stats[name];
    stats.state = "connecting";
    this.onChange();
    const socket = new WebSocket(url);
    this[name] = socket;
    socket.binaryType = "arraybuffer";
    const timeout = setTimeout(() => socket.close(), CONNECT_TIMEOUT_MS);
    socket.onopen = () => {
      clearTimeout(timeout);
      stats.state = "open";
      opened();
      this.onChange();
    };
    socket.onmessage = (event: MessageEvent<ArrayBuffer | string>) => this.forward(name, event.data);
    socket.onclose = (event) => {
      clearTimeout(timeout);
      if (socket !== this[name]) return; // a leg we already let go
      stats.state = "closed";
      stats.lastClose = describeClose(event);
      this.legClosed();
    };
  }

  /** The hot path: one message in, the same message out on the other leg. */
  private forward(from: LegName, data: ArrayBuffer | string): void {
    const bytes = messageBytes(data);
    const stats = this.stats[from];
    stats.messagesIn++;
    stats.bytesIn += bytes;
    const to = from === "laptop" ? this.exit : this.laptop;
    if (to?.readyState !== WebSocket.OPEN) return;
    to.send(data);
    if (from === "laptop") this.stats.bytesUp += bytes;
    else this.stats.bytesDown += bytes;
  }

  /** Either leg closing ends the pair: the laptop handshakes again with the exit through the next. */
  private legClosed(): void {
    this.closeLegs();
    this.onChange();
    if (!this.running || this.retryTimer !== undefined) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.running) this.dial();
    }, RETRY_DELAY_MS);
  }

  private closeLegs(): void {
    const sockets = [this.laptop, this.exit];
    this.laptop = undefined;
    this.exit = undefined;
    for (const socket of sockets) {
      if (socket && socket.readyState !== WebSocket.CLOSED) socket.close(1000);
    }
    for (const name of ["laptop", "exit"] as const) {
      if (this.stats[name].state !== "closed") this.stats[name].state = "closed";
    }
  }
}
