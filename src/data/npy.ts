/**
 * NumPy .npy files (format versions 1.0, 2.0 and 3.0), C order, little-endian numeric dtypes.
 *
 * Layout: "\x93NUMPY", major, minor, header length (uint16 LE in v1, uint32 LE in v2/v3), then an
 * ASCII (v3: UTF-8) Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * padded with spaces and a final '\n' so the data starts at a multiple of 64 bytes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { typedArray, type TypedArrayOf } from '../ir/dtypes.js';
import { RebirthError, errorMessage, firstLine } from '../errors.js';

/** The element types .npy files here may hold (numpy's names, which are ORT's names too). */
export type NpyTypedArrays = Pick<TypedArrayOf, 'float32' | 'float64' | 'int32' | 'int64' | 'uint8' | 'int16' | 'bool'>;

export type NpyDtype = keyof NpyTypedArrays;

/** A discriminated union: checking `dtype` narrows `data` to the matching typed array. */
export type NpyArray = {
  [K in NpyDtype]: { dtype: K; shape: number[]; data: NpyTypedArrays[K] };
}[NpyDtype];

interface DtypeInfo {
  descr: string;
  bytes: number;
}

const DTYPES: Record<NpyDtype, DtypeInfo> = {
  float32: { descr: '<f4', bytes: 4 },
  float64: { descr: '<f8', bytes: 8 },
  int32: { descr: '<i4', bytes: 4 },
  int64: { descr: '<i8', bytes: 8 },
  uint8: { descr: '|u1', bytes: 1 },
  int16: { descr: '<i2', bytes: 2 },
  bool: { descr: '|b1', bytes: 1 },
};

/** descr → dtype; single-byte types are also accepted with '<' or '=', which numpy treats as the same. */
const BY_DESCR = new Map<string, NpyDtype>();
for (const [dtype, info] of Object.entries(DTYPES) as Array<[NpyDtype, DtypeInfo]>) {
  BY_DESCR.set(info.descr, dtype);
  if (info.bytes === 1) {
    BY_DESCR.set(`<${info.descr.slice(1)}`, dtype);
    BY_DESCR.set(`=${info.descr.slice(1)}`, dtype);
  }
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const ALIGN = 64;

// Typed arrays use the host's byte order; .npy data here is little-endian. Every platform Node 20
// ships for is little-endian, so this only guards against an exotic build silently reading garbage.
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function readNpy(file: string): NpyArray {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new RebirthError(`cannot read ${file}: ${firstLine(errorMessage(e))}`, { cause: e });
  }
  return parseNpy(bytes, file);
}

export function writeNpy(file: string, array: NpyArray): void {
  const bytes = encodeNpy(array);
  try {
    writeFileSync(file, bytes);
  } catch (e) {
    throw new RebirthError(`cannot write ${file}: ${firstLine(errorMessage(e))}`, { cause: e });
  }
}

/** What a .npy header says: element type, shape, and where the data starts and how long it is. */
export interface NpyHeader {
  dtype: NpyDtype;
  shape: number[];
  /** Byte offset of the first element. */
  dataStart: number;
  /** Bytes of data the shape needs. */
  byteLength: number;
  /** Bytes per element. */
  itemSize: number;
}

/**
 * Parse the header at the start of `bytes` (which need not hold the data: reading a large file's first
 * kilobytes is enough to stream it). `name` (a file name) is used in error messages.
 */
export function parseNpyHeader(bytes: Uint8Array, name = '.npy data'): NpyHeader {
  if (!HOST_LITTLE_ENDIAN) throw new RebirthError('reading .npy needs a little-endian host');
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new RebirthError(`${name} is not a .npy file (no \\x93NUMPY magic): save it with numpy.save`);
  }
  const major = bytes[6] ?? 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let headerStart: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new RebirthError(`${name} is truncated inside its .npy header: save it again`);
    headerLen = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw new RebirthError(`${name} uses .npy format version ${major}.${bytes[7] ?? 0}, only 1.x-3.x are supported: save it with numpy.save`);
  }
  const dataStart = headerStart + headerLen;
  if (dataStart > bytes.length) throw new RebirthError(`${name} is truncated inside its .npy header: save it again`);
  const headerText = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, dataStart));

  let header: PyValue;
  try {
    header = parsePyLiteral(headerText);
  } catch (e) {
    throw new RebirthError(`${name} has a malformed .npy header (${errorMessage(e)}): save it again with numpy.save`);
  }
  if (!(header instanceof Map)) throw new RebirthError(`${name} has a malformed .npy header (not a dict): save it again with numpy.save`);
  const descr = header.get('descr');
  const fortran = header.get('fortran_order');
  const shape = header.get('shape');
  if (typeof descr !== 'string') {
    throw new RebirthError(`${name} has dtype ${describe(descr)}; structured dtypes are not supported: save a plain numeric array`);
  }
  const dtype = BY_DESCR.get(descr);
  if (!dtype) {
    throw new RebirthError(
      `${name} has dtype '${descr}', supported: ${[...Object.values(DTYPES)].map((d) => d.descr).join(', ')}; convert it with arr.astype('<f4')`,
    );
  }
  if (fortran !== false) {
    throw new RebirthError(
      `${name} is stored in Fortran order, only C order is supported: save numpy.ascontiguousarray(arr) instead`,
    );
  }
  if (!Array.isArray(shape) || !shape.every((d): d is number => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw new RebirthError(`${name} has a malformed .npy shape ${describe(shape)}: save it again with numpy.save`);
  }
  const info = DTYPES[dtype];
  const length = shape.reduce((a, b) => a * b, 1);
  return { dtype, shape: [...shape], dataStart, byteLength: length * info.bytes, itemSize: info.bytes };
}

/** Parse .npy bytes; `name` (a file name) is used in error messages. */
export function parseNpy(bytes: Uint8Array, name = '.npy data'): NpyArray {
  const { dtype, shape, dataStart, byteLength, itemSize } = parseNpyHeader(bytes, name);
  checkNpyLength(bytes.length, { dtype, shape, dataStart, byteLength, itemSize }, name);
  // Copy instead of viewing: the data offset in a pooled Buffer need not be aligned for the typed array.
  const data = typedArray(dtype, byteLength / itemSize);
  new Uint8Array(data.buffer).set(bytes.subarray(dataStart, dataStart + byteLength));
  return { dtype, shape: [...shape], data } as NpyArray;
}

/** Throw unless a file of `fileLength` bytes holds exactly the data its header announces. */
export function checkNpyLength(fileLength: number, h: NpyHeader, name: string): void {
  const available = fileLength - h.dataStart;
  if (available < h.byteLength) {
    throw new RebirthError(
      `${name} is truncated: shape (${h.shape.join(', ')}) of ${DTYPES[h.dtype].descr} needs ${h.byteLength} data bytes, only ${available} present; save it again`,
    );
  }
  if (available > h.byteLength) {
    throw new RebirthError(
      `${name} has ${available - h.byteLength} bytes after its data; it is corrupt or not a single .npy array (.npz files are zip archives): save it with numpy.save`,
    );
  }
}

/** Encode as .npy: version 1.0 unless the header needs more than 65535 bytes, then 2.0. */
export function encodeNpy(array: NpyArray): Uint8Array {
  if (!HOST_LITTLE_ENDIAN) throw new RebirthError('writing .npy needs a little-endian host');
  const info = DTYPES[array.dtype];
  if (!info) throw new RebirthError(`cannot write .npy: unknown dtype '${String(array.dtype)}'`);
  if (!array.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new RebirthError(`cannot write .npy: shape (${array.shape.join(', ')}) must hold integers >= 0`);
  }
  const length = array.shape.reduce((a, b) => a * b, 1);
  if (array.data.length !== length) {
    throw new RebirthError(`cannot write .npy: shape (${array.shape.join(', ')}) needs ${length} elements, data has ${array.data.length}`);
  }
  // numpy writes a 1-tuple as "(n,)"; "(n)" would be an int, not a tuple, to a Python reader.
  const shapeText = array.shape.length === 1 ? `(${array.shape[0]},)` : `(${array.shape.join(', ')})`;
  const dict = `{'descr': '${info.descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  let prefix = 10;
  let total = alignUp(prefix + dict.length + 1, ALIGN);
  let headerLen = total - prefix;
  const major = headerLen > 0xffff ? 2 : 1;
  if (major === 2) {
    prefix = 12;
    total = alignUp(prefix + dict.length + 1, ALIGN);
    headerLen = total - prefix;
  }
  const bytes = new Uint8Array(total + length * info.bytes);
  bytes.set(MAGIC, 0);
  bytes[6] = major;
  bytes[7] = 0;
  const view = new DataView(bytes.buffer);
  if (major === 1) view.setUint16(8, headerLen, true);
  else view.setUint32(8, headerLen, true);
  const header = dict.padEnd(headerLen - 1, ' ') + '\n';
  for (let i = 0; i < header.length; i++) bytes[prefix + i] = header.charCodeAt(i);
  const data = array.data;
  bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), total);
  return bytes;
}

/** Any numeric .npy array as float32 (int64 via Number, exact below 2^24 in magnitude). */
export function npyToFloat32(array: NpyArray): Float32Array {
  if (array.dtype === 'float32') return array.data;
  if (array.dtype === 'int64') return Float32Array.from(array.data, (v) => Number(v));
  return Float32Array.from(array.data);
}

function alignUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

function describe(v: PyValue | undefined): string {
  if (v === undefined) return '(missing)';
  if (v instanceof Map) return 'a dict';
  if (Array.isArray(v)) return `a sequence of ${v.length}`;
  return JSON.stringify(v) ?? String(v);
}

// ---- A parser for the small Python literal subset .npy headers use -------------------------------

type PyValue = string | number | boolean | null | PyValue[] | Map<string, PyValue>;

/** Parse a Python literal made of dicts, tuples, lists, strings, ints, floats, True/False/None. */
function parsePyLiteral(text: string): PyValue {
  let pos = 0;
  const skipSpace = (): void => {
    while (pos < text.length && /\s/.test(text[pos] ?? '')) pos++;
  };
  // Typed on the variable (not just the arrow) so TypeScript treats calls as never returning.
  const fail: (what: string) => never = (what) => {
    throw new Error(`${what} at offset ${pos}`);
  };
  const value = (): PyValue => {
    skipSpace();
    const ch = text[pos];
    if (ch === '{') return dict();
    if (ch === '(') return sequence(')');
    if (ch === '[') return sequence(']');
    if (ch === "'" || ch === '"') return str();
    const word = /^(True|False|None|[-+]?\d+[Ll]?|[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)/.exec(text.slice(pos));
    if (!word) return fail('unexpected character');
    pos += word[0].length;
    if (word[0] === 'True') return true;
    if (word[0] === 'False') return false;
    if (word[0] === 'None') return null;
    // Python 2 era writers put an 'L' after long ints in shapes: "(3L, 4L)".
    return Number(word[0].replace(/[Ll]$/, ''));
  };
  const str = (): string => {
    const quote = text[pos];
    pos++;
    let out = '';
    while (pos < text.length && text[pos] !== quote) {
      if (text[pos] === '\\') pos++;
      out += text[pos] ?? '';
      pos++;
    }
    if (pos >= text.length) fail('unterminated string');
    pos++;
    return out;
  };
  const sequence = (close: string): PyValue[] => {
    pos++;
    const items: PyValue[] = [];
    for (;;) {
      skipSpace();
      if (text[pos] === close) {
        pos++;
        return items;
      }
      items.push(value());
      skipSpace();
      if (text[pos] === ',') pos++;
      else if (text[pos] !== close) fail(`expected ',' or '${close}'`);
    }
  };
  const dict = (): Map<string, PyValue> => {
    pos++;
    const map = new Map<string, PyValue>();
    for (;;) {
      skipSpace();
      if (text[pos] === '}') {
        pos++;
        return map;
      }
      const key = value();
      if (typeof key !== 'string') fail('dict key is not a string');
      skipSpace();
      if (text[pos] !== ':') fail("expected ':'");
      pos++;
      map.set(key, value());
      skipSpace();
      if (text[pos] === ',') pos++;
      else if (text[pos] !== '}') fail("expected ',' or '}'");
    }
  };
  const result = value();
  skipSpace();
  if (pos !== text.length) fail('trailing text');
  return result;
}
