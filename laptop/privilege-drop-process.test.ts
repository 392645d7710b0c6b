// Giving up root for real, in a child process inside a throwaway namespace: it opens a TUN (with
// offloads, as tether does) as root, gives root up to nobody, and then reads a packet the kernel
// routes into the TUN (the reader worker thread) and writes one back out of it (the main thread),
// through the fd it opened as root. Every thread of it must have lost root and every capability.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canRunPrivileged } from "../e2e/privileged.js";
import { awaitLine, stopChild, TestNamespace } from "../testing/netns.js";

const NS = `tether-drop-${process.pid}`;
const module = (path: string) => fileURLToPath(new URL(path, import.meta.url));

const CHILD = `
  import { execFileSync } from "node:child_process";
  import { createSocket } from "node:dgram";
  import { readdirSync, readFileSync } from "node:fs";
  import { openTun } from ${JSON.stringify(module("../tun/index.ts"))};
  import { accountToRunAs, dropPrivileges } from ${JSON.stringify(module("./privilege-drop.ts"))};
  import { buildIpv4Udp, parseIpv4Udp } from ${JSON.stringify(module("../testing/packets.ts"))};
  const say = (value) => process.stdout.write(JSON.stringify(value) + "\\n");
  const tun = await openTun({ name: "ttdrop0", offload: {} });
  execFileSync("ip", ["addr", "add", "10.99.0.1/24", "dev", tun.name]);
  execFileSync("ip", ["link", "set", "dev", tun.name, "up"]);
  const account = accountToRunAs({});
  dropPrivileges(account);
  const threads = readdirSync("/proc/self/task").map((tid) => {
    const status = readFileSync("/proc/self/task/" + tid + "/status", "utf8");
    const field = (name) => new RegExp("^" + name + ":[ \\\\t]*(.*)$", "m").exec(status)?.[1].trim();
    return { tid, name: field("Name"), uid: field("Uid"), gid: field("Gid"), groups: field("Groups"), capEff: field("CapEff"), capPrm: field("CapPrm") };
  });
  const socket = createSocket("udp4");
  await new Promise((resolve) => socket.bind(5555, "10.99.0.1", resolve));
  const read = new Promise((resolve) => tun.onPackets((packets) => {
    for (const packet of packets) {
      const udp = parseIpv4Udp(packet);
      if (udp?.destinationPort === 9999) resolve(new TextDecoder().decode(udp.payload));
    }
  }));
  const written = new Promise((resolve) => socket.once("message", (message) => resolve(message.toString())));
  socket.send("out through the TUN", 9999, "10.99.0.2");
  const readPayload = await read;
  tun.write(buildIpv4Udp({ source: "10.99.0.2", destination: "10.99.0.1", sourcePort: 9999, destinationPort: 5555, payload: new TextEncoder().encode("in through the TUN") }));
  const writtenPayload = await written;
  say({ account, threads, readPayload, writtenPayload, readErrors: tun.stats.readErrors });
  socket.close();
  await tun.close();
`;

describe.skipIf(!canRunPrivileged)("giving up root with a TUN open (needs root)", () => {
  let namespace: TestNamespace;
  let dir: string;
  beforeAll(() => {
    namespace = TestNamespace.create(NS);
    namespace.sysctl("net.ipv6.conf.all.disable_ipv6", "1");
    dir = mkdtempSync(join(tmpdir(), "tether-drop-"));
    writeFileSync(join(dir, "child.mjs"), CHILD); // a file, not -e: the reader worker is CommonJS
  });
  afterAll(() => {
    namespace?.delete();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("reads and writes the TUN opened as root from every thread, as nobody with no capability", async () => {
    const child = namespace.spawn(process.execPath, ["--import", "tsx", join(dir, "child.mjs")]);
    try {
      const report = await awaitLine(
        child,
        (line) => (line.startsWith("{") ? (JSON.parse(line) as Record<string, unknown>) : undefined),
        20_000,
      );
      const account = report.account as { uid: number; gid: number };
      const threads = report.threads as Record<string, string>[];
      const distinct = new Set(
        threads.map((t) => `Uid ${t.uid} Gid ${t.gid} Groups "${t.groups}" CapEff ${t.capEff}`),
      );
      console.log(
        `[privdrop] as ${JSON.stringify(account)}: ${threads.length} threads, all: ${[...distinct].join(" | ")}`,
      );
      expect(threads.length).toBeGreaterThan(2); // main, the TUN's reader worker, libuv's and V8's
      for (const thread of threads) {
        expect(thread.uid?.split(/\s+/)).toEqual(Array(4).fill(String(account.uid)));
        expect(thread.gid?.split(/\s+/)).toEqual(Array(4).fill(String(account.gid)));
        expect(thread.groups).toBe("");
        expect(thread.capEff).toBe("0000000000000000");
        expect(thread.capPrm).toBe("0000000000000000");
      }
      expect(report.readPayload).toBe("out through the TUN");
      expect(report.writtenPayload).toBe("in through the TUN");
      expect(report.readErrors).toBe(0);
    } finally {
      await stopChild(child);
    }
  });
});
