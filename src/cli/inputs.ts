import * as path from 'node:path';
import { readNpy } from '../data/npy.js';
import type { Model } from '../ir/graph.js';
import type { HostTensor } from '../runtime/session.js';
import { RebirthError } from '../errors.js';

/**
 * --inputs for verification: `X.npy` feeds the model's only data input, `name=X.npy,name2=Y.npy` feeds
 * inputs by name.
 */
export function readInputs(spec: string, model: Model): Record<string, HostTensor> {
  const dataInputs = model.graph.inputs.filter((v) => !model.graph.initializers.has(v.name)).map((v) => v.name);
  const feeds: Record<string, HostTensor> = {};
  for (const part of spec.split(',')) {
    const eq = part.indexOf('=');
    const name = eq >= 0 ? part.slice(0, eq) : dataInputs.length === 1 ? dataInputs[0] : undefined;
    const file = eq >= 0 ? part.slice(eq + 1) : part;
    if (!name) throw new RebirthError(`--inputs ${part}: the model has inputs ${dataInputs.join(', ')}; write --inputs NAME=${path.basename(file)},...`);
    if (!dataInputs.includes(name)) throw new RebirthError(`--inputs: '${name}' is not an input of the model (inputs: ${dataInputs.join(', ')})`);
    const a = readNpy(file);
    feeds[name] = { type: a.dtype === 'bool' ? 'bool' : a.dtype, dims: a.shape, data: a.data } as HostTensor;
  }
  return feeds;
}
