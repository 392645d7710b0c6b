// The pairing the laptop printed, carried in the URL fragment: the format and its reader live in
// protocol/pairing-link.ts (beside the laptop's writer), the paths in protocol/paths.ts.
export {
  type Pairing,
  PairingError,
  type PairingErrorCode,
  parsePairing,
  parsePairingLink,
} from "../../../protocol/pairing-link.js";
export { laptopPageUrl, PROFILE_PATH } from "../../../protocol/paths.js";
