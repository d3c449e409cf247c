/**
 * Header fields that describe one connection, not the message (RFC 9110 §7.6.1, and the ones Envoy and
 * nginx drop too): a proxy never forwards them, in either direction. `expect` is answered by the hop
 * that receives it (Node answers `100-continue` itself); `host` is the next hop's.
 */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'host',
  'http2-settings',
]);

/** Whether a header never crosses a hop: a listed one, any `proxy-*`, or one the message's `Connection` names. */
export function isHopByHop(name: string, connectionOptions: ReadonlySet<string>): boolean {
  return HOP_BY_HOP_HEADERS.has(name) || name.startsWith('proxy-') || connectionOptions.has(name);
}

/** What the usual `Connection` fields name, shared instead of a `Set` per message. */
const NONE: ReadonlySet<string> = new Set();
const KEEP_ALIVE: ReadonlySet<string> = new Set(['keep-alive']);
const CLOSE: ReadonlySet<string> = new Set(['close']);

function namedBy(connection: string | string[] | undefined): ReadonlySet<string> {
  if (connection === undefined) return NONE;
  if (connection === 'keep-alive' || connection === 'Keep-Alive') return KEEP_ALIVE;
  if (connection === 'close' || connection === 'Close') return CLOSE;
  return connectionOptions(connection);
}

/** The header names a `Connection` field lists (lower case): they belong to this connection only. */
export function connectionOptions(connection: string | string[] | undefined): Set<string> {
  const options = new Set<string>();
  for (const value of Array.isArray(connection) ? connection : connection ? [connection] : []) {
    for (const option of value.split(',')) {
      const name = option.trim().toLowerCase();
      if (name) options.add(name);
    }
  }
  return options;
}

/**
 * Calls `visit` with each end-to-end header of a message: `headers` minus hop-by-hop ones and those `also`
 * names (lower case, as Node gives them). What a proxy may pass on.
 */
export function forEachEndToEndHeader(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  also: (name: string) => boolean,
  visit: (name: string, value: string | string[]) => void,
): void {
  const named = namedBy(headers.connection);
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || isHopByHop(name, named) || also(name)) continue;
    visit(name, value);
  }
}

/** The end-to-end headers of a message (see {@link forEachEndToEndHeader}) as a new record. */
export function endToEndHeaders(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  also: (name: string) => boolean = () => false,
): Record<string, string | string[]> {
  const kept: Record<string, string | string[]> = {};
  forEachEndToEndHeader(headers, also, (name, value) => {
    kept[name] = value;
  });
  return kept;
}
