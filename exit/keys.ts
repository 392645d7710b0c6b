// Client keys: one per laptop, named. The file is JSON, mode 0600, written atomically. The exit
// needs the key itself to check the HELLO's HMAC, so it is stored as is: guard the file.
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { isValidClientId } from "../protocol/client-key.js";

/** Key length, bytes: 256 bits, as HMAC-SHA256 wants. */
const KEY_BYTES = 32;

export class KeysError extends Error {
  override name = "KeysError";
}

export interface ClientKey {
  name: string;
  /** base64url of KEY_BYTES random bytes. */
  key: string;
  created: string;
}

interface KeysFile {
  version: 1;
  keys: ClientKey[];
}

export async function loadKeys(path: string): Promise<ClientKey[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new KeysError(`cannot read keys file ${path}: ${(error as Error).message}`);
  }
  let parsed: KeysFile;
  try {
    parsed = JSON.parse(text) as KeysFile;
  } catch {
    throw new KeysError(`keys file ${path} is not valid JSON`);
  }
  if (parsed?.version !== 1 || !Array.isArray(parsed.keys)) {
    throw new KeysError(`keys file ${path} is not a Tether keys file (version 1)`);
  }
  return parsed.keys;
}

/**
 * Refuses a keys file others may read or write (any group or world bit), as ssh refuses such a
 * private key: the keys in it are the exit's secrets. A missing file is fine (no keys yet).
 */
export async function checkKeysFileMode(path: string): Promise<void> {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined;
    throw new KeysError(`cannot read keys file ${path}: ${error.message}`);
  });
  if (info && (info.mode & 0o077) !== 0) {
    const mode = (info.mode & 0o777).toString(8).padStart(4, "0");
    throw new KeysError(
      `keys file ${path} is open to other users (mode ${mode}); it holds secrets: run \`chmod 600 ${path}\``,
    );
  }
}

async function saveKeys(path: string, keys: ClientKey[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  const file: KeysFile = { version: 1, keys };
  await writeFile(temporary, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, path);
}

/** Adds a key named `name` and returns it; the caller shows it once. */
export async function addKey(path: string, name: string): Promise<ClientKey> {
  if (!isValidClientId(name)) {
    throw new KeysError(`key name must be 1-64 letters, digits, '.', '_' or '-': ${JSON.stringify(name)}`);
  }
  const keys = await loadKeys(path);
  if (keys.some((existing) => existing.name === name)) {
    throw new KeysError(`a key named ${name} exists already (revoke it first)`);
  }
  const entry: ClientKey = {
    name,
    key: randomBytes(KEY_BYTES).toString("base64url"),
    created: new Date().toISOString(),
  };
  await saveKeys(path, [...keys, entry]);
  return entry;
}

export async function revokeKey(path: string, name: string): Promise<boolean> {
  const keys = await loadKeys(path);
  const kept = keys.filter((entry) => entry.name !== name);
  if (kept.length === keys.length) return false;
  await saveKeys(path, kept);
  return true;
}
