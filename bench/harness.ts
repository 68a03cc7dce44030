/**
 * What every benchmark shares: the machine it ran on, the load guard, paired-ratio spreads, and the
 * machine-readable result (`--json FILE`) that `npm run figures` (bench/figures/) turns into the tables
 * of README.md and docs/.
 *
 * The load guard. A ratio measured while other processes compete for the cores can be off by more than
 * the effect it reports (docs/figures.md: "training 8.1x PyTorch" was one). So each bench prints, and
 * records:
 * - the load average before and after (what CONTRIBUTING.md asks a figure to state);
 * - how many cores other processes used during the run, from /proc/stat's busy ticks minus this
 *   process's own (and its children's) ticks: the load average counts the bench itself and lags by a
 *   minute, this does neither;
 * - for each ratio it reports, its 95% interval: over paired rounds the distribution-free interval of
 *   the median (pairedInterval, src/runtime/decide.ts), over two independent samples a bootstrap.
 * It warns when the machine was busy (load average above `--max-load` at the start, or others using
 * more than `--max-load` cores during the run) or an interval is too wide for its ratio (wider than
 * `--max-spread`, or straddling 1 while the ratio claims a gain or loss of more than 2%). With
 * `--strict` a warning is a refusal: the bench exits with code 3 and writes no JSON, so the figures
 * runner keeps the old table.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { pairedInterval } from '../src/runtime/decide.js';
import { Random } from '../src/util/random.js';

/** parseArgs options every bench accepts; spread them into the bench's own. */
export const GUARD_OPTIONS = {
  json: { type: 'string' },
  strict: { type: 'boolean', default: false },
  'max-load': { type: 'string', default: '0.5' },
  'max-spread': { type: 'string', default: '0.1' },
} as const;

export interface GuardFlags {
  json?: string | undefined;
  strict?: boolean | undefined;
  'max-load'?: string | undefined;
  'max-spread'?: string | undefined;
}

export interface Machine {
  cpu: string;
  cores: number;
  os: string;
  node: string;
  ort: { node: string; web: string };
}

export function machine(): Machine {
  const require = createRequire(import.meta.url);
  // onnxruntime-web's exports map hides its package.json from require, so walk up from its entry point.
  const version = (pkg: string): string => {
    try {
      for (let dir = path.dirname(require.resolve(pkg)); dir !== path.dirname(dir); dir = path.dirname(dir)) {
        const file = path.join(dir, 'package.json');
        if (!fs.existsSync(file)) continue;
        const json = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (json.name === pkg) return json.version ?? 'unknown';
      }
    } catch {
      // Not installed: reported as unknown.
    }
    return 'unknown';
  };
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown', cores: os.availableParallelism?.() ?? cpus.length, os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version, ort: { node: version('onnxruntime-node'), web: version('onnxruntime-web') },
  };
}

export type LoadAverage = [number, number, number];

export function loadAverage(): LoadAverage {
  const [a = NaN, b = NaN, c = NaN] = os.loadavg();
  return [a, b, c];
}

export interface CpuSnapshot {
  /** Busy and total ticks over all cores (/proc/stat; steal counts as busy: another guest had the core). */
  busy: number;
  total: number;
  /** This process's user + system ticks, plus those of its waited-for children (/proc/self/stat). */
  own: number;
}

export function cpuSnapshot(): CpuSnapshot | undefined {
  try {
    const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
    // user nice system idle iowait irq softirq steal ...
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = cpu;
    const self = fs.readFileSync('/proc/self/stat', 'utf8');
    // Fields after the parenthesised command name; utime is field 14, stime 15, cutime 16, cstime 17.
    const f = self.slice(self.lastIndexOf(')') + 2).split(' ').map(Number);
    const own = (f[11] ?? 0) + (f[12] ?? 0) + (f[13] ?? 0) + (f[14] ?? 0);
    const busy = user + nice + system + irq + softirq + steal;
    return { busy, total: busy + idle + iowait, own };
  } catch {
    return undefined;
  }
}

/** Cores used on average by processes other than this one and its children between two snapshots. */
export function otherCores(a: CpuSnapshot | undefined, b: CpuSnapshot | undefined): number | null {
  if (!a || !b || b.total <= a.total) return null;
  const busy = (b.busy - a.busy) - (b.own - a.own);
  return Math.max(0, (busy / (b.total - a.total)) * machine().cores);
}

export interface RatioRecord {
  label: string;
  ratio: number;
  /** 95% interval (pairedInterval for paired rounds, unpairedInterval otherwise). */
  interval: [number, number];
  rounds: number;
  /** Paired (interleaved rounds) or two independent samples. */
  paired: boolean;
  tooWide: boolean;
}

export interface BenchRecord<R> {
  bench: string;
  argv: string[];
  started: string;
  finished: string;
  seconds: number;
  machine: Machine;
  load: { before: LoadAverage; after: LoadAverage; otherCores: number | null; maxLoad: number; busy: boolean };
  ratios: RatioRecord[];
  warnings: string[];
  results: R;
}

/**
 * Speed-up of b over a from two independent samples of per-run times (runs that cannot be
 * interleaved, e.g. two processes): ratio of means, 95% percentile-bootstrap interval resampling each
 * side on its own. Means, not midmeans: these are throughputs (total images over total time).
 */
export function unpairedInterval(a: readonly number[], b: readonly number[], resamples = 2000, seed = 0): { ratio: number; interval: [number, number] } {
  const mean = (v: ArrayLike<number>): number => {
    let s = 0;
    for (let i = 0; i < v.length; i++) s += v[i] as number;
    return s / v.length;
  };
  const rng = new Random(seed);
  const draw = (v: readonly number[]): number => {
    let s = 0;
    for (let i = 0; i < v.length; i++) s += v[rng.nextInt(v.length)] as number;
    return s / v.length;
  };
  const boot = Array.from({ length: resamples }, () => draw(a) / draw(b)).sort((x, y) => x - y);
  return { ratio: mean(a) / mean(b), interval: [boot[Math.floor(0.025 * resamples)] as number, boot[Math.ceil(0.975 * resamples) - 1] as number] };
}

export class Bench {
  readonly name: string;
  private readonly flags: { json: string | undefined; strict: boolean; maxLoad: number; maxSpread: number };
  private readonly started = new Date();
  private readonly t0 = performance.now();
  private readonly before: LoadAverage;
  private readonly cpu0: CpuSnapshot | undefined;
  private readonly ratios: RatioRecord[] = [];
  private readonly warnings: string[] = [];

  private constructor(name: string, flags: GuardFlags) {
    this.name = name;
    this.flags = { json: flags.json, strict: flags.strict ?? false, maxLoad: Number(flags['max-load'] ?? 0.5), maxSpread: Number(flags['max-spread'] ?? 0.1) };
    this.before = loadAverage();
    this.cpu0 = cpuSnapshot();
  }

  /** Starts the guard; with --strict on a busy machine, refuses before any work (exit code 3). */
  static start(name: string, flags: GuardFlags): Bench {
    const b = new Bench(name, flags);
    const m = machine();
    process.stderr.write(`${name}: ${m.cpu}, ${m.cores} cores, onnxruntime-node ${m.ort.node}, onnxruntime-web ${m.ort.web}, Node ${m.node}; load average before ${fmtLoad(b.before)}\n`);
    if (b.before[0] > b.flags.maxLoad) {
      b.warn(`machine busy at the start: load average ${b.before[0].toFixed(2)} > ${b.flags.maxLoad} (--max-load)`);
      if (b.flags.strict) b.refuse();
    }
    return b;
  }

  warn(message: string): void {
    this.warnings.push(message);
    process.stderr.write(`WARNING ${this.name}: ${message}\n`);
  }

  /**
   * Records a reported speed-up of b over a (a_i / b_i per round, times in any unit) with its 95%
   * interval, and warns when the interval is too wide for it.
   */
  ratio(label: string, a: readonly number[], b: readonly number[], options: { paired?: boolean } = {}): RatioRecord {
    const paired = options.paired ?? true;
    const rounds = Math.min(a.length, b.length);
    if (rounds < 3) {
      const ratio = rounds > 0 ? a.slice(0, rounds).reduce((x, y) => x + y, 0) / b.slice(0, rounds).reduce((x, y) => x + y, 0) : NaN;
      const rec: RatioRecord = { label, ratio, interval: [NaN, NaN], rounds, paired, tooWide: true };
      this.ratios.push(rec);
      this.warn(`${label}: ${ratio.toFixed(3)}x from ${rounds} round(s): too few for an interval (at least 3)`);
      return rec;
    }
    const r = paired ? pairedInterval(a, b, { confidence: 0.95 }) : unpairedInterval(a, b);
    const [lo, hi] = r.interval;
    const wide = hi / lo - 1 > this.flags.maxSpread;
    const unsettled = lo <= 1 && hi >= 1 && Math.abs(r.ratio - 1) > 0.02;
    const rec: RatioRecord = { label, ratio: r.ratio, interval: r.interval, rounds, paired, tooWide: wide || unsettled };
    this.ratios.push(rec);
    if (rec.tooWide) {
      this.warn(`${label}: ${r.ratio.toFixed(3)}x has a 95% interval ${lo.toFixed(3)}-${hi.toFixed(3)} over ${rec.rounds} ${paired ? 'paired rounds' : 'runs each'}: ` +
        `${unsettled ? 'it includes 1, so the direction is not established' : `wider than ${(100 * this.flags.maxSpread).toFixed(0)}% (--max-spread)`}`);
    }
    return rec;
  }

  /** Prints the guard's summary, writes the JSON record, and with --strict refuses on any warning. */
  finish<R>(results: R): BenchRecord<R> {
    const after = loadAverage();
    const cpu1 = cpuSnapshot();
    const others = otherCores(this.cpu0, cpu1);
    if (others !== null && others > this.flags.maxLoad) {
      this.warn(`machine busy during the run: other processes used ${others.toFixed(2)} of ${machine().cores} cores on average (> ${this.flags.maxLoad}, --max-load)`);
    }
    const record: BenchRecord<R> = {
      bench: this.name, argv: process.argv.slice(2), started: this.started.toISOString(), finished: new Date().toISOString(),
      seconds: (performance.now() - this.t0) / 1000, machine: machine(),
      load: { before: this.before, after, otherCores: others, maxLoad: this.flags.maxLoad, busy: this.warnings.some((w) => w.startsWith('machine busy')) },
      ratios: this.ratios, warnings: this.warnings, results,
    };
    const spreads = this.ratios.map((r) => `${r.label} ${r.ratio.toFixed(3)}x [${r.interval[0].toFixed(3)}-${r.interval[1].toFixed(3)}]`).join('; ');
    process.stderr.write(`load guard (${this.name}): load average before ${fmtLoad(this.before)}, after ${fmtLoad(after)}; ` +
      `other processes used ${others === null ? 'an unknown number of' : others.toFixed(2)} cores during the run` +
      `${spreads ? `; 95% intervals: ${spreads}` : ''}; ${this.warnings.length === 0 ? 'quiet' : `${this.warnings.length} warning(s)`}\n`);
    if (this.flags.strict && this.warnings.length > 0) this.refuse();
    if (this.flags.json) {
      fs.mkdirSync(path.dirname(path.resolve(this.flags.json)), { recursive: true });
      const tmp = `${this.flags.json}.tmp-${process.pid}`;
      fs.writeFileSync(tmp, `${JSON.stringify(record, null, 1)}\n`);
      fs.renameSync(tmp, this.flags.json);
    }
    return record;
  }

  private refuse(): never {
    process.stderr.write(`${this.name}: refusing to report figures (--strict): ${this.warnings.join('; ')}\n`);
    process.exit(3);
  }
}

export function fmtLoad(l: LoadAverage): string {
  return l.map((v) => v.toFixed(2)).join(' ');
}
