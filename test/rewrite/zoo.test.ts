/** The optimizer on the zoo networks it is meant for: every Conv+BN of ResNet-50 folds, exactly. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildZooModel } from '../../src/zoo/index.js';
import { optimizeModel } from '../../src/rewrite/optimize.js';
import { opCounts } from './ort.js';

test('resnet50: all 53 BatchNormalizations fold into their convs and the outputs agree', async () => {
  const m = buildZooModel('resnet50', { batch: 1, bnStats: 'random' });
  const r = await optimizeModel(m, { rules: ['remove-identity', 'fold-batchnorm', 'fold-scale', 'fold-pad', 'merge-linear-convs'] });
  assert.equal(r.rules['fold-batchnorm'], 53);
  assert.equal(opCounts(r.model).BatchNormalization, undefined);
  assert.equal(r.nodesAfter, r.nodesBefore - 53);
  assert.ok(r.verification.checked && r.verification.passed, JSON.stringify(r.verification));
});

test('googlenet-mini: the inception 1x1 branches fuse horizontally when the decide hook approves', async () => {
  const m = buildZooModel('googlenet-mini', { batch: 2 });
  const r = await optimizeModel(m, { decide: () => true });
  const fused = r.rules['horizontal-fusion'] ?? 0;
  assert.ok(fused >= 2, `only ${fused} fusions`);
  assert.equal(opCounts(r.model).Split, fused);
  assert.ok(r.verification.checked && r.verification.passed, JSON.stringify(r.verification));
});
