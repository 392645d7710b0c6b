// Versions before the privilege drop ran as root for their whole life, so under sudo their config
// folder was root's own (~root/.config/tether). Now tether gives root up to the user who ran sudo
// and keeps its folder in that user's home: on the first run after the upgrade, the phone's
// pairing (the certificate it trusts, the pairing secret) and the settings would be left behind,
// and the phone would have to trust a new certificate. So that first run moves them over, once.
//
// Only tether's own files move, only regular files with one link, read without following a link,
// from a folder of root's that no one else can write; the user's folder, once it holds any of
// them, always wins, and the old copies are removed (no second copy of the private keys stays).
import { lstatSync, rmdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { prepareConfigDir } from "./config-owner.js";
import type { Account } from "./privilege-drop.js";
import { readFileNoFollowSync, writeFileSafelySync } from "./safe-write.js";

/** Where tether kept its config under sudo before it gave root up: root's own home. */
export const LEGACY_CONFIG_DIR = "/root/.config/tether";

/** What moves: the settings and everything the phone's pairing rests on. */
const CARRIED_FILES = [
  "config.json",
  "laptop-cert.pem",
  "laptop-key.pem",
  "laptop-ca-cert.pem",
  "pairing-secret",
] as const;

/** Write permission for the group or others. */
const GROUP_OR_OTHER_WRITE = 0o022;

/** A folder of root's (uid 0, `owner` in tests) that no one else can write, or false. */
function isTrustedFolder(path: string, owner: number): boolean {
  try {
    const info = lstatSync(path);
    return info.isDirectory() && info.uid === owner && (info.mode & GROUP_OR_OTHER_WRITE) === 0;
  } catch {
    return false;
  }
}

/** The file's bytes and mode if it is a regular file with one link, else undefined. */
function carriedFile(path: string): { data: Buffer; mode: number } | undefined {
  try {
    const info = lstatSync(path);
    if (!info.isFile() || info.nlink !== 1) return undefined;
    const data = readFileNoFollowSync(path);
    return data === undefined ? undefined : { data, mode: info.mode & 0o700 };
  } catch {
    return undefined;
  }
}

/**
 * Moves tether's files from the old folder of root's into `target` (made for `account`), when
 * `target` holds none of them yet. Returns what it did, in words, or undefined if nothing moved.
 */
export function adoptLegacyConfig(
  target: string,
  account: Account,
  legacy: string = LEGACY_CONFIG_DIR,
  legacyOwner = 0,
): string | undefined {
  if (resolve(target) === resolve(legacy)) return undefined;
  if (CARRIED_FILES.some((name) => lstatExists(join(target, name)))) return undefined;
  if (!isTrustedFolder(legacy, legacyOwner)) return undefined;
  const found = CARRIED_FILES.flatMap((name) => {
    const file = carriedFile(join(legacy, name));
    return file ? [{ name, ...file }] : [];
  });
  if (found.length === 0) return undefined;
  prepareConfigDir(target, account);
  for (const file of found) writeFileSafelySync(join(target, file.name), file.data, file.mode);
  // Written in full first: only then do the old copies go.
  for (const file of found) rmSync(join(legacy, file.name), { force: true });
  try {
    rmdirSync(legacy);
  } catch {
    // other files of root's are there (status.json of an old run, or not tether's): they stay
  }
  return `moved the phone's pairing and settings from ${legacy} to ${target}, where tether keeps them now that it runs as ${account.name} once started: the phone needs no new pairing`;
}

function lstatExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
