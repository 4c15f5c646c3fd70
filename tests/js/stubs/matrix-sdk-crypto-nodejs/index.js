"use strict";
// Stand-in for @matrix-org/matrix-sdk-crypto-nodejs (see package.json here and
// ../../README.md). matrix-bot-sdk require()s the real package at load time (its
// MatrixClient imports CryptoClient), but only touches its exports when end-to-end
// encryption is used, which the test scripts never do. The real package's
// postinstall downloads a native binary from GitHub, which this environment cannot
// reach, so the real package cannot be loaded here at all. Any actual use of an
// export fails loudly instead of silently doing nothing.
module.exports = new Proxy(
  {},
  {
    get(_target, prop) {
      if (typeof prop === "symbol" || prop === "__esModule" || prop === "then") {
        return undefined;
      }
      throw new Error(
        `@matrix-org/matrix-sdk-crypto-nodejs is stubbed in tests/js (no native binary); ` +
          `tried to use '${String(prop)}': end-to-end encryption is not available in these scripts`,
      );
    },
  },
);
