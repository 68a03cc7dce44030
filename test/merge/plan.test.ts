import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyMerges, measureMerges } from '../../src/merge/plan.js';
import { pairedGain, type LatencyStats } from '../../src/runtime/timing.js';
import { buildZooModel } from '../../src/zoo/index.js';
import { inferTypes } from '../../src/shapes/infer.js';
import { TinyNet } from './helpers.js';

function stats(runs: number[], cpuRuns: number[] = runs): LatencyStats {
  return { medianMs: 0, p90Ms: 0, minMs: 0, cpuMedianMs: 0, runs, cpuRuns };
}

test('pairedGain is the median of per-iteration ratios, so a spike in one iteration cancels', () => {
  const base = stats([10, 10, 50, 10, 10], [4, 4, 4, 4, 4]);
  const merged = stats([5, 5, 25, 5, 4], [2, 2, 2, 2, 1]);
  assert.equal(pairedGain(base, merged), 2);
  assert.equal(pairedGain(base, merged, 'cpu'), 2);
});

test('merged models carry no stale value_info and pass strict shape inference', () => {
  const model = buildZooModel('googlenet-mini', { batch: 1, valueInfo: true });
  const result = applyMerges(model, { init: 'inherit' });
  const produced = new Set(result.model.graph.nodes.flatMap((n) => n.outputs));
  assert.ok(result.model.graph.valueInfo.length > 0);
  for (const v of result.model.graph.valueInfo) assert.ok(produced.has(v.name), v.name);
  // Kept values (block outputs) keep their declared shapes, which strict inference checks.
  const types = inferTypes(result.model, { strict: true });
  assert.deepEqual(types.types.get('pool2/3x3_s2')?.shape, [1, 96, 7, 7]);
  assert.equal(types.unresolved.size, 0);
});

test('measureMerges times every candidate alone against the original', async () => {
  const t = new TinyNet();
  const x = t.input([1, 2, 16, 16]);
  const a = t.pool('MaxPool', 'a/pool', t.relu('a/relu', t.conv('a/conv', x, 2, 4, 3, { pad: 1 })), 2, 2);
  const b = t.pool('AveragePool', 'b/pool', t.conv('b/conv', a, 4, 4, 3, { pad: 1 }), 2, 2);
  const gains = await measureMerges(t.model([b]), { runs: 3, warmup: 1 });
  assert.deepEqual(gains.map((g) => [g.name, g.kind]), [['a', 'streamline'], ['b', 'streamline']]);
  for (const g of gains) assert.ok(g.gain > 0 && Number.isFinite(g.gain) && g.baselineMs > 0 && g.mergedMs > 0, JSON.stringify(g));
});
