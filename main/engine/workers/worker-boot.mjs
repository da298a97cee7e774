// Bootstrap of every pooled worker thread (plain JS on purpose). Workers do not inherit tsx, and
// on Node 20 `execArgv: ['--import', 'tsx']` does not hook a worker's modules either, so a
// TypeScript entry gets tsx registered through its API first. Built (.js) entries skip this.
import { workerData } from 'node:worker_threads';

const { entry } = workerData;
if (entry.endsWith('.ts')) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(entry);
