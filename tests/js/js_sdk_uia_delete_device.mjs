#!/usr/bin/env node
// Delete a device through User-Interactive Auth the way Element does: with
// matrix-js-sdk's InteractiveAuth, created WITHOUT `supportedStages` (as a plain
// client would), answering only the m.login.password stage.
//
// Usage: node js_sdk_uia_delete_device.mjs <hs_url> <user_id> <access_token> <device_id_to_delete> <password>
//
// Prints exactly one JSON line on stdout:
//   {"ok":true|false,
//    "flows":[{"stages":[...]},...] | null,   // flows in the server's first 401, in the server's order
//    "chosen_stage":"..." | null,             // first stage InteractiveAuth asked this client for
//    "stages_asked":[...],                    // every stage InteractiveAuth asked for, in order
//    "chosen_flow":{"stages":[...]} | null,   // the flow InteractiveAuth picked
//    "error":null | {"status":N|null,"errcode":"...","error":"..."}}
// error.errcode is the server's errcode, or one of our own:
//   "UNSUPPORTED_STAGE" - InteractiveAuth asked for a stage other than m.login.password
//   "TIMEOUT"           - nothing settled within the timeout
//   "NO_AUTH_FLOW"      - InteractiveAuth found no flow it could choose
// Exit 0 in all these cases; exit 2 on a usage error; exit 1 when something that
// is not an HTTP answer from the homeserver went wrong (connection refused, a bug).
//
// Environment: SYNAPSE_DP_AUTH_JS_UIA_TIMEOUT_MS (default 5000),
// SYNAPSE_DP_AUTH_JS_DEBUG=1 to see library logs on stderr.

const DEBUG = Boolean(process.env.SYNAPSE_DP_AUTH_JS_DEBUG);
const TIMEOUT_MS = Number(process.env.SYNAPSE_DP_AUTH_JS_UIA_TIMEOUT_MS || 5000);
const PASSWORD_STAGE = "m.login.password";

// matrix-js-sdk logs through loglevel, which calls console.* at log time
// (e.g. InteractiveAuth's "Active flow => ..." goes to console.log, i.e. stdout).
// Nothing but our JSON line may reach stdout.
const toStderr = (...args) => {
  if (DEBUG) process.stderr.write(args.map((a) => (typeof a === "string" ? a : String(a))).join(" ") + "\n");
};
for (const name of ["log", "info", "debug", "warn", "error", "trace"]) {
  console[name] = toStderr;
}

function emit(obj, code = 0) {
  process.stdout.write(JSON.stringify(obj) + "\n", () => process.exit(code));
}

function die(message, code) {
  process.stderr.write(`js_sdk_uia_delete_device.mjs: ${message}\n`, () => process.exit(code));
}

function httpError(e) {
  // MatrixError from matrix-js-sdk's http-api: httpStatus, errcode, data.
  if (e && typeof e.httpStatus === "number") {
    return {
      status: e.httpStatus,
      errcode: e.errcode ?? e.data?.errcode ?? null,
      error: e.data?.error ?? e.message ?? null,
    };
  }
  return null;
}

class AttemptFailed extends Error {
  constructor(detail) {
    super(detail.error);
    this.detail = detail;
  }
}

async function main(hsUrl, userId, accessToken, deviceId, password) {
  const { createClient, InteractiveAuth } = await import("matrix-js-sdk");

  // A bare client: no startClient(), so no sync and no crypto.
  const client = createClient({ baseUrl: hsUrl, accessToken, userId });

  const result = {
    ok: false,
    flows: null,
    chosen_stage: null,
    stages_asked: [],
    chosen_flow: null,
    error: null,
  };
  let lastHttpError = null;
  let passwordSubmitted = false;

  let fail;
  const failed = new Promise((_, reject) => {
    fail = reject;
  });

  const ia = new InteractiveAuth({
    matrixClient: client,
    // no supportedStages: a plain client
    doRequest: async (auth) => {
      try {
        return await client.deleteDevice(deviceId, auth ?? undefined);
      } catch (e) {
        // Copy the server's flows before InteractiveAuth sorts them in place
        // (chooseFlow sorts this.data.flows, which is this error's data).
        if (result.flows === null && Array.isArray(e?.data?.flows)) {
          result.flows = JSON.parse(JSON.stringify(e.data.flows));
        }
        lastHttpError = httpError(e);
        throw e;
      }
    },
    stateUpdated: (stage, status) => {
      result.stages_asked.push(stage);
      if (result.chosen_stage === null) result.chosen_stage = stage;
      if (stage !== PASSWORD_STAGE) {
        fail(
          new AttemptFailed({
            status: lastHttpError?.status ?? null,
            errcode: "UNSUPPORTED_STAGE",
            error: `InteractiveAuth asked for stage ${stage}, which this client cannot complete`,
          }),
        );
        return;
      }
      if (passwordSubmitted || status?.errcode || status?.error) {
        // The server refused the password (it asks for the same stage again,
        // with the error). A person would be asked again; we stop here.
        fail(
          new AttemptFailed({
            status: lastHttpError?.status ?? null,
            errcode: status?.errcode || lastHttpError?.errcode || null,
            error: status?.error || lastHttpError?.error || "password stage asked for again",
          }),
        );
        return;
      }
      passwordSubmitted = true;
      // Submit outside InteractiveAuth's own call stack, as a UI would.
      setImmediate(() => {
        ia.submitAuthDict({
          type: PASSWORD_STAGE,
          identifier: { type: "m.id.user", user: userId },
          password,
        }).catch((e) => fail(e));
      });
    },
  });

  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new AttemptFailed({ status: null, errcode: "TIMEOUT", error: `no result within ${TIMEOUT_MS} ms` })),
      TIMEOUT_MS,
    );
  });

  try {
    await Promise.race([ia.attemptAuth(), failed, timeout]);
    result.ok = true;
  } catch (e) {
    if (e instanceof AttemptFailed) {
      result.error = e.detail;
    } else if (httpError(e)) {
      result.error = httpError(e);
    } else if (e?.name === "NoAuthFlowFoundError") {
      // InteractiveAuth treats any 401 as UIA, even one without flows (e.g.
      // M_UNKNOWN_TOKEN): report the server's own error when there is one.
      result.error =
        result.flows === null && lastHttpError?.errcode
          ? lastHttpError
          : { status: lastHttpError?.status ?? null, errcode: "NO_AUTH_FLOW", error: e.message };
    } else {
      throw e;
    }
  } finally {
    clearTimeout(timer);
  }
  result.chosen_flow = ia.getChosenFlow();
  return result;
}

const args = process.argv.slice(2);
if (args.length !== 5) {
  die(
    "usage: node js_sdk_uia_delete_device.mjs <hs_url> <user_id> <access_token> <device_id_to_delete> <password>",
    2,
  );
} else {
  main(...args).then(
    (result) => emit(result),
    (e) => die(`unexpected failure: ${e && e.stack ? e.stack : e}`, 1),
  );
}
