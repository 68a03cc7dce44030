// Tiny ONNX models for the runtime tests, built straight from the generated protobuf schema so the
// runtime tests do not depend on the graph IR (which is developed in parallel).
import { create, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType,
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProto_DataType,
  TensorProtoSchema,
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from '../../src/onnx/generated/onnx_pb.js';

/** A dim is a fixed size or a symbolic name (dim_param). */
export type Dim = number | string;

export function floatInit(name: string, dims: number[], values: number[]): TensorProto {
  return create(TensorProtoSchema, {
    name,
    dims: dims.map((d) => BigInt(d)),
    dataType: TensorProto_DataType.FLOAT,
    floatData: values,
  });
}

export function int64Init(name: string, dims: number[], values: number[]): TensorProto {
  return create(TensorProtoSchema, {
    name,
    dims: dims.map((d) => BigInt(d)),
    dataType: TensorProto_DataType.INT64,
    int64Data: values.map((v) => BigInt(v)),
  });
}

export function floatValue(name: string, dims: Dim[]): ValueInfoProto {
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, {
      value: {
        case: 'tensorType',
        value: create(TypeProto_TensorSchema, {
          elemType: TensorProto_DataType.FLOAT,
          shape: create(TensorShapeProtoSchema, {
            dim: dims.map((d) =>
              create(TensorShapeProto_DimensionSchema, {
                value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : { case: 'dimParam', value: d },
              }),
            ),
          }),
        }),
      },
    }),
  });
}

export function intsAttr(name: string, values: number[]): AttributeProto {
  return create(AttributeProtoSchema, {
    name,
    type: AttributeProto_AttributeType.INTS,
    ints: values.map((v) => BigInt(v)),
  });
}

export function node(
  opType: string,
  name: string,
  input: string[],
  output: string[],
  attribute: AttributeProto[] = [],
): NodeProto {
  return create(NodeProtoSchema, { opType, name, input, output, attribute });
}

export interface ModelSpec {
  nodes: NodeProto[];
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
  initializers?: TensorProto[];
  opset?: number;
}

export function encodeModel(spec: ModelSpec): Uint8Array {
  return toBinary(
    ModelProtoSchema,
    create(ModelProtoSchema, {
      // IR 8 / opset 13 are supported by every ORT since 1.10, so the fixtures do not hit version limits.
      irVersion: 8n,
      producerName: 'rebirth-test',
      opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(spec.opset ?? 13) })],
      graph: create(GraphProtoSchema, {
        name: 'g',
        node: spec.nodes,
        input: spec.inputs,
        output: spec.outputs,
        initializer: spec.initializers ?? [],
      }),
    }),
  );
}

/**
 * Conv(1->2 channels, 2x2 kernel) -> Relu -> MaxPool(2x2, stride 1) on a 1x1x4x4 input.
 * With X = [-8..7] row-major (see CONV_RELU_POOL_INPUT):
 *   channel 0: W = [[1,0],[0,1]], b = 0 -> conv = x[r][c] + x[r+1][c+1]
 *     = [[-11,-9,-7],[-3,-1,1],[5,7,9]] -> relu [[0,0,0],[0,0,1],[5,7,9]] -> pool [[0,1],[7,9]]
 *   channel 1: W = [[-1,0],[0,0]], b = 1 -> conv = 1 - x[r][c]
 *     = [[9,8,7],[5,4,3],[1,0,-1]] -> relu [[9,8,7],[5,4,3],[1,0,0]] -> pool [[9,8],[5,4]]
 */
export const CONV_RELU_POOL_INPUT: number[] = Array.from({ length: 16 }, (_, i) => i - 8);
export const CONV_RELU_POOL_EXPECTED: number[] = [0, 1, 7, 9, 9, 8, 5, 4];
export const CONV_RELU_POOL_NODES = ['conv1', 'relu1', 'pool1'] as const;

export function convReluPoolModel(options: { names?: readonly string[]; batch?: Dim } = {}): Uint8Array {
  const names = options.names ?? CONV_RELU_POOL_NODES;
  const batch = options.batch ?? 1;
  return encodeModel({
    inputs: [floatValue('X', [batch, 1, 4, 4])],
    outputs: [floatValue('Y', [batch, 2, 2, 2])],
    initializers: [floatInit('W', [2, 1, 2, 2], [1, 0, 0, 1, -1, 0, 0, 0]), floatInit('B', [2], [0, 1])],
    nodes: [
      node('Conv', names[0] ?? '', ['X', 'W', 'B'], ['C'], [intsAttr('kernel_shape', [2, 2])]),
      node('Relu', names[1] ?? '', ['C'], ['R']),
      node('MaxPool', names[2] ?? '', ['R'], ['Y'], [intsAttr('kernel_shape', [2, 2]), intsAttr('strides', [1, 1])]),
    ],
  });
}

/** A bigger conv stack so kernel times are well above timer resolution. */
export function convStackModel(layers: number, channels = 16, size = 32): Uint8Array {
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  let prev = 'X';
  let seed = 1;
  const rand = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648 - 0.5;
  };
  for (let i = 0; i < layers; i++) {
    const inC = i === 0 ? 3 : channels;
    const w = Array.from({ length: channels * inC * 9 }, () => rand() * 0.2);
    inits.push(floatInit(`w${i}`, [channels, inC, 3, 3], w));
    nodes.push(node('Conv', `conv${i}`, [prev, `w${i}`], [`c${i}`], [intsAttr('kernel_shape', [3, 3]), intsAttr('pads', [1, 1, 1, 1])]));
    nodes.push(node('Relu', `relu${i}`, [`c${i}`], [`r${i}`]));
    prev = `r${i}`;
  }
  nodes.push(node('GlobalAveragePool', 'gap', [prev], ['Y']));
  return encodeModel({
    inputs: [floatValue('X', ['N', 3, size, size])],
    outputs: [floatValue('Y', ['N', channels, 1, 1])],
    initializers: inits,
    nodes,
  });
}

/** A model whose single node uses an op that no ONNX domain defines. */
export function unknownOpModel(): Uint8Array {
  return encodeModel({
    inputs: [floatValue('X', [1, 4])],
    outputs: [floatValue('Y', [1, 4])],
    nodes: [node('FrobnicateXYZ', 'mystery_node', ['X'], ['Y'])],
  });
}

/** Loads fine but fails at run time: Reshape of 4 elements to [3]. */
export function badReshapeModel(): Uint8Array {
  return encodeModel({
    inputs: [floatValue('X', [1, 4])],
    outputs: [floatValue('Y', [3])],
    initializers: [int64Init('shape', [1], [3])],
    nodes: [node('Reshape', 'bad_reshape', ['X', 'shape'], ['Y'])],
  });
}

/** Relu on an input whose batch and spatial dims are all symbolic. */
export function symbolicReluModel(): Uint8Array {
  return encodeModel({
    inputs: [floatValue('X', ['N', 1, 'H', 'W'])],
    outputs: [floatValue('Y', ['N', 1, 'H', 'W'])],
    nodes: [node('Relu', 'relu', ['X'], ['Y'])],
  });
}
