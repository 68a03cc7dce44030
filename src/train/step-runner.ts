/**
 * How the trainer runs one step of its training graph.
 *
 * - One session (`replicas: 1`): ORT's intra-op threads share out each kernel.
 * - Data parallel (`replicas: R > 1`): R worker threads (src/train/step-worker.ts), each an ORT session of
 *   the same graph with threads / R intra-op threads, each running the step on its share of the batch;
 *   the runner combines their outputs into the full batch's. Why: googlenet-mini's kernels are small
 *   (a few ms each), and ORT's second intra-op thread gains little on them, while two sessions running
 *   whole steps side by side keep both cores on useful work (docs/training.md, "Data parallel").
 *
 * Combining is exact for losses that are batch means (cross-entropy, KL distillation, MSE): with shards
 * of n_k of the N examples, L = sum_k (n_k / N) L_k, so dL/dtheta = sum_k (n_k / N) dL_k/dtheta, the
 * full batch's gradient up to float summation order, as long as each example's loss depends on that
 * example alone. Training-mode BatchNormalization does not: each shard normalizes with its own batch
 * statistics (as PyTorch's DistributedDataParallel does without SyncBatchNorm), and the updated running
 * statistics are averaged over the shards. Dropout: each replica draws its masks from its own seed.
 */
import type { Worker } from 'node:worker_threads';
import { Session, type HostTensor } from '../runtime/session.js';
import { RebirthError } from '../errors.js';
import { startSiblingWorker } from '../util/worker.js';
import type { TrainingGraph } from '../autodiff/training-graph.js';
import { SHARED_HEADER_BYTES, type ReplicaInit, type ReplicaReady, type ReplicaRequest, type ReplicaResponse, type SharedInputs } from './step-worker.js';

export interface StepRunner {
  readonly inputNames: readonly string[];
  /** One step on a batch of `batchSize` examples: the outputs `layout` names (every output with one session). */
  run(feeds: Record<string, HostTensor>, batchSize: number): Promise<Record<string, HostTensor>>;
  release(): Promise<void>;
}

/** What the data-parallel runner needs to know about the graph's inputs and outputs. */
export interface StepLayout {
  /** Inputs that are the same for every example (parameters, running statistics): sent whole to every replica. */
  shared: ReadonlySet<string>;
  /** int64 scalar input seeding the dropout masks: replica k adds k (so the shards' masks differ). */
  seedInput?: string;
  /** Outputs that are batch means (the loss, gradients, running statistics): averaged, weighted by shard size. */
  means: readonly string[];
  /** Outputs with one row per example (logits): concatenated in batch order. */
  rows: readonly string[];
}

/**
 * The layout of a training graph built by src/autodiff: parameters and running statistics shared; the
 * loss, gradients and updated running statistics batch means; the logits one row per example.
 */
export function stepLayout(tg: TrainingGraph): StepLayout {
  return {
    shared: new Set([...tg.paramInputs, ...tg.stateInputs]),
    ...(tg.seedName ? { seedInput: tg.seedName } : {}),
    means: [tg.lossOutput, ...Object.values(tg.gradOutputs), ...Object.values(tg.extraOutputs)],
    rows: [tg.logitsOutput],
  };
}

export interface StepRunnerOptions {
  /** Total intra-op threads (default 2); with replicas, each gets max(1, floor(threads / replicas)). */
  threads?: number;
  /** Worker threads splitting each batch (default 1: one session in this thread). */
  replicas?: number;
  layout: StepLayout;
}

export async function createStepRunner(model: Uint8Array, options: StepRunnerOptions): Promise<StepRunner> {
  const threads = options.threads ?? 2;
  const replicas = options.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1) throw new RebirthError(`replicas must be an integer >= 1, got ${replicas}: pass e.g. --replicas 2`);
  if (replicas === 1) return SessionRunner.create(model, threads);
  return ReplicaRunner.create(model, replicas, Math.max(1, Math.floor(threads / replicas)), options.layout);
}

class SessionRunner implements StepRunner {
  private constructor(private readonly session: Session) {}

  static async create(model: Uint8Array, threads: number): Promise<SessionRunner> {
    return new SessionRunner(await Session.create(model, { backend: 'node', threads }));
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  run(feeds: Record<string, HostTensor>): Promise<Record<string, HostTensor>> {
    return this.session.run(feeds);
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

interface Replica {
  worker: Worker;
  /** The step in flight, if any (one at a time per replica). */
  pending?: { id: number; resolve: (outputs: Record<string, HostTensor>) => void; reject: (e: Error) => void };
  /** Set once the worker failed or exited: every later step fails with it. */
  failed?: string;
  /** The shared inputs' buffer this replica has been sent. */
  bound?: SharedInputs;
}

class ReplicaRunner implements StepRunner {
  private nextId = 1;
  /** The shared inputs' buffer and the names, types and shapes it was laid out for. */
  private shared?: { inputs: SharedInputs; key: string };

  private constructor(private readonly replicas: Replica[], readonly inputNames: readonly string[], private readonly layout: StepLayout) {}

  static async create(model: Uint8Array, count: number, threads: number, layout: StepLayout): Promise<ReplicaRunner> {
    const init: ReplicaInit = { model, threads };
    const replicas: Replica[] = [];
    const ready: Array<Promise<ReplicaReady>> = [];
    for (let k = 0; k < count; k++) {
      const worker = startSiblingWorker(import.meta.url, 'step-worker', { workerData: init });
      const replica: Replica = { worker };
      replicas.push(replica);
      ready.push(new Promise<ReplicaReady>((resolve) => {
        worker.once('message', resolve);
        worker.once('error', (e) => resolve({ ok: false, message: e.message.split('\n')[0] ?? 'error' }));
        worker.once('exit', (code) => resolve({ ok: false, message: `exit code ${code}` }));
      }));
    }
    const answers = await Promise.all(ready);
    const bad = answers.find((a) => !a.ok);
    if (bad && !bad.ok) {
      await Promise.all(replicas.map((r) => r.worker.terminate()));
      throw new RebirthError(`data-parallel training: a replica could not start its session: ${bad.message}`);
    }
    const runner = new ReplicaRunner(replicas, answers[0]?.ok ? answers[0].inputNames : [], layout);
    replicas.forEach((r, k) => runner.listen(r, k));
    return runner;
  }

  private listen(replica: Replica, k: number): void {
    const fail = (why: string): void => {
      replica.failed ??= `replica ${k + 1} stopped (${why})`;
      const p = replica.pending;
      replica.pending = undefined;
      p?.reject(new RebirthError(`data-parallel training: ${replica.failed}`));
    };
    replica.worker.on('message', (res: ReplicaResponse) => {
      const p = replica.pending;
      if (!p || p.id !== res.id) return;
      replica.pending = undefined;
      if (res.ok) p.resolve(res.outputs);
      else p.reject(new RebirthError(`data-parallel training, replica ${k + 1} (its share of the batch): ${res.message}; with --replicas 1 the whole batch runs in one session`));
    });
    replica.worker.on('error', (e) => fail(e.message.split('\n')[0] ?? 'error'));
    replica.worker.on('exit', (code) => fail(`exit code ${code}`));
  }

  async run(feeds: Record<string, HostTensor>, batchSize: number): Promise<Record<string, HostTensor>> {
    const shards = shardSizes(batchSize, this.replicas.length);
    const fetch = [...this.layout.means, ...this.layout.rows];
    // One id per step, the same for every replica: it is also the step the shared inputs are written for.
    const id = this.nextId++;
    const shared = this.writeShared(feeds, id);
    const results = await Promise.all(shards.map((n, k) => {
      const start = shards.slice(0, k).reduce((a, b) => a + b, 0);
      const replica = this.replicas[k] as Replica;
      const rebind = replica.bound !== shared;
      replica.bound = shared;
      return this.send(replica, { id, feeds: this.shardFeeds(feeds, batchSize, start, n, k), fetch, ...(rebind ? { shared } : {}) });
    }));
    const out: Record<string, HostTensor> = {};
    for (const name of this.layout.means) out[name] = weightedMean(name, results.map((r) => r[name]), shards, batchSize);
    for (const name of this.layout.rows) out[name] = concatRows(name, results.map((r) => r[name]));
    return out;
  }

  private send(replica: Replica, req: ReplicaRequest): Promise<Record<string, HostTensor>> {
    if (replica.failed) return Promise.reject(new RebirthError(`data-parallel training: ${replica.failed}`));
    return new Promise((resolve, reject) => {
      replica.pending = { id: req.id, resolve, reject };
      replica.worker.postMessage(req);
    });
  }

  /**
   * Copies the shared inputs of this step into the shared buffer (a new one when their names, types or
   * shapes changed), then publishes the step id in its header.
   */
  private writeShared(feeds: Record<string, HostTensor>, id: number): SharedInputs | undefined {
    const names = Object.keys(feeds).filter((n) => this.layout.shared.has(n)).sort();
    if (names.length === 0) return undefined;
    const key = names.map((n) => `${n}:${feeds[n]?.type}:${feeds[n]?.dims.join('x')}`).join('|');
    if (this.shared?.key !== key) {
      let at = SHARED_HEADER_BYTES;
      const entries = names.map((name) => {
        const t = feeds[name] as HostTensor;
        const entry = { name, type: t.type, dims: [...t.dims], byteOffset: at, byteLength: t.data.byteLength };
        at += Math.ceil(t.data.byteLength / 8) * 8;
        return entry;
      });
      this.shared = { inputs: { buffer: new SharedArrayBuffer(at), entries }, key };
    }
    const { buffer, entries } = this.shared.inputs;
    for (const e of entries) {
      const t = feeds[e.name] as HostTensor;
      new Uint8Array(buffer, e.byteOffset, e.byteLength).set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
    Atomics.store(new Int32Array(buffer, 0, 1), 0, id);
    return this.shared.inputs;
  }

  private shardFeeds(feeds: Record<string, HostTensor>, batchSize: number, start: number, n: number, k: number): Record<string, HostTensor> {
    const out: Record<string, HostTensor> = {};
    for (const [name, t] of Object.entries(feeds)) {
      if (this.layout.shared.has(name)) continue;
      if (name === this.layout.seedInput) out[name] = { type: 'int64', dims: [...t.dims], data: BigInt64Array.of(BigInt(scalarOf(t)) + BigInt(k)) };
      else out[name] = sliceRows(name, t, batchSize, start, n);
    }
    return out;
  }

  async release(): Promise<void> {
    await Promise.all(this.replicas.map((r) => {
      r.failed ??= 'released';
      return r.worker.terminate();
    }));
  }
}

/** N examples over R replicas as evenly as possible (fewer replicas when N < R). */
export function shardSizes(batchSize: number, replicas: number): number[] {
  const used = Math.max(1, Math.min(replicas, batchSize));
  return Array.from({ length: used }, (_, k) => Math.floor(batchSize / used) + (k < batchSize % used ? 1 : 0));
}

function sliceRows(name: string, t: HostTensor, batchSize: number, start: number, n: number): HostTensor {
  if (t.dims[0] !== batchSize) {
    throw new RebirthError(`data-parallel training splits every per-example input by rows, but input '${name}' has shape [${t.dims.join(',')}] for a batch of ${batchSize}; train with replicas 1 (--replicas 1)`);
  }
  const row = t.dims.slice(1).reduce((a, b) => a * b, 1);
  // slice, not subarray: posting a view would copy its whole underlying buffer to every replica.
  const data = t.data.slice(start * row, (start + n) * row);
  return { type: t.type, dims: [n, ...t.dims.slice(1)], data } as HostTensor;
}

function scalarOf(t: HostTensor): bigint | number {
  const v = t.data[0];
  if (typeof v === 'bigint' || typeof v === 'number') return typeof v === 'number' ? Math.trunc(v) : v;
  throw new RebirthError('data-parallel training: the dropout seed input is empty');
}

/**
 * The shard-size-weighted mean of the replicas' values of one output, written over the first replica's
 * array: the replicas' arrays were transferred to this thread and nothing else holds them, and writing into
 * memory that is already mapped avoids a fresh 1 MB (googlenet-mini's gradients) each step, whose page
 * faults cost about as much as the sums. Each element is summed in double precision in replica order and
 * rounded once, as a Float64Array of sums converted afterwards would be.
 */
function weightedMean(name: string, parts: Array<HostTensor | undefined>, shards: readonly number[], batchSize: number): HostTensor {
  const first = parts[0];
  if (!first || (first.type !== 'float32' && first.type !== 'float64')) throw new RebirthError(`data-parallel training: output '${name}' is missing or not float`);
  const arrays = parts.map((p, k) => {
    if (!p || p.data.length !== first.data.length || p.type !== first.type) throw new RebirthError(`data-parallel training: replica ${k + 1}'s output '${name}' does not match the first's`);
    return p.data;
  });
  const weights = shards.map((n) => n / batchSize);
  const out = first.data;
  const [a, b] = arrays;
  if (arrays.length === 2 && a instanceof Float32Array && b instanceof Float32Array) {
    // The common case (two replicas) without the inner loop: 3x faster in V8 on 264K elements.
    const [wa = 0, wb = 0] = weights;
    for (let i = 0; i < a.length; i++) a[i] = wa * (a[i] as number) + wb * (b[i] as number);
    return first;
  }
  for (let i = 0; i < out.length; i++) {
    let sum = 0;
    for (let k = 0; k < arrays.length; k++) sum += (weights[k] as number) * ((arrays[k] as Float32Array | Float64Array)[i] as number);
    out[i] = sum;
  }
  return first;
}

function concatRows(name: string, parts: Array<HostTensor | undefined>): HostTensor {
  const first = parts[0];
  if (!first || first.type !== 'float32') throw new RebirthError(`data-parallel training: output '${name}' is missing or not float32`);
  const rows = parts.reduce((a, p) => a + (p?.dims[0] ?? 0), 0);
  const data = new Float32Array(parts.reduce((a, p) => a + (p?.data.length ?? 0), 0));
  let at = 0;
  for (const p of parts) {
    if (p?.type !== 'float32') throw new RebirthError(`data-parallel training: output '${name}' is not float32 in every replica`);
    data.set(p.data, at);
    at += p.data.length;
  }
  return { type: 'float32', dims: [rows, ...first.dims.slice(1)], data };
}
