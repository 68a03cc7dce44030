import { RebirthError } from '../errors.js';
import { parseCommandArgs, type Command } from './command.js';
import { COMMANDS } from './commands/index.js';

const HELP = `rebirth: make CNNs faster by merging layers (DeepRebirth), verified and retrained on ONNX Runtime

usage: rebirth <command> [options]      (rebirth <command> --help for its options)

commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`).join('\n')}

common options: --verbose (stack traces on errors), --help`;

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${HELP}\n`);
    return name === undefined ? 1 : 0;
  }
  const verbose = rest.includes('--verbose');
  const cmd: Command | undefined = COMMANDS.find((c) => c.name === name);
  try {
    if (!cmd) throw new RebirthError(`unknown command '${name}'; commands: ${COMMANDS.map((c) => c.name).join(', ')}`);
    const args = parseCommandArgs(cmd, rest);
    if (args.values.help === true) {
      process.stdout.write(`usage: ${cmd.usage}\n\n${cmd.summary}\n`);
      return 0;
    }
    await cmd.run(args);
    return 0;
  } catch (e) {
    if (verbose) {
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    } else if (e instanceof RebirthError) {
      process.stderr.write(`rebirth: ${e.message}\n`);
    } else {
      const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
      process.stderr.write(`rebirth: internal error: ${msg ?? ''} (rerun with --verbose for details)\n`);
    }
    return 1;
  }
}
