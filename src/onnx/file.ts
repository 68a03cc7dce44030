import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Model } from '../ir/graph.js';
import { RebirthError } from '../errors.js';
import { decodeModel } from './decode.js';
import { encodeModelChunks } from './encode.js';

/** Read an .onnx file (and its external data files) into the IR. */
export function loadModel(file: string): Model {
  let bytes: Buffer;
  try {
    const stat = fs.statSync(file);
    if (stat.isDirectory()) throw new RebirthError(`${file} is a directory; expected an .onnx file`);
    bytes = fs.readFileSync(file);
  } catch (e) {
    if (e instanceof RebirthError) throw e;
    throw new RebirthError(`${file}: no such file; check the path (or use zoo:NAME for a built-in network)`);
  }
  if (bytes.byteLength === 0) throw new RebirthError(`${file} is empty; expected an .onnx file`);
  return decodeModel(bytes, { source: file, baseDir: path.dirname(path.resolve(file)) });
}

export interface SaveOptions {
  /** Files that must not be overwritten (the inputs of the command), compared by resolved path. */
  protect?: string[];
  /**
   * Tensors loaded from external data go to `<name>.data` beside the output (default), or are written
   * inline into the .onnx file (`inline`).
   */
  externalData?: 'sidecar' | 'inline';
}

/**
 * Write the model atomically: to a temporary file in the target directory, then rename, so a crash or a
 * full disk never leaves a half-written model under the requested name.
 */
export function saveModel(model: Model, file: string, options: SaveOptions = {}): void {
  const target = path.resolve(file);
  for (const p of options.protect ?? []) {
    if (path.resolve(p) === target) {
      throw new RebirthError(`refusing to overwrite the input model ${file}; choose another output path with -o`);
    }
  }
  const dir = path.dirname(target);
  if (!fs.existsSync(dir)) throw new RebirthError(`cannot write ${file}: directory ${dir} does not exist`);
  const suffix = `.tmp-${process.pid}-${Date.now()}`;
  const tmp = target + suffix;
  const dataName = `${path.basename(target)}.data`;
  const dataTmp = path.join(dir, dataName + suffix);
  let dataFd: number | undefined;
  let dataOffset = 0;
  const fd = fs.openSync(tmp, 'w');
  try {
    const chunks = encodeModelChunks(model, {
      external: options.externalData === 'inline' ? 'inline' : {
        write: (bytes) => {
          dataFd ??= fs.openSync(dataTmp, 'w');
          // 4 KiB alignment lets runtimes mmap each tensor (ORT does when offsets are page aligned).
          const pad = (4096 - (dataOffset % 4096)) % 4096;
          if (pad) fs.writeSync(dataFd, new Uint8Array(pad));
          const offset = dataOffset + pad;
          fs.writeSync(dataFd, bytes);
          dataOffset = offset + bytes.byteLength;
          return { location: dataName, offset };
        },
      },
    });
    for (const c of chunks) writeAll(fd, c);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    if (dataFd !== undefined) fs.closeSync(dataFd);
    fs.rmSync(dataTmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  if (dataFd !== undefined) {
    fs.closeSync(dataFd);
    fs.renameSync(dataTmp, path.join(dir, dataName));
  }
  fs.renameSync(tmp, target);
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.byteLength) done += fs.writeSync(fd, bytes, done, bytes.byteLength - done);
}

/** Atomic write of a small text/binary artefact (reports, JSON). */
export function writeFileAtomic(file: string, content: string | Uint8Array): void {
  const target = path.resolve(file);
  const tmp = `${target}.tmp-${process.pid}-${Date.now()}`;
  try {
    fs.writeFileSync(tmp, content);
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    const code = (e as NodeJS.ErrnoException).code;
    throw new RebirthError(`cannot write ${file}${code ? ` (${code})` : ''}; check that the directory exists and is writable`);
  }
}
