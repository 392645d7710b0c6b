// Files the laptop writes and reads as root in its config folder, which belongs to (and may be
// changed by) the user who ran `sudo tether`. A symlink planted there must not make root write
// through it (`laptop-key.pem -> /etc/shadow` overwritten) or read through it (a file served to the
// LAN that is really root's). So writes go to a new file created beside the target (O_EXCL |
// O_NOFOLLOW: never an existing file or a link) and renamed over it (rename replaces a link, it
// does not follow it), and reads open with O_NOFOLLOW. Also a reader never sees half a file.
import { randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  fchmodSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { open, rename, rm } from "node:fs/promises";

const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const READ_NO_FOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW;

export class SafeWriteError extends Error {
  override name = "SafeWriteError";
  constructor(
    readonly code: "SAFE_WRITE_SYMLINK" | "SAFE_WRITE_FAILED",
    message: string,
  ) {
    super(message);
  }
}

function asideOf(path: string): string {
  return `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
}

function failure(path: string, error: unknown): SafeWriteError {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "ELOOP"
    ? new SafeWriteError("SAFE_WRITE_SYMLINK", `${path} is a symbolic link: not followed`)
    : new SafeWriteError("SAFE_WRITE_FAILED", `cannot write ${path}: ${(error as Error).message}`);
}

/** Writes `data` to `path` with `mode`, replacing (never following) whatever is there. */
export async function writeFileSafely(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const aside = asideOf(path);
  try {
    const handle = await open(aside, CREATE_NEW, mode);
    try {
      await handle.writeFile(data);
      await handle.chmod(mode); // the umask may have taken bits off
    } finally {
      await handle.close();
    }
    await rename(aside, path);
  } catch (error) {
    await rm(aside, { force: true }).catch(() => undefined);
    throw failure(path, error);
  }
}

/** writeFileSafely, synchronously (for exit handlers and the few synchronous writers). */
export function writeFileSafelySync(path: string, data: string | Uint8Array, mode: number): void {
  const aside = asideOf(path);
  try {
    const fd = openSync(aside, CREATE_NEW, mode);
    try {
      const bytes = typeof data === "string" ? Buffer.from(data) : data;
      let written = 0;
      while (written < bytes.length) written += writeSync(fd, bytes, written);
      fchmodSync(fd, mode);
    } finally {
      closeSync(fd);
    }
    renameSync(aside, path);
  } catch (error) {
    rmSync(aside, { force: true });
    throw failure(path, error);
  }
}

/** The file's text, or undefined if there is none; a symlink is refused (SafeWriteError), not followed. */
export async function readFileNoFollow(path: string): Promise<string | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, READ_NO_FOLLOW);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw failure(path, error);
  }
  try {
    return await handle.readFile("utf8");
  } finally {
    await handle.close();
  }
}

/** readFileNoFollow, synchronously, as bytes. */
export function readFileNoFollowSync(path: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, READ_NO_FOLLOW);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw failure(path, error);
  }
  try {
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}
