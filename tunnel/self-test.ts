// The two Node halves of the phone's self-test (protocol/self-test.ts): the laptop sends ECHOs
// inside its session when its relay asks (SelfTestSender), the exit answers each with the same
// bytes (echoAnswer). Test traffic only the laptop's authenticated session can make an exit send;
// bounded in time, bytes and frequency; paced by the leg's backlog so it never queues without end.
import {
  decodeSelfTest,
  ECHO_DRAIN_MS,
  echoReply,
  encodeEcho,
  encodeSelfTestDone,
  SELF_TEST_MIN_INTERVAL_MS,
  type SelfTestRequest,
  SelfTestType,
} from "../protocol/self-test.js";

/** ECHOs are written while the leg holds less than this unsent: enough to keep a fast link busy, bytes. */
export const ECHO_BACKLOG_BYTES = 256 * 1024;
/**
 * ECHO bytes sent and not yet answered, at most: a window, as TCP keeps, so the test measures what
 * the relay carries instead of filling the phone's leg buffers (512 KiB each, past which the
 * phone drops). 384 KiB covers a 500 Mbit/s path with 6 ms of round trip, or 30 Mbit/s with 100 ms.
 */
export const ECHO_WINDOW_BYTES = 384 * 1024;

/** The leg the test runs on: the laptop's TunnelEnd. */
export interface SelfTestLeg {
  readonly open: boolean;
  readonly bufferedAmount: number;
  /** A frame's bytes, sent as they are (control path: never dropped by CoDel). */
  sendFrame(frame: Uint8Array): void;
}

export type SelfTestRefusal = "malformed" | "running" | "too_soon" | "not_established";

interface Run {
  leg: SelfTestLeg;
  request: SelfTestRequest;
  startedAt: number;
  seq: number;
  echoesSent: number;
  echoesReceived: number;
  bytesSent: number;
  bytesReceived: number;
  timer: ReturnType<typeof setTimeout> | ReturnType<typeof setImmediate> | undefined;
  draining: boolean;
}

export class SelfTestSender {
  private run: Run | undefined;
  private lastStartedAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly now: () => number = Date.now) {}

  /** A SELF_TEST from the relay. Starts the test, or says why not (nothing is sent then). */
  request(leg: SelfTestLeg, frame: Uint8Array, established: boolean): SelfTestRefusal | undefined {
    let request: SelfTestRequest;
    try {
      request = decodeSelfTest(frame);
    } catch {
      return "malformed";
    }
    if (!established) return "not_established";
    if (this.run) return "running";
    const now = this.now();
    if (now - this.lastStartedAt < SELF_TEST_MIN_INTERVAL_MS) return "too_soon";
    this.lastStartedAt = now;
    this.run = {
      leg,
      request,
      startedAt: now,
      seq: 0,
      echoesSent: 0,
      echoesReceived: 0,
      bytesSent: 0,
      bytesReceived: 0,
      timer: undefined,
      draining: false,
    };
    this.pump();
    return undefined;
  }

  /** An ECHO_REPLY from the exit, for the running test (others are ignored). */
  reply(frame: Uint8Array): void {
    const run = this.run;
    if (!run || frame[0] !== SelfTestType.ECHO_REPLY) return;
    run.echoesReceived++;
    run.bytesReceived += frame.length;
    if (run.draining) {
      if (run.echoesReceived >= run.echoesSent) this.finish();
    } else {
      this.clear(run);
      this.pump(); // the window opened
    }
  }

  /** The leg went away: the test ends without a report. */
  stop(): void {
    const run = this.run;
    if (!run) return;
    this.clear(run);
    this.run = undefined;
  }

  private pump(): void {
    const run = this.run;
    if (!run) return;
    run.timer = undefined;
    if (!run.leg.open) {
      this.stop();
      return;
    }
    const { durationMs, maxBytes, payloadBytes } = run.request;
    while (
      run.leg.bufferedAmount < ECHO_BACKLOG_BYTES &&
      run.bytesSent - run.bytesReceived < ECHO_WINDOW_BYTES &&
      run.bytesSent < maxBytes
    ) {
      if (this.now() - run.startedAt >= durationMs) break;
      const echo = encodeEcho(run.seq++, this.now(), payloadBytes);
      run.leg.sendFrame(echo);
      run.echoesSent++;
      run.bytesSent += echo.length;
    }
    if (run.bytesSent >= maxBytes || this.now() - run.startedAt >= durationMs) {
      run.draining = true;
      if (run.echoesReceived >= run.echoesSent) this.finish();
      else run.timer = setTimeout(() => this.finish(), ECHO_DRAIN_MS);
      return;
    }
    // Backed up: look again shortly; otherwise at the next turn of the event loop.
    run.timer =
      run.leg.bufferedAmount < ECHO_BACKLOG_BYTES
        ? setImmediate(() => this.pump())
        : setTimeout(() => this.pump(), 1);
  }

  private finish(): void {
    const run = this.run;
    if (!run) return;
    this.clear(run);
    this.run = undefined;
    if (!run.leg.open) return;
    run.leg.sendFrame(
      encodeSelfTestDone({
        echoesSent: run.echoesSent,
        echoesReceived: run.echoesReceived,
        bytesSent: run.bytesSent,
        bytesReceived: run.bytesReceived,
        elapsedMs: this.now() - run.startedAt,
      }),
    );
  }

  private clear(run: Run): void {
    if (run.timer === undefined) return;
    clearTimeout(run.timer as ReturnType<typeof setTimeout>);
    clearImmediate(run.timer as ReturnType<typeof setImmediate>);
    run.timer = undefined;
  }
}

/**
 * The exit's answer to an ECHO: its bytes back as ECHO_REPLY, or undefined when it is not one
 * (malformed). The caller answers only in an established session, within its rate limit.
 */
export function echoAnswer(frame: Uint8Array): Uint8Array | undefined {
  if (frame[0] !== SelfTestType.ECHO) return undefined;
  try {
    return echoReply(frame);
  } catch {
    return undefined;
  }
}
