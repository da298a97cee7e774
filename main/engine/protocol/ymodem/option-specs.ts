/**
 * The ymodem option schema (issue 9 §9): every key resolveYmodemOptions accepts, with type,
 * default, unit, range and meaning. Patterns are strings (multi-line RegExp sources). Pure data.
 */
import type { OptionSpec } from '../../../contract/dto.js';
import { YMODEM_ISSUE9_OPTION_SPECS } from './options.js';

const BASE_SPECS: readonly OptionSpec[] = [
  { key: 'mode', type: 'enum', default: 'ymodem', values: ['ymodem', 'xmodem-1k', 'xmodem-crc', 'xmodem-checksum'], meaning: 'Sender variant.' },
  { key: 'blockSize', type: 'number', default: 1024, values: ['1024', '128'], unit: 'bytes', min: 128, max: 1024, meaning: 'Data block size (1K blocks with ST-style loaders).' },
  { key: 'tail', type: 'enum', default: 'same', values: ['same', '128'], meaning: 'Last block: same size as the others, or 128-byte blocks for the tail.' },
  { key: 'padByte', type: 'number', default: 0x1a, min: 0, max: 255, meaning: 'Byte that pads the last block (SUB = 26).' },
  { key: 'headerStyle', type: 'enum', default: 'size-mtime', values: ['size-only', 'size-mtime', 'full'], meaning: 'Fields in block 0 after the file name.' },
  { key: 'fileName', type: 'string|null', default: null, meaning: 'Name sent in block 0; null = the package component’s file name.' },
  { key: 'mtimeSec', type: 'number', default: 0, unit: 's', min: 0, max: 0xffffffff, meaning: 'Modification time sent in block 0.' },
  { key: 'allowChecksumFallback', type: 'boolean', default: false, meaning: 'Accept a receiver that asks for checksum (NAK) instead of CRC.' },
  { key: 'maxRetries', type: 'number', default: 10, min: 1, max: 1000, meaning: 'Tries per header, data block and EOT.' },
  { key: 'endOfBatchRetries', type: 'number', default: 3, min: 0, max: 1000, meaning: 'Tries for the empty end-of-batch header.' },
  { key: 'maxBlocks', type: 'number|null', default: null, min: 1, max: 1_000_000, meaning: 'Refuse images that need more data blocks (ST loaders count in 8 bits); null = no limit.' },
  { key: 'flashBytes', type: 'number|null', default: null, unit: 'bytes', min: 1, max: 1 << 30, meaning: 'The product’s flash size: larger images are refused before sending; null = no limit.' },
  { key: 'startTimeoutMs', type: 'number', default: 30_000, unit: 'ms', min: 0, max: 3_600_000, meaning: 'Wait for the receiver’s first C.' },
  { key: 'startSilenceMs', type: 'number', default: 30, unit: 'ms', min: 0, max: 60_000, meaning: 'Quiet time before the header goes out.' },
  { key: 'startSettleMs', type: 'number', default: 30, unit: 'ms', min: 0, max: 60_000, meaning: 'Settle time after the start request.' },
  { key: 'headerAckTimeoutMs', type: 'number', default: 30_000, unit: 'ms', min: 0, max: 3_600_000, meaning: 'Wait for the header ACK (ST loaders erase flash first).' },
  { key: 'dataStartTimeoutMs', type: 'number', default: 10_000, unit: 'ms', min: 0, max: 3_600_000, meaning: 'Wait for the C after the header ACK.' },
  { key: 'startDataWithoutC', type: 'boolean', default: false, meaning: 'Send the first data block without waiting for the second C.' },
  { key: 'blockReplyTimeoutMs', type: 'number', default: 10_000, unit: 'ms', min: 0, max: 3_600_000, meaning: 'Wait for ACK/NAK after a data block.' },
  { key: 'eotTimeoutMs', type: 'number', default: 10_000, unit: 'ms', min: 0, max: 3_600_000, meaning: 'Wait for the answer to EOT.' },
  { key: 'endOfBatchTimeoutMs', type: 'number', default: 10_000, unit: 'ms', min: 0, max: 3_600_000, meaning: 'Wait for the answer to the end-of-batch header.' },
  { key: 'cancelBytes', type: 'number', default: 5, min: 0, max: 100, meaning: 'CAN bytes sent to abort a session.' },
  { key: 'versionQuery', type: 'string|null', default: 'ver\r\n', meaning: 'Application console command that prints the version; null = none.' },
  { key: 'versionReply', type: 'string', default: '^VER\\s+(\\S+)', meaning: 'Pattern (multi-line) whose first group is the version.' },
  { key: 'batteryQuery', type: 'string|null', default: null, meaning: 'Console command that prints the battery level; null = the unit cannot report it.' },
  { key: 'batteryReply', type: 'string', default: '^BAT\\s+(\\d+)', meaning: 'Pattern whose first group is the battery percentage.' },
  { key: 'serialQuery', type: 'string|null', default: null, meaning: 'Console command that prints the serial number; null = none.' },
  { key: 'serialReply', type: 'string', default: '^SN\\s+(\\S+)', meaning: 'Pattern whose first group is the serial number.' },
  { key: 'identifyTimeoutMs', type: 'number', default: 1500, unit: 'ms', min: 0, max: 600_000, meaning: 'Wait for the console’s answers (longer than the loader’s 1 s C interval).' },
  { key: 'minBatteryPct', type: 'number|null', default: null, unit: '%', min: 0, max: 100, meaning: 'Refuse to flash below this battery level; null = no limit.' },
  { key: 'bootTrigger', type: 'string|null', default: 'boot\r\n', meaning: 'Console command that enters the bootloader; null = the unit is already in it.' },
  { key: 'verdict', type: 'boolean', default: true, meaning: 'Read the loader’s printed verdict after the transfer.' },
  { key: 'verdictTimeoutMs', type: 'number', default: 5000, unit: 'ms', min: 0, max: 600_000, meaning: 'Wait for the loader’s verdict.' },
  { key: 'confirm', type: 'enum', default: 'auto', values: ['auto', 'boot-line', 'query', 'none'], meaning: 'How the new version is confirmed: boot line, version query, either, or not at all.' },
  { key: 'bootLine', type: 'string', default: '^APP\\s+(\\S+)\\s+READY', meaning: 'Pattern of the application’s boot line; first group is the version.' },
  { key: 'confirmQueryIntervalMs', type: 'number', default: 1000, unit: 'ms', min: 0, max: 600_000, meaning: 'Gap between version queries while confirming.' },
  { key: 'rebootTimeoutMs', type: 'number', default: 15_000, unit: 'ms', min: 0, max: 3_600_000, meaning: 'Wait for the application to boot and report its version.' },
  { key: 'activateDelayMs', type: 'number', default: 0, unit: 'ms', min: 0, max: 600_000, meaning: 'Extra wait before confirm starts listening.' },
];

/** The base options plus those the vendors' own loaders/MCUs need (issue 9 §5/§6); a later spec of the same key wins. */
export const OPTION_SPECS: readonly OptionSpec[] = [...new Map([...BASE_SPECS, ...YMODEM_ISSUE9_OPTION_SPECS].map((s) => [s.key, s])).values()];
