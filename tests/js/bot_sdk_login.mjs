#!/usr/bin/env node
// Log in the way the mx-puppet-bridge family of bridges does: matrix-bot-sdk's
// MatrixAuth.passwordLogin(username, password), with the shared-secret token as
// the password. passwordLogin (matrix-bot-sdk 0.7.1, lib/MatrixAuth.js) POSTs
// /_matrix/client/v3/login with exactly
//   {"type":"m.login.password",
//    "identifier":{"type":"m.id.user","user":<username>},
//    "password":<password>}
// (plus "initial_device_display_name" when a device name is given, which this
// script does not: JSON.stringify drops the undefined key). No device_id is sent.
//
// Usage: node bot_sdk_login.mjs <hs_url> <user_id> <token>
//
// Prints exactly one JSON line on stdout:
//   {"ok":true,"access_token":"...","device_id":"...","user_id":"..."}
//   {"ok":false,"status":403,"errcode":"M_FORBIDDEN","error":"..."}
// and exits 0 in both cases. Exit 2: usage error. Exit 1: anything that is not
// an HTTP answer from the homeserver (connection refused, a bug), with the
// reason on stderr. Set SYNAPSE_DP_AUTH_JS_DEBUG=1 to see library logs on stderr.

const DEBUG = Boolean(process.env.SYNAPSE_DP_AUTH_JS_DEBUG);

// Nothing but our JSON line may reach stdout: route console output to stderr
// (or nowhere) before the library is loaded.
const toStderr = (...args) => {
  if (DEBUG) process.stderr.write(args.map(String).join(" ") + "\n");
};
for (const name of ["log", "info", "debug", "warn", "error", "trace"]) {
  console[name] = toStderr;
}

function emit(obj, code = 0) {
  process.stdout.write(JSON.stringify(obj) + "\n", () => process.exit(code));
}

function die(message, code) {
  process.stderr.write(`bot_sdk_login.mjs: ${message}\n`, () => process.exit(code));
}

const args = process.argv.slice(2);
if (args.length !== 3) {
  die("usage: node bot_sdk_login.mjs <hs_url> <user_id> <token>", 2);
} else {
  const [hsUrl, userId, token] = args;
  const { MatrixAuth, MatrixClient, LogService, LogLevel } = await import("matrix-bot-sdk");

  // Silence matrix-bot-sdk's own logging (it logs failed requests at ERROR).
  const quiet = (level) => (module, ...messageOrObject) =>
    DEBUG && process.stderr.write(`[${level}] ${module} ${messageOrObject.map((m) => (typeof m === "string" ? m : JSON.stringify(m))).join(" ")}\n`);
  LogService.setLogger({
    trace: quiet("TRACE"),
    debug: quiet("DEBUG"),
    info: quiet("INFO"),
    warn: quiet("WARN"),
    error: quiet("ERROR"),
  });
  LogService.setLevel(DEBUG ? LogLevel.TRACE : LogLevel.ERROR);

  try {
    const client = await new MatrixAuth(hsUrl).passwordLogin(userId, token);
    // passwordLogin returns only a MatrixClient (access token inside). Ask the
    // server who that token belongs to, against the URL we were given (the
    // returned client may have switched to a well_known base_url).
    const whoami = await new MatrixClient(hsUrl, client.accessToken).getWhoAmI();
    emit({
      ok: true,
      access_token: client.accessToken,
      device_id: whoami.device_id ?? null,
      user_id: whoami.user_id ?? null,
    });
  } catch (e) {
    // MatrixError (body had an errcode) or the raw response (non-2xx without
    // errcode): both carry the HTTP status in statusCode.
    if (e && typeof e.statusCode === "number") {
      const body = e.body && typeof e.body === "object" ? e.body : {};
      emit({
        ok: false,
        status: e.statusCode,
        errcode: e.errcode ?? body.errcode ?? null,
        error: e.error ?? body.error ?? (typeof e.body === "string" ? e.body : null),
      });
    } else {
      die(`unexpected failure: ${e && e.stack ? e.stack : e}`, 1);
    }
  }
}
