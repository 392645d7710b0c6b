// Where the laptop's client key comes from. A key in argv is visible to every user of the machine
// (ps, /proc/PID/cmdline) and stays in sudo's log, so the laptop takes it from a file too, and
// refuses a key file (or a config.json holding the key) that others may read, saying the chmod.
import { readFile, stat } from "node:fs/promises";
import { UsageError } from "../cli/errors.js";
import type { PartialConfig } from "./config.js";

/** Mode bits that let the group or others read, write or run a file. */
const GROUP_OR_OTHER_BITS = 0o077;
/** Longest key file read, bytes: a key is about 110 characters; more is not a key file. */
const MAX_KEY_FILE_BYTES = 4096;

export type KeySource =
  | { kind: "value"; key: string; layer: Layer }
  | { kind: "file"; path: string; layer: Layer }
  | undefined;

/** Where a setting came from, lowest precedence first. */
export type Layer = "file" | "env" | "flags";
const LAYERS: Layer[] = ["flags", "env", "file"];

/**
 * The key's source from the layers: the highest layer that names a key or a key file wins;
 * one layer naming both is a conflict.
 */
export function keySource(layers: Record<Layer, PartialConfig>): KeySource {
  for (const layer of LAYERS) {
    const { key, keyFile } = layers[layer];
    if (key !== undefined && keyFile !== undefined) {
      const where =
        layer === "flags"
          ? "--key and --key-file"
          : layer === "env"
            ? "TETHER_KEY and TETHER_KEY_FILE"
            : '"key" and "keyFile" in config.json';
      throw new UsageError("USAGE_CONFLICT", `${where} both give the key: keep one`);
    }
    if (keyFile !== undefined) return { kind: "file", path: keyFile, layer };
    if (key !== undefined) return { kind: "value", key, layer };
  }
  return undefined;
}

/** The warning for a key typed on the command line; undefined for any other source. */
export function argvKeyWarning(source: KeySource): string | undefined {
  if (source?.kind !== "value" || source.layer !== "flags") return undefined;
  return "warning: --key on the command line is visible to every user (ps) and stays in sudo's log; save it in a file only you can read and pass --key-file FILE instead [KEY_IN_ARGV]";
}

/** Why a file's mode is too open for a secret, with the command that fixes it; undefined when fine. */
export function openModeProblem(path: string, mode: number): string | undefined {
  if ((mode & GROUP_OR_OTHER_BITS) === 0) return undefined;
  const octal = (mode & 0o777).toString(8).padStart(4, "0");
  return `${path} holds a secret and is open to others (mode ${octal}): chmod 600 ${path}`;
}

/** The key from a key file: one line NAME:SECRET, the file readable by its owner only. */
export async function readKeyFile(path: string): Promise<string> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (error) {
    throw new UsageError(
      "KEY_FILE_UNREADABLE",
      `cannot read the key file ${path}: ${(error as Error).message}`,
    );
  }
  if (!info.isFile() || info.size > MAX_KEY_FILE_BYTES) {
    throw new UsageError("KEY_FILE_UNREADABLE", `${path} is not a key file (one line, NAME:SECRET)`);
  }
  const problem = openModeProblem(path, info.mode);
  if (problem) throw new UsageError("KEY_FILE_MODE", problem);
  const key = (await readFile(path, "utf8")).trim();
  if (!key || key.includes("\n")) {
    throw new UsageError(
      "KEY_FILE_UNREADABLE",
      `${path} must hold one line, NAME:SECRET, as \`keys add\` printed it`,
    );
  }
  return key;
}
