/// <reference lib="dom" />
// The page Node drives for the browser backends (src/runtime/browser.ts): it only exposes the runner on
// the global object; Playwright calls it and reads the result.
import { BENCH_GLOBAL, PROGRESS_BINDING, type BenchApi } from '../browser-protocol.js';
import { outcome, profileInPage, timeInPage, type Progress } from './runner.js';

/**
 * Reports progress to Node through the Playwright binding, at most every 100 ms and always at the end:
 * each call is a message to Node, and between runs it should cost next to nothing.
 */
function progressToNode(): Progress {
  let last = 0;
  return (done, total) => {
    const now = performance.now();
    if (done < total && now - last < 100) return;
    last = now;
    const binding = (globalThis as Record<string, unknown>)[PROGRESS_BINDING];
    if (typeof binding === 'function') void (binding as (d: number, t: number) => Promise<void>)(done, total);
  };
}

const api: BenchApi = {
  profile: (request) => outcome(() => profileInPage(request, progressToNode())),
  time: (request) => outcome(() => timeInPage(request, progressToNode())),
};
Object.assign(globalThis, { [BENCH_GLOBAL]: api });
