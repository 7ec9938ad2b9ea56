#!/usr/bin/env node
// The `registrar` command line. In a git checkout (src/ present) it runs the TypeScript
// sources through tsx, so no build is needed; in a built install it runs dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const source = new URL('../src/cli/main.ts', import.meta.url);
const built = new URL('../dist/cli/main.js', import.meta.url);

async function loadTsx() {
  try {
    const { register } = await import('tsx/esm/api');
    register();
    return true;
  } catch (error) {
    // tsx is a dev dependency: without it, fall back to the build when there is one.
    if (error?.code === 'ERR_MODULE_NOT_FOUND' && existsSync(fileURLToPath(built))) return false;
    throw error;
  }
}

if (existsSync(fileURLToPath(source)) && (await loadTsx())) {
  await import(source.href);
} else {
  await import(built.href);
}
