// Serves the built phone app. The PWA's origin is the exit's, which is what lets it open wss:// to
// the exit and be installed. Hashed assets are cached for good; the shell and service worker never.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join, normalize, sep } from "node:path";

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".webmanifest": "application/manifest+json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
};

export function createStaticHandler(root: string) {
  const base = normalize(root + sep);
  /** Serves `target` (the request's path, parsed by protocol/request-target.ts); false if no such file. */
  return async (request: IncomingMessage, response: ServerResponse, target: string): Promise<boolean> => {
    if (request.method !== "GET" && request.method !== "HEAD") return false;
    let pathname: string;
    try {
      pathname = decodeURIComponent(target);
    } catch {
      return false; // "%zz": names no file
    }
    let file = normalize(join(base, pathname));
    if (!file.startsWith(base)) return false;
    let info = await stat(file).catch(() => undefined);
    if (info?.isDirectory()) {
      file = join(file, "index.html");
      info = await stat(file).catch(() => undefined);
    }
    if (!info?.isFile()) return false;
    const immutable = pathname.startsWith("/assets/");
    response.writeHead(200, {
      "content-type": CONTENT_TYPES[extname(file)] ?? "application/octet-stream",
      "content-length": info.size,
      "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache",
      "x-content-type-options": "nosniff",
      // The app's index.html carries the rest of its policy as a meta tag, which cannot say this.
      "content-security-policy": "frame-ancestors 'none'",
      "x-frame-options": "DENY",
    });
    if (request.method === "HEAD") response.end();
    else createReadStream(file).pipe(response);
    return true;
  };
}
