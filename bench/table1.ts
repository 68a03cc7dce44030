/**
 * DeepRebirth Table 1 analogue: share of forward time spent in non-tensor layers, measured by rebirth's
 * profiler on ONNX Runtime (node 1 thread, wasm 1 thread) at graph optimizations `disabled` and `all`,
 * next to the paper's Caffe numbers. Random weights (timing does not depend on them), batch 1.
 * usage: npx tsx bench/table1.ts [--models alexnet,googlenet,resnet50,resnet152] [--runs 10] [--markdown]
 *          [--json FILE] [--strict] [--max-load L]
 * Shares are of one process's kernel time, not ratios of paired runs; the load guard (bench/harness.ts)
 * still records the load around them, since preemption lands in whichever kernel was running.
 */
import { parseArgs } from 'node:util';
import { buildZooModel } from '../src/zoo/index.js';
import { profileLayers } from '../src/profile/layers.js';
import { formatTable } from '../src/util/format.js';
import type { Backend, OptLevel } from '../src/runtime/session.js';
import { Bench, GUARD_OPTIONS } from './harness.js';

const PAPER: Record<string, { x86: string; arm: string; titan: string }> = {
  alexnet: { x86: '32.08%', arm: '25.08%', titan: '22.37%' },
  googlenet: { x86: '62.03%', arm: '37.81%', titan: '26.14%' },
  resnet50: { x86: '55.66%', arm: '36.61%', titan: '47.87%' },
  resnet152: { x86: '49.77%', arm: 'n/a', titan: '44.49%' },
};

const { values } = parseArgs({ options: { models: { type: 'string' }, runs: { type: 'string' }, markdown: { type: 'boolean' }, ...GUARD_OPTIONS } });
const bench = Bench.start('table1', values);
const models = (values.models ?? 'alexnet,googlenet,resnet50,resnet152').split(',');
const runs = Number(values.runs ?? 10);
const configs: Array<[Backend, OptLevel]> = [['node', 'disabled'], ['node', 'all'], ['wasm', 'disabled'], ['wasm', 'all']];
const rows: string[][] = [];
const results: Array<{ model: string; configs: Array<{ backend: Backend; optLevel: OptLevel; nonTensorShare: number; medianMs: number }>; paper: { x86: string; arm: string; titan: string } | undefined }> = [];
for (const name of models) {
  const configsOut: Array<{ backend: Backend; optLevel: OptLevel; nonTensorShare: number; medianMs: number }> = [];
  const model = buildZooModel(name, { batch: 1 });
  const row = [name];
  for (const [backend, optLevel] of configs) {
    const p = await profileLayers(model, { backend, optLevel, threads: 1, runs, warmup: 2, profileRuns: Math.min(runs, 5), name });
    row.push(`${(100 * p.nonTensorShare).toFixed(1)}% (${p.latencyMs.median.toFixed(0)} ms)`);
    configsOut.push({ backend, optLevel, nonTensorShare: p.nonTensorShare, medianMs: p.latencyMs.median });
    process.stderr.write(`${name} ${backend} ${optLevel}: non-tensor ${(100 * p.nonTensorShare).toFixed(1)}%, median ${p.latencyMs.median.toFixed(1)} ms\n`);
  }
  const paper = PAPER[name];
  row.push(paper?.x86 ?? '', paper?.arm ?? '', paper?.titan ?? '');
  rows.push(row);
  results.push({ model: name, configs: configsOut, paper });
}
const headers = ['network', 'node disabled', 'node all', 'wasm disabled', 'wasm all', 'paper x86', 'paper ARM', 'paper Titan X'];
if (values.markdown) {
  console.log(`| ${headers.join(' | ')} |\n|${headers.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
} else console.log(formatTable(headers, rows));
bench.finish({ runs, models: results });
