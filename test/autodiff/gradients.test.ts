// One gradient check per op and attribute variant of the table in src/autodiff/rules.ts: analytic gradients
// from the generated ONNX training graph against central differences, both run by onnxruntime-node.
import { test } from 'node:test';
import { DataType } from '../../src/ir/tensor.js';
import { check, type CheckOptions, type InputSpec } from './gradcheck.js';

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
gc('', 'Relu', {}, [[3, 4]], { domain: 'awayFromZero' });
gc('alpha 0.1', 'LeakyRelu', { alpha: 0.1 }, [[3, 4]], { domain: 'awayFromZero' });
gc('', 'Sigmoid', {}, [[3, 4]]);
gc('double', 'Tanh', {}, [[3, 4]], { dtype: 'double' });
// Clip input: a grid of values at least 0.02 (> eps) from the bounds -0.5 and 0.6.
const clipInput: InputSpec = { dims: [3, 4], values: Array.from({ length: 12 }, (_, i) => -0.987 + 0.17 * i), trainable: true };
gc('min and max inputs', 'Clip', {}, [clipInput, fixed([], [-0.5], DataType.FLOAT), fixed([], [0.6], DataType.FLOAT)]);
gc('max only', 'Clip', {}, [clipInput, null, fixed([], [0.6], DataType.FLOAT)]);
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

// Conv: strides, pads (incl. (in + pads - k) % s != 0), dilations, groups, depthwise, auto_pad, ranks.
gc('3x3 pad 1', 'Conv', { pads: [1, 1, 1, 1] }, [[2, 3, 5, 5], [4, 3, 3, 3], [4]]);
gc('stride 2, odd size 7, pad 1', 'Conv', { strides: [2, 2], pads: [1, 1, 1, 1] }, [[2, 3, 7, 7], [4, 3, 3, 3], [4]]);
gc('stride 2, (8+2-3)%2=1: the end pad row is never read', 'Conv', { strides: [2, 2], pads: [1, 1, 1, 1] }, [[2, 2, 8, 8], [3, 2, 3, 3], [3]]);
gc('stride 3, asymmetric pads, no bias', 'Conv', { strides: [3, 2], pads: [0, 1, 2, 0] }, [[2, 2, 8, 7], [3, 2, 3, 2]]);
gc('stride 2 with 5x5 kernel and pad 2 (googlenet stem)', 'Conv', { strides: [2, 2], pads: [2, 2, 2, 2] }, [[1, 2, 9, 9], [2, 2, 5, 5], [2]]);
gc('dilation 2', 'Conv', { dilations: [2, 2], pads: [2, 2, 2, 2] }, [[2, 2, 7, 6], [3, 2, 3, 3], [3]]);
gc('dilation 2 and stride 2', 'Conv', { dilations: [2, 1], strides: [2, 2], pads: [1, 0, 2, 1] }, [[2, 2, 9, 8], [3, 2, 3, 2], [3]]);
gc('groups 2', 'Conv', { group: 2, pads: [1, 1, 1, 1] }, [[2, 4, 5, 5], [6, 2, 3, 3], [6]]);
gc('groups 2, stride 2, dilation', 'Conv', { group: 2, strides: [2, 2], dilations: [2, 1] }, [[2, 4, 9, 8], [6, 2, 3, 2], [6]]);
gc('depthwise', 'Conv', { group: 4, pads: [1, 1, 1, 1], strides: [2, 2] }, [[2, 4, 7, 7], [4, 1, 3, 3], [4]]);
gc('depthwise multiplier 2', 'Conv', { group: 3, pads: [1, 1, 1, 1] }, [[2, 3, 5, 5], [6, 1, 3, 3], [6]]);
gc('1x1', 'Conv', {}, [[2, 5, 4, 4], [3, 5, 1, 1], [3]]);
gc('auto_pad SAME_UPPER stride 2', 'Conv', { auto_pad: 'SAME_UPPER', strides: [2, 2] }, [[2, 2, 7, 6], [3, 2, 3, 2], [3]]);
gc('auto_pad SAME_LOWER', 'Conv', { auto_pad: 'SAME_LOWER' }, [[2, 2, 5, 5], [3, 2, 2, 2], [3]]);
gc('auto_pad VALID stride 2', 'Conv', { auto_pad: 'VALID', strides: [2, 2] }, [[2, 2, 6, 6], [2, 2, 3, 3], [2]]);
gc('1-D, stride 2', 'Conv', { strides: [2], pads: [1, 0] }, [[2, 3, 9], [4, 3, 3], [4]]);
gc('3-D', 'Conv', { pads: [1, 0, 1, 0, 1, 0], strides: [1, 2, 1] }, [[1, 2, 3, 5, 4], [2, 2, 2, 3, 2], [2]]);

// ConvTranspose.
gc('stride 2, pad 1, output_padding 1', 'ConvTranspose', { strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] }, [[2, 3, 4, 4], [3, 2, 3, 3], [2]]);
gc('groups 2, dilation 2', 'ConvTranspose', { group: 2, dilations: [2, 2], pads: [1, 0, 0, 1] }, [[2, 4, 3, 4], [4, 3, 3, 2], [6]]);
gc('output_shape', 'ConvTranspose', { strides: [2, 2], output_shape: [8, 7] }, [[1, 2, 4, 4], [2, 3, 3, 3], [3]]);
gc('auto_pad SAME_UPPER', 'ConvTranspose', { strides: [2, 2], auto_pad: 'SAME_UPPER' }, [[1, 2, 3, 3], [2, 2, 3, 3]]);
gc('stride 3, kernel 2 (gaps in the output)', 'ConvTranspose', { strides: [3, 3] }, [[2, 2, 3, 3], [2, 2, 2, 2], [2]]);

// Pooling (max pooling on tie-free inputs).
gc('3x3 stride 2 ceil_mode, overlapping', 'MaxPool', { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }, [{ dims: [2, 3, 6, 6], domain: 'distinct' }]);
gc('3x3 stride 2 pads 1 ceil_mode', 'MaxPool', { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 }, [{ dims: [2, 2, 7, 6], domain: 'distinct' }]);
gc('2x2 stride 2', 'MaxPool', { kernel_shape: [2, 2], strides: [2, 2] }, [{ dims: [2, 2, 4, 5], domain: 'distinct' }]);
gc('3x3 stride 1 pads 1 (googlenet inception branch)', 'MaxPool', { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, [{ dims: [2, 2, 5, 5], domain: 'distinct' }]);
gc('dilations 2, asymmetric pads', 'MaxPool', { kernel_shape: [2, 2], dilations: [2, 2], pads: [0, 1, 1, 0] }, [{ dims: [1, 2, 6, 6], domain: 'distinct' }]);
gc('storage_order 1 with Indices output', 'MaxPool', { kernel_shape: [2, 2], storage_order: 1 }, [{ dims: [1, 2, 4, 3], domain: 'distinct' }]);
gc('1-D', 'MaxPool', { kernel_shape: [3], strides: [2] }, [{ dims: [2, 2, 9], domain: 'distinct' }]);
gc('5x5 stride 2 pads 2 ceil_mode', 'MaxPool', { kernel_shape: [5, 5], strides: [2, 2], pads: [2, 2, 2, 2], ceil_mode: 1 }, [{ dims: [2, 2, 8, 7], domain: 'distinct' }]);
gc('count_include_pad 0, ceil_mode, pads', 'AveragePool', { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 }, [[2, 2, 6, 7]]);
gc('count_include_pad 1, ceil_mode, pads', 'AveragePool', { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1, count_include_pad: 1 }, [[2, 2, 6, 7]]);
gc('count_include_pad 1, ceil_mode, last window clipped by the end pad', 'AveragePool', { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1, count_include_pad: 1 }, [[1, 2, 6, 6]]);
gc('count_include_pad 0, ceil_mode, no pads, partial last window', 'AveragePool', { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }, [[1, 2, 6, 8]]);
gc('2x2 stride 2', 'AveragePool', { kernel_shape: [2, 2], strides: [2, 2] }, [[2, 3, 4, 4]]);
gc('5x5 stride 3 (googlenet aux head)', 'AveragePool', { kernel_shape: [5, 5], strides: [3, 3] }, [[1, 2, 8, 8]]);
gc('asymmetric pads, count_include_pad 0', 'AveragePool', { kernel_shape: [3, 2], pads: [0, 1, 2, 0] }, [[2, 2, 5, 4]]);
gc('', 'GlobalAveragePool', {}, [[2, 3, 4, 5]]);

// LRN (ORT only runs odd sizes, so the mirrored window of even sizes cannot be checked here).
gc('size 5', 'LRN', { size: 5, alpha: 0.01, beta: 0.75, bias: { float: 1 } }, [[2, 7, 3, 3]]);
gc('size 3, strong alpha', 'LRN', { size: 3, alpha: 0.5, beta: 0.6, bias: { float: 2 } }, [[2, 6, 2, 3]]);
gc('size 3, googlenet constants', 'LRN', { size: 3, alpha: 0.0001, beta: 0.75, bias: { float: 1 } }, [[1, 4, 3, 3]]);

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
