// What load_posts.js, render_site.js and asset_paths.js share: a throwaway Hexo site holding copies of
// a folder's posts, and Hexo's log turned into errors that fail the run.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const util = require('util');

const HERE = __dirname;
const NODE_MODULES = path.join(HERE, 'node_modules');

function failer(script) {
  return message => {
    process.stderr.write(`${script}: ${message}\n`);
    process.exitCode = 1;
  };
}

function byName(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

// Every file under dir (none when it does not exist), as paths relative to it with
// forward slashes, sorted.
function listFiles(dir) {
  const found = [];
  const walk = (abs, rel) => {
    for (const entry of fs.readdirSync(abs, { withFileTypes: true })) {
      const relPath = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(path.join(abs, entry.name), relPath);
      else found.push(relPath);
    }
  };
  if (fs.existsSync(dir)) walk(dir, '');
  return found.sort(byName);
}

// Every *.md under root, as paths relative to it with forward slashes, sorted.
function listMarkdown(root) {
  const found = [];
  const walk = (dir, rel) => {
    const entries = fs.readdirSync(dir, { withFileTypes: true });
    entries.sort((a, b) => byName(a.name, b.name));
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

// A site in a temp dir with this _config.yml and copies of files (paths under postsDir)
// in source/_posts. Hexo loads the plugins (and a theme) listed in the site's
// package.json from <site>/node_modules: a link to ours.
function makeSite(postsDir, files, config, prefix) {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.writeFileSync(path.join(base, '_config.yml'), config);
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

function formatLogArgs(args) {
  if (args.length && args[0] && typeof args[0] === 'object' && args[0].err) {
    const { err } = args[0];
    const parts = [util.format(...args.slice(1)), err && err.stack ? err.stack : String(err)];
    return parts.filter(Boolean).join('\n');
  }
  return util.format(...args);
}

// Hexo logs (and otherwise swallows) per-file failures, e.g. a YAML error in the front
// matter or a template error while generating: record them so they fail the run.
function recordLog(hexo) {
  const errors = [];
  const warnings = [];
  const log = hexo.log;
  for (const level of ['error', 'fatal']) {
    const orig = log[level].bind(log);
    log[level] = (...logArgs) => {
      errors.push(`[${level}] ${formatLogArgs(logArgs)}`);
      return orig(...logArgs);
    };
  }
  const origWarn = log.warn.bind(log);
  log.warn = (...logArgs) => {
    warnings.push(`[warn] ${formatLogArgs(logArgs)}`);
    return origWarn(...logArgs);
  };
  return { errors, warnings };
}

// A post's path under source/_posts, forward slashes.
function postSource(post) {
  return post.source.replace(/\\/g, '/').replace(/^_posts\//, '');
}

// An error for each copied file Hexo did not turn into a post.
function notLoaded(files, out) {
  const loaded = new Set(out.map(p => p.source));
  return files.filter(rel => !loaded.has(rel)).map(rel => `Hexo did not load ${rel} as a post`);
}

module.exports = {
  NODE_MODULES,
  byName,
  failer,
  listFiles,
  listMarkdown,
  makeSite,
  notLoaded,
  postSource,
  recordLog
};
