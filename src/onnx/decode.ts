import * as fs from 'node:fs';
import * as path from 'node:path';
import { fromBinary, isFieldSet } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType as AttrType, ModelProtoSchema, TensorProto_DataLocation, TensorProtoSchema,
  type AttributeProto, type GraphProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto,
} from './generated/onnx_pb.js';
import type { Attribute, Dim, Graph, Model, Node, ValueInfo } from '../ir/graph.js';
import { DataType, type ExternalLocation, type Tensor } from '../ir/tensor.js';
import { RebirthError, errorMessage, firstLine } from '../errors.js';

export interface DecodeOptions {
  /** Name used in error messages (usually the file path). */
  source?: string;
  /** Directory that external data locations are relative to; external tensors are not read without it. */
  baseDir?: string;
}

/**
 * Parse ONNX bytes into the IR. Raw tensor data stays a view into `bytes` (no copy), which is what keeps
 * peak memory of load+save under twice the file size for large models.
 */
export function decodeModel(bytes: Uint8Array, options: DecodeOptions = {}): Model {
  const source = options.source ?? 'model';
  let proto: ModelProto;
  try {
    proto = fromBinary(ModelProtoSchema, bytes);
  } catch (e) {
    throw new RebirthError(`${source} is not a valid ONNX file (protobuf decode failed: ${firstLine(errorMessage(e))}); is it truncated or another format?`);
  }
  if (!proto.graph || proto.irVersion <= 0n) {
    throw new RebirthError(`${source} is not an ONNX model (no ${proto.graph ? 'ir_version' : 'graph'} field); expected a ModelProto .onnx file`);
  }
  const ctx: Ctx = { source, baseDir: options.baseDir, externalFiles: new Map() };
  try {
    const graph = decodeGraph(proto.graph, ctx);
    const model: Model = {
      irVersion: Number(proto.irVersion),
      producerName: proto.producerName,
      producerVersion: proto.producerVersion,
      domain: proto.domain,
      modelVersion: proto.modelVersion,
      docString: proto.docString,
      opsetImports: proto.opsetImport.map((o) => ({ domain: o.domain, version: Number(o.version), proto: o })),
      metadata: proto.metadataProps.map((p) => ({ key: p.key, value: p.value, proto: p })),
      graph,
      trainingInfo: proto.trainingInfo,
      functions: proto.functions,
      proto,
    };
    // The IR owns these now; drop them from the passthrough so nothing is written twice.
    proto.graph = undefined;
    proto.opsetImport = [];
    proto.metadataProps = [];
    proto.trainingInfo = [];
    proto.functions = [];
    return model;
  } finally {
    for (const fd of ctx.externalFiles.values()) fs.closeSync(fd);
  }
}

interface Ctx {
  source: string;
  baseDir: string | undefined;
  externalFiles: Map<string, number>;
}

function decodeGraph(g: GraphProto, ctx: Ctx): Graph {
  const initializers = new Map<string, Tensor>();
  for (const t of g.initializer) initializers.set(t.name, decodeTensor(t, ctx));
  const graph: Graph = {
    name: g.name,
    docString: g.docString,
    inputs: g.input.map(decodeValueInfo),
    outputs: g.output.map(decodeValueInfo),
    valueInfo: g.valueInfo.map(decodeValueInfo),
    initializers,
    nodes: g.node.map((n) => decodeNode(n, ctx)),
    proto: g,
  };
  g.initializer = [];
  g.input = [];
  g.output = [];
  g.valueInfo = [];
  g.node = [];
  return graph;
}

export function decodeValueInfo(v: ValueInfoProto): ValueInfo {
  const info: ValueInfo = { name: v.name, docString: v.docString, proto: v };
  const tt = v.type?.value.case === 'tensorType' ? v.type.value.value : undefined;
  if (tt) {
    if (tt.elemType !== 0) info.elemType = tt.elemType;
    if (tt.shape) {
      info.shape = tt.shape.dim.map((d): Dim => {
        if (d.value.case === 'dimValue') return Number(d.value.value);
        if (d.value.case === 'dimParam') return d.value.value;
        return null;
      });
    }
  }
  return info;
}

function decodeNode(n: NodeProto, ctx: Ctx): Node {
  const node: Node = {
    name: n.name,
    opType: n.opType,
    domain: n.domain,
    inputs: [...n.input],
    outputs: [...n.output],
    attributes: n.attribute.map((a) => decodeAttribute(a, ctx)),
    docString: n.docString,
    proto: n,
  };
  n.attribute = [];
  n.input = [];
  n.output = [];
  return node;
}

function decodeAttribute(a: AttributeProto, ctx: Ctx): Attribute {
  const base = { name: a.name, ...(a.docString ? { docString: a.docString } : {}) };
  // ref_attr_name marks a reference to a function attribute: no value of its own.
  if (a.refAttrName) return { ...base, kind: 'opaque', value: a };
  switch (a.type) {
    case AttrType.FLOAT: return { ...base, kind: 'float', value: a.f };
    case AttrType.INT: return { ...base, kind: 'int', value: a.i };
    case AttrType.STRING: return { ...base, kind: 'string', value: a.s };
    case AttrType.TENSOR: return a.t ? { ...base, kind: 'tensor', value: decodeTensor(a.t, ctx) } : { ...base, kind: 'opaque', value: a };
    case AttrType.GRAPH: return a.g ? { ...base, kind: 'graph', value: decodeGraph(a.g, ctx) } : { ...base, kind: 'opaque', value: a };
    case AttrType.FLOATS: return { ...base, kind: 'floats', value: [...a.floats] };
    case AttrType.INTS: return { ...base, kind: 'ints', value: [...a.ints] };
    case AttrType.STRINGS: return { ...base, kind: 'strings', value: [...a.strings] };
    case AttrType.TENSORS: return { ...base, kind: 'tensors', value: a.tensors.map((t) => decodeTensor(t, ctx)) };
    case AttrType.GRAPHS: return { ...base, kind: 'graphs', value: a.graphs.map((g) => decodeGraph(g, ctx)) };
    default: return { ...base, kind: 'opaque', value: a };
  }
}

/** Which typed field holds each data type's values, and the JS array that element width maps to (onnx.proto). */
export const TYPED_FIELD: Record<number, { field: 'floatData' | 'int32Data' | 'int64Data' | 'doubleData' | 'uint64Data'; width: number; signed?: boolean }> = {
  [DataType.FLOAT]: { field: 'floatData', width: 4 },
  [DataType.COMPLEX64]: { field: 'floatData', width: 4 },
  [DataType.INT32]: { field: 'int32Data', width: 4, signed: true },
  [DataType.INT16]: { field: 'int32Data', width: 2, signed: true },
  [DataType.INT8]: { field: 'int32Data', width: 1, signed: true },
  [DataType.UINT16]: { field: 'int32Data', width: 2 },
  [DataType.FLOAT16]: { field: 'int32Data', width: 2 },
  [DataType.BFLOAT16]: { field: 'int32Data', width: 2 },
  [DataType.UINT8]: { field: 'int32Data', width: 1 },
  [DataType.BOOL]: { field: 'int32Data', width: 1 },
  [DataType.INT64]: { field: 'int64Data', width: 8, signed: true },
  [DataType.DOUBLE]: { field: 'doubleData', width: 8 },
  [DataType.COMPLEX128]: { field: 'doubleData', width: 8 },
  [DataType.UINT32]: { field: 'uint64Data', width: 4 },
  [DataType.UINT64]: { field: 'uint64Data', width: 8 },
};

export function decodeTensor(t: TensorProto, ctx: Ctx | DecodeOptions): Tensor {
  const tensor: Tensor = {
    name: t.name,
    dataType: t.dataType,
    dims: t.dims.map((d) => Number(d)),
    storage: 'typed',
    docString: t.docString,
    proto: t,
  };
  if (t.dataLocation === TensorProto_DataLocation.EXTERNAL) {
    tensor.storage = 'external';
    tensor.external = parseExternal(t, ctx);
    tensor.data = readExternal(tensor.external, t.name, ctx);
    t.externalData = [];
    t.dataLocation = TensorProto_DataLocation.DEFAULT;
  } else if (isFieldSet(t, TensorProtoSchema.field.rawData)) {
    tensor.storage = 'raw';
    tensor.data = t.rawData;
    t.rawData = new Uint8Array(0);
    delete (t as { rawData?: Uint8Array }).rawData;
  } else if (t.dataType === DataType.STRING) {
    tensor.strings = t.stringData;
    t.stringData = [];
  } else {
    const spec = TYPED_FIELD[t.dataType];
    if (spec) {
      tensor.data = typedToBytes(t, spec.field, spec.width, spec.signed ?? false);
      t[spec.field] = [];
    }
    // Other types (float8, int4) stay in `proto` untouched and are written back as they came.
  }
  return tensor;
}

function typedToBytes(
  t: TensorProto, field: 'floatData' | 'int32Data' | 'int64Data' | 'doubleData' | 'uint64Data', width: number, signed: boolean,
): Uint8Array {
  const out = new Uint8Array(t[field].length * width);
  const view = new DataView(out.buffer);
  switch (field) {
    case 'floatData': t.floatData.forEach((v, i) => view.setFloat32(i * 4, v, true)); break;
    case 'doubleData': t.doubleData.forEach((v, i) => view.setFloat64(i * 8, v, true)); break;
    case 'int64Data': t.int64Data.forEach((v, i) => view.setBigInt64(i * 8, v, true)); break;
    case 'uint64Data':
      t.uint64Data.forEach((v, i) => (width === 8 ? view.setBigUint64(i * 8, v, true) : view.setUint32(i * 4, Number(v), true)));
      break;
    case 'int32Data':
      t.int32Data.forEach((v, i) => {
        if (width === 4) view.setInt32(i * 4, v, true);
        else if (width === 2 && signed) view.setInt16(i * 2, v, true);
        else if (width === 2) view.setUint16(i * 2, v, true);
        else if (signed) view.setInt8(i, v);
        else view.setUint8(i, v);
      });
      break;
  }
  return out;
}

function parseExternal(t: TensorProto, ctx: Ctx | DecodeOptions): ExternalLocation {
  const loc: ExternalLocation = { location: '', offset: 0, length: -1, extra: [] };
  for (const { key, value } of t.externalData) {
    if (key === 'location') loc.location = value;
    else if (key === 'offset') loc.offset = Number(value);
    else if (key === 'length') loc.length = Number(value);
    else loc.extra.push({ key, value });
  }
  if (!loc.location) {
    throw new RebirthError(`${ctx.source ?? 'model'}: initializer '${t.name}' is stored externally but has no 'location'`);
  }
  return loc;
}

function readExternal(loc: ExternalLocation, name: string, ctx: Ctx | DecodeOptions): Uint8Array {
  const source = ctx.source ?? 'model';
  if (!ctx.baseDir) {
    throw new RebirthError(`${source}: initializer '${name}' uses external data '${loc.location}'; load the model from a file so its directory is known`);
  }
  const file = path.resolve(ctx.baseDir, loc.location);
  if (path.relative(ctx.baseDir, file).startsWith('..')) {
    throw new RebirthError(`${source}: initializer '${name}' points outside the model's directory ('${loc.location}')`);
  }
  const files = 'externalFiles' in ctx ? ctx.externalFiles : new Map<string, number>();
  let fd = files.get(file);
  if (fd === undefined) {
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      throw new RebirthError(`${source}: external data file '${loc.location}' for initializer '${name}' not found next to the model`);
    }
    files.set(file, fd);
  }
  const size = fs.fstatSync(fd).size;
  const length = loc.length >= 0 ? loc.length : size - loc.offset;
  if (loc.offset + length > size) {
    throw new RebirthError(`${source}: external data for '${name}' runs past the end of '${loc.location}' (truncated file?)`);
  }
  const out = new Uint8Array(length);
  fs.readSync(fd, out, 0, length, loc.offset);
  if (!('externalFiles' in ctx)) fs.closeSync(fd);
  return out;
}
