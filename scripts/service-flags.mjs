// The Node flags and environment every service runs with (npm start, npm run bench; the Dockerfile repeats them and
// test/infra/compose.spec.ts checks it does). Measured in docs/performance.md:
// - a young generation of 2 × 4 MB instead of V8's 2 × 16 MB: about 20 MB less per idle service, no
//   throughput lost that the bench could tell from noise;
// - the old generation grows by 20 % over what survives a full GC instead of up to 4×: under load a
//   service peaks about 60–80 MB lower, for more frequent (concurrent) major GCs.
// - V8 drops the bytecode of a function not run during 2 major GCs instead of 6 (--bytecode-old-age): the
//   code that ran once at start-up (module bodies, Nest's wiring, seeding) goes at the memory reducer's
//   GCs 30-50 s after ready, about 3 MB of heap per idle service; under load the request path runs between
//   any two GCs, so it keeps its bytecode (CPU per order within the noise of interleaved rounds). With
//   --flush-baseline-code the same goes for a function's Sparkplug code: 1.1-2.2 MB more.
// Source maps (--enable-source-maps) and V8's compile cache (NODE_COMPILE_CACHE) are left off: each costs
// a service about 17 MB; set them in NODE_OPTIONS to have them.
export const SERVICE_NODE_FLAGS = [
  '--max-semi-space-size=4',
  '--heap-growing-percent=20',
  '--bytecode-old-age=2',
  '--flush-baseline-code',
];

// glibc raises its mmap threshold after each large block is freed, so the next large blocks (scrypt's
// 16 MiB per password hash in oauth) come from the heap and are never given back: oauth idled at
// 191 MB instead of 143-148 MB. A fixed threshold keeps blocks of 1 MiB and more in mmap.
// Without glibc's per-thread caches (tcache) of small freed blocks, what start-up freed goes back to the
// system: a block parked in a thread's cache counts as in use, so the memory freed around it (7-8 MB
// after V8's start-up compilation, mostly in the arenas of its worker threads, which then idle with
// their caches full) could not be trimmed. About 8 MB less per idle service; CPU per order and per GET
// through the gateway within the noise of interleaved rounds (docs/performance.md). npm start gives the
// embedded store this environment too (about 10 MB less).
export const SERVICE_ENV = {
  MALLOC_MMAP_THRESHOLD_: '1048576',
  GLIBC_TUNABLES: 'glibc.malloc.tcache_count=0',
};
