// The exit the way its container runs it, without a container engine: exit/Dockerfile's
// ENTRYPOINT + CMD, ENV and HEALTHCHECK, read from the Dockerfile itself (so they cannot drift), run
// in a network namespace of their own as the container's runtime would run them. What differs from
// a real container, and why it does not matter here:
//   - paths: the image's WORKDIR (/app) is this checkout (it holds the same dist/ and node_modules),
//     its /data volume is a temp dir; ENV values are mapped the same way;
//   - the user: setpriv's `--reuid=node --regid=node` name the node image's user, uid/gid 1000,
//     which this machine may not have by name;
//   - the runtime's part (compose.yaml): ip_forward=1 in the namespace (the topology sets it for the
//     exit), /dev/net/tun present, and the bounding set the ENTRYPOINT starts with is root's (setpriv
//     reduces it to NET_ADMIN, which is what the test checks).
// It proves: the exit runs as uid 1000 with NET_ADMIN alone, the HEALTHCHECK says ready, the TUN
// and the nftables table exist, a laptop's handshake gets WELCOME, SIGHUP swaps the certificate,
// and SIGTERM removes the TUN and the table.
import { X509Certificate } from "node:crypto";
import { chownSync, copyFileSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadOrCreateCertificate } from "../laptop/certificate.js";
import { EXIT_PORT, EXIT_TUN, exitedCode, ROOT, recordOutput, requireBuild, waitForOutput } from "./chain.js";
import { canRunPrivileged } from "./privileged.js";
import { createTopology, runBounded, type Topology } from "./topology.js";

const DOCKERFILE = join(ROOT, "exit", "Dockerfile");
/** The node image's `node` user. */
const NODE_UID = 1000;
/** The node image's PATH (Docker passes the image's environment, PATH included). */
const IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** CAP_NET_ADMIN is capability 12. */
const NET_ADMIN_ONLY = (1n << 12n).toString(16).padStart(16, "0");

interface DockerfileRuntime {
  workdir: string;
  env: Record<string, string>;
  entrypoint: string[];
  cmd: string[];
  healthcheck: string[];
  volumes: string[];
}

/** The final stage's runtime settings: WORKDIR, ENV, ENTRYPOINT, CMD, HEALTHCHECK and VOLUME. */
function parseDockerfile(text: string): DockerfileRuntime {
  const lines = text
    .replace(/\\\r?\n/g, " ")
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith("#"));
  const lastFrom = lines.map((line) => /^FROM\s/i.test(line)).lastIndexOf(true);
  const runtime: DockerfileRuntime = {
    workdir: "/",
    env: {},
    entrypoint: [],
    cmd: [],
    healthcheck: [],
    volumes: [],
  };
  for (const line of lines.slice(lastFrom + 1)) {
    const [, instruction = "", rest = ""] = /^(\w+)\s+(.*)$/.exec(line) ?? [];
    switch (instruction.toUpperCase()) {
      case "WORKDIR":
        runtime.workdir = rest;
        break;
      case "ENV":
        for (const [, key, value] of rest.matchAll(/(\w+)=("[^"]*"|\S*)/g)) {
          runtime.env[key!] = value!.replace(/^"|"$/g, "");
        }
        break;
      case "ENTRYPOINT":
        runtime.entrypoint = JSON.parse(rest) as string[];
        break;
      case "CMD":
        runtime.cmd = JSON.parse(rest) as string[];
        break;
      case "HEALTHCHECK":
        runtime.healthcheck = JSON.parse(rest.replace(/^.*?\bCMD\s+/, "")) as string[];
        break;
      case "VOLUME":
        runtime.volumes = JSON.parse(rest) as string[];
        break;
    }
  }
  return runtime;
}

describe.skipIf(!canRunPrivileged)("the exit as its container runs it (needs root)", () => {
  let topology: Topology;
  let runtime: DockerfileRuntime;
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  /** A path inside the image, as it is on this machine. */
  let host: (path: string) => string;
  /** The ENTRYPOINT, with the image's user by number. */
  let entrypoint: string[];

  beforeAll(async () => {
    requireBuild();
    runtime = parseDockerfile(readFileSync(DOCKERFILE, "utf8"));
    topology = await createTopology({ tag: "ctr" });
    dataDir = topology.tempDir("data");
    const volume = runtime.volumes[0] ?? "/data";
    host = (path) =>
      path.startsWith(`${runtime.workdir}/`) || path === runtime.workdir
        ? ROOT + path.slice(runtime.workdir.length)
        : path.startsWith(volume)
          ? dataDir + path.slice(volume.length)
          : path;
    env = { PATH: IMAGE_PATH, HOME: "/root" };
    for (const [key, value] of Object.entries(runtime.env)) env[key] = host(value);
    entrypoint = runtime.entrypoint.map((arg) => arg.replace(/^(--re[ug]id=)node$/, `$1${NODE_UID}`));
    // The volume as the image makes it (owned by node, 0700), with a certificate in tls/.
    const tlsDir = join(dataDir, "tls");
    mkdirSync(tlsDir, { recursive: true });
    const made = await loadOrCreateCertificate(
      topology.tempDir("cert"),
      [topology.addr.carrier.exit],
      "exit",
    );
    copyFileSync(join(made.dir, "exit-cert.pem"), host(runtime.env.TETHER_EXIT_CERT!));
    copyFileSync(join(made.dir, "exit-key.pem"), host(runtime.env.TETHER_EXIT_TLS_KEY!));
    for (const path of [
      dataDir,
      tlsDir,
      host(runtime.env.TETHER_EXIT_CERT!),
      host(runtime.env.TETHER_EXIT_TLS_KEY!),
    ]) {
      chownSync(path, NODE_UID, NODE_UID);
    }
  });

  afterAll(async () => {
    await topology?.destroy();
  });

  it("reads ENTRYPOINT, CMD, ENV and HEALTHCHECK from the Dockerfile", () => {
    expect(runtime.workdir).toBe("/app");
    expect(runtime.cmd).toEqual(["node", "dist/node/exit/cli.js"]);
    expect(runtime.entrypoint[0]).toBe("setpriv");
    expect(runtime.env.TETHER_EXIT_KEYS_FILE).toMatch(/^\/data\//);
    expect(runtime.healthcheck).toEqual(["node", "dist/node/exit/healthcheck.js"]);
    console.log(
      `[container] ENTRYPOINT ${JSON.stringify(runtime.entrypoint)} CMD ${JSON.stringify(runtime.cmd)}`,
    );
    console.log(`[container] ENV ${JSON.stringify(runtime.env)}`);
  });

  it("runs as uid 1000 with NET_ADMIN alone, is healthy, sets up TUN and NAT, welcomes a laptop, reloads its certificate on SIGHUP and cleans up on SIGTERM", async () => {
    // `docker compose run --rm exit node dist/node/exit/cli.js keys add NAME`: the ENTRYPOINT stays.
    const keyRun = await topology.exec(
      "exit",
      [...entrypoint, ...runtime.cmd, "keys", "add", "container-laptop"],
      {
        env,
        cwd: ROOT,
        check: true,
      },
    );
    const key = /^\s+(\S+:\S+)$/m.exec(keyRun.stdout)?.[1];
    expect(key).toBeDefined();
    const keysFile = statSync(host(runtime.env.TETHER_EXIT_KEYS_FILE!));
    expect(keysFile.uid).toBe(NODE_UID);
    expect(keysFile.mode & 0o777).toBe(0o600);

    // The container's /dev/net/tun, as a runtime makes it: Debian's mode 0666 (opening it grants
    // nothing; creating a TUN needs CAP_NET_ADMIN). Some hosts, this one included, make theirs 0600,
    // which uid 1000 could not open; so a node of the same device with that mode is bind-mounted
    // over it in the mount namespace `ip netns exec` gives the process. The host's stays as it is.
    const tunNode = join(topology.tempDir("dev"), "tun");
    await runBounded(["mknod", "-m", "0666", tunNode, "c", "10", "200"], { check: true });
    const exit = recordOutput(
      topology.spawn(
        "exit",
        [
          "sh",
          "-c",
          `mount --bind ${tunNode} /dev/net/tun && exec "$@"`,
          "sh",
          ...entrypoint,
          ...runtime.cmd,
        ],
        { env, cwd: ROOT },
      ),
    );
    await waitForOutput(exit, /exit listening/, "the containerized exit to listen");

    const status = readFileSync(`/proc/${exit.pid}/status`, "utf8");
    const field = (name: string) => new RegExp(`^${name}:\\s+(.*)$`, "m").exec(status)?.[1]?.trim();
    expect(field("Uid")?.split(/\s+/)).toEqual(Array(4).fill(String(NODE_UID)));
    expect(field("CapEff")).toBe(NET_ADMIN_ONLY);
    expect(field("CapBnd")).toBe(NET_ADMIN_ONLY);
    expect(field("CapAmb")).toBe(NET_ADMIN_ONLY);
    console.log(
      `[container] exit process: Uid ${field("Uid")}, CapEff ${field("CapEff")}, CapBnd ${field("CapBnd")}`,
    );

    // HEALTHCHECK runs like `docker exec`: as the container's user (root), same ENV and WORKDIR.
    const health = await topology.exec("exit", runtime.healthcheck, { env, cwd: ROOT });
    expect(health.code, health.stdout).toBe(0);
    expect(health.stdout).toContain("healthz: 200");

    const link = await topology.exec("exit", ["ip", "-br", "link", "show", EXIT_TUN]);
    const table = await topology.exec("exit", ["nft", "list", "table", "ip", "tether_exit"]);
    expect(link.code, link.stderr).toBe(0);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toContain("masquerade");

    const { stdout } = await topology.exec(
      "phone",
      [
        "node",
        "--import",
        "tsx",
        "e2e/hostile-client.ts",
        "handshake",
        JSON.stringify({ url: `wss://${topology.addr.carrier.exit}:${EXIT_PORT}`, key }),
      ],
      { cwd: ROOT, check: true },
    );
    const handshake = JSON.parse(stdout.trim()) as { welcomed: boolean; address?: string };
    expect(handshake).toMatchObject({ welcomed: true });
    expect(handshake.address).toMatch(/^10\.77\./);
    console.log(
      `[container] healthz 200; ${link.stdout.trim()}; nft table tether_exit up; laptop welcomed as ${handshake.address}`,
    );

    // SIGHUP (`docker compose kill -s HUP exit`): the renewed certificate in the volume is served
    // to new connections, without a restart.
    const renewed = await loadOrCreateCertificate(
      topology.tempDir("cert2"),
      [topology.addr.carrier.exit],
      "exit",
    );
    for (const [from, to] of [
      [join(renewed.dir, "exit-cert.pem"), host(runtime.env.TETHER_EXIT_CERT!)],
      [join(renewed.dir, "exit-key.pem"), host(runtime.env.TETHER_EXIT_TLS_KEY!)],
    ] as const) {
      copyFileSync(from, to);
      chownSync(to, NODE_UID, NODE_UID);
    }
    exit.kill("SIGHUP");
    await waitForOutput(exit, /TLS certificate reloaded/, "the certificate reload");
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
      `[container] SIGHUP: the renewed certificate (${served.stdout.trim().slice(0, 23)}...) is served`,
    );

    exit.kill("SIGTERM");
    expect(await exitedCode(exit)).toBe(0);
    expect((await topology.exec("exit", ["ip", "link", "show", EXIT_TUN])).code).not.toBe(0);
    expect((await topology.exec("exit", ["nft", "list", "table", "ip", "tether_exit"])).code).not.toBe(0);
    expect((await topology.exec("exit", runtime.healthcheck, { env, cwd: ROOT })).code).toBe(1);
    console.log("[container] after SIGTERM: exit code 0, TUN and nft table gone, HEALTHCHECK fails");
  });
});
