// Routes6 against the real kernel, in a throwaway namespace: a veth stands in for the TUN (the
// routes only need an interface that is up), and "the hotspot" has its own default route.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canRunPrivileged } from "../e2e/privileged.js";
import { TestNamespace } from "../testing/netns.js";
import { Routes6, RTPROT_TETHER } from "./routes6.js";

const NS = `tether-routes6-${process.pid}`;
const TUN = "tun6";
const HOTSPOT = "wlan6";

describe.skipIf(!canRunPrivileged)("the laptop's IPv6 routes (needs root)", () => {
  let namespace: TestNamespace;
  const ip = () => ["ip", "-n", NS] as const;
  const routes = () => namespace.ip("-6", "route", "show");
  const addresses = (dev: string) => namespace.ip("-6", "addr", "show", "dev", dev, "scope", "global");
  const routeGet = (destination: string) => namespace.ip("-6", "route", "get", destination);
  let before: string;

  beforeAll(() => {
    namespace = TestNamespace.create(NS);
    namespace.ip("link", "add", TUN, "type", "veth", "peer", "name", HOTSPOT);
    namespace.ip("link", "set", TUN, "up", "mtu", "1400");
    namespace.ip("link", "set", HOTSPOT, "up");
    namespace.ip("-6", "addr", "add", "2001:db8:43::2/64", "dev", HOTSPOT, "nodad");
    namespace.ip("-6", "route", "add", "default", "via", "2001:db8:43::1", "dev", HOTSPOT);
    before = routes();
  });
  afterAll(() => namespace?.delete());

  it("sends everything but the link's own prefix through the TUN, and puts the table back", async () => {
    const subject = new Routes6(TUN, { ip: ip() });
    await subject.apply({ address: "fd77:1:2::2", prefixLength: 128 });
    expect(addresses(TUN)).toContain("inet6 fd77:1:2::2/128");
    expect(routes()).toMatch(new RegExp(`^::/1 dev ${TUN} proto ${RTPROT_TETHER}`, "m"));
    expect(routes()).toMatch(new RegExp(`^8000::/1 dev ${TUN} proto ${RTPROT_TETHER}`, "m"));
    expect(routes()).toMatch(/^default via 2001:db8:43::1 dev wlan6/m); // the link's default stays
    expect(routeGet("2606:4700::1111")).toMatch(new RegExp(`dev ${TUN} .*src fd77:1:2::2`));
    expect(routeGet("2001:db8:43::9")).toContain(`dev ${HOTSPOT}`); // the link stays on-link
    subject.restoreSync();
    subject.restoreSync(); // twice is fine
    namespace.ip("-6", "addr", "del", "fd77:1:2::2/128", "dev", TUN); // the TUN's close does this
    expect(routes()).toBe(before);
  });

  it("without IPv6 from the exit, makes IPv6 fail at once instead of going out the hotspot", async () => {
    const subject = new Routes6(TUN, { ip: ip() });
    await subject.apply(undefined);
    expect(subject.active).toBe("unreachable");
    const started = performance.now();
    const ping = spawnSync(
      "ip",
      ["netns", "exec", NS, "ping", "-6", "-n", "-c", "1", "-W", "2", "2606:4700::1111"],
      {
        encoding: "utf8",
        timeout: 5_000,
      },
    );
    const elapsedMs = performance.now() - started;
    expect(ping.status).not.toBe(0);
    expect(`${ping.stdout}${ping.stderr}`).toMatch(/unreachable|No route to host/i);
    // At once, not after ping's 2 s wait (the 100 ms bound itself is e2e/ipv6.test.ts's, by curl's clock).
    expect(elapsedMs).toBeLessThan(1_000);
    console.log(
      `[routes6] IPv6 with an IPv4-only exit: '${ping.stderr.trim()}' after ${elapsedMs.toFixed(1)} ms`,
    );
    expect(routeGet("2001:db8:43::9")).toContain(`dev ${HOTSPOT}`); // the phone stays reachable
    subject.restoreSync();
    expect(routes()).toBe(before);
  });

  it("switches between the two in one step when the exit's answer changes, and back", async () => {
    const subject = new Routes6(TUN, { ip: ip() });
    await subject.apply(undefined);
    await subject.apply({ address: "fd77:1:2::3", prefixLength: 128 });
    expect(routes()).not.toContain("unreachable");
    expect(routeGet("2606:4700::1111")).toContain(`dev ${TUN}`);
    await subject.apply({ address: "fd77:1:2::4", prefixLength: 128 });
    expect(addresses(TUN)).not.toContain("fd77:1:2::3");
    expect(addresses(TUN)).toContain("fd77:1:2::4");
    await subject.apply(undefined);
    expect(addresses(TUN)).not.toContain("fd77:1:2::4");
    expect(routes()).toMatch(/^unreachable ::\/1 dev lo proto 77/m);
    subject.restoreSync();
    expect(routes()).toBe(before);
  });

  it("removes the routes a killed run left, and only those, and not another tether's", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tether-routes6-"));
    const markerPath = join(dir, "routes6.up");
    const killed = new Routes6(TUN, { ip: ip(), markerPath });
    await killed.apply(undefined); // then "killed": no restoreSync
    namespace.ip("-6", "route", "add", "unreachable", "2001:db8:dead::/48"); // someone else's
    const beside = new Routes6("tether9", { ip: ip(), markerPath: join(dir, "other.up") }); // its own config folder
    expect(beside.recoverSync()).toBe(0);
    expect(routes()).toContain("unreachable ::/1");
    const next = new Routes6(TUN, { ip: ip(), markerPath });
    expect(next.recoverSync()).toBe(2);
    rmSync(dir, { recursive: true, force: true });
    expect(routes()).toContain("unreachable 2001:db8:dead::/48");
    namespace.ip("-6", "route", "del", "unreachable", "2001:db8:dead::/48");
    expect(routes()).toBe(before);
    expect(next.recoverSync()).toBe(0);
  });
});
