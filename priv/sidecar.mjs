// The sidecar entry that the Mix plugin starts: `node priv/sidecar.mjs`.
// It loads the compiled sidecar; run `npm run build` at the repository root first.
import { main } from '../dist/sidecar/main.js';

main();
