// The real Linux TUN device, end to end through the kernel. Each interface that carries traffic is
// moved into a namespace of this test's own (the TUN fd stays with this process; the senders and
// receivers run there under `ip netns exec`), so all traffic stays inside it.

import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { awaitLine, stopChild, TestNamespace } from "../testing/netns.js";
import { buildIpv4Udp, parseIpv4Udp } from "../testing/packets.js";
import { type TunDevice, TX_QUEUE_PACKETS } from "./device.js";
import { TunError } from "./errors.js";
import { openLinuxTun } from "./linux.js";
import { MAX_BATCH_PACKETS, MAX_BATCHES_IN_FLIGHT } from "./linux-reader.js";

const required = process.env.TETHER_REQUIRE_PRIVILEGED === "1";
const canRun =
  required || (process.platform === "linux" && process.getuid?.() === 0 && existsSync("/dev/net/tun"));

const TUN_ADDRESS = "10.200.0.1";
const PEER_ADDRESS = "10.200.0.2";
/** Bound on every wait for the kernel or a child process. */
const WAIT_MS = 5_000;

describe("openLinuxTun name checks", () => {
  it.skipIf(process.platform !== "linux")("rejects a name longer than 15 bytes with BAD_NAME", async () => {
    await expect(openLinuxTun({ name: "x".repeat(16) })).rejects.toMatchObject({ code: "BAD_NAME" });
  });

  it.skipIf(process.platform !== "linux")(
    "rejects a name with a slash or a stray % with BAD_NAME",
    async () => {
      await expect(openLinuxTun({ name: "a/b" })).rejects.toBeInstanceOf(TunError);
      await expect(openLinuxTun({ name: "a%s" })).rejects.toMatchObject({ code: "BAD_NAME" });
    },
  );
});

describe.skipIf(!canRun)("Linux TUN device (needs root and /dev/net/tun)", () => {
  let namespace: TestNamespace | undefined;
  const opened: TunDevice[] = [];

  beforeAll(() => {
    namespace = TestNamespace.create(`tether-tuntest-${process.pid}`);
    // No IPv6 autoconfiguration chatter on the test interfaces.
    namespace.sysctl("net.ipv6.conf.all.disable_ipv6", "1");
    namespace.sysctl("net.ipv6.conf.default.disable_ipv6", "1");
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((tun) => tun.close()));
  });

  afterAll(() => {
    namespace?.delete();
  });

  function ns(): TestNamespace {
    if (!namespace) throw new Error("the test namespace was not created");
    return namespace;
  }

  /** A TUN in the test namespace, up, with TUN_ADDRESS/24: PEER_ADDRESS is routed into it. */
  async function openInNamespace(): Promise<TunDevice> {
    const tun = await openLinuxTun({ name: "tuntest%d" });
    opened.push(tun);
    ns().adopt(tun.name);
    ns().ip("addr", "add", `${TUN_ADDRESS}/24`, "dev", tun.name);
    ns().ip("link", "set", "dev", tun.name, "up");
    return tun;
  }

  /** A child in the namespace sending `count` UDP datagrams "n" from TUN_ADDRESS:4321 to the peer. */
  function sendUdp(count: number, intervalMs: number) {
    return ns().node(`
      const socket = require("dgram").createSocket("udp4");
      let sent = 0;
      const next = () => {
        if (sent === ${count}) return socket.close();
        socket.send(String(sent++), 9999, "${PEER_ADDRESS}", () => setTimeout(next, ${intervalMs}));
      };
      socket.bind(4321, "${TUN_ADDRESS}", next);
    `);
  }

  it("delivers an IPv4/UDP packet the kernel routes into the interface", async () => {
    const tun = await openInNamespace();
    const received = new Promise<ReturnType<typeof parseIpv4Udp>>((resolve) => {
      tun.onPackets((packets) => {
        for (const packet of packets) {
          const udp = parseIpv4Udp(packet);
          if (udp?.destinationPort === 9999) resolve(udp);
        }
      });
    });
    const sender = sendUdp(1, 0);
    try {
      const udp = await within(received, WAIT_MS, "the UDP packet");
      expect(udp).toMatchObject({
        source: TUN_ADDRESS,
        destination: PEER_ADDRESS,
        sourcePort: 4321,
        destinationPort: 9999,
        checksumsValid: true,
      });
      expect(new TextDecoder().decode(udp?.payload)).toBe("0");
      expect(tun.stats.packetsRead).toBeGreaterThanOrEqual(1);
      expect(tun.stats.bytesRead).toBeGreaterThanOrEqual(29);
      expect(tun.stats.readErrors).toBe(0);
    } finally {
      await stopChild(sender);
    }
  });

  it("delivers a burst in order, in packets the device never reuses", async () => {
    const tun = await openInNamespace();
    const count = 200; // under the interface's queue (500): none may be lost
    const kept: Uint8Array[] = [];
    const done = new Promise<void>((resolve) => {
      tun.onPackets((packets) => {
        for (const packet of packets) {
          if (parseIpv4Udp(packet)?.destinationPort !== 9999) continue;
          kept.push(packet);
          if (kept.length === count) resolve();
        }
      });
    });
    const sender = sendUdp(count, 0);
    try {
      await within(done, WAIT_MS, `${count} packets`);
      // Read only now: later batches must not have overwritten earlier packets.
      const payloads = kept.map((packet) => new TextDecoder().decode(parseIpv4Udp(packet)?.payload));
      expect(payloads).toEqual(Array.from({ length: count }, (_, i) => String(i)));
      expect(kept.every((packet) => parseIpv4Udp(packet)?.checksumsValid)).toBe(true);
    } finally {
      await stopChild(sender);
    }
  });

  it("holds packets read before a handler is set and hands them over", async () => {
    const tun = await openInNamespace();
    const sender = sendUdp(3, 0);
    try {
      await until(() => tun.stats.packetsRead >= 3, WAIT_MS, "3 packets read");
      const payloads: string[] = [];
      await within(
        new Promise<void>((resolve) =>
          tun.onPackets((packets) => {
            for (const packet of packets)
              payloads.push(new TextDecoder().decode(parseIpv4Udp(packet)?.payload));
            if (payloads.length >= 3) resolve();
          }),
        ),
        WAIT_MS,
        "the held packets",
      );
      expect(payloads).toEqual(["0", "1", "2"]);
      expect(tun.stats.readDropsNoHandler).toBe(0);
    } finally {
      await stopChild(sender);
    }
  });

  it("stops reading while the event loop is blocked: the kernel queues, then drops", async () => {
    const tun = await openInNamespace();
    const count = 8_000; // more than MAX_BATCHES_IN_FLIGHT full batches plus the kernel's queue
    let received = 0;
    let blocked = false;
    const ended = new Promise<void>((resolve) => {
      tun.onPackets((packets) => {
        if (!blocked) {
          blocked = true;
          const blockedUntil = Date.now() + 1_500;
          while (Date.now() < blockedUntil) {
            // busy: the event loop cannot take the reader's batches
          }
        }
        for (const packet of packets) {
          const payload = new TextDecoder().decode(parseIpv4Udp(packet)?.payload);
          if (payload === "end") resolve();
          else received++;
        }
      });
    });
    // Sends `count` as fast as it can, then "end" once the block is over.
    const sender = ns().node(`
      const socket = require("dgram").createSocket("udp4");
      let sent = 0;
      const next = () => {
        if (sent === ${count}) return setTimeout(() => socket.send("end", 9999, "${PEER_ADDRESS}", () => socket.close()), 2_500);
        socket.send(String(sent++), 9999, "${PEER_ADDRESS}", next);
      };
      socket.bind(4321, "${TUN_ADDRESS}", next);
    `);
    try {
      await within(ended, 10_000, "the end marker");
      const dropped = Number(
        JSON.parse(ns().ip("-s", "-j", "link", "show", "dev", tun.name))[0].stats64.tx.dropped,
      );
      expect(tun.stats.readerStalls).toBeGreaterThanOrEqual(1);
      expect(dropped).toBeGreaterThan(0);
      expect(received).toBeGreaterThanOrEqual(MAX_BATCHES_IN_FLIGHT * MAX_BATCH_PACKETS);
      expect(received + dropped).toBeLessThanOrEqual(count);
    } finally {
      await stopChild(sender);
    }
  });

  it("hands a written packet to the kernel, which delivers it to a socket", async () => {
    const tun = await openInNamespace();
    const receiver = ns().node(`
      const socket = require("dgram").createSocket("udp4");
      socket.on("message", (message, from) => {
        console.log(JSON.stringify({ payload: message.toString(), address: from.address, port: from.port }));
        socket.close();
      });
      socket.bind(5555, "${TUN_ADDRESS}", () => console.log("ready"));
    `);
    try {
      await awaitLine(receiver, (line) => (line === "ready" ? true : undefined), WAIT_MS);
      const delivered = awaitLine(
        receiver,
        (line) => (line.startsWith("{") ? JSON.parse(line) : undefined),
        WAIT_MS,
      );
      const packet = buildIpv4Udp({
        source: PEER_ADDRESS,
        destination: TUN_ADDRESS,
        sourcePort: 4444,
        destinationPort: 5555,
        payload: new TextEncoder().encode("written by tether"),
      });
      expect(tun.write(packet)).toBe(true);
      expect(await delivered).toEqual({ payload: "written by tether", address: PEER_ADDRESS, port: 4444 });
      expect(tun.stats).toMatchObject({ packetsWritten: 1, bytesWritten: packet.byteLength, writeErrors: 0 });
    } finally {
      await stopChild(receiver);
    }
  });

  it("gives the interface a transmit queue of TX_QUEUE_PACKETS, or the one asked for", async () => {
    const tun = await openInNamespace();
    const qlen = (name: string) => JSON.parse(ns().ip("-j", "link", "show", "dev", name))[0].txqlen;
    expect(qlen(tun.name)).toBe(TX_QUEUE_PACKETS);
    const asked = await openLinuxTun({ name: "tunqlen%d", txQueuePackets: 777 });
    opened.push(asked);
    ns().adopt(asked.name);
    expect(qlen(asked.name)).toBe(777);
    await expect(openLinuxTun({ name: "tunqlen%d", txQueuePackets: 0 })).rejects.toMatchObject({
      code: "OTHER",
    });
  });

  it("returns false and counts a write the kernel refuses", async () => {
    const tun = await openInNamespace();
    expect(tun.write(new Uint8Array([0x00, 1, 2, 3]))).toBe(false); // neither IPv4 nor IPv6
    expect(tun.write(new Uint8Array(0))).toBe(false);
    expect(tun.stats).toMatchObject({ packetsWritten: 0, writeErrors: 2 });
  });

  it("closes within 1 s while the reader waits, removes the interface, and closes twice", async () => {
    const tun = await openInNamespace();
    tun.onPackets(() => {});
    expect(ns().hasInterface(tun.name)).toBe(true);
    const started = performance.now();
    await tun.close();
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(ns().hasInterface(tun.name)).toBe(false);
    await tun.close();
    expect(
      tun.write(
        buildIpv4Udp({
          source: PEER_ADDRESS,
          destination: TUN_ADDRESS,
          sourcePort: 1,
          destinationPort: 2,
          payload: new Uint8Array(1),
        }),
      ),
    ).toBe(false);
    expect(tun.stats.writeErrors).toBe(1);
  });

  it("fails with BUSY for a name another open TUN holds", async () => {
    // Both stay in this process's namespace (down, no address) for the moment the test takes.
    const first = await openLinuxTun({ name: `tbusy${process.pid % 100_000}` });
    opened.push(first);
    const second = openLinuxTun({ name: first.name });
    await expect(second).rejects.toBeInstanceOf(TunError);
    await expect(second).rejects.toMatchObject({ code: "BUSY" });
  });

  it("fails with BUSY for a name a non-TUN interface has", async () => {
    await expect(openLinuxTun({ name: "lo" })).rejects.toMatchObject({ code: "BUSY" });
  });

  it("fails with PERMISSION, saying what is needed, without CAP_NET_ADMIN", async () => {
    const result = await probeOpen(["setpriv", "--bounding-set=-net_admin"]);
    expect(result.code).toBe("PERMISSION");
    expect(result.message).toMatch(/root or CAP_NET_ADMIN/);
  });

  it("fails with NO_DEVICE when /dev/net/tun is missing", async () => {
    // A private mount namespace where /dev/net is an empty tmpfs.
    const result = await probeOpen([
      "unshare",
      "--mount",
      "sh",
      "-c",
      'mount -t tmpfs none /dev/net && exec "$0" "$@"',
    ]);
    expect(result.code).toBe("NO_DEVICE");
  });
});

/** Runs openTun() in a child started through `wrapper`; its TunError as { code, message }. */
async function probeOpen(wrapper: string[]): Promise<{ code?: string; message?: string }> {
  const index = new URL("./index.ts", import.meta.url).href;
  const script = `
    const { openTun } = await import(${JSON.stringify(index)});
    try {
      const tun = await openTun({ name: "tunprobe%d" });
      await tun.close();
      console.log(JSON.stringify({ code: "OPENED" }));
    } catch (error) {
      console.log(JSON.stringify({ code: error.code, message: error.message }));
    }
  `;
  const [command = "", ...args] = wrapper;
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      command,
      [...args, process.execPath, "--import", "tsx", "--input-type=module", "-e", script],
      { cwd: fileURLToPath(new URL("..", import.meta.url)), timeout: 15_000 },
      (error, out, err) => (error ? reject(new Error(`${String(error)}: ${err}`)) : resolve(out)),
    );
  });
  return JSON.parse(stdout.trim().split("\n").pop() ?? "{}");
}

/** `promise`, or a rejection naming `what` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `condition` (no event exists for it) every 10 ms, at most `ms`. */
async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
