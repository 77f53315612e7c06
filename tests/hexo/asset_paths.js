#!/usr/bin/env node
// Where Hexo publishes the files beside each post (post_asset_folder: true), for a
// permalink rule and a root: what crawler/hexo/permalink.py must compute.
//
// Usage: TZ=<zone> node tests/hexo/asset_paths.js <posts_dir> <permalink> <root>
//
// Builds a throwaway site (site.js) from every file under <posts_dir>, runs init() and
// load(), and prints ONE JSON array, sorted by source:
//   {"source": "<post's path under source/_posts>", "path": "<post.path>",
//    "assets": ["<PostAsset.path: the file under public/>", ...]}
// (Not url_for's URL: its encodeURL unescapes first, so a name holding `%` gets a URL
// that misses the file.)
// Exits non-zero (message on stderr) when Hexo logs an error or rejects.
'use strict';

const fs = require('fs');
const path = require('path');
const { byName, failer, listFiles, makeSite, postSource, recordLog } = require('./site');

const fail = failer('asset_paths.js');

async function main() {
  const [postsDirArg, rule, root] = process.argv.slice(2);
  if (!postsDirArg || !rule || !root) {
    fail('usage: node asset_paths.js <posts_dir> <permalink> <root>');
    return;
  }
  const postsDir = path.resolve(postsDirArg);
  const config = [
    'title: hexo-asset-paths',
    `url: http://127.0.0.1${root.replace(/\/$/, '')}`,
    `root: ${JSON.stringify(root)}`,
    `permalink: ${JSON.stringify(rule)}`,
    "timezone: ''",
    'post_asset_folder: true',
    'new_post_name: :title.md',
    'future: true',
    ''
  ].join('\n');
  const Hexo = require('hexo');
  const base = makeSite(postsDir, listFiles(postsDir), config, 'hexo-asset-paths-');
  try {
    const hexo = new Hexo(base, { silent: true });
    const { errors } = recordLog(hexo);
    await hexo.init();
    await hexo.load();
    const assets = hexo.model('PostAsset').toArray();
    const out = hexo
      .model('Post')
      .toArray()
      .map(post => ({
        source: postSource(post),
        path: post.path,
        assets: assets
          .filter(asset => asset.post === post._id)
          .map(asset => asset.path)
          .sort(byName)
      }));
    out.sort((a, b) => byName(a.source, b.source));
    await hexo.exit();
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
