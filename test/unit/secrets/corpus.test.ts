import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectText } from '../../../src/core/secrets/engine';

/** /work/shared/corpus in development; `../shared/corpus` beside the repository in CI. */
function corpusFile(): string {
  const candidates = [
    '/work/shared/corpus/secrets-dev.jsonl',
    resolve(__dirname, '../../../../shared/corpus/secrets-dev.jsonl'),
    resolve(process.cwd(), '../shared/corpus/secrets-dev.jsonl'),
  ];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`secrets-dev.jsonl not found; looked in: ${candidates.join(', ')}`);
  return found;
}

interface Line {
  id: string;
  text: string;
  label: 'secret' | 'benign';
  kind: string;
}

describe('dev corpus (line level)', () => {
  const lines: Line[] = readFileSync(corpusFile(), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Line);

  it('reaches precision >= 0.97 and recall >= 0.95', () => {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    const wrong: string[] = [];
    for (const l of lines) {
      const detected = detectText(l.text).length > 0;
      if (l.label === 'secret') {
        if (detected) tp++;
        else {
          fn++;
          wrong.push(`missed ${l.id} (${l.kind})`);
        }
      } else if (detected) {
        fp++;
        wrong.push(`false positive ${l.id} (${l.kind})`);
      }
    }
    const precision = tp / (tp + fp);
    const recall = tp / (tp + fn);
    console.log(`secrets-dev: lines=${lines.length} tp=${tp} fp=${fp} fn=${fn} precision=${precision.toFixed(3)} recall=${recall.toFixed(3)}`);
    if (wrong.length) console.log(wrong.join('\n'));
    expect(lines.length).toBeGreaterThan(100);
    expect(precision).toBeGreaterThanOrEqual(0.97);
    expect(recall).toBeGreaterThanOrEqual(0.95);
  });

  it('every reported span lies inside the text and spans are sorted and disjoint', () => {
    for (const l of lines) {
      const ms = detectText(l.text);
      let last = 0;
      for (const m of ms) {
        expect(m.start).toBeGreaterThanOrEqual(last);
        expect(m.end).toBeGreaterThan(m.start);
        expect(m.end).toBeLessThanOrEqual(l.text.length);
        last = m.end;
      }
    }
  });
});
