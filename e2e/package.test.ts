// The package as a user gets it: `npm pack` of this checkout, installed from the tarball into an
// empty folder, then the installed `tether` and `tether-exit` commands: --help, --version, and the
// whole chain once (the installed exit serving the installed phone app). The installed exit runs
// with exactly the capability bounding set packaging/tether-exit.service gives it, so the shipped
// unit is known to be enough; systemd-analyze checks the unit itself.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Commands,
  exitedCode,
  fetchThroughTether,
  pairPhone,
  ROOT,
  requireBuild,
  startExit,
  startLaptop,
} from "./chain.js";
import { expectedSha256, HELLO_TEXT, startInternet } from "./internet.js";
import { canRunPrivileged } from "./privileged.js";
import { createTopology, runBounded, type Topology } from "./topology.js";

const PACKAGE = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  name: string;
  version: string;
};
const UNIT = join(ROOT, "packaging/tether-exit.service");
/** npm install of the tarball: its dependencies come from the npm cache or the registry. */
const INSTALL_TIMEOUT_MS = 150_000;
/** What a user's installed package may hold: what runs, the built phone app, the unit, the docs. */
const SHIPPED =
  /^(package\.json|README\.md|dist\/node\/(protocol|tunnel|tun|laptop|exit|cli)\/[\w./-]+\.js|dist\/pwa\/.+|packaging\/tether-exit\.service)$/;

interface PackedFile {
  path: string;
}

/** The capabilities the shipped unit leaves (CapabilityBoundingSet), as setpriv spells them. */
function unitCapabilities(): string[] {
  const line = readFileSync(UNIT, "utf8").match(/^CapabilityBoundingSet=(.+)$/m)?.[1] ?? "";
  return line
    .split(/\s+/)
    .filter((cap) => cap !== "")
    .map((cap) => cap.replace(/^CAP_/, "").toLowerCase());
}

describe.skipIf(!canRunPrivileged)("the npm package, installed from its tarball (needs root)", () => {
  let topology: Topology;
  let files: string[];
  let installed: Commands;
  let bin: string;

  beforeAll(async () => {
    requireBuild();
    topology = await createTopology({ tag: "pkg" });
    const packDir = topology.tempDir("pack");
    // The build is already there (npm ci ran it); pack it as is.
    const packed = JSON.parse(
      execFileSync("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", packDir], {
        cwd: ROOT,
        encoding: "utf8",
        timeout: 60_000,
      }),
    ) as { filename: string; files: PackedFile[] }[];
    const tarball = join(packDir, packed[0]!.filename);
    files = packed[0]!.files.map((f) => f.path);
    // An empty folder, as a user's: `npm install ./tether-ip-X.tgz` there.
    const home = topology.tempDir("user");
    await runBounded(["npm", "install", "--no-audit", "--no-fund", tarball], {
      cwd: home,
      timeoutMs: INSTALL_TIMEOUT_MS,
      check: true,
    });
    bin = join(home, "node_modules", ".bin");
    const caps = unitCapabilities()
      .map((cap) => `+${cap}`)
      .join(",");
    installed = {
      // As the unit runs it: no capability outside the unit's bounding set, none to gain.
      exit: [
        "setpriv",
        `--bounding-set=-all,${caps}`,
        `--inh-caps=-all,${caps}`,
        "--no-new-privs",
        "--",
        join(bin, "tether-exit"),
      ],
      laptop: [join(bin, "tether")],
    };
    await startInternet(topology);
  }, 240_000);

  afterAll(async () => {
    await topology?.destroy();
  });

  it("is named as README says, not private, and ships only what runs plus the phone app and the unit", () => {
    expect(PACKAGE.name).toBe("tether-ip");
    expect((PACKAGE as { private?: boolean }).private).toBeUndefined();
    expect(files.filter((path) => !SHIPPED.test(path))).toEqual([]);
    for (const needed of [
      "dist/node/laptop/cli.js",
      "dist/node/exit/cli.js",
      "dist/pwa/index.html",
      "packaging/tether-exit.service",
    ]) {
      expect(files).toContain(needed);
    }
  });

  it("runs the laptop's command as `npx tether-ip` does: the bin named after the package", async () => {
    const viaName = await runBounded([join(bin, PACKAGE.name), "--version"], { timeoutMs: 15_000 });
    expect(viaName.stdout).toBe(`tether ${PACKAGE.version} (${PACKAGE.name})\n`);
  });

  it("installs both commands, each answering --help and --version", async () => {
    for (const command of ["tether", "tether-exit"]) {
      const help = await runBounded([join(bin, command), "--help"], { timeoutMs: 15_000 });
      expect(help.code, help.stderr).toBe(0);
      expect(help.stdout).toContain(`${command} `);
      const version = await runBounded([join(bin, command), "--version"], { timeoutMs: 15_000 });
      expect(version.code, version.stderr).toBe(0);
      expect(version.stdout).toContain(PACKAGE.version);
    }
  });

  it("ships a systemd unit that systemd-analyze accepts", async () => {
    // verify also checks that ExecStart exists: point it at the installed command.
    const unitDir = topology.tempDir("unit");
    const unit = join(unitDir, "tether-exit.service");
    const text = readFileSync(UNIT, "utf8").replace(
      /^ExecStart=\/usr\/local\/bin\/tether-exit$/m,
      `ExecStart=${join(bin, "tether-exit")}`,
    );
    expect(text).toContain(`ExecStart=${join(bin, "tether-exit")}`);
    execFileSync("sh", ["-c", `cat > '${unit}'`], { input: text });
    const verify = await runBounded(["systemd-analyze", "verify", unit], { timeoutMs: 30_000 });
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stderr.trim()).toBe("");
  });

  it("carries the chain from the installed commands, the exit holding only the unit's capabilities", async () => {
    expect(unitCapabilities()).toEqual(["net_admin", "net_bind_service"]);
    const exit = await startExit(topology, [], undefined, installed);
    // `ip netns exec`, setpriv and the command's shebang each exec: the spawned pid is the exit's node.
    const status = readFileSync(`/proc/${exit.process.pid}/status`, "utf8");
    // CAP_NET_ADMIN (bit 12) and CAP_NET_BIND_SERVICE (bit 10), nothing else, and none to gain.
    expect(status).toMatch(/^CapEff:\s+0*1400$/m);
    expect(status).toMatch(/^CapBnd:\s+0*1400$/m);
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    const key = await exit.addKey("pkg-laptop");
    const laptop = await startLaptop(topology, exit, key, { commands: installed });
    await pairPhone(topology, exit, laptop);
    const bytes = 4 * 1024 * 1024;
    const through = await fetchThroughTether(topology, bytes, "pkg");
    expect(through.hello).toBe(HELLO_TEXT);
    expect(through.sha256).toBe(expectedSha256(bytes, "pkg"));
    laptop.process.kill("SIGINT");
    expect(await exitedCode(laptop.process)).toBe(0);
    exit.process.kill("SIGTERM");
    expect(await exitedCode(exit.process)).toBe(0);
  });
});
