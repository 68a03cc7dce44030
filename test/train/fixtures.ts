// Synthetic classification data for the trainer tests: small enough to train in a second, and
// separable, so a test can tell learning from noise.
import type { Dataset } from '../../src/data/dataset.js';
import { Random } from '../../src/util/random.js';

/**
 * `count` single-channel size x size images in three classes: a bright patch x patch square (value 1)
 * on the diagonal at row/column `starts[class]`, over uniform noise in [0, noise).
 */
export function diagonalPatches(count: number, seed: number, shape: { size: number; patch: number; starts: readonly [number, number, number]; noise: number }): Dataset {
  const { size, patch, starts, noise } = shape;
  const pixels = size * size;
  const rng = new Random(seed);
  const images = new Float32Array(count * pixels);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const k = rng.nextInt(3);
    labels[i] = k;
    for (let p = 0; p < pixels; p++) images[i * pixels + p] = noise * rng.nextFloat();
    const r0 = starts[k] as number;
    for (let r = r0; r < r0 + patch; r++) for (let c = r0; c < r0 + patch; c++) images[i * pixels + r * size + c] = 1;
  }
  return { images, labels, count, shape: [1, size, size], classes: 3 };
}
