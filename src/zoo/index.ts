/** The model zoo: named network builders returning IR models with seeded random weights. */
import type { Model } from '../ir/graph.js';
import { RebirthError } from '../errors.js';
import { buildAlexNet } from './alexnet.js';
import { buildGoogLeNet, buildGoogLeNetBn, buildGoogLeNetMini } from './googlenet.js';
import type { ZooOptions } from './options.js';
import { buildResNet } from './resnet.js';

export interface ZooEntry {
  description: string;
  /** Graph input name and its per-sample shape (CxHxW); the graph adds the batch dimension in front. */
  input: { name: string; shape: readonly number[] };
  /** Graph output name: 'prob' (softmax probabilities) or 'logits'. */
  output: { name: string; kind: 'prob' | 'logits' };
  /** Default number of classes. */
  classes: number;
  build(options?: ZooOptions): Model;
}

const IMAGENET = { name: 'data', shape: Object.freeze([3, 224, 224]) } as const;
const PROB = { name: 'prob', kind: 'prob' } as const;

export const ZOO: Readonly<Record<string, ZooEntry>> = Object.freeze({
  googlenet: {
    description: 'BVLC GoogLeNet (Caffe bvlc_googlenet, no auxiliary classifiers), 3x224x224, 1000 classes, ~7.0M params',
    input: IMAGENET, output: PROB, classes: 1000, build: buildGoogLeNet,
  },
  'googlenet-bn': {
    description: 'GoogLeNet with Conv+BatchNorm+ReLU and no LRN (torchvision layout, BVLC widths), 3x224x224, 1000 classes',
    input: IMAGENET, output: PROB, classes: 1000, build: buildGoogLeNetBn,
  },
  'googlenet-mini': {
    description: 'GoogLeNet structure for Fashion-MNIST: raw [0,1] pixels 1x28x28, 10 classes, logits output, ~0.3M params',
    input: { name: 'data', shape: Object.freeze([1, 28, 28]) }, output: { name: 'logits', kind: 'logits' }, classes: 10,
    build: buildGoogLeNetMini,
  },
  alexnet: {
    description: 'BVLC AlexNet (conv-relu-norm-pool, grouped conv2/4/5), 3x227x227, 1000 classes, ~61M params',
    input: { name: 'data', shape: Object.freeze([3, 227, 227]) }, output: PROB, classes: 1000, build: buildAlexNet,
  },
  resnet50: {
    description: 'ResNet-50 (torchvision v1.5 layout, Conv+BatchNorm), 3x224x224, 1000 classes, ~25.6M params',
    input: IMAGENET, output: PROB, classes: 1000, build: (options?: ZooOptions) => buildResNet(50, options),
  },
  resnet152: {
    description: 'ResNet-152 (torchvision v1.5 layout, Conv+BatchNorm), 3x224x224, 1000 classes, ~60.2M params (240 MB)',
    input: IMAGENET, output: PROB, classes: 1000, build: (options?: ZooOptions) => buildResNet(152, options),
  },
});

export function zooModelNames(): string[] {
  return Object.keys(ZOO);
}

export function zooEntry(name: string): ZooEntry {
  const entry = Object.hasOwn(ZOO, name) ? ZOO[name] : undefined;
  if (!entry) throw new RebirthError(`unknown zoo model '${name}': choose one of ${zooModelNames().join(', ')}`);
  return entry;
}

export function buildZooModel(name: string, options: ZooOptions = {}): Model {
  return zooEntry(name).build(options);
}

export { buildAlexNet } from './alexnet.js';
export { buildGoogLeNet, buildGoogLeNetMini, GOOGLENET_INCEPTIONS, GOOGLENET_MINI_INCEPTIONS, inception, inceptionOutputs } from './googlenet.js';
export type { InceptionSpec } from './googlenet.js';
export { buildResNet, RESNET_STAGES } from './resnet.js';
export type { ResNetDepth } from './resnet.js';
export type { BnStats, ZooOptions } from './options.js';
export { countParameters, formatLayerTable, summarizeLayers, totalLayers } from './summary.js';
export type { LayerRow, LayerTotals } from './summary.js';
