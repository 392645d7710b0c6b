// Client keys: one per laptop, named. The file is JSON, mode 0600, written atomically. The exit
// needs the key itself to check the HELLO's HMAC, so it is stored as is: guard the file.
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { isValidClientId, parseClientKey } from "../protocol/client-key.js";

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

/** What a KeyStore says when the keys file cannot be used as it is now. */
export interface KeyStoreEvents {
  /** The file (or one entry) is unreadable, not JSON, or malformed: the last good keys stay. */
  refused(error: KeysError): void;
}

/**
 * The keys a handshake is checked against, read per handshake (so a new key works at once), that
 * never rejects: a file being edited by hand (half-written JSON), one that is gone unreadable, or
 * an entry whose key is malformed is refused and reported, and the last good secret of each name is
 * kept until the file reads well again. A name that never had a good key has none.
 */
export class KeyStore {
  private lastGood = new Map<string, Uint8Array>();

  constructor(
    private readonly path: string,
    private readonly events: KeyStoreEvents,
  ) {}

  /** The secret of `clientId`, or undefined when it has none. Never rejects. */
  async secretFor(clientId: string): Promise<Uint8Array | undefined> {
    let keys: ClientKey[];
    try {
      keys = await loadKeys(this.path);
    } catch (error) {
      this.report(error);
      return this.lastGood.get(clientId);
    }
    const next = new Map<string, Uint8Array>();
    for (const entry of keys) {
      const secret = secretOf(entry);
      if (secret) next.set(entry.name, secret);
      else {
        const name = typeof entry?.name === "string" ? entry.name : "(no name)";
        this.report(
          new KeysError(`keys file ${this.path}: the key named ${JSON.stringify(name)} is malformed`),
        );
        const kept = typeof entry?.name === "string" ? this.lastGood.get(entry.name) : undefined;
        if (kept) next.set(entry.name, kept);
      }
    }
    this.lastGood = next;
    return next.get(clientId);
  }

  private report(error: unknown): void {
    try {
      this.events.refused(error instanceof KeysError ? error : new KeysError(String(error)));
    } catch {
      // a reporter that throws must not turn a refusal into a rejection
    }
  }
}

/** The entry's secret if it is a well-formed NAME:SECRET, else undefined. */
function secretOf(entry: ClientKey | undefined): Uint8Array | undefined {
  if (typeof entry?.name !== "string" || typeof entry.key !== "string") return undefined;
  try {
    return parseClientKey(`${entry.name}:${entry.key}`).secret;
  } catch {
    return undefined;
  }
}
