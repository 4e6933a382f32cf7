import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('configuration', () => {
  it('reads whole numbers and falls back to the defaults for unset or empty variables', () => {
    expect(loadConfig({ PORT: '8080', LEDGER_KEY_CACHE_MS: '' })).toMatchObject({ PORT: 8080, LEDGER_KEY_CACHE_MS: 2000, DATA_DIR: './data' });
  });

  it('refuses in one line naming the variable what is not a whole number in range, rather than coercing it', () => {
    for (const [name, value] of [
      ['PORT', 'abc'],
      ['PORT', ' '],
      ['PORT', '0x10'],
      ['PORT', '4318.5'],
      ['PORT', '70000'],
      ['LEDGER_KEY_CACHE_MS', '-1'],
    ] as const) {
      expect(() => loadConfig({ [name]: value }), `${name}=${JSON.stringify(value)}`).toThrow(ConfigError);
      expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^invalid configuration: ${name}: must be a whole number from \\d+ to \\d+$`));
    }
  });
});
