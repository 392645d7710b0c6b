// One raw request over TLS, for the clients e2e runs inside namespaces (hostile-client.ts,
// reverse-proxy-client.ts): bytes no HTTP library would send, and the first line of the answer.
import { connect as tlsConnect } from "node:tls";

/** Writes `request` as is over TLS to `url`'s host and port (from `bind`), and resolves with the answer's first line ("" if none within `timeoutMs`). */
export function firstAnswerLine(
  url: string,
  bind: string | undefined,
  request: string,
  timeoutMs: number,
): Promise<string> {
  const { hostname: host, port } = new URL(url.replace(/^wss:/, "https:"));
  return new Promise((resolve) => {
    let answer = "";
    const socket = tlsConnect(
      { host, port: Number(port), rejectUnauthorized: false, ...(bind ? { localAddress: bind } : {}) },
      () => socket.write(request),
    );
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on("data", (chunk: Buffer) => {
      answer += chunk.toString("latin1");
      if (answer.includes("\r\n")) socket.destroy();
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(answer.split("\r\n")[0] ?? "");
    });
  });
}
