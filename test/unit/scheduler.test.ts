import { describe, expect, it } from 'vitest';
import { Scheduler } from '../../main/engine/pool/scheduler.js';

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('Scheduler', () => {
  it('never exceeds the global cap and serves waiters in order', async () => {
    const s = new Scheduler(2, () => 100);
    const order: number[] = [];
    const releases: (() => void)[] = [];
    for (let i = 0; i < 5; i++) void s.acquire({ resources: [`r${i}`] }).then((rel) => { order.push(i); releases.push(rel); });
    await tick();
    expect(order).toEqual([0, 1]);
    expect(s.running).toBe(2);
    releases.shift()!();
    await tick();
    expect(order).toEqual([0, 1, 2]);
    expect(s.running).toBe(2);
  });

  it('holds one job per serial port but lets other ports pass a busy one', async () => {
    const s = new Scheduler(10, (r) => (r.startsWith('ble:') ? 6 : 1));
    const got: string[] = [];
    const rel: Record<string, () => void> = {};
    const take = (name: string, res: string) => void s.acquire({ resources: [res] }).then((r) => { got.push(name); rel[name] = r; });
    take('a1', 'serial:/dev/a');
    take('a2', 'serial:/dev/a');
    take('b1', 'serial:/dev/b');
    await tick();
    expect(got).toEqual(['a1', 'b1']);
    rel.a1!();
    await tick();
    expect(got).toEqual(['a1', 'b1', 'a2']);
  });

  it('gives a BLE adapter its connection slots (6) and no more', async () => {
    const s = new Scheduler(64, (r) => (r.startsWith('ble:') ? 6 : 1));
    let granted = 0;
    for (let i = 0; i < 24; i++) void s.acquire({ resources: ['ble:hci0'] }).then(() => granted++);
    await tick();
    expect(granted).toBe(6);
  });

  it('grants nothing while paused and resumes where it stopped', async () => {
    const s = new Scheduler(4, () => 1);
    s.setPaused(true);
    let granted = 0;
    void s.acquire({ resources: ['x'] }).then(() => granted++);
    await tick();
    expect(granted).toBe(0);
    s.setPaused(false);
    await tick();
    expect(granted).toBe(1);
  });

  it('an aborted waiter leaves the queue and does not take a slot', async () => {
    const s = new Scheduler(1, () => 1);
    const first = await s.acquire({ resources: ['a'] });
    const ac = new AbortController();
    const p = s.acquire({ resources: ['b'] }, ac.signal);
    ac.abort(new Error('cancel'));
    await expect(p).rejects.toThrow('cancel');
    let granted = false;
    void s.acquire({ resources: ['c'] }).then(() => (granted = true));
    first();
    await tick();
    expect(granted).toBe(true);
    expect(s.running).toBe(1);
  });

  it('a double release frees the slot only once', async () => {
    const s = new Scheduler(1, () => 1);
    const r = await s.acquire({ resources: ['a'] });
    r();
    r();
    expect(s.running).toBe(0);
  });
});
