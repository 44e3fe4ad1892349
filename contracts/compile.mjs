#!/usr/bin/env node
// Compile every contracts/*.sol with solc-js (node_modules/solc, offline) and write one artifact per deployable
// contract to contracts/artifacts/<ContractName>.json.
//
//   node contracts/compile.mjs           compile and (re)write the artifacts
//   node contracts/compile.mjs --check   compile in memory; exit 1 listing every artifact that is missing, differs,
//                                        or is stale (an artifacts/*.json no source produces any more)
//
// Artifact shape (keys sorted recursively, 2-space indent, trailing newline, so a recompile is byte-identical):
//   { abi, bytecode: "0x..", compiler: { settings, version }, contractName, deployedBytecode: "0x.." }
// Interfaces and abstract contracts (empty bytecode) get no artifact. Compiler errors fail loudly (exit 2).

import { createRequire } from "node:module";
import { readFileSync, readdirSync, writeFileSync, mkdirSync, existsSync, unlinkSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const HERE = dirname(fileURLToPath(import.meta.url)); // <repo>/contracts
const REPO = resolve(HERE, "..");
const OUT = join(HERE, "artifacts");

// The settings that go into every artifact (outputSelection is added only for the compiler call).
export const SETTINGS = {
  evmVersion: "cancun", // matches anvil --hardfork cancun
  metadata: { bytecodeHash: "none" },
  optimizer: { enabled: true, runs: 200 },
};

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    const out = {};
    for (const k of Object.keys(value).sort()) out[k] = sortKeys(value[k]);
    return out;
  }
  return value;
}

export function stableJson(value) {
  return JSON.stringify(sortKeys(value), null, 2) + "\n";
}

function loadSolc() {
  let solc;
  try {
    solc = require(join(REPO, "node_modules", "solc"));
  } catch (e) {
    throw new Error(`solc-js is not installed (${e.message}): run \`make setup\` (npm ci installs solc from package-lock.json)`);
  }
  return solc;
}

/** Compile all contracts/*.sol; returns Map(contractName -> artifact text). Throws on any compiler error. */
export function compileAll() {
  const solc = loadSolc();
  const files = readdirSync(HERE).filter((f) => f.endsWith(".sol")).sort();
  if (files.length === 0) throw new Error(`no .sol files in ${HERE}`);
  const sources = {};
  for (const f of files) sources[`contracts/${f}`] = { content: readFileSync(join(HERE, f), "utf8") };
  const input = {
    language: "Solidity",
    sources,
    settings: {
      ...SETTINGS,
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
    },
  };
  // Imports may only name other files under contracts/ (already in `sources`); anything else is an error.
  const findImports = (path) => ({ error: `import ${path} not found: only contracts/*.sol can be imported` });
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const errors = (output.errors || []).filter((e) => e.severity === "error");
  const warnings = (output.errors || []).filter((e) => e.severity !== "error");
  for (const w of warnings) process.stderr.write(w.formattedMessage || w.message);
  if (errors.length) {
    throw new Error("solc failed:\n" + errors.map((e) => e.formattedMessage || e.message).join("\n"));
  }
  const version = solc.version();
  const artifacts = new Map();
  const origin = new Map();
  for (const [source, contracts] of Object.entries(output.contracts || {}).sort()) {
    for (const [name, c] of Object.entries(contracts).sort()) {
      const bytecode = c.evm?.bytecode?.object || "";
      if (!bytecode) continue; // interface or abstract contract
      if (artifacts.has(name)) {
        throw new Error(`contract name ${name} is defined in both ${origin.get(name)} and ${source}: names must be unique`);
      }
      if (Object.keys(c.evm?.bytecode?.linkReferences || {}).length) {
        throw new Error(`${name} needs linked libraries: use internal library functions instead`);
      }
      origin.set(name, source);
      artifacts.set(name, stableJson({
        contractName: name,
        abi: c.abi,
        bytecode: "0x" + bytecode,
        deployedBytecode: "0x" + (c.evm?.deployedBytecode?.object || ""),
        compiler: { version, settings: SETTINGS },
      }));
    }
  }
  return artifacts;
}

function existingArtifacts() {
  if (!existsSync(OUT)) return [];
  return readdirSync(OUT).filter((f) => f.endsWith(".json")).sort();
}

function main(argv) {
  const check = argv.includes("--check");
  const unknown = argv.filter((a) => a !== "--check");
  if (unknown.length) {
    process.stderr.write(`usage: node contracts/compile.mjs [--check]\n(unknown argument ${unknown.join(" ")})\n`);
    return 2;
  }
  const t0 = process.hrtime.bigint();
  let artifacts;
  try {
    artifacts = compileAll();
  } catch (e) {
    process.stderr.write(`compile.mjs: ${e.message}\n`);
    return 2;
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const wanted = new Set([...artifacts.keys()].map((n) => `${n}.json`));
  const stale = existingArtifacts().filter((f) => !wanted.has(f));
  const rel = (p) => relative(REPO, p);
  if (check) {
    const problems = [];
    for (const [name, text] of artifacts) {
      const path = join(OUT, `${name}.json`);
      if (!existsSync(path)) problems.push(`missing: ${rel(path)}`);
      else if (readFileSync(path, "utf8") !== text) problems.push(`differs: ${rel(path)}`);
    }
    for (const f of stale) problems.push(`stale (no source defines it): ${rel(join(OUT, f))}`);
    if (problems.length) {
      process.stderr.write(`compile.mjs --check: the committed artifacts are not a fresh compile; ` +
        `run \`node contracts/compile.mjs\`\n  ${problems.join("\n  ")}\n`);
      return 1;
    }
    process.stdout.write(`compile.mjs --check: ${artifacts.size} artifacts up to date (compiled in ${ms.toFixed(0)} ms)\n`);
    return 0;
  }
  mkdirSync(OUT, { recursive: true });
  for (const [name, text] of artifacts) {
    const path = join(OUT, `${name}.json`);
    if (!existsSync(path) || readFileSync(path, "utf8") !== text) writeFileSync(path, text);
  }
  for (const f of stale) unlinkSync(join(OUT, f));
  process.stdout.write(`compile.mjs: wrote ${artifacts.size} artifacts to ${rel(OUT)}` +
    (stale.length ? ` (removed stale: ${stale.join(", ")})` : "") + ` in ${ms.toFixed(0)} ms\n`);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
