/**
 * Nest's `Logger` and `ConsoleLogger` modules each build an `Intl.DateTimeFormat` when they load, for the
 * timestamp of Nest's console logger. The services log through winston and never print one, but the first
 * `DateTimeFormat` a process builds maps ICU's locale and time zone data: 7.8 MB of RSS in a bare Node
 * process, in every service, for nothing (docs/performance.md, footprint).
 *
 * Imported by this lib before anything loads Nest: until {@link restoreDateTimeFormat} (called by
 * bootstrap.ts once its imports, Nest's among them, have loaded), `new Intl.DateTimeFormat(...)` gives a
 * formatter that builds the real one on its first use, with the same arguments. A process that does print
 * Nest's console timestamps pays for ICU then; everything built after the restore is the real thing.
 */
const RealDateTimeFormat = Intl.DateTimeFormat;

/** A `DateTimeFormat` that builds the real one when a method is first called. */
class DeferredDateTimeFormat {
  #real: Intl.DateTimeFormat | undefined;
  readonly #args: ConstructorParameters<typeof Intl.DateTimeFormat>;

  constructor(...args: ConstructorParameters<typeof Intl.DateTimeFormat>) {
    this.#args = args;
  }

  get #formatter(): Intl.DateTimeFormat {
    this.#real ??= new RealDateTimeFormat(...this.#args);
    return this.#real;
  }

  format(date?: Date | number): string {
    return this.#formatter.format(date);
  }

  formatToParts(date?: Date | number): Intl.DateTimeFormatPart[] {
    return this.#formatter.formatToParts(date);
  }

  formatRange(start: Date | number, end: Date | number): string {
    return this.#formatter.formatRange(start, end);
  }

  formatRangeToParts(start: Date | number, end: Date | number): Intl.DateTimeRangeFormatPart[] {
    return this.#formatter.formatRangeToParts(start, end);
  }

  resolvedOptions(): Intl.ResolvedDateTimeFormatOptions {
    return this.#formatter.resolvedOptions();
  }
}

/** `Intl.DateTimeFormat` with its static methods, building deferred formatters (also when called without `new`). */
const deferred = Object.assign(
  function DateTimeFormat(...args: ConstructorParameters<typeof Intl.DateTimeFormat>) {
    return new DeferredDateTimeFormat(...args);
  },
  { supportedLocalesOf: RealDateTimeFormat.supportedLocalesOf.bind(RealDateTimeFormat) },
) as unknown as typeof Intl.DateTimeFormat;

Intl.DateTimeFormat = deferred;

/** Puts the real `Intl.DateTimeFormat` back (idempotent). */
export function restoreDateTimeFormat(): void {
  if (Intl.DateTimeFormat === deferred) Intl.DateTimeFormat = RealDateTimeFormat;
}
