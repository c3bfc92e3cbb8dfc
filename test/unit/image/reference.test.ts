// The one image-reference grammar: what the job spec accepts, what the
// builders accept as name and tag, and how pinned references and registry
// names are taken apart.
import { describe, expect, it } from 'vitest';
import {
  isImageName,
  isImageReference,
  isImageTag,
  locateRepository,
  parsePinnedReference,
  parseReference,
  pinnedDigest,
  referenceName,
} from '../../../src/image/reference.js';

const D = `sha256:${'ab'.repeat(32)}`;

describe('image references', () => {
  it("accepts Docker's references and rejects the rest", () => {
    for (const ok of [
      'alpine',
      'a:1',
      'ghcr.io/nerves-project/nerves_system_br:1.28.1',
      `localhost:5000/a/b@${D}`,
      `host:5000/x:v1@${D}`,
      'a__b/c-d--e.f',
      'Registry.Example.com/x',
    ]) {
      expect(isImageReference(ok), ok).toBe(true);
    }
    for (const bad of ['UPPER/case:1', 'a b:1', 'a@sha256:abc', 'a..b', 'a._b', '-a', 'a/', '', 'a:', `a:${'t'.repeat(129)}`]) {
      expect(isImageReference(bad), bad).toBe(false);
    }
  });

  it("refuses a host label ending or starting with '-', as Docker's domain-component does", () => {
    for (const bad of ['a-.com/x', 'hunt-:5000/x', '-a.com/x', 'a.-b.com/x', 'a.b-/x', 'a-:1/x']) {
      expect(isImageName(bad), bad).toBe(false);
      expect(isImageReference(`${bad}:1`), bad).toBe(false);
    }
    for (const ok of ['a-b.com/x', 'hunt-er:5000/x', 'a.b.c/x', 'a1:5000/x', '1.2.3.4:5000/x']) expect(isImageName(ok), ok).toBe(true);
  });

  it('refuses a name (host and path, without the tag) longer than 255 characters, as Docker does', () => {
    const at = (n: number) => `registry.example.com/${'a'.repeat(n - 'registry.example.com/'.length)}`;
    expect(at(255).length).toBe(255);
    expect(isImageName(at(255))).toBe(true);
    expect(isImageName(at(256))).toBe(false);
    expect(isImageReference(`${at(255)}:t`)).toBe(true);
    expect(isImageReference(`${at(256)}:t`)).toBe(false);
    expect(parseReference(`${at(256)}:t`)).toBeNull();
  });

  it('takes a reference apart', () => {
    expect(parseReference(`host:5000/x:v1@${D}`)).toEqual({ name: 'host:5000/x', tag: 'v1', digest: D });
    expect(parseReference('host:5000/x')).toEqual({ name: 'host:5000/x' });
    expect(parseReference('x:latest')).toEqual({ name: 'x', tag: 'latest' });
    expect(parseReference('X')).toBeNull();
  });

  it('checks names and tags on their own', () => {
    expect(isImageName('localhost/a/b')).toBe(true);
    expect(isImageName('a/b:1')).toBe(false);
    expect(isImageName('a//b')).toBe(false);
    expect(isImageTag('v1.2_3-rc')).toBe(true);
    expect(isImageTag('.v1')).toBe(false);
  });

  it('finds the digest a reference is pinned by', () => {
    expect(pinnedDigest(`a:1@${D}`)).toBe(D);
    expect(pinnedDigest('a:1')).toBeNull();
    expect(parsePinnedReference(`host:5000/a:v1@${D}`)).toEqual({ name: 'host:5000/a', digest: D });
    expect(parsePinnedReference(`host:5000/a@${D}`)).toEqual({ name: 'host:5000/a', digest: D });
    expect(() => parsePinnedReference('a:v1')).toThrow(/pinned by digest/);
  });

  it('names the repository without transport, tag and digest', () => {
    expect(referenceName(`docker://host:5000/a/b:v1@${D}`)).toBe('host:5000/a/b');
    expect(referenceName('host:5000/a')).toBe('host:5000/a');
  });

  it("locates a name's registry and repository as Docker does", () => {
    expect(locateRepository('alpine')).toEqual({ registry: 'registry-1.docker.io', repository: 'library/alpine' });
    expect(locateRepository('nixos/nix:2.3')).toEqual({ registry: 'registry-1.docker.io', repository: 'nixos/nix' });
    expect(locateRepository('docker.io/library/alpine')).toEqual({ registry: 'registry-1.docker.io', repository: 'library/alpine' });
    expect(locateRepository(`127.0.0.1:5000/ndt/pulled@${D}`)).toEqual({ registry: '127.0.0.1:5000', repository: 'ndt/pulled' });
    expect(locateRepository('localhost/x')).toEqual({ registry: 'localhost', repository: 'x' });
  });
});
