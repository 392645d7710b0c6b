// Giving up root: once its TUN is open and its privileged helper started (before it listens), the
// tether that faces the LAN becomes the user who ran `sudo tether` (SUDO_UID, SUDO_GID, no
// supplementary groups), or `nobody` when nobody did, and checks that it worked: no uid or gid of
// root left, no capability left (setuid from root to another uid clears them all, every thread's
// included, since glibc changes the ids of all threads of the process together).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

export interface Account {
  uid: number;
  gid: number;
  name: string;
  /** The account's home folder, if the password database names one. */
  home: string | undefined;
}

export type PrivilegeDropErrorCode =
  /** setgroups/setgid/setuid failed, or left an id or a capability behind. */
  "PRIVDROP_FAILED";

export class PrivilegeDropError extends Error {
  override name = "PrivilegeDropError";
  readonly code: PrivilegeDropErrorCode = "PRIVDROP_FAILED";
}

/** Debian's `nobody` and `nogroup`, when the password database cannot be asked. */
const NOBODY: Account = { uid: 65534, gid: 65534, name: "nobody", home: undefined };
/** Longest `getent passwd` may take, ms. */
const GETENT_TIMEOUT_MS = 5_000;

export type PasswdLookup = (key: string) => Account | undefined;

/** One entry of the password database (by name or uid), through getent (NSS: LDAP, systemd too). */
export function lookupPasswd(key: string): Account | undefined {
  try {
    const line = execFileSync("getent", ["passwd", key], {
      encoding: "utf8",
      timeout: GETENT_TIMEOUT_MS,
      stdio: ["ignore", "pipe", "ignore"],
    });
    return parsePasswdLine(line.split("\n")[0] ?? "");
  } catch {
    return undefined;
  }
}

/** name:password:uid:gid:gecos:home:shell */
export function parsePasswdLine(line: string): Account | undefined {
  const fields = line.split(":");
  if (fields.length < 7) return undefined;
  const uid = Number(fields[2]);
  const gid = Number(fields[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid < 0 || gid < 0) return undefined;
  const home = fields[5];
  return { name: fields[0]!, uid, gid, home: home && home !== "/nonexistent" ? home : undefined };
}

function id(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,10}$/.test(text)) return undefined;
  const value = Number(text);
  return value <= 0xfffffffe ? value : undefined;
}

/**
 * Whom tether runs as once it gives root up: the user sudo ran it for (SUDO_UID and SUDO_GID),
 * unless that is root itself; else `nobody`.
 */
export function accountToRunAs(env: NodeJS.ProcessEnv, lookup: PasswdLookup = lookupPasswd): Account {
  const uid = id(env.SUDO_UID);
  if (uid !== undefined && uid !== 0) {
    const entry = lookup(String(uid));
    const gid = id(env.SUDO_GID) ?? entry?.gid ?? uid;
    return { uid, gid, name: entry?.name ?? env.SUDO_USER ?? String(uid), home: entry?.home };
  }
  return lookup("nobody") ?? NOBODY;
}

export interface Capabilities {
  effective: bigint;
  permitted: bigint;
  ambient: bigint;
}

/** CapEff, CapPrm and CapAmb of a /proc/PID/status text (0 when a line is missing). */
export function capabilitiesOf(status: string): Capabilities {
  const read = (name: string) => {
    const hex = new RegExp(`^${name}:\\s*([0-9a-f]+)$`, "m").exec(status)?.[1];
    return hex ? BigInt(`0x${hex}`) : 0n;
  };
  return { effective: read("CapEff"), permitted: read("CapPrm"), ambient: read("CapAmb") };
}

/** The ids and capabilities a process should have after dropping to `account`; why not, or undefined. */
export function dropProblem(
  account: Account,
  ids: { uid: number; euid: number; gid: number; egid: number; groups: readonly number[] },
  caps: Capabilities,
): string | undefined {
  if (ids.uid !== account.uid || ids.euid !== account.uid)
    return `uid ${ids.uid}, euid ${ids.euid} instead of ${account.uid}`;
  if (ids.gid !== account.gid || ids.egid !== account.gid)
    return `gid ${ids.gid}, egid ${ids.egid} instead of ${account.gid}`;
  // Node always lists the effective gid among the groups.
  if (ids.groups.some((group) => group !== account.gid))
    return `supplementary groups ${ids.groups.join(",")} left`;
  if (caps.effective || caps.permitted || caps.ambient)
    return `capabilities left (CapEff ${caps.effective.toString(16)}, CapPrm ${caps.permitted.toString(16)})`;
  return undefined;
}

/** Becomes `account` for good; throws PrivilegeDropError when any part of it did not hold. */
export function dropPrivileges(account: Account): void {
  try {
    process.setgroups?.([]);
    process.setgid?.(account.gid);
    process.setuid?.(account.uid); // last: only root may still change the groups
  } catch (error) {
    throw new PrivilegeDropError(
      `cannot become ${account.name} (uid ${account.uid}): ${(error as Error).message}`,
    );
  }
  const problem = dropProblem(
    account,
    {
      uid: process.getuid?.() ?? -1,
      euid: process.geteuid?.() ?? -1,
      gid: process.getgid?.() ?? -1,
      egid: process.getegid?.() ?? -1,
      groups: process.getgroups?.() ?? [],
    },
    capabilitiesOf(readFileSync("/proc/self/status", "utf8")),
  );
  if (problem) throw new PrivilegeDropError(`giving up root as ${account.name} did not hold: ${problem}`);
}
