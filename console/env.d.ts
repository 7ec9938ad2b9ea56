/** The script globals, extracted from types/registrar-script.d.ts when the console is built. */
declare module 'registrar:script-globals' {
  const globals: import('./editor/script-globals-types').ScriptGlobals;
  export default globals;
}

/** esbuild bundles imported CSS into the stylesheet index.html links. */
declare module '*.css' {}
