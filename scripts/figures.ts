// `npm run figures [-- ID ...]`: regenerate the tables of README.md and docs/ (bench/figures/run.ts).
import { main } from '../bench/figures/run.js';

process.exitCode = await main(process.argv.slice(2));
