// The laptop's config folder is written by root (certificate, pairing secret, status, DNS backup):
// if someone else can write in it, or in a folder above it without the sticky bit, they can plant
// a symlink there and make root overwrite or copy files. Such a folder is refused, with the fix.
import { lstat, realpath } from "node:fs/promises";
import { dirname } from "node:path";
import { UsageError } from "../cli/errors.js";

/** Write permission for the group or others. */
const GROUP_OR_OTHER_WRITE = 0o022;
/** Only the owner of an entry may rename or remove it (/tmp). */
const STICKY = 0o1000;

export interface FolderFacts {
  path: string;
  mode: number;
  uid: number;
}

/**
 * Why a config folder is unsafe for a process running as `euid`, or undefined: the folder
 * itself (`chain[0]`) must be writable by its owner only and, for root, owned by root or by the
 * account root gives way to (`runAs`, laptop/config-owner.ts hands it over); each folder above it
 * must not be writable by others unless sticky.
 */
export function configDirProblem(
  chain: readonly FolderFacts[],
  euid: number,
  runAs?: number,
): string | undefined {
  const [folder, ...parents] = chain;
  if (!folder) return undefined;
  const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, "0");
  if (folder.mode & GROUP_OR_OTHER_WRITE) {
    return `the config folder ${folder.path} is writable by others (mode ${octal(folder.mode)}): chmod go-w ${folder.path}`;
  }
  if (euid === 0 && folder.uid !== 0 && folder.uid !== runAs) {
    const whom = runAs === undefined ? "root" : `uid ${runAs}, which tether runs as`;
    return `the config folder ${folder.path} belongs to uid ${folder.uid} but tether writes it as ${whom}: sudo chown -R ${runAs ?? "root"}: ${folder.path}, or pass --config-dir with a folder of your own`;
  }
  for (const parent of parents) {
    if (parent.mode & GROUP_OR_OTHER_WRITE && !(parent.mode & STICKY)) {
      return `${parent.path}, above the config folder, is writable by others (mode ${octal(parent.mode)}): chmod go-w ${parent.path}, or pick another --config-dir`;
    }
  }
  return undefined;
}

/** Refuses an unsafe config folder (UsageError CONFIG_DIR_UNSAFE); a folder not made yet is fine. */
export async function checkConfigDir(
  dir: string,
  euid = process.geteuid?.() ?? -1,
  runAs?: number,
): Promise<void> {
  let real: string;
  try {
    real = await realpath(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw new UsageError(
      "CONFIG_DIR_UNSAFE",
      `cannot check the config folder ${dir}: ${(error as Error).message}`,
    );
  }
  const chain: FolderFacts[] = [];
  for (let path = real; ; path = dirname(path)) {
    const info = await lstat(path);
    chain.push({ path, mode: info.mode, uid: info.uid });
    if (dirname(path) === path) break;
  }
  const problem = configDirProblem(chain, euid, runAs);
  if (problem) throw new UsageError("CONFIG_DIR_UNSAFE", problem);
}
