// src/errors.ts: every code has a family, the CLI's exit codes follow from
// the family, and a code outside the union does not compile (checked with
// the TypeScript compiler on a real file).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, EXIT, exitCodeFor, familyOf, FAMILY_EXIT, OpError, usageError, type ErrorFamily } from '../../src/errors.js';
import { EXIT as CLI_EXIT, exitCodeFor as cliExitCodeFor } from '../../src/cli/context.js';

const ERRORS = fileURLToPath(new URL('../../src/errors.js', import.meta.url));

describe('error codes and their families', () => {
  it('gives every code one of the families, and every family an exit code', () => {
    const families = Object.keys(FAMILY_EXIT) as ErrorFamily[];
    expect(families.sort()).toEqual(['engine', 'failed', 'interrupted', 'invalid_input', 'lock', 'usage']);
    expect(ERROR_CODES.length).toBeGreaterThan(40);
    for (const code of ERROR_CODES) expect(families, code).toContain(familyOf(code));
  });

  it('derives the exit codes README documents from the family', () => {
    expect(FAMILY_EXIT).toEqual({ usage: 64, invalid_input: 65, engine: 69, lock: 75, interrupted: 130, failed: 1 });
    expect(EXIT).toEqual({ ok: 0, failed: 1, usage: 64, invalidInput: 65, engine: 69, locked: 75, interrupted: 130 });
    expect(exitCodeFor(usageError('bad flag').code)).toBe(64);
    for (const code of [
      'invalid_spec',
      'defconfig_missing',
      'platform_missing',
      'download_dir',
      'dockerfile_missing',
      'base_image',
      'image_options',
      // the environment (NERVES_DOCKER_TS_CPUS=abc): invalid input like the same value in the spec
      'invalid_env',
    ]) {
      expect(exitCodeFor(code), code).toBe(65);
    }
    for (const code of ['engine_unavailable', 'engine_address', 'engine_context', 'engine_tls', 'engine_version', 'engine_lost']) {
      expect(exitCodeFor(code), code).toBe(69);
    }
    expect(exitCodeFor('locked')).toBe(75);
    expect(exitCodeFor('interrupted')).toBe(130);
    expect(exitCodeFor('step_failed')).toBe(1);
  });

  it('treats a code from elsewhere (an errno, the wire) as failed', () => {
    expect(familyOf('ENOENT')).toBe('failed');
    expect(exitCodeFor('no_such_code')).toBe(1);
  });

  it('is what the CLI uses', () => {
    expect(CLI_EXIT).toBe(EXIT);
    expect(cliExitCodeFor).toBe(exitCodeFor);
  });

  it('carries code, message and hint', () => {
    const err = new OpError('locked', 'held', 'wait');
    expect(err).toBeInstanceOf(Error);
    expect([err.code, err.message, err.hint]).toEqual(['locked', 'held', 'wait']);
    expect(usageError('x').hint).toBeNull();
  });

  it('does not compile a code outside the union', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ndt-errors-check-'));
    try {
      const file = join(dir, 'check.mts');
      writeFileSync(
        file,
        `import { OpError } from ${JSON.stringify(ERRORS)};\n` +
          "export const ok = new OpError('locked', 'm');\nexport const bad = new OpError('no_such_code', 'm');\n",
      );
      const program = ts.createProgram([file], {
        strict: true,
        noEmit: true,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        target: ts.ScriptTarget.ES2022,
        lib: ['lib.es2022.d.ts'],
        types: [],
        skipLibCheck: true,
      });
      const errors = ts.getPreEmitDiagnostics(program).map((d) => ({
        line: d.file?.getLineAndCharacterOfPosition(d.start ?? 0).line,
        text: ts.flattenDiagnosticMessageText(d.messageText, '\n'),
      }));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({ line: 2 });
      expect(errors[0]!.text).toContain('"no_such_code"');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
