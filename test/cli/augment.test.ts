import { test } from 'node:test';
import assert from 'node:assert/strict';
import { augmentArg, refuseWithoutRetraining } from '../../src/cli/data.js';
import { RebirthError } from '../../src/errors.js';

void test('--augment: crops padded by 1/14 of the height (at least 2 pixels) and mirrors; refused without retraining', () => {
  const on = { positionals: [], values: { augment: true } };
  assert.deepEqual(augmentArg({ positionals: [], values: {} }, 28), {});
  assert.deepEqual(augmentArg(on, 28), { augment: { pad: 2, flip: true } });
  assert.deepEqual(augmentArg(on, 224), { augment: { pad: 16, flip: true } });
  assert.deepEqual(augmentArg(on, 8), { augment: { pad: 2, flip: true } });
  const refused = (e: unknown): boolean => e instanceof RebirthError && e.message === '--augment only changes the retraining; it needs --data and a --retrain other than none';
  assert.throws(() => refuseWithoutRetraining(on, 'none', ['validation', 'augment']), refused);
  assert.doesNotThrow(() => refuseWithoutRetraining(on, 'distill', ['validation', 'augment']));
  assert.doesNotThrow(() => refuseWithoutRetraining({ positionals: [], values: {} }, 'none', ['validation', 'augment']));
});
