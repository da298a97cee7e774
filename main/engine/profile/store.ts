/**
 * The station's profile list: built-in profiles plus user profiles saved in the data dir
 * (`profiles.json`, written atomically). Every profile is checked on save and on load; a
 * built-in id cannot be overwritten or deleted.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ProductProfile } from '../../contract/dto.js';
import { StationError } from '../errors.js';
import { BUILTIN_PROFILES } from './builtin.js';
import { checkProfile } from './profile.js';

export const PROFILES_FILE = 'profiles.json';

export class ProfileStore {
  constructor(private readonly dataDir: string) {}

  private get file(): string {
    return path.join(this.dataDir, PROFILES_FILE);
  }

  /** User profiles as saved (each re-checked: a hand-edited bad file is reported, not used). */
  userProfiles(): ProductProfile[] {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new StationError('CONFIG_INVALID', `cannot read ${this.file}: ${(e as Error).message}`);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw new StationError('CONFIG_INVALID', `${this.file} is not valid JSON`);
    }
    if (!Array.isArray(raw)) throw new StationError('CONFIG_INVALID', `${this.file} must hold a JSON array of profiles`);
    return raw.map((p) => checkProfile(p));
  }

  list(): ProductProfile[] {
    return [...BUILTIN_PROFILES.map((p) => structuredClone(p)), ...this.userProfiles()];
  }

  get(id: string): ProductProfile | undefined {
    return this.list().find((p) => p.id === id);
  }

  /** A profile by id, or CONFIG_INVALID naming the ones there are. */
  require(id: string): ProductProfile {
    const p = this.get(id);
    if (!p) throw new StationError('CONFIG_INVALID', `no product profile "${id}" (profiles: ${this.list().map((x) => x.id).join(', ')})`);
    return p;
  }

  /** Save (create or replace) a user profile. Returns the checked profile. */
  save(raw: unknown): ProductProfile {
    const p = checkProfile(raw);
    if (BUILTIN_PROFILES.some((b) => b.id === p.id)) throw new StationError('CONFIG_INVALID', `"${p.id}" is a built-in profile; save yours under another id`);
    const list = this.userProfiles().filter((x) => x.id !== p.id);
    list.push(p);
    this.write(list);
    return p;
  }

  /** Delete a user profile; false when there was none with that id. */
  delete(id: string): boolean {
    if (BUILTIN_PROFILES.some((b) => b.id === id)) throw new StationError('CONFIG_INVALID', `"${id}" is a built-in profile and cannot be deleted`);
    const list = this.userProfiles();
    const rest = list.filter((x) => x.id !== id);
    if (rest.length === list.length) return false;
    this.write(rest);
    return true;
  }

  private write(list: ProductProfile[]): void {
    fs.mkdirSync(this.dataDir, { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(list, null, 2) + '\n');
    fs.renameSync(tmp, this.file);
  }
}
