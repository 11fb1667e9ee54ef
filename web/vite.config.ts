// Builds the console: `vite build web` (root = web/) writes dist/web, which `airlock server` serves at /.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    // Chromium, Firefox and Safari of the last few years; the console uses EventSource, fetch and Intl.
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: {
    // `npx vite web` for development: the API runs on airlock server's default port.
    proxy: { '/api': 'http://127.0.0.1:8080' },
  },
});
