// TCP_NOTSENT_LOWAT on the tunnel's own sockets (the laptop's and the exit's ends of the relay):
// the kernel then keeps only a little unsent data per socket, so a backlog waits in user space,
// where the send queue's CoDel sees it and drops instead of letting seconds of data sit in a
// kernel buffer. Linux only (the same koffi libc binding the TUN uses); elsewhere it is a no-op.
import type { Socket } from "node:net";

/** Unsent bytes the kernel may hold per tunnel socket: a few ms at the rates a phone relays. */
export const NOTSENT_LOWAT_BYTES = 128 * 1024;
const IPPROTO_TCP = 6;
const TCP_NOTSENT_LOWAT = 25;

/** The socket's file descriptor, where Node exposes one (TCP and TLS sockets on Unix). */
function fdOf(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === "number" && fd >= 0 ? fd : undefined;
}

/** Limits the socket's unsent kernel backlog; returns whether it could. Never throws. */
export async function limitUnsent(socket: Socket, bytes = NOTSENT_LOWAT_BYTES): Promise<boolean> {
  if (process.platform !== "linux") return false;
  const fd = fdOf(socket);
  if (fd === undefined) return false;
  try {
    const { libc } = await import("./linux-libc.js");
    return libc().setsockoptInt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, bytes) === 0;
  } catch {
    return false;
  }
}
