import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { RebirthError } from '../../src/errors.js';
import { readModelNodes } from '../../src/runtime/model-nodes.js';
import { attributeKernels, kernelStats, type KernelStat } from '../../src/runtime/kernels.js';
import { profileModel, type RuntimeProfile } from '../../src/runtime/profile.js';
import { quantile } from '../../src/util/stats.js';
import type { Backend, TraceEvent } from '../../src/runtime/session.js';
import {
  convReluPoolModel,
  convStackModel,
  encodeModel,
  floatInit,
  floatValue,
  intsAttr,
  node,
  symbolicReluModel,
} from './fixtures.js';

const BACKENDS: Backend[] = ['node', 'wasm'];

function checkSane(p: RuntimeProfile, runs: number): void {
  assert.equal(p.latencyMs.runs.length, runs);
  assert.ok(p.latencyMs.runs.every((t) => t > 0));
  assert.ok(p.latencyMs.median <= p.latencyMs.p90, `median ${p.latencyMs.median} > p90 ${p.latencyMs.p90}`);
  for (const n of p.nodes) {
    assert.ok(n.ms >= 0 && Number.isFinite(n.ms), `${n.name}: ${n.ms}`);
    assert.equal(n.provider, 'CPUExecutionProvider');
  }
}

void describe('profileModel', () => {
  for (const backend of BACKENDS) {
    void it(`${backend}: times every node of an unoptimized model, names match`, async () => {
      const progress: number[] = [];
      let lastTotal = 0;
      const p = await profileModel(convReluPoolModel(), {
        backend,
        optLevel: 'disabled',
        warmup: 2,
        runs: 7,
        profileRuns: 3,
        onProgress: (done, total) => {
          progress.push(done);
          lastTotal = total;
        },
      });
      checkSane(p, 7);
      assert.deepEqual(
        p.nodes.map((n) => [n.name, n.opType]),
        [
          ['conv1', 'Conv'],
          ['relu1', 'Relu'],
          ['pool1', 'MaxPool'],
        ],
      );
      assert.ok(p.nodes.every((n) => n.fusedFrom === undefined));
      assert.deepEqual(p.unattributed, []);
      assert.equal(p.backend, backend);
      assert.equal(p.optLevel, 'disabled');
      assert.equal(p.threads, 1);
      // 2 warm-up + 7 timed + 2 profiled warm-up + 3 profiled.
      assert.equal(lastTotal, 14);
      assert.deepEqual(progress, Array.from({ length: 14 }, (_, i) => i + 1));
    });

    void it(`${backend}: at 'all' keeps ORT's fused names and maps them back to model nodes`, async () => {
      const p = await profileModel(convStackModel(2), { backend, optLevel: 'all', warmup: 1, runs: 5 });
      checkSane(p, 5);
      assert.deepEqual(p.unattributed, []);
      const ids = new Set(readModelNodes(convStackModel(2)).map((m) => m.id));
      const covered = p.nodes.flatMap((n) => n.fusedFrom ?? (ids.has(n.name) ? [n.name] : []));
      assert.deepEqual(covered.sort(), ['conv0', 'conv1', 'gap', 'relu0', 'relu1']);
      // Conv+Relu is fused on both builds: onnxruntime-node (x64) into NCHWc convs named after the
      // output tensor ("r0_nchwc"), onnxruntime-web into FusedConv keeping the Conv's name.
      const conv0 = p.nodes.find((n) => n.fusedFrom?.includes('conv0'));
      assert.ok(conv0);
      assert.deepEqual(conv0.fusedFrom, ['conv0', 'relu0']);
      assert.ok(['r0_nchwc', 'conv0'].includes(conv0.name), conv0.name);
    });
  }

  void it('unnamed model nodes come back as <OpType>_<index>', async () => {
    const p = await profileModel(convReluPoolModel({ names: ['', '', ''] }), { optLevel: 'disabled', runs: 3 });
    assert.deepEqual(
      p.nodes.map((n) => n.name),
      ['Conv_0', 'Relu_1', 'MaxPool_2'],
    );
    assert.deepEqual(
      readModelNodes(convReluPoolModel({ names: ['', '', ''] })).map((n) => n.id),
      ['Conv_0', 'Relu_1', 'MaxPool_2'],
    );
  });

  void it('uses batch 1 for a symbolic batch dim and needs inputShapes for other symbolic dims', async () => {
    const p = await profileModel(convStackModel(1), { runs: 2, warmup: 0, optLevel: 'disabled' });
    assert.deepEqual(
      p.nodes.map((n) => n.name),
      ['conv0', 'relu0', 'gap'],
    );
    await assert.rejects(
      profileModel(symbolicReluModel(), { runs: 2 }),
      (e: unknown) => e instanceof RebirthError && e.message === "input 'X' has symbolic dims [N,1,H,W]; pass --input-shape X=1,1,<H>,<W> (library: inputShapes: { 'X': [...] })",
    );
    const q = await profileModel(symbolicReluModel(), { runs: 2, inputShapes: { X: [2, 1, 5, 5] } });
    assert.deepEqual(q.nodes.map((n) => n.name), ['relu']);
  });

  void it('rejects bad counts and bad models with RebirthError', async () => {
    await assert.rejects(profileModel(convReluPoolModel(), { runs: 0 }), RebirthError);
    await assert.rejects(profileModel(new Uint8Array([9, 9, 9]), {}), RebirthError);
  });

  void it('wasm profile output does not reach stdout', async () => {
    const self = fileURLToPath(import.meta.url);
    const ts = self.endsWith('.ts');
    const child = self.replace(/profile\.test\.(ts|js)$/, `wasm-quiet-child.${ts ? 'ts' : 'js'}`);
    const args = ts ? ['--import', 'tsx', child] : [child];
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
      (resolve, reject) => {
        const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
        proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
        proc.on('error', reject);
        proc.on('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
      },
    );
    assert.equal(code, 0, stderr);
    assert.equal(stdout, `${JSON.stringify({ nodes: ['conv1', 'pool1'] })}\n`);
  });
});

void describe('trace parsing', () => {
  const ev = (cat: string, name: string, ts: number, dur: number, args: Record<string, unknown> = {}): TraceEvent => ({
    cat,
    name,
    ph: 'X',
    ts,
    dur,
    args,
  });

  void it('kernelStats keeps only the last N runs and averages per run', () => {
    const events: TraceEvent[] = [];
    // Run r spans [1000r, 1000r+500]; its kernels take 100*(r+1) and 10 µs.
    for (let r = 0; r < 4; r++) {
      events.push(ev('Node', 'a_kernel_time', 1000 * r + 10, 100 * (r + 1), { op_name: 'Conv', provider: 'P', node_index: '0' }));
      events.push(ev('Node', 'b_kernel_time', 1000 * r + 200, 10, { op_name: 'Relu', provider: 'P', node_index: '1' }));
      events.push(ev('Session', 'SequentialExecutor::Execute', 1000 * r + 5, 400));
      events.push(ev('Session', 'model_run', 1000 * r, 500));
    }
    const stats = kernelStats(events, 2);
    assert.deepEqual(stats, [
      { name: 'a', opType: 'Conv', provider: 'P', nodeIndex: 0, ms: (300 + 400) / 2 / 1000 },
      { name: 'b', opType: 'Relu', provider: 'P', nodeIndex: 1, ms: 10 / 1000 },
    ]);
    assert.throws(() => kernelStats([], 1), RebirthError);
  });

  void it('attributeKernels follows ORT renames: nchwc tails, /Fusion suffixes, _token_ dedup', () => {
    const model = encodeModel({
      inputs: [floatValue('X', [1, 1, 4, 4])],
      outputs: [floatValue('Y', [1, 2])],
      initializers: [floatInit('W', [1, 1, 1, 1], [1])],
      nodes: [
        node('Conv', 'c', ['X', 'W'], ['a'], [intsAttr('kernel_shape', [1, 1])]),
        node('BatchNormalization', 'bn', ['a', 's', 'b', 'm', 'v'], ['n']),
        node('Relu', 'r', ['n'], ['t']),
        node('Flatten', 'f', ['t'], ['u']),
        node('MatMul', 'mm', ['u', 'W'], ['p']),
        node('Add', 'bias', ['p', 'W'], ['Y']),
        node('Identity', 'dead', ['W'], ['unused']),
      ],
    });
    const k = (name: string, opType: string): KernelStat => ({ name, opType, provider: 'P', ms: 1 });
    const { nodes, unattributed } = attributeKernels(
      [k('t_nchwc', 'Conv'), k('ReorderOutput', 'ReorderOutput'), k('f_token_1', 'Flatten'), k('mm/MatMulAddFusion', 'Gemm')],
      readModelNodes(model),
    );
    assert.deepEqual(
      nodes.map((n) => [n.name, n.fusedFrom]),
      [
        ['t_nchwc', ['c', 'bn', 'r']],
        ['ReorderOutput', undefined],
        ['f_token_1', ['f']],
        ['mm/MatMulAddFusion', ['mm', 'bias']],
      ],
    );
    assert.deepEqual(unattributed, ['dead']);
  });

  void it('quantile interpolates and is monotone', () => {
    assert.equal(quantile([3, 1, 2], 0.5), 2);
    assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
    assert.ok(Math.abs(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9) - 9.1) < 1e-12);
    assert.ok(Number.isNaN(quantile([], 0.5)));
  });
});
