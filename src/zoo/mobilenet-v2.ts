/**
 * MobileNetV2 (Sandler et al. 2018) as torchvision 0.14 builds it, and mobilenetv2-mini, the same
 * blocks at googlenet-mini's scale and input contract.
 *
 * Inverted residual block `block<i>` (torchvision `features.<i>`): 1x1 expand (t x in) + BN + ReLU6,
 * 3x3 depthwise (stride s) + BN + ReLU6, 1x1 project + BN with no activation (the linear bottleneck),
 * plus the input when the stride is 1 and the width is kept. Blocks with t = 1 have no expand conv.
 * Every conv has no bias and is followed by BatchNorm (epsilon 1e-5); ReLU6 is Clip(0, 6).
 * torchvision: conv1 3x3 s2 32 -> 17 blocks -> conv_last 1x1 1280 -> GlobalAveragePool -> Flatten ->
 * Dropout 0.2 -> classifier (Gemm) -> prob (Softmax); 3,504,872 parameters.
 */
import type { Model } from '../ir/graph.js';
import { FASHION_MNIST_MEAN, FASHION_MNIST_STD } from './googlenet.js';
import { NetBuilder } from './layers.js';
import { resolveZooOptions, type ZooOptions } from './options.js';

/** One row of torchvision's `inverted_residual_setting`: expansion t, output width c, repeats n, first stride s. */
export interface InvertedResidualSetting {
  t: number;
  c: number;
  n: number;
  s: number;
}

const row = (t: number, c: number, n: number, s: number): InvertedResidualSetting => Object.freeze({ t, c, n, s });

/** torchvision's MobileNetV2 at width 1.0 (all widths already multiples of 8). */
export const MOBILENET_V2_SETTINGS: readonly InvertedResidualSetting[] = Object.freeze([
  row(1, 16, 1, 1), row(6, 24, 2, 2), row(6, 32, 3, 2), row(6, 64, 4, 2), row(6, 96, 3, 1), row(6, 160, 3, 2), row(6, 320, 1, 1),
]);

/**
 * mobilenetv2-mini: torchvision's first four rows (widths 16, 24, 32, 64) with fewer repeats, a stride-1
 * stem (a 28x28 image has 16x fewer pixels than 224x224 after the ImageNet stem's stride 2 and the first
 * two stride-2 rows; here the rows' three stride-2 steps give 28 -> 14 -> 7 -> 4), and a 256-wide conv_last.
 */
export const MOBILENET_V2_MINI_SETTINGS: readonly InvertedResidualSetting[] = Object.freeze([
  row(1, 16, 1, 1), row(6, 24, 2, 2), row(6, 32, 3, 2), row(6, 64, 2, 2),
]);

interface MobileNetV2Spec {
  name: string;
  stem: { out: number; stride: number };
  settings: readonly InvertedResidualSetting[];
  lastWidth: number;
}

function convBnAct(net: NetBuilder, name: string, x: string, spec: { out: number; kernel: number; stride?: number; group?: number }, relu6: boolean): string {
  const { out, kernel, stride = 1, group = 1 } = spec;
  const y = net.batchNorm(`${name}/bn`, net.conv(name, x, { out, kernel, stride, pad: (kernel - 1) / 2, group, bias: false, init: relu6 ? 'he' : 'xavier' }));
  return relu6 ? net.relu6(`${name}/relu6`, y) : y;
}

/** The inverted residual block `block<index>`. */
export function invertedResidual(net: NetBuilder, index: number, x: string, out: number, stride: number, expansion: number): string {
  const p = `block${index}`;
  const cin = net.channels(x);
  const hidden = cin * expansion;
  let y = expansion === 1 ? x : convBnAct(net, `${p}/expand`, x, { out: hidden, kernel: 1 }, true);
  y = convBnAct(net, `${p}/dw`, y, { out: hidden, kernel: 3, stride, group: hidden }, true);
  y = convBnAct(net, `${p}/project`, y, { out, kernel: 1 }, false);
  return stride === 1 && cin === out ? net.add(`${p}/add`, x, y) : y;
}

function features(net: NetBuilder, x: string, spec: MobileNetV2Spec): string {
  let y = convBnAct(net, 'conv1', x, { out: spec.stem.out, kernel: 3, stride: spec.stem.stride }, true);
  let index = 1;
  for (const { t, c, n, s } of spec.settings) {
    for (let i = 0; i < n; i++) y = invertedResidual(net, index++, y, c, i === 0 ? s : 1, t);
  }
  return convBnAct(net, 'conv_last', y, { out: spec.lastWidth, kernel: 1 }, true);
}

const TORCHVISION: MobileNetV2Spec = { name: 'mobilenetv2', stem: { out: 32, stride: 2 }, settings: MOBILENET_V2_SETTINGS, lastWidth: 1280 };
const MINI: MobileNetV2Spec = { name: 'mobilenetv2-mini', stem: { out: 32, stride: 1 }, settings: MOBILENET_V2_MINI_SETTINGS, lastWidth: 256 };

/** torchvision's mobilenet_v2: input `data` Nx3x224x224, output `prob`. */
export function buildMobileNetV2(options: ZooOptions = {}): Model {
  const opts = resolveZooOptions(TORCHVISION.name, options, 1000);
  const net = new NetBuilder(TORCHVISION.name, opts);
  let x = features(net, net.input('data', [3, 224, 224]), TORCHVISION);
  x = net.flatten('flatten', net.globalAveragePool('pool', x));
  x = net.dropout('drop', x, 0.2);
  x = net.softmax('prob', net.fullyConnected('classifier', x, opts.classes));
  return net.finish(x, 'MobileNetV2 (Sandler et al. 2018, torchvision layout, width 1.0), random weights');
}

/** mobilenetv2-mini: input `data` Nx1x28x28 raw pixels in [0, 1], output `logits`. */
export function buildMobileNetV2Mini(options: ZooOptions = {}): Model {
  const opts = resolveZooOptions(MINI.name, options, 10);
  const net = new NetBuilder(MINI.name, opts);
  let x = net.standardize('data', net.input('data', [1, 28, 28]), FASHION_MNIST_MEAN, FASHION_MNIST_STD);
  x = features(net, x, MINI);
  x = net.flatten('flatten', net.globalAveragePool('pool', x));
  x = net.dropout('drop', x, 0.2);
  x = net.fullyConnected('classifier', x, opts.classes, 'logits');
  return net.finish(x, 'mobilenetv2-mini: MobileNetV2 inverted residual blocks (16-24-32-64) for 1x28x28 Fashion-MNIST, logits output, random weights');
}
