/**
 * A sleep that can be cut short: the outbox loops (line shipper, MES deliverer) wait between polls
 * and wake at once when new rows arrive or the station stops. No I/O; must not import the journal.
 */
export class Napper {
  private wakeFn: (() => void) | null = null;

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wakeFn = () => {
        this.wakeFn = null;
        done();
      };
    });
  }

  /** End the current sleep now (no-op when not sleeping). */
  wake(): void {
    this.wakeFn?.();
  }
}
