#!/usr/bin/env node
// Load the posts in <posts_dir> with real Hexo and print what Hexo made of them.
//
// Usage: TZ=UTC node tests/hexo/load_posts.js <posts_dir> [--timezone ZONE]
// (--timezone sets the site's `timezone`, empty by default)
//
// Builds a throwaway Hexo site in a temp dir, copies every *.md under <posts_dir>
// (recursively, keeping sub-folders) to <site>/source/_posts/, runs
// `new Hexo(base, {silent: true})`, `init()`, `load()` (which also renders every
// post through Nunjucks + the markdown renderer), and prints ONE JSON array:
//   [{"source": "<path under source/_posts>", "title": ..., "date": "<ISO 8601 UTC>",
//     "categories": [...], "raw_has_content": bool, "excerpt": "<post.excerpt>",
//     "tags": [<tag names, Hexo's order>], "updated": "<ISO 8601 UTC>" or null,
//     "path": "<the post's permalink path, e.g. 2022/01/24/name/>"}, ...]
// (excerpt: the front matter's, else what Hexo cut at <!-- more -->, else "";
// updated: the front matter's, else the file's mtime, as `updated_option: mtime` says)
// sorted by source. Exits non-zero (message on stderr) when Hexo logs an error,
// rejects, or does not turn every copied file into a post.
'use strict';

const fs = require('fs');
const path = require('path');
const { NODE_MODULES, byName, failer, listMarkdown, makeSite, notLoaded, postSource, recordLog } = require('./site');

const fail = failer('load_posts.js');

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

async function main() {
  const postsDirArg = process.argv[2];
  const timezoneArg = process.argv[3] === '--timezone' ? process.argv[4] : null;
  if (!postsDirArg || (process.argv.length > 3 && (!timezoneArg || process.argv.length > 5))) {
    fail('usage: node load_posts.js <posts_dir> [--timezone ZONE]');
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
  const config = timezoneArg ? SITE_CONFIG.replace("timezone: ''", `timezone: ${timezoneArg}`) : SITE_CONFIG;
  const base = makeSite(postsDir, files, config, 'hexo-load-posts-');
  try {
    const hexo = new Hexo(base, { silent: true });
    const { errors, warnings } = recordLog(hexo);

    await hexo.init();
    if (!hexo.extend.renderer.isRenderable('x.md')) {
      errors.push('no markdown renderer registered: is hexo-renderer-marked installed?');
    }
    await hexo.load();

    const posts = hexo.model('Post').toArray();
    const out = posts.map(post => ({
      source: postSource(post),
      title: post.title,
      date: post.date ? post.date.toISOString() : null,
      categories: categoryNames(post),
      raw_has_content: typeof post.content === 'string' && post.content.length > 0,
      excerpt: post.excerpt,
      tags: post.tags.map(tag => tag.name),
      updated: post.updated ? post.updated.toISOString() : null,
      path: post.path
    }));
    out.sort((a, b) => byName(a.source, b.source));

    errors.push(...notLoaded(files, out));
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
