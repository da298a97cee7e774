/**
 * How one thread tells others how far it has filled a SharedArrayBuffer, so hashing in workers
 * runs while the file is still being read. Three Int32 words: a sequence number bumped on every
 * change (readers Atomics.wait on it, which makes missed wake-ups impossible), bytes filled, state.
 */
const SEQ = 0;
const FILLED = 1;
const STATE = 2;
const FILLING = 0;
const DONE = 1;
const FAILED = 2;

/** Byte counts live in an Int32 word, so one fill is at most 2 GiB − 1 (packages are far smaller). */
export const MAX_FILL_BYTES = 2 ** 31 - 1;

export function createFillProgress(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT));
}

export function publishFilled(progress: Int32Array, filledBytes: number): void {
  Atomics.store(progress, FILLED, filledBytes);
  bump(progress);
}

export function finishFill(progress: Int32Array, ok: boolean): void {
  Atomics.store(progress, STATE, ok ? DONE : FAILED);
  bump(progress);
}

function bump(progress: Int32Array): void {
  Atomics.add(progress, SEQ, 1);
  Atomics.notify(progress, SEQ);
}

/**
 * Worker side: hands each newly filled range (at most `chunkBytes`) to `onChunk` until the filler
 * is done, and returns the total. Blocks its thread while waiting, so never call it on the main thread.
 */
export function consumeFill(bytes: Uint8Array, progress: Int32Array, chunkBytes: number, onChunk: (chunk: Uint8Array) => void): number {
  let consumed = 0;
  for (;;) {
    const seq = Atomics.load(progress, SEQ);
    const filled = Atomics.load(progress, FILLED);
    const state = Atomics.load(progress, STATE);
    while (consumed < filled) {
      const end = Math.min(filled, consumed + chunkBytes);
      onChunk(bytes.subarray(consumed, end));
      consumed = end;
    }
    if (state === FAILED) throw new Error('the file could not be read to the end');
    if (state === DONE) return consumed;
    if (state === FILLING) Atomics.wait(progress, SEQ, seq);
  }
}
