// The path and query of an HTTP request target, for the servers' routing. A target is whatever a
// client typed after the method: `new URL(target, base)` throws on some ("//", "http://[") and
// reads others as another host ("//evil/x"), so a target is taken only in origin form (starting
// with "/"), read as a path on a fixed host, and anything else is no target at all (answer 400).

export interface RequestTarget {
  pathname: string;
  searchParams: URLSearchParams;
}

/** The target's path and query, or undefined when it is not an origin-form target (the caller answers 400). */
export function parseRequestTarget(target: string | undefined): RequestTarget | undefined {
  if (target === undefined || !target.startsWith("/")) return undefined;
  try {
    const url = new URL(`http://target.invalid${target}`);
    if (url.host !== "target.invalid") return undefined;
    return { pathname: url.pathname, searchParams: url.searchParams };
  } catch {
    return undefined;
  }
}
