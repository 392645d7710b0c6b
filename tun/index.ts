// The TUN layer's front door: the interface, the one place that picks a platform, and the fake.

import type { TunDevice, TunOptions } from "./device.js";
import { TunError } from "./errors.js";

export {
  DEFAULT_TUN_NAME,
  emptyTunStats,
  MAX_HELD_BYTES,
  type TunDevice,
  type TunOptions,
  type TunStats,
} from "./device.js";
export { TunError, type TunErrorCode, TunErrorCodes } from "./errors.js";
export { createFakeTun, type FakeTun } from "./fake.js";

/** Opens a TUN interface on this platform. Throws TunError (UNSUPPORTED_PLATFORM off Linux). */
export async function openTun(options: TunOptions = {}): Promise<TunDevice> {
  switch (process.platform) {
    case "linux": {
      // Loaded here so that merely importing the TUN layer never loads the FFI.
      const { openLinuxTun } = await import("./linux.js");
      return openLinuxTun(options);
    }
    default:
      throw new TunError(
        "UNSUPPORTED_PLATFORM",
        `no TUN implementation for ${process.platform}; Tether runs on Linux`,
      );
  }
}
