/**
 * Entry of every pooled worker thread: imports a task module on first use and runs one named
 * export per message. Knows nothing about the tasks themselves; replies are plain data.
 */
import { parentPort } from 'node:worker_threads';
import type { TaskReply, TaskRequest } from './worker-pool.js';

type TaskModule = Record<string, unknown>;
const modules = new Map<string, Promise<TaskModule>>();
const port = parentPort;
if (!port) throw new Error('worker-entry must run in a worker thread');

port.on('message', (req: TaskRequest) => {
  void runTask(req).then((reply) => port.postMessage(reply));
});

async function runTask(req: TaskRequest): Promise<TaskReply> {
  try {
    let mod = modules.get(req.moduleUrl);
    if (!mod) {
      mod = import(req.moduleUrl) as Promise<TaskModule>;
      modules.set(req.moduleUrl, mod);
    }
    const fn = (await mod)[req.exportName];
    if (typeof fn !== 'function') throw new Error(`${req.moduleUrl} has no task export "${req.exportName}"`);
    return { ok: true, value: await (fn as (input: unknown) => unknown)(req.input) };
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    // Structured clone drops the class and custom fields, so carry the code explicitly.
    const code = (e as { code?: unknown }).code;
    return { ok: false, error: { name: e.name, message: e.message, code: typeof code === 'string' ? code : undefined, stack: e.stack } };
  }
}
