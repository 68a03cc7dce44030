import type { TensorProto } from '../onnx/generated/onnx_pb.js';
import { RebirthError } from '../errors.js';

/** ONNX TensorProto.DataType codes (onnx.proto). Kept as plain numbers so unknown future codes pass through. */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
} as const;
export type DataTypeCode = number;

/** Bytes per element of the fixed-width types; undefined for strings and sub-byte/exotic types. */
const ELEMENT_BYTES: Record<number, number> = {
  1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 14: 8, 15: 16, 16: 2,
};

export function elementBytes(dataType: DataTypeCode): number | undefined {
  return ELEMENT_BYTES[dataType];
}

export function dataTypeName(dataType: DataTypeCode): string {
  for (const [name, code] of Object.entries(DataType)) if (code === dataType) return name.toLowerCase();
  return `type${dataType}`;
}

/** Where a tensor's bytes came from in the file, so save can write them back the same way. */
export type TensorStorage = 'raw' | 'typed' | 'external';

/** Location of tensor bytes in an external data file (ONNX external data, IR >= 6). */
export interface ExternalLocation {
  location: string;
  offset: number;
  length: number;
  /** Any other key/value pairs (checksum, ...), kept verbatim. */
  extra: Array<{ key: string; value: string }>;
}

/**
 * A constant tensor. Numeric data is held as little-endian raw bytes (a view into the loaded file when
 * possible, so a 240 MB model is not copied); strings as a list of byte strings.
 */
export interface Tensor {
  name: string;
  dataType: DataTypeCode;
  dims: number[];
  /** Raw little-endian bytes for fixed-width types; undefined for strings and types kept only in `proto`. */
  data?: Uint8Array;
  strings?: Uint8Array[];
  storage: TensorStorage;
  external?: ExternalLocation;
  docString: string;
  /** Fields rebirth does not model (segment, metadata_props, unknown fields), kept for lossless save. */
  proto?: TensorProto;
}

export function numel(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** A float32 view of a FLOAT tensor's bytes (copies only when the bytes are not 4-byte aligned). */
export function tensorToFloat32(t: Tensor): Float32Array {
  if (t.dataType === DataType.FLOAT) return viewAs(t, Float32Array, 4);
  if (t.dataType === DataType.DOUBLE) return Float32Array.from(viewAs(t, Float64Array, 8));
  if (t.dataType === DataType.FLOAT16) {
    const bits = viewAs(t, Uint16Array, 2);
    return Float32Array.from(bits, halfToFloat);
  }
  throw new RebirthError(`tensor '${t.name}' has type ${dataTypeName(t.dataType)}, expected a float tensor`);
}

export function tensorToInt64(t: Tensor): BigInt64Array {
  if (t.dataType === DataType.INT64) return viewAs(t, BigInt64Array, 8);
  if (t.dataType === DataType.INT32) return BigInt64Array.from(viewAs(t, Int32Array, 4), (v) => BigInt(v));
  throw new RebirthError(`tensor '${t.name}' has type ${dataTypeName(t.dataType)}, expected an integer tensor`);
}

/** Integer tensor values as JS numbers (shape tensors, axes, pads): always small enough to be exact. */
export function tensorToNumbers(t: Tensor): number[] {
  if (t.dataType === DataType.FLOAT || t.dataType === DataType.DOUBLE) return Array.from(tensorToFloat32(t));
  return Array.from(tensorToInt64(t), (v) => Number(v));
}

type TypedArrayCtor<T> = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; BYTES_PER_ELEMENT: number };

function viewAs<T>(t: Tensor, ctor: TypedArrayCtor<T>, width: number): T {
  const data = t.data;
  if (!data) throw new RebirthError(`tensor '${t.name}' has no numeric data`);
  const n = data.byteLength / width;
  if (data.byteOffset % width === 0) return new ctor(data.buffer, data.byteOffset, n);
  // new Uint8Array(view) copies into a fresh buffer; Buffer#slice would alias the whole file buffer.
  const copy = new Uint8Array(data);
  return new ctor(copy.buffer, 0, n);
}

export function floatTensor(name: string, dims: number[], values: Float32Array | number[]): Tensor {
  const arr = values instanceof Float32Array ? values : Float32Array.from(values);
  if (arr.length !== numel(dims)) {
    throw new RebirthError(`tensor '${name}': ${arr.length} values do not fill shape [${dims.join(',')}]`);
  }
  return {
    name, dataType: DataType.FLOAT, dims: [...dims], storage: 'raw', docString: '',
    data: new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength),
  };
}

export function int64Tensor(name: string, dims: number[], values: readonly (number | bigint)[]): Tensor {
  const arr = BigInt64Array.from(values, (v) => BigInt(v));
  return {
    name, dataType: DataType.INT64, dims: [...dims], storage: 'raw', docString: '',
    data: new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength),
  };
}

/** IEEE 754 binary16 -> number. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}
