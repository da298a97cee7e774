// Past batches from the journal, and search by serial number, MAC or port. A failed load shows its
// error (never an empty list that looks like "no batches").
import { defineStore } from 'pinia';
import { ref, shallowRef } from 'vue';
import type { BatchView, ErrorView, JobView } from '../../main/contract/dto.js';
import { bridge } from '../bridge.js';

export const useHistoryStore = defineStore('history', () => {
  const batches = shallowRef<BatchView[]>([]);
  const results = shallowRef<JobView[] | null>(null);
  const query = ref('');
  const error = ref<ErrorView | null>(null);
  /** True once a list came back from the station (so "no batches" is the truth, not a failed load). */
  const loaded = ref(false);
  const loading = ref(false);

  async function refresh(): Promise<void> {
    loading.value = true;
    const r = await bridge().listBatches({ limit: 200 });
    loading.value = false;
    if (r.ok) {
      batches.value = r.value;
      loaded.value = true;
      error.value = null;
    } else error.value = r.error;
  }
  async function search(): Promise<void> {
    const q = query.value.trim();
    if (!q) {
      results.value = null;
      return;
    }
    const r = await bridge().searchJobs({ q });
    if (r.ok) results.value = r.value;
    else error.value = r.error;
  }
  return { batches, results, query, error, loaded, loading, refresh, search };
});
