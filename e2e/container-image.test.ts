// The exit's container image, built and run for real: exit/image.sh makes the base from Debian's
// packages (debootstrap trixie minbase + nodejs, imported), stages what runs, builds exit/Dockerfile
// with podman; the image then runs in the e2e topology's exit namespace with NET_ADMIN (and, for
// its setpriv ENTRYPOINT, SETUID/SETGID/SETPCAP) and /dev/net/tun: healthy, a laptop welcomed and
// its traffic through, SIGHUP reloads the certificate, SIGTERM removes the TUN and the nftables
// table. Images and containers live in a private podman storage under the topology's temp dir:
// removed on every exit path (a deferred `podman rm`, then the folder itself).
//
// How podman runs on this kind of host (each a property of the sandbox, not of the image): the
// `vfs` storage driver (no overlay mounts in a container), `cgroupfs` (no systemd), `runc` (crun
// refuses the host's hybrid cgroups), `--isolation chroot` for RUN steps, and a containers.conf
// with `default_ulimits = []` (the sandbox cannot raise rlimits). Each step is its own test: one
// that cannot work here fails saying which and why, and what does not depend on it still runs.
import { type ChildProcess, spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { chownSync, copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadOrCreateCertificate } from "../laptop/certificate.js";
import {
  EXIT_PORT,
  EXIT_TUN,
  type Exit,
  exitedCode,
  fetchThroughTether,
  pairPhone,
  ROOT,
  recordOutput,
  requireBuild,
  startLaptop,
  waitForOutput,
} from "./chain.js";
import { expectedSha256, HELLO_TEXT, startInternet } from "./internet.js";
import { canRunPrivileged } from "./privileged.js";
import { createTopology, runBounded, type Topology } from "./topology.js";

const IMAGE = "localhost/tether-exit:e2e";
const BASE_IMAGE = "localhost/tether-exit-base:e2e";
const CONTAINER = "tether-exit-e2e";
/** The image's `node` user (exit/Dockerfile). */
const NODE_UID = 1000;
/** CAP_NET_ADMIN is capability 12. */
const NET_ADMIN_ONLY = (1n << 12n).toString(16).padStart(16, "0");
/** debootstrap of trixie minbase + nodejs took 28 s to 3 min here, depending on the mirror and load. */
const BASE_TIMEOUT_MS = 600_000;
/** Staging (npm ci --omit=dev) and the build with vfs: under a minute here. */
const BUILD_TIMEOUT_MS = 300_000;
/** vfs copies the whole image for a new container: 10-60 s here, more on a loaded machine. */
const CONTAINER_START_TIMEOUT_MS = 180_000;
/** What the runtime grants (compose.yaml's cap_add): NET_ADMIN for the exit, the rest for setpriv. */
const CAPS = ["NET_ADMIN", "SETUID", "SETGID", "SETPCAP"];

/** Records why a step failed, so the steps after it say which one they needed. */
const failed = new Map<string, string>();
function needs(...steps: string[]): void {
  for (const step of steps) {
    const why = failed.get(step);
    if (why !== undefined) throw new Error(`not run: step "${step}" failed here: ${why}`);
  }
}
async function step<T>(name: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    failed.set(name, err instanceof Error ? err.message.slice(0, 2000) : String(err));
    throw err;
  }
}

describe.skipIf(!canRunPrivileged)("the exit's image, built and run with podman (needs root)", () => {
  let topology: Topology;
  let podman: string[];
  let env: NodeJS.ProcessEnv;
  let dataDir: string;
  /** The TUN device node the container gets (see beforeAll). */
  let tunNode: string;
  let exitProcess: ChildProcess | undefined;
  let key: string;
  let spkiSha256: string;

  const run = (args: string[], timeoutMs = 60_000) =>
    runBounded([...podman, ...args], { env, timeoutMs, cwd: ROOT });

  /** `podman run` of the image: the exit namespace's network, NET_ADMIN + setpriv's three, the TUN. */
  const runArgs = (network: string, extra: string[]) => [
    "run",
    "--rm",
    "--network",
    network,
    "--cap-drop",
    "ALL",
    ...CAPS.flatMap((cap) => ["--cap-add", cap]),
    "--device",
    `${tunNode}:/dev/net/tun`,
    "--volume",
    `${dataDir}:/data`,
    "--env",
    `TETHER_EXIT_DNS=${topology.addr.egress.internet}`,
    // The e2e internet sits in a documentation range the egress guard refuses by default.
    "--env",
    `TETHER_EXIT_ALLOW_EGRESS=${topology.addr.egress.subnet}`,
    ...extra,
  ];

  beforeAll(async () => {
    requireBuild();
    topology = await createTopology({ tag: "img" });
    const work = topology.tempDir("podman");
    const conf = join(work, "containers.conf");
    writeFileSync(conf, "[containers]\ndefault_ulimits = []\n");
    env = { ...process.env, CONTAINERS_CONF: conf };
    podman = [
      "podman",
      "--root",
      join(work, "storage"),
      "--runroot",
      join(work, "run"),
      "--storage-driver",
      "vfs",
      "--cgroup-manager",
      "cgroupfs",
      "--runtime",
      "runc",
    ];
    // Runs before the temp dirs go: no container outlives the test, failure or not. The images go
    // with the storage folder itself (a temp dir of the topology, removed with retries while
    // conmon finishes writing); `podman rmi` of vfs layers took longer than a deferred cleanup may.
    topology.defer(async () => {
      exitProcess?.kill("SIGKILL");
      await run(["rm", "--all", "--force", "--time", "0"]);
    });
    // The container's /dev/net/tun is made with the mode of the node it is given. Debian's is 0666
    // (opening it grants nothing: creating a TUN needs CAP_NET_ADMIN); some hosts, this one
    // included, make it 0600, and then the exit's uid 1000 could not open it. So the container
    // gets a node of the same device (10:200) with Debian's mode, made here; the host's stays.
    tunNode = join(topology.tempDir("dev"), "tun");
    await runBounded(["mknod", "-m", "0666", tunNode, "c", "10", "200"], { check: true });
    dataDir = topology.tempDir("data");
    const made = await loadOrCreateCertificate(
      topology.tempDir("cert"),
      [topology.addr.carrier.exit],
      "exit",
    );
    spkiSha256 = made.spkiSha256;
    mkdirSync(join(dataDir, "tls"));
    copyFileSync(join(made.dir, "exit-cert.pem"), join(dataDir, "tls/fullchain.pem"));
    copyFileSync(join(made.dir, "exit-key.pem"), join(dataDir, "tls/privkey.pem"));
    for (const path of ["", "tls", "tls/fullchain.pem", "tls/privkey.pem"]) {
      chownSync(join(dataDir, path), NODE_UID, NODE_UID);
    }
    await startInternet(topology);
  }, 120_000);

  afterAll(async () => {
    await topology?.destroy();
  });

  it(
    "makes the base image from Debian's packages (debootstrap trixie minbase + nodejs, imported)",
    async () => {
      await step("base", async () => {
        const made = await runBounded(["exit/image.sh", "base"], {
          cwd: ROOT,
          env: { ...env, ENGINE: podman.join(" "), BASE_IMAGE, WORK: topology.tempDir("base") },
          timeoutMs: BASE_TIMEOUT_MS,
        });
        expect(made.code, `${made.stdout}${made.stderr}`).toBe(0);
        console.log(`[image] ${made.stdout.trim().split("\n").join("; ")}`);
        const node = await run(["run", "--rm", "--network", "none", BASE_IMAGE, "node", "--version"]);
        expect(node.stdout.trim(), node.stderr).toMatch(/^v20\./);
        // The exit flushes a freed address's flows with it (exit/conntrack.ts).
        const conntrack = await run([
          "run",
          "--rm",
          "--network",
          "none",
          BASE_IMAGE,
          "conntrack",
          "--version",
        ]);
        expect(`${conntrack.stdout}${conntrack.stderr}`).toMatch(/conntrack v1\./);
      });
    },
    BASE_TIMEOUT_MS,
  );

  it(
    "builds exit/Dockerfile FROM that base, holding only what runs",
    async () => {
      needs("base");
      await step("build", async () => {
        const built = await runBounded(["exit/image.sh", "all"], {
          cwd: ROOT,
          env: {
            ...env,
            ENGINE: podman.join(" "),
            BUILD_FLAGS: "--isolation chroot --format docker --layers=false",
            BASE_IMAGE,
            IMAGE,
          },
          timeoutMs: BUILD_TIMEOUT_MS,
        });
        expect(built.code, `${built.stdout}${built.stderr}`.slice(-3000)).toBe(0);
        const listing = await run([
          "run",
          "--rm",
          "--network",
          "none",
          "--entrypoint",
          "ls",
          IMAGE,
          "/app",
          "/app/dist",
        ]);
        expect(
          listing.stdout
            .split(/\s+/)
            .filter((name) => name !== "" && !name.endsWith(":"))
            .sort(),
        ).toEqual(["README.md", "dist", "node", "node_modules", "package.json", "packaging", "pwa"].sort());
        const dev = await run([
          "run",
          "--rm",
          "--network",
          "none",
          "--entrypoint",
          "ls",
          IMAGE,
          "/app/node_modules",
        ]);
        for (const devOnly of ["vitest", "typescript", "vite", "playwright-core"]) {
          expect(dev.stdout.split(/\s+/)).not.toContain(devOnly);
        }
        const size = await run(["image", "inspect", "--format", "{{.Size}}", IMAGE]);
        console.log(`[image] built ${IMAGE}: ${Math.round(Number(size.stdout) / 1e6)} MB`);
      });
    },
    BUILD_TIMEOUT_MS,
  );

  it("adds a key as README says (`compose run ... keys add`): through the ENTRYPOINT, as node, mode 0600", async () => {
    needs("base", "build");
    await step("keys", async () => {
      const added = await run(
        runArgs("none", [IMAGE, "node", "dist/node/exit/cli.js", "keys", "add", "image-laptop"]),
      );
      expect(added.code, added.stderr).toBe(0);
      key = /^\s+(\S+:\S+)$/m.exec(added.stdout)?.[1] ?? "";
      expect(key).toMatch(/^image-laptop:/);
      const keys = statSync(join(dataDir, "keys.json"));
      expect(keys.uid).toBe(NODE_UID);
      expect(keys.mode & 0o777).toBe(0o600);
    });
  });

  it("runs in the exit namespace with NET_ADMIN alone: healthy, TUN and NAT up, a laptop welcomed and its traffic through", {
    timeout: CONTAINER_START_TIMEOUT_MS + 120_000,
  }, async () => {
    needs("base", "build", "keys");
    await step("run", async () => {
      exitProcess = recordOutput(
        spawn(
          podman[0]!,
          [...podman.slice(1), ...runArgs(`ns:/run/netns/${topology.ns.exit}`, ["--name", CONTAINER, IMAGE])],
          {
            env,
            stdio: ["ignore", "pipe", "pipe"],
          },
        ),
      );
      await waitForOutput(
        exitProcess,
        /exit listening/,
        "the exit in its container to listen",
        CONTAINER_START_TIMEOUT_MS,
      );
      const pid = Number((await run(["inspect", "--format", "{{.State.Pid}}", CONTAINER])).stdout.trim());
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      const field = (name: string) => new RegExp(`^${name}:\\s+(.*)$`, "m").exec(status)?.[1]?.trim();
      expect(field("Uid")?.split(/\s+/)).toEqual(Array(4).fill(String(NODE_UID)));
      expect(field("CapEff")).toBe(NET_ADMIN_ONLY);
      expect(field("CapBnd")).toBe(NET_ADMIN_ONLY);

      const health = await run(["healthcheck", "run", CONTAINER]);
      expect(health.code, `${health.stdout}${health.stderr}`).toBe(0);
      const link = await topology.exec("exit", ["ip", "-br", "link", "show", EXIT_TUN]);
      expect(link.code, link.stderr).toBe(0);
      const tables = await topology.exec("exit", ["nft", "list", "tables"], { check: true });
      expect(tables.stdout).toContain("tether_exit");

      const origin = `https://${topology.addr.carrier.exit}:${EXIT_PORT}`;
      const exit: Exit = {
        process: exitProcess,
        origin,
        keysFile: join(dataDir, "keys.json"),
        spkiSha256,
        addKey: () => Promise.reject(new Error("keys are added through the image")),
        get: async (path) =>
          (
            await topology.exec("exit", ["curl", "-sS", "--max-time", "10", "-k", `${origin}${path}`], {
              check: true,
            })
          ).stdout,
      };
      const laptop = await startLaptop(topology, exit, key);
      await pairPhone(topology, exit, laptop);
      const bytes = 4 * 1024 * 1024;
      const through = await fetchThroughTether(topology, bytes, "img");
      expect(through.hello).toBe(HELLO_TEXT);
      expect(through.sha256).toBe(expectedSha256(bytes, "img"));
      laptop.process.kill("SIGINT");
      expect(await exitedCode(laptop.process)).toBe(0);
      console.log(
        `[image] running: uid ${NODE_UID}, CapEff ${field("CapEff")}; healthcheck ok; ${link.stdout.trim()}; nft tether_exit; laptop through: hello + ${bytes} bytes, sha256 ok`,
      );
    });
  });

  it("reloads its certificate on SIGHUP (`podman kill --signal HUP`), without a restart", async () => {
    needs("base", "build", "keys", "run");
    const renewed = await loadOrCreateCertificate(
      topology.tempDir("cert2"),
      [topology.addr.carrier.exit],
      "exit",
    );
    for (const [from, to] of [
      ["exit-cert.pem", "tls/fullchain.pem"],
      ["exit-key.pem", "tls/privkey.pem"],
    ] as const) {
      copyFileSync(join(renewed.dir, from), join(dataDir, to));
      chownSync(join(dataDir, to), NODE_UID, NODE_UID);
    }
    const signalled = await run(["kill", "--signal", "HUP", CONTAINER]);
    expect(signalled.code, signalled.stderr).toBe(0);
    await waitForOutput(exitProcess!, /TLS certificate reloaded/, "the certificate reload");
    const served = await topology.exec(
      "phone",
      [
        "node",
        "-e",
        `const s = require("node:tls").connect({ host: "${topology.addr.carrier.exit}", port: ${EXIT_PORT}, rejectUnauthorized: false }, () => { console.log(s.getPeerX509Certificate().fingerprint256); s.end(); });`,
      ],
      { check: true },
    );
    expect(served.stdout.trim()).toBe(new X509Certificate(renewed.cert).fingerprint256);
    console.log(
      `[image] SIGHUP: the renewed certificate (${served.stdout.trim().slice(0, 23)}...) is served`,
    );
  });

  it("stops on SIGTERM (`podman stop`): exit code 0, TUN and nftables table gone, container removed", async () => {
    needs("base", "build", "keys", "run");
    const stopped = await run(["stop", "--time", "15", CONTAINER]);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(await exitedCode(exitProcess!)).toBe(0);
    expect((await topology.exec("exit", ["ip", "link", "show", EXIT_TUN])).code).not.toBe(0);
    const tables = await topology.exec("exit", ["nft", "list", "tables"], { check: true });
    expect(tables.stdout).not.toContain("tether_exit");
    const left = await run(["ps", "--all", "--quiet"]);
    expect(left.stdout.trim()).toBe("");
    console.log("[image] after SIGTERM: exit code 0, TUN and nft table gone, no container left");
  });
});
