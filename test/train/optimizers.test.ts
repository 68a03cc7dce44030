import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Optimizer, type OptimizerConfig } from '../../src/train/optimizers.js';
import { learningRate, parseSchedule } from '../../src/train/schedule.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';

/** Reference implementations written from the papers' pseudo-code, in float64 scalars. */
function referenceSgd(w: number, grads: number[], lr: number, mu: number, wd: number, nesterov: boolean): number {
  let v = 0;
  for (const g0 of grads) {
    const g = g0 + wd * w;
    v = mu * v + g;
    w -= lr * (nesterov ? g + mu * v : v);
  }
  return w;
}

function referenceAdam(w: number, grads: number[], lr: number, wd: number, decoupled: boolean): number {
  let m = 0;
  let v = 0;
  grads.forEach((g0, k) => {
    const t = k + 1;
    const g = decoupled ? g0 : g0 + wd * w;
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    const update = (lr * (m / (1 - 0.9 ** t))) / (Math.sqrt(v / (1 - 0.999 ** t)) + 1e-8);
    w = w - update - (decoupled ? lr * wd * w : 0);
  });
  return w;
}

const grads = [0.5, -0.25, 1.0, 0.125];

function runOptimizer(config: OptimizerConfig, lr: number, decayMult = 1): number {
  const opt = new Optimizer(config);
  const params = new Map([['w', Float32Array.of(2)]]);
  for (const g of grads) opt.step(params, new Map([['w', Float32Array.of(g)]]), lr, new Map([['w', { lrMult: 1, decayMult }]]));
  return params.get('w')![0]!;
}

test('SGD with momentum, Nesterov and weight decay matches the PyTorch update rule', () => {
  for (const nesterov of [false, true]) {
    const got = runOptimizer({ kind: 'sgd', momentum: 0.9, nesterov, weightDecay: 0.01 }, 0.1);
    assert.ok(Math.abs(got - referenceSgd(2, grads, 0.1, 0.9, 0.01, nesterov)) < 1e-6);
  }
});

test('Adam and AdamW match the reference update rules', () => {
  assert.ok(Math.abs(runOptimizer({ kind: 'adam', weightDecay: 0.01 }, 0.01) - referenceAdam(2, grads, 0.01, 0.01, false)) < 1e-6);
  assert.ok(Math.abs(runOptimizer({ kind: 'adamw', weightDecay: 0.1 }, 0.01) - referenceAdam(2, grads, 0.01, 0.1, true)) < 1e-6);
});

test('learning-rate multipliers scale the step (rebirth layers train at 10x)', () => {
  const opt = new Optimizer({ kind: 'sgd' });
  const params = new Map([['a', Float32Array.of(1)], ['b', Float32Array.of(1)]]);
  opt.step(params, new Map([['a', Float32Array.of(1)], ['b', Float32Array.of(1)]]), 0.01,
    new Map([['a', { lrMult: 1, decayMult: 1 }], ['b', { lrMult: 10, decayMult: 1 }]]));
  assert.ok(Math.abs(params.get('a')![0]! - 0.99) < 1e-7);
  assert.ok(Math.abs(params.get('b')![0]! - 0.9) < 1e-7);
});

test('schedules: step, cosine, warm-up', () => {
  const step = { config: parseSchedule('step:2:0.1', 10), warmupSteps: 0 };
  assert.equal(learningRate(1, step, 19, 100), 1);
  assert.ok(Math.abs(learningRate(1, step, 20, 100) - 0.1) < 1e-12);
  const cos = { config: parseSchedule('cosine', 10), warmupSteps: 0 };
  assert.equal(learningRate(1, cos, 0, 100), 1);
  assert.ok(Math.abs(learningRate(1, cos, 50, 100) - 0.5) < 1e-12);
  assert.ok(learningRate(1, cos, 100, 100) < 1e-12);
  const warm = { config: parseSchedule('constant', 10), warmupSteps: 4 };
  assert.deepEqual([0, 1, 2, 3, 4].map((s) => learningRate(1, warm, s, 100)), [0.25, 0.5, 0.75, 1, 1]);
  assert.throws(() => parseSchedule('linear', 10), /--schedule must be/);
});

test('optimizer state survives a checkpoint bit for bit', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-ckpt-'));
  const file = path.join(dir, 'c.ckpt');
  const a = new Float32Array([Math.PI, -0, 1e-38, 3.4e38, Number.NaN]);
  saveCheckpoint(file, { epoch: 3 }, new Map([['a', a]]));
  const back = loadCheckpoint<{ epoch: number }>(file);
  assert.equal(back.meta.epoch, 3);
  assert.deepEqual(new Uint8Array(back.arrays.get('a')!.buffer), new Uint8Array(a.buffer));
  fs.writeFileSync(file, fs.readFileSync(file).subarray(0, 40));
  assert.throws(() => loadCheckpoint(file), /truncated|corrupt/);
  assert.throws(() => loadCheckpoint(path.join(dir, 'none.ckpt')), /no checkpoint at/);
});
