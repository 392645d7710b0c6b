import { execFile } from "node:child_process";
import { createSocket } from "node:dgram";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { buildQuery, type DnsProbeResult, dnsLossPct, readReply } from "./dns.js";

const PROBE = fileURLToPath(new URL("./dns-probe.ts", import.meta.url));

/** A reply to `query` as a server makes it: the question echoed, QR set, one A record (or none). */
function replyTo(query: Uint8Array, answer: boolean): Uint8Array {
  const reply = new Uint8Array(query.length + (answer ? 16 : 0));
  reply.set(query);
  const view = new DataView(reply.buffer);
  view.setUint16(2, answer ? 0x8180 : 0x8183); // response, RD+RA; rcode 0 or 3 (NXDOMAIN)
  view.setUint16(6, answer ? 1 : 0);
  if (answer) reply.set([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 51, 100, 2], query.length);
  return reply;
}

describe("the bench's DNS queries", () => {
  it("asks for the A record of the name, recursion desired, with the id given", () => {
    expect([...buildQuery(0x1234, "internet.test")]).toEqual([
      0x12,
      0x34,
      0x01,
      0x00,
      0,
      1,
      0,
      0,
      0,
      0,
      0,
      0,
      8,
      ...Buffer.from("internet"),
      4,
      ...Buffer.from("test"),
      0,
      0,
      1,
      0,
      1,
    ]);
  });

  it("reads a reply's id and whether it answers; a query or a runt is no reply", () => {
    const query = buildQuery(7, "example.test");
    expect(readReply(replyTo(query, true))).toEqual({ id: 7, answered: true });
    expect(readReply(replyTo(query, false))).toEqual({ id: 7, answered: false });
    expect(readReply(query)).toBeUndefined();
    expect(readReply(new Uint8Array(5))).toBeUndefined();
  });

  it("counts as lost what got no good answer", () => {
    expect(dnsLossPct({ sent: 4, timesMs: [1, 2, 3], refused: 0 })).toBe(25);
    expect(dnsLossPct({ sent: 0, timesMs: [], refused: 0 })).toBeUndefined();
  });

  it("the probe times each query from its own socket, and counts the unanswered as lost", async () => {
    const server = createSocket("udp4");
    const ports = new Set<number>();
    let seen = 0;
    server.on("message", (message, from) => {
      ports.add(from.port);
      // Every third query goes unanswered, as if lost on the way.
      if (seen++ % 3 !== 2) server.send(replyTo(message, true), from.port, from.address);
    });
    await new Promise<void>((resolve) => server.bind(0, "127.0.0.1", resolve));
    try {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ["--import", "tsx", PROBE, "--server", "127.0.0.1", "--port", String(server.address().port)].concat([
          "--name",
          "internet.test",
          "--seconds",
          "0.3",
          "--interval-ms",
          "20",
          "--timeout-ms",
          "200",
        ]),
        { timeout: 15_000 },
      );
      const result = JSON.parse(stdout) as DnsProbeResult;
      expect(result.sent).toBe(15);
      expect(result.timesMs).toHaveLength(10);
      expect(ports.size).toBe(15);
      for (const ms of result.timesMs) expect(ms).toBeLessThan(200);
    } finally {
      server.close();
    }
  });
});
