/**
 * `rebirth grad` on a PyTorch training-mode export with BatchNormalization (the issue "Any real model": it
 * used to stop on the training outputs, and on BN running statistics taken for parameters): gradients of
 * torch's parameters only, the updated running statistics under `state`, both equal to torch's; with
 * --freeze-bn the eval()-mode loss and no state.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeNpy } from '../../src/data/npy.js';
import { rebirth, root } from './run.js';

interface Fixture {
  input: { dims: number[]; data: number[] };
  labels: number[];
  train_loss: number;
  eval_loss: number;
  grads: Record<string, number[]>;
  running_stats_after: Record<string, number[]>;
}

const FIXTURES = path.join(root, 'test', 'fixtures', 'torch');

function relError(actual: readonly number[], expected: readonly number[]): number {
  assert.equal(actual.length, expected.length);
  let err = 0;
  let scale = 1e-6;
  expected.forEach((e, i) => {
    err = Math.max(err, Math.abs((actual[i] as number) - e));
    scale = Math.max(scale, Math.abs(e));
  });
  return err / scale;
}

test('rebirth grad on a torch training-mode export: torch\'s loss, gradients and running statistics; --freeze-bn', () => {
  const f = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'googlenet_tv.json'), 'utf8')) as Fixture;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-grad-'));
  const x = path.join(dir, 'x.npy');
  const y = path.join(dir, 'y.npy');
  writeNpy(x, { dtype: 'float32', shape: f.input.dims, data: Float32Array.from(f.input.data) });
  writeNpy(y, { dtype: 'int64', shape: [f.labels.length], data: BigInt64Array.from(f.labels, (v) => BigInt(v)) });
  const model = path.join(FIXTURES, 'googlenet_tv_train.onnx');

  const r = rebirth('grad', model, '--inputs', x, '--labels', y, '--dropout', 'off', '--json');
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { loss: number; gradients: Record<string, number[]>; state: Record<string, number[]> };
  assert.ok(Math.abs(out.loss - f.train_loss) < 1e-4 * f.train_loss, `loss ${out.loss} vs torch ${f.train_loss}`);
  assert.deepEqual(Object.keys(out.gradients).sort(), Object.keys(f.grads).sort());
  for (const [name, g] of Object.entries(f.grads)) assert.ok(relError(out.gradients[name] ?? [], g) < 1e-4, `gradient of ${name}`);
  assert.deepEqual(Object.keys(out.state).sort(), Object.keys(f.running_stats_after).sort());
  for (const [name, v] of Object.entries(f.running_stats_after)) assert.ok(relError(out.state[name] ?? [], v) < 1e-4, `${name} after the step`);

  const frozen = rebirth('grad', model, '--inputs', x, '--labels', y, '--dropout', 'off', '--freeze-bn', '--json');
  assert.equal(frozen.code, 0, frozen.stderr);
  const eval_ = JSON.parse(frozen.stdout) as { loss: number; state: Record<string, number[]> };
  assert.ok(Math.abs(eval_.loss - f.eval_loss) < 1e-4 * f.eval_loss, `--freeze-bn loss ${eval_.loss} vs torch's eval() ${f.eval_loss}`);
  assert.deepEqual(eval_.state, {});
});
