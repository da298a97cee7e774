/**
 * A throwaway PostgreSQL server for tests and benches: initdb in a mkdtemp folder, pg_ctl on an
 * ephemeral port (as the `postgres` user via su when running as root), password auth on TCP.
 * Returns null (with the reason) when PostgreSQL is missing — but throws when CI=true.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

export interface PgServer {
  /** postgres://postgres:PASSWORD@127.0.0.1:PORT/postgres */
  url: string;
  port: number;
  password: string;
  dir: string;
  /** URL of another database on this server (created by createDatabase). */
  urlFor(db: string, opts?: { password?: string }): string;
  createDatabase(name: string): Promise<string>;
  /** Kill it hard (pg_ctl stop -m immediate): clients see the connection drop. */
  kill(): void;
  /** Start it again on the same port and data folder. */
  restart(): void;
  /** Stop it and remove its folder. */
  stop(): void;
}

export const PG_PASSWORD = 'line-test-pw';

function binDir(): string | null {
  const base = '/usr/lib/postgresql';
  if (!fs.existsSync(base)) return null;
  const versions = fs.readdirSync(base).filter((v) => fs.existsSync(path.join(base, v, 'bin', 'pg_ctl'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(base, versions[0], 'bin') : null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Why a PostgreSQL server cannot be started here, or null when it can. */
export function postgresUnavailable(): string | null {
  const bin = binDir();
  if (!bin) return 'PostgreSQL is not installed (Debian package `postgresql`, /usr/lib/postgresql/*/bin)';
  if (process.getuid?.() === 0 && spawnSync('id', ['postgres']).status !== 0) return 'running as root but there is no `postgres` user to run the server as';
  return null;
}

function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Start a server. Resolves null when PostgreSQL is missing (the caller skips, printing `reason`);
 * with CI=true a missing PostgreSQL throws instead.
 */
export async function startPostgres(): Promise<PgServer | null> {
  const missing = postgresUnavailable();
  if (missing) {
    if (process.env.CI === 'true') throw new Error(`CI=true and ${missing}`);
    console.warn(`skipping PostgreSQL tests: ${missing}`);
    return null;
  }
  const bin = binDir()!;
  const root = process.getuid?.() === 0;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashline-pg-'));
  const data = path.join(dir, 'data');
  const sock = path.join(dir, 'sock');
  fs.mkdirSync(sock);
  const pwFile = path.join(dir, 'pw');
  fs.writeFileSync(pwFile, PG_PASSWORD + '\n');
  if (root) execFileSync('chown', ['-R', 'postgres:postgres', dir]);
  fs.chmodSync(dir, 0o755);
  const run = (cmd: string, args: string[]) => {
    if (root) return execFileSync('su', ['postgres', '-s', '/bin/sh', '-c', [path.join(bin, cmd), ...args].map(q).join(' ')], { stdio: 'pipe', timeout: 60_000 });
    return execFileSync(path.join(bin, cmd), args, { stdio: 'pipe', timeout: 60_000 });
  };
  run('initdb', ['-D', data, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', `--pwfile=${pwFile}`, '-E', 'UTF8', '--no-sync']);
  let port = 0;
  const start = () =>
    run('pg_ctl', ['start', '-D', data, '-w', '-t', '60', '-l', path.join(dir, 'server.log'), '-o', `-p ${port} -k ${sock} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`]);
  let lastErr: unknown;
  for (let tries = 0; tries < 5; tries++) {
    port = await freePort();
    try {
      start();
      lastErr = null;
      break;
    } catch (e) {
      lastErr = e;
    }
  }
  if (lastErr) {
    const log = fs.existsSync(path.join(dir, 'server.log')) ? fs.readFileSync(path.join(dir, 'server.log'), 'utf8').slice(-2000) : '';
    throw new Error(`PostgreSQL did not start: ${(lastErr as Error).message}\n${log}`);
  }
  const urlFor = (db: string, o: { password?: string } = {}) => `postgres://postgres:${encodeURIComponent(o.password ?? PG_PASSWORD)}@127.0.0.1:${port}/${db}`;
  let running = true;
  const stopWith = (mode: string) => {
    if (!running) return;
    try {
      run('pg_ctl', ['stop', '-D', data, '-m', mode, '-w', '-t', '60']);
    } catch {
      /* already down */
    }
    running = false;
  };
  return {
    get url() {
      return urlFor('postgres');
    },
    port,
    password: PG_PASSWORD,
    dir,
    urlFor,
    async createDatabase(name: string) {
      const c = new pg.Client({ connectionString: urlFor('postgres') });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
      } finally {
        await c.end();
      }
      return urlFor(name);
    },
    kill() {
      stopWith('immediate');
    },
    restart() {
      if (running) return;
      start();
      running = true;
    },
    stop() {
      stopWith('fast');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
