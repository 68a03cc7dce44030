/**
 * Load + save of resnet152 (~240 MB) by rebirth, next to onnxruntime-node creating a session from the
 * same file, each in a fresh process. Prints time and peak RSS and their ratios; the target is peak
 * memory under 2x the file size.
 * usage: npx tsx bench/codec.ts [MODEL.onnx | --zoo resnet152] [--repeats 3] [--json FILE] [--strict] [--max-load L]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { buildZooModel } from '../src/zoo/index.js';
import { saveModel } from '../src/onnx/file.js';
import { parseArgs } from 'node:util';
import { formatBytes, formatTable } from '../src/util/format.js';
import { Bench, GUARD_OPTIONS } from './harness.js';

interface Sample { mode: string; ms: number; peakBytes: number; baselineBytes: number; fileBytes: number }

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-bench-codec-'));
const { values, positionals } = parseArgs({ allowPositionals: true, options: { repeats: { type: 'string', default: '3' }, zoo: { type: 'string', default: 'resnet152' }, ...GUARD_OPTIONS } });
const bench = Bench.start('codec', values);
let file = positionals[0];
if (!file) {
  file = path.join(dir, `${values.zoo}.onnx`);
  saveModel(buildZooModel(values.zoo, { batch: 1 }), file);
}
const worker = path.join(import.meta.dirname, 'codec-worker.ts');
const run = (mode: string): Sample => {
  const out = execFileSync(process.execPath, ['--import', 'tsx', worker, mode, file, path.join(dir, 'out.onnx')], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as Sample;
};
const repeats = Number(values.repeats);
const best = (mode: string): Sample => {
  const samples = Array.from({ length: repeats }, () => run(mode));
  return samples.sort((a, b) => a.ms - b.ms)[0] as Sample;
};
const rebirth = best('rebirth');
const ort = best('ort');
const size = rebirth.fileBytes;
console.log(`file: ${file} (${formatBytes(size)}), best of ${repeats} fresh processes each`);
console.log(formatTable(['operation', 'time ms', 'peak RSS', 'peak / file', 'RSS over node baseline / file'], [
  ['rebirth load + save', rebirth.ms.toFixed(0), formatBytes(rebirth.peakBytes), (rebirth.peakBytes / size).toFixed(2), ((rebirth.peakBytes - rebirth.baselineBytes) / size).toFixed(2)],
  ['onnxruntime-node session create', ort.ms.toFixed(0), formatBytes(ort.peakBytes), (ort.peakBytes / size).toFixed(2), ((ort.peakBytes - ort.baselineBytes) / size).toFixed(2)],
]));
console.log(`ratio rebirth/ORT: time ${(rebirth.ms / ort.ms).toFixed(2)}x, peak memory ${(rebirth.peakBytes / ort.peakBytes).toFixed(2)}x`);
console.log(`target peak < 2x file size: ${rebirth.peakBytes < 2 * size ? 'met' : 'MISSED'} (${(rebirth.peakBytes / size).toFixed(2)}x)`);
fs.rmSync(dir, { recursive: true, force: true });
bench.finish({ file: positionals[0] ?? `zoo ${values.zoo}`, fileBytes: size, repeats, rebirth, ort, timeRatio: rebirth.ms / ort.ms, memoryRatio: rebirth.peakBytes / ort.peakBytes });
