import { serve } from '../../serve/serve.js';
import { optInt, type Command } from '../command.js';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'a local page (127.0.0.1) that profiles and merges a model you pick, in your own browser',
  usage: 'rebirth serve [--port N]',
  options: { port: { type: 'string' } },
  async run(args) {
    const port = optInt(args, 'port', 8080, { min: 0, max: 65535 });
    await serve({ port, log: (line) => process.stdout.write(`${line}\n`) });
  },
};
