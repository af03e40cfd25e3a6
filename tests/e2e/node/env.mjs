// What tests/e2e/test_oauth_*.py hands the node tests: the server, clients and user.
import assert from 'node:assert/strict';

export const env = (name) => {
  const v = process.env[name];
  assert.ok(v, `${name} is not set`);
  return v;
};
