import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '#lab/testing';
import { headingAnchor, loadScenarios, type Scenario } from '../scripts/scenario-lib.mjs';

// docs/runbooks.md and the scenarios of scenarios/ must not drift apart: the queries a scenario proves
// (npm run scenario checks that they name the culprit) are the ones the runbook of its alert gives a
// reader to paste, whole, in a PromQL block; and every scenario the runbooks point to exists and fires
// that alert.

const RUNBOOKS = join(repoRoot, 'docs/runbooks.md');

/** `SlowResponses` → `slow-responses`: the runbook anchor of an alert (its runbook_url). */
const kebab = (name: string) =>
  name
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1-$2')
    .toLowerCase();

/** The `## ` sections of a Markdown text by their heading's anchor. */
function sectionsOf(markdown: string): Map<string, string> {
  return new Map(
    markdown
      .split(/^## /m)
      .slice(1)
      .map((section) => [headingAnchor(section.split('\n')[0]), section]),
  );
}

/** The lines of each ```promql block of a section. */
function promqlBlocks(section: string): string[][] {
  return [...section.matchAll(/^```promql\n([\s\S]*?)^```/gm)].map((match) =>
    match[1].replace(/\n$/, '').split('\n'),
  );
}

/** True when the query, line for line, is whole lines of one of the blocks (not part of a longer query). */
function inBlock(blocks: string[][], expr: string): boolean {
  const lines = expr.split('\n');
  return blocks.some((block) =>
    block.some((_, start) => lines.every((line, i) => block[start + i] === line)),
  );
}

/** The alerts a scenario makes fire: its alert and alsoFires. */
const firedBy = (scenario: Scenario) =>
  [...(scenario.alert ? [scenario.alert] : []), ...(scenario.alsoFires ?? [])].map((ref) => ref.name);

describe('runbook queries proved by the scenarios', () => {
  it("finds every scenario's runbook query whole in a PromQL block of its alert's runbook section", async () => {
    const sections = sectionsOf(readFileSync(RUNBOOKS, 'utf8'));
    const scenarios = await loadScenarios(join(repoRoot, 'scenarios'));
    const missing: string[] = [];
    let checked = 0;
    for (const scenario of scenarios) {
      if (!scenario.alert) continue;
      const section = sections.get(kebab(scenario.alert.name));
      if (!section) {
        missing.push(`${scenario.name}: docs/runbooks.md has no section #${kebab(scenario.alert.name)}`);
        continue;
      }
      const blocks = promqlBlocks(section);
      for (const step of scenario.runbook) {
        checked++;
        if (!inBlock(blocks, step.expr))
          missing.push(
            `${scenario.name}: not in a promql block of #${kebab(scenario.alert.name)}: ${step.expr}`,
          );
      }
    }
    expect(checked).toBeGreaterThanOrEqual(8);
    expect(missing).toEqual([]);
  });

  it("names each scenario in its alert's runbook section, so a reader knows what proved the queries", async () => {
    const sections = sectionsOf(readFileSync(RUNBOOKS, 'utf8'));
    const unnamed = (await loadScenarios(join(repoRoot, 'scenarios')))
      .filter((scenario) => scenario.alert && scenario.runbook.length > 0)
      .filter(
        (scenario) =>
          !sections
            .get(kebab(scenario.alert?.name ?? ''))
            ?.includes(`npm run scenario -- ${scenario.name}\``),
      )
      .map((scenario) => `${scenario.name} (#${kebab(scenario.alert?.name ?? '')})`);
    expect(unnamed).toEqual([]);
  });

  it('points only to scenarios that exist and fire the alert of the section naming them', async () => {
    const scenarios = new Map(
      (await loadScenarios(join(repoRoot, 'scenarios'))).map((scenario) => [scenario.name, scenario]),
    );
    const wrong: string[] = [];
    for (const [anchor, section] of sectionsOf(readFileSync(RUNBOOKS, 'utf8'))) {
      for (const [, name] of section.matchAll(/npm run scenario -- ([a-z0-9-]+)/g)) {
        const scenario = scenarios.get(name);
        if (!scenario) wrong.push(`#${anchor} names ${name}, which has no scenarios/${name}.mjs`);
        else if (!firedBy(scenario).some((alert) => kebab(alert) === anchor))
          wrong.push(`#${anchor} names ${name}, which fires ${firedBy(scenario).join(', ') || 'no alert'}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
