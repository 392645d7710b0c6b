import { describe, expect, it } from "vitest";
import { ipv4ToInt } from "../protocol/ipv4.js";
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
  const guard = new EgressGuard({ ownAddresses: ["198.51.100.1", "203.0.113.1", "127.0.0.1"] });

  it.each([
    ["10.0.0.1", "egress_private"],
    ["10.77.0.1", "egress_private"],
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
    ["198.51.100.1", "egress_own_address"],
    ["203.0.113.1", "egress_own_address"],
  ])("refuses %s as %s", (destination, reason) => {
    expect(guard.check(udp(destination))).toBe(reason);
  });

  it.each([
    "198.51.100.2",
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
  ])("lets %s through", (destination) => {
    expect(guard.check(udp(destination))).toBeUndefined();
  });

  it("lets an allow-listed range through, even one refused by default or the exit's own", () => {
    const allowing = new EgressGuard({
      ownAddresses: ["198.51.100.1"],
      allow: parseCidrList("10.20.0.0/16, 198.51.100.1"),
    });
    expect(allowing.check(udp("10.20.3.4"))).toBeUndefined();
    expect(allowing.check(udp("198.51.100.1"))).toBeUndefined();
    expect(allowing.check(udp("10.21.0.1"))).toBe("egress_private");
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
    const changing = new EgressGuard({ ownAddresses: ["198.51.100.1"] });
    changing.setOwnAddresses(["198.51.100.7"]);
    expect(changing.check(udp("198.51.100.1"))).toBeUndefined();
    expect(changing.check(udp("198.51.100.7"))).toBe("egress_own_address");
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
      expect(refusedRange(ipv4ToInt(address)!), address).toBe(expected);
    }
  });

  it("reads the allow-list strictly, as protocol/ip.ts does", () => {
    expect(parseCidrList("192.168.1.0/24, 1.2.3.4")).toMatchObject([
      { network: ipv4ToInt("192.168.1.0"), mask: 0xffffff00 },
      { network: ipv4ToInt("1.2.3.4"), mask: 0xffffffff },
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
