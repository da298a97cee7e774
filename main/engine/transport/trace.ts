/**
 * A ring buffer of a link's traffic (time, direction, hex), kept per attempt so a failed job can
 * save the tail with its report row. Bounded in lines and in bytes per line.
 */
import type { TraceLine } from '../../contract/dto.js';

const MAX_HEX_BYTES_PER_LINE = 64;

export class TraceRing {
  private lines: TraceLine[] = [];
  private start = performance.now();
  constructor(private readonly capacity = 400) {}

  reset(): void {
    this.lines = [];
    this.start = performance.now();
  }
  private push(line: TraceLine): void {
    this.lines.push(line);
    if (this.lines.length > this.capacity) this.lines.splice(0, this.lines.length - this.capacity);
  }
  tx(bytes: Uint8Array): void {
    this.push({ tMs: this.elapsed(), dir: 'tx', hex: hexHead(bytes) });
  }
  rx(bytes: Uint8Array): void {
    this.push({ tMs: this.elapsed(), dir: 'rx', hex: hexHead(bytes) });
  }
  note(text: string): void {
    this.push({ tMs: this.elapsed(), dir: 'note', text });
  }
  tail(n = this.capacity): TraceLine[] {
    return this.lines.slice(-n);
  }
  private elapsed(): number {
    return Math.round((performance.now() - this.start) * 10) / 10;
  }
}

function hexHead(bytes: Uint8Array): string {
  const shown = bytes.subarray(0, MAX_HEX_BYTES_PER_LINE);
  let s = Buffer.from(shown.buffer, shown.byteOffset, shown.byteLength).toString('hex');
  if (bytes.length > MAX_HEX_BYTES_PER_LINE) s += `…(+${bytes.length - MAX_HEX_BYTES_PER_LINE})`;
  return s;
}
