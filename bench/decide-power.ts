/**
 * What the keep/leave rule (decideAdaptive, src/runtime/decide.ts) keeps, as a function of the true gain
 * and the noise of the runs: seeded synthetic paired rounds, no ONNX Runtime, so the figures are a
 * property of the rule, not of a machine (the same on any machine; bench/aa-decisions.ts measures a
 * real one). Run noise is log-normal; in the "spiky" conditions that share of runs is also preempted,
 * 1-3x longer, independently in each model, as on a loaded machine.
 * usage: npx tsx bench/decide-power.ts [--trials 300] [--json FILE]
 */
import { parseArgs } from 'node:util';
import { decideAdaptive } from '../src/runtime/decide.js';
import { Random } from '../src/util/random.js';
import { formatTable } from '../src/util/format.js';
import { Bench, GUARD_OPTIONS } from './harness.js';

const { values } = parseArgs({ options: { trials: { type: 'string', default: '300' }, ...GUARD_OPTIONS } });
const trials = Number(values.trials);
// The machine's load does not change these figures; the guard only records it.
const bench = Bench.start('decide-power', { ...values, 'max-load': '1000' });

const NOISES = [
  { label: '2%', sd: 0.02, spikes: 0 },
  { label: '10%', sd: 0.1, spikes: 0 },
  { label: '3%, 20% of runs spiky', sd: 0.03, spikes: 0.2 },
  { label: '10%, 30% of runs spiky', sd: 0.1, spikes: 0.3 },
];
const GAINS = [0, 0.05, 0.1, 0.2];

interface Cell { gain: number; keepRate: number; meanRounds: number }
const rows: Array<{ noise: string; cells: Cell[] }> = [];
for (const noise of NOISES) {
  const cells: Cell[] = [];
  for (const gain of GAINS) {
    let keeps = 0;
    let rounds = 0;
    for (let t = 0; t < trials; t++) {
      const rng = new Random(1000 + t);
      const run = (ms: number): number => ms * Math.exp(rng.normal(0, noise.sd)) * (rng.nextFloat() < noise.spikes ? 1 + 2 * rng.nextFloat() : 1);
      const d = await decideAdaptive((n) => {
        const a = Array.from({ length: n }, () => run(10));
        const b = Array.from({ length: n }, () => run(10 / (1 + gain)));
        return { wall: [a, b], cpu: [a, b] };
      }, { clock: 'wall' });
      if (d.keep) keeps++;
      rounds += d.rounds;
    }
    cells.push({ gain, keepRate: keeps / trials, meanRounds: rounds / trials });
  }
  rows.push({ noise: noise.label, cells });
}
console.log(`decideAdaptive on synthetic paired rounds, ${trials} decisions per cell: share kept (mean rounds)`);
console.log(formatTable(['run noise', ...GAINS.map((g) => (g === 0 ? 'A/A' : `${100 * g}% gain`))], rows.map((r) => [
  r.noise, ...r.cells.map((c) => `${(100 * c.keepRate).toFixed(1)}% (${c.meanRounds.toFixed(1)})`),
])));
bench.finish({ trials, gains: GAINS, rows });
