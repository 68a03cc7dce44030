import { loadFashionMnist } from '../data/fashion-mnist.js';
import type { Dataset } from '../data/dataset.js';

/** --data fashion-mnist (Debian's dataset-fashion-mnist) or --data DIR holding the four IDX files. */
export function resolveData(spec: string | undefined, split: 'train' | 'test', limit?: number): Dataset {
  const dir = spec === undefined || spec === 'fashion-mnist' ? undefined : spec;
  return loadFashionMnist({ split, ...(dir ? { dir } : {}), ...(limit ? { limit } : {}) });
}
