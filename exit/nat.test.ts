import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { releaseAddress } from "./conntrack.js";
import {
  explainForwardBlock,
  ForwardState,
  forwardBlockers,
  NatError,
  ownerComment,
  ruleset,
  tableOwner,
} from "./nat.js";

const config = { tunName: "tether-exit0", egress: "eth0", poolCidr: "10.77.0.0/16" };

describe("the exit's nftables table", () => {
  it("forwards only TUN to egress and the replies, and drops the rest to or from the TUN", () => {
    const text = ruleset({ ...config, routerBefore: true });
    expect(text).toContain('iifname "tether-exit0" oifname "eth0" accept');
    expect(text).toContain('iifname "eth0" oifname "tether-exit0" ct state established,related accept');
    expect(text).toContain('iifname "tether-exit0" counter drop');
    expect(text).toContain('oifname "tether-exit0" counter drop');
    expect(text).toContain('ip saddr 10.77.0.0/16 oifname "eth0" masquerade');
    expect(text).toContain("policy accept;\n    iifname");
  });

  it("routes nothing else when the host did not route before the exit turned forwarding on", () => {
    expect(ruleset({ ...config, routerBefore: false })).toMatch(/hook forward priority filter; policy drop;/);
  });

  it("has an IPv6 twin: the same forward filter, and the masquerade of a unique-local pool", () => {
    const text = ruleset({ ...config, poolCidr: "fd12:3456:789a::/64", routerBefore: false, family: "ip6" });
    expect(text).toMatch(/^table ip6 tether_exit \{/);
    expect(text).toContain('iifname "tether-exit0" oifname "eth0" accept');
    expect(text).toContain('iifname "eth0" oifname "tether-exit0" ct state established,related accept');
    expect(text).toContain('oifname "tether-exit0" counter drop');
    expect(text).toContain("policy drop;");
    expect(text).toContain('ip6 saddr fd12:3456:789a::/64 oifname "eth0" masquerade');
    expect(tableOwner(text)).toBe("tether-exit0");
  });

  it("forwards a routed IPv6 prefix untranslated, and still only the replies back in", () => {
    const text = ruleset({
      ...config,
      poolCidr: "2001:db8:77::/64",
      routerBefore: true,
      family: "ip6",
      masquerade: false,
    });
    expect(text).not.toContain("masquerade");
    expect(text).not.toContain("postrouting");
    expect(text).toContain('iifname "eth0" oifname "tether-exit0" ct state established,related accept');
    expect(text).toContain('oifname "tether-exit0" counter drop');
  });

  it("names its owner in its comment, and reads it back from `nft list table`", () => {
    const listed = `table ip tether_exit {\n\tcomment "${ownerComment("tether-exit7")}"\n\tchain forward {\n`;
    expect(tableOwner(listed)).toBe("tether-exit7");
    expect(tableOwner("table ip tether_exit {\n\tchain postrouting {\n")).toBeUndefined();
    expect(tableOwner(ruleset({ ...config, routerBefore: true }))).toBe("tether-exit0");
  });
});

describe("firewalls that drop forwarded packets", () => {
  const chain = (table: string, name: string, policy: string, hook = "forward", family = "ip") => ({
    family,
    table,
    name,
    hook,
    policy,
  });

  it("are found by their forward hook's drop policy (ufw, Docker) or by being firewalld's", () => {
    expect(
      forwardBlockers([
        chain("tether_exit", "forward", "drop"),
        chain("filter", "FORWARD", "drop"),
        chain("filter", "INPUT", "drop", "input"),
        chain("firewalld", "filter_FORWARD", "accept", "forward", "inet"),
        chain("nat", "POSTROUTING", "accept", "postrouting"),
        chain("mangle", "FORWARD", "accept"),
        chain("filter", "FORWARD", "drop", "forward", "ip6"),
        chain("filter", "FORWARD", "drop", "forward", "bridge"),
      ]),
    ).toEqual([
      "ip filter FORWARD (policy drop)",
      "inet firewalld filter_FORWARD (policy accept)",
      "ip6 filter FORWARD (policy drop)", // laptops' IPv6 crosses it too
    ]);
    expect(forwardBlockers([chain("filter", "FORWARD", "accept")])).toEqual([]);
  });

  it("are explained with what to add for this TUN and egress", () => {
    const text = explainForwardBlock(["ip filter FORWARD (policy drop)"], "tether-exit0", "eth0");
    expect(text).toContain("ip filter FORWARD (policy drop)");
    expect(text).toContain("ufw route allow in on tether-exit0 out on eth0");
    expect(text).toContain("DOCKER-USER -i tether-exit0 -o eth0 -j ACCEPT");
    expect(text).toContain("firewall-cmd --zone=trusted --add-interface=tether-exit0");
  });
});

describe("the original ip_forward on disk", () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it("is kept per network namespace until forgotten, so a crashed exit's original survives it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tether-nat-test-"));
    dirs.push(dir);
    const state = new ForwardState(join(dir, "run"), "4026531840");
    expect(await state.recorded()).toBeUndefined();
    await state.record("0");
    expect(state.path).toBe(join(dir, "run", "ip_forward.net-4026531840"));
    expect(await readFile(state.path, "utf8")).toBe("0\n");
    expect(await new ForwardState(join(dir, "run"), "4026531840").recorded()).toBe("0");
    expect(
      await new ForwardState(join(dir, "run"), "4026531840", "ipv6_forwarding").recorded(),
    ).toBeUndefined();
    expect(await new ForwardState(join(dir, "run"), "4026532999").recorded()).toBeUndefined();
    await state.forget();
    expect(await state.recorded()).toBeUndefined();
  });

  it("refuses to turn forwarding on when the original cannot be recorded", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tether-nat-test-"));
    dirs.push(dir);
    await writeFile(join(dir, "a-file"), "");
    const state = new ForwardState(join(dir, "a-file", "run"), "1"); // a folder under a file: ENOTDIR
    await expect(state.record("0")).rejects.toThrow(NatError);
    await expect(state.record("0")).rejects.toThrow(/without a way back/);
  });
});

describe("a released address", () => {
  const log = () => {
    const lines: string[] = [];
    return { lines, warn: (_fields: object, message: string) => lines.push(message) };
  };

  it("goes back to the pool only after its conntrack entries are flushed", async () => {
    const order: string[] = [];
    const pool = { release: (address: string) => order.push(`release ${address}`) };
    await releaseAddress(pool, "10.77.0.5", log(), {
      flush: async (address) => {
        order.push(`flush ${address}`);
        return 2;
      },
    });
    expect(order).toEqual(["flush 10.77.0.5", "release 10.77.0.5"]);
  });

  it("forgets the session's IPv6 flows too before its IPv4 address (which the IPv6 one follows) goes back", async () => {
    const order: string[] = [];
    const pool = { release: (address: string) => order.push(`release ${address}`) };
    const sink = log();
    await releaseAddress(pool, "10.77.0.5", sink, {
      also: ["fd77:e2e::5"],
      flush: async (address) => {
        order.push(`flush ${address}`);
        if (address === "10.77.0.5") throw new Error("conntrack: Operation not permitted");
        return 1;
      },
    });
    expect(order).toEqual(["flush 10.77.0.5", "flush fd77:e2e::5", "release 10.77.0.5"]);
    expect(sink.lines).toEqual(["conntrack entries of a freed address not flushed"]);
  });

  it("is released all the same, and the failure reported, when the flush fails", async () => {
    const released: string[] = [];
    const sink = log();
    await releaseAddress({ release: (a) => released.push(a) }, "10.77.0.6", sink, {
      flush: async () => {
        throw new Error("conntrack: Operation not permitted");
      },
    });
    expect(released).toEqual(["10.77.0.6"]);
    expect(sink.lines).toEqual(["conntrack entries of a freed address not flushed"]);
  });
});
