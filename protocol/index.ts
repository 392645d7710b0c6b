// The protocol's public API: limits, frame values, errors, and both encodings (binary and text).
export * from "./codec.js";
export * from "./errors.js";
export * from "./frames.js";
export * from "./limits.js";
export * from "./text.js";
