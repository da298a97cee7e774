/**
 * What every `flashline` subcommand shares: where the data folder is, and how an error ends a
 * command (code, message and the operator's next step on stderr; exit 2 for bad input or a
 * station problem, 1 for an internal fault). No engine state.
 */
import os from 'node:os';
import path from 'node:path';
import { operatorText, toStationError, type StationError } from '../engine/errors.js';

/** --data-dir, else $FLASHLINE_HOME, else ~/.flashline. */
export function cliDataDir(dataDirOpt: string | undefined): string {
  return path.resolve(dataDirOpt ?? process.env.FLASHLINE_HOME ?? path.join(os.homedir(), '.flashline'));
}

/** Print an error the way every command does and return the exit status. */
export function reportCliError(e: unknown, classify: (e: unknown) => StationError | null = () => null): number {
  const err = classify(e) ?? toStationError(e);
  console.error(`error ${err.code}: ${err.message}`);
  const hint = operatorText(err.code, 'en');
  if (hint) console.error(`→ ${hint}`);
  return err.code === 'INTERNAL' ? 1 : 2;
}
