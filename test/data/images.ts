// Small image folders for the data tests, written with sharp into temporary directories.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { Random } from '../../src/util/random.js';

export function tempDir(prefix = 'rebirth-data-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export type Kind = 'jpeg' | 'png' | 'webp' | 'grey-png' | 'rgba-png' | 'png16' | 'cmyk-jpeg' | 'grey16-png';

/** A `width` x `height` image with seeded noise, written as `file` in the given format. */
export async function writeImage(file: string, width: number, height: number, kind: Kind, seed = 1): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const rng = new Random(seed);
  const grey = kind === 'grey-png' || kind === 'grey16-png';
  const channels = grey ? 1 : 3;
  const px = Buffer.from(Array.from({ length: width * height * channels }, () => rng.nextInt(256)));
  let s = sharp(px, { raw: { width, height, channels } });
  switch (kind) {
    case 'jpeg': await s.jpeg({ quality: 90 }).toFile(file); return;
    case 'png': await s.png().toFile(file); return;
    case 'webp': await s.webp({ lossless: true }).toFile(file); return;
    case 'grey-png': await s.toColourspace('b-w').png().toFile(file); return;
    case 'grey16-png': await s.toColourspace('grey16').png().toFile(file); return;
    case 'rgba-png': s = s.ensureAlpha(0.5); await s.png().toFile(file); return;
    case 'png16': await s.toColourspace('rgb16').png().toFile(file); return;
    case 'cmyk-jpeg': await s.toColourspace('cmyk').jpeg().toFile(file); return;
  }
}

/** DIR/<class>/<i>.<ext> for each class, `perClass` images each; returns the folder. */
export async function imageFolder(dir: string, classes: readonly string[], perClass: number, kind: Kind = 'png', size: [number, number] = [12, 10]): Promise<string> {
  const ext = kind.includes('jpeg') ? 'jpg' : kind === 'webp' ? 'webp' : 'png';
  let seed = 1;
  for (const c of classes) {
    for (let i = 0; i < perClass; i++) await writeImage(path.join(dir, c, `${i}.${ext}`), size[0], size[1], kind, seed++);
  }
  return dir;
}

/** A JPEG cut to its first 60%: decodable header, truncated data. */
export async function brokenJpeg(file: string): Promise<void> {
  await writeImage(file, 32, 32, 'jpeg', 99);
  const bytes = fs.readFileSync(file);
  fs.writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
}
