// The frames of protocol v1, as values. The byte layout of each is in codec.ts beside its encoder.

export const FrameType = {
  CHALLENGE: 1,
  HELLO: 2,
  WELCOME: 3,
  DATA: 4,
  PING: 5,
  PONG: 6,
  CLOSE: 7,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/**
 * Bits of the header's flags byte (protocol v2, docs/PROTOCOL.md): SEALED marks an end-to-end
 * frame sealed by tunnel/seal.ts (what the phone may not read), KEY_PHASE flips at each rekey.
 */
export const HeaderFlag = {
  SEALED: 0x80,
  KEY_PHASE: 0x01,
} as const;

/** Who answers a PING: the laptop answers LAPTOP_LEG, the exit EXIT_LEG, the far end END_TO_END; the phone answers none. */
export const Hop = {
  /** laptop <-> exit, through the phone: answered by the other end. */
  END_TO_END: 0,
  /** phone <-> laptop: answered by the laptop. */
  LAPTOP_LEG: 1,
  /** phone <-> exit: answered by the exit. */
  EXIT_LEG: 2,
} as const;
export type Hop = (typeof Hop)[keyof typeof Hop];

/** Capability bits a laptop announces in HELLO; unknown bits are ignored. */
export const Capability = {
  /** The laptop reads WELCOME's IPv6 block: only then does an exit append one. */
  IPV6: 0x01,
  /**
   * The laptop sends and takes super-packets in DATA slots (protocol/super-packet.ts); the exit
   * says in WELCOME (`superPackets`) whether it does too. Neither sends one unless both said so.
   */
  SUPER_PACKETS: 0x02,
} as const;

export interface ChallengeFrame {
  type: typeof FrameType.CHALLENGE;
  versionMin: number;
  versionMax: number;
  nonce: Uint8Array;
}

export interface HelloFrame {
  type: typeof FrameType.HELLO;
  versionMin: number;
  versionMax: number;
  capabilities: number;
  clientId: string;
  /** HMAC-SHA256(client key, authMessage(nonce, clientId)). */
  mac: Uint8Array;
  /** Present when the laptop asks to resume a detached session. */
  resumeToken?: Uint8Array | undefined;
}

export interface WelcomeFrame {
  type: typeof FrameType.WELCOME;
  version: number;
  sessionId: Uint8Array;
  resumeToken: Uint8Array;
  /** Dotted IPv4 address assigned to the laptop. */
  address: string;
  prefixLength: number;
  mtu: number;
  /** Dotted IPv4 addresses. */
  dns: string[];
  /** Reserved: sent, and ignored by the laptop (the heartbeat follows protocol/heartbeat.ts). */
  keepaliveSeconds: number;
  /** True when this WELCOME resumed an existing session (same address, same flows). */
  resumed: boolean;
  /** The session's IPv6 side; absent: this exit offers no IPv6 (or the laptop did not ask). */
  ipv6?: WelcomeIpv6 | undefined;
  /**
   * The exit sends and takes super-packets on this leg (flags bit 2): only when the laptop's HELLO
   * had Capability.SUPER_PACKETS. Absent: ordinary packets only, both ways.
   */
  superPackets?: boolean | undefined;
}

export interface WelcomeIpv6 {
  /** The laptop's IPv6 address (RFC 5952 text). */
  address: string;
  prefixLength: number;
  /** IPv6 DNS servers (RFC 5952 text). */
  dns: string[];
}

export interface DataFrame {
  type: typeof FrameType.DATA;
  /** IP packets; decoded packets are views into the received message (no copy). */
  packets: Uint8Array[];
}

export interface PingFrame {
  type: typeof FrameType.PING;
  hop: Hop;
  id: number;
  /** Sender's clock in ms, echoed back untouched. */
  sentAt: number;
}

export interface PongFrame {
  type: typeof FrameType.PONG;
  hop: Hop;
  id: number;
  sentAt: number;
}

export interface CloseFrame {
  type: typeof FrameType.CLOSE;
  code: number;
  reason: string;
}

export type Frame =
  | ChallengeFrame
  | HelloFrame
  | WelcomeFrame
  | DataFrame
  | PingFrame
  | PongFrame
  | CloseFrame;
