import { describe, expect, it } from 'vitest';
import { at, BicepReadError, literal, parseBicep, stripComments } from './bicepText';

// The infra checks are only as good as this reader; pin the cases the templates rely on.
describe('bicepText', () => {
  it('strips comments but not comment-like text inside strings', () => {
    const code = stripComments("var a = 'https://x' // note\n/* block\n */var b = 1");
    expect(code).toContain("'https://x'");
    expect(code).not.toContain('note');
    expect(code).not.toContain('block');
    expect(code.split('\n')).toHaveLength(3);
  });

  it('reads resources with nested objects, arrays, interpolation, if and for', () => {
    const f = parseBicep(
      [
        "@description('d')",
        "param p string = 'x'",
        "resource r 'Microsoft.X/y@2024-01-01' = if (!empty(p)) {",
        "  name: '${p}-${take('a}b', 2)}'",
        '  properties: {',
        "    list: [ 'a', 'b' ]",
        "    'quoted-key': { one: 1, two: 'two' }",
        '    expr: union(a, { b: c })',
        '  }',
        '}',
        "resource many 'Microsoft.X/z@2024-01-01' = [for (s, i) in items: {",
        '  name: s',
        '}]',
        "output o string = 'https://${r.name}/x'",
      ].join('\n'),
      '/virtual/t.bicep',
      '/virtual',
    );
    expect(f.statements.map((s) => `${s.keyword}:${s.name}`)).toEqual(['param:p', 'resource:r', 'resource:many', 'output:o']);
    expect(f.statements[0]!.decorators).toEqual(["@description('d')"]);
    const r = f.statements[1]!;
    expect(r.target).toBe('Microsoft.X/y@2024-01-01');
    expect(r.value!.kind).toBe('if');
    expect(literal(at(r.value, 'name'))).toBeUndefined();
    expect(at(r.value, 'name')!.raw).toBe("'${p}-${take('a}b', 2)}'");
    expect(at(r.value, 'properties', 'list')!.kind).toBe('array');
    expect(literal(at(r.value, 'properties', 'quoted-key', 'two'))).toBe('two');
    expect(at(r.value, 'properties', 'expr')!.raw).toBe('union(a, { b: c })');
    expect(f.statements[2]!.value!.kind).toBe('for');
    expect(at(f.statements[2]!.value, 'name')!.raw).toBe('s');
  });

  it('fails loudly on text it does not understand', () => {
    expect(() => parseBicep("resource r 'T@2024-01-01' = {\n  name: 'x'\n", '/v/bad.bicep', '/v')).toThrow(BicepReadError);
    expect(() => parseBicep('frobnicate x', '/v/bad.bicep', '/v')).toThrow(/unexpected text/);
    expect(() => parseBicep("var a = {\n  b: 1\n  b: 2\n}", '/v/bad.bicep', '/v')).toThrow(/duplicate property b/);
  });
});
