import { describe, expect, it } from "vitest";
import { laptopPageUrl, readRelayTarget, relayUrl, TUNNEL_PATH, tunnelUrl } from "./paths.js";

describe("the paths the sides agree on", () => {
  it("builds the relay URL the laptop reads back: path, secret and encoding", () => {
    const url = relayUrl("wss://192.168.43.2:7443", "a b&c=", "base64");
    expect(url).toBe("wss://192.168.43.2:7443/relay?secret=a+b%26c%3D&encoding=base64");
    expect(readRelayTarget(new URL(url))).toEqual({ isRelay: true, secret: "a b&c=", encoding: "base64" });
  });

  it("tells the relay path from any other", () => {
    expect(readRelayTarget(new URL("wss://h/tunnel?secret=s"))).toMatchObject({
      isRelay: false,
      secret: "s",
    });
    expect(readRelayTarget(new URL("wss://h/relay"))).toEqual({ isRelay: true, secret: "", encoding: null });
  });

  it("dials the exit's tunnel on the origin the app came from, ws for http", () => {
    expect(tunnelUrl("https://exit.example:8443")).toBe(`wss://exit.example:8443${TUNNEL_PATH}`);
    expect(tunnelUrl("http://127.0.0.1:8080")).toBe("ws://127.0.0.1:8080/tunnel");
  });

  it("finds the laptop's trust page from its relay address", () => {
    expect(laptopPageUrl("wss://192.168.43.2:7443")).toBe("https://192.168.43.2:7443/");
    expect(laptopPageUrl("ws://10.0.0.2:7443/relay?secret=x")).toBe("http://10.0.0.2:7443/");
  });
});
