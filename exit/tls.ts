// The exit's TLS certificate, read from files and swapped in place on SIGHUP (a renewed Let's
// Encrypt certificate needs no restart, and no session drops: only new TLS connections see it).
// A pair that does not load (a half-written file, a key for another certificate) is refused and the
// running one kept.
import { readFile } from "node:fs/promises";
import type { Server as HttpsServer } from "node:https";
import { createSecureContext } from "node:tls";

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface TlsPair {
  cert: string;
  key: string;
}

export type TlsErrorCode =
  /** The certificate or key file cannot be read. */
  | "TLS_UNREADABLE"
  /** They read but do not load together (not PEM, a key for another certificate). */
  | "TLS_MISMATCH";

export class TlsError extends Error {
  override name = "TlsError";
  constructor(
    readonly code: TlsErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Reads and checks a certificate and its key (PEM): they must load together. */
export async function readTls(files: TlsFiles): Promise<TlsPair> {
  let pair: TlsPair;
  try {
    pair = { cert: await readFile(files.certFile, "utf8"), key: await readFile(files.keyFile, "utf8") };
  } catch (error) {
    throw new TlsError(
      "TLS_UNREADABLE",
      `cannot read the TLS certificate or key: ${(error as Error).message}`,
    );
  }
  try {
    createSecureContext(pair);
  } catch (error) {
    throw new TlsError(
      "TLS_MISMATCH",
      `${files.certFile} and ${files.keyFile} do not make a TLS certificate and its key: ${(error as Error).message}`,
    );
  }
  return pair;
}

/** Swaps the certificate of a running https server; connections already open keep theirs. */
export function applyTls(server: HttpsServer, pair: TlsPair): void {
  server.setSecureContext(pair);
}
