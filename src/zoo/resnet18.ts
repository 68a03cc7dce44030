/**
 * ResNet-18 and ResNet-34 (He et al. 2016) as torchvision builds them: basic blocks of two 3x3 convs,
 * each conv without bias followed by BatchNorm (epsilon 1e-5), a 1x1 stride-2 conv + BatchNorm shortcut
 * where a stage's first block changes the resolution and width (res3a, res4a, res5a; res2a keeps 64
 * channels at stride 1, so its shortcut is the identity), pool1 a padded floor-mode 3x3 max pool,
 * GlobalAveragePool -> Flatten -> Gemm (fc1000) -> Softmax (prob). Parameter counts are torchvision 0.14's
 * (11,689,512 and 21,797,672). Names follow the Caffe convention of src/zoo/resnet.ts (res2a_branch2a,
 * bn2a_branch2a, res2a_branch2a_relu, res2a_branch1, res2a, res2a_relu).
 */
import type { Model } from '../ir/graph.js';
import type { NetBuilder } from './layers.js';
import { NetBuilder as Builder } from './layers.js';
import { resolveZooOptions, type ZooOptions } from './options.js';
import { resnetBlockSuffix } from './resnet.js';

export type BasicResNetDepth = 18 | 34;

/** Basic blocks per stage (res2..res5). */
export const BASIC_RESNET_STAGES: Readonly<Record<BasicResNetDepth, readonly number[]>> = Object.freeze({
  18: Object.freeze([2, 2, 2, 2]),
  34: Object.freeze([3, 4, 6, 3]),
});

/** Conv (no bias) + BatchNorm, then a ReLU named `relu` if given. He init before a ReLU, Xavier otherwise. */
export function convBn(net: NetBuilder, conv: string, bn: string, x: string, out: number, kernel: number, stride: number, relu?: string): string {
  const y = net.batchNorm(bn, net.conv(conv, x, { out, kernel, stride, pad: (kernel - 1) / 2, bias: false, init: relu ? 'he' : 'xavier' }));
  return relu ? net.relu(relu, y) : y;
}

/**
 * One basic block `res<id>`: x -> 3x3 (stride) -> BN -> ReLU -> 3x3 -> BN, plus the shortcut (identity, or
 * 1x1 stride-s conv + BN when the stride or the width changes), then ReLU after the sum.
 */
export function basicBlock(net: NetBuilder, id: string, x: string, width: number, stride: number): string {
  const project = stride !== 1 || net.channels(x) !== width;
  const shortcut = project ? convBn(net, `res${id}_branch1`, `bn${id}_branch1`, x, width, 1, stride) : x;
  let y = convBn(net, `res${id}_branch2a`, `bn${id}_branch2a`, x, width, 3, stride, `res${id}_branch2a_relu`);
  y = convBn(net, `res${id}_branch2b`, `bn${id}_branch2b`, y, width, 3, 1);
  return net.relu(`res${id}_relu`, net.add(`res${id}`, shortcut, y));
}

/** Input `data` Nx3x224x224, output `prob`. */
export function buildBasicResNet(depth: BasicResNetDepth, options: ZooOptions = {}): Model {
  const name = `resnet${depth}`;
  const opts = resolveZooOptions(name, options, 1000);
  const net = new Builder(name, opts);
  let x = net.input('data', [3, 224, 224]);
  x = convBn(net, 'conv1', 'bn_conv1', x, 64, 7, 2, 'conv1_relu');
  x = net.maxPool('pool1', x, { kernel: 3, stride: 2, pad: 1 });
  BASIC_RESNET_STAGES[depth].forEach((blocks, s) => {
    for (let i = 0; i < blocks; i++) {
      x = basicBlock(net, `${s + 2}${resnetBlockSuffix(i, blocks)}`, x, 64 * 2 ** s, i === 0 && s > 0 ? 2 : 1);
    }
  });
  x = net.globalAveragePool('pool5', x);
  x = net.flatten('pool5/flatten', x);
  x = net.fullyConnected('fc1000', x, opts.classes);
  x = net.softmax('prob', x);
  return net.finish(x, `ResNet-${depth} (He et al. 2016, torchvision basic-block layout), Caffe-style layer names, random weights`);
}
