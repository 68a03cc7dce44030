import type { Command } from '../command.js';
import { inspectCommand } from './inspect.js';
import { profileCommand } from './profile.js';
import { trainCommand } from './train.js';
import { evalCommand } from './eval.js';
import { gradCommand } from './grad.js';
import { optimizeCommand } from './optimize.js';
import { zooCommand } from './zoo.js';

/** The command table: one row per command, each in its own file. */
export const COMMANDS: readonly Command[] = [zooCommand, inspectCommand, profileCommand, optimizeCommand, trainCommand, evalCommand, gradCommand];
