// The ws adapter against real WebSockets on loopback: what the tunnel ends rely on.
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import type { Message, Transport, TransportClose } from "../protocol/transport.js";
import { wsTransport } from "./ws-transport.js";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** A server-side transport (as the laptop and the exit have) and the raw client socket. */
async function pair(maxPayload?: number): Promise<{ server: Transport; client: WebSocket }> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, ...(maxPayload ? { maxPayload } : {}) });
  cleanups.push(() => wss.close());
  await new Promise((resolve) => wss.once("listening", resolve));
  const accepted = new Promise<WebSocket>((resolve) => wss.once("connection", resolve));
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  cleanups.push(() => client.terminate());
  await new Promise((resolve) => client.once("open", resolve));
  return { server: wsTransport(await accepted), client };
}

function closeOf(transport: Transport): Promise<TransportClose> {
  return new Promise((resolve) => transport.onClose(resolve));
}

describe("a ws WebSocket as a transport", () => {
  it("hands binary messages over as bytes and text messages as strings", async () => {
    const { server, client } = await pair();
    const messages: Message[] = [];
    const two = new Promise<void>((resolve) =>
      server.onMessage((message) => {
        messages.push(message);
        if (messages.length === 2) resolve();
      }),
    );
    client.send(new Uint8Array([1, 2, 3]));
    client.send("BAU=");
    await two;
    expect(messages[0]).toBeInstanceOf(Uint8Array);
    expect([...(messages[0] as Uint8Array)]).toEqual([1, 2, 3]);
    expect(messages[1]).toBe("BAU=");
  });

  it("sends bytes as binary and strings as text, and reports each send taken", async () => {
    const { server, client } = await pair();
    const got: [boolean, string][] = [];
    const two = new Promise<void>((resolve) =>
      client.on("message", (data, isBinary) => {
        got.push([isBinary, data.toString("hex")]);
        if (got.length === 2) resolve();
      }),
    );
    const taken = new Promise<Error | undefined>((resolve) => server.send(new Uint8Array([0xab]), resolve));
    server.send("AQ==");
    expect(await taken).toBeUndefined();
    await two;
    expect(got).toEqual([
      [true, "ab"],
      [false, Buffer.from("AQ==").toString("hex")],
    ]);
  });

  it("closes with the code and reason the peer sees", async () => {
    const { server, client } = await pair();
    const seen = new Promise<[number, string]>((resolve) =>
      client.once("close", (code, reason) => resolve([code, reason.toString()])),
    );
    const closed = closeOf(server);
    server.close(4406, "UNEXPECTED_FRAME");
    expect(server.open).toBe(false);
    expect(await seen).toEqual([4406, "UNEXPECTED_FRAME"]);
    expect((await closed).code).toBe(4406);
  });

  it("reports a message over ws's size limit as the close's error, without throwing", async () => {
    const { server, client } = await pair(16);
    const closed = closeOf(server);
    server.onMessage(() => undefined);
    client.send(new Uint8Array(17));
    const close = await closed;
    expect(close.error).toBeInstanceOf(Error);
  });

  it("terminates at once: the peer sees an abnormal close", async () => {
    const { server, client } = await pair();
    const seen = new Promise<number>((resolve) => client.once("close", resolve));
    server.terminate();
    expect(await seen).toBe(1006);
  });

  it("does not throw for a close code ws will not send, and ends the connection anyway", async () => {
    const { server, client } = await pair();
    const seen = new Promise<number>((resolve) => client.once("close", resolve));
    server.close(1006, "");
    expect(await seen).toBe(1006);
  });
});
