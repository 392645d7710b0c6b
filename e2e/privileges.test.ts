// The laptop gives up root, for real: `tether` started as root (as `sudo tether` would, here
// without SUDO_UID, so it becomes nobody) in the laptop namespace, carrying traffic through the
// phone and the exit. Its LAN-facing process must hold no root id and no capability in any thread
// while routes and DNS are set; only its privileged helper is root. After SIGINT everything is as
// before; after SIGKILL of the unprivileged process, the helper puts it back by itself.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { helperStateDir } from "../laptop/privileged-client.js";
import {
  type Exit,
  exitedCode,
  LAPTOP_PORT,
  LAPTOP_TUN,
  type Laptop,
  outputOf,
  type Phone,
  pairPhone,
  startExit,
  startLaptop,
  waitForOutput,
} from "./chain.js";
import { expectedSha256, startInternet } from "./internet.js";
import { type NetworkState, networkState } from "./network-state.js";
import { canRunPrivileged } from "./privileged.js";
import { createTopology, type Topology } from "./topology.js";

const FILE_BYTES = 4 * 1024 * 1024;
/** How long the helper may take to put everything back once its parent is gone, ms. */
const RESTORE_WAIT_MS = 15_000;

interface TaskIds {
  tid: string;
  uid: string;
  gid: string;
  groups: string;
  capEff: string;
  capPrm: string;
  capBnd: string;
}

/** Uid, Gid, Groups, CapEff and CapPrm of every thread of a process, from /proc. */
function tasksOf(pid: number): TaskIds[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const status = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
    const field = (name: string) => new RegExp(`^${name}:[ \\t]*(.*)$`, "m").exec(status)?.[1]?.trim() ?? "";
    return {
      tid,
      uid: field("Uid"),
      gid: field("Gid"),
      groups: field("Groups"),
      capEff: field("CapEff"),
      capPrm: field("CapPrm"),
      capBnd: field("CapBnd"),
    };
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function gone(pid: number, timeoutMs: number): Promise<boolean> {
  const started = Date.now();
  while (alive(pid)) {
    if (Date.now() - started > timeoutMs) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

/** The helper's pid and the account from the line tether prints once it has given root up. */
async function gaveUpRoot(
  laptop: Laptop,
): Promise<{ line: string; account: string; uid: number; helper: number }> {
  const [line, account, uid, helper] = await waitForOutput(
    laptop.process,
    /tether: gave up root: running as (\S+) \(uid (\d+),.*privileged helper \(pid (\d+), uid 0 with CAP_NET_ADMIN alone\)/,
    "tether to give up root",
  );
  return { line: line.trim(), account: account!, uid: Number(uid), helper: Number(helper) };
}

describe.skipIf(!canRunPrivileged)("the laptop gives up root once started (needs root)", () => {
  let topology: Topology;
  let exit: Exit;
  let laptop: Laptop;
  let phone: Phone;
  let before: NetworkState;
  let dropped: Awaited<ReturnType<typeof gaveUpRoot>>;

  beforeAll(async () => {
    topology = await createTopology({ tag: "privdrop" });
    await startInternet(topology, { iperf3: false });
    exit = await startExit(topology);
    before = await networkState(topology);
    laptop = await startLaptop(topology, exit, await exit.addKey("e2e-privdrop"));
    dropped = await gaveUpRoot(laptop);
    ({ phone } = await pairPhone(topology, exit, laptop));
  });

  afterAll(async () => {
    await topology?.destroy();
  });

  it("faces the LAN without root: every thread nobody, no groups, no capabilities; the helper uid 0 with CAP_NET_ADMIN alone", () => {
    const pid = laptop.process.pid!;
    const tasks = tasksOf(pid);
    const helper = tasksOf(dropped.helper)[0]!;
    const distinct = [
      ...new Set(
        tasks.map(
          (t) =>
            `Uid ${t.uid} | Gid ${t.gid} | Groups "${t.groups}" | CapEff ${t.capEff} | CapPrm ${t.capPrm}`,
        ),
      ),
    ];
    console.log(`[privdrop] ${dropped.line}`);
    console.log(`[privdrop] tether pid ${pid}, ${tasks.length} threads, all: ${distinct.join(" ; ")}`);
    console.log(
      `[privdrop] helper pid ${dropped.helper}: Uid ${helper.uid} | CapEff ${helper.capEff} | CapBnd ${helper.capBnd}`,
    );
    expect(dropped.account).toBe("nobody");
    for (const task of tasks) {
      expect(task.uid.split(/\s+/)).toEqual(Array(4).fill(String(dropped.uid)));
      expect(task.gid.split(/\s+/)).not.toContain("0");
      expect(task.groups).toBe("");
      expect(task.capEff).toBe("0000000000000000");
      expect(task.capPrm).toBe("0000000000000000");
    }
    expect(helper.uid.split(/\s+/)).toEqual(["0", "0", "0", "0"]);
    expect(helper.capEff).toBe("0000000000001000"); // CAP_NET_ADMIN alone
    expect(helper.capBnd).toBe("0000000000001000"); // and nothing more for what it runs
    expect(readFileSync(`/proc/${dropped.helper}/cmdline`, "utf8")).toContain("privileged-helper-main");
  });

  it("bound its listener after giving root up: the listening socket belongs to nobody", async () => {
    // /proc/net/tcp: local address:port in hex, state 0A (LISTEN), the uid that made the socket.
    const table = (await topology.exec("laptop", ["cat", "/proc/net/tcp"], { check: true })).stdout;
    const port = LAPTOP_PORT.toString(16).toUpperCase().padStart(4, "0");
    const listeners = table
      .split("\n")
      .map((line) => line.trim().split(/\s+/))
      .filter((f) => f[1]?.endsWith(`:${port}`) && f[3] === "0A");
    expect(listeners.length).toBeGreaterThan(0);
    for (const fields of listeners) expect(Number(fields[7])).toBe(dropped.uid);
    console.log(
      `[privdrop] ${listeners.length} listening socket(s) on :${LAPTOP_PORT}, uid ${listeners.map((f) => f[7]).join(", ")}`,
    );
  });

  it("carries traffic with routes and DNS set by the helper, and writes its status as that user", async () => {
    const url = `http://${topology.addr.egress.internet}/bytes/${FILE_BYTES}?seed=privdrop`;
    const sum = await topology.exec(
      "laptop",
      ["sh", "-c", `curl -sS --fail --max-time 60 '${url}' | sha256sum`],
      {
        timeoutMs: 70_000,
        check: true,
      },
    );
    expect(sum.stdout.split(" ")[0]).toBe(expectedSha256(FILE_BYTES, "privdrop"));
    const during = await networkState(topology);
    expect(during.routes).toContain(`0.0.0.0/1 dev ${LAPTOP_TUN}`);
    expect(during.routes).toContain(`128.0.0.0/1 dev ${LAPTOP_TUN}`);
    expect(during.resolvConf).toContain(`nameserver ${topology.addr.egress.internet}`);
    const status = join(laptop.configDir, "status.json");
    await waitForFile(status);
    expect(statSync(status).uid).toBe(dropped.uid);
    expect(statSync(laptop.configDir).uid).toBe(dropped.uid);
    console.log(
      `[privdrop] 4 MiB through the tether: sha256 ${sum.stdout.split(" ")[0]} matches; routes 0/1 and 128/1 via ${LAPTOP_TUN}; ` +
        `resolv.conf: ${during.resolvConf
          .trim()
          .split("\n")
          .filter((l) => l.startsWith("nameserver"))
          .join(", ")}; ` +
        `status.json and the config folder owned by uid ${dropped.uid}`,
    );
  });

  it("puts routes, resolver and links back after SIGINT, and its helper ends", async () => {
    laptop.process.kill("SIGINT");
    expect(await exitedCode(laptop.process)).toBe(0);
    expect(await gone(dropped.helper, RESTORE_WAIT_MS)).toBe(true);
    const after = await networkState(topology);
    expect(after).toEqual(before);
    expect(outputOf(laptop.process)).toContain("stopped; routes and DNS are as they were");
    expect(existsSync(helperStateDir(laptop.configDir)), "the helper's state folder is gone").toBe(false);
    console.log(
      "[privdrop] after SIGINT: routes, ip -6 routes, links and resolv.conf equal the state before start",
    );
  });

  it("runs as SUDO_UID/SUDO_GID under sudo, and the helper alone puts everything back when that tether is SIGKILLed", async () => {
    // As `sudo tether` from a user of uid 4242 (no passwd entry needed: the ids are what count).
    const second = await startLaptop(topology, exit, await exit.addKey("e2e-privdrop-2"), {
      label: "privdrop2",
      sameCertificateAs: laptop,
      env: { SUDO_UID: "4242", SUDO_GID: "4243", SUDO_USER: "al" },
    });
    const { helper, uid, account } = await gaveUpRoot(second);
    expect({ uid, account }).toEqual({ uid: 4242, account: "al" });
    for (const task of tasksOf(second.process.pid!)) {
      expect(task.uid.split(/\s+/)).toEqual(["4242", "4242", "4242", "4242"]);
      expect(task.gid.split(/\s+/)).toEqual(["4243", "4243", "4243", "4243"]);
      expect(task.capEff).toBe("0000000000000000");
    }
    expect(statSync(second.configDir)).toMatchObject({ uid: 4242, gid: 4243 });
    const page = await phone.open(second.link);
    await waitForOutput(
      second.process,
      /tether: connected \(address 10\.77\.0\.\d+/,
      "the second laptop to connect",
    );
    const during = await networkState(topology);
    expect(during.resolvConf).toContain(`nameserver ${topology.addr.egress.internet}`);
    second.process.kill("SIGKILL");
    await exitedCode(second.process);
    expect(await gone(helper, RESTORE_WAIT_MS)).toBe(true);
    const after = await networkState(topology);
    await page.close();
    expect(after).toEqual(before);
    console.log(
      `[privdrop] as SUDO_UID 4242: tether (pid ${second.process.pid}) uid 4242 gid 4243 in every thread, CapEff 0, its config folder 4242's; ` +
        `after its SIGKILL: helper ${helper} restored and ended; ` +
        `resolv.conf back to ${JSON.stringify(after.resolvConf.trim())}; routes, ip -6 routes and links equal the state before start`,
    );
  });
});

async function waitForFile(path: string): Promise<void> {
  const started = Date.now();
  for (;;) {
    try {
      statSync(path);
      return;
    } catch {
      if (Date.now() - started > 5_000) throw new Error(`${path} did not appear`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
