import { test } from 'node:test';
import assert from 'node:assert/strict';
import { warmUp } from '../../src/runtime/warmup.js';

test('warm-up runs at least the asked count, and keeps going until the minimum time has passed', async () => {
  let n = 0;
  assert.equal(await warmUp(() => { n++; return Promise.resolve(); }, { runs: 3, minMs: 0 }), 3);
  assert.equal(n, 3);
  // Each run takes ~2 ms: 30 ms of warm-up needs more than 3 of them, and the cap bounds it.
  const slow = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 2));
  const started = performance.now();
  const runs = await warmUp(slow, { runs: 3, minMs: 30 });
  assert.ok(runs > 3 && performance.now() - started >= 30, `${runs} runs`);
  assert.equal(await warmUp(slow, { runs: 2, minMs: 10_000, maxRuns: 5 }), 5);
});
