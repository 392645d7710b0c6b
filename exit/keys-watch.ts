// Revocation of live sessions: the exit polls the keys file's metadata (bounded: one stat per
// interval, whatever happens to the file) and, when it changes, tells which client names lost
// their key or had it replaced. New handshakes need no watching: keys are read per handshake.
import { type Stats, unwatchFile, watchFile } from "node:fs";
import { type ClientKey, loadKeys } from "./keys.js";

/** How often the keys file's metadata is looked at, ms: revocation reaches live sessions this soon. */
export const KEYS_POLL_INTERVAL_MS = 1_000;

export interface KeysWatch {
  close(): void;
}

function snapshot(keys: readonly ClientKey[]): Map<string, string> {
  return new Map(keys.map((key) => [key.name, key.key]));
}

/** Names whose key is in `before` but not, or not the same, in `after`. */
export function revokedNames(
  before: ReadonlyMap<string, string>,
  after: ReadonlyMap<string, string>,
): string[] {
  return [...before].filter(([name, key]) => after.get(name) !== key).map(([name]) => name);
}

export async function watchKeys(
  path: string,
  events: { revoked(names: string[]): void; error(error: Error): void },
  intervalMs = KEYS_POLL_INTERVAL_MS,
): Promise<KeysWatch> {
  let known = snapshot(await loadKeys(path));
  let reading = Promise.resolve();
  const changed = (current: Stats, previous: Stats) => {
    if (
      current.mtimeMs === previous.mtimeMs &&
      current.ino === previous.ino &&
      current.size === previous.size
    )
      return;
    reading = reading.then(async () => {
      try {
        const next = snapshot(await loadKeys(path));
        const revoked = revokedNames(known, next);
        known = next;
        if (revoked.length) events.revoked(revoked);
      } catch (error) {
        // A file being edited by hand may be briefly invalid: keep the last good view, say so.
        events.error(error as Error);
      }
    });
  };
  watchFile(path, { interval: intervalMs, persistent: false }, changed);
  return { close: () => unwatchFile(path, changed) };
}
