import { clone, create, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType as AttrType, AttributeProtoSchema, OperatorSetIdProtoSchema, StringStringEntryProtoSchema, GraphProtoSchema, ModelProtoSchema, NodeProtoSchema,
  TensorProto_DataLocation, TensorProtoSchema, TensorShapeProto_DimensionSchema, TensorShapeProtoSchema,
  TypeProto_TensorSchema, TypeProtoSchema, ValueInfoProtoSchema,
  type AttributeProto, type GraphProto, type NodeProto, type TensorProto, type ValueInfoProto,
} from './generated/onnx_pb.js';
import type { Attribute, Graph, Model, Node, ValueInfo } from '../ir/graph.js';
import type { Tensor } from '../ir/tensor.js';
import { DataType } from '../ir/tensor.js';
import { TYPED_FIELD, decodeValueInfo } from './decode.js';

/**
 * Serialization. Small messages go through protobuf-es; initializers are framed by hand so that their
 * raw bytes are never copied into one big buffer: a message is the concatenation of its encoded fields
 * (protobuf wire format), so `graph` = encode(graph without initializers) ++ for each initializer
 * [tag 5|LEN, varint(len), encode(tensor without raw_data) ++ [tag 9|LEN, varint(n), raw bytes]].
 * Parsers accept fields in any order, and repeated fields keep their relative order.
 */

/** Where external tensors go when saving; `inline` writes every tensor into the .onnx file. */
export interface EncodeOptions {
  external?: { write: (bytes: Uint8Array) => { location: string; offset: number } } | 'inline';
}

/** The serialized model as a list of chunks whose concatenation is the file. */
export function encodeModelChunks(model: Model, options: EncodeOptions = {}): Uint8Array[] {
  const m = model.proto ? clone(ModelProtoSchema, model.proto) : create(ModelProtoSchema);
  setField(m, 'irVersion', BigInt(model.irVersion));
  setField(m, 'producerName', model.producerName);
  setField(m, 'producerVersion', model.producerVersion);
  setField(m, 'domain', model.domain);
  setField(m, 'modelVersion', model.modelVersion);
  setField(m, 'docString', model.docString);
  m.opsetImport = model.opsetImports.map((o) => {
    const p = o.proto ? clone(OperatorSetIdProtoSchema, o.proto) : create(OperatorSetIdProtoSchema);
    setField(p, 'domain', o.domain);
    setField(p, 'version', BigInt(o.version));
    return p;
  });
  m.metadataProps = model.metadata.map((e) => {
    const p = e.proto ? clone(StringStringEntryProtoSchema, e.proto) : create(StringStringEntryProtoSchema);
    setField(p, 'key', e.key);
    setField(p, 'value', e.value);
    return p;
  });
  m.trainingInfo = model.trainingInfo;
  m.functions = model.functions;
  m.graph = undefined;
  const chunks: Uint8Array[] = [toBinary(ModelProtoSchema, m)];
  const graphChunks = graphBodyChunks(model.graph, options);
  chunks.push(tagLen(7, byteLength(graphChunks)), ...graphChunks);
  return chunks;
}

export function encodeModel(model: Model, options: EncodeOptions = {}): Uint8Array {
  return concat(encodeModelChunks(model, options));
}

function graphBodyChunks(graph: Graph, options: EncodeOptions): Uint8Array[] {
  const g = graphToProto(graph, options, false);
  const chunks: Uint8Array[] = [toBinary(GraphProtoSchema, g)];
  for (const t of graph.initializers.values()) {
    const tensorChunks = tensorChunksOf(t, options);
    chunks.push(tagLen(5, byteLength(tensorChunks)), ...tensorChunks);
  }
  return chunks;
}

/** GraphProto for subgraphs (attributes), or the top graph without initializers when `withInitializers` is false. */
function graphToProto(graph: Graph, options: EncodeOptions, withInitializers: boolean): GraphProto {
  const g = graph.proto ? clone(GraphProtoSchema, graph.proto) : create(GraphProtoSchema);
  setField(g, 'name', graph.name);
  setField(g, 'docString', graph.docString);
  g.input = graph.inputs.map(valueInfoToProto);
  g.output = graph.outputs.map(valueInfoToProto);
  g.valueInfo = graph.valueInfo.map(valueInfoToProto);
  g.node = graph.nodes.map((n) => nodeToProto(n, options));
  g.initializer = withInitializers ? [...graph.initializers.values()].map((t) => tensorToProto(t, 'inline')) : [];
  return g;
}

export function valueInfoToProto(v: ValueInfo): ValueInfoProto {
  const p = v.proto ? clone(ValueInfoProtoSchema, v.proto) : create(ValueInfoProtoSchema);
  setField(p, 'name', v.name);
  setField(p, 'docString', v.docString);
  // Rewrite the type only when the IR's view of it changed, so dim denotations etc. survive.
  const original = v.proto ? decodeValueInfo(v.proto) : undefined;
  const changed = !original || original.elemType !== v.elemType || !sameShape(original.shape, v.shape);
  if (changed && (v.elemType !== undefined || v.shape !== undefined)) {
    const tensorType = create(TypeProto_TensorSchema, { elemType: v.elemType ?? 0 });
    if (v.shape) {
      tensorType.shape = create(TensorShapeProtoSchema, {
        dim: v.shape.map((d) => create(TensorShapeProto_DimensionSchema, {
          value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) }
            : typeof d === 'string' ? { case: 'dimParam', value: d } : { case: undefined },
        })),
      });
    }
    p.type = create(TypeProtoSchema, { value: { case: 'tensorType', value: tensorType } });
  } else if (changed) {
    p.type = undefined;
  }
  return p;
}

function sameShape(a: ValueInfo['shape'], b: ValueInfo['shape']): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function nodeToProto(n: Node, options: EncodeOptions): NodeProto {
  const p = n.proto ? clone(NodeProtoSchema, n.proto) : create(NodeProtoSchema);
  setField(p, 'name', n.name);
  setField(p, 'opType', n.opType);
  setField(p, 'domain', n.domain);
  p.input = [...n.inputs];
  p.output = [...n.outputs];
  setField(p, 'docString', n.docString);
  p.attribute = n.attributes.map((a) => attributeToProto(a, options));
  return p;
}

function attributeToProto(a: Attribute, options: EncodeOptions): AttributeProto {
  if (a.kind === 'opaque') return a.value;
  const p = create(AttributeProtoSchema, { name: a.name });
  if (a.docString) p.docString = a.docString;
  switch (a.kind) {
    case 'float': p.type = AttrType.FLOAT; p.f = a.value; break;
    case 'int': p.type = AttrType.INT; p.i = a.value; break;
    case 'string': p.type = AttrType.STRING; p.s = a.value; break;
    case 'tensor': p.type = AttrType.TENSOR; p.t = tensorToProto(a.value, 'inline'); break;
    case 'graph': p.type = AttrType.GRAPH; p.g = graphToProto(a.value, options, true); break;
    case 'floats': p.type = AttrType.FLOATS; p.floats = [...a.value]; break;
    case 'ints': p.type = AttrType.INTS; p.ints = [...a.value]; break;
    case 'strings': p.type = AttrType.STRINGS; p.strings = [...a.value]; break;
    case 'tensors': p.type = AttrType.TENSORS; p.tensors = a.value.map((t) => tensorToProto(t, 'inline')); break;
    case 'graphs': p.type = AttrType.GRAPHS; p.graphs = a.value.map((g) => graphToProto(g, options, true)); break;
  }
  return p;
}

/** TensorProto with its data in the form it was loaded in (raw_data or typed fields). */
function tensorToProto(t: Tensor, _mode: 'inline'): TensorProto {
  const p = tensorHeader(t);
  if (t.data && (t.storage === 'raw' || t.storage === 'external')) p.rawData = t.data;
  return p;
}

/** Everything but raw_data / external bytes. */
function tensorHeader(t: Tensor): TensorProto {
  const p = t.proto ? clone(TensorProtoSchema, t.proto) : create(TensorProtoSchema);
  setField(p, 'name', t.name);
  setField(p, 'dataType', t.dataType);
  p.dims = t.dims.map((d) => BigInt(d));
  if (t.docString) p.docString = t.docString;
  if (t.strings) p.stringData = [...t.strings];
  if (t.data && t.storage === 'typed') writeTyped(p, t.data);
  return p;
}

function tensorChunksOf(t: Tensor, options: EncodeOptions): Uint8Array[] {
  const header = tensorHeader(t);
  if (!t.data || t.storage === 'typed') return [toBinary(TensorProtoSchema, header)];
  if (t.storage === 'external' && options.external && options.external !== 'inline') {
    const { location, offset } = options.external.write(t.data);
    header.dataLocation = TensorProto_DataLocation.EXTERNAL;
    header.externalData = [
      { $typeName: 'onnx.StringStringEntryProto', key: 'location', value: location },
      { $typeName: 'onnx.StringStringEntryProto', key: 'offset', value: String(offset) },
      { $typeName: 'onnx.StringStringEntryProto', key: 'length', value: String(t.data.byteLength) },
      ...(t.external?.extra ?? []).map((e) => ({ $typeName: 'onnx.StringStringEntryProto' as const, key: e.key, value: e.value })),
    ];
    return [toBinary(TensorProtoSchema, header)];
  }
  return [toBinary(TensorProtoSchema, header), tagLen(9, t.data.byteLength), t.data];
}

function writeTyped(p: TensorProto, data: Uint8Array): void {
  const spec = TYPED_FIELD[p.dataType];
  if (!spec) return;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const n = data.byteLength / spec.width;
  const idx = Array.from({ length: n }, (_, i) => i);
  switch (spec.field) {
    case 'floatData': p.floatData = idx.map((i) => view.getFloat32(i * 4, true)); break;
    case 'doubleData': p.doubleData = idx.map((i) => view.getFloat64(i * 8, true)); break;
    case 'int64Data': p.int64Data = idx.map((i) => view.getBigInt64(i * 8, true)); break;
    case 'uint64Data':
      p.uint64Data = idx.map((i) => (spec.width === 8 ? view.getBigUint64(i * 8, true) : BigInt(view.getUint32(i * 4, true))));
      break;
    case 'int32Data':
      p.int32Data = idx.map((i) => {
        if (spec.width === 4) return view.getInt32(i * 4, true);
        if (spec.width === 2) return spec.signed ? view.getInt16(i * 2, true) : view.getUint16(i * 2, true);
        return spec.signed ? view.getInt8(i) : view.getUint8(i);
      });
      break;
  }
  if (p.dataType === DataType.BOOL) p.int32Data = p.int32Data.map((v) => (v ? 1 : 0));
}

/** Field key (field number, wire type 2 = length-delimited) followed by the varint length. */
function tagLen(field: number, length: number): Uint8Array {
  return concat([varint((field << 3) | 2), varint(length)]);
}

function varint(value: number): Uint8Array {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Uint8Array.from(out);
}

function byteLength(chunks: readonly Uint8Array[]): number {
  let n = 0;
  for (const c of chunks) n += c.byteLength;
  return n;
}

export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(byteLength(chunks));
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

/**
 * Assign a proto2 optional scalar only when it differs from what the message already holds: assigning
 * the default would mark the field present and add it to the file, which is not a lossless round trip.
 */
function setField<T extends object, K extends keyof T>(msg: T, key: K, value: T[K]): void {
  if (msg[key] !== value) msg[key] = value;
}
