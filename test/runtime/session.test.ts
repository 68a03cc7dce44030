import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RebirthError } from '../../src/errors.js';
import { Session, type Backend, type HostTensor } from '../../src/runtime/session.js';
import {
  badReshapeModel,
  CONV_RELU_POOL_EXPECTED,
  CONV_RELU_POOL_INPUT,
  convReluPoolModel,
  convStackModel,
  symbolicReluModel,
  unknownOpModel,
} from './fixtures.js';

const BACKENDS: Backend[] = ['node', 'wasm'];

function input(): Record<string, HostTensor> {
  return { X: { type: 'float32', dims: [1, 1, 4, 4], data: Float32Array.from(CONV_RELU_POOL_INPUT) } };
}

async function withSession<T>(model: Uint8Array, backend: Backend, fn: (s: Session) => T | Promise<T>): Promise<T> {
  const s = await Session.create(model, { backend });
  try {
    return await fn(s);
  } finally {
    await s.release();
  }
}

/** Asserts `p` rejects with a one-line RebirthError matching every pattern; returns the message. */
async function rejectsOneLine(p: Promise<unknown>, ...patterns: RegExp[]): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof RebirthError, `expected RebirthError, got ${String(e)}`);
    assert.ok(!e.message.includes('\n'), `message is not one line: ${e.message}`);
    for (const re of patterns) assert.match(e.message, re);
    return e.message;
  }
  assert.fail('expected a rejection');
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i] ?? Number.NaN;
    const b = expected[i] ?? Number.NaN;
    assert.ok(Math.abs(a - b) <= tol, `element ${i}: ${a} vs ${b}`);
  }
}

void describe('Session', () => {
  for (const backend of BACKENDS) {
    void it(`${backend}: Conv -> Relu -> MaxPool gives the hand-computed output`, async () => {
      await withSession(convReluPoolModel(), backend, async (s) => {
        assert.deepEqual(s.inputNames, ['X']);
        assert.deepEqual(s.outputNames, ['Y']);
        assert.deepEqual(s.inputs, [{ name: 'X', type: 'float32', dims: [1, 1, 4, 4] }]);
        const out = await s.run(input());
        const y = out.Y;
        assert.ok(y !== undefined && y.type === 'float32');
        assert.deepEqual(y.dims, [1, 2, 2, 2]);
        assertClose(y.data, CONV_RELU_POOL_EXPECTED, 1e-6);
      });
    });
  }

  void it('node and wasm agree within 1e-4 on a 3-layer conv stack, every opt level', async () => {
    const model = convStackModel(3);
    const data = Float32Array.from({ length: 2 * 3 * 32 * 32 }, (_, i) => Math.sin(i * 0.37));
    const feeds: Record<string, HostTensor> = { X: { type: 'float32', dims: [2, 3, 32, 32], data } };
    for (const optLevel of ['disabled', 'all'] as const) {
      const results: Float32Array[] = [];
      for (const backend of BACKENDS) {
        const s = await Session.create(model, { backend, optLevel });
        try {
          const y = (await s.run(feeds)).Y;
          assert.ok(y !== undefined && y.type === 'float32');
          assert.deepEqual(y.dims, [2, 16, 1, 1]);
          results.push(y.data);
        } finally {
          await s.release();
        }
      }
      const [a, b] = results;
      assert.ok(a && b);
      assertClose(a, b, 1e-4);
    }
  });

  void it('reports symbolic dims as strings', async () => {
    await withSession(symbolicReluModel(), 'node', (s) => {
      assert.deepEqual(s.inputs[0]?.dims, ['N', 1, 'H', 'W']);
    });
  });

  void it('wasm always runs single-threaded; node honours threads', async () => {
    const w = await Session.create(convReluPoolModel(), { backend: 'wasm', threads: 4 });
    assert.equal(w.threads, 1);
    await w.release();
    const n = await Session.create(convReluPoolModel(), { backend: 'node', threads: 2 });
    assert.equal(n.threads, 2);
    assertClose((await n.run(input())).Y?.data as Float32Array, CONV_RELU_POOL_EXPECTED, 1e-6);
    await n.release();
  });

  void it('fetch selects outputs', async () => {
    await withSession(convReluPoolModel(), 'node', async (s) => {
      assert.deepEqual(Object.keys(await s.run(input(), ['Y'])), ['Y']);
      await rejectsOneLine(s.run(input(), ['nope']), /fetch 'nope' is not a model output/);
    });
  });

  for (const backend of BACKENDS) {
    void it(`${backend}: garbage bytes -> one-line RebirthError`, async () => {
      const msg = await rejectsOneLine(
        Session.create(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), { backend }),
        new RegExp(`^onnxruntime \\(${backend}\\) cannot load this model: `),
        /protobuf parsing failed/,
      );
      assert.doesNotMatch(msg, /ERROR_CODE/);
    });

    void it(`${backend}: unknown op -> one-line RebirthError naming the op`, async () => {
      const msg = await rejectsOneLine(
        Session.create(unknownOpModel(), { backend }),
        /cannot load this model/,
        /FrobnicateXYZ/,
      );
      // onnxruntime-node's checker names the node too; onnxruntime-web's message carries only the op.
      if (backend === 'node') assert.match(msg, /mystery_node/);
    });

    void it(`${backend}: op failing at run time -> one-line RebirthError naming the node`, async () => {
      await withSession(badReshapeModel(), backend, async (s) => {
        await rejectsOneLine(
          s.run({ X: { type: 'float32', dims: [1, 4], data: new Float32Array(4) } }),
          /cannot run this model/,
          /bad_reshape/,
        );
      });
    });
  }

  void it('rejects bad feeds and options with RebirthError', async () => {
    await withSession(convReluPoolModel(), 'node', async (s) => {
      await rejectsOneLine(s.run({}), /model input 'X' is missing/);
      await rejectsOneLine(s.run({ ...input(), Z: input().X as HostTensor }), /feed 'Z' is not a model input/);
      await rejectsOneLine(
        s.run({ X: { type: 'float32', dims: [1, 1, 4, 3], data: new Float32Array(16) } }),
        /feed 'X' has 16 elements but dims \[1, 1, 4, 3\] need 12/,
      );
      await rejectsOneLine(
        s.run({ X: { type: 'int32', dims: [1, 1, 4, 4], data: new Int32Array(16) } }),
        /cannot run this model: .*Unexpected input data type/,
      );
    });
    await rejectsOneLine(Session.create(convReluPoolModel(), { threads: 0 }), /option threads/);
    const s = await Session.create(convReluPoolModel());
    await s.release();
    await rejectsOneLine(s.run(input()), /after release/);
    await rejectsOneLine(s.endProfiling(), /profile: true/);
  });

  for (const backend of BACKENDS) {
    void it(`${backend}: profile: true yields ORT trace events`, async () => {
      const s = await Session.create(convReluPoolModel(), { backend, profile: true, optLevel: 'disabled' });
      try {
        await s.run(input());
        await s.run(input());
        const events = await s.endProfiling();
        assert.equal(events.filter((e) => e.cat === 'Session' && e.name === 'model_run').length, 2);
        const kernels = events.filter((e) => e.cat === 'Node').map((e) => e.name);
        assert.deepEqual(kernels.slice(0, 3), ['conv1_kernel_time', 'relu1_kernel_time', 'pool1_kernel_time']);
        await rejectsOneLine(s.endProfiling(), /called once/);
      } finally {
        await s.release();
      }
    });
  }
});
