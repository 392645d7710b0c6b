// A `ws` WebSocket as a Transport (protocol/transport.ts): the only place the tunnel ends touch
// `ws`. Node-only. Text messages become strings, binary ones the Buffer ws hands over (a
// Uint8Array; not copied). ws's own refusals (a message past maxPayload, broken framing, a socket
// error) surface as the close's `error`, never as a throw or an unhandled 'error' event.
import type { RawData, WebSocket } from "ws";
import { CLOSE_ABNORMAL, type Message, type Transport, type TransportClose } from "../protocol/transport.js";

export function wsTransport(socket: WebSocket): Transport {
  let error: Error | undefined;
  // Registered at once: ws emits 'error' before 'close', and an 'error' nobody listens to would
  // throw out of the socket's event handler and stop the process.
  socket.on("error", (cause) => {
    error ??= cause;
  });
  return {
    get bufferedAmount() {
      return socket.bufferedAmount;
    },
    get open() {
      return socket.readyState === socket.OPEN;
    },
    send(message: Message, onSent?: (error?: Error) => void): void {
      socket.send(message, onSent ? (cause) => onSent(cause ?? undefined) : undefined);
    },
    close(code: number, reason: string): void {
      try {
        socket.close(code, reason);
      } catch {
        socket.terminate(); // a code or reason ws will not put on the wire: no handshake then
      }
    },
    terminate(): void {
      socket.terminate();
    },
    onMessage(receive: (message: Message) => void): void {
      socket.on("message", (data: RawData, isBinary: boolean) =>
        receive(isBinary ? (data as Buffer) : data.toString()),
      );
    },
    onClose(closed: (close: TransportClose) => void): void {
      socket.on("close", (code: number, reason: Buffer) =>
        closed({ code: code || CLOSE_ABNORMAL, reason: reason.toString(), error }),
      );
    },
  };
}
