// flushConntrack against the kernel's real connection tracking, in a throwaway namespace: entries
// are made with `conntrack -I` (flows of a laptop's address, IPv4 and IPv6, and one of a
// neighbour), then the laptop's addresses are flushed and only the neighbour's entry stays.
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canRunPrivileged } from "../e2e/privileged.js";
import { TestNamespace } from "../testing/netns.js";
import { flushConntrack, releaseAddress } from "./conntrack.js";

const NS = `tether-conntrack-${process.pid}`;

describe.skipIf(!canRunPrivileged)("forgetting a freed address's flows (needs root and conntrack)", () => {
  let namespace: TestNamespace;
  const conntrack = ["ip", "netns", "exec", NS, "conntrack"];
  const table = () =>
    ["ipv4", "ipv6"]
      .map((family) =>
        execFileSync(conntrack[0]!, [...conntrack.slice(1), "-L", "-f", family], {
          encoding: "utf8",
          stdio: ["ignore", "pipe", "ignore"],
        }),
      )
      .join("");
  /** A flow from `source` to `destination`, as the kernel would keep it for a masqueraded laptop. */
  const insert = (protocol: "tcp" | "udp", source: string, destination: string) =>
    execFileSync(
      conntrack[0]!,
      [
        ...conntrack.slice(1),
        "-I",
        "-s",
        source,
        "-d",
        destination,
        "-p",
        protocol,
        "--sport",
        "40000",
        "--dport",
        protocol === "tcp" ? "443" : "53",
        ...(protocol === "tcp" ? ["--state", "ESTABLISHED"] : []),
        "-t",
        "120",
      ],
      { stdio: "ignore" },
    );

  beforeAll(() => {
    namespace = TestNamespace.create(NS);
  });
  afterAll(() => namespace?.delete());

  it("deletes every entry of the session's IPv4 and IPv6 addresses, both ways, and no other", async () => {
    insert("tcp", "10.77.0.5", "198.51.100.2");
    insert("tcp", "fd77:e2e::5", "2001:db8:e::2");
    insert("udp", "2001:db8:e::2", "fd77:e2e::5"); // towards the laptop: its orig-dst
    insert("tcp", "fd77:e2e::6", "2001:db8:e::2"); // the next laptop's, untouched
    expect(table().match(/fd77:e2e::5/g)?.length).toBe(4); // each entry holds both tuples
    expect(await flushConntrack("10.77.0.5", conntrack)).toBe(1);
    expect(await flushConntrack("10.77.0.5", conntrack)).toBe(0); // nothing left is no error
    const released: string[] = [];
    let flushed = 0;
    await releaseAddress(
      { release: (a) => released.push(a) },
      "10.77.0.5",
      { warn: () => undefined },
      {
        also: ["fd77:e2e::5"],
        flush: async (address) => {
          flushed += await flushConntrack(address, conntrack);
          return flushed;
        },
      },
    );
    expect(flushed).toBe(2);
    expect(released).toEqual(["10.77.0.5"]);
    const left = table();
    expect(left).not.toMatch(/10\.77\.0\.5|fd77:e2e::5\b/);
    expect(left).toMatch(/src=fd77:e2e::6 /);
    console.log(
      `[conntrack] after the flush: ${left.trim().split("\n").length} entry left (the next laptop's)`,
    );
  });
});
