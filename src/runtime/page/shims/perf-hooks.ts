// The page bundle's node:perf_hooks (src/runtime/page-bundle.ts): Node's `performance` is the browser's API.
export const performance: Performance = globalThis.performance;
