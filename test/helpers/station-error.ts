/**
 * Await a promise that must reject with a StationError, and return that error for its code.
 */
import { expect } from 'vitest';
import { StationError } from '../../main/engine/errors.js';

export async function expectStationError(p: Promise<unknown>): Promise<StationError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(StationError);
  return err as StationError;
}
