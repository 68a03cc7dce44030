import type {
  AttributeProto, FunctionProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
  TrainingInfoProto, TypeProto, ValueInfoProto,
} from '../onnx/generated/onnx_pb.js';
import type { Tensor } from './tensor.js';

/**
 * The one intermediate representation. It mirrors ONNX closely (values are named by strings, as in
 * ONNX) so that any model round-trips; every field rebirth does not model is kept in `proto` and
 * written back verbatim.
 */

/** A tensor dimension: a number, a symbolic name (dim_param), or unknown. */
export type Dim = number | string | null;

export interface ValueInfo {
  name: string;
  /** Element type for tensor values (TensorProto.DataType code); undefined when not a tensor or unknown. */
  elemType?: number;
  /** Shape for tensor values; undefined when the rank is unknown. */
  shape?: Dim[];
  docString: string;
  /**
   * The original ValueInfoProto. Its `type` is authoritative for non-tensor types (sequence, map,
   * optional, sparse) and keeps dim denotations; save only rewrites elem_type/shape when they changed.
   */
  proto?: ValueInfoProto;
}

export type AttributeValue =
  | { kind: 'float'; value: number }
  | { kind: 'int'; value: bigint }
  | { kind: 'string'; value: Uint8Array }
  | { kind: 'tensor'; value: Tensor }
  | { kind: 'graph'; value: Graph }
  | { kind: 'floats'; value: number[] }
  | { kind: 'ints'; value: bigint[] }
  | { kind: 'strings'; value: Uint8Array[] }
  | { kind: 'tensors'; value: Tensor[] }
  | { kind: 'graphs'; value: Graph[] }
  /** Sparse tensors, type protos and function attribute references: kept as the proto itself. */
  | { kind: 'opaque'; value: AttributeProto };

export type Attribute = AttributeValue & { name: string; docString?: string };

export interface Node {
  name: string;
  opType: string;
  /** '' is the default ONNX domain (ai.onnx). */
  domain: string;
  /** '' marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attributes: Attribute[];
  docString: string;
  proto?: NodeProto;
}

export interface Graph {
  name: string;
  docString: string;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  valueInfo: ValueInfo[];
  /** Initializers in file order, keyed by name. */
  initializers: Map<string, Tensor>;
  nodes: Node[];
  /** sparse_initializer, quantization_annotation, metadata_props and unknown fields. */
  proto?: GraphProto;
}

export interface OpsetImport {
  domain: string;
  version: number;
  proto?: OperatorSetIdProto;
}

export interface MetadataEntry {
  key: string;
  value: string;
  proto?: StringStringEntryProto;
}

export interface Model {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: bigint;
  docString: string;
  opsetImports: OpsetImport[];
  metadata: MetadataEntry[];
  graph: Graph;
  trainingInfo: TrainingInfoProto[];
  functions: FunctionProto[];
  proto?: ModelProto;
}

export type { TypeProto };
