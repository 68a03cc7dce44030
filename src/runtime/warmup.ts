/**
 * Warm-up before timing. A count alone is not enough on the wasm backend: V8 first runs WebAssembly
 * through its baseline compiler and tiers hot functions up to the optimising one in the background,
 * so a small model (googlenet-mini: ~1.6 ms a run) is still on baseline code after 3 runs, and a
 * profile taken then reported a 7.5 ms median for what later measured 1.6 ms (docs/runtime.md). So
 * warm-up also lasts a minimum wall time; the run cap keeps a pathological case bounded.
 */
export const DEFAULT_WARMUP_MS = 300;

export async function warmUp(run: () => Promise<unknown>, options: { runs: number; minMs?: number; maxRuns?: number }): Promise<number> {
  const started = performance.now();
  const minMs = options.minMs ?? DEFAULT_WARMUP_MS;
  const maxRuns = Math.max(options.runs, options.maxRuns ?? 1000);
  let n = 0;
  while (n < options.runs || (performance.now() - started < minMs && n < maxRuns)) {
    await run();
    n++;
  }
  return n;
}
