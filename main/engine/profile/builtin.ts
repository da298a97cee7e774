/**
 * Built-in product profiles for the device families the station was tried against (issue 9 §9,
 * vendor-behaviour.md), and the per-protocol defaults a batch uses when no profile is named.
 * Pure data, built from the option sets the protocols define for these loaders and MCUs.
 */
import type { ProductProfile, ProtocolId } from '../../contract/dto.js';
import { BARE_RECEIVER_PROFILE, ST_IAP_YMODEM_OPTIONS, ST_MENU_PROMPT } from '../protocol/ymodem/options.js';
import { QUECTEL_MCU_OPTIONS } from '../protocol/quecthing-sota/options.js';

type Timers = NonNullable<ProductProfile['timers']>;

/** Station defaults per protocol when neither a profile nor the engine sets a timer. */
export const DEFAULT_TIMERS: Record<ProtocolId, Required<Pick<Timers, 'connectTimeoutMs' | 'rebootTimeoutMs'>>> = {
  // A serial port opens at once; a loader's own start wait is a protocol option.
  ymodem: { connectTimeoutMs: 15_000, rebootTimeoutMs: 60_000 },
  'quecthing-sota': { connectTimeoutMs: 15_000, rebootTimeoutMs: 20 * 60_000 },
  // Scan (8 s) + connect + GATT discovery on a busy adapter.
  'llsync-ota': { connectTimeoutMs: 30_000, rebootTimeoutMs: 60_000 },
  'mqtt-ota-tencent': { connectTimeoutMs: 15_000, rebootTimeoutMs: 300_000 },
  'mqtt-ota-aliyun': { connectTimeoutMs: 15_000, rebootTimeoutMs: 300_000 },
};

export const BUILTIN_PROFILES: readonly ProductProfile[] = Object.freeze([
  {
    id: 'st-iap-ymodem',
    name: 'ST AN4657 IAP loader (YMODEM, STM32F0 class)',
    builtIn: true,
    protocol: 'ymodem',
    description:
      'The ST IAP menu loader: 1K blocks, at most 255 of them, no version query and no CRC report — a unit passes on the loader’s printed verdict. File names ≤ 63 characters. Set limits.maxImageBytes to the product’s flash area in a user profile.',
    // Menu key `1` after the menu's prompt (resent when no C follows), recovery of a loader left
    // mid-session, cancels only while it listens, its printed verdict and size (vendor-behaviour.md).
    // Profiles are JSON: the menu prompt pattern travels as its RegExp source.
    options: { ...ST_IAP_YMODEM_OPTIONS, menuPrompt: ST_MENU_PROMPT.source },
    successPolicy: 'loader-verdict',
    timers: { connectTimeoutMs: 15_000, rebootTimeoutMs: 15_000 },
    limits: { maxFileNameChars: 63, maxImageBytes: 245_760 },
  },
  {
    id: 'lrzsz-receiver',
    name: 'lrzsz-style receiver (rb / rx)',
    builtIn: true,
    protocol: 'ymodem',
    description: 'A bare YMODEM receiver: no console, no verdict text, nothing to confirm after the transfer; the end-of-batch handshake is the receiver’s verdict.',
    options: { ...BARE_RECEIVER_PROFILE },
    successPolicy: 'loader-verdict',
    timers: { connectTimeoutMs: 15_000, rebootTimeoutMs: 15_000 },
  },
  {
    id: 'tencent-c-sdk',
    name: 'Tencent IoT Hub C SDK units (ota_mqtt_sample)',
    builtIn: true,
    protocol: 'mqtt-ota-tencent',
    description:
      'The C SDK sample reports `done` and exits without rebooting (its version is compiled in), so `done` is success. A product that reboots and reports its new version should use a user profile with successPolicy version-after-reboot. Firmware URLs must carry no port.',
    options: { successPolicy: 'done', startTimeoutMs: 30_000, stallTimeoutMs: 60_000, installTimeoutMs: 600_000, urlPortAllowed: false, freshReportWaitMs: 3000 },
    successPolicy: 'done-is-success',
    timers: { connectTimeoutMs: 15_000, rebootTimeoutMs: 300_000, stallTimeoutMs: 60_000 },
  },
  {
    id: 'aliyun-iotkit-3',
    name: 'Aliyun iotkit-embedded 3.x units',
    builtIn: true,
    protocol: 'mqtt-ota-aliyun',
    description: 'One plain GET, progress steps, no `done` message: a unit passes only when it reboots and reports the target version.',
    options: { successPolicy: 'version', aliyunSignMethod: 'Md5', aliyunPushWithoutSubscribe: false, stallTimeoutMs: 60_000, urlPortAllowed: false, freshReportWaitMs: 3000 },
    successPolicy: 'version-after-reboot',
    timers: { connectTimeoutMs: 15_000, rebootTimeoutMs: 300_000, stallTimeoutMs: 60_000 },
  },
  {
    id: 'quectel-mcu',
    name: 'Quectel QuecThing MCU (SOTA over the module UART)',
    builtIn: true,
    protocol: 'quecthing-sota',
    description: 'An MCU behind a Quectel module: reads 1024 bytes at a time, checks the MD5, reports its new version after flashing and rebooting.',
    // Announces its version seconds after registering; reads 1024 B at a time after 200 ms of silence.
    options: { ...QUECTEL_MCU_OPTIONS, tolerateOldVersionReport: true },
    successPolicy: 'version-after-reboot',
    timers: { connectTimeoutMs: 15_000, rebootTimeoutMs: 20 * 60_000, stallTimeoutMs: 60_000, announceWindowMs: 10_000 },
  },
  {
    id: 'llsync-sdk',
    name: 'Tencent LLSync BLE SDK 1.4.x units',
    builtIn: true,
    protocol: 'llsync-ota',
    description:
      'Never-bound units log in with a zero PSK; the unit announces its reboot time (20 s by default) and may answer with its old version until it reboots (≈5 s after the result). The MTU exchange may come after login or never.',
    options: { localPsk: '00000000', mtuResult: 'after-sync', recoverStaleResume: true, rebootMarginMs: 5000 },
    successPolicy: 'version-after-reboot',
    timers: { connectTimeoutMs: 30_000, rebootTimeoutMs: 25_000 },
  },
] satisfies ProductProfile[]);
