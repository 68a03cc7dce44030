/**
 * A decoding worker: reads one image file, decodes it with sharp (libvips; BMP through bmp-ts, which
 * libvips' prebuilt binaries cannot read), applies the geometric plan and returns the model's tensor.
 * Each worker runs one libvips thread with its cache off: the pool size is the parallelism, and memory
 * stays what the images in flight need.
 */
import { parentPort } from 'node:worker_threads';
import { readFile } from 'node:fs/promises';
import sharp, { type Sharp } from 'sharp';
import { decode as decodeBmp } from 'bmp-ts';
import { pixelsToTensor, planImage, type ResolvedPreprocess, type SampleDraw } from './preprocess.js';

export interface DecodeRequest {
  id: number;
  file: string;
  p: ResolvedPreprocess;
  draw?: SampleDraw;
}

export type DecodeResponse =
  | { id: number; ok: true; data: Float32Array }
  /** 'unreadable': the file could not be read (an error); 'corrupt': read but not decodable (skipped). */
  | { id: number; ok: false; kind: 'unreadable' | 'corrupt'; message: string };

const KERNEL = { nearest: 'nearest', bilinear: 'linear', bicubic: 'cubic', lanczos3: 'lanczos3' } as const;

async function handle(req: DecodeRequest): Promise<DecodeResponse> {
  let bytes: Buffer;
  try {
    bytes = await readFile(req.file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    const why = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'ENOENT' ? 'no such file (a broken link?)' : code === 'EISDIR' ? 'is a directory' : (e instanceof Error ? e.message : String(e));
    return { id: req.id, ok: false, kind: 'unreadable', message: why };
  }
  try {
    return { id: req.id, ok: true, data: await decodeImage(bytes, req.p, req.draw) };
  } catch (e) {
    const message = (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? 'cannot decode';
    return { id: req.id, ok: false, kind: 'corrupt', message };
  }
}

/** Decode and preprocess one image's bytes into a CHW float tensor of the model's size. */
export async function decodeImage(bytes: Buffer, p: ResolvedPreprocess, draw?: SampleDraw): Promise<Float32Array> {
  let image: Sharp;
  let grey: boolean;
  let width: number | undefined;
  let height: number | undefined;
  if (bytes.length >= 2 && bytes[0] === 0x42 && bytes[1] === 0x4d) {
    // 'BM': decode to RGBA (the decoder's only 4-byte layout), then hand sharp the RGB planes.
    const bmp = decodeBmp(bytes, { toRGBA: true });
    const rgb = Buffer.alloc(bmp.width * bmp.height * 3);
    for (let i = 0, j = 0; j < rgb.length; i += 4, j += 3) {
      rgb[j] = bmp.data[i] ?? 0;
      rgb[j + 1] = bmp.data[i + 1] ?? 0;
      rgb[j + 2] = bmp.data[i + 2] ?? 0;
    }
    image = sharp(rgb, { raw: { width: bmp.width, height: bmp.height, channels: 3 } });
    grey = false;
    ({ width, height } = bmp);
  } else {
    image = sharp(bytes);
    const meta = await image.metadata();
    // Grey (with or without alpha, 8 or 16 bit) stays one channel for a grey model: no colour round trip.
    grey = (meta.channels ?? 3) <= 2;
    ({ width, height } = meta);
  }
  if (!width || !height) throw new Error('no image size in the file');
  const plan = planImage(p, width, height, draw);
  if (plan.region) image = image.extract(plan.region);
  const [rw, rh] = plan.resize;
  const from = plan.region ?? { width, height };
  if (rw !== from.width || rh !== from.height) image = image.resize(rw, rh, { fit: 'fill', kernel: KERNEL[p.interpolation] });
  const c = plan.crop;
  if (c.left !== 0 || c.top !== 0 || c.width !== rw || c.height !== rh) image = image.extract(c);
  if (plan.flip) image = image.flop();
  image = image.removeAlpha().toColourspace(p.channels === 1 && grey ? 'b-w' : 'srgb');
  const { data, info } = await image.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  if ((info.channels !== 1 && info.channels !== 3) || info.width !== c.width || info.height !== c.height) {
    throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${c.width}x${c.height}`);
  }
  const out = new Float32Array(p.channels * c.width * c.height);
  pixelsToTensor(data, info.channels, p, out);
  return out;
}

// As a worker: answer requests one at a time each (the pool spreads them over workers).
if (parentPort) {
  const port = parentPort;
  // libvips settings are per process: set them only where this module runs as a decoding worker.
  sharp.concurrency(1);
  sharp.cache(false);
  port.on('message', (req: DecodeRequest) => {
    void handle(req).then((res) => {
      if (res.ok) port.postMessage(res, [res.data.buffer as ArrayBuffer]);
      else port.postMessage(res);
    });
  });
}
