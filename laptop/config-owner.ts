// The config folder belongs to the account tether runs as once it gives root up (privilege-drop.ts):
// that tether rewrites status.json there every second, and reads the certificate and pairing
// secret root made on the first run. So root, before it lets go: creates the folder (and any
// missing folder above it) for that account, checks that the account can reach it, and hands over
// what it wrote there itself. Only tether's own files are handed over (by name: never a file of
// root's that happens to be there, as in `--config-dir /etc`), only regular files with one link,
// and only by lchown, which never follows a link: nothing outside the folder changes owner. A
// folder of root's is handed over only when it holds nothing but tether's files.
import { lchownSync, lstatSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Account } from "./privilege-drop.js";

/** What tether keeps in its config folder (certificate.ts, laptop.ts, status-file.ts, config.ts). */
export const TETHER_FILES: ReadonlySet<string> = new Set([
  "config.json",
  "laptop-cert.pem",
  "laptop-key.pem",
  "laptop-ca-cert.pem",
  "pairing-secret",
  "status.json",
  // Left by versions that kept these here (now in the privileged helper's own folder).
  "resolv.conf.backup",
  "routes6.up",
]);

/** A file written aside by safe-write.ts and not yet renamed (or left by a killed run). */
const ASIDE = /\.\d+\.[0-9a-f]{8}\.tmp$/;

/** Search (x) permission for the owner, the group and others. */
const SEARCH = { owner: 0o100, group: 0o010, other: 0o001 } as const;

/** The folders from `dir` up to / that do not exist yet, outermost first. */
function missingFolders(dir: string): string[] {
  const missing: string[] = [];
  for (let path = resolve(dir); ; path = dirname(path)) {
    try {
      statSync(path);
      break;
    } catch {
      missing.unshift(path);
    }
    if (dirname(path) === path) break;
  }
  return missing;
}

/** Makes the config folder and the folders above it that are missing, each owned by `account`. */
export function prepareConfigDir(dir: string, account: Account): void {
  for (const path of missingFolders(dir)) {
    mkdirSync(path, { mode: 0o700 });
    lchownSync(path, account.uid, account.gid);
  }
}

/** Why `account` cannot reach (search) every folder above `dir`, or undefined if it can. */
export function unreachableBy(dir: string, account: Account): string | undefined {
  for (let path = dirname(resolve(dir)); ; path = dirname(path)) {
    let info: ReturnType<typeof statSync>;
    try {
      info = statSync(path);
    } catch {
      return undefined; // made by prepareConfigDir, for the account
    }
    const bit =
      info.uid === account.uid ? SEARCH.owner : info.gid === account.gid ? SEARCH.group : SEARCH.other;
    if (!(info.mode & bit)) return `${account.name} (uid ${account.uid}) cannot enter ${path}`;
    if (dirname(path) === path) return undefined;
  }
}

/**
 * Why root may not give this existing folder away, or undefined: a folder of root's that holds
 * anything but tether's own files is not tether's folder.
 */
export function handOverProblem(dir: string): string | undefined {
  let info: ReturnType<typeof lstatSync>;
  try {
    info = lstatSync(dir);
  } catch {
    return undefined; // not made yet: prepareConfigDir makes it the account's
  }
  if (info.uid !== 0) return undefined;
  const foreign = readdirSync(dir).filter((name) => !TETHER_FILES.has(name) && !ASIDE.test(name));
  if (foreign.length === 0) return undefined;
  return `the config folder ${dir} belongs to root and holds files that are not tether's (${foreign.slice(0, 3).join(", ")}${foreign.length > 3 ? ", ..." : ""}): pass --config-dir a folder of tether's own`;
}

/**
 * Gives `account` the folder and the files root made in it (the certificate, its key, the pairing
 * secret). Returns how many entries changed owner. Refuses (throws) what handOverProblem refuses.
 */
export function handOverConfigDir(dir: string, account: Account): number {
  const problem = handOverProblem(dir);
  if (problem) throw new Error(problem);
  let changed = 0;
  for (const name of readdirSync(dir)) {
    if (!TETHER_FILES.has(name)) continue;
    const path = join(dir, name);
    const info = lstatSync(path);
    if (info.isFile() && info.nlink === 1 && info.uid === 0) {
      lchownSync(path, account.uid, account.gid);
      changed++;
    }
  }
  const folder = lstatSync(dir);
  if (folder.isDirectory() && folder.uid !== account.uid) {
    lchownSync(dir, account.uid, account.gid); // last: until now only root could change its entries
    changed++;
  }
  return changed;
}
