// What the laptop needs before it can run, each checked on its own with the one line that says
// what to do when it is missing: `tether doctor` prints them all; `tether` itself runs the ones
// that would otherwise fail deep in startup (preflight) and stops at the first, exit code 2.
//
//   NO_ADDRESS   no network address a phone could reach (not on the hotspot yet)
//   PORT_IN_USE  the phone port is taken (another tether?), ADDRESS_NOT_LOCAL for a bad --listen
//   NEEDS_ROOT   neither root nor CAP_NET_ADMIN (TUN, routes and DNS need it)
//   NO_TUN       no /dev/net/tun (module not loaded, or a container without the device)
//   NO_IP_TOOL   no `ip` command (iproute2), which sets the TUN's address and routes
//   OLD_NODE     Node older than 20
import { constants } from "node:fs";
import { access, readFile, stat } from "node:fs/promises";
import { createServer } from "node:net";
import { delimiter, join } from "node:path";
import { UsageError } from "../cli/errors.js";
import { LAPTOP_PROGRAM, laptopInvocation } from "../cli/package.js";
import { checkConfigDir } from "./config-dir.js";
import { unreachableBy } from "./config-owner.js";
import { localAddresses } from "./laptop.js";
import type { Account } from "./privilege-drop.js";

export interface Finding {
  /** What was checked, for `tether doctor`'s list. */
  name: string;
  /** Undefined when fine; else the code and the one line that says what to do. */
  problem?: { code: string; fix: string };
  /** What was found, when fine ("192.168.43.2", "v20.19.2"). */
  detail?: string;
}

const ok = (name: string, detail?: string): Finding => ({ name, ...(detail ? { detail } : {}) });
const missing = (name: string, code: string, fix: string): Finding => ({ name, problem: { code, fix } });

/** Oldest Node the laptop runs on (package.json's engines). */
const MIN_NODE_MAJOR = 20;
/** CAP_NET_ADMIN's bit in /proc/PID/status's CapEff. */
const CAP_NET_ADMIN_BIT = 12n;
const TUN_DEVICE = "/dev/net/tun";

/** The addresses a phone could reach: --listen's, or this machine's. */
export function checkAddresses(listen: readonly string[], found: () => string[] = localAddresses): Finding {
  const addresses = listen.length ? [...listen] : found();
  if (addresses.length) return ok("network address for the phone", addresses.join(", "));
  return missing(
    "network address for the phone",
    "NO_ADDRESS",
    "this machine has no network address a phone could reach: join the phone's hotspot (or plug in USB tethering) first, or name one with --listen",
  );
}

/** Whether `port` can be bound on each address (bound and released at once). */
export async function checkPort(addresses: readonly string[], port: number): Promise<Finding> {
  const name = `port ${port} for the phone`;
  for (const host of addresses) {
    const refusal = await new Promise<string | undefined>((resolve) => {
      const server = createServer();
      server.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? "EFAIL"));
      server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
    });
    if (refusal === "EADDRINUSE") {
      return missing(
        name,
        "PORT_IN_USE",
        `port ${port} is in use on ${host} (another ${LAPTOP_PROGRAM}?): stop that one, or pick another port with --port`,
      );
    }
    if (refusal === "EADDRNOTAVAIL") {
      return missing(
        name,
        "ADDRESS_NOT_LOCAL",
        `${host} is not an address of this machine: fix --listen (see ip -brief address)`,
      );
    }
    if (refusal)
      return missing(
        name,
        "PORT_REFUSED",
        `cannot listen on ${host}:${port} (${refusal}): pick another port with --port`,
      );
  }
  return ok(name, addresses.join(", "));
}

/** Root, or CAP_NET_ADMIN in the effective set. */
export async function checkPrivileges(
  euid = process.geteuid?.() ?? -1,
  status: () => Promise<string> = () => readFile("/proc/self/status", "utf8"),
): Promise<Finding> {
  const name = "root or CAP_NET_ADMIN";
  if (euid === 0) return ok(name, "root");
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(await status().catch(() => ""))?.[1];
  if (capEff && (BigInt(`0x${capEff}`) >> CAP_NET_ADMIN_BIT) & 1n) return ok(name, "CAP_NET_ADMIN");
  return missing(
    name,
    "NEEDS_ROOT",
    `${LAPTOP_PROGRAM} needs root for its TUN device, routes and DNS: run it with sudo (sudo ${laptopInvocation()} ...)`,
  );
}

/** The TUN device node, there and openable for reading and writing. */
export async function checkTunDevice(path = TUN_DEVICE): Promise<Finding> {
  const name = `TUN device ${path}`;
  try {
    if (!(await stat(path)).isCharacterDevice()) throw new Error("not a device");
    await access(path, constants.R_OK | constants.W_OK);
    return ok(name);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EACCES") return ok(name, "present (root may open it)");
    return missing(
      name,
      "NO_TUN",
      `no ${path}: load the TUN module (sudo modprobe tun); in a container, pass the device (--device /dev/net/tun)`,
    );
  }
}

/** A command on PATH. */
export async function checkCommand(
  command: string,
  fix: string,
  path = process.env.PATH ?? "",
): Promise<Finding> {
  const name = `the ${command} command`;
  for (const dir of path.split(delimiter).filter(Boolean)) {
    try {
      await access(join(dir, command), constants.X_OK);
      return ok(name, join(dir, command));
    } catch {
      // not in this one
    }
  }
  return missing(name, "NO_IP_TOOL", fix);
}

export function checkNode(version = process.versions.node): Finding {
  const major = Number(version.split(".")[0]);
  if (major >= MIN_NODE_MAJOR) return ok("Node.js", `v${version}`);
  return missing(
    "Node.js",
    "OLD_NODE",
    `Node.js ${version} is too old: install Node ${MIN_NODE_MAJOR} or newer`,
  );
}

export async function checkConfigFolder(dir: string, runAs?: Account): Promise<Finding> {
  try {
    await checkConfigDir(dir, process.geteuid?.() ?? -1, runAs?.uid);
    const unreachable = runAs && unreachableBy(dir, runAs);
    if (unreachable) {
      return missing(
        "config folder",
        "CONFIG_DIR_UNREACHABLE",
        `${unreachable}, where the config folder ${dir} is: run ${LAPTOP_PROGRAM} with sudo from your own account, or pass --config-dir a folder ${runAs.name} can reach`,
      );
    }
    return ok("config folder", runAs ? `${dir}, ${runAs.name}'s once started` : dir);
  } catch (error) {
    return missing(
      "config folder",
      (error as UsageError).code ?? "CONFIG_DIR_UNSAFE",
      (error as Error).message,
    );
  }
}

export interface PreflightSettings {
  listen: readonly string[];
  port: number;
}

/**
 * The checks `tether` runs before it starts, in an order that needs no privilege for the first
 * ones; throws UsageError (its code and fix) at the first missing prerequisite.
 */
export async function preflight(settings: PreflightSettings): Promise<void> {
  const addresses = checkAddresses(settings.listen);
  const steps: (() => Promise<Finding> | Finding)[] = [
    () => addresses,
    () => checkPort(addresses.detail?.split(", ") ?? [], settings.port),
    () => checkPrivileges(),
    () => checkTunDevice(),
  ];
  for (const step of steps) {
    const { problem } = await step();
    if (problem) throw new UsageError(problem.code, problem.fix);
  }
}

/** Who does what once tether runs: the account it becomes, and the helper that keeps root. */
export function checkRunsAs(runAs: Account | undefined, euid = process.geteuid?.() ?? -1): Finding {
  if (runAs) {
    return ok(
      "runs as",
      `${runAs.name} (uid ${runAs.uid}, gid ${runAs.gid}, no groups, no capabilities) once its TUN is open; a privileged helper keeps uid 0 and CAP_NET_ADMIN (setpriv) only to change the TUN's address, routes and DNS and put them back`,
    );
  }
  return ok(
    "runs as",
    `uid ${euid}, as started (not root): it changes routes and DNS itself, with CAP_NET_ADMIN`,
  );
}

/** Every check, for `tether doctor`. */
export async function doctorFindings(
  settings: PreflightSettings & { configDir: string; runAs?: Account },
): Promise<Finding[]> {
  const addresses = checkAddresses(settings.listen);
  return [
    checkNode(),
    await checkPrivileges(),
    await checkTunDevice(),
    await checkCommand("ip", "no `ip` command: install iproute2 (sudo apt install iproute2)"),
    addresses,
    ...(addresses.problem ? [] : [await checkPort(addresses.detail?.split(", ") ?? [], settings.port)]),
    await checkConfigFolder(settings.configDir, settings.runAs),
    checkRunsAs(settings.runAs),
  ];
}

/** The findings as `tether doctor` prints them: one line each. */
export function formatFindings(findings: readonly Finding[]): string {
  return findings
    .map((f) =>
      f.problem
        ? `MISSING  ${f.name}: ${f.problem.fix} [${f.problem.code}]`
        : `ok       ${f.name}${f.detail ? ` (${f.detail})` : ""}`,
    )
    .join("\n")
    .concat("\n");
}
