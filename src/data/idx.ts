/**
 * IDX files (the MNIST / Fashion-MNIST container), raw or gzip-compressed.
 *
 * Layout: 2 zero bytes, a type byte, a dimension-count byte, then one big-endian uint32 per
 * dimension, then the data in row-major order. Images are "idx3-ubyte" (magic 0x00000803:
 * count x rows x cols unsigned bytes), labels "idx1-ubyte" (magic 0x00000801: count bytes).
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { RebirthError, errorMessage, firstLine } from '../errors.js';

const UBYTE = 0x08;
const GZIP_MAGIC_0 = 0x1f;
const GZIP_MAGIC_1 = 0x8b;

export interface IdxImages {
  count: number;
  rows: number;
  cols: number;
  /** count * rows * cols pixels, row-major, 0..255. */
  pixels: Uint8Array;
}

export interface IdxLabels {
  count: number;
  labels: Uint8Array;
}

/** Read a file, gunzipping it when it starts with the gzip magic (the extension is not trusted). */
export function readMaybeGzip(file: string): Uint8Array {
  let raw: Buffer;
  try {
    raw = readFileSync(file);
  } catch (e) {
    throw new RebirthError(`cannot read ${file}: ${firstLine(errorMessage(e))}`, { cause: e });
  }
  if (raw.length >= 2 && raw[0] === GZIP_MAGIC_0 && raw[1] === GZIP_MAGIC_1) {
    try {
      return gunzipSync(raw);
    } catch (e) {
      throw new RebirthError(
        `${file} is a corrupt or truncated gzip file (${firstLine(errorMessage(e))}): download it again`,
        { cause: e },
      );
    }
  }
  return raw;
}

/** Parse an IDX header of unsigned-byte data with `ndims` dimensions; returns dims and data offset. */
function parseUbyteHeader(bytes: Uint8Array, ndims: number, file: string, kind: string): { dims: number[]; offset: number } {
  const headerSize = 4 + 4 * ndims;
  const expectedMagic = `0x000008${ndims.toString(16).padStart(2, '0')}`;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Magic first: a wrong kind of file (labels passed as images) is the likelier mistake than truncation.
  if (bytes.length >= 4 && (bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== UBYTE || bytes[3] !== ndims)) {
    const magic = view.getUint32(0, false);
    throw new RebirthError(
      `${file} is not an IDX ${kind} file: magic number 0x${magic.toString(16).padStart(8, '0')}, expected ${expectedMagic}; check the file name or download it again`,
    );
  }
  if (bytes.length < headerSize) {
    throw new RebirthError(
      `${file} is truncated: ${bytes.length} bytes, shorter than the ${headerSize}-byte IDX ${kind} header; download it again`,
    );
  }
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i, false));
  return { dims, offset: headerSize };
}

function checkSize(bytes: Uint8Array, offset: number, dims: readonly number[], file: string): void {
  const expected = dims.reduce((a, b) => a * b, 1);
  const actual = bytes.length - offset;
  if (actual < expected) {
    throw new RebirthError(
      `${file} is truncated: header says ${dims.join('x')} (${expected} data bytes) but only ${actual} follow; download it again`,
    );
  }
  if (actual > expected) {
    throw new RebirthError(
      `${file} is corrupt: header says ${dims.join('x')} (${expected} data bytes) but ${actual} follow; download it again`,
    );
  }
}

/** Parse idx3-ubyte image bytes (already decompressed); `file` is only used in error messages. */
export function parseIdxImages(bytes: Uint8Array, file: string): IdxImages {
  const { dims, offset } = parseUbyteHeader(bytes, 3, file, 'image (idx3-ubyte)');
  const [count = 0, rows = 0, cols = 0] = dims;
  if (rows === 0 || cols === 0) {
    throw new RebirthError(`${file} is corrupt: image size ${rows}x${cols} in its header; download it again`);
  }
  checkSize(bytes, offset, dims, file);
  return { count, rows, cols, pixels: bytes.subarray(offset) };
}

/** Parse idx1-ubyte label bytes (already decompressed); `file` is only used in error messages. */
export function parseIdxLabels(bytes: Uint8Array, file: string): IdxLabels {
  const { dims, offset } = parseUbyteHeader(bytes, 1, file, 'label (idx1-ubyte)');
  checkSize(bytes, offset, dims, file);
  return { count: dims[0] ?? 0, labels: bytes.subarray(offset) };
}

export function readIdxImages(file: string): IdxImages {
  return parseIdxImages(readMaybeGzip(file), file);
}

export function readIdxLabels(file: string): IdxLabels {
  return parseIdxLabels(readMaybeGzip(file), file);
}

/** Encode unsigned-byte data as IDX (uncompressed); for writing subsets and test fixtures. */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Uint8Array {
  if (dims.length < 1 || dims.length > 255) throw new RangeError(`IDX needs 1..255 dimensions, got ${dims.length}`);
  const expected = dims.reduce((a, b) => a * b, 1);
  if (expected !== data.length) {
    throw new RangeError(`IDX dims ${dims.join('x')} need ${expected} bytes, got ${data.length}`);
  }
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  out[2] = UBYTE;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}
