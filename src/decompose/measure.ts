import { performance } from 'node:perf_hooks';
import type { Model, Node } from '../ir/graph.js';
import type { Tensor } from '../ir/tensor.js';
import { emptyGraph, modelOf, tensorValue } from '../ir/builder.js';
import { encodeModel } from '../onnx/encode.js';
import { Session, type Backend, type HostTensor } from '../runtime/session.js';
import { decideFaster, type DecideOptions, type FasterDecision } from '../runtime/decide.js';
import { Random } from '../util/random.js';

/**
 * Latency of one layer before and after decomposition, each as its own small model (the layer's input
 * as the graph input, its nodes and weights), on one ORT backend with all graph optimizations and one
 * thread. Sessions are timed round-robin (one run of each per round) so that load from other processes
 * on the machine hits all of them alike.
 *
 * Decisions use the fastest run, not the median: on a loaded machine (measured here: load 9 on 2 cores)
 * the wasm backend's runs of one model spread from 2 to 125 ms as the process is preempted mid-run, so
 * more than half the runs can be perturbed and the median compares noise; nothing makes a run faster
 * than the work it does, so the minimum estimates the uncontended time. The median is kept for reports.
 */

export interface MeasureOptions {
  backend: Backend;
  /** Timed rounds (default 25). */
  runs?: number;
  /** Untimed rounds first (default 3): the first runs include weight prepacking. */
  warmup?: number;
}

export interface LayerModelSpec {
  input: { name: string; shape: number[] };
  output: string;
  nodes: Node[];
  initializers: Tensor[];
  opset: number;
}

export function layerModel(spec: LayerModelSpec): Model {
  const g = emptyGraph('tucker_layer');
  g.inputs.push(tensorValue(spec.input.name, spec.input.shape));
  g.outputs.push(tensorValue(spec.output, undefined));
  for (const t of spec.initializers) g.initializers.set(t.name, t);
  g.nodes.push(...spec.nodes);
  return modelOf(g, spec.opset);
}

export interface Latency {
  /** Fastest run, ms. */
  min: number;
  /** Median run, ms. */
  median: number;
}

/**
 * Keep or leave one decomposed layer: is `after` faster than `before` on the backend? The shared
 * decision rule (decideFaster, src/runtime/decide.ts: paired interleaved rounds, a distribution-free interval
 * of the paired speed-up that must clear a third of minGain, CPU time when load contaminates the wall clock, adaptive
 * rounds up to a cap) instead of comparing two minima with a fixed margin: the minimum of one model's
 * runs is itself noisy (it is an extreme), and a 3% margin on it kept or left layers near the threshold
 * at random from one run to the next (docs/tucker.md, Limits).
 */
export async function decideLayer(before: Model, after: Model, inputShape: number[], options: Omit<MeasureOptions, 'runs'> & DecideOptions): Promise<FasterDecision> {
  return decideFaster(encodeModel(before), encodeModel(after), {
    ...options, backend: options.backend, threads: 1, optLevel: 'all', feeds: { [before.graph.inputs[0]?.name ?? 'x']: { type: 'float32', dims: inputShape, data: layerInput(inputShape) } },
  });
}

function layerInput(inputShape: number[]): Float32Array {
  const n = inputShape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  const rng = new Random(7);
  for (let i = 0; i < n; i++) data[i] = rng.nextFloat() * 2 - 1;
  return data;
}

/** Latency of each model on the same random input, timed round-robin. */
export async function measureLatencies(models: Model[], inputShape: number[], options: MeasureOptions): Promise<Latency[]> {
  const runs = options.runs ?? 25;
  const warmup = options.warmup ?? 3;
  const sessions: Session[] = [];
  try {
    for (const m of models) sessions.push(await Session.create(encodeModel(m), { backend: options.backend, threads: 1, optLevel: 'all' }));
    const data = layerInput(inputShape);
    const times: number[][] = models.map(() => []);
    for (let round = 0; round < warmup + runs; round++) {
      for (let k = 0; k < sessions.length; k++) {
        const s = sessions[k] as Session;
        const feeds: Record<string, HostTensor> = { [s.inputNames[0] as string]: { type: 'float32', dims: inputShape, data } };
        const t0 = performance.now();
        await s.run(feeds);
        if (round >= warmup) (times[k] as number[]).push(performance.now() - t0);
      }
    }
    return times.map((t) => ({ min: Math.min(...t), median: median(t) }));
  } finally {
    for (const s of sessions) await s.release();
  }
}

function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
}
