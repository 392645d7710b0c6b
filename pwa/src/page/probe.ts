// The clues diagnose() weighs, gathered in the page: can the laptop's https page be fetched, and
// what Chrome says about the local-network permission.
import type { PermissionGuess, ProbeOutcome } from "../shared/diagnose.js";

/** No answer by then: the address is wrong or the laptop is on another network, ms. */
export const PROBE_TIMEOUT_MS = 4_000;

/**
 * A no-cors GET of the laptop's page: it resolves (with an opaque response) only if the laptop
 * answered over TLS with a certificate this browser trusts.
 */
export async function probeLaptop(pageUrl: string): Promise<ProbeOutcome> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), PROBE_TIMEOUT_MS);
  try {
    await fetch(pageUrl, {
      mode: "no-cors",
      cache: "no-store",
      credentials: "omit",
      signal: controller.signal,
    });
    return "answered";
  } catch {
    return controller.signal.aborted ? "timeout" : "failed";
  } finally {
    clearTimeout(timer);
  }
}

/** Chrome's permission for reaching the local network, where the browser knows the name. */
export async function localNetworkPermission(): Promise<PermissionGuess> {
  for (const name of ["local-network-access", "local-network"]) {
    try {
      const status = await navigator.permissions.query({ name: name as PermissionName });
      return status.state;
    } catch {
      // not a permission this browser knows
    }
  }
  return "unknown";
}
