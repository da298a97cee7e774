#!/usr/bin/env node
// Makes a fresh clone runnable: installs npm dependencies when they are missing or stale
// (Electron's binary download is skipped: it is not needed outside the desktop app), and with
// --test also the Debian tools the suite uses (socat, lrzsz, postgresql…), when running as root.
import { execSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const lock = path.join(root, 'package-lock.json');
const installed = path.join(root, 'node_modules', '.package-lock.json');
const env = { ...process.env, ELECTRON_SKIP_BINARY_DOWNLOAD: process.env.ELECTRON_SKIP_BINARY_DOWNLOAD ?? '1' };

function stale() {
  if (!fs.existsSync(installed)) return true;
  if (!fs.existsSync(path.join(root, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node'))) return true;
  return fs.statSync(lock).mtimeMs > fs.statSync(installed).mtimeMs + 1000;
}

if (stale()) {
  console.error('flashline: installing npm dependencies (npm ci)…');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit', env });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

if (process.argv.includes('--test')) {
  const has = (bin) => spawnSync("sh", ["-c", `command -v ${bin} || test -x /usr/sbin/${bin}`]).status === 0;
  const missing = [['socat', 'socat'], ['rb', 'lrzsz'], ['sb', 'lrzsz'], ['chromium', 'chromium'], ['mosquitto', 'mosquitto']].filter(([bin]) => !has(bin)).map(([, pkg]) => pkg);
  // zh-CN screenshots need a CJK font
  if (!fs.existsSync('/usr/share/fonts/truetype/wqy/wqy-microhei.ttc')) missing.push('fonts-wqy-microhei');
  // the line journal tests start a throwaway PostgreSQL server (initdb/pg_ctl)
  if (!fs.existsSync('/usr/lib/postgresql') || !fs.readdirSync('/usr/lib/postgresql').some((v) => fs.existsSync(`/usr/lib/postgresql/${v}/bin/pg_ctl`))) missing.push('postgresql');
  const pkgs = [...new Set(missing)];
  if (pkgs.length) {
    if (process.getuid?.() === 0) {
      console.error(`flashline: installing ${pkgs.join(' ')} (apt-get)…`);
      try {
        // Another apt/dpkg run (unattended upgrades, a second session) holds the lock: wait for
        // it (up to 10 min) instead of failing the install.
        const wait = '-o DPkg::Lock::Timeout=600';
        execSync(`apt-get ${wait} update -qq`, { stdio: 'inherit' });
        execSync(`DEBIAN_FRONTEND=noninteractive apt-get ${wait} install -y -qq ${pkgs.join(' ')}`, { stdio: 'inherit' });
      } catch {
        console.error('flashline: apt-get failed; tests that need these tools will report it.');
      }
    } else {
      console.error(`flashline: please install ${pkgs.join(' ')} (e.g. sudo apt-get install ${pkgs.join(' ')}); tests that need them skip outside CI.`);
    }
  }
}
