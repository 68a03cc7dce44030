import { main } from './main.js';

const code = await main(process.argv.slice(2));
// A failed command exits at once: whatever it had started (image-decoding workers, a prefetching data
// stream, an ORT session) has nothing left to deliver, and waiting for it to wind down by itself has
// hung a command that refused its options after opening the data. On success the command has closed
// what it opened, and the process ends when its output is flushed.
if (code !== 0) process.exit(code);
process.exitCode = code;
