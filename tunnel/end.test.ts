// The tunnel end as both sides rely on it, over the in-memory pair: the test plays the phone on
// the other side of the leg.
import { afterEach, describe, expect, it, vi } from "vitest";
import { decodeFrame, encodeFrame } from "../protocol/codec.js";
import { type Encoding, fromMessage, toMessage } from "../protocol/encoding.js";
import { ErrorCodes, ProtocolError } from "../protocol/errors.js";
import { type Frame, FrameType, Hop } from "../protocol/frames.js";
import { HEARTBEAT_TIMEOUT_MS } from "../protocol/heartbeat.js";
import {
  type MemoryTransport,
  memoryDrained,
  memoryTransportPair,
  type TransportClose,
} from "../protocol/transport.js";
import {
  CONTROL_REPLIES_PER_SECOND,
  CONTROL_REPLY_BURST,
  type ControlRefusal,
  MAX_UNREAD_BYTES,
  ReplyBudget,
} from "./control-budget.js";
import { type HandshakeFrame, TunnelEnd, type TunnelEndOwner } from "./end.js";

interface Subject {
  end: TunnelEnd;
  phone: MemoryTransport;
  endSide: MemoryTransport;
  /** Frames the phone received from the end, decoded. */
  received: Frame[];
  handshake: HandshakeFrame[];
  /** v2 handshake frames (HELLO, RESPONSE), as bytes. */
  handshakeBytes: Uint8Array[];
  data: Uint8Array[][];
  peerClosed: [number, string][];
  protocolErrors: ProtocolError[];
  closed: TransportClose[];
  /** What the end refused the phone (tunnel/control-budget.ts). */
  refused: ControlRefusal[];
  /** Sends a frame from the phone and waits for what follows. */
  send(frame: Frame | Uint8Array | string): Promise<void>;
}

const ends: TunnelEnd[] = [];
afterEach(() => {
  for (const end of ends.splice(0)) end.terminate();
  vi.useRealTimers();
});

function subject(
  options: {
    encoding?: Encoding;
    watchFromStart?: boolean;
    legHop?: typeof Hop.LAPTOP_LEG | typeof Hop.EXIT_LEG;
    owner?: Partial<TunnelEndOwner>;
  } = {},
): Subject {
  const encoding = options.encoding ?? "binary";
  const [phone, endSide] = memoryTransportPair();
  const s = {
    phone,
    endSide,
    received: [],
    handshake: [],
    handshakeBytes: [],
    data: [],
    peerClosed: [],
    protocolErrors: [],
    closed: [],
    refused: [],
  } as unknown as Subject;
  phone.onMessage((message) => {
    const frame = decodeFrame(fromMessage(message));
    if (frame) s.received.push(frame);
  });
  s.end = new TunnelEnd(
    {
      transport: endSide,
      encoding,
      legHop: options.legHop ?? Hop.EXIT_LEG,
      watchFromStart: options.watchFromStart ?? false,
      refused: (reason) => s.refused.push(reason),
    },
    {
      frame: (frame) => s.handshake.push(frame),
      handshake: (bytes) => s.handshakeBytes.push(bytes),
      data: (packets) => {
        s.data.push(packets);
        return packets.reduce((sum, p) => sum + p.length, 0);
      },
      peerClosed: (code, reason) => s.peerClosed.push([code, reason]),
      protocolError: (error) => s.protocolErrors.push(error),
      closed: (close) => s.closed.push(close),
      ...options.owner,
    },
  );
  ends.push(s.end);
  s.send = async (frame) => {
    const bytes = frame instanceof Uint8Array || typeof frame === "string" ? frame : encodeFrame(frame);
    phone.send(typeof bytes === "string" ? bytes : toMessage(bytes, encoding));
    await memoryDrained(phone, endSide);
  };
  return s;
}

const ping = (hop: Hop) => ({ type: FrameType.PING, hop, id: 7, sentAt: 1234.5 }) as const;

describe("a tunnel end", () => {
  it("answers the phone's PINGs for the laptop's leg from the start, echoing them as PONG", async () => {
    const s = subject({ legHop: Hop.LAPTOP_LEG });
    await s.send(ping(Hop.LAPTOP_LEG));
    expect(s.received).toEqual([{ ...ping(Hop.LAPTOP_LEG), type: FrameType.PONG }]);
    expect(s.refused).toEqual([]);
  });

  it("answers nothing but the handshake on the exit's leg before the keys: its PINGs only once keyed", async () => {
    const s = subject();
    await s.send(ping(Hop.EXIT_LEG));
    expect(s.received).toEqual([]);
    expect(s.refused).toEqual(["control_reply"]);
    s.end.installKeys({ send: new Uint8Array(32).fill(1), receive: new Uint8Array(32).fill(2) });
    await s.send(ping(Hop.EXIT_LEG)); // the phone's own pings stay clear on a keyed leg
    expect(s.received).toEqual([{ ...ping(Hop.EXIT_LEG), type: FrameType.PONG }]);
  });

  it("answers PINGs within its budget of replies and counts the rest", async () => {
    vi.useFakeTimers({ toFake: ["performance"] }); // no refill while the test runs
    const s = subject({ legHop: Hop.LAPTOP_LEG });
    for (let i = 0; i < CONTROL_REPLY_BURST + 10; i++) s.phone.send(encodeFrame(ping(Hop.LAPTOP_LEG)));
    await memoryDrained(s.phone, s.endSide);
    expect(s.received).toHaveLength(CONTROL_REPLY_BURST);
    expect(s.refused).toEqual(new Array(10).fill("control_reply"));
  });

  it("terminates a leg whose peer lets more than MAX_UNREAD_BYTES wait unread, instead of buffering more", async () => {
    const s = subject();
    s.phone.pause();
    s.endSide.pause();
    const chunk = new Uint8Array(1024 * 1024);
    for (let i = 0; i * chunk.length <= MAX_UNREAD_BYTES + chunk.length && s.end.open; i++)
      s.end.sendFrame(chunk);
    expect(s.end.open).toBe(false);
    expect(s.refused).toEqual(["unread"]);
    s.end.sendFrame(chunk); // nothing more is taken
    expect(s.endSide.bufferedAmount).toBeLessThanOrEqual(MAX_UNREAD_BYTES + chunk.length);
  });

  it("answers end-to-end PINGs only once established, and never the other leg's", async () => {
    const s = subject({ legHop: Hop.LAPTOP_LEG });
    await s.send(ping(Hop.END_TO_END));
    await s.send(ping(Hop.EXIT_LEG));
    expect(s.received).toEqual([]);
    s.end.established();
    await s.send(ping(Hop.END_TO_END));
    expect(s.received.filter((f) => f.type === FrameType.PONG)).toHaveLength(1);
  });

  it("skips frames of unknown types and hands handshake frames and DATA to its owner", async () => {
    const s = subject({ encoding: "base64" });
    const unknown = new Uint8Array([99, 0, 0, 0, 0, 0, 0, 0]);
    await s.send(toMessage(unknown, "base64"));
    const challenge = encodeFrame({
      type: FrameType.CHALLENGE,
      versionMin: 2,
      versionMax: 2,
      nonce: new Uint8Array(32),
    });
    await s.send(challenge);
    // v2's HELLO and RESPONSE are not the v1 codec's to read: the owner gets their bytes.
    const hello = new Uint8Array([FrameType.HELLO, 0, 0, 0, 0, 0, 0, 2, 2, 2]);
    await s.send(hello);
    await s.send({ type: FrameType.DATA, packets: [new Uint8Array([0x45, 1, 2])] });
    expect(s.handshake.map((f) => f.type)).toEqual([FrameType.CHALLENGE]);
    expect(s.handshakeBytes).toEqual([hello]);
    expect(s.data).toEqual([[new Uint8Array([0x45, 1, 2])]]);
    expect(s.phone.closed).toBeUndefined();
  });

  it("ends a connection the one way: CLOSE frame with the code, then the same close code", async () => {
    const s = subject();
    s.end.end("SHUTTING_DOWN");
    await memoryDrained(s.phone, s.endSide);
    expect(s.received).toEqual([
      {
        type: FrameType.CLOSE,
        code: ErrorCodes.SHUTTING_DOWN.close,
        reason: ErrorCodes.SHUTTING_DOWN.message,
      },
    ]);
    expect(s.phone.closed).toEqual({ code: ErrorCodes.SHUTTING_DOWN.close, reason: "SHUTTING_DOWN" });
    expect(s.closed).toHaveLength(1);
  });

  it("closes a replaced leg with REPLACED and no CLOSE frame: the session goes on elsewhere", async () => {
    const s = subject();
    s.end.replaced();
    await memoryDrained(s.phone, s.endSide);
    expect(s.received).toEqual([]);
    expect(s.phone.closed?.code).toBe(ErrorCodes.REPLACED.close);
  });

  it("ends a connection with the codec's error code for a malformed frame, and tells its owner", async () => {
    const s = subject();
    await s.send(new Uint8Array([4, 0, 0, 1, 0, 0, 0, 9, 0]));
    expect(s.protocolErrors.map((e) => e.code)).toEqual(["LENGTH_MISMATCH"]);
    expect(s.received[0]).toMatchObject({ type: FrameType.CLOSE, code: ErrorCodes.LENGTH_MISMATCH.close });
    expect(s.phone.closed?.code).toBe(ErrorCodes.LENGTH_MISMATCH.close);
  });

  it("ends a connection with the code its owner threw, and reads nothing after", async () => {
    const s = subject({
      owner: {
        data: () => {
          throw new ProtocolError("UNEXPECTED_FRAME", "DATA before WELCOME");
        },
      },
    });
    s.phone.send(encodeFrame({ type: FrameType.DATA, packets: [new Uint8Array([0x45])] }));
    s.phone.send(encodeFrame(ping(Hop.EXIT_LEG)));
    await memoryDrained(s.phone, s.endSide);
    expect(s.phone.closed?.code).toBe(ErrorCodes.UNEXPECTED_FRAME.close);
    expect(s.received.map((f) => f.type)).toEqual([FrameType.CLOSE]);
  });

  it("closes the leg normally when the far end sends CLOSE, telling its owner the code", async () => {
    const s = subject();
    await s.send({ type: FrameType.CLOSE, code: 4401, reason: "unknown client or wrong key" });
    expect(s.peerClosed).toEqual([[4401, "unknown client or wrong key"]]);
    expect(s.phone.closed?.code).toBe(1000);
  });

  it("terminates a leg silent for the heartbeat's timeout, and not one that keeps talking", async () => {
    vi.useFakeTimers();
    const s = subject({ watchFromStart: true });
    vi.advanceTimersByTime(HEARTBEAT_TIMEOUT_MS - 100);
    await s.send(ping(Hop.EXIT_LEG));
    vi.advanceTimersByTime(HEARTBEAT_TIMEOUT_MS - 100);
    expect(s.closed).toHaveLength(0);
    vi.advanceTimersByTime(200);
    await memoryDrained(s.phone, s.endSide);
    expect(s.closed.map((c) => c.code)).toEqual([1006]);
  });

  it("does not watch for silence before it is established when told so (the exit's handshake deadline does)", async () => {
    vi.useFakeTimers();
    const s = subject({ watchFromStart: false });
    vi.advanceTimersByTime(HEARTBEAT_TIMEOUT_MS * 3);
    await memoryDrained(s.phone, s.endSide);
    expect(s.closed).toHaveLength(0);
  });

  it("probes the path once established: end-to-end PINGs whose PONGs give the round trip", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "setInterval", "Date"] });
    const s = subject();
    s.end.established();
    vi.advanceTimersByTime(1);
    await memoryDrained(s.phone, s.endSide);
    const probe = s.received.find((f) => f.type === FrameType.PING);
    expect(probe).toMatchObject({ hop: Hop.END_TO_END });
    vi.advanceTimersByTime(30);
    await s.send({ ...(probe as Frame & { type: 5 }), type: FrameType.PONG });
    expect(s.end.rttMs).toBeGreaterThanOrEqual(29);
  });

  it("drops DATA once the transport's backlog is past the byte cap, and says so", async () => {
    const s = subject();
    s.phone.pause();
    s.endSide.pause();
    const big = new Uint8Array(60_000).fill(0x45);
    let result = s.end.sendPackets([big]);
    for (let i = 0; i < 100 && !result.reason; i++) result = s.end.sendPackets([big]);
    expect(result.reason).toBe("send_buffer_full");
  });
});

describe("the budget of control replies", () => {
  it("gives a burst at once, then CONTROL_REPLIES_PER_SECOND", () => {
    const clock = { now: 0 };
    const budget = new ReplyBudget(() => clock.now);
    let given = 0;
    while (budget.take()) given++;
    expect(given).toBe(CONTROL_REPLY_BURST);
    clock.now += 1000;
    given = 0;
    while (budget.take()) given++;
    expect(given).toBe(CONTROL_REPLIES_PER_SECOND);
    clock.now += 60_000; // a long quiet spell refills only up to the burst
    given = 0;
    while (budget.take()) given++;
    expect(given).toBe(CONTROL_REPLY_BURST);
  });
});
