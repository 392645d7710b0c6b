// /metrics on a listener of its own (--metrics-listen, 127.0.0.1:9464 by default; `off`), never on
// the public port: session counts and traffic volumes are the operator's business, and behind a
// reverse proxy every request to the public port comes from the proxy's (local) address, so a
// check of the peer there would let the whole internet in. It answers only GET /metrics, and
// still only to this machine and private networks (exit/http-guard.ts, --metrics-allow for more),
// in case it is told to listen on a public address.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { parseRequestTarget } from "../protocol/request-target.js";
import type { Cidr } from "./egress-guard.js";
import { metricsAllowed, SERVER_TIMEOUTS } from "./http-guard.js";
import type { Logger } from "./log.js";
import type { ExitMetrics } from "./metrics.js";

/** Connections the metrics listener holds at once: a Prometheus or two, and a curl. */
export const METRICS_MAX_CONNECTIONS = 16;

/** Where /metrics is served by default: this machine only. 9464 is Prometheus's exporter port for it. */
export const METRICS_LISTEN_DEFAULT = { host: "127.0.0.1", port: 9464 } as const;

export interface MetricsServerOptions {
  host: string;
  port: number;
  metrics: ExitMetrics;
  /** Who may read /metrics besides this machine and private networks. */
  allow: readonly Cidr[] | "any";
  ownAddresses: () => readonly string[];
  log: Logger;
}

export interface MetricsServer {
  /** The bound port (useful with port 0). */
  port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { metrics, allow, ownAddresses, log } = options;
  const server: Server = createServer(SERVER_TIMEOUTS, (request, response) => {
    const target = parseRequestTarget(request.url);
    if (target?.pathname !== "/metrics" || (request.method !== "GET" && request.method !== "HEAD")) {
      response.writeHead(404, { "content-type": "text/plain" }).end("only GET /metrics here\n");
      return;
    }
    if (!metricsAllowed(request.socket.remoteAddress, allow, ownAddresses)) {
      response
        .writeHead(403, { "content-type": "text/plain" })
        .end("metrics are for this machine's network\n");
      return;
    }
    metrics.registry.metrics().then(
      (text) => response.writeHead(200, { "content-type": metrics.registry.contentType }).end(text),
      (error) => {
        log.error({ err: String(error) }, "metrics failed");
        response.writeHead(500).end();
      },
    );
  });
  server.maxConnections = METRICS_MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (error) => log.error({ err: String(error) }, "metrics listener failed"));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
