/**
 * resnet-mini: a ResNet of basic blocks (ResNet-18/34's block, src/zoo/resnet18.ts) at googlenet-mini's
 * scale and input contract: `data` Nx1x28x28 raw pixels in [0, 1], standardised inside the graph,
 * `logits` Nx10 out.
 *
 * Layout (CIFAR ResNets' three stages, He et al. 2016 section 4.2, with two blocks each, as ResNet-18 has
 * per stage): conv1 3x3 16 + BN + ReLU at 28x28 -> res2a, res2b (16, 28x28) -> res3a (stride 2, 1x1
 * shortcut), res3b (32, 14x14) -> res4a (stride 2), res4b (64, 7x7) -> global average pool -> fc (10).
 * ImageNet's 7x7 stride-2 stem and max pool would leave 7x7 maps after the stem on a 28x28 image; a
 * 3x3 stride-1 stem keeps the resolution, as the CIFAR variants do.
 */
import type { Model } from '../ir/graph.js';
import { FASHION_MNIST_MEAN, FASHION_MNIST_STD } from './googlenet.js';
import { NetBuilder } from './layers.js';
import { resolveZooOptions, type ZooOptions } from './options.js';
import { basicBlock, convBn } from './resnet18.js';

/** Width and blocks of each stage (res2..res4); the first block of res3 and res4 has stride 2. */
export const RESNET_MINI_STAGES: readonly { width: number; blocks: number }[] = Object.freeze([
  { width: 16, blocks: 2 }, { width: 32, blocks: 2 }, { width: 64, blocks: 2 },
]);

export function buildResNetMini(options: ZooOptions = {}): Model {
  const opts = resolveZooOptions('resnet-mini', options, 10);
  const net = new NetBuilder('resnet-mini', opts);
  let x = net.input('data', [1, 28, 28]);
  x = net.standardize('data', x, FASHION_MNIST_MEAN, FASHION_MNIST_STD);
  x = convBn(net, 'conv1', 'bn_conv1', x, RESNET_MINI_STAGES[0]?.width ?? 16, 3, 1, 'conv1_relu');
  RESNET_MINI_STAGES.forEach(({ width, blocks }, s) => {
    for (let i = 0; i < blocks; i++) x = basicBlock(net, `${s + 2}${String.fromCharCode(97 + i)}`, x, width, i === 0 && s > 0 ? 2 : 1);
  });
  x = net.globalAveragePool('pool5', x);
  x = net.flatten('pool5/flatten', x);
  x = net.fullyConnected('fc', x, opts.classes, 'logits');
  return net.finish(x, 'resnet-mini: basic-block ResNet (3 stages x 2 blocks, 16-32-64) for 1x28x28 Fashion-MNIST, logits output, random weights');
}
