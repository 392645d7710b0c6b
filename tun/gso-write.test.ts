import { describe, expect, it } from "vitest";
import { buildTransportPacket, checksumsValid, pattern } from "../testing/gso-packets.js";
import { gsoSplit } from "./gso-split.js";
import { type GsoWriteMode, GsoWriter, MAX_KERNEL_UDP_SEGMENTS } from "./gso-write.js";
import {
  decodeVnetHeader,
  GSO_NONE,
  GSO_TCPV4,
  GSO_UDP_L4,
  VNET_F_NEEDS_CSUM,
  VNET_HDR_BYTES,
} from "./vnet.js";

const ALL: GsoWriteMode = { vnetHeader: true, tcp: true, udp: true };

function recorder(mode: GsoWriteMode, probe?: () => GsoWriteMode | undefined) {
  const writes: Uint8Array[] = [];
  const writer = new GsoWriter(
    (bytes, length) => {
      writes.push(bytes.slice(0, length));
      return true;
    },
    mode,
    probe,
  );
  return { writer, writes };
}

const superPacket = buildTransportPacket({ version: 4, protocol: "tcp", payload: pattern(5 * 1000 + 1) });

describe("GsoWriter", () => {
  it("writes a super-packet whole with a TCPV4 header and the pseudo-header sum to complete", () => {
    const { writer, writes } = recorder(ALL);
    expect(writer.write(superPacket, 1000)).toMatchObject({ ok: true, whole: true, packets: 6, calls: 1 });
    expect(writes).toHaveLength(1);
    expect(decodeVnetHeader(writes[0]!)).toEqual({
      flags: VNET_F_NEEDS_CSUM,
      gsoType: GSO_TCPV4,
      hdrLen: 40,
      gsoSize: 1000,
      csumStart: 20,
      csumOffset: 16,
    });
    const packet = writes[0]!.subarray(VNET_HDR_BYTES);
    expect(packet.length).toBe(superPacket.length);
    expect(checksumsValid(packet)).toBe(false); // partial: the kernel completes it per segment
  });

  it("puts a header saying 'no segmentation' in front of an ordinary packet", () => {
    const { writer, writes } = recorder(ALL);
    const small = buildTransportPacket({ version: 4, protocol: "udp", payload: pattern(10) });
    expect(writer.write(small)).toMatchObject({ ok: true, whole: false, packets: 1 });
    expect(decodeVnetHeader(writes[0]!)).toMatchObject({ flags: 0, gsoType: GSO_NONE });
    expect(writes[0]!.subarray(VNET_HDR_BYTES)).toEqual(small);
  });

  it("splits when the device has no vnet header: bare segments, as gsoSplit makes them", () => {
    const { writer, writes } = recorder({ vnetHeader: false, tcp: false, udp: false });
    expect(writer.write(superPacket, 1000)).toMatchObject({ ok: true, whole: false, packets: 6, calls: 6 });
    expect(writes).toEqual(gsoSplit(superPacket, 1000));
  });

  it("splits a TCP super-packet with CWR set, and UDP past what the kernel takes", () => {
    const { writer, writes } = recorder(ALL);
    const cwr = buildTransportPacket({ version: 4, protocol: "tcp", payload: pattern(3000), flags: 0x90 });
    expect(writer.write(cwr, 1000)).toMatchObject({ whole: false, calls: 3 });
    const manyUdp = buildTransportPacket({
      version: 6,
      protocol: "udp",
      payload: pattern((MAX_KERNEL_UDP_SEGMENTS + 1) * 100),
    });
    expect(writer.write(manyUdp, 100)).toMatchObject({ whole: false, calls: MAX_KERNEL_UDP_SEGMENTS + 1 });
    const fewUdp = buildTransportPacket({ version: 6, protocol: "udp", payload: pattern(300) });
    expect(writer.write(fewUdp, 100)).toMatchObject({ whole: true });
    expect(decodeVnetHeader(writes.at(-1)!).gsoType).toBe(GSO_UDP_L4);
    expect(writes.slice(0, -1).every((write) => decodeVnetHeader(write).gsoType === GSO_NONE)).toBe(true);
  });

  it("refuses a malformed super-packet, writing nothing", () => {
    const { writer, writes } = recorder(ALL);
    expect(writer.write(superPacket.subarray(0, 30), 1000)).toMatchObject({ ok: false, refused: true });
    expect(writes).toHaveLength(0);
  });

  it("probes before the first whole write, again while the probe cannot tell, and then follows it", () => {
    let probes = 0;
    const answers: (GsoWriteMode | undefined)[] = [undefined, { vnetHeader: true, tcp: false, udp: false }];
    const { writer } = recorder(ALL, () => {
      probes++;
      return answers.shift();
    });
    expect(writer.write(superPacket, 1000)).toMatchObject({ whole: false, calls: 6 }); // could not tell
    expect(writer.write(superPacket, 1000)).toMatchObject({ whole: false, calls: 6 }); // refused
    expect(writer.write(superPacket, 1000)).toMatchObject({ whole: false, calls: 6 });
    expect(probes).toBe(2);
  });

  it("builds a probe the kernel can check: three segments, the last one byte", () => {
    for (const protocol of ["tcp", "udp"] as const) {
      const probe = GsoWriter.probePacket(protocol);
      const header = decodeVnetHeader(probe);
      const packet = probe.subarray(VNET_HDR_BYTES);
      expect(header.gsoSize).toBe(64);
      expect(packet.length - header.hdrLen).toBe(2 * 64 + 1);
      expect(packet.subarray(16, 20)).toEqual(new Uint8Array(4)); // to 0.0.0.0: dropped as a martian
    }
  });
});
