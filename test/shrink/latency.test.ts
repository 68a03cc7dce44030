/**
 * measureSpeedup's round budget: `runs` rounds at least, more until `minSeconds` have gone into timing,
 * never more than `maxRounds`; the reported interval brackets the reported speed-up. Checks the round
 * counts and the interval's consistency, never a measured figure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import type { Model } from '../../src/ir/graph.js';
import { measureSpeedup } from '../../src/shrink/latency.js';

/** A network of `depth` Relu nodes on [1, 8]: microseconds a run, so any budget buys many rounds. */
function chain(depth: number): Model {
  const b = new GraphBuilder('chain');
  b.input('x', [1, 8]);
  let y = 'x';
  for (let i = 0; i < depth; i++) y = b.op('Relu', [y]);
  b.output(y);
  return modelOf(b.graph, 13);
}

test('measureSpeedup: the minimum rounds when the budget is zero, more within a budget, capped by maxRounds', async () => {
  const before = chain(6);
  const after = chain(1);
  const fixed = await measureSpeedup(before, after, { runs: 12, minSeconds: 0, warmupMs: 10 });
  assert.equal(fixed.rounds, 12);
  // 12 rounds of two sub-millisecond runs take well under 0.2 s, so the budget asks for more rounds.
  const budgeted = await measureSpeedup(before, after, { runs: 12, minSeconds: 0.2, maxRounds: 100_000, warmupMs: 10 });
  assert.ok(budgeted.rounds > 12, `rounds ${budgeted.rounds}`);
  const capped = await measureSpeedup(before, after, { runs: 12, minSeconds: 30, maxRounds: 50, warmupMs: 10 });
  assert.equal(capped.rounds, 50);
  for (const r of [fixed, budgeted, capped]) {
    assert.ok(r.interval[0] <= r.speedup && r.speedup <= r.interval[1], `${r.speedup} in [${r.interval.join(', ')}]`);
    assert.ok(r.beforeMs >= 0 && r.afterMs >= 0);
  }
});
