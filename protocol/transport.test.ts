import { describe, expect, it } from "vitest";
import { CLOSE_ABNORMAL, type Message, memoryTransportPair, type TransportClose } from "./transport.js";

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

function received(transport: { onMessage(receive: (message: Message) => void): void }): Message[] {
  const messages: Message[] = [];
  transport.onMessage((message) => messages.push(message));
  return messages;
}

describe("the in-memory transport pair", () => {
  it("delivers what one side sends to the other, in order, never during send()", async () => {
    const [a, b] = memoryTransportPair();
    const messages = received(b);
    a.send(new Uint8Array([1]));
    a.send("AgM=");
    expect(messages).toEqual([]);
    await settle();
    expect(messages).toEqual([new Uint8Array([1]), "AgM="]);
  });

  it("counts what is not delivered yet in bufferedAmount, and reports each send taken once", async () => {
    const [a, b] = memoryTransportPair();
    received(b);
    const taken: (Error | undefined)[] = [];
    a.send(new Uint8Array(100), (error) => taken.push(error));
    a.send("abcd", (error) => taken.push(error));
    expect(a.bufferedAmount).toBe(104);
    await settle();
    expect(a.bufferedAmount).toBe(0);
    expect(taken).toEqual([undefined, undefined]);
  });

  it("holds messages while paused, as a peer that stops reading, and delivers them on resume", async () => {
    const [a, b] = memoryTransportPair();
    const messages = received(b);
    a.pause();
    a.send(new Uint8Array(10));
    await settle();
    expect(messages).toHaveLength(0);
    expect(a.bufferedAmount).toBe(10);
    a.resume();
    await settle();
    expect(messages).toHaveLength(1);
    expect(a.bufferedAmount).toBe(0);
  });

  it("closes both sides with the same code and reason, after what was sent before the close", async () => {
    const [a, b] = memoryTransportPair();
    const messages = received(b);
    const closes: [string, TransportClose][] = [];
    a.onClose((close) => closes.push(["a", close]));
    b.onClose((close) => closes.push(["b", close]));
    a.send(new Uint8Array([7]));
    a.close(4406, "UNEXPECTED_FRAME");
    expect(a.open).toBe(false);
    a.close(1000, "again"); // a no-op
    await settle();
    expect(messages).toEqual([new Uint8Array([7])]);
    expect(closes).toEqual([
      ["a", { code: 4406, reason: "UNEXPECTED_FRAME" }],
      ["b", { code: 4406, reason: "UNEXPECTED_FRAME" }],
    ]);
    expect(b.closed).toEqual({ code: 4406, reason: "UNEXPECTED_FRAME" });
  });

  it("reports an abnormal close on both sides after terminate(), and fails what was still queued", async () => {
    const [a, b] = memoryTransportPair();
    const messages = received(b);
    const taken: (Error | undefined)[] = [];
    a.pause();
    a.send(new Uint8Array(10), (error) => taken.push(error));
    a.terminate();
    await settle();
    expect(messages).toEqual([]);
    expect(a.closed?.code).toBe(CLOSE_ABNORMAL);
    expect(b.closed?.code).toBe(CLOSE_ABNORMAL);
    expect(taken[0]).toBeInstanceOf(Error);
    expect(a.bufferedAmount).toBe(0);
  });

  it("discards a message sent after the close and tells its sender", async () => {
    const [a, b] = memoryTransportPair();
    const messages = received(a);
    b.close(1000, "");
    await settle();
    const taken: (Error | undefined)[] = [];
    b.send(new Uint8Array([1]), (error) => taken.push(error));
    await settle();
    expect(messages).toEqual([]);
    expect(taken[0]).toBeInstanceOf(Error);
  });

  it("keeps messages that arrive before a receiver is registered", async () => {
    const [a, b] = memoryTransportPair();
    a.send("AQ==");
    await settle();
    expect(received(b)).toEqual(["AQ=="]);
  });

  it("records what a side sent only when asked to", async () => {
    const [a] = memoryTransportPair();
    a.send(new Uint8Array([1]));
    a.record = true;
    a.send(new Uint8Array([2]));
    expect(a.sent).toEqual([new Uint8Array([2])]);
  });
});
