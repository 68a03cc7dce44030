import type { Command } from '../command.js';
import { inspectCommand } from './inspect.js';
import { profileCommand } from './profile.js';
import { trainCommand } from './train.js';
import { evalCommand } from './eval.js';
import { gradCommand } from './grad.js';
import { optimizeCommand } from './optimize.js';
import { mergeCommand } from './merge.js';
import { demoCommand } from './demo.js';
import { tuckerCommand } from './tucker.js';
import { zooCommand } from './zoo.js';
import { shrinkCommand } from './shrink.js';
import { serveCommand } from './serve.js';

/** The command table: one row per command, each in its own file. */
export const COMMANDS: readonly Command[] = [demoCommand, zooCommand, inspectCommand, profileCommand, optimizeCommand, mergeCommand, shrinkCommand, tuckerCommand, trainCommand, evalCommand, gradCommand, serveCommand];
