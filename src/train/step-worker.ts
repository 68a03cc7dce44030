/**
 * A training replica (src/train/step-runner.ts): one ONNX Runtime session of the training graph in a
 * worker thread, running the steps it is sent on its share of each batch. The session's outputs go
 * back transferred (no copy); a failure goes back as a message, so the trainer can name it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Session, type HostTensor } from '../runtime/session.js';

export interface ReplicaInit {
  model: Uint8Array;
  threads: number;
}

export interface ReplicaRequest {
  id: number;
  feeds: Record<string, HostTensor>;
  fetch: string[];
}

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

async function answer(session: Session, req: ReplicaRequest): Promise<ReplicaResponse> {
  try {
    return { id: req.id, ok: true, outputs: await session.run(req.feeds, req.fetch) };
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
