// Placeholder entry point: load the wasm engine and say so.
import init from './pkg/qconv_lens.js';

await init();
document.getElementById('status').textContent = 'engine loaded';
