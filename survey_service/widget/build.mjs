// Builds static/widget.js from src/ with esbuild, and its .gz and .br beside it. The header records the sha256 of the sources
// (same recipe as survey_service.widget.source_digest) so a test can tell a stale build
// without Node.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = fileURLToPath(new URL(".", import.meta.url));
const HASHED = ["build.mjs", "package.json", "package-lock.json"];

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

export function sourceDigest() {
  const files = walk(join(here, "src"))
    .map((file) => relative(here, file).split("\\").join("/"))
    .concat(HASHED)
    .sort();
  const hash = createHash("sha256");
  for (const file of files) {
    hash.update(`${file}\0`);
    hash.update(readFileSync(join(here, file)));
    hash.update("\0");
  }
  return hash.digest("hex");
}

const css = await esbuild.build({
  entryPoints: [join(here, "src/widget.css")],
  minify: true,
  write: false,
  target: ["chrome90", "firefox90", "safari15"],
});

const result = await esbuild.build({
  entryPoints: [join(here, "src/index.js")],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2019"],
  legalComments: "none",
  define: { __WIDGET_CSS__: JSON.stringify(css.outputFiles[0].text.trim()) },
  banner: { js: `/*! Kundresa survey widget. Built by scripts/build-widget from sha256:${sourceDigest()} */` },
  write: false,
});

// Compressed once here at the strongest settings, so the server never compresses per request
// (survey_service.widget picks the file by Accept-Encoding).
const script = Buffer.from(result.outputFiles[0].text);
writeFileSync(join(here, "static/widget.js"), script);
writeFileSync(join(here, "static/widget.js.gz"), gzipSync(script, { level: 9 }));
writeFileSync(
  join(here, "static/widget.js.br"),
  brotliCompressSync(script, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
      [constants.BROTLI_PARAM_SIZE_HINT]: script.length,
    },
  }),
);
