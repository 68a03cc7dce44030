/**
 * A training replica (src/train/step-runner.ts): one ONNX Runtime session of the training graph in a
 * worker thread, running the steps it is sent on its share of each batch. The inputs every replica gets
 * whole (the parameters) arrive through shared memory (SharedInputs below), the per-example ones in the
 * message; the session's outputs go back transferred (no copy); a failure goes back as a message, so the
 * trainer can name it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Session, type HostTensor } from '../runtime/session.js';
import { typedArray } from '../ir/dtypes.js';

export interface ReplicaInit {
  model: Uint8Array;
  threads: number;
}

export interface ReplicaRequest {
  id: number;
  /** The per-example inputs (this replica's rows) and the seed; the shared ones come from `shared`. */
  feeds: Record<string, HostTensor>;
  fetch: string[];
  /** Sent with the first step and whenever the shared inputs' names, types or shapes change. */
  shared?: SharedInputs;
}

/**
 * The inputs every replica gets whole, in one SharedArrayBuffer the runner rewrites before each step.
 * Why not the message: a step's parameters (1 MB for googlenet-mini) posted to each replica were cloned
 * into fresh buffers every step: the split step cost 15.9 ms more than one replica's share alone, 6.7
 * ms after this change (bench/replica-overhead.ts; docs/training.md, "Parameters through shared memory").
 * Why a copy on this side: onnxruntime-node refuses a tensor over a SharedArrayBuffer ("Invalid
 * argument"), so each replica copies the bytes into buffers of its own, allocated once.
 */
export interface SharedInputs {
  buffer: SharedArrayBuffer;
  entries: SharedEntry[];
}

export interface SharedEntry {
  name: string;
  type: HostTensor['type'];
  dims: number[];
  byteOffset: number;
  byteLength: number;
}

/**
 * Int32 slot 0 of the shared buffer: the step the runner last wrote the inputs for. The runner stores it
 * after writing (Atomics.store) and the replica loads it before reading (Atomics.load), which orders the
 * bytes under the JS memory model; the replica checks it names the step it was asked to run.
 */
export const SHARED_HEADER_BYTES = 8;

export type ReplicaResponse =
  | { id: number; ok: true; outputs: Record<string, HostTensor> }
  | { id: number; ok: false; message: string };

/** The first message: the session is ready (its input names), or why it could not be built. */
export type ReplicaReady = { ok: true; inputNames: string[] } | { ok: false; message: string };

const port = parentPort;
if (port) {
  const init = workerData as ReplicaInit;
  try {
    const session = await Session.create(init.model, { backend: 'node', threads: init.threads });
    // Requests are answered in order: the runner sends one step at a time to each replica.
    port.on('message', (req: ReplicaRequest) => {
      void answer(session, req).then((res) => {
        port.postMessage(res, res.ok ? transferable(res.outputs) : []);
      });
    });
    const ready: ReplicaReady = { ok: true, inputNames: [...session.inputNames] };
    port.postMessage(ready);
  } catch (e) {
    // No session, no steps: the runner stops every replica when one cannot start.
    const ready: ReplicaReady = { ok: false, message: e instanceof Error ? e.message : String(e) };
    port.postMessage(ready);
  }
}

let bound: { shared: SharedInputs; local: Record<string, HostTensor> } | undefined;

/** This replica's own copies of the shared inputs, as of step `id`. */
function sharedFeeds(req: ReplicaRequest): Record<string, HostTensor> {
  if (req.shared) bound = { shared: req.shared, local: Object.fromEntries(req.shared.entries.map((e) => [e.name, allocate(e)])) };
  if (!bound) return {};
  const { buffer, entries } = bound.shared;
  const written = Atomics.load(new Int32Array(buffer, 0, 1), 0);
  if (written !== req.id) throw new Error(`shared inputs are from step ${written}, not step ${req.id}`);
  for (const e of entries) {
    const t = bound.local[e.name] as HostTensor;
    new Uint8Array(t.data.buffer, t.data.byteOffset, e.byteLength).set(new Uint8Array(buffer, e.byteOffset, e.byteLength));
  }
  return bound.local;
}

function allocate(e: SharedEntry): HostTensor {
  const data = typedArray(e.type, e.byteLength / typedArray(e.type, 0).BYTES_PER_ELEMENT);
  return { type: e.type, dims: e.dims, data } as HostTensor;
}

async function answer(session: Session, req: ReplicaRequest): Promise<ReplicaResponse> {
  try {
    return { id: req.id, ok: true, outputs: await session.run({ ...sharedFeeds(req), ...req.feeds }, req.fetch) };
  } catch (e) {
    return { id: req.id, ok: false, message: e instanceof Error ? e.message : String(e) };
  }
}

/** Buffers that can move without a copy: each output's own, whole buffer (a view into a shared one is copied). */
function transferable(outputs: Record<string, HostTensor>): ArrayBuffer[] {
  const seen = new Map<ArrayBufferLike, number>();
  for (const t of Object.values(outputs)) seen.set(t.data.buffer, (seen.get(t.data.buffer) ?? 0) + 1);
  return Object.values(outputs)
    .filter((t) => seen.get(t.data.buffer) === 1 && t.data.byteOffset === 0 && t.data.byteLength === t.data.buffer.byteLength && t.data.buffer instanceof ArrayBuffer)
    .map((t) => t.data.buffer as ArrayBuffer);
}
