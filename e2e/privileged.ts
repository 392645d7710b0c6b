// Tests that need root (network namespaces, TUN devices, nftables) skip with a name that says so
// on a machine where they cannot run, and never pass silently: with TETHER_REQUIRE_PRIVILEGED=1
// (set by CI) they run regardless, and fail if the machine cannot do what they need.
export const isRoot = process.getuid?.() === 0;
export const mustRunPrivileged = process.env.TETHER_REQUIRE_PRIVILEGED === "1";
export const canRunPrivileged = isRoot || mustRunPrivileged;
