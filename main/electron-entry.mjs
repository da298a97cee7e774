// Desktop entry (`npm start` on a machine with the Electron binary): the engine is TypeScript run
// through tsx, as in the CLI; the Electron-only code lives in main/app/.
import { register } from 'tsx/esm/api';

register();
await import('./app/electron-main.ts');
