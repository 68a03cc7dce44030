/**
 * The exact optimizer's targets on torchvision-style networks: no BatchNormalization left, outputs equal
 * within 1e-4 relative on ORT (random BN statistics, so every fold changes the weights).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildZooModel } from '../../src/zoo/index.js';
import { optimizeModel } from '../../src/rewrite/optimize.js';

for (const name of ['googlenet-bn', 'resnet50']) {
  test(`${name}: every BatchNormalization folded, outputs equal within 1e-4`, async () => {
    const model = buildZooModel(name, { batch: 1, bnStats: 'random' });
    const bns = model.graph.nodes.filter((n) => n.opType === 'BatchNormalization').length;
    assert.ok(bns > 50);
    const r = await optimizeModel(model, { rules: ['fold-batchnorm', 'remove-identity'] });
    assert.equal(r.rules['fold-batchnorm'], bns);
    assert.equal(r.model.graph.nodes.filter((n) => n.opType === 'BatchNormalization').length, 0);
    assert.ok(r.verification.checked && r.verification.passed);
    assert.ok(r.verification.maxRelError < 1e-4, `max rel error ${r.verification.maxRelError}`);
  });
}
