// Waiting for a page's state while the page runs under the app's own Content-Security-Policy.
// Playwright's waitForFunction compiles its predicate with `new Function` inside the page, which
// the policy (script-src 'self', no 'unsafe-eval') refuses, so it would never see the state.
// page.evaluate goes through the DevTools protocol, which the page's policy does not govern: the
// tests poll with it instead, and no phone browser needs `bypassCSP`.
import type { Page } from "playwright-core";
import { e2eError } from "./errors.js";

/** How often the page is asked: often enough for UI timings, rarely enough to stay out of the way. */
const POLL_MS = 100;

/** A navigation in progress destroys the context being asked: ask again, as waitForFunction would. */
const NAVIGATING = /Execution context was destroyed|Cannot find context|navigat/i;

/**
 * Resolves once `expression` (JavaScript, evaluated in the page; a promise is awaited) is truthy;
 * fails with E2E_PAGE_TIMEOUT, naming `what`, after `timeoutMs`. Survives the page navigating.
 */
export async function waitForPage(
  page: Page,
  expression: string,
  what: string,
  timeoutMs: number,
  pollMs = POLL_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await page.evaluate(expression)) return;
    } catch (error) {
      if (!NAVIGATING.test((error as Error).message)) throw error;
    }
    if (Date.now() > deadline) throw e2eError("E2E_PAGE_TIMEOUT", `${what}: not reached in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** Resolves once the app says it relays (the body's data-relaying), as every phone test waits. */
export function waitForRelaying(page: Page, timeoutMs: number): Promise<void> {
  return waitForPage(page, 'document.body.dataset.relaying === "true"', "the page to relay", timeoutMs);
}
