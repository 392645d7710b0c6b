// The config folder belongs to the account tether runs as once it gives root up (privilege-drop.ts):
// that tether rewrites status.json there every second, and reads the certificate and pairing
// secret root made on the first run. So root, before it lets go: creates the folder (and any
// missing folder above it) for that account, checks that the account can reach it, and hands over
// what it wrote there itself. Only regular files with one link are handed over, and only by
// lchown, which never follows a link: nothing outside the folder changes owner.
import { lchownSync, lstatSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Account } from "./privilege-drop.js";

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
 * Gives `account` the folder and the files root made in it (the certificate, its key, the pairing
 * secret). Returns how many entries changed owner.
 */
export function handOverConfigDir(dir: string, account: Account): number {
  let changed = 0;
  for (const name of readdirSync(dir)) {
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
