#!/usr/bin/env node
// Load the posts in <posts_dir> with real Hexo and print what Hexo made of them.
//
// Usage: TZ=UTC node tests/hexo/load_posts.js <posts_dir>
//
// Builds a throwaway Hexo site in a temp dir, copies every *.md under <posts_dir>
// (recursively, keeping sub-folders) to <site>/source/_posts/, runs
// `new Hexo(base, {silent: true})`, `init()`, `load()` (which also renders every
// post through Nunjucks + the markdown renderer), and prints ONE JSON array:
//   [{"source": "<path under source/_posts>", "title": ..., "date": "<ISO 8601 UTC>",
//     "categories": [...], "raw_has_content": bool}, ...]
// sorted by source. Exits non-zero (message on stderr) when Hexo logs an error,
// rejects, or does not turn every copied file into a post.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const util = require('util');

const HERE = __dirname;
const NODE_MODULES = path.join(HERE, 'node_modules');

function fail(message) {
  process.stderr.write(`load_posts.js: ${message}\n`);
  process.exitCode = 1;
}

function listMarkdown(root) {
  const found = [];
  const walk = (dir, rel) => {
    const entries = fs.readdirSync(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const abs = path.join(dir, entry.name);
      const relPath = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(abs, relPath);
      else if (entry.isFile() && entry.name.endsWith('.md')) found.push(relPath);
    }
  };
  walk(root, '');
  return found;
}

// The site's settings: Hexo's defaults, spelled out where they matter for loading posts.
const SITE_CONFIG = [
  'title: hexo-compat-test',
  'url: http://example.com',
  "timezone: ''",
  'post_asset_folder: false',
  'new_post_name: :title.md',
  'render_drafts: false',
  'future: true',
  'updated_option: mtime',
  ''
].join('\n');

function makeSite(postsDir, files) {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'hexo-load-posts-'));
  fs.writeFileSync(path.join(base, '_config.yml'), SITE_CONFIG);
  // Hexo loads plugins listed in the site's package.json from <site>/node_modules.
  const pkg = JSON.parse(fs.readFileSync(path.join(HERE, 'package.json'), 'utf8'));
  const sitePkg = {
    name: 'hexo-site',
    version: '0.0.0',
    private: true,
    hexo: { version: require('hexo/package.json').version },
    dependencies: pkg.dependencies
  };
  fs.writeFileSync(path.join(base, 'package.json'), JSON.stringify(sitePkg, null, 2));
  fs.symlinkSync(NODE_MODULES, path.join(base, 'node_modules'), 'junction');
  const postsRoot = path.join(base, 'source', '_posts');
  fs.mkdirSync(postsRoot, { recursive: true });
  for (const rel of files) {
    const dest = path.join(postsRoot, ...rel.split('/'));
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.copyFileSync(path.join(postsDir, ...rel.split('/')), dest);
  }
  return base;
}

// Hexo stores categories as a hierarchy (each one has a `parent`); a front-matter list
// `[A, B, C]` becomes A > B > C. Walk it from the roots to give the names back in order.
function categoryNames(post) {
  const cats = post.categories.toArray();
  const ids = new Set(cats.map(c => c._id));
  const children = new Map();
  const roots = [];
  for (const c of cats) {
    if (c.parent && ids.has(c.parent)) {
      if (!children.has(c.parent)) children.set(c.parent, []);
      children.get(c.parent).push(c);
    } else {
      roots.push(c);
    }
  }
  const names = [];
  const visit = c => {
    names.push(c.name);
    for (const child of children.get(c._id) || []) visit(child);
  };
  roots.forEach(visit);
  return names;
}

function formatLogArgs(args) {
  const parts = [];
  let rest = args;
  if (args.length && args[0] && typeof args[0] === 'object' && args[0].err) {
    const { err } = args[0];
    rest = args.slice(1);
    parts.push(util.format(...rest));
    parts.push(err && err.stack ? err.stack : String(err));
    return parts.filter(Boolean).join('\n');
  }
  return util.format(...rest);
}

async function main() {
  const postsDirArg = process.argv[2];
  if (!postsDirArg || process.argv.length > 3) {
    fail('usage: node load_posts.js <posts_dir>');
    return;
  }
  const postsDir = path.resolve(postsDirArg);
  if (!fs.existsSync(postsDir) || !fs.statSync(postsDir).isDirectory()) {
    fail(`not a directory: ${postsDir}`);
    return;
  }
  if (!fs.existsSync(path.join(NODE_MODULES, 'hexo'))) {
    fail(`Hexo is not installed in ${NODE_MODULES}; run: npm ci --prefix tests/hexo`);
    return;
  }
  const Hexo = require('hexo');
  const files = listMarkdown(postsDir);
  const base = makeSite(postsDir, files);
  const errors = [];
  const warnings = [];
  try {
    const hexo = new Hexo(base, { silent: true });
    // Hexo logs (and otherwise swallows) per-file processing failures such as a YAML
    // error in the front matter: record them so they fail the run.
    const log = hexo.log;
    for (const level of ['error', 'fatal']) {
      const orig = log[level].bind(log);
      log[level] = (...args) => {
        errors.push(`[${level}] ${formatLogArgs(args)}`);
        return orig(...args);
      };
    }
    const origWarn = log.warn.bind(log);
    log.warn = (...args) => {
      warnings.push(`[warn] ${formatLogArgs(args)}`);
      return origWarn(...args);
    };

    await hexo.init();
    if (!hexo.extend.renderer.isRenderable('x.md')) {
      errors.push('no markdown renderer registered: is hexo-renderer-marked installed?');
    }
    await hexo.load();

    const posts = hexo.model('Post').toArray();
    const out = posts.map(post => ({
      source: post.source.replace(/\\/g, '/').replace(/^_posts\//, ''),
      title: post.title,
      date: post.date ? post.date.toISOString() : null,
      categories: categoryNames(post),
      raw_has_content: typeof post.content === 'string' && post.content.length > 0
    }));
    out.sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));

    const loaded = new Set(out.map(p => p.source));
    for (const rel of files) {
      if (!loaded.has(rel)) errors.push(`Hexo did not load ${rel} as a post`);
    }
    for (const p of out) {
      if (!p.date) errors.push(`${p.source}: Hexo has no valid date for this post`);
    }
    await hexo.exit();

    for (const w of warnings) process.stderr.write(`${w}\n`);
    if (errors.length) {
      fail(`Hexo reported ${errors.length} error(s):\n${errors.join('\n')}`);
      return;
    }
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
}

main().catch(err => {
  fail(`Hexo failed: ${err && err.stack ? err.stack : err}`);
});
