// `rebirth serve`: the page for people, until Ctrl-C.
import { startServer } from './server.js';

export interface ServeRunOptions {
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Where the address and stop messages go. Default: nowhere. */
  log?: (line: string) => void;
  /** Stops the server (besides SIGINT / SIGTERM). */
  signal?: AbortSignal;
}

/** Serves the page on 127.0.0.1 until SIGINT, SIGTERM or `signal`; resolves once the server is closed. */
export async function serve(options: ServeRunOptions = {}): Promise<void> {
  const log = options.log ?? ((): void => undefined);
  const server = await startServer({ port: options.port ?? 8080 });
  log(`rebirth serve: open ${server.url}/ in Chromium or Chrome; models are read and run in the browser, never uploaded. Ctrl-C stops.`);
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const signals = ['SIGINT', 'SIGTERM'] as const;
  for (const s of signals) process.on(s, stop);
  options.signal?.addEventListener('abort', stop);
  if (options.signal?.aborted) stop();
  try {
    await stopped;
  } finally {
    for (const s of signals) process.off(s, stop);
    options.signal?.removeEventListener('abort', stop);
    await server.close();
    log('rebirth serve: stopped');
  }
}
