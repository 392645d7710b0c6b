import { describe, expect, it } from "vitest";
import { CODEL_INTERVAL_MS } from "./codel.js";
import { MAX_SEND_BUFFER_BYTES, SendQueue } from "./send-queue.js";

/** A sink that takes frames only when the test says so, like a congested link. */
function slowSink() {
  const waiting: (() => void)[] = [];
  return {
    bufferedAmount: 0,
    sent: [] as Uint8Array[],
    write(frame: Uint8Array, taken: () => void) {
      this.sent.push(frame);
      waiting.push(taken);
    },
    drain() {
      for (const callback of waiting.splice(0)) callback();
    },
    takeOne() {
      waiting.shift()?.();
    },
  };
}

const packet = () => new Uint8Array(100).fill(0x45);

describe("a tunnel end's send queue", () => {
  it("sends the packets ready together as one DATA frame", () => {
    const sink = slowSink();
    const queue = new SendQueue(sink);
    const result = queue.sendPackets([packet(), packet(), packet()]);
    expect(result).toEqual({ packets: 3, bytes: 300, dropped: 0, reason: undefined });
    expect(sink.sent).toHaveLength(1);
  });

  it("drops DATA, counted as queue_delay, once frames have waited past the target for an interval", () => {
    let now = 0;
    const sink = slowSink();
    const queue = new SendQueue(sink, { now: () => now });
    const results = [];
    for (; now < 3 * CODEL_INTERVAL_MS; now += 10) {
      results.push(queue.sendPackets([packet()]));
      if (now % 20 === 0) sink.takeOne(); // the link takes half of what is offered: a standing queue
    }
    const dropped = results.filter((r) => r.reason === "queue_delay");
    expect(dropped.length).toBeGreaterThan(0);
    expect(dropped.every((r) => r.dropped === 1 && r.packets === 0)).toBe(true);
    expect(queue.codel.drops).toBe(dropped.length);
  });

  it("never drops while the socket keeps up", () => {
    let now = 0;
    const sink = slowSink();
    const queue = new SendQueue(sink, { now: () => now });
    for (; now < 10 * CODEL_INTERVAL_MS; now += 1) {
      expect(queue.sendPackets([packet()]).reason).toBeUndefined();
      sink.drain();
    }
  });

  it("always sends control frames, and drops DATA past the byte cap", () => {
    const sink = slowSink();
    const queue = new SendQueue(sink);
    sink.bufferedAmount = MAX_SEND_BUFFER_BYTES + 1;
    expect(queue.sendPackets([packet()]).reason).toBe("send_buffer_full");
    queue.sendControl(new Uint8Array([7, 0, 0, 0, 0, 0, 0, 2, 0, 1]));
    expect(sink.sent).toEqual([new Uint8Array([7, 0, 0, 0, 0, 0, 0, 2, 0, 1])]);
  });

  it("turns batching off when told one packet per frame", () => {
    const sink = slowSink();
    new SendQueue(sink, { maxPacketsPerFrame: 1 }).sendPackets([packet(), packet()]);
    expect(sink.sent).toHaveLength(2);
  });

  it("drops DATA when the queue is down the path: round trips grown above their base for an interval", () => {
    let now = 0;
    const sink = slowSink();
    const queue = new SendQueue(sink, { now: () => now });
    queue.pathRtt(4); // the base: an idle path
    const results = [];
    for (; now < 5 * CODEL_INTERVAL_MS; now += 5) {
      results.push(queue.sendPackets([packet()]));
      sink.drain(); // this socket keeps up: the queue is further on, in front of a slow uplink
      if (now % 50 === 0) queue.pathRtt(4 + 60);
    }
    expect(results.some((r) => r.reason === "queue_delay")).toBe(true);
  });

  it("stops dropping once the round trips are back at their base", () => {
    let now = 0;
    const sink = slowSink();
    const queue = new SendQueue(sink, { now: () => now });
    queue.pathRtt(4);
    for (; now < 3 * CODEL_INTERVAL_MS; now += 5) {
      queue.pathRtt(64);
      queue.sendPackets([packet()]);
      sink.drain();
    }
    queue.pathRtt(5);
    for (const end = now + 10 * CODEL_INTERVAL_MS; now < end; now += 5) {
      expect(queue.sendPackets([packet()]).reason).toBeUndefined();
      sink.drain();
    }
  });

  it("leaves the ACKs alone: a round trip grown by the other direction's queue drops nothing here", () => {
    let now = 0;
    const sink = slowSink();
    const queue = new SendQueue(sink, { now: () => now });
    queue.pathRtt(4);
    for (; now < 5 * CODEL_INTERVAL_MS; now += 5) {
      expect(queue.sendPackets([new Uint8Array(40).fill(0x45)]).reason).toBeUndefined(); // ACKs out
      queue.received(20 * 1400); // bulk data in: the queue is on the way here
      sink.drain();
      if (now % 50 === 0) queue.pathRtt(64);
    }
  });
});
