// Each prerequisite of the laptop on its own, as the code a missing one is reported under.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  checkAddresses,
  checkCommand,
  checkConfigFolder,
  checkNode,
  checkPort,
  checkPrivileges,
  checkRunsAs,
  checkTunDevice,
  formatFindings,
} from "./doctor.js";

const dir = mkdtempSync(join(tmpdir(), "tether-doctor-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A port taken on 127.0.0.1 until the returned server is closed. */
async function takenPort(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ host: "127.0.0.1", port: 0 }, resolve));
  return { server, port: (server.address() as { port: number }).port };
}

describe("the laptop's prerequisites", () => {
  it("finds no network address for the phone on a machine without one: NO_ADDRESS", () => {
    expect(checkAddresses([], () => []).problem?.code).toBe("NO_ADDRESS");
    expect(checkAddresses([], () => ["192.168.43.2"]).detail).toBe("192.168.43.2");
    expect(checkAddresses(["10.0.0.2"], () => []).problem).toBeUndefined();
  });

  it("finds the phone's port taken: PORT_IN_USE, with --port as the fix", async () => {
    const { server, port } = await takenPort();
    try {
      const finding = await checkPort(["127.0.0.1"], port);
      expect(finding.problem?.code).toBe("PORT_IN_USE");
      expect(finding.problem?.fix).toMatch(/--port/);
    } finally {
      server.close();
    }
  });

  it("finds a free port free, and a --listen address this machine does not have: ADDRESS_NOT_LOCAL", async () => {
    const { server, port } = await takenPort();
    await new Promise((resolve) => server.close(resolve));
    expect((await checkPort(["127.0.0.1"], port)).problem).toBeUndefined();
    expect((await checkPort(["203.0.113.77"], port)).problem?.code).toBe("ADDRESS_NOT_LOCAL");
  });

  it("wants root or CAP_NET_ADMIN: NEEDS_ROOT, with sudo as the fix", async () => {
    const status = (capEff: string) => async () => `Name:\tnode\nCapEff:\t${capEff}\n`;
    const refused = await checkPrivileges(1000, status("0000000000000000"));
    expect(refused.problem?.code).toBe("NEEDS_ROOT");
    expect(refused.problem?.fix).toMatch(/sudo/);
    expect((await checkPrivileges(1000, status("0000000000001000"))).detail).toBe("CAP_NET_ADMIN");
    expect((await checkPrivileges(0, status("0"))).detail).toBe("root");
  });

  it("wants the TUN device node: NO_TUN, with modprobe and the container flag as the fix", async () => {
    const missing = await checkTunDevice(join(dir, "no-such-device"));
    expect(missing.problem?.code).toBe("NO_TUN");
    expect(missing.problem?.fix).toMatch(/modprobe tun.*--device \/dev\/net\/tun/);
    writeFileSync(join(dir, "plain-file"), "");
    expect((await checkTunDevice(join(dir, "plain-file"))).problem?.code).toBe("NO_TUN");
  });

  it("wants the ip command and Node 20", async () => {
    expect((await checkCommand("ip", "install iproute2", join(dir, "empty-path"))).problem?.code).toBe(
      "NO_IP_TOOL",
    );
    expect(checkNode("18.19.0").problem?.code).toBe("OLD_NODE");
    expect(checkNode("20.19.2").problem).toBeUndefined();
  });

  it("prints one line per finding, the missing ones with their fix and code", () => {
    expect(
      formatFindings([
        { name: "Node.js", detail: "v20.19.2" },
        { name: "TUN device /dev/net/tun", problem: { code: "NO_TUN", fix: "load it" } },
      ]),
    ).toBe("ok       Node.js (v20.19.2)\nMISSING  TUN device /dev/net/tun: load it [NO_TUN]\n");
  });

  it("says whom tether runs as: the account it becomes and a helper with CAP_NET_ADMIN, or itself", () => {
    const al = { uid: 1000, gid: 1000, name: "al", home: "/home/al" };
    expect(checkRunsAs(al).detail).toMatch(
      /^al \(uid 1000, gid 1000, no groups, no capabilities\) once its TUN is open.*helper keeps uid 0 and CAP_NET_ADMIN/,
    );
    expect(checkRunsAs(undefined, 1000).detail).toMatch(/^uid 1000, as started \(not root\)/);
  });

  it("refuses a config folder the account it becomes cannot reach: CONFIG_DIR_UNREACHABLE", async () => {
    const closed = mkdtempSync(join(tmpdir(), "tether-doctor-closed-")); // 0700
    try {
      const finding = await checkConfigFolder(join(closed, "tether"), {
        uid: 4242,
        gid: 4242,
        name: "al",
        home: undefined,
      });
      expect(finding.problem?.code).toBe("CONFIG_DIR_UNREACHABLE");
      expect(finding.problem?.fix).toMatch(/al \(uid 4242\) cannot enter .*sudo from your own account/);
    } finally {
      rmSync(closed, { recursive: true, force: true });
    }
  });
});
