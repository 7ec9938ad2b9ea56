import type { Json, JsonObject } from './openapi.js';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

const STYLE = `
body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 960px; padding: 1rem 2rem; color: #1d1d1f; }
h1 { margin-bottom: 0; } h2 { border-bottom: 2px solid #ddd; margin-top: 2.5rem; }
article { border: 1px solid #ddd; border-radius: 6px; margin: 1rem 0; padding: 0 1rem 0.5rem; }
h3 code { font-size: 1rem; } h4 { margin: 1rem 0 0.25rem; } h5 { margin: 0.75rem 0 0.25rem; font-size: 0.9rem; }
.method { border-radius: 4px; color: #fff; font: bold 0.8rem monospace; padding: 2px 6px; background: #555; }
.get { background: #1f6feb; } .post { background: #1a7f37; } .put, .patch { background: #9a6700; }
.delete { background: #cf222e; }
pre { background: #f6f8fa; border-radius: 4px; overflow-x: auto; padding: 0.5rem; font-size: 0.85rem; }
table { border-collapse: collapse; } th, td { border: 1px solid #ddd; padding: 2px 8px; text-align: left; }
.auth { background: #fff8c5; padding: 2px 6px; } nav ul { columns: 2; }
`;

/** HTML-escapes text for element content and attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Escaped text with its `code` spans as `<code>`. */
const inline = (text: string) => escapeHtml(text).replace(/`([^`]+)`/g, '<code>$1</code>');

/** Escaped text, one paragraph per blank-line-separated block. */
function prose(text: unknown): string {
  if (typeof text !== 'string' || text === '') return '';
  return text
    .split(/\n{2,}/)
    .map((block) => `<p>${inline(block)}</p>`)
    .join('\n');
}

const anchor = (text: string) => text.replace(/[^A-Za-z0-9_-]+/g, '-');
const obj = (value: Json | undefined): JsonObject =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? value : {};
const list = (value: Json | undefined): Json[] => (Array.isArray(value) ? value : []);
const str = (value: Json | undefined): string => (typeof value === 'string' ? value : '');

/** A schema as pretty JSON; a top-level component `$ref` is named and shown resolved. */
function schemaBlock(schema: Json | undefined, components: JsonObject): string {
  const ref = str(obj(schema).$ref);
  const name = ref.startsWith('#/components/schemas/') ? ref.slice('#/components/schemas/'.length) : '';
  const shown = name && components[name] ? components[name] : schema;
  const label = name
    ? `<p>Schema <a href="#schema-${anchor(name)}"><code>${escapeHtml(name)}</code></a></p>`
    : '';
  return `${label}<pre>${escapeHtml(JSON.stringify(shown, null, 2))}</pre>`;
}

function authLine(op: JsonObject): string {
  const security = list(op.security);
  if (security.length === 0) return '<p><span class="auth">Auth: none</span></p>';
  const schemes = security.flatMap((requirement) => Object.keys(obj(requirement))).join(' or ');
  const scope = str(op['x-required-scope']);
  const text = `Auth: ${schemes}${scope ? `, scope ${scope}` : ''}`;
  return `<p><span class="auth">${escapeHtml(text)}</span></p>`;
}

function parametersTable(op: JsonObject): string {
  const params = list(op.parameters).map(obj);
  if (params.length === 0) return '';
  const rows = params.map(
    (p) =>
      `<tr><td><code>${escapeHtml(str(p.name))}</code></td><td>${escapeHtml(str(p.in))}</td>` +
      `<td>${p.required === true ? 'yes' : 'no'}</td><td>${inline(str(p.description))}</td>` +
      `<td><code>${escapeHtml(JSON.stringify(p.schema ?? {}))}</code></td></tr>`,
  );
  return (
    '<h4>Parameters</h4><table><tr><th>Name</th><th>In</th><th>Required</th><th>Description</th>' +
    `<th>Schema</th></tr>${rows.join('')}</table>`
  );
}

function requestBody(op: JsonObject, components: JsonObject): string {
  const body = obj(op.requestBody);
  const content = Object.entries(obj(body.content));
  if (content.length === 0) return '';
  const parts = content.map(
    ([mediaType, media]) => `<h5>${escapeHtml(mediaType)}</h5>${schemaBlock(obj(media).schema, components)}`,
  );
  return `<h4>Request body${body.required === true ? ' (required)' : ' (optional)'}</h4>${parts.join('')}`;
}

function responses(op: JsonObject, components: JsonObject): string {
  const parts = Object.entries(obj(op.responses)).map(([status, value]) => {
    const response = obj(value);
    const headers = Object.entries(obj(response.headers)).map(
      ([name, header]) =>
        `<li><code>${escapeHtml(name)}</code>: ${inline(str(obj(header).description))}</li>`,
    );
    const content = Object.entries(obj(response.content)).map(
      ([mediaType, media]) => `<p>${escapeHtml(mediaType)}</p>${schemaBlock(obj(media).schema, components)}`,
    );
    return (
      `<h5>${escapeHtml(status)}: ${inline(str(response.description))}</h5>` +
      (headers.length ? `<ul>${headers.join('')}</ul>` : '') +
      content.join('')
    );
  });
  return `<h4>Responses</h4>${parts.join('')}`;
}

interface Operation {
  method: string;
  path: string;
  op: JsonObject;
}

function operationHtml({ method, path, op }: Operation, components: JsonObject): string {
  return `<article id="${escapeHtml(anchor(str(op.operationId)))}">
<h3><span class="method ${method}">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code></h3>
<p><strong>${escapeHtml(str(op.summary))}</strong></p>
${prose(op.description)}
${authLine(op)}
${parametersTable(op)}
${requestBody(op, components)}
${responses(op, components)}
</article>`;
}

/** The OpenAPI document as one self-contained HTML page (no scripts, no external resources). */
export function renderDocsPage(document: JsonObject): string {
  const info = obj(document.info);
  const components = obj(obj(document.components).schemas);
  const byTag = new Map<string, Operation[]>();
  for (const tag of list(document.tags)) byTag.set(str(obj(tag).name), []);
  for (const [path, item] of Object.entries(obj(document.paths))) {
    for (const method of METHODS) {
      const op = obj(item)[method];
      if (op === undefined) continue;
      const tags = list(obj(op).tags).map(str);
      for (const tag of tags.length > 0 ? tags : ['Other']) {
        if (!byTag.has(tag)) byTag.set(tag, []);
        byTag.get(tag)?.push({ method, path, op: obj(op) });
      }
    }
  }
  const sections = [...byTag].filter(([, ops]) => ops.length > 0);
  const nav = sections.map(([tag]) => `<li><a href="#tag-${anchor(tag)}">${escapeHtml(tag)}</a></li>`);
  const body = sections.map(
    ([tag, ops]) =>
      `<section id="tag-${anchor(tag)}"><h2>${escapeHtml(tag)}</h2>\n` +
      `${ops.map((op) => operationHtml(op, components)).join('\n')}</section>`,
  );
  const schemas = Object.entries(components).map(
    ([name, schema]) =>
      `<h3 id="schema-${anchor(name)}"><code>${escapeHtml(name)}</code></h3>` +
      `<pre>${escapeHtml(JSON.stringify(schema, null, 2))}</pre>`,
  );
  const title = `${str(info.title)} API reference`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>${escapeHtml(title)}</h1><p>Version ${escapeHtml(str(info.version))} ·
<a href="openapi.json">OpenAPI document</a></p>${prose(info.description)}</header>
<nav><ul>${nav.join('')}<li><a href="#schemas">Schemas</a></li></ul></nav>
${body.join('\n')}
<section id="schemas"><h2>Schemas</h2>${schemas.join('\n')}</section>
</body>
</html>
`;
}
