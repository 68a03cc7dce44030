// One gradient check per op and attribute variant of the table in src/autodiff/rules.ts: analytic gradients
// from the generated ONNX training graph against central differences, both run by onnxruntime-node.
import { test } from 'node:test';
import { DataType } from '../../src/ir/tensor.js';
import { check, type CheckOptions, type InputSpec } from './gradcheck.js';
import type { GradForms } from '../../src/autodiff/forms.js';

type Inputs = (number[] | InputSpec | null)[];

function gc(title: string, op: string, attrs: Parameters<typeof check>[1], inputs: Inputs, options: CheckOptions = {}): void {
  test(`grad ${op}: ${title}`, async () => {
    await check(op, attrs, inputs, { tol: 2e-3, ...options });
  });
}

const fixed = (dims: number[], values: number[], dataType: number = DataType.INT64): InputSpec => ({ dims, values, dataType });
const positive = (dims: number[]): InputSpec => ({ dims, domain: 'positive' });

// Elementwise arithmetic with broadcasting.
gc('same shape', 'Add', {}, [[2, 3], [2, 3]]);
gc('broadcast [2,3,4]+[3,1]', 'Add', {}, [[2, 3, 4], [3, 1]]);
gc('broadcast both ways, double', 'Add', {}, [[2, 1, 4], [3, 1]], { dtype: 'double' });
gc('broadcast [2,1,4]-[3,1]', 'Sub', {}, [[2, 1, 4], [3, 1]]);
gc('broadcast [2,3,4]*[4]', 'Mul', {}, [[2, 3, 4], [4]]);
gc('broadcast [1,3,1]*[2,1,5], double', 'Mul', {}, [[1, 3, 1], [2, 1, 5]], { dtype: 'double' });
gc('broadcast [2,3]/[3]', 'Div', {}, [[2, 3], positive([3])]);
gc('three inputs, broadcast', 'Sum', {}, [[2, 3], [3], [2, 1]]);
gc('negation', 'Neg', {}, [[2, 3]]);

// Gemm: every trans combination, alpha/beta, C broadcast.
gc('plain, C [N]', 'Gemm', {}, [[3, 4], [4, 5], [5]]);
gc('transA', 'Gemm', { transA: 1 }, [[4, 3], [4, 5], [5]]);
gc('transB, alpha/beta', 'Gemm', { transB: 1, alpha: 0.5, beta: 2.5 }, [[3, 4], [5, 4], [3, 5]]);
gc('transA transB, C [M,1]', 'Gemm', { transA: 1, transB: 1, alpha: 1.5 }, [[4, 3], [5, 4], [3, 1]]);
gc('no C, double', 'Gemm', { transB: 1 }, [[3, 4], [5, 4]], { dtype: 'double' });
gc('C scalar', 'Gemm', {}, [[3, 4], [4, 5], [1]]);

// MatMul: batched, broadcasting, 1-D operands.
gc('2-D', 'MatMul', {}, [[3, 4], [4, 5]]);
gc('batched x 2-D', 'MatMul', {}, [[2, 3, 4], [4, 5]]);
gc('2-D x batched', 'MatMul', {}, [[3, 4], [2, 4, 5]]);
gc('broadcast batch [2,1,3,4]x[3,4,2], double', 'MatMul', {}, [[2, 1, 3, 4], [3, 4, 2]], { dtype: 'double' });
gc('vector x matrix', 'MatMul', {}, [[4], [4, 5]]);
gc('batched x vector', 'MatMul', {}, [[2, 3, 4], [4]]);
gc('vector x vector', 'MatMul', {}, [[4], [4]]);

// Activations (inputs kept away from kinks).
gc('alpha 0.1', 'LeakyRelu', { alpha: 0.1 }, [[3, 4]], { domain: 'awayFromZero' });
gc('', 'Sigmoid', {}, [[3, 4]]);
gc('double', 'Tanh', {}, [[3, 4]], { dtype: 'double' });
// Clip input: a grid of values at least 0.02 (> eps) from the bounds -0.5 and 0.6.
const clipInput: InputSpec = { dims: [3, 4], values: Array.from({ length: 12 }, (_, i) => -0.987 + 0.17 * i), trainable: true };
gc('max only', 'Clip', {}, [clipInput, null, fixed([], [0.6], DataType.FLOAT)]);
// Relu and Clip mask dy by a condition: each form of GradForms['mask'], and in double (the Cast's target
// type is the graph's float type).
for (const mask of ['where', 'cast'] as const) {
  gc(`[mask ${mask}]`, 'Relu', {}, [[3, 4]], { domain: 'awayFromZero', forms: { mask } });
  gc(`double [mask ${mask}]`, 'Relu', {}, [[3, 4]], { domain: 'awayFromZero', dtype: 'double', forms: { mask } });
  gc(`min and max inputs [mask ${mask}]`, 'Clip', {}, [clipInput, fixed([], [-0.5], DataType.FLOAT), fixed([], [0.6], DataType.FLOAT)], { forms: { mask } });
}
gc('all three pieces', 'HardSwish', {}, [[4, 5]], { domain: 'wide' });
gc('', 'Exp', {}, [[2, 3]]);
gc('', 'Log', {}, [positive([2, 3])]);
gc('', 'Sqrt', {}, [positive([2, 3])]);
gc('base and exponent, broadcast [2,3]^[3]', 'Pow', {}, [positive([2, 3]), positive([3])]);
gc('constant exponent -0.75 (torch\'s LRN export)', 'Pow', {}, [positive([2, 3]), fixed([], [-0.75], DataType.FLOAT)]);
gc('int64 exponent, double', 'Pow', {}, [positive([2, 3]), fixed([], [3])], { dtype: 'double' });
gc('axis 1 of 3-D', 'Softmax', { axis: 1 }, [[2, 4, 3]]);
gc('last axis', 'Softmax', {}, [[3, 5]]);
gc('last axis', 'LogSoftmax', {}, [[3, 5]]);

// Conv, ConvTranspose and MaxPool: every case under each gradient formulation of src/autodiff/forms.ts
// (the defaults, the alternatives kept for comparisons, and the forms before issue 13), so a form can be
// switched by changing DEFAULT_GRAD_FORMS without losing coverage.
type Case = [title: string, attrs: Parameters<typeof check>[1], inputs: Inputs];
function gcForms(op: string, cases: readonly Case[], variants: readonly [string, Partial<GradForms>][]): void {
  for (const [label, forms] of variants) for (const [title, attrs, inputs] of cases) gc(`${title} [${label}]`, op, attrs, inputs, { forms });
}
const OLD_FORMS: Partial<GradForms> = { maxPool: 'scatter', convInput: 'transpose', convWeight: 'batched-taps', lrnPower: 'pow', mask: 'where' };

// Conv: strides, pads (incl. (in + pads - k) % s != 0), dilations, groups, depthwise, auto_pad, ranks.
// Stride-1 cases take dX as a plain Conv with the flipped kernel under 'conv' (and under 'auto' where
// out <= in channels per group, or 1x1); strided ones and pads wider than the kernel extent fall back to
// ConvTranspose.
gcForms('Conv', [
  ['3x3 pad 1', { pads: [1, 1, 1, 1] }, [[2, 3, 5, 5], [4, 3, 3, 3], [4]]],
  ['3x3 pad 1, out <= in channels', { pads: [1, 1, 1, 1] }, [[2, 4, 5, 5], [3, 4, 3, 3], [3]]],
  ['stride 2, odd size 7, pad 1', { strides: [2, 2], pads: [1, 1, 1, 1] }, [[2, 3, 7, 7], [4, 3, 3, 3], [4]]],
  ['stride 2, (8+2-3)%2=1: the end pad row is never read', { strides: [2, 2], pads: [1, 1, 1, 1] }, [[2, 2, 8, 8], [3, 2, 3, 3], [3]]],
  ['stride 3, asymmetric pads, no bias', { strides: [3, 2], pads: [0, 1, 2, 0] }, [[2, 2, 8, 7], [3, 2, 3, 2]]],
  ['stride 2 with 5x5 kernel and pad 2 (googlenet stem)', { strides: [2, 2], pads: [2, 2, 2, 2] }, [[1, 2, 9, 9], [2, 2, 5, 5], [2]]],
  ['5x5 pad 2', { pads: [2, 2, 2, 2] }, [[2, 3, 6, 6], [3, 3, 5, 5], [3]]],
  ['dilation 2', { dilations: [2, 2], pads: [2, 2, 2, 2] }, [[2, 2, 7, 6], [3, 2, 3, 3], [3]]],
  ['dilation 2, asymmetric pads, stride 1', { dilations: [2, 1], pads: [0, 1, 2, 0] }, [[2, 3, 7, 6], [2, 3, 3, 2], [2]]],
  ['pads wider than the kernel extent', { pads: [3, 0, 1, 2] }, [[2, 2, 5, 5], [2, 2, 3, 2], [2]]],
  ['dilation 2 and stride 2', { dilations: [2, 1], strides: [2, 2], pads: [1, 0, 2, 1] }, [[2, 2, 9, 8], [3, 2, 3, 2], [3]]],
  ['groups 2', { group: 2, pads: [1, 1, 1, 1] }, [[2, 4, 5, 5], [6, 2, 3, 3], [6]]],
  ['groups 2, asymmetric pads, out <= in channels', { group: 2, pads: [1, 0, 0, 1] }, [[2, 4, 5, 5], [4, 2, 3, 2], [4]]],
  ['groups 2, 1x1', { group: 2 }, [[2, 4, 3, 3], [6, 2, 1, 1], [6]]],
  ['groups 2, stride 2, dilation', { group: 2, strides: [2, 2], dilations: [2, 1] }, [[2, 4, 9, 8], [6, 2, 3, 2], [6]]],
  ['depthwise', { group: 4, pads: [1, 1, 1, 1], strides: [2, 2] }, [[2, 4, 7, 7], [4, 1, 3, 3], [4]]],
  ['depthwise multiplier 2', { group: 3, pads: [1, 1, 1, 1] }, [[2, 3, 5, 5], [6, 1, 3, 3], [6]]],
  ['depthwise stride 1', { group: 4, pads: [1, 1, 1, 1] }, [[2, 4, 5, 5], [4, 1, 3, 3], [4]]],
  ['1x1', {}, [[2, 5, 4, 4], [3, 5, 1, 1], [3]]],
  ['auto_pad SAME_UPPER stride 2', { auto_pad: 'SAME_UPPER', strides: [2, 2] }, [[2, 2, 7, 6], [3, 2, 3, 2], [3]]],
  ['auto_pad SAME_LOWER', { auto_pad: 'SAME_LOWER' }, [[2, 2, 5, 5], [3, 2, 2, 2], [3]]],
  ['auto_pad VALID stride 2', { auto_pad: 'VALID', strides: [2, 2] }, [[2, 2, 6, 6], [2, 2, 3, 3], [2]]],
  ['1-D, stride 2', { strides: [2], pads: [1, 0] }, [[2, 3, 9], [4, 3, 3], [4]]],
  ['1-D, stride 1, dilation 2', { dilations: [2], pads: [2, 1] }, [[2, 3, 9], [3, 3, 3], [3]]],
  ['3-D', { pads: [1, 0, 1, 0, 1, 0], strides: [1, 2, 1] }, [[1, 2, 3, 5, 4], [2, 2, 2, 3, 2], [2]]],
  ['3-D, stride 1', { pads: [1, 0, 1, 0, 1, 0] }, [[1, 2, 3, 5, 4], [2, 2, 2, 3, 2], [2]]],
], [['default', {}], ['dX always Conv', { convInput: 'conv' }], ['before issue 13', OLD_FORMS]]);

// ConvTranspose (its dW is the Conv dW routine with roles swapped).
gcForms('ConvTranspose', [
  ['stride 2, pad 1, output_padding 1', { strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] }, [[2, 3, 4, 4], [3, 2, 3, 3], [2]]],
  ['groups 2, dilation 2', { group: 2, dilations: [2, 2], pads: [1, 0, 0, 1] }, [[2, 4, 3, 4], [4, 3, 3, 2], [6]]],
  ['output_shape', { strides: [2, 2], output_shape: [8, 7] }, [[1, 2, 4, 4], [2, 3, 3, 3], [3]]],
  ['auto_pad SAME_UPPER', { strides: [2, 2], auto_pad: 'SAME_UPPER' }, [[1, 2, 3, 3], [2, 2, 3, 3]]],
  ['stride 3, kernel 2 (gaps in the output)', { strides: [3, 3] }, [[2, 2, 3, 3], [2, 2, 2, 2], [2]]],
], [['default', {}], ['before issue 13', OLD_FORMS]]);

// Pooling (max pooling on tie-free inputs here; ties are checked against ORT's Indices in
// training-graph.test.ts).
gcForms('MaxPool', [
  ['3x3 stride 2 ceil_mode, overlapping', { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }, [{ dims: [2, 3, 6, 6], domain: 'distinct' }]],
  ['3x3 stride 2 pads 1 ceil_mode', { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 }, [{ dims: [2, 2, 7, 6], domain: 'distinct' }]],
  ['2x2 stride 2', { kernel_shape: [2, 2], strides: [2, 2] }, [{ dims: [2, 2, 4, 5], domain: 'distinct' }]],
  ['3x3 stride 1 pads 1 (googlenet inception branch)', { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, [{ dims: [2, 2, 5, 5], domain: 'distinct' }]],
  ['dilations 2, asymmetric pads', { kernel_shape: [2, 2], dilations: [2, 2], pads: [0, 1, 1, 0] }, [{ dims: [1, 2, 6, 6], domain: 'distinct' }]],
  ['storage_order 1 with Indices output', { kernel_shape: [2, 2], storage_order: 1 }, [{ dims: [1, 2, 4, 3], domain: 'distinct' }]],
  ['1-D', { kernel_shape: [3], strides: [2] }, [{ dims: [2, 2, 9], domain: 'distinct' }]],
  ['5x5 stride 2 pads 2 ceil_mode', { kernel_shape: [5, 5], strides: [2, 2], pads: [2, 2, 2, 2], ceil_mode: 1 }, [{ dims: [2, 2, 8, 7], domain: 'distinct' }]],
  ['3-D, strides and asymmetric pads', { kernel_shape: [2, 2, 2], strides: [1, 2, 1], pads: [0, 1, 0, 1, 0, 0] }, [{ dims: [1, 2, 3, 5, 4], domain: 'distinct' }]],
  ['auto_pad SAME_UPPER stride 2', { kernel_shape: [3, 2], strides: [2, 2], auto_pad: 'SAME_UPPER' }, [{ dims: [2, 2, 7, 6], domain: 'distinct' }]],
], [['default', {}], ['argmax', { maxPool: 'argmax' }]]);
gc('count_include_pad 0, ceil_mode, pads', 'AveragePool', { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 }, [[2, 2, 6, 7]]);
gc('count_include_pad 1, ceil_mode, pads', 'AveragePool', { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1, count_include_pad: 1 }, [[2, 2, 6, 7]]);
gc('count_include_pad 1, ceil_mode, last window clipped by the end pad', 'AveragePool', { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1, count_include_pad: 1 }, [[1, 2, 6, 6]]);
gc('count_include_pad 0, ceil_mode, no pads, partial last window', 'AveragePool', { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }, [[1, 2, 6, 8]]);
gc('2x2 stride 2', 'AveragePool', { kernel_shape: [2, 2], strides: [2, 2] }, [[2, 3, 4, 4]]);
gc('5x5 stride 3 (googlenet aux head)', 'AveragePool', { kernel_shape: [5, 5], strides: [3, 3] }, [[1, 2, 8, 8]]);
gc('asymmetric pads, count_include_pad 0', 'AveragePool', { kernel_shape: [3, 2], pads: [0, 1, 2, 0] }, [[2, 2, 5, 4]]);
gc('', 'GlobalAveragePool', {}, [[2, 3, 4, 5]]);

// LRN (ORT only runs odd sizes, so the mirrored window of even sizes cannot be checked here). beta 0.75,
// 0.5 and 1.25 take the Sqrt/Reciprocal form of s^-beta, 0.6 keeps Pow.
gcForms('LRN', [
  ['size 5', { size: 5, alpha: 0.01, beta: 0.75, bias: { float: 1 } }, [[2, 7, 3, 3]]],
  ['size 3, strong alpha', { size: 3, alpha: 0.5, beta: 0.6, bias: { float: 2 } }, [[2, 6, 2, 3]]],
  ['size 3, googlenet constants', { size: 3, alpha: 0.0001, beta: 0.75, bias: { float: 1 } }, [[1, 4, 3, 3]]],
  ['size 3, beta 0.5', { size: 3, alpha: 0.3, beta: 0.5, bias: { float: 1 } }, [[2, 5, 2, 2]]],
  ['size 5, beta 1.25', { size: 5, alpha: 0.3, beta: 1.25, bias: { float: 1.5 } }, [[2, 6, 2, 2]]],
], [['default', {}], ['Pow', { lrnPower: 'pow' }]]);

// BatchNormalization.
const bnStats = (c: number): InputSpec[] => [fixed([c], new Array<number>(c).fill(0.1), DataType.FLOAT), fixed([c], new Array<number>(c).fill(1.5), DataType.FLOAT)];
gc('training mode, 4-D', 'BatchNormalization', { epsilon: 1e-3 }, [[3, 4, 2, 3], [4], [4], ...bnStats(4)]);
gc('training mode, 2-D input', 'BatchNormalization', {}, [[5, 3], [3], [3], ...bnStats(3)]);
gc('inference mode (frozen statistics)', 'BatchNormalization', {}, [[3, 4, 2, 2], [4], [4], ...bnStats(4)], { mode: 'eval' });
gc('inference mode, mean and var trainable', 'BatchNormalization', {}, [[3, 2, 2, 2], [2], [2], [2], positive([2])], { mode: 'eval' });

// Dropout (training: fixed mask input, so the forward is deterministic; inference: identity).
gc('training mode, ratio 0.3', 'Dropout', {}, [[4, 6], fixed([], [0.3], DataType.FLOAT)]);
gc('inference mode', 'Dropout', {}, [[4, 6], fixed([], [0.3], DataType.FLOAT)], { mode: 'eval' });

// Data movement.
gc('axis 1, three inputs', 'Concat', { axis: 1 }, [[2, 2, 3], [2, 1, 3], [2, 3, 3]]);
gc('axis -1', 'Concat', { axis: -1 }, [[2, 2], [2, 3]]);
gc('split sizes input, both outputs', 'Split', { axis: 1 }, [[2, 5, 2], fixed([2], [2, 3])], { outputs: 2 });
gc('equal split, three outputs', 'Split', { axis: 0 }, [[6, 2]], { outputs: 3 });
gc('axis 2', 'Flatten', { axis: 2 }, [[2, 3, 2, 2]]);
gc('shape input with 0 and -1', 'Reshape', {}, [[2, 3, 4], fixed([2], [0, -1])]);
gc('perm', 'Transpose', { perm: [2, 0, 1] }, [[2, 3, 4]]);
gc('default perm', 'Transpose', {}, [[2, 3, 4]]);
gc('axes input', 'Squeeze', {}, [[2, 1, 3], fixed([1], [1])]);
gc('axes input', 'Unsqueeze', {}, [[2, 3], fixed([2], [0, 3])]);
gc('', 'Identity', {}, [[2, 3]]);
gc('constant pads', 'Pad', {}, [[2, 3], fixed([4], [1, 0, 2, 1])]);
gc('axes input, keepdims 0', 'ReduceSum', { keepdims: 0 }, [[2, 3, 4], fixed([2], [0, 2])]);
gc('axes attribute (opset 17)', 'ReduceMean', { axes: [1] }, [[2, 3, 4]]);
gc('all axes', 'ReduceMean', { keepdims: 0 }, [[2, 3]]);
