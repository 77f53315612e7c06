#!/usr/bin/env node
// Render the posts in <posts_dir> into a whole static site with real Hexo and the
// landscape theme, the way a reader of the blog gets them.
//
// Usage: TZ=UTC node tests/hexo/render_site.js <posts_dir> <out_dir> [--marked-sanitize-url]
//
// Builds a throwaway Hexo site in a temp dir (theme: landscape, from
// node_modules/hexo-theme-landscape), copies every *.md under <posts_dir> (recursively,
// keeping sub-folders) to <site>/source/_posts/, runs `init()`, `load()` and
// `call('generate')`, copies the generated public/ folder to <out_dir> (which must be
// missing or empty) and prints ONE JSON array:
//   [{"source": "<path under source/_posts>", "title": ...,
//     "path": "<URL path of the post's page relative to the site root, e.g. 2022/01/24/x/index.html>",
//     "content": "<post.content: the post's body as HTML, after Nunjucks + marked>"}, ...]
// sorted by source. `path` is not URL-encoded: it is also the page's file under <out_dir>.
// With --marked-sanitize-url the site sets `marked: {sanitizeUrl: true}`
// (hexo-renderer-marked blanks Markdown links to javascript:, vbscript: and data:).
// Exits non-zero (message on stderr) when Hexo logs an error, rejects, does not turn every
// copied file into a post, or does not write a post's page.
//
// Generation itself never touches the network: the theme's EJS and Stylus are rendered
// locally. The generated pages do reference two stylesheets on cdn.jsdelivr.net
// (Fork Awesome; Source Code Pro only when `highlight.enable` is set, which Hexo 7 does
// not set by default): a browser opening them has to block those requests.
'use strict';

const fs = require('fs');
const path = require('path');
const { NODE_MODULES, byName, failer, listMarkdown, makeSite, notLoaded, postSource, recordLog } = require('./site');

const THEME = 'landscape';
const REQUIRED = ['hexo', 'hexo-renderer-marked', 'hexo-renderer-ejs', 'hexo-renderer-stylus', `hexo-theme-${THEME}`];
const fail = failer('render_site.js');

// The site's settings: Hexo's defaults, spelled out where they matter, plus the theme.
function siteConfig(sanitizeUrl) {
  return [
    'title: hexo-render-test',
    'url: http://127.0.0.1',
    'root: /',
    'permalink: :year/:month/:day/:title/',
    "timezone: ''",
    'post_asset_folder: false',
    'new_post_name: :title.md',
    'render_drafts: false',
    'future: true',
    'updated_option: mtime',
    `theme: ${THEME}`,
    'marked:',
    `  sanitizeUrl: ${sanitizeUrl ? 'true' : 'false'}`,
    ''
  ].join('\n');
}

// The post's page as a file path under public/: Hexo's router adds index.html to a
// path ending in '/' (or to an empty one).
function pagePath(postPath) {
  let p = String(postPath).replace(/^\/+/, '');
  if (!p || p.endsWith('/')) p += 'index.html';
  return p;
}

function parseArgs(argv) {
  const positional = [];
  let sanitizeUrl = false;
  for (const arg of argv) {
    if (arg === '--marked-sanitize-url') sanitizeUrl = true;
    else if (arg.startsWith('--')) return null;
    else positional.push(arg);
  }
  if (positional.length !== 2) return null;
  return { postsDir: path.resolve(positional[0]), outDir: path.resolve(positional[1]), sanitizeUrl };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!args) {
    fail('usage: node render_site.js <posts_dir> <out_dir> [--marked-sanitize-url]');
    return;
  }
  const { postsDir, outDir, sanitizeUrl } = args;
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
  const base = makeSite(postsDir, files, siteConfig(sanitizeUrl), 'hexo-render-site-');
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
    await hexo.load();
    await hexo.call('generate', {});

    const publicDir = hexo.public_dir;
    const posts = hexo.model('Post').toArray();
    const out = posts.map(post => ({
      source: postSource(post),
      title: post.title,
      path: pagePath(post.path),
      content: typeof post.content === 'string' ? post.content : ''
    }));
    out.sort((a, b) => byName(a.source, b.source));

    errors.push(...notLoaded(files, out));
    const seen = new Map();
    for (const p of out) {
      if (seen.has(p.path)) errors.push(`${p.source} and ${seen.get(p.path)} both have the page ${p.path}`);
      seen.set(p.path, p.source);
      if (!fs.existsSync(path.join(publicDir, ...p.path.split('/')))) {
        errors.push(`${p.source}: Hexo did not write its page ${p.path}`);
      }
    }
    await hexo.exit();

    for (const w of warnings) process.stderr.write(`${w}\n`);
    if (errors.length) {
      fail(`Hexo reported ${errors.length} error(s):\n${errors.join('\n')}`);
      return;
    }
    fs.mkdirSync(outDir, { recursive: true });
    fs.cpSync(publicDir, outDir, { recursive: true });
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
}

main().catch(err => {
  fail(`Hexo failed: ${err && err.stack ? err.stack : err}`);
});
