#!/usr/bin/env node
// Build a whole static site from the posts in <posts_dir> the way a Hexo blog is built
// (`hexo generate`): real Hexo 7, Hexo's default filters, the landscape theme and the
// index generator of a new `hexo init` site.
//
// Usage: TZ=UTC node tests/hexo/render_site.js <posts_dir> <out_dir>
//            [--marked-sanitize-url] [--per-page N] [--root /path/] [--post-asset-folder]
//
// Builds a throwaway Hexo site in a temp dir (theme: landscape, from
// node_modules/hexo-theme-landscape), copies every *.md under <posts_dir> (recursively,
// keeping sub-folders) to <site>/source/_posts/, runs `init()`, `load()` and
// `call('generate')`, copies the generated public/ folder to <out_dir> (which must be
// missing or empty) and prints ONE JSON array of records, in this order:
//   {"kind": "post", "source": "<path under source/_posts>", "title": ...,
//    "path": "<the post's page under the site root, e.g. 2022/01/24/x/index.html>",
//    "content": "<post.content: the post's body as HTML, after Nunjucks + marked>"}
//      one per post Hexo loaded, sorted by source;
//   {"kind": "index", "path": "index.html" | "page/N/index.html", "sources": [...]}
//      one per index page, in page order, with the posts it shows (as excerpts);
//   {"kind": "unpublished", "source": ..., "reason": ...}
//      one per copied file that has no page in public/ (e.g. a name starting with `_`,
//      which Hexo never publishes).
// `path` is not URL-encoded and does not include --root: it is the page's file under
// <out_dir>.  --marked-sanitize-url sets `marked: {sanitizeUrl: true}`
// (hexo-renderer-marked blanks Markdown links to javascript:, vbscript: and data:).
// --per-page sets the index generator's posts per page (default: Hexo's 10; 0 puts every
// post on index.html).  --root serves the site under a sub-path (`root` and `url`).
// --post-asset-folder sets `post_asset_folder: true` and copies every file under
// <posts_dir>, not only the posts: a post's folder of images is published beside its page.
// The starter's archive, category and tag generators are installed (package.json), so
// Hexo loads and runs them too: archives/, categories/, tags/.
// Exits non-zero (message on stderr) when Hexo logs an error, rejects, or runs with
// other filters than a new site's (external links at site level, highlight.js fences).
// An unpublished post is reported, not fatal: the caller decides.
//
// Generation itself never touches the network: the theme's EJS and Stylus are rendered
// locally. The generated pages do reference two stylesheets on cdn.jsdelivr.net
// (Fork Awesome; Source Code Pro only when `highlight.enable` is set, which Hexo 7 does
// not set by default): a browser opening them has to block those requests.
'use strict';

const fs = require('fs');
const path = require('path');
const { NODE_MODULES, byName, failer, listFiles, listMarkdown, makeSite, postSource, recordLog } = require('./site');

const THEME = 'landscape';
const REQUIRED = [
  'hexo',
  'hexo-generator-index',
  'hexo-renderer-marked',
  'hexo-renderer-ejs',
  'hexo-renderer-stylus',
  `hexo-theme-${THEME}`
];
const fail = failer('render_site.js');

// The site's settings: what `hexo init` writes into a new site's _config.yml, spelled
// out where it matters for what a reader gets (Hexo 7's defaults: external links
// rewritten over the whole generated page, fenced code highlighted by highlight.js), plus
// the theme.  Nothing here turns a filter off.
function siteConfig({ sanitizeUrl, perPage, root, postAssetFolder }) {
  return [
    'title: hexo-render-test',
    `url: http://127.0.0.1${root.replace(/\/$/, '')}`,
    `root: ${root}`,
    'permalink: :year/:month/:day/:title/',
    "timezone: ''",
    `post_asset_folder: ${postAssetFolder ? 'true' : 'false'}`,
    'new_post_name: :title.md',
    'render_drafts: false',
    'future: true',
    'updated_option: mtime',
    'external_link:',
    '  enable: true',
    '  field: site',
    "  exclude: ''",
    'syntax_highlighter: highlight.js',
    'highlight:',
    '  line_number: true',
    '  auto_detect: false',
    "  tab_replace: ''",
    '  wrap: true',
    '  hljs: false',
    'prismjs:',
    '  preprocess: true',
    '  line_number: true',
    "  tab_replace: ''",
    'index_generator:',
    "  path: ''",
    `  per_page: ${perPage}`,
    "  order_by: -date",
    `per_page: ${perPage}`,
    'pagination_dir: page',
    `theme: ${THEME}`,
    'marked:',
    `  sanitizeUrl: ${sanitizeUrl ? 'true' : 'false'}`,
    ''
  ].join('\n');
}

// What the loaded configuration must say: a filter switched off by a plugin or a typo
// would make the harness show a blog no reader has.
function configProblems(hexo) {
  const problems = [];
  const { external_link: link, syntax_highlighter: highlighter } = hexo.config;
  if (!link || link.enable !== true || link.field !== 'site') {
    problems.push(`external_link is not enabled at field "site": ${JSON.stringify(link)}`);
  }
  if (highlighter !== 'highlight.js' || !hexo.extend.highlight.query(highlighter)) {
    problems.push(`syntax_highlighter is not highlight.js: ${JSON.stringify(highlighter)}`);
  }
  for (const [type, name] of [
    ['before_post_render', 'backtickCodeBlock'],
    ['after_post_render', 'excerptFilter'],
    ['_after_html_render', 'externalLinkFilter'] // `after_render:html`, as Hexo stores it
  ]) {
    if (!hexo.extend.filter.list(type).some(fn => fn.name === name)) {
      problems.push(`Hexo's ${type} filter ${name} is not registered`);
    }
  }
  if (!hexo.extend.generator.get('index')) problems.push('no index generator: is hexo-generator-index installed?');
  return problems;
}

// The page of a route path under public/: Hexo's router adds index.html to a path
// ending in '/' (or to an empty one).
function pagePath(routePath) {
  let p = String(routePath).replace(/^\/+/, '');
  if (!p || p.endsWith('/')) p += 'index.html';
  return p;
}

function parseArgs(argv) {
  const positional = [];
  const opts = { sanitizeUrl: false, perPage: 10, root: '/', postAssetFolder: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--marked-sanitize-url') opts.sanitizeUrl = true;
    else if (arg === '--post-asset-folder') opts.postAssetFolder = true;
    else if (arg === '--per-page' && /^\d+$/.test(argv[i + 1] || '')) opts.perPage = Number(argv[++i]);
    else if (arg === '--root' && /^\/(?:[A-Za-z0-9._-]+\/)*$/.test(argv[i + 1] || '')) opts.root = argv[++i];
    else if (arg.startsWith('--')) return null;
    else positional.push(arg);
  }
  if (positional.length !== 2) return null;
  return { postsDir: path.resolve(positional[0]), outDir: path.resolve(positional[1]), ...opts };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!args) {
    fail(
      'usage: node render_site.js <posts_dir> <out_dir> [--marked-sanitize-url] [--per-page N] [--root /path/] ' +
        '[--post-asset-folder]'
    );
    return;
  }
  const { postsDir, outDir } = args;
  if (!fs.existsSync(postsDir) || !fs.statSync(postsDir).isDirectory()) {
    fail(`not a directory: ${postsDir}`);
    return;
  }
  if (fs.existsSync(outDir) && (!fs.statSync(outDir).isDirectory() || fs.readdirSync(outDir).length)) {
    fail(`out_dir exists and is not an empty directory: ${outDir}`);
    return;
  }
  const missing = REQUIRED.filter(name => !fs.existsSync(path.join(NODE_MODULES, name, 'package.json')));
  if (missing.length) {
    fail(`not installed in ${NODE_MODULES}: ${missing.join(', ')}; run: npm ci --prefix tests/hexo`);
    return;
  }
  const Hexo = require('hexo');
  const files = listMarkdown(postsDir);
  // With post asset folders, the files beside the posts (their images) are copied too.
  const copied = args.postAssetFolder ? listFiles(postsDir) : files;
  const base = makeSite(postsDir, copied, siteConfig(args), 'hexo-render-site-');
  try {
    const hexo = new Hexo(base, { silent: true });
    const { errors, warnings } = recordLog(hexo);

    await hexo.init();
    if (!hexo.extend.renderer.isRenderable('x.md')) {
      errors.push('no markdown renderer registered: is hexo-renderer-marked installed?');
    }
    if (!hexo.theme_dir || !fs.existsSync(path.join(hexo.theme_dir, 'layout', 'post.ejs'))) {
      errors.push(`theme ${THEME} not found (theme_dir: ${hexo.theme_dir})`);
    }
    for (const ext of ['ejs', 'styl']) {
      if (!hexo.extend.renderer.isRenderable(`x.${ext}`)) {
        errors.push(`no .${ext} renderer registered: is hexo-renderer-${ext === 'ejs' ? 'ejs' : 'stylus'} installed?`);
      }
    }
    errors.push(...configProblems(hexo));

    // Record which posts each index page shows: the index generator's own routes, from
    // its last run (load() generates once, generate() again).
    let indexes = [];
    const indexGenerator = hexo.extend.generator.get('index');
    if (indexGenerator) {
      hexo.extend.generator.register('index', async function recordIndexPages(locals) {
        const routes = await indexGenerator.call(this, locals);
        indexes = [].concat(routes || []).map(route => ({
          kind: 'index',
          path: pagePath(route.path),
          sources: (route.data && route.data.posts ? route.data.posts.toArray() : []).map(postSource)
        }));
        return routes;
      });
    }

    await hexo.load();
    await hexo.call('generate', {});

    const publicDir = hexo.public_dir;
    const posts = hexo
      .model('Post')
      .toArray()
      .map(post => ({
        kind: 'post',
        source: postSource(post),
        title: post.title,
        path: pagePath(post.path),
        content: typeof post.content === 'string' ? post.content : ''
      }));
    posts.sort((a, b) => byName(a.source, b.source));

    const written = new Set(listFiles(publicDir));
    const unpublished = [];
    const bySource = new Map(posts.map(p => [p.source, p]));
    for (const rel of files) {
      const post = bySource.get(rel);
      if (!post) {
        const name = path.posix.basename(rel);
        const why = /^[_.]/.test(name)
          ? `its name starts with "${name[0]}": Hexo never loads such a file as a post`
          : 'Hexo did not load it as a post';
        unpublished.push({ kind: 'unpublished', source: rel, reason: why });
      } else if (!written.has(post.path)) {
        unpublished.push({ kind: 'unpublished', source: rel, reason: `Hexo did not write its page ${post.path}` });
      }
    }
    const seen = new Map();
    for (const p of posts) {
      if (seen.has(p.path)) errors.push(`${p.source} and ${seen.get(p.path)} both have the page ${p.path}`);
      seen.set(p.path, p.source);
    }
    for (const page of indexes) {
      if (!written.has(page.path)) errors.push(`Hexo did not write the index page ${page.path}`);
    }
    if (posts.length && !indexes.length) errors.push('the index generator made no index page');
    await hexo.exit();

    for (const w of warnings) process.stderr.write(`${w}\n`);
    if (errors.length) {
      fail(`Hexo reported ${errors.length} error(s):\n${errors.join('\n')}`);
      return;
    }
    fs.mkdirSync(outDir, { recursive: true });
    fs.cpSync(publicDir, outDir, { recursive: true });
    process.stdout.write(`${JSON.stringify([...posts, ...indexes, ...unpublished])}\n`);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
}

main().catch(err => {
  fail(`Hexo failed: ${err && err.stack ? err.stack : err}`);
});
