import { describe, expect, it } from "vitest";
import { refusedTunnelAddress } from "./routes.js";

const at = (address: string) => ({ address, prefixLength: 32, mtu: 1400 });

describe("the address the exit assigns the laptop", () => {
  const local = ["192.168.43.2/24", "127.0.0.1/8"];

  it("is taken when it is a unicast address off the laptop's own networks", () => {
    expect(refusedTunnelAddress(at("10.77.0.2"), local)).toBeUndefined();
    expect(refusedTunnelAddress(at("100.64.3.4"), local)).toBeUndefined();
  });

  it.each(["127.0.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "240.0.0.1", "1.2.3", "10.77.0.2\nx"])(
    "refuses %j as no address for a tunnel",
    (address) => {
      expect(refusedTunnelAddress(at(address), local)?.code).toBe("ROUTES_BAD_ADDRESS");
    },
  );

  it("refuses an address on the phone's link, which would cut the relay", () => {
    const refusal = refusedTunnelAddress(at("192.168.43.1"), local);
    expect(refusal?.code).toBe("ROUTES_LOCAL_NETWORK");
    expect(refusal?.message).toContain("192.168.43.2/24");
  });
});
