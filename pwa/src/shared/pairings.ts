// The laptops this phone has been paired with, one of them chosen. Several are remembered (a work
// and a home laptop, or one laptop on two networks); the chosen one is what a reload or a launch
// from the home screen dials without asking. Pure list logic: storage keeps the records.
import type { Pairing } from "./pairing.js";

/** Pairings remembered; past this the one used least recently is forgotten. */
export const MAX_PAIRINGS = 16;

export interface StoredPairing extends Pairing {
  /** The laptop and exit together: pairing the same laptop again updates its record. */
  id: string;
  /** The exit's tunnel URL (the app's own origin: each exit serves its own app). */
  exitUrl: string;
  addedAt: number;
  lastUsedAt: number;
  /** When the laptop leg last opened: once it has, this phone trusts the laptop's certificate. */
  connectedAt: number | undefined;
}

export function pairingId(laptopUrl: string, exitUrl: string): string {
  return `${laptopUrl} via ${exitUrl}`;
}

/** A short name for a person: the laptop's address and, when it is not this app's, the exit's. */
export function pairingLabel(
  pairing: Pick<StoredPairing, "laptopUrl" | "exitUrl">,
  appHost?: string,
): string {
  const laptop = hostOf(pairing.laptopUrl);
  const exit = hostOf(pairing.exitUrl);
  return !appHost || exit !== appHost ? `Laptop ${laptop} via ${exit}` : `Laptop ${laptop}`;
}

/**
 * The list with `pairing` remembered and most recent: a new record, or the old one updated (a new
 * secret or certificate after the laptop reset its config) keeping when it was added.
 */
export function rememberPairing(
  list: readonly StoredPairing[],
  pairing: Pairing,
  exitUrl: string,
  now: number,
): { list: StoredPairing[]; stored: StoredPairing; forgotten: StoredPairing[] } {
  const id = pairingId(pairing.laptopUrl, exitUrl);
  const old = list.find((p) => p.id === id);
  const sameCertificate = old !== undefined && old.fingerprint === pairing.fingerprint;
  const stored: StoredPairing = {
    ...pairing,
    id,
    exitUrl,
    addedAt: old?.addedAt ?? now,
    lastUsedAt: now,
    // A new certificate has to be trusted again.
    connectedAt: sameCertificate ? old.connectedAt : undefined,
  };
  const others = byRecency(list.filter((p) => p.id !== id));
  const kept = others.slice(0, MAX_PAIRINGS - 1);
  return { list: [stored, ...kept], stored, forgotten: others.slice(MAX_PAIRINGS - 1) };
}

/** The pairing to dial: the chosen one if it is still there, else the one used last. */
export function chosenPairing(
  list: readonly StoredPairing[],
  chosenId: string | undefined,
): StoredPairing | undefined {
  return list.find((p) => p.id === chosenId) ?? byRecency(list)[0];
}

/** Most recently used first. */
export function byRecency(list: readonly StoredPairing[]): StoredPairing[] {
  return [...list].sort((a, b) => b.lastUsedAt - a.lastUsedAt);
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
