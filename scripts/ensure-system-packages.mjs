#!/usr/bin/env node
// Installs the Debian packages the end-to-end tests and benchmarks need (Squid with ssl-bump,
// c-icap as the ICAP baseline; Go and the Go SDK's TOML dependency for the SDK compatibility
// suite), once, when they are missing. Idempotent: prints what it finds
// and does nothing more when everything is there. Needs root and Debian's apt; anywhere else it
// says what to install and exits non-zero.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';

const wanted = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['squid-openssl'];
const binaries = {
  'squid-openssl': '/usr/sbin/squid',
  squid: '/usr/sbin/squid',
  'c-icap': '/usr/bin/c-icap',
  'golang-go': '/usr/bin/go',
  'golang-github-burntsushi-toml-dev': '/usr/share/gocode/src/github.com/BurntSushi/toml',
};
const purpose = wanted.some((pkg) => pkg.startsWith('golang-')) ? 'the SDK compatibility suite' : 'the web-proxy tests';

function installed(pkg) {
  const result = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return result.status === 0 && result.stdout.includes('install ok installed') && fs.existsSync(binaries[pkg] ?? '/');
}

const missing = wanted.filter((pkg) => !installed(pkg));
if (missing.length === 0) {
  process.stdout.write(`system packages present: ${wanted.join(', ')}\n`);
  process.exit(0);
}
if (process.getuid?.() !== 0 || !fs.existsSync('/usr/bin/apt-get')) {
  process.stderr.write(`missing Debian packages: ${missing.join(' ')} — install them with: sudo apt-get install -y ${missing.join(' ')}\n`);
  process.exit(2);
}
process.stdout.write(`installing Debian packages for ${purpose}: ${missing.join(' ')} (apt-get, once)\n`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
const lists = fs.existsSync('/var/lib/apt/lists') ? fs.readdirSync('/var/lib/apt/lists').filter((name) => name.endsWith('_Packages')) : [];
if (lists.length === 0) execFileSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
const install = () => spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
let result = install();
if (result.status !== 0) {
  // A stale package list is the usual cause; refresh once and retry.
  execFileSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
  result = install();
}
if (result.status !== 0) {
  process.stderr.write(`apt-get install ${missing.join(' ')} failed\n`);
  process.exit(result.status ?? 1);
}
process.stdout.write(`installed: ${missing.join(', ')}\n`);
