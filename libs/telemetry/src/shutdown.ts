const SHUTDOWN_TIMEOUT_MS = 3000;

/** What the preload leaves for the application: a way to stop the SDK it started. */
export interface TelemetryHandle {
  shutdown(): Promise<void>;
  stopped?: Promise<void>;
}

// On globalThis rather than in a module, so the preload and the application share it even if they
// load two copies of this lib. Kept apart from the SDK so that importing the lib does not load it.
const slot = globalThis as { __observabilityLabTelemetry?: TelemetryHandle };

export function setTelemetryHandle(handle: TelemetryHandle): boolean {
  if (slot.__observabilityLabTelemetry) return false;
  slot.__observabilityLabTelemetry = handle;
  return true;
}

/**
 * Sends the spans still buffered and stops the SDK; resolves within `timeoutMs` even when an exporter
 * hangs. Call it after the application closed and before `process.exit`. Later calls return the same
 * promise; without the preload it resolves at once.
 */
export function shutdownTelemetry(timeoutMs = SHUTDOWN_TIMEOUT_MS): Promise<void> {
  const handle = slot.__observabilityLabTelemetry;
  if (!handle) return Promise.resolve();
  handle.stopped ??= new Promise<void>((resolve) => {
    setTimeout(resolve, timeoutMs).unref();
    handle.shutdown().then(
      () => resolve(),
      () => resolve(),
    );
  });
  return handle.stopped;
}
