/** Annealing: the blended activation x + (1 - a) (f(x) - x) is f at a = 0 and the identity at a = 1. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { verifyModels } from '../../src/rewrite/verify.js';
import { withAnnealedActivations } from '../../src/pipeline/shrink-retrain.js';
import { enumerateCandidates } from '../../src/shrink/candidates.js';
import { linearize } from '../../src/shrink/apply.js';
import { foldForShrink } from '../../src/shrink/shrink.js';
import { analyzeStructure } from '../../src/shrink/structure.js';
import { randomTensor } from '../rewrite/ort.js';

test('annealed activations: a = 0 is the original network, a = 1 the linearized one (ReLU6 and ReLU)', async () => {
  const b = new GraphBuilder('g');
  let y = b.input('x', [1, 3, 8, 8]);
  y = b.op('Conv', [y, b.initializer(randomTensor('w0', [6, 3, 1, 1], 1)), b.initializer(randomTensor('b0', [6], 2))], {}, 'c0');
  y = b.op('Clip', [y, b.initializer(randomTensor('lo', [], 3, 0, 0)), b.initializer(randomTensor('hi', [], 4, 0, 0.5))], {}, 'relu6');
  y = b.op('Conv', [y, b.initializer(randomTensor('w1', [4, 6, 1, 1], 5))], {}, 'c1');
  y = b.op('Relu', [y], {}, 'relu');
  y = b.op('Conv', [y, b.initializer(randomTensor('w2', [2, 4, 3, 3], 6))], {}, 'c2');
  b.output(y);
  const folded = await foldForShrink(modelOf(b.graph, 13));
  const structure = analyzeStructure(folded);
  const { items } = enumerateCandidates(folded.graph, structure, { padding: 'exact', maxMacRatio: 100 });
  const run = items.find((i) => i.id === '0:0-2');
  assert.ok(run, items.map((i) => i.id).join(' '));
  const lin = linearize(folded, structure, [run], 'exact');
  const start = withAnnealedActivations(lin.model, folded, run.removed, 0);
  const end = withAnnealedActivations(lin.model, folded, run.removed, 1);
  assert.ok((await verifyModels(folded, start, { tolerance: 1e-5 })).passed, 'a = 0 is the original');
  assert.ok((await verifyModels(lin.model, end, { tolerance: 1e-5 })).passed, 'a = 1 is the linearized network');
  const middle = withAnnealedActivations(lin.model, folded, run.removed, 0.5);
  assert.ok(!(await verifyModels(folded, middle, { tolerance: 1e-5 })).passed, 'a = 0.5 is neither');
});
