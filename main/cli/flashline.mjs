#!/usr/bin/env node
// Flashline CLI entry: registers tsx so the TypeScript engine runs in plain Node, then hands over.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./cli.ts');
process.exitCode = await main(process.argv.slice(2));
