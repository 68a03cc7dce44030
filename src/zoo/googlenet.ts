/**
 * BVLC GoogLeNet (Szegedy et al. 2015, Caffe's bvlc_googlenet deploy.prototxt, without the two auxiliary
 * classifiers) and googlenet-mini, the same structure scaled to 28x28 Fashion-MNIST. Layer names are the
 * Caffe ones (conv1/7x7_s2, pool1/norm1, inception_3a/pool_proj, loss3/classifier, ...).
 */
import type { Model } from '../ir/graph.js';
import { RebirthError } from '../errors.js';
import { NetBuilder } from './layers.js';
import { resolveZooOptions, type ZooOptions } from './options.js';

/** One Inception module: input channels and the six widths, in the order of the GoogLeNet paper's Table 1. */
export interface InceptionSpec {
  name: string;
  in: number;
  '1x1': number;
  '3x3_reduce': number;
  '3x3': number;
  '5x5_reduce': number;
  '5x5': number;
  pool_proj: number;
}

function spec(name: string, widths: readonly [number, number, number, number, number, number, number]): InceptionSpec {
  const [inputs, c1, c3r, c3, c5r, c5, pp] = widths;
  return { name, in: inputs, '1x1': c1, '3x3_reduce': c3r, '3x3': c3, '5x5_reduce': c5r, '5x5': c5, pool_proj: pp };
}

export function inceptionOutputs(s: InceptionSpec): number {
  return s['1x1'] + s['3x3'] + s['5x5'] + s.pool_proj;
}

/** BVLC GoogLeNet's nine modules (docs: docs/method.md, GoogLeNet paper Table 1). */
export const GOOGLENET_INCEPTIONS: readonly InceptionSpec[] = Object.freeze([
  spec('inception_3a', [192, 64, 96, 128, 16, 32, 32]),
  spec('inception_3b', [256, 128, 128, 192, 32, 96, 64]),
  spec('inception_4a', [480, 192, 96, 208, 16, 48, 64]),
  spec('inception_4b', [512, 160, 112, 224, 24, 64, 64]),
  spec('inception_4c', [512, 128, 128, 256, 24, 64, 64]),
  spec('inception_4d', [512, 112, 144, 288, 32, 64, 64]),
  spec('inception_4e', [528, 256, 160, 320, 32, 128, 128]),
  spec('inception_5a', [832, 256, 160, 320, 32, 128, 128]),
  spec('inception_5b', [832, 384, 192, 384, 48, 128, 128]),
]);

/**
 * googlenet-mini's modules: every width of 3a-4a roughly halved to a quarter of BVLC's, the 5x5 branch kept
 * narrow as in BVLC. Output widths 128, 240, 256.
 */
export const GOOGLENET_MINI_INCEPTIONS: readonly InceptionSpec[] = Object.freeze([
  spec('inception_3a', [96, 32, 48, 64, 8, 16, 16]),
  spec('inception_3b', [128, 64, 64, 96, 16, 48, 32]),
  spec('inception_4a', [240, 96, 48, 104, 8, 24, 32]),
]);

/**
 * Four branches, every conv followed by a ReLU, concatenated on channels in Caffe's order
 * [1x1, 3x3, 5x5, pool_proj]; the pool branch is a 3x3 stride-1 pad-1 max pool.
 */
export function inception(net: NetBuilder, x: string, s: InceptionSpec, bn = false): string {
  const p = s.name;
  if (net.channels(x) !== s.in) {
    throw new RebirthError(`zoo model '${net.modelName}': ${p} expects ${s.in} input channels, '${x}' has ${net.channels(x)}`);
  }
  const convRelu = (layer: string, input: string, out: number, kernel: number): string => {
    const conv = net.conv(`${p}/${layer}`, input, { out, kernel, pad: (kernel - 1) / 2, init: 'he', bias: !bn });
    return net.relu(`${p}/relu_${layer}`, bn ? net.batchNorm(`${p}/${layer}/bn`, conv) : conv);
  };
  const b1 = convRelu('1x1', x, s['1x1'], 1);
  const b3 = convRelu('3x3', convRelu('3x3_reduce', x, s['3x3_reduce'], 1), s['3x3'], 3);
  const b5 = convRelu('5x5', convRelu('5x5_reduce', x, s['5x5_reduce'], 1), s['5x5'], 5);
  const pooled = net.maxPool(`${p}/pool`, x, { kernel: 3, stride: 1, pad: 1 });
  const bp = convRelu('pool_proj', pooled, s.pool_proj, 1);
  return net.concat(`${p}/output`, [b1, b3, b5, bp]);
}

const CEIL_POOL = { kernel: 3, stride: 2, ceil: true } as const;

/** The modules in order, with GoogLeNet's stride-2 pools after 3b (pool3) and 4e (pool4) where present. */
function inceptionStack(net: NetBuilder, input: string, specs: readonly InceptionSpec[], bn = false): string {
  let x = input;
  for (const s of specs) {
    x = inception(net, x, s, bn);
    if (s.name === 'inception_3b') x = net.maxPool('pool3/3x3_s2', x, CEIL_POOL);
    if (s.name === 'inception_4e') x = net.maxPool('pool4/3x3_s2', x, CEIL_POOL);
  }
  return x;
}

/** BVLC GoogLeNet: input `data` Nx3x224x224, output `prob` (softmax over `classes`). */
export function buildGoogLeNet(options: ZooOptions = {}): Model {
  const opts = resolveZooOptions('googlenet', options, 1000);
  const net = new NetBuilder('googlenet', opts);
  let x = net.input('data', [3, 224, 224]);
  x = net.relu('conv1/relu_7x7', net.conv('conv1/7x7_s2', x, { out: 64, kernel: 7, stride: 2, pad: 3, init: 'he' }));
  x = net.maxPool('pool1/3x3_s2', x, CEIL_POOL);
  x = net.lrn('pool1/norm1', x);
  x = net.relu('conv2/relu_3x3_reduce', net.conv('conv2/3x3_reduce', x, { out: 64, kernel: 1, init: 'he' }));
  x = net.relu('conv2/relu_3x3', net.conv('conv2/3x3', x, { out: 192, kernel: 3, pad: 1, init: 'he' }));
  x = net.lrn('conv2/norm2', x);
  x = net.maxPool('pool2/3x3_s2', x, CEIL_POOL);
  x = inceptionStack(net, x, GOOGLENET_INCEPTIONS);
  x = net.averagePool('pool5/7x7_s1', x, { kernel: 7, stride: 1 });
  x = net.dropout('pool5/drop_7x7_s1', x, 0.4);
  x = net.flatten('loss3/flatten', x);
  x = net.fullyConnected('loss3/classifier', x, opts.classes);
  x = net.softmax('prob', x);
  return net.finish(x, 'BVLC GoogLeNet (Szegedy et al. 2015), Caffe layer names, random weights');
}

/**
 * GoogLeNet as torchvision exports it: every conv without bias, followed by BatchNormalization and ReLU,
 * no LRN (the BN replaces it). Branch widths are BVLC's (torchvision also swaps the 5x5 for a 3x3; here
 * the 5x5 stays so the merges see the paper's structure). The input to the exact BN folds of
 * `rebirth optimize` (bnStats: 'random' makes the folds non-trivial).
 */
export function buildGoogLeNetBn(options: ZooOptions = {}): Model {
  const opts = resolveZooOptions('googlenet-bn', options, 1000);
  const net = new NetBuilder('googlenet-bn', opts);
  const convBnRelu = (name: string, x: string, spec: { out: number; kernel: number; stride?: number; pad?: number }): string =>
    net.relu(`${name}/relu`, net.batchNorm(`${name}/bn`, net.conv(name, x, { ...spec, init: 'he', bias: false })));
  let x = net.input('data', [3, 224, 224]);
  x = convBnRelu('conv1/7x7_s2', x, { out: 64, kernel: 7, stride: 2, pad: 3 });
  x = net.maxPool('pool1/3x3_s2', x, CEIL_POOL);
  x = convBnRelu('conv2/3x3_reduce', x, { out: 64, kernel: 1 });
  x = convBnRelu('conv2/3x3', x, { out: 192, kernel: 3, pad: 1 });
  x = net.maxPool('pool2/3x3_s2', x, CEIL_POOL);
  x = inceptionStack(net, x, GOOGLENET_INCEPTIONS, true);
  x = net.globalAveragePool('pool5/global', x);
  x = net.dropout('pool5/drop', x, 0.2);
  x = net.flatten('loss3/flatten', x);
  x = net.fullyConnected('loss3/classifier', x, opts.classes);
  x = net.softmax('prob', x);
  return net.finish(x, 'GoogLeNet with BatchNormalization (torchvision layout, BVLC widths), random weights');
}

/** Fashion-MNIST statistics of pixel/255 over the 60,000 training images. */
export const FASHION_MNIST_MEAN = 0.2860;
export const FASHION_MNIST_STD = 0.3530;

/**
 * googlenet-mini: input `data` Nx1x28x28 raw pixels in [0, 1], output `logits` (no softmax: training
 * applies its own log-softmax / cross-entropy, and argmax is the same either way).
 *
 * Sizes: 28 -conv1 3x3 s1-> 28 -pool1 ceil-> 14 -conv2-> 14 -pool2 ceil-> 7 -3a,3b-> 7 -pool3 ceil-> 3
 * -4a-> 3 -global avg-> 1. (BVLC's pool3 is ceil mode without padding; on 7x7 that gives 3x3.)
 */
export function buildGoogLeNetMini(options: ZooOptions = {}): Model {
  const opts = resolveZooOptions('googlenet-mini', options, 10);
  const net = new NetBuilder('googlenet-mini', opts);
  let x = net.input('data', [1, 28, 28]);
  x = net.standardize('data', x, FASHION_MNIST_MEAN, FASHION_MNIST_STD);
  x = net.relu('conv1/relu_3x3', net.conv('conv1/3x3_s1', x, { out: 32, kernel: 3, stride: 1, pad: 1, init: 'he' }));
  x = net.maxPool('pool1/3x3_s2', x, CEIL_POOL);
  x = net.lrn('pool1/norm1', x);
  x = net.relu('conv2/relu_3x3_reduce', net.conv('conv2/3x3_reduce', x, { out: 32, kernel: 1, init: 'he' }));
  x = net.relu('conv2/relu_3x3', net.conv('conv2/3x3', x, { out: 96, kernel: 3, pad: 1, init: 'he' }));
  x = net.lrn('conv2/norm2', x);
  x = net.maxPool('pool2/3x3_s2', x, CEIL_POOL);
  x = inceptionStack(net, x, GOOGLENET_MINI_INCEPTIONS);
  x = net.globalAveragePool('pool5/global', x);
  x = net.dropout('pool5/drop', x, 0.4);
  x = net.flatten('loss3/flatten', x);
  x = net.fullyConnected('loss3/classifier', x, opts.classes, 'logits');
  return net.finish(x, 'googlenet-mini: BVLC GoogLeNet structure for 1x28x28 Fashion-MNIST, logits output, random weights');
}
