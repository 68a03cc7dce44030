// The page bundle's node:perf_hooks (src/serve/bundle.ts): Node's `performance` is the browser's API.
export const performance: Performance = globalThis.performance;
