// Which screen is shown and how the batch is shown (grid or big board); plain UI state, no bridge calls.
import { defineStore } from 'pinia';
import { ref } from 'vue';

export type Screen = 'batch' | 'packages' | 'plan' | 'history' | 'reports' | 'settings' | 'rma';
export const SCREENS: readonly Screen[] = ['batch', 'packages', 'plan', 'history', 'reports', 'settings', 'rma'];

export const useUiStore = defineStore('ui', () => {
  const screen = ref<Screen>('packages');
  const view = ref<'grid' | 'board'>('grid');
  const go = (s: Screen) => (screen.value = s);
  return { screen, view, go };
});
