/**
 * Start a worker thread on a module that sits beside the caller: the compiled JavaScript, or under tsx
 * (running from src/) the .ts file, loaded through tsx's loader registered inside the worker, since a
 * worker does not inherit the loader hooks of the thread that starts it.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** `callerUrl`: the caller's import.meta.url; `name`: the worker module's file name without extension. */
export function startSiblingWorker(callerUrl: string, name: string, options: WorkerOptions = {}): Worker {
  if (callerUrl.endsWith('.ts')) {
    const api = import.meta.resolve('tsx/esm/api');
    const url = new URL(`./${name}.ts`, callerUrl).href;
    const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); })`;
    return new Worker(code, { ...options, eval: true });
  }
  return new Worker(new URL(`./${name}.js`, callerUrl), options);
}
