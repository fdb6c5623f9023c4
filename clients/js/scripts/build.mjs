// Builds dist/index.js and dist/react.js (ES modules, minified) with their type declarations, prints their
// sizes, and fails when index.js is over its budget.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const BUDGET = 5 * 1024; // index.js, minified and gzipped
const common = {
  bundle: true,
  format: 'esm',
  minify: true,
  target: 'es2020',
  legalComments: 'none',
  logLevel: 'warning',
};

rmSync('dist', { recursive: true, force: true });
await build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/index.js' });
// React stays the application's own, and the core is shared with index.js rather than copied into react.js.
await build({
  ...common,
  entryPoints: ['src/react.ts'],
  outfile: 'dist/react.js',
  external: ['react'],
  plugins: [
    {
      name: 'core-from-index',
      setup(b) {
        b.onResolve({ filter: /^\.\/index\.js$/ }, () => ({ path: './index.js', external: true }));
      },
    },
  ],
});
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });

let over = false;
for (const file of ['dist/index.js', 'dist/react.js']) {
  const code = readFileSync(file);
  const gzipped = gzipSync(code, { level: 9 }).length;
  const budget = file === 'dist/index.js' ? BUDGET : Infinity;
  over ||= gzipped > budget;
  const limit = Number.isFinite(budget) ? ` (budget ${budget})` : '';
  console.log(`${file}: ${code.length} bytes minified, ${gzipped} bytes gzipped${limit}`);
}
if (over) {
  console.error(`dist/index.js is over its budget of ${BUDGET} bytes minified and gzipped`);
  process.exit(1);
}
