/**
 * ResNet-50 and ResNet-152 (He et al. 2016) in torchvision's "v1.5" layout: the stride-2 of a stage's
 * first bottleneck sits on the 3x3 conv (Caffe's original v1 puts it on the first 1x1), and pool1 is a
 * padded floor-mode max pool. Parameter counts are torchvision's (25,557,032 and 60,192,808).
 * Layer names are those of the Caffe release (KaimingHe/deep-residual-networks): conv1, bn_conv1,
 * res2a_branch2a, bn2a_branch2a, res2a_branch1, res2a, res2a_relu, ..., fc1000, prob. Caffe's BatchNorm +
 * Scale pair is one ONNX BatchNormalization here, named after the Caffe BatchNorm layer.
 */
import type { Model } from '../ir/graph.js';
import { NetBuilder } from './layers.js';
import { resolveZooOptions, type ZooOptions } from './options.js';

export type ResNetDepth = 50 | 152;

/** Bottleneck blocks per stage (res2..res5). */
export const RESNET_STAGES: Readonly<Record<ResNetDepth, readonly number[]>> = Object.freeze({
  50: Object.freeze([3, 4, 6, 3]),
  152: Object.freeze([3, 8, 36, 3]),
});

/**
 * Caffe's block suffixes: stages of up to six blocks use letters (res4a..res4f); longer ones use 'a' then
 * 'b1', 'b2', ... (ResNet-152's res3b1..res3b7 and res4b1..res4b35).
 */
export function resnetBlockSuffix(index: number, blocks: number): string {
  if (blocks <= 6) return String.fromCharCode(97 + index);
  return index === 0 ? 'a' : `b${index}`;
}

/** Input `data` Nx3x224x224, output `prob`. */
export function buildResNet(depth: ResNetDepth, options: ZooOptions = {}): Model {
  const name = `resnet${depth}`;
  const opts = resolveZooOptions(name, options, 1000);
  const net = new NetBuilder(name, opts);
  /** Conv (no bias) + BatchNorm, then ReLU unless `relu` names none. */
  const convBn = (conv: string, bn: string, x: string, out: number, kernel: number, stride: number, relu?: string): string => {
    const y = net.batchNorm(bn, net.conv(conv, x, { out, kernel, stride, pad: (kernel - 1) / 2, bias: false, init: relu ? 'he' : 'xavier' }));
    return relu ? net.relu(relu, y) : y;
  };
  let x = net.input('data', [3, 224, 224]);
  x = convBn('conv1', 'bn_conv1', x, 64, 7, 2, 'conv1_relu');
  x = net.maxPool('pool1', x, { kernel: 3, stride: 2, pad: 1 });
  const stages = RESNET_STAGES[depth];
  stages.forEach((blocks, s) => {
    const stage = s + 2;
    const width = 64 * 2 ** s;
    for (let i = 0; i < blocks; i++) {
      const id = `${stage}${resnetBlockSuffix(i, blocks)}`;
      const stride = i === 0 && stage > 2 ? 2 : 1;
      const shortcut = i === 0
        ? convBn(`res${id}_branch1`, `bn${id}_branch1`, x, 4 * width, 1, stride)
        : x;
      let y = convBn(`res${id}_branch2a`, `bn${id}_branch2a`, x, width, 1, 1, `res${id}_branch2a_relu`);
      y = convBn(`res${id}_branch2b`, `bn${id}_branch2b`, y, width, 3, stride, `res${id}_branch2b_relu`);
      y = convBn(`res${id}_branch2c`, `bn${id}_branch2c`, y, 4 * width, 1, 1);
      x = net.relu(`res${id}_relu`, net.add(`res${id}`, shortcut, y));
    }
  });
  x = net.globalAveragePool('pool5', x);
  x = net.flatten('pool5/flatten', x);
  x = net.fullyConnected('fc1000', x, opts.classes);
  x = net.softmax('prob', x);
  return net.finish(x, `ResNet-${depth} (He et al. 2016, torchvision v1.5 layout), Caffe layer names, random weights`);
}
