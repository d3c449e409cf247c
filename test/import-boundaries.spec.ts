import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '#lab/testing';

// The layer rule of eslint.config.js (`lab/boundaries`) run on made-up files at real places.
const eslint = new ESLint({ cwd: repoRoot });

async function violations(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result.messages
    .filter((message) => message.ruleId === 'lab/boundaries')
    .map((message) => message.message);
}

describe('the import boundaries lint rule', () => {
  it('refuses an app importing another app, by any relative path', async () => {
    expect(
      await violations(
        'apps/order/src/orders/x.ts',
        "import { ProxyService } from '../../../gateway/src/proxy/proxy.service.js';",
      ),
    ).toEqual([expect.stringContaining('apps never import other apps (apps/order imports apps/gateway)')]);
    expect(
      await violations('apps/order/test/x.e2e-spec.ts', "export * from '../../customer/src/main.js';"),
    ).toHaveLength(1);
  });

  it('refuses a lib importing an app, also dynamically', async () => {
    expect(
      await violations(
        'libs/http-client/src/x.ts',
        "const m = await import('../../../apps/order/src/main.js');",
      ),
    ).toEqual([expect.stringContaining('libs never import apps')]);
  });

  it('refuses a lib importing its own layer or a higher one: the cycles there were', async () => {
    expect(
      await violations('libs/auth/src/x.ts', "import type { ServiceClient } from '#lab/http-client';"),
    ).toEqual([
      expect.stringContaining(
        'libs/auth (layer 2) may import only lower layers, not #lab/http-client (layer 5)',
      ),
    ]);
    expect(
      await violations('libs/telemetry/src/x.ts', "import { createServiceLogger } from '#lab/logging';"),
    ).toHaveLength(1);
    expect(await violations('libs/auth/src/x.ts', "import { x } from '#lab/logging';")).toHaveLength(1);
  });

  it('refuses its own barrel, relative paths into another lib, #lab/testing outside tests and libs without a layer', async () => {
    expect(await violations('libs/faults/src/x.ts', "import { FaultsService } from '#lab/faults';")).toEqual([
      expect.stringContaining('own barrel'),
    ]);
    expect(
      await violations(
        'apps/order/src/x.ts',
        "import { LabError } from '../../../libs/errors/src/lab-error.js';",
      ),
    ).toEqual([expect.stringContaining('through #lab/errors')]);
    expect(await violations('apps/order/src/x.ts', "import { freePort } from '#lab/testing';")).toEqual([
      expect.stringContaining('only tests'),
    ]);
    expect(await violations('libs/newcomer/src/x.ts', "import { x } from '#lab/config';")).toEqual([
      expect.stringContaining('lib newcomer has no layer'),
    ]);
  });

  it('accepts lower layers, an app using libs, and tests booting a whole service', async () => {
    expect(
      await violations(
        'libs/http-client/src/x.ts',
        "import { FaultState } from '#lab/faults';\nimport { LabError } from '#lab/errors';",
      ),
    ).toEqual([]);
    expect(
      await violations(
        'apps/order/src/orders/x.ts',
        "import { createService } from '#lab/bootstrap';\nimport { Order } from './order.entity.js';",
      ),
    ).toEqual([]);
    expect(
      await violations(
        'libs/faults/src/x.spec.ts',
        "import { createService } from '#lab/bootstrap';\nimport { freePort } from '#lab/testing';",
      ),
    ).toEqual([]);
  });
});
