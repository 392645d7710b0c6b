// The privileged helper as tether runs it: its own process (here inside a throwaway namespace,
// which `ip netns exec` gives its own /etc/resolv.conf), driven through PrivilegedClient, changing
// a real interface's address and routes and a real resolv.conf, and putting them back when its
// pipe closes, as it does when the tether above it is killed.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canRunPrivileged } from "../e2e/privileged.js";
import { TestNamespace } from "../testing/netns.js";
import { confinedHelperCommand, PrivilegedClient } from "./privileged-client.js";

const NS = `tether-helper-${process.pid}`;
const TUN = "tthelper0";
const RESOLV_DIR = `/etc/netns/${NS}`;
const ORIGINAL_RESOLV = "nameserver 192.0.2.53\n";

describe.skipIf(!canRunPrivileged)("the privileged helper process (needs root)", () => {
  let namespace: TestNamespace;
  let stateParent: string;
  // Each read to its end (execFileSync): a spawned `cat` may report "exit" before its output is read.
  const snapshot = () => ({
    routes: namespace.ip("route", "show", "table", "all"),
    routes6: namespace.ip("-6", "route", "show", "table", "all"),
    addresses: namespace.ip("-o", "addr", "show", "dev", TUN),
    resolv: namespace.exec("cat", ["/etc/resolv.conf"]),
  });
  const start = (dns = true) =>
    PrivilegedClient.start({
      command: ["ip", "netns", "exec", NS, ...confinedHelperCommand().command],
      tunName: TUN,
      dns,
      stateDir: join(stateParent, "state"),
    });

  beforeAll(() => {
    namespace = TestNamespace.create(NS);
    // Link-local addresses at once, not after duplicate detection: "before" is then the settled state.
    namespace.sysctl("net.ipv6.conf.default.accept_dad", "0");
    // A veth stands in for the TUN: the routes need an interface that is up, nothing more.
    namespace.ip("link", "add", TUN, "type", "veth", "peer", "name", "tthelper1");
    namespace.ip("link", "set", "tthelper1", "up");
    namespace.ip("link", "set", TUN, "up");
    namespace.ip("link", "add", "hotspot0", "type", "veth", "peer", "name", "hotspot1");
    namespace.ip("link", "set", "hotspot0", "up");
    namespace.ip("link", "set", "hotspot1", "up");
    namespace.ip("addr", "add", "192.168.43.2/24", "dev", "hotspot0");
    mkdirSync(RESOLV_DIR, { recursive: true });
    writeFileSync(join(RESOLV_DIR, "resolv.conf"), ORIGINAL_RESOLV);
    stateParent = mkdtempSync(join(tmpdir(), "tether-helper-state-"));
  });
  afterAll(() => {
    namespace?.delete();
    rmSync(RESOLV_DIR, { recursive: true, force: true });
    if (stateParent) rmSync(stateParent, { recursive: true, force: true });
  });

  it("sets address, routes, IPv6 and DNS when asked, and puts all of it back when its pipe closes", async () => {
    const before = snapshot();
    const helper = await start();
    // uid 0 with CAP_NET_ADMIN alone (setpriv), which is all it needs for what follows.
    const status = readFileSync(`/proc/${helper.pid}/status`, "utf8");
    expect(status).toMatch(/^Uid:\s+0\s+0\s+0\s+0$/m);
    expect(status).toMatch(/^CapEff:\s+0000000000001000$/m);
    expect(status).toMatch(/^CapBnd:\s+0000000000001000$/m);
    await helper.address({ address: "10.77.0.2", prefixLength: 16, mtu: 1400 });
    await helper.address6(undefined);
    await helper.dns(["10.77.0.1"]);
    const during = snapshot();
    expect(during.addresses).toContain("inet 10.77.0.2/16");
    expect(during.routes).toMatch(new RegExp(`^0\\.0\\.0\\.0/1 dev ${TUN}`, "m"));
    expect(during.routes).toMatch(new RegExp(`^128\\.0\\.0\\.0/1 dev ${TUN}`, "m"));
    expect(during.routes6).toMatch(/^unreachable ::\/1/m);
    expect(during.resolv).toContain("nameserver 10.77.0.1");

    // What a SIGKILLed tether does to the pipe: its end closes, and nothing else happens.
    helper.restoreSync();
    await helper.exited;
    namespace.ip("addr", "del", "10.77.0.2/16", "dev", TUN); // a TUN's go with it when its fd closes
    const after = snapshot();
    expect(after.routes).toBe(before.routes);
    expect(after.routes6).toBe(before.routes6);
    expect(after.resolv).toBe(ORIGINAL_RESOLV);
  });

  it("refuses what the LAN-facing side must not get, with the code, and keeps the last good state", async () => {
    const helper = await start(false);
    try {
      await helper.address({ address: "10.77.0.2", prefixLength: 16, mtu: 1400 });
      await expect(
        helper.address({ address: "192.168.43.9", prefixLength: 24, mtu: 1400 }),
      ).rejects.toMatchObject({ code: "ROUTES_LOCAL_NETWORK" });
      await expect(
        helper.address({ address: "127.0.0.2", prefixLength: 8, mtu: 1400 }),
      ).rejects.toMatchObject({
        code: "ROUTES_BAD_ADDRESS",
      });
      await expect(helper.address6({ address: "fe80::2", prefixLength: 64 })).rejects.toMatchObject({
        code: "ROUTES6_BAD_ADDRESS",
      });
      await expect(helper.dns(["10.77.0.1"])).rejects.toMatchObject({ code: "PRIVILEGED_DNS_OFF" });
      expect(namespace.ip("-o", "addr", "show", "dev", TUN)).toContain("inet 10.77.0.2/16");
      expect(namespace.ip("route", "show")).toMatch(new RegExp(`^0\\.0\\.0\\.0/1 dev ${TUN}`, "m"));
    } finally {
      await helper.close();
    }
    expect(namespace.ip("route", "show")).not.toMatch(/^(0\.0\.0\.0|128\.0\.0\.0)\/1/m);
  });
});
