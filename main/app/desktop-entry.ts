/**
 * Entry of the desktop app's main process (bundled to out/main/index.js, package.json "main"):
 * starts the shell. Kept apart from electron-main.ts so tests can import the shell with a fake
 * `electron` without starting it.
 */
import { startDesktop } from './electron-main.js';

void startDesktop();
