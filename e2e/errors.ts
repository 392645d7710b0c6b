// Every failure of the e2e harness carries one of these stable codes, so tests can assert the code
// and a person reading a CI log can grep for it.

export type E2eErrorCode =
  /** The harness needs root (network namespaces, veths, /etc/netns). */
  | "E2E_NOT_ROOT"
  /** A setup command (ip, sysctl write) exited non-zero. */
  | "E2E_COMMAND_FAILED"
  /** A command outlived its time bound and was killed with its whole process group. */
  | "E2E_EXEC_TIMEOUT"
  /** exec/spawn was asked to run in a namespace this topology did not create. */
  | "E2E_FOREIGN_NAMESPACE"
  /** The topology was used after destroy(). */
  | "E2E_DESTROYED"
  /** A topology with the same names is already alive in this process. */
  | "E2E_TOPOLOGY_EXISTS"
  /** A bad argument (tag, port, byte count). */
  | "E2E_BAD_ARGUMENT"
  /** A service did not start listening in time, or died while starting. */
  | "E2E_NOT_READY"
  /** Tearing down left something behind; the message says what. */
  | "E2E_TEARDOWN_FAILED"
  /** A page never reached the state a test waited for. */
  | "E2E_PAGE_TIMEOUT";

export class E2eError extends Error {
  override readonly name = "E2eError";
  constructor(
    readonly code: E2eErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${code}: ${message}`, options);
  }
}

export function e2eError(code: E2eErrorCode, message: string, cause?: unknown): E2eError {
  return new E2eError(code, message, cause === undefined ? undefined : { cause });
}
