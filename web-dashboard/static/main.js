// Loads the dashboard's WebAssembly module; its start function does the rest.
import init from './pkg/tether_dashboard.js';

init().catch((error) => {
  const banner = document.getElementById('banner');
  banner.textContent = `The dashboard could not start: ${error}`;
  banner.className = 'banner down';
  banner.hidden = false;
});
