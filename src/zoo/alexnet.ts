/**
 * BVLC AlexNet (Krizhevsky et al. 2012; Caffe's bvlc_alexnet deploy.prototxt), with the two-GPU channel
 * groups of conv2, conv4 and conv5 kept as group=2. Layer order is BVLC AlexNet's conv -> relu -> norm ->
 * pool; BVLC CaffeNet (bvlc_reference_caffenet) swaps the last two (pool before norm). Same parameters.
 */
import type { Model } from '../ir/graph.js';
import { NetBuilder } from './layers.js';
import { resolveZooOptions, type ZooOptions } from './options.js';

/** Input `data` Nx3x227x227, output `prob`. */
export function buildAlexNet(options: ZooOptions = {}): Model {
  const opts = resolveZooOptions('alexnet', options, 1000);
  const net = new NetBuilder('alexnet', opts);
  // Caffe pools round up; every AlexNet pool divides evenly (55 -> 27 -> 13 -> 6), so ceil mode only
  // documents the Caffe semantics here.
  const pool = { kernel: 3, stride: 2, ceil: true } as const;
  let x = net.input('data', [3, 227, 227]);
  x = net.relu('relu1', net.conv('conv1', x, { out: 96, kernel: 11, stride: 4, init: 'he' }));
  x = net.maxPool('pool1', net.lrn('norm1', x), pool);
  x = net.relu('relu2', net.conv('conv2', x, { out: 256, kernel: 5, pad: 2, group: 2, init: 'he' }));
  x = net.maxPool('pool2', net.lrn('norm2', x), pool);
  x = net.relu('relu3', net.conv('conv3', x, { out: 384, kernel: 3, pad: 1, init: 'he' }));
  x = net.relu('relu4', net.conv('conv4', x, { out: 384, kernel: 3, pad: 1, group: 2, init: 'he' }));
  x = net.relu('relu5', net.conv('conv5', x, { out: 256, kernel: 3, pad: 1, group: 2, init: 'he' }));
  x = net.maxPool('pool5', x, pool);
  x = net.flatten('pool5/flatten', x);
  x = net.dropout('drop6', net.relu('relu6', net.fullyConnected('fc6', x, 4096)), 0.5);
  x = net.dropout('drop7', net.relu('relu7', net.fullyConnected('fc7', x, 4096)), 0.5);
  x = net.fullyConnected('fc8', x, opts.classes);
  x = net.softmax('prob', x);
  return net.finish(x, 'BVLC AlexNet (conv-relu-norm-pool order, grouped conv2/4/5), Caffe layer names, random weights');
}
