import { test } from 'node:test';
import assert from 'node:assert/strict';
import { augmentArg } from '../../src/cli/data.js';
import { RebirthError } from '../../src/errors.js';

void test('--augment: crops padded by 1/14 of the height (at least 2 pixels) and mirrors; refused without retraining', () => {
  const on = { positionals: [], values: { augment: true } };
  assert.deepEqual(augmentArg({ positionals: [], values: {} }, 28), {});
  assert.deepEqual(augmentArg(on, 28), { augment: { pad: 2, flip: true } });
  assert.deepEqual(augmentArg(on, 224), { augment: { pad: 16, flip: true } });
  assert.deepEqual(augmentArg(on, 8), { augment: { pad: 2, flip: true } });
  assert.throws(() => augmentArg(on, 28, 'none'), (e: unknown) => e instanceof RebirthError && /--augment changes the retraining images; it needs --retrain and --data/.test(e.message));
});
