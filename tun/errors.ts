// Every way opening a TUN device can fail: a stable code and the sentence a human needs to fix it.
// Callers branch on the code; the message adds the details (name, errno).

export const TunErrorCodes = {
  NO_DEVICE:
    "/dev/net/tun is missing: load the tun module (modprobe tun) or, in a container, pass the device in",
  PERMISSION: "creating a TUN interface needs root or CAP_NET_ADMIN",
  BUSY: "the interface name is already in use",
  BAD_NAME: "the interface name is not valid (1 to 15 bytes, no '/', ':' or whitespace)",
  UNSUPPORTED_PLATFORM: "TUN devices are not supported on this platform",
  OTHER: "the TUN device could not be opened",
} as const;

export type TunErrorCode = keyof typeof TunErrorCodes;

/** The one error type the TUN layer throws: a stable code, never a raw FFI or system exception. */
export class TunError extends Error {
  readonly code: TunErrorCode;

  constructor(code: TunErrorCode, detail?: string, options?: { cause?: unknown }) {
    const message = TunErrorCodes[code];
    super(detail ? `${message} (${detail})` : message, options);
    this.name = "TunError";
    this.code = code;
  }
}
