// The folds that run before merging (src/merge/fold.ts): which rules, per-rule reports, verification on
// ORT, and Dropout kept for retraining.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { foldExact, foldForMerge, MERGE_FOLD_RULES } from '../../src/merge/fold.js';
import { TinyNet } from './helpers.js';

/** conv -> BN -> ReLU -> Dropout -> conv -> Identity -> max pool: one BN fold, two identities. */
function net(): ReturnType<TinyNet['model']> {
  const t = new TinyNet(4);
  const x = t.input(['N', 3, 8, 8]);
  const a = t.relu('a/relu', t.batchNorm('a/bn', t.conv('a/conv', x, 3, 4, 3, { pad: 1 }), 4));
  const d = t.b.op('Dropout', [a], {}, 'drop');
  const c = t.b.op('Identity', [t.conv('b/conv', d, 4, 4, 3, { pad: 1 })], {}, 'ident');
  return t.model([t.pool('MaxPool', 'b/pool', c, 2, 2)]);
}

test('the fold rules are the non-tensor-removing folds of rebirth optimize, identities first', () => {
  assert.deepEqual(MERGE_FOLD_RULES.map((r) => r.name), ['remove-identity', 'fold-batchnorm', 'fold-scale', 'fold-pad']);
});

test('foldForMerge reports each rule with its count and the ORT verification; foldExact the same unverified', async () => {
  const model = net();
  const verified = await foldForMerge(model);
  assert.deepEqual(verified.folds.map((f) => [f.rule, f.count, f.verified]), [['remove-identity', 2, true], ['fold-batchnorm', 1, true]]);
  for (const f of verified.folds) assert.ok(f.maxRelError !== undefined && f.maxRelError < 1e-5 && f.maxAbsError !== undefined, JSON.stringify(f));
  assert.deepEqual(verified.model.graph.nodes.map((n) => n.opType), ['Conv', 'Relu', 'Conv', 'MaxPool']);
  assert.equal(model.graph.nodes.length, 7, 'the input is not modified');

  const quick = foldExact(model);
  assert.deepEqual(quick.folds, [{ rule: 'remove-identity', count: 2, verified: false }, { rule: 'fold-batchnorm', count: 1, verified: false }]);
  assert.deepEqual(quick.model.graph.nodes.map((n) => n.opType), ['Conv', 'Relu', 'Conv', 'MaxPool']);
});

test('keepDropout leaves Dropout for the trainer and folds the rest', async () => {
  const r = await foldForMerge(net(), { keepDropout: true });
  assert.deepEqual(r.folds.map((f) => [f.rule, f.count]), [['remove-identity', 1], ['fold-batchnorm', 1]]);
  assert.deepEqual(r.model.graph.nodes.map((n) => n.opType), ['Conv', 'Relu', 'Dropout', 'Conv', 'MaxPool']);
});

test('nothing to fold: the same model back, no reports', async () => {
  const t = new TinyNet();
  const model = t.model([t.relu('r', t.conv('c', t.input([1, 2, 4, 4]), 2, 2, 3, { pad: 1 }))]);
  const r = await foldForMerge(model);
  assert.equal(r.model, model);
  assert.deepEqual(r.folds, []);
});
