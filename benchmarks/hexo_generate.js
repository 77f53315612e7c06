#!/usr/bin/env node
// `hexo generate` of one site, as the hexo CLI runs it: init(), then the generate
// console command (which loads the source folder first).  Used by bench_blog.py, which
// measures this process's wall time and peak memory.
//
// Usage: node benchmarks/hexo_generate.js <site_dir> [--concurrency N]
//
// The site's node_modules must hold hexo and its plugins.  Exits non-zero (message on
// stderr) when Hexo logs an error or rejects: a benchmark of a failed build means nothing.
'use strict';

const path = require('path');

async function main() {
  const [site, flag, value] = process.argv.slice(2);
  if (!site) {
    process.stderr.write('usage: node hexo_generate.js <site_dir> [--concurrency N]\n');
    process.exitCode = 2;
    return;
  }
  const base = path.resolve(site);
  const Hexo = require(path.join(base, 'node_modules', 'hexo'));
  const hexo = new Hexo(base, { silent: true });
  const errors = [];
  for (const level of ['error', 'fatal']) {
    const orig = hexo.log[level].bind(hexo.log);
    hexo.log[level] = (...args) => {
      errors.push(args.map(String).join(' '));
      return orig(...args);
    };
  }
  await hexo.init();
  const options = flag === '--concurrency' ? { concurrency: Number(value) } : {};
  await hexo.call('generate', options);
  await hexo.exit();
  if (errors.length) {
    process.stderr.write(`hexo_generate.js: Hexo reported ${errors.length} error(s):\n${errors.join('\n')}\n`);
    process.exitCode = 1;
  }
}

main().catch(err => {
  process.stderr.write(`hexo_generate.js: ${err && err.stack ? err.stack : err}\n`);
  process.exitCode = 1;
});
