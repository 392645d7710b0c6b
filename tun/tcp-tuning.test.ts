import { connect, createServer, type Socket } from "node:net";
import { Duplex } from "node:stream";
import { describe, expect, it } from "vitest";
import { limitUnsent } from "./tcp-tuning.js";

describe("TCP_NOTSENT_LOWAT on a tunnel socket", () => {
  it.runIf(process.platform === "linux")("is set on a real TCP socket", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const accepted = new Promise<Socket>((resolve) => server.once("connection", resolve));
    const client = connect((server.address() as { port: number }).port, "127.0.0.1");
    const socket = await accepted;
    try {
      expect(await limitUnsent(socket)).toBe(true);
      expect(await limitUnsent(client)).toBe(true);
    } finally {
      client.destroy();
      socket.destroy();
      server.close();
    }
  });

  it("says no, without throwing, for a stream that is not a socket", async () => {
    expect(await limitUnsent(new Duplex() as unknown as Socket)).toBe(false);
  });
});
