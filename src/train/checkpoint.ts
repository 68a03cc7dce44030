import * as fs from 'node:fs';
import { RebirthError } from '../errors.js';
import { writeFileAtomic } from '../onnx/file.js';

/**
 * A training checkpoint: a JSON header plus named float32 arrays, in one file written atomically.
 * Layout: "RBCKPT1\n", u32 LE header length, header JSON (UTF-8), then the arrays back to back.
 * Float32 values are stored bit for bit, which is what makes --resume bit-exact.
 */
const MAGIC = 'RBCKPT1\n';

export interface CheckpointHeader<M> {
  meta: M;
  arrays: Array<{ key: string; length: number }>;
}

export function saveCheckpoint<M>(file: string, meta: M, arrays: Map<string, Float32Array>): void {
  const entries = [...arrays.entries()];
  const header = new TextEncoder().encode(JSON.stringify({ meta, arrays: entries.map(([key, a]) => ({ key, length: a.length })) }));
  const magic = new TextEncoder().encode(MAGIC);
  let size = magic.length + 4 + header.length;
  for (const [, a] of entries) size += a.byteLength;
  const out = new Uint8Array(size);
  out.set(magic, 0);
  new DataView(out.buffer).setUint32(magic.length, header.length, true);
  out.set(header, magic.length + 4);
  let offset = magic.length + 4 + header.length;
  for (const [, a] of entries) {
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), offset);
    offset += a.byteLength;
  }
  writeFileAtomic(file, out);
}

export function loadCheckpoint<M>(file: string): { meta: M; arrays: Map<string, Float32Array> } {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch {
    throw new RebirthError(`no checkpoint at ${file}: train without --resume first`);
  }
  const magic = new TextEncoder().encode(MAGIC);
  if (bytes.length < magic.length + 4 || !magic.every((b, i) => bytes[i] === b)) {
    throw new RebirthError(`${file} is not a rebirth checkpoint`);
  }
  const headerLength = bytes.readUInt32LE(magic.length);
  let header: CheckpointHeader<M>;
  try {
    header = JSON.parse(bytes.subarray(magic.length + 4, magic.length + 4 + headerLength).toString('utf8')) as CheckpointHeader<M>;
  } catch {
    throw new RebirthError(`${file}: checkpoint header is corrupt`);
  }
  const arrays = new Map<string, Float32Array>();
  let offset = magic.length + 4 + headerLength;
  for (const { key, length } of header.arrays) {
    if (offset + length * 4 > bytes.length) throw new RebirthError(`${file}: checkpoint is truncated (array '${key}')`);
    const copy = new Float32Array(length);
    new Uint8Array(copy.buffer).set(bytes.subarray(offset, offset + length * 4));
    arrays.set(key, copy);
    offset += length * 4;
  }
  return { meta: header.meta, arrays };
}
