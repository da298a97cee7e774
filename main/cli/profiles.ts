/**
 * `flashline profiles` (list, save FILE.json, delete ID) and `flashline options PROTOCOL`:
 * the product profiles of this station and every option of a protocol with its type, default,
 * unit and meaning (issue 9 §9). Human text on stdout, or one JSON document with --json.
 */
import fs from 'node:fs';
import type { OptionSpec, ProductProfile } from '../contract/dto.js';
import { StationError } from '../engine/errors.js';
import { ProfileStore, TIMER_RANGES, describeType, requireProtocol } from '../engine/profile/index.js';
import { optionSpecsOf } from '../engine/protocol/registry.js';

export function cmdProfiles(a: { dataDir: string; json: boolean; args: string[] }): number {
  const store = new ProfileStore(a.dataDir);
  const [sub, arg, ...extra] = a.args;
  if (extra.length) throw new StationError('CONFIG_INVALID', `profiles ${sub}: too many arguments`);
  if (sub === undefined || sub === 'list') {
    const list = store.list();
    if (a.json) console.log(JSON.stringify(list));
    else for (const p of list) console.log(profileLine(p));
    return 0;
  }
  if (sub === 'show') {
    if (!arg) throw new StationError('CONFIG_INVALID', 'profiles show ID');
    console.log(JSON.stringify(store.require(arg), null, a.json ? undefined : 2));
    return 0;
  }
  if (sub === 'save') {
    if (!arg) throw new StationError('CONFIG_INVALID', 'profiles save FILE.json');
    let raw: unknown;
    try {
      raw = JSON.parse(fs.readFileSync(arg, 'utf8'));
    } catch (e) {
      throw new StationError('CONFIG_INVALID', `cannot read profile ${arg}: ${(e as Error).message}`);
    }
    const saved = store.save(raw);
    if (a.json) console.log(JSON.stringify(saved));
    else console.log(`saved profile ${saved.id} (${saved.protocol})`);
    return 0;
  }
  if (sub === 'delete') {
    if (!arg) throw new StationError('CONFIG_INVALID', 'profiles delete ID');
    if (!store.delete(arg)) throw new StationError('CONFIG_INVALID', `no user profile "${arg}"`);
    if (a.json) console.log(JSON.stringify({ deleted: arg }));
    else console.log(`deleted profile ${arg}`);
    return 0;
  }
  throw new StationError('CONFIG_INVALID', `unknown profiles command "${sub}" (list, show ID, save FILE.json, delete ID)`);
}

function profileLine(p: ProductProfile): string {
  const opts = Object.entries(p.options).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ');
  const timers = Object.entries(p.timers ?? {}).map(([k, v]) => `${k}=${v}`).join(' ');
  const limits = Object.entries(p.limits ?? {}).map(([k, v]) => `${k}=${v}`).join(' ');
  return [
    `${p.id.padEnd(18)} ${p.builtIn ? 'built-in' : 'user    '} ${p.protocol.padEnd(16)} ${p.name}`,
    p.successPolicy ? `    success: ${p.successPolicy}` : '',
    opts ? `    options: ${opts}` : '',
    timers ? `    timers:  ${timers}` : '',
    limits ? `    limits:  ${limits}` : '',
  ]
    .filter(Boolean)
    .join('\n');
}

export function cmdOptions(a: { json: boolean; protocol?: string }): number {
  if (!a.protocol) throw new StationError('CONFIG_INVALID', 'options PROTOCOL (llsync-ota ymodem quecthing-sota mqtt-ota-tencent mqtt-ota-aliyun)');
  const protocol = requireProtocol(a.protocol, 'options');
  const specs = optionSpecsOf(protocol);
  if (a.json) {
    console.log(JSON.stringify({ protocol, options: specs, timers: TIMER_RANGES }));
    return 0;
  }
  console.log(`${protocol} options (set with --opt ${protocol}.KEY=VALUE or in a product profile):\n`);
  for (const s of specs) console.log(optionLine(s));
  console.log(`\nprofile timers (ms): ${Object.entries(TIMER_RANGES).map(([k, r]) => `${k} ${r.min}..${r.max}`).join(', ')}`);
  return 0;
}

function optionLine(s: OptionSpec): string {
  const def = JSON.stringify(s.default);
  return `  ${s.key}\n      ${describeType(s)}; default ${def}${s.unit ? `; unit ${s.unit}` : ''}\n      ${s.meaning}`;
}
