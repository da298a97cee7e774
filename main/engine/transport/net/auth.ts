/**
 * Device authentication and topic ACL for the station's MQTT server (mqtt-ota.md §4.2, §4.3,
 * §7.2, §2). Pure: credential CSV parsing, the two clouds' CONNECT signatures, and the rule that
 * a device may only touch its own topics. No sockets, no broker.
 */
import crypto from 'node:crypto';

export type Dialect = 'tencent' | 'aliyun';

/** One unit's credentials: Tencent {pid, dn, base64 secret}; Aliyun {pk, dn, text secret}. */
export interface DeviceCredential {
  dialect: Dialect;
  product: string;
  device: string;
  secret: string;
}

/** The key the station files a device under: `tencent:PID/DN` or `aliyun:PK/DN`. */
export function deviceKeyOf(c: { dialect: Dialect; product: string; device: string }): string {
  return `${c.dialect}:${c.product}/${c.device}`;
}

/** §4.2: ClientId is `{pid}{dn}`, plain concatenation. §4.3: also the PSK identity. */
export function tencentClientId(product: string, device: string): string {
  return `${product}${device}`;
}

/** The SDKs' fixed timestamp (year 2050 in ms), §7.2. */
export const ALIYUN_SDK_TIMESTAMP = '2524608000000';

export function aliyunClientId(product: string, device: string, signMethod: AliyunSignMethod = 'hmacsha256'): string {
  return `${product}.${device}|timestamp=${ALIYUN_SDK_TIMESTAMP},_v=sdk-c-3.0.1,securemode=3,signmethod=${signMethod},lan=C,gw=0,ext=0|`;
}

export type TencentSignMethod = 'hmacsha1' | 'hmacsha256';
export type AliyunSignMethod = 'hmacsha256' | 'hmacsha1' | 'hmacmd5';

const TENCENT_ALG: Record<TencentSignMethod, string> = { hmacsha1: 'sha1', hmacsha256: 'sha256' };
const ALIYUN_ALG: Record<AliyunSignMethod, string> = { hmacsha256: 'sha256', hmacsha1: 'sha1', hmacmd5: 'md5' };

/** §4.2: lowercase hex HMAC keyed with the *decoded* base64 secret over the Username, plus `;method`. */
export function tencentPassword(username: string, secretBase64: string, method: TencentSignMethod = 'hmacsha1'): string {
  const key = Buffer.from(secretBase64, 'base64');
  return `${crypto.createHmac(TENCENT_ALG[method], key).update(username).digest('hex')};${method}`;
}

/** §4.2: `{pid}{dn};{sdkappid};{connid};{expiry}`. */
export function tencentUsername(product: string, device: string, connId: string, expiry = '9223372036854775807', sdkAppId = '21010406'): string {
  return `${tencentClientId(product, device)};${sdkAppId};${connId};${expiry}`;
}

/** §7.2: HMAC over the alphabetically ordered parameters; key is the secret as UTF-8 text. Uppercase like the SDKs. */
export function aliyunPassword(clientId: string, product: string, device: string, secret: string): string {
  const params = parseAliyunClientId(clientId);
  if (!params.ok) throw new Error(params.reason);
  const method = params.signMethod;
  let msg = `clientId${params.id}deviceName${device}productKey${product}`;
  if (params.timestamp !== undefined) msg += `timestamp${params.timestamp}`;
  return crypto.createHmac(ALIYUN_ALG[method], Buffer.from(secret, 'utf8')).update(msg).digest('hex').toUpperCase();
}

export type ParsedAliyunClientId =
  | { ok: true; id: string; signMethod: AliyunSignMethod; timestamp?: string; secureMode?: string }
  | { ok: false; reason: string };

/** `{id}|k1=v1,k2=v2,…|` → its parts (§7.2). Only securemode, signmethod and timestamp matter. */
export function parseAliyunClientId(clientId: string): ParsedAliyunClientId {
  const first = clientId.indexOf('|');
  if (first <= 0 || !clientId.endsWith('|') || first === clientId.length - 1) return { ok: false, reason: 'client id is not {id}|params|' };
  const id = clientId.slice(0, first);
  const params = new Map<string, string>();
  for (const kv of clientId.slice(first + 1, -1).split(',')) {
    if (!kv) continue;
    const eq = kv.indexOf('=');
    if (eq <= 0) continue;
    params.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  const sm = params.get('signmethod') ?? 'hmacsha256';
  if (!(sm in ALIYUN_ALG)) return { ok: false, reason: `unknown signmethod ${sm}` };
  return { ok: true, id, signMethod: sm as AliyunSignMethod, timestamp: params.get('timestamp'), secureMode: params.get('securemode') };
}

export type AuthVerdict =
  | { ok: true; credential: DeviceCredential; note?: string }
  | { ok: false; reason: string; credential?: DeviceCredential };

/** Lookup by what a CONNECT carries. */
export interface CredentialLookup {
  byTencentClientId(clientId: string): DeviceCredential | undefined;
  byAliyun(product: string, device: string): DeviceCredential | undefined;
}

function safeEqualText(a: string, b: string): boolean {
  const x = Buffer.from(a.toLowerCase());
  const y = Buffer.from(b.toLowerCase());
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

/**
 * Check a CONNECT (§4.2 broker check, §4.3 PSK variant, §7.2). `pskIdentity` is set when the
 * socket came through the TLS-PSK listener: the handshake already proved the secret.
 */
export function verifyConnect(
  creds: CredentialLookup,
  clientId: string,
  username: string | undefined,
  password: string | undefined,
  pskIdentity?: string,
): AuthVerdict {
  if (username && username.includes('&') && !username.includes(';')) {
    const amp = username.indexOf('&');
    const device = username.slice(0, amp);
    const product = username.slice(amp + 1);
    const cred = creds.byAliyun(product, device);
    if (!cred) return { ok: false, reason: `unknown aliyun device ${product}/${device}` };
    const parsed = parseAliyunClientId(clientId);
    if (!parsed.ok) return { ok: false, reason: parsed.reason, credential: cred };
    if (password === undefined) return { ok: false, reason: 'no password', credential: cred };
    const expect = aliyunPassword(clientId, product, device, cred.secret);
    if (!safeEqualText(expect, password)) return { ok: false, reason: 'signature mismatch', credential: cred };
    return { ok: true, credential: cred };
  }
  const cred = creds.byTencentClientId(clientId);
  if (!cred) return { ok: false, reason: `unknown tencent client id ${clientId}` };
  const fields = (username ?? '').split(';');
  if (fields.length !== 4 || fields[0] !== clientId) return { ok: false, reason: 'username is not {pid}{dn};sdkappid;connid;expiry', credential: cred };
  const expiry = fields[3]!;
  // §4.2: expiry is meaningless on units without time sync: warn, never reject.
  const note = /^\d+$/.test(expiry) && Number(expiry) < Date.now() / 1000 ? `credential expiry ${expiry} is in the past (accepted)` : undefined;
  if (pskIdentity !== undefined) {
    if (pskIdentity !== clientId) return { ok: false, reason: `client id ${clientId} differs from PSK identity ${pskIdentity}`, credential: cred };
    return { ok: true, credential: cred, note };
  }
  if (password === undefined) return { ok: false, reason: 'no password', credential: cred };
  const semi = password.lastIndexOf(';');
  const method = password.slice(semi + 1) as TencentSignMethod;
  if (semi < 0 || !(method in TENCENT_ALG)) return { ok: false, reason: 'unknown password method', credential: cred };
  const expect = tencentPassword(username!, cred.secret, method);
  if (!safeEqualText(expect, password)) return { ok: false, reason: 'signature mismatch', credential: cred };
  return { ok: true, credential: cred, note };
}

/** The credential CSV: `dialect,product,device,secret` per line; `#` comments and a header row allowed. */
export type CsvResult = { ok: true; credentials: DeviceCredential[] } | { ok: false; line: number; reason: string };

export function parseCredentialCsv(text: string): CsvResult {
  const out: DeviceCredential[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (!raw || raw.startsWith('#')) continue;
    const cells = raw.split(',').map((c) => c.trim());
    if (i === 0 && cells[0]?.toLowerCase() === 'dialect') continue;
    if (cells.length !== 4) return { ok: false, line: i + 1, reason: 'expected dialect,product,device,secret' };
    const [dialect, product, device, secret] = cells as [string, string, string, string];
    if (dialect !== 'tencent' && dialect !== 'aliyun') return { ok: false, line: i + 1, reason: `dialect must be tencent or aliyun, got ${dialect}` };
    if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(product) || !/^[A-Za-z0-9_.@-]{1,64}$/.test(device)) return { ok: false, line: i + 1, reason: 'product and device must be 1..64 of A-Z a-z 0-9 _ . @ -' };
    if (!secret) return { ok: false, line: i + 1, reason: 'empty secret' };
    if (dialect === 'tencent' && Buffer.from(secret, 'base64').length === 0) return { ok: false, line: i + 1, reason: 'tencent secret must be base64' };
    out.push({ dialect, product, device, secret });
  }
  return { ok: true, credentials: out };
}

/** An in-memory credential store with the lookups the broker needs (fast: the PSK callback runs in the handshake). */
export class CredentialStore implements CredentialLookup {
  private readonly tencent = new Map<string, DeviceCredential>();
  private readonly aliyun = new Map<string, DeviceCredential>();

  add(c: DeviceCredential): void {
    if (c.dialect === 'tencent') this.tencent.set(tencentClientId(c.product, c.device), c);
    else this.aliyun.set(`${c.product}/${c.device}`, c);
  }
  byTencentClientId(clientId: string): DeviceCredential | undefined {
    return this.tencent.get(clientId);
  }
  byAliyun(product: string, device: string): DeviceCredential | undefined {
    return this.aliyun.get(`${product}/${device}`);
  }
  get size(): number {
    return this.tencent.size + this.aliyun.size;
  }
}

// ---- topic ACL (DESIGN.md Security; mqtt-ota.md §2 items 3, 5) ---------------------------

/** The device's own topics: any topic whose levels contain `{product}/{device}` consecutively. */
export function isOwnTopic(topic: string, product: string, device: string): boolean {
  const levels = topic.split('/');
  for (let i = 0; i + 1 < levels.length; i++) if (levels[i] === product && levels[i + 1] === device) return true;
  return false;
}

/** The OTA topics the station uses for one device, concrete (§5.1, §8.1). */
export function otaTopicsOf(dialect: Dialect, product: string, device: string): string[] {
  if (dialect === 'tencent') return [`$ota/report/${product}/${device}`, `$ota/update/${product}/${device}`];
  return [
    `/ota/device/inform/${product}/${device}`,
    `/ota/device/upgrade/${product}/${device}`,
    `/ota/device/progress/${product}/${device}`,
    `/ota/device/request/${product}/${device}`,
    `/sys/${product}/${device}/thing/ota/firmware/get`,
    `/sys/${product}/${device}/thing/ota/firmware/get_reply`,
  ];
}

/** MQTT filter matching (3.1.1 §4.7), including the rule that `+`/`#` first never match a `$` topic. */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const fl = f[i]!;
    if (fl === '#') return true;
    if (i >= t.length) return false;
    if (fl !== '+' && fl !== t[i]) return false;
  }
  return f.length === t.length;
}

export type AclDecision = { ok: true } | { ok: false; reason: string };

/** Publish: only on the device's own topics. */
export function mayPublish(c: DeviceCredential, topic: string): AclDecision {
  return isOwnTopic(topic, c.product, c.device) ? { ok: true } : { ok: false, reason: `${topic} is not a topic of ${c.product}/${c.device}` };
}

/**
 * Subscribe: a concrete filter must be the device's own; a wildcard filter is accepted when it
 * covers one of the device's OTA topics (Aliyun 4.x registers `/ota/device/upgrade/+/+`, §2.5).
 * Nothing leaks through wildcards because forwarding is filtered per packet (mayReceive).
 */
export function maySubscribe(c: DeviceCredential, filter: string): AclDecision {
  if (!filter.includes('+') && !filter.includes('#')) return mayPublish(c, filter);
  if (otaTopicsOf(c.dialect, c.product, c.device).some((t) => topicMatches(filter, t))) return { ok: true };
  return { ok: false, reason: `wildcard ${filter} covers no topic of ${c.product}/${c.device}` };
}

/** Forwarding: a device receives a routed message only when the topic is its own. */
export function mayReceive(c: DeviceCredential, topic: string): boolean {
  return isOwnTopic(topic, c.product, c.device);
}
