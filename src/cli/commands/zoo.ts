import { saveModel } from '../../onnx/file.js';
import { ZOO, buildZooModel } from '../../zoo/index.js';
import { RebirthError } from '../../errors.js';
import { optInt, optString, positional, type Command } from '../command.js';

export const zooCommand: Command = {
  name: 'zoo',
  summary: 'write a built-in network (googlenet, googlenet-bn, googlenet-mini, alexnet, resnet50, resnet152) as ONNX',
  usage: 'rebirth zoo NAME -o FILE [--batch N] [--seed N]',
  options: { output: { type: 'string', short: 'o' }, batch: { type: 'string' }, seed: { type: 'string' } },
  run(args) {
    const name = positional(args, 0, 'NAME', zooCommand);
    const out = optString(args, 'output');
    if (!out) throw new RebirthError(`rebirth zoo: missing -o FILE; usage: ${zooCommand.usage} (networks: ${Object.keys(ZOO).join(', ')})`);
    const batch = args.values.batch === undefined ? undefined : optInt(args, 'batch', 1, { min: 1 });
    const seed = optInt(args, 'seed', 1);
    const model = buildZooModel(name, { ...(batch ? { batch } : {}), seed });
    saveModel(model, out);
    process.stderr.write(`wrote ${out}\n`);
    return Promise.resolve();
  },
};
