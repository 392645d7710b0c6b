// Shared by the tests: wait for a condition instead of sleeping.

/** Polls `probe` every 10 ms until it gives a value (not undefined or false), or fails after `timeoutMs`. */
export async function until<T>(
  probe: () => T | false | undefined | Promise<T | false | undefined>,
  what: string,
  timeoutMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
