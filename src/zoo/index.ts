/** The model zoo: named network builders returning IR models with seeded random weights. */
import type { Model } from '../ir/graph.js';
import { RebirthError } from '../errors.js';
import { buildAlexNet } from './alexnet.js';
import { buildGoogLeNet, buildGoogLeNetBn, buildGoogLeNetMini } from './googlenet.js';
import type { ZooOptions } from './options.js';
import { buildResNet } from './resnet.js';
import { buildBasicResNet } from './resnet18.js';
import { buildResNetMini } from './resnet-mini.js';
import { buildMobileNetV2, buildMobileNetV2Mini } from './mobilenet-v2.js';

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
const MINI_INPUT = { name: 'data', shape: Object.freeze([1, 28, 28]) } as const;
const LOGITS = { name: 'logits', kind: 'logits' } as const;

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
  resnet18: {
    description: 'ResNet-18 (torchvision basic blocks, Conv+BatchNorm), 3x224x224, 1000 classes, ~11.7M params',
    input: IMAGENET, output: PROB, classes: 1000, build: (options?: ZooOptions) => buildBasicResNet(18, options),
  },
  resnet34: {
    description: 'ResNet-34 (torchvision basic blocks, Conv+BatchNorm), 3x224x224, 1000 classes, ~21.8M params',
    input: IMAGENET, output: PROB, classes: 1000, build: (options?: ZooOptions) => buildBasicResNet(34, options),
  },
  mobilenetv2: {
    description: 'MobileNetV2 1.0 (torchvision layout, inverted residuals, ReLU6), 3x224x224, 1000 classes, ~3.5M params',
    input: IMAGENET, output: PROB, classes: 1000, build: buildMobileNetV2,
  },
  'resnet-mini': {
    description: 'basic-block ResNet for Fashion-MNIST (3 stages x 2 blocks, 16-32-64): raw [0,1] pixels 1x28x28, 10 classes, logits output',
    input: MINI_INPUT, output: LOGITS, classes: 10, build: buildResNetMini,
  },
  'mobilenetv2-mini': {
    description: 'MobileNetV2 blocks for Fashion-MNIST (widths 16-24-32-64, ReLU6): raw [0,1] pixels 1x28x28, 10 classes, logits output',
    input: MINI_INPUT, output: LOGITS, classes: 10, build: buildMobileNetV2Mini,
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
export { BASIC_RESNET_STAGES, basicBlock, buildBasicResNet, convBn } from './resnet18.js';
export type { BasicResNetDepth } from './resnet18.js';
export { RESNET_MINI_STAGES, buildResNetMini } from './resnet-mini.js';
export { MOBILENET_V2_MINI_SETTINGS, MOBILENET_V2_SETTINGS, buildMobileNetV2, buildMobileNetV2Mini, invertedResidual } from './mobilenet-v2.js';
export type { InvertedResidualSetting } from './mobilenet-v2.js';
export type { BnStats, ZooOptions } from './options.js';
export { countParameters, formatLayerTable, summarizeLayers, totalLayers } from './summary.js';
export type { LayerRow, LayerTotals } from './summary.js';
