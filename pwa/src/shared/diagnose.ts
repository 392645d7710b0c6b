// Why the laptop leg does not open, and what to do. A browser says almost nothing about a failed
// WebSocket (close 1006, whatever the cause), so this weighs a few clues:
//   - a no-cors fetch of the laptop's https page: it answers only if the address is right, tether
//     runs and this phone trusts the certificate; a fast failure is a refused connection or an
//     untrusted certificate; no answer at all is a wrong address or another network;
//   - Chrome's local-network-access permission, where the browser tells it;
//   - whether this pairing ever connected (the certificate was trusted then, and stays so);
//   - the close code, when the laptop got far enough to send one (PAIRING_FAILED: wrong secret or
//     origin), which settles it without guessing.
// It names the most likely cause; the steps also cover the next likeliest.

export type ProbeOutcome = "answered" | "failed" | "timeout";
export type PermissionGuess = "granted" | "denied" | "prompt" | "unknown";

export interface TrustClues {
  /** host:port of the laptop, for the sentences. */
  laptop: string;
  probe: ProbeOutcome;
  localNetwork: PermissionGuess;
  /** The laptop leg opened with this pairing before. */
  connectedBefore: boolean;
  /** navigator.onLine: false when the phone has no network at all. */
  online: boolean;
  /** iPhone or iPad: trust comes from a configuration profile, not a warning page. */
  ios: boolean;
  /** The laptop closed the leg with PAIRING_FAILED: it answered, and refused this pairing. */
  pairingRefused?: boolean;
}

export type Cause =
  | "offline"
  | "local-network-denied"
  | "certificate"
  | "not-running"
  | "unreachable"
  | "refused";

export interface Diagnosis {
  cause: Cause;
  /** One sentence: the likely cause. */
  title: string;
  /** What to do, in order. */
  steps: string[];
  /** Offer the button that opens the laptop's page (to trust its certificate). */
  trustButton: boolean;
  /** Offer the iOS configuration profile. */
  profileButton: boolean;
}

const LOCAL_NETWORK_STEP =
  "If Chrome asks whether this site may find and connect to devices on your local network, allow it.";

function trustSteps(clues: TrustClues): string[] {
  if (clues.ios) {
    return [
      "Tap “Get the certificate profile” and allow the download.",
      "Open Settings › General › VPN & Device Management, tap “Tether laptop” and install it.",
      "Open Settings › General › About › Certificate Trust Settings and turn on “Tether laptop”.",
      "Come back here: Tether connects by itself.",
    ];
  }
  return [
    `Tap “Open the laptop’s page”. Chrome warns that the connection is not private: tap Advanced, then “Proceed to ${clues.laptop.split(":")[0]}”.`,
    "The page says “Certificate trusted”: come back here, Tether connects by itself.",
  ];
}

export function diagnose(clues: TrustClues): Diagnosis {
  const answer = (
    cause: Cause,
    title: string,
    steps: string[],
    buttons: { trust?: boolean; profile?: boolean } = {},
  ): Diagnosis => ({
    cause,
    title,
    steps,
    trustButton: buttons.trust ?? false,
    profileButton: (buttons.profile ?? false) && clues.ios,
  });

  if (!clues.online && clues.probe !== "answered") {
    return answer("offline", "This phone has no network connection.", [
      "Turn on the phone's Wi-Fi hotspot (or USB tethering) and join it from the laptop.",
      "Tether connects by itself once the laptop is reachable.",
    ]);
  }
  if (clues.pairingRefused) {
    return answer(
      "refused",
      `The laptop at ${clues.laptop} refused this phone's pairing: the link is out of date.`,
      [
        "Open the link tether prints now on the laptop, or scan its QR code again (its pairing secret changed, or the app is served from another exit).",
      ],
    );
  }
  if (clues.localNetwork === "denied") {
    return answer("local-network-denied", "This app is not allowed to reach devices on your local network.", [
      "Tap the icon left of the address bar (or open Chrome › Settings › Site settings), find “Local network access” and allow it for this site.",
      "Come back here: Tether connects by itself.",
    ]);
  }
  if (clues.probe === "answered") {
    return answer("refused", `The laptop answers at ${clues.laptop}, but refused this phone's relay.`, [
      "The pairing is probably out of date (tether's settings were reset, or it listens elsewhere): open the link tether prints now, or scan its QR code again.",
      LOCAL_NETWORK_STEP,
    ]);
  }
  if (clues.probe === "timeout") {
    return answer(
      "unreachable",
      `No answer from ${clues.laptop}: the laptop is not on this phone's network, or its address changed.`,
      [
        ...(clues.localNetwork === "prompt" ? [LOCAL_NETWORK_STEP] : []),
        "Join the phone's hotspot (or plug in USB tethering) on the laptop.",
        "If the laptop's address changed, open the link tether prints now.",
      ],
    );
  }
  if (clues.connectedBefore) {
    return answer(
      "not-running",
      `The laptop refuses connections at ${clues.laptop}: tether is probably not running.`,
      [
        "Start tether on the laptop again (sudo npx tether …); this page reconnects by itself.",
        "If it is running, open the link it prints now: its address or port may have changed.",
        "If tether's settings were reset, its certificate is new: trust it again with the button below.",
      ],
      { trust: true, profile: true },
    );
  }
  return answer(
    "certificate",
    "This phone does not trust the laptop's certificate yet.",
    [
      ...trustSteps(clues),
      ...(clues.localNetwork === "prompt" ? [LOCAL_NETWORK_STEP] : []),
      `If the laptop's page does not open at all, tether is not running on ${clues.laptop} or the address is wrong: open the link it prints now.`,
    ],
    { trust: true, profile: true },
  );
}

/** iPhone, iPad (which calls itself a Mac but has a touch screen) or iPod. */
export function isIos(userAgent: string, maxTouchPoints: number): boolean {
  return /iPhone|iPad|iPod/.test(userAgent) || (/Macintosh/.test(userAgent) && maxTouchPoints > 1);
}
