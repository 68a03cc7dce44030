/**
 * NetBuilder: Caffe-style layer calls over GraphBuilder for the zoo. Each call adds one ONNX node named
 * after the Caffe layer, whose output value carries the same name (a Caffe "top"), creates the layer's
 * seeded parameters, and tracks the per-sample output shape so that sizes are checked as the network is
 * written and can be recorded in graph.valueInfo.
 */
import type { Model, Node } from '../ir/graph.js';
import { GraphBuilder, modelOf, tensorValue } from '../ir/builder.js';
import { makeAttr, type AttrInput } from '../ir/attributes.js';
import { floatTensor } from '../ir/tensor.js';
import { RebirthError } from '../errors.js';
import { windowOutput } from '../ops/dims.js';
import { fillNormal, fillUniform, heNormal, paramRandom, xavierUniform } from './init.js';
import type { ResolvedZooOptions } from './options.js';

/** The zoo writes opset 13: Dropout takes its ratio as an input, Softmax defaults to axis -1. */
export const ZOO_OPSET = 13;

/** 'he' for a conv whose output goes through a ReLU (possibly after a BatchNorm), 'xavier' otherwise. */
export type ConvInit = 'he' | 'xavier';

export interface ConvSpec {
  out: number;
  kernel: number;
  stride?: number;
  pad?: number;
  group?: number;
  /** Default true; ResNet convs have none (the BatchNorm after them carries the shift). */
  bias?: boolean;
  init: ConvInit;
}

export interface PoolSpec {
  kernel: number;
  stride: number;
  pad?: number;
  /** Caffe rounds pooling output sizes up; ONNX does so with ceil_mode=1. */
  ceil?: boolean;
}

/** Caffe's (and BVLC's) cross-channel LRN: x / (1 + alpha/size * sum of x^2 over 5 channels)^0.75. */
export const CAFFE_LRN = { size: 5, alpha: 1e-4, beta: 0.75, bias: 1 } as const;

/**
 * Spatial output size of a conv or pool window sweep with symmetric padding: the shape engine's rule
 * (src/ops/dims.ts), which drops a last ceil-mode window that would start in the right padding as Caffe,
 * PyTorch and ONNX Runtime do.
 */
export function windowOutputSize(input: number, kernel: number, stride: number, pad: number, ceil: boolean): number {
  return windowOutput(input, kernel, stride, 1, pad, pad, ceil);
}

export class NetBuilder {
  readonly builder: GraphBuilder;
  /** Per-sample shape (no batch dim) of every value written so far. */
  private readonly shapes = new Map<string, number[]>();

  constructor(readonly modelName: string, readonly options: ResolvedZooOptions) {
    this.builder = new GraphBuilder(modelName);
  }

  input(name: string, sampleShape: number[]): string {
    this.builder.input(name, [this.options.batch, ...sampleShape]);
    this.shapes.set(name, [...sampleShape]);
    return name;
  }

  shapeOf(value: string): number[] {
    const shape = this.shapes.get(value);
    if (!shape) throw new RebirthError(`zoo model '${this.modelName}': no value named '${value}'`);
    return [...shape];
  }

  channels(value: string): number {
    return this.shapeOf(value)[0] ?? 0;
  }

  conv(name: string, x: string, spec: ConvSpec): string {
    const [cin, h, w] = this.spatial(name, x);
    const { out, kernel, stride = 1, pad = 0, group = 1, bias = true } = spec;
    if (cin % group !== 0 || out % group !== 0) {
      throw new RebirthError(`zoo layer '${name}': group ${group} must divide input channels ${cin} and outputs ${out}`);
    }
    const dims = [out, cin / group, kernel, kernel];
    const rng = paramRandom(this.options.seed, `${name}_w`);
    const inputs = [this.param(`${name}_w`, dims, spec.init === 'he' ? heNormal(rng, dims) : xavierUniform(rng, dims))];
    if (bias) inputs.push(this.param(`${name}_b`, [out], new Float32Array(out)));
    const attrs: Record<string, AttrInput> = {
      kernel_shape: [kernel, kernel],
      strides: [stride, stride],
      pads: [pad, pad, pad, pad],
    };
    if (group !== 1) attrs.group = group;
    const shape = [out, windowOutputSize(h, kernel, stride, pad, false), windowOutputSize(w, kernel, stride, pad, false)];
    return this.emit('Conv', name, [x, ...inputs], attrs, shape);
  }

  /** Inference-mode BatchNormalization, epsilon 1e-5 as in PyTorch. */
  batchNorm(name: string, x: string): string {
    const c = this.channels(x);
    const random = this.options.bnStats === 'random';
    const draw = (suffix: string, fill: (rng: ReturnType<typeof paramRandom>, out: Float32Array) => Float32Array, identity: number): string => {
      const values = random ? fill(paramRandom(this.options.seed, `${name}_${suffix}`), new Float32Array(c)) : new Float32Array(c).fill(identity);
      return this.param(`${name}_${suffix}`, [c], values);
    };
    // Random statistics stay in ranges a trained network shows: scales near 1, small shifts, var > 0.
    const scale = draw('scale', (r, o) => fillUniform(r, o, 0.5, 1.5), 1);
    const shift = draw('bias', (r, o) => fillNormal(r, o, 0, 0.1), 0);
    const mean = draw('mean', (r, o) => fillNormal(r, o, 0, 0.1), 0);
    const variance = draw('var', (r, o) => fillUniform(r, o, 0.5, 1.5), 1);
    return this.emit('BatchNormalization', name, [x, scale, shift, mean, variance], { epsilon: { float: 1e-5 } }, this.shapeOf(x));
  }

  relu(name: string, x: string): string {
    return this.emit('Relu', name, [x], {}, this.shapeOf(x));
  }

  /**
   * ReLU6 = min(max(x, 0), 6), as MobileNetV2 uses it: opset-13 Clip with scalar (rank-0) min and max
   * inputs, which trainers leave frozen (they are not weights).
   */
  relu6(name: string, x: string): string {
    const low = this.param(`${name}_min`, [], Float32Array.of(0));
    const high = this.param(`${name}_max`, [], Float32Array.of(6));
    return this.emit('Clip', name, [x, low, high], {}, this.shapeOf(x));
  }

  lrn(name: string, x: string): string {
    const { size, alpha, beta, bias } = CAFFE_LRN;
    const attrs = { size, alpha: { float: alpha }, beta: { float: beta }, bias: { float: bias } };
    return this.emit('LRN', name, [x], attrs, this.shapeOf(x));
  }

  maxPool(name: string, x: string, spec: PoolSpec): string {
    return this.pool('MaxPool', name, x, spec);
  }

  averagePool(name: string, x: string, spec: PoolSpec): string {
    return this.pool('AveragePool', name, x, spec);
  }

  globalAveragePool(name: string, x: string): string {
    const [c] = this.spatial(name, x);
    return this.emit('GlobalAveragePool', name, [x], {}, [c, 1, 1]);
  }

  /** Opset 13 Dropout: the ratio is an input; training_mode is left out (false), so inference is identity. */
  dropout(name: string, x: string, ratio: number): string {
    const ratioName = this.param(`${name}_ratio`, [], Float32Array.of(ratio));
    return this.emit('Dropout', name, [x, ratioName], {}, this.shapeOf(x));
  }

  flatten(name: string, x: string): string {
    const size = this.shapeOf(x).reduce((a, b) => a * b, 1);
    return this.emit('Flatten', name, [x], { axis: 1 }, [size]);
  }

  /** Fully connected layer (Caffe InnerProduct): Gemm with W laid out [out, in] and transB=1, Xavier init. */
  fullyConnected(name: string, x: string, out: number, outputName = name): string {
    const shape = this.shapeOf(x);
    if (shape.length !== 1) throw new RebirthError(`zoo layer '${name}': input '${x}' must be flattened first, has shape [${shape.join(',')}]`);
    const dims = [out, shape[0] ?? 0];
    const weight = this.param(`${name}_w`, dims, xavierUniform(paramRandom(this.options.seed, `${name}_w`), dims));
    const bias = this.param(`${name}_b`, [out], new Float32Array(out));
    return this.emit('Gemm', name, [x, weight, bias], { transB: 1 }, [out], outputName);
  }

  softmax(name: string, x: string): string {
    return this.emit('Softmax', name, [x], { axis: 1 }, this.shapeOf(x));
  }

  concat(name: string, xs: string[]): string {
    const shapes = xs.map((x) => this.shapeOf(x));
    const rest = (shapes[0] ?? []).slice(1).join('x');
    const bad = shapes.findIndex((s) => s.slice(1).join('x') !== rest);
    if (bad >= 0) throw new RebirthError(`zoo layer '${name}': input '${xs[bad] ?? ''}' has spatial size ${(shapes[bad] ?? []).slice(1).join('x')}, expected ${rest}`);
    const channels = shapes.reduce((sum, s) => sum + (s[0] ?? 0), 0);
    return this.emit('Concat', name, xs, { axis: 1 }, [channels, ...(shapes[0] ?? []).slice(1)]);
  }

  add(name: string, a: string, b: string): string {
    const shape = this.shapeOf(a);
    if (shape.join('x') !== this.shapeOf(b).join('x')) {
      throw new RebirthError(`zoo layer '${name}': cannot add '${a}' [${shape.join(',')}] and '${b}' [${this.shapeOf(b).join(',')}]`);
    }
    return this.emit('Add', name, [a, b], {}, shape);
  }

  /** (x - mean) / std with scalar constants, so the graph takes raw [0, 1] pixels. */
  standardize(name: string, x: string, mean: number, std: number): string {
    const meanName = this.param(`${name}_mean`, [], Float32Array.of(mean));
    const stdName = this.param(`${name}_std`, [], Float32Array.of(std));
    const centred = this.emit('Sub', `${name}/sub_mean`, [x, meanName], {}, this.shapeOf(x));
    return this.emit('Div', `${name}/div_std`, [centred, stdName], {}, this.shapeOf(x));
  }

  /** Close the graph with `output` as its only output and wrap it in an opset-13 model. */
  finish(output: string, docString: string): Model {
    const graph = this.builder.graph;
    const batch = this.options.batch;
    graph.outputs.push(tensorValue(output, [batch, ...this.shapeOf(output)]));
    if (this.options.valueInfo) {
      const boundary = new Set([...graph.inputs, ...graph.outputs].map((v) => v.name));
      for (const node of graph.nodes) {
        for (const o of node.outputs) if (!boundary.has(o)) graph.valueInfo.push(tensorValue(o, [batch, ...this.shapeOf(o)]));
      }
    }
    graph.docString = docString;
    const model = modelOf(graph, ZOO_OPSET);
    model.docString = docString;
    model.metadata = [
      { key: 'rebirth.zoo.model', value: this.modelName },
      { key: 'rebirth.zoo.seed', value: String(this.options.seed) },
      { key: 'rebirth.zoo.bn_stats', value: this.options.bnStats },
    ];
    return model;
  }

  private pool(opType: 'MaxPool' | 'AveragePool', name: string, x: string, spec: PoolSpec): string {
    const [c, h, w] = this.spatial(name, x);
    const { kernel, stride, pad = 0, ceil = false } = spec;
    const attrs: Record<string, AttrInput> = {
      kernel_shape: [kernel, kernel],
      strides: [stride, stride],
      pads: [pad, pad, pad, pad],
    };
    if (ceil) attrs.ceil_mode = 1;
    const shape = [c, windowOutputSize(h, kernel, stride, pad, ceil), windowOutputSize(w, kernel, stride, pad, ceil)];
    return this.emit(opType, name, [x], attrs, shape);
  }

  private spatial(name: string, x: string): [number, number, number] {
    const shape = this.shapeOf(x);
    if (shape.length !== 3) throw new RebirthError(`zoo layer '${name}': input '${x}' must be CxHxW, has shape [${shape.join(',')}]`);
    return shape as [number, number, number];
  }

  private param(name: string, dims: number[], values: Float32Array): string {
    return this.builder.initializer(floatTensor(name, dims, values));
  }

  /** One node named `name` whose single output is the value `outputName` (by default the layer name too). */
  private emit(
    opType: string, name: string, inputs: string[], attrs: Record<string, AttrInput>, shape: number[], outputName = name,
  ): string {
    const names = this.builder.names;
    if (names.fresh(name) !== name || (outputName !== name && names.fresh(outputName) !== outputName)) {
      throw new RebirthError(`zoo model '${this.modelName}': layer name '${name}' or value '${outputName}' is used twice`);
    }
    const node: Node = {
      name, opType, domain: '', inputs, outputs: [outputName], docString: '',
      attributes: Object.entries(attrs).map(([key, value]) => makeAttr(key, value)),
    };
    this.builder.graph.nodes.push(node);
    this.shapes.set(outputName, shape);
    return outputName;
  }
}
