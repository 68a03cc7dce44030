/**
 * A pool of decoding workers (worker_threads running src/data/decode-worker.ts). Requests go to the
 * worker with the fewest in flight; results come back as transferred Float32Arrays (no copy).
 *
 * Workers are unref'd while idle, so an idle pool never keeps the process alive, and ref'd while they
 * owe an answer, so a pending decode does (an `await` on a worker's reply with nothing else referenced
 * would otherwise let Node exit mid-run).
 */
import type { Worker } from 'node:worker_threads';
import { startSiblingWorker } from '../util/worker.js';
import * as os from 'node:os';
import type { DecodeRequest, DecodeResponse } from './decode-worker.js';
import type { ResolvedPreprocess, SampleDraw } from './preprocess.js';
import { RebirthError } from '../errors.js';

export type DecodeResult =
  | { ok: true; data: Float32Array }
  | { ok: false; kind: 'unreadable' | 'corrupt'; message: string };

interface Slot {
  worker: Worker;
  pending: Map<number, (r: DecodeResult) => void>;
}

/** Default workers: one per core (decoding runs while ORT waits on the previous batch's results). */
export function defaultWorkers(): number {
  return Math.max(1, Math.min(8, os.availableParallelism()));
}

export class DecodePool {
  private readonly slots: Array<Slot | undefined>;
  private nextId = 1;

  constructor(readonly size = defaultWorkers()) {
    if (!Number.isInteger(size) || size < 1) throw new RebirthError(`decode workers must be an integer >= 1, got ${size}: pass e.g. --workers 2`);
    this.slots = Array.from({ length: size }, () => undefined);
  }

  decode(file: string, p: ResolvedPreprocess, draw?: SampleDraw): Promise<DecodeResult> {
    let best = 0;
    for (let i = 1; i < this.slots.length; i++) {
      if ((this.slots[i]?.pending.size ?? 0) < (this.slots[best]?.pending.size ?? 0)) best = i;
    }
    const slot = this.slots[best] ?? this.spawn(best);
    const id = this.nextId++;
    return new Promise<DecodeResult>((resolve) => {
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(id, resolve);
      const req: DecodeRequest = { id, file, p, ...(draw ? { draw } : {}) };
      slot.worker.postMessage(req);
    });
  }

  /**
   * Start every worker now. Loading a worker (sharp, libvips, under tsx also the TypeScript loader)
   * takes about a second; a source calls this when it is opened, so the workers are ready by the time
   * the trainer, after building its session, asks for the first batch.
   */
  warm(): void {
    for (let i = 0; i < this.slots.length; i++) if (!this.slots[i]) this.spawn(i);
  }

  /** Stop every worker (pending requests fail as unreadable with the reason). */
  async close(): Promise<void> {
    const workers = this.slots.map((s) => s?.worker).filter((w): w is Worker => w !== undefined);
    this.slots.fill(undefined);
    await Promise.all(workers.map((w) => w.terminate()));
  }

  private spawn(index: number): Slot {
    const worker = startSiblingWorker(import.meta.url, 'decode-worker');
    const slot: Slot = { worker, pending: new Map() };
    this.slots[index] = slot;
    worker.unref();
    worker.on('message', (res: DecodeResponse) => {
      const done = slot.pending.get(res.id);
      slot.pending.delete(res.id);
      if (slot.pending.size === 0) worker.unref();
      done?.(res.ok ? { ok: true, data: res.data } : { ok: false, kind: res.kind, message: res.message });
    });
    const fail = (why: string): void => {
      if (this.slots[index] === slot) this.slots[index] = undefined;
      for (const done of slot.pending.values()) done({ ok: false, kind: 'unreadable', message: `the decoding worker stopped (${why})` });
      slot.pending.clear();
    };
    worker.on('error', (e) => fail(e.message.split('\n')[0] ?? 'error'));
    worker.on('exit', (code) => fail(`exit code ${code}`));
    return slot;
  }
}


const shared = new Map<number, DecodePool>();

/** One pool per process and size: sources opened one after another reuse the same idle workers. */
export function sharedPool(size = defaultWorkers()): DecodePool {
  let pool = shared.get(size);
  if (!pool) {
    pool = new DecodePool(size);
    shared.set(size, pool);
  }
  return pool;
}
