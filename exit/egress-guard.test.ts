import { describe, expect, it } from "vitest";
import { parseIpv4Cidr, tryParseIpv4 } from "../protocol/ip.js";
import { buildIpv4Udp } from "../testing/packets.js";
import { EgressGuard, parseCidrList, refusedRange } from "./egress-guard.js";

const udp = (destination: string, destinationPort = 443) =>
  buildIpv4Udp({
    source: "10.77.0.2",
    destination,
    sourcePort: 40000,
    destinationPort,
    payload: new Uint8Array(4),
  });

/** A TCP SYN-sized packet: only the fields the guard reads are set. */
function tcp(destination: string, destinationPort: number): Uint8Array {
  const packet = new Uint8Array(40);
  packet[0] = 0x45;
  packet[9] = 6;
  packet.set(udp(destination).subarray(16, 20), 16);
  packet[22] = destinationPort >> 8;
  packet[23] = destinationPort & 255;
  return packet;
}

describe("the egress guard", () => {
  const guard = new EgressGuard({
    ownAddresses: ["192.0.2.10", "127.0.0.1"],
    publicAddresses: ["93.184.216.34"],
    pool: parseIpv4Cidr("10.77.0.0/16"),
    deny: parseCidrList("8.8.4.0/24"),
  });

  it.each([
    ["10.0.0.1", "egress_private"],
    ["10.77.0.1", "egress_pool"],
    ["10.77.3.4", "egress_pool"],
    ["172.16.0.1", "egress_private"],
    ["172.31.255.254", "egress_private"],
    ["192.168.1.1", "egress_private"],
    ["100.64.0.1", "egress_private"],
    ["100.127.255.255", "egress_private"],
    ["127.0.0.53", "egress_loopback"],
    ["169.254.169.254", "egress_link_local"],
    ["224.0.0.251", "egress_multicast"],
    ["239.255.255.250", "egress_multicast"],
    ["0.0.0.0", "egress_reserved"],
    ["240.0.0.1", "egress_reserved"],
    ["255.255.255.255", "egress_reserved"],
    ["192.0.0.8", "egress_reserved"],
    ["192.0.2.1", "egress_reserved"],
    ["198.18.0.1", "egress_reserved"],
    ["198.19.255.255", "egress_reserved"],
    ["198.51.100.1", "egress_reserved"],
    ["203.0.113.1", "egress_reserved"],
    ["168.63.129.16", "egress_link_local"],
    ["192.0.2.10", "egress_own_address"],
    ["93.184.216.34", "egress_own_address"],
    ["8.8.4.4", "egress_denied"],
  ])("refuses %s as %s", (destination, reason) => {
    expect(guard.check(udp(destination))).toBe(reason);
  });

  it.each([
    "1.1.1.1",
    "8.8.8.8",
    "172.15.255.255",
    "172.32.0.1",
    "100.63.255.255",
    "100.128.0.0",
    "192.167.255.255",
    "169.253.0.1",
    "223.255.255.255",
    "11.0.0.1",
    "192.0.1.255",
    "192.0.3.0",
    "198.17.255.255",
    "198.20.0.0",
    "198.51.99.255",
    "198.51.101.0",
    "203.0.112.255",
    "203.0.114.0",
    "168.63.129.15",
    "168.63.129.17",
  ])("lets %s through", (destination) => {
    expect(guard.check(udp(destination))).toBeUndefined();
  });

  it("lets an allow-listed range through, but never the exit's own addresses, the pool or a denied range", () => {
    const allowing = new EgressGuard({
      ownAddresses: ["10.0.0.5"],
      publicAddresses: ["10.0.0.6"],
      pool: parseIpv4Cidr("10.77.0.0/16"),
      deny: parseCidrList("10.9.0.0/16"),
      allow: parseCidrList("10.0.0.0/8, 198.51.100.0/24"),
    });
    expect(allowing.check(udp("10.20.3.4"))).toBeUndefined();
    expect(allowing.check(udp("198.51.100.1"))).toBeUndefined();
    expect(allowing.check(udp("10.0.0.5"))).toBe("egress_own_address");
    expect(allowing.check(udp("10.0.0.6"))).toBe("egress_own_address");
    expect(allowing.check(udp("10.77.0.9"))).toBe("egress_pool");
    expect(allowing.check(udp("10.9.1.1"))).toBe("egress_denied");
    expect(allowing.check(udp("172.16.0.1"))).toBe("egress_private");
  });

  it("lets DNS reach an announced resolver on the exit itself", () => {
    const local = new EgressGuard({ ownAddresses: ["10.77.0.1"], dnsServers: ["10.77.0.1"] });
    expect(local.check(udp("10.77.0.1", 53))).toBeUndefined();
    expect(local.check(udp("10.77.0.1", 22))).toBe("egress_own_address");
  });

  it("lets DNS, and only DNS, reach an announced resolver inside a refused range", () => {
    const withDns = new EgressGuard({ ownAddresses: [], dnsServers: ["169.254.169.253", "10.0.0.2"] });
    expect(withDns.check(udp("169.254.169.253", 53))).toBeUndefined();
    expect(withDns.check(tcp("10.0.0.2", 53))).toBeUndefined();
    expect(withDns.check(udp("169.254.169.253", 80))).toBe("egress_link_local");
    expect(withDns.check(tcp("10.0.0.2", 22))).toBe("egress_private");
    expect(withDns.check(udp("10.0.0.3", 53))).toBe("egress_private");
    const fragment = udp("10.0.0.2", 53);
    fragment[7] = 8; // a later fragment: no port in it
    expect(withDns.check(fragment)).toBe("egress_private");
  });

  it("follows the exit's addresses when they change", () => {
    const changing = new EgressGuard({ ownAddresses: ["93.184.216.1"], publicAddresses: ["93.184.216.9"] });
    changing.setOwnAddresses(["93.184.216.7"]);
    expect(changing.check(udp("93.184.216.1"))).toBeUndefined();
    expect(changing.check(udp("93.184.216.7"))).toBe("egress_own_address");
    expect(changing.check(udp("93.184.216.9"))).toBe("egress_own_address");
  });

  it("agrees with a plain mask test over every range edge", () => {
    for (const [address, expected] of [
      ["9.255.255.255", undefined],
      ["11.0.0.0", undefined],
      ["126.255.255.255", undefined],
      ["128.0.0.0", undefined],
      ["223.255.255.255", undefined],
      ["224.0.0.0", "egress_multicast"],
      ["239.255.255.255", "egress_multicast"],
    ] as const) {
      expect(refusedRange(tryParseIpv4(address)!), address).toBe(expected);
    }
  });

  it("reads the allow-list strictly, as protocol/ip.ts does", () => {
    expect(parseCidrList("192.168.1.0/24, 1.2.3.4")).toMatchObject([
      { network: tryParseIpv4("192.168.1.0"), mask: 0xffffff00 },
      { network: tryParseIpv4("1.2.3.4"), mask: 0xffffffff },
    ]);
    for (const [bad, code] of [
      ["1.2.3/8", "IP_BAD_ADDRESS"],
      ["010.0.0.0/8", "IP_BAD_ADDRESS"],
      ["1.2.3.4/33", "IP_BAD_PREFIX"],
      ["1.2.3.4/", "IP_BAD_PREFIX"],
      ["1.2.3.4/8/9", "IP_BAD_PREFIX"],
      ["1.2.3.4/-1", "IP_BAD_PREFIX"],
      ["192.168.1.77/24", "IP_HOST_BITS"],
      ["fe80::/10", "IP_WRONG_FAMILY"],
      ["x", "IP_BAD_ADDRESS"],
    ] as const) {
      expect(() => parseCidrList(bad), bad).toThrow(expect.objectContaining({ code }));
    }
  });
});
