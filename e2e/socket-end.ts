// How a test client's WebSocket ended, for the clients e2e runs inside namespaces
// (hostile-client.ts, reverse-proxy-client.ts): the HTTP status an upgrade was refused with, or the
// close code, or why it failed; bounded, the socket terminated when the time is up.
import type { WebSocket } from "ws";

export interface SocketEnd {
  /** The close code of the WebSocket. */
  close?: number;
  /** The HTTP status of a refused upgrade. */
  status?: number;
  error?: string;
}

/** Resolves with `outcome`, filled in, once `socket` has closed (or after `timeoutMs`, terminated). */
export function socketEnd<T extends SocketEnd>(socket: WebSocket, outcome: T, timeoutMs: number): Promise<T> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      outcome.error = "timeout";
      socket.terminate();
    }, timeoutMs);
    socket.once("unexpected-response", (_request, response) => {
      outcome.status = response.statusCode;
      socket.terminate();
    });
    socket.on("error", (error) => {
      outcome.error ??= error.message;
    });
    socket.once("close", (code) => {
      clearTimeout(timer);
      if (outcome.status === undefined) outcome.close = code;
      resolve(outcome);
    });
  });
}
