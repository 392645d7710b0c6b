// What the process-level handlers print when they fire: every request, connection and frame has a
// boundary of its own that answers and counts what it refused, so reaching these is a real bug,
// and the stack is what a report needs.

/** The stack of an uncaught error or an unhandled rejection's reason (any value), in one string. */
export function crashReport(reason: unknown): string {
  if (reason instanceof Error) return reason.stack ?? `${reason.name}: ${reason.message}`;
  try {
    return typeof reason === "string" ? reason : (JSON.stringify(reason) ?? String(reason));
  } catch {
    return String(reason); // a cycle, or a BigInt
  }
}
