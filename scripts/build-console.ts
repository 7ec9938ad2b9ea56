/**
 * Builds the web console (`console/`) into a folder the server serves at `/console`:
 * `index.html` plus `assets/` holding one JavaScript and one CSS bundle with content
 * hashes in their names (served with a year-long immutable cache). `npm run build` runs
 * it into `dist/console`; tests build into a temp folder.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { scriptGlobals } from './script-globals.js';

const ROOT = resolve(import.meta.dirname, '..');
const ENTRY = join(ROOT, 'console', 'main.tsx');
/** The module through which the editor gets the globals of types/registrar-script.d.ts. */
const GLOBALS_MODULE = 'registrar:script-globals';

/** What a build wrote. */
export interface ConsoleBuild {
  outDir: string;
  /** The hashed file names under `assets/`, as index.html names them. */
  script: string;
  stylesheet: string;
  /** Every file written under `assets/`. */
  assets: string[];
  ms: number;
}

/** Hands the console the script globals, read from the declaration file at build time. */
const scriptGlobalsPlugin: esbuild.Plugin = {
  name: 'script-globals',
  setup(build) {
    build.onResolve({ filter: /^registrar:script-globals$/ }, () => ({
      path: GLOBALS_MODULE,
      namespace: 'script-globals',
    }));
    build.onLoad({ filter: /.*/, namespace: 'script-globals' }, () => {
      const dts = join(ROOT, 'types', 'registrar-script.d.ts');
      return { contents: JSON.stringify(scriptGlobals(dts)), loader: 'json', watchFiles: [dts] };
    });
  },
};

/** The console's page: no inline script or style (the CSP forbids both), only the hashed bundles. */
function indexHtml(script: string, stylesheet: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Registrar console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/assets/${stylesheet}">
<script type="module" src="/console/assets/${script}"></script>
</head>
<body>
<div id="app"><noscript>The Registrar console needs JavaScript.</noscript></div>
</body>
</html>
`;
}

/**
 * Bundles the console into `outDir` (`index.html`, `assets/`): minified, content-hashed
 * names, source maps beside the bundles. Replaces an earlier build in that folder (only
 * `index.html` and `assets/`: `dist/console` also holds the server's compiled modules).
 */
export async function buildConsole(outDir: string): Promise<ConsoleBuild> {
  const started = performance.now();
  const assetsDir = join(outDir, 'assets');
  rmSync(assetsDir, { recursive: true, force: true });
  rmSync(join(outDir, 'index.html'), { force: true });
  mkdirSync(assetsDir, { recursive: true });
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: { main: ENTRY },
    tsconfig: join(ROOT, 'tsconfig.console.json'),
    bundle: true,
    format: 'esm',
    target: ['chrome110', 'firefox115', 'safari16'],
    minify: true,
    sourcemap: 'linked',
    outdir: assetsDir,
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    metafile: true,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    legalComments: 'linked',
    logLevel: 'silent',
    plugins: [scriptGlobalsPlugin],
  });
  let script: string | undefined;
  let stylesheet: string | undefined;
  for (const [path, output] of Object.entries(result.metafile.outputs)) {
    if (output.entryPoint && resolve(ROOT, output.entryPoint) === ENTRY) {
      script = basename(path);
      if (output.cssBundle) stylesheet = basename(output.cssBundle);
    }
  }
  if (!script || !stylesheet) throw new Error('the console build produced no script or no stylesheet');
  writeFileSync(join(outDir, 'index.html'), indexHtml(script, stylesheet));
  const assets = Object.keys(result.metafile.outputs).map((path) => basename(path));
  return { outDir, script, stylesheet, assets, ms: Math.round(performance.now() - started) };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outDir = resolve(process.argv[2] ?? join(ROOT, 'dist', 'console'));
  const build = await buildConsole(outDir);
  console.log(
    `console built into ${relative(process.cwd(), outDir) || '.'} in ${build.ms} ms: ${build.assets.join(', ')}`,
  );
}
