// Whether the station answers (browser mode: the WebSocket is open). While it is down the
// screen says so and live figures are shown as stale; when it comes back `generation` grows,
// and the shell reloads station info, packages and history (batch watches resnapshot by themselves).
import { defineStore } from 'pinia';
import { ref } from 'vue';
import { onLink } from '../bridge.js';

export const useConnectionStore = defineStore('connection', () => {
  const connected = ref(true);
  /** When the link was lost (ms since epoch), null while connected. */
  const lostAt = ref<number | null>(null);
  /** Grows on every reconnect after a loss: watchers resync on it. */
  const generation = ref(0);
  let everLost = false;

  function set(up: boolean): void {
    if (up === connected.value) return;
    connected.value = up;
    if (!up) {
      lostAt.value = Date.now();
      everLost = true;
    } else {
      lostAt.value = null;
      if (everLost) generation.value++;
    }
  }
  const off = onLink(set);
  return { connected, lostAt, generation, set, dispose: off };
});
