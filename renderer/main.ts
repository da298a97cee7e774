// Renderer entry: Vue + Pinia. No Node here; the station is reached only through bridge.ts.
import { createPinia } from 'pinia';
import { createApp } from 'vue';
import App from './App.vue';
import './styles.css';

createApp(App).use(createPinia()).mount('#app');
