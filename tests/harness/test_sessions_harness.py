"""Each shared-secret login is recorded, with its device and secret, in Synapse's own database."""

from __future__ import annotations

from typing import Any, ClassVar
from unittest import mock

import pytest
from constants import DEVTURE, OTHER_SECRET, PASSWORD, SECRET
from harness_support import USER_PASSWORD, ModuleTestCase
from prometheus_client import REGISTRY

from synapse_dp_auth import login_recorder, login_records
from synapse_dp_auth.login_recorder import FLUSH_INTERVAL_MS, PRUNE_INTERVAL_MS, DeviceCheck
from synapse_dp_auth.token import secret_fingerprint

LOGGER = "synapse_dp_auth"

# Run on every Synapse release of the version matrix: recording and the admin resource lean on
# module API methods that older releases lack (see synapse_dp_auth.login_recorder and .provider).
pytestmark = pytest.mark.core


class RecordingTests(ModuleTestCase):
    module_config: ClassVar[dict[str, Any] | None] = {"shared_secret": [SECRET, OTHER_SECRET]}

    def created(self, value: bool) -> bool | None:
        """What a record says of a login that created its device (``value``: True) or reused
        one (False): Synapse tells only from 1.87 (``check_login_for_spam``)."""
        return value if DeviceCheck.supported(self.hs.get_module_api()) else None

    def recorded(
        self, which: login_records.SessionFilter | None = None
    ) -> list[login_records.Session]:
        """What the table holds once the queue has been written (a flush interval later)."""
        self.reactor.advance(FLUSH_INTERVAL_MS / 1000)
        pool = self.hs.get_datastores().main.db_pool
        found: list[login_records.Session] = self.get_success(
            pool.runInteraction(
                "test",
                login_records.select,
                which or login_records.SessionFilter(),
                login_records.MAX_ROWS,
            )
        )
        return found

    def test_login_is_recorded_with_device_and_secret(self) -> None:
        self.reactor.advance(1000)
        with self.captured_logs(LOGGER) as logs:
            channel = self.post_login(
                self.login_body(DEVTURE, self.alice, self.token_for(self.alice, OTHER_SECRET))
            )
        self.assertEqual(channel.code, 200, channel.json_body)
        logged_in_ts = self.clock.time_msec()
        fingerprint = secret_fingerprint(OTHER_SECRET.encode())
        self.assertEqual(
            self.recorded(),
            [
                login_records.Session(
                    user_id=self.alice,
                    device_id="BRIDGE",
                    login_type=DEVTURE,
                    secret_fingerprint=fingerprint,
                    logged_in_ts=logged_in_ts,
                    created_device=self.created(True),
                )
            ],
        )
        device = {True: "new device", None: "device"}[self.created(True)]
        self.assertEqual(
            logs.messages(LOGGER),
            [
                f"Shared-secret login as {self.alice} accepted ({DEVTURE}) on {device} BRIDGE,"
                f" secret {fingerprint}"
            ],
        )

    def test_records_are_written_in_batches_off_the_login_path(self) -> None:
        pool = self.hs.get_datastores().main.db_pool
        self.reactor.advance(FLUSH_INTERVAL_MS / 1000)  # the table exists
        for _ in range(3):
            body = self.login_body(PASSWORD, self.alice, self.token_for(self.alice))
            self.assertEqual(self.post_login(body).code, 200)
        count_rows = (login_records.SessionFilter(), login_records.MAX_ROWS)
        self.assertEqual(
            self.get_success(pool.runInteraction("t", login_records.select, *count_rows)), []
        )
        self.assertEqual(len(self.recorded()), 3)

    def test_device_chosen_by_synapse_is_recorded(self) -> None:
        body = self.login_body(PASSWORD, self.alice, self.token_for(self.alice))
        del body["device_id"]
        channel = self.post_login(body)
        self.assertEqual(channel.code, 200, channel.json_body)
        (session,) = self.recorded()
        self.assertEqual(session.device_id, channel.json_body["device_id"])
        self.assertEqual(session.secret_fingerprint, secret_fingerprint(SECRET.encode()))
        self.assertEqual(session.login_type, PASSWORD)

    def test_whether_the_login_created_the_device(self) -> None:
        """A login may name a device the user has (their phone): Synapse reuses it. The record
        says so, and so does the log line; a new device ID or none at all is a new device."""
        self.login(self.alice, USER_PASSWORD, device_id="PHONE")
        logins = {"PHONE": "PHONE", "NEWONE": "NEWONE", "none": None}
        with self.captured_logs(LOGGER) as logs:
            for device_id in logins.values():
                body = self.login_body(PASSWORD, self.alice, self.token_for(self.alice))
                body.pop("device_id")
                if device_id is not None:
                    body["device_id"] = device_id
                channel = self.post_login(body)
                self.assertEqual(channel.code, 200, channel.json_body)
                self.reactor.advance(0.001)  # each later than the last
        found = self.recorded()
        self.assertEqual(
            [(row.device_id, row.created_device) for row in found[:2]],
            [("PHONE", self.created(False)), ("NEWONE", self.created(True))],
        )
        self.assertEqual(found[2].created_device, self.created(True))
        if self.created(True):
            lines = logs.messages(LOGGER)
            self.assertIn("on existing device PHONE,", lines[0])
            self.assertIn("on new device NEWONE,", lines[1])

    def test_a_failed_write_is_tried_again(self) -> None:
        """The database refuses the write (the table is a view for a while): the records wait
        and arrive once it works again."""
        self.reactor.advance(FLUSH_INTERVAL_MS / 1000)  # the table exists
        self.run_sql(f"ALTER TABLE {login_records.TABLE} RENAME TO saved")
        self.run_sql(f"CREATE VIEW {login_records.TABLE} AS SELECT 1 AS x")
        body = self.login_body(PASSWORD, self.alice, self.token_for(self.alice))
        with self.captured_logs(LOGGER) as logs:
            self.assertEqual(self.post_login(body).code, 200)
            for _ in range(3):
                self.reactor.advance(FLUSH_INTERVAL_MS / 1000)
        self.assertEqual(
            [line for line in logs.messages(LOGGER) if "could not record" in line],
            [
                "synapse_dp_auth: could not record 1 shared-secret login(s); trying again with"
                " the next write"
            ]
            * 3,
        )
        self.run_sql(f"DROP VIEW {login_records.TABLE}")
        self.run_sql(f"ALTER TABLE saved RENAME TO {login_records.TABLE}")
        self.assertEqual([row.user_id for row in self.recorded()], [self.alice])

    def test_what_is_given_up_is_logged_and_counted(self) -> None:
        self.reactor.advance(FLUSH_INTERVAL_MS / 1000)
        self.run_sql(f"DROP TABLE {login_records.TABLE}")
        self.run_sql(f"CREATE VIEW {login_records.TABLE} AS SELECT 1 AS x")
        lost_before = self.lost()
        with mock.patch.object(login_recorder, "FLUSH_ATTEMPTS", 3):
            for _ in range(2):
                body = self.login_body(PASSWORD, self.alice, self.token_for(self.alice))
                self.assertEqual(self.post_login(body).code, 200)
            with self.captured_logs(LOGGER) as logs:
                for _ in range(3):
                    self.reactor.advance(FLUSH_INTERVAL_MS / 1000)
        self.assertEqual(self.lost() - lost_before, 2)
        self.assertEqual(
            [line for line in logs.messages(LOGGER) if "gave up" in line],
            [
                "synapse_dp_auth: gave up recording 2 shared-secret login(s) (after 3 attempts,"
                f" or more than {login_recorder.MAX_PENDING} waiting); their devices are named in"
                " the 'accepted' log lines"
            ],
        )
        self.reactor.advance(FLUSH_INTERVAL_MS / 1000)
        self.assertEqual(self.lost() - lost_before, 2)  # given up once, not tried again

    def lost(self) -> float:
        value = REGISTRY.get_sample_value("synapse_dp_auth_login_records_lost_total")
        return value or 0.0

    def run_sql(self, statement: str) -> None:
        pool = self.hs.get_datastores().main.db_pool
        self.get_success(pool.runInteraction("test", lambda txn: txn.execute(statement)))

    def test_refused_and_ordinary_logins_are_not_recorded(self) -> None:
        wrong = self.login_body(DEVTURE, self.alice, self.token_for(self.alice, "not configured"))
        self.assertEqual(self.post_login(wrong).code, 403)
        ordinary = self.login_body(PASSWORD, self.alice, USER_PASSWORD)
        self.assertEqual(self.post_login(ordinary).code, 200)
        self.assertEqual(self.recorded(), [])

    def test_fingerprints_are_logged_at_start_up(self) -> None:
        with self.captured_logs(LOGGER) as logs:
            self.make_homeserver(self.reactor, self.clock)
        fingerprints = [secret_fingerprint(s.encode()) for s in (SECRET, OTHER_SECRET)]
        self.assertEqual(
            [m for m in logs.messages(LOGGER) if "fingerprint" in m],
            [
                f"synapse_dp_auth: shared secret 1 of 2 has fingerprint {fingerprints[0]}",
                f"synapse_dp_auth: shared secret 2 of 2 has fingerprint {fingerprints[1]}",
            ],
        )


class RecordingWithUiaGraceTests(RecordingTests):
    """With ``ui_auth.session_timeout`` the UIA guard's step and the record both run."""

    def default_config(self) -> dict[str, Any]:
        config = super().default_config()
        config["ui_auth"] = {"session_timeout": "5m"}
        return config

    def test_token_is_marked_not_recently_validated(self) -> None:
        channel = self.post_login(self.login_body(DEVTURE, self.alice, self.token_for(self.alice)))
        self.assertEqual(channel.code, 200, channel.json_body)
        token_info = self.get_success(
            self.hs.get_datastores().main.db_pool.simple_select_one_onecol(
                "access_tokens", {"token": channel.json_body["access_token"]}, "last_validated"
            )
        )
        self.assertEqual(token_info, 0)
        self.assertEqual(len(self.recorded()), 1)


class AllowUiAuthRecordingTests(RecordingTests):
    """With ``allow_ui_auth: true`` a token confirming UIA is logged as such and not recorded."""

    module_config: ClassVar[dict[str, Any] | None] = {
        "shared_secret": [SECRET, OTHER_SECRET],
        "allow_ui_auth": True,
    }

    def test_token_confirming_ui_auth_is_logged_not_recorded(self) -> None:
        access_token = self.login(self.alice, USER_PASSWORD, device_id="MAIN")
        self.login(self.alice, USER_PASSWORD, device_id="VICTIM")
        path = "/_matrix/client/v3/devices/VICTIM"
        first = self.make_request("DELETE", path, {}, access_token=access_token)
        self.assertEqual(first.code, 401, first.json_body)
        auth = {
            "session": first.json_body["session"],
            "type": PASSWORD,
            "identifier": {"type": "m.id.user", "user": self.alice},
            "password": self.token_for(self.alice),
        }
        with self.captured_logs(LOGGER) as logs:
            channel = self.make_request("DELETE", path, {"auth": auth}, access_token=access_token)
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(
            logs.messages(LOGGER),
            [
                f"Shared-secret token accepted for user-interactive auth as {self.alice}"
                f" ({PASSWORD}), secret {secret_fingerprint(SECRET.encode())}"
            ],
        )
        self.assertEqual(self.recorded(), [])


class AdminResourceTests(ModuleTestCase):
    """The module's admin-only listing, served in Synapse's harness like any module resource."""

    def create_resource_dict(self) -> dict[str, Any]:
        resources: dict[str, Any] = super().create_resource_dict()
        # Where Synapse keeps what modules register (no public accessor).
        resources[login_records.ADMIN_PATH] = self.hs._module_web_resources[
            login_records.ADMIN_PATH
        ]
        return resources

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.register_user("root", "root's password", admin=True)
        self.admin_token = self.login("root", "root's password")

    def listing(self, query: str, access_token: str | None = None) -> Any:
        return self.make_request(
            "GET", f"{login_records.ADMIN_PATH}?{query}", access_token=access_token
        )

    def test_admins_only(self) -> None:
        alice_token = self.login(self.alice, USER_PASSWORD)
        channel = self.listing("", alice_token)
        self.assertEqual((channel.code, channel.json_body["errcode"]), (403, "M_FORBIDDEN"))
        channel = self.listing("since_ts=now", alice_token)  # refused before parsing
        self.assertEqual((channel.code, channel.json_body["errcode"]), (403, "M_FORBIDDEN"))
        self.assertEqual(self.listing("").code, 401)
        channel = self.listing("", self.admin_token)
        self.assertEqual(channel.code, 200, channel.json_body)
        # Synapse also takes the access token from the query string (e.g. for curl).
        channel = self.listing(f"access_token={self.admin_token}")
        self.assertEqual(channel.code, 200, channel.json_body)
        channel = self.listing(f"access_token={alice_token}")
        self.assertEqual((channel.code, channel.json_body["errcode"]), (403, "M_FORBIDDEN"))

    def test_values_the_database_cannot_take_are_400_not_500(self) -> None:
        for query in [
            f"since_ts={2**63}",
            "since_ts=" + "9" * 30,
            "since_ts=" + "9" * 5000,  # past Python's limit for int()
            "from=" + "9" * 5000,
            "from=1_" + "9" * 5000,
            "from=12",
            "user_id=%40a%00%3Ax",
        ]:
            channel = self.listing(query, self.admin_token)
            self.assertEqual(
                (channel.code, channel.json_body["errcode"]), (400, "M_INVALID_PARAM"), query
            )
        channel = self.listing(f"since_ts={2**63 - 1}", self.admin_token)
        self.assertEqual((channel.code, channel.json_body["sessions"]), (200, []))

    def test_a_long_listing_comes_in_pages(self) -> None:
        """Past a page, the answer says where the next starts: nothing is silently left out."""
        devices = []
        for number in range(3):
            body = self.login_body(PASSWORD, self.alice, self.token_for(self.alice))
            body["device_id"] = f"BRIDGE{number}"
            self.assertEqual(self.post_login(body).code, 200)
            devices.append(body["device_id"])
            self.reactor.advance(1)  # oldest first: each login a second later
        with mock.patch.object(login_records, "MAX_ROWS", 2):
            first = self.listing("", self.admin_token)
            self.assertEqual(first.code, 200, first.json_body)
            self.assertEqual([s["device_id"] for s in first.json_body["sessions"]], devices[:2])
            next_token = first.json_body["next_token"]
            rest = self.listing(f"from={next_token}", self.admin_token)
            self.assertEqual([s["device_id"] for s in rest.json_body["sessions"]], devices[2:])
            self.assertNotIn("next_token", rest.json_body)
        whole = self.listing("", self.admin_token)
        self.assertEqual([s["device_id"] for s in whole.json_body["sessions"]], devices)
        self.assertNotIn("next_token", whole.json_body)


#: Prunes run each hour after start-up.
HOUR = PRUNE_INTERVAL_MS / 1000


class RetentionTests(ModuleTestCase):
    """Records of ended sessions older than login_records_retention_period are deleted by the
    module in the background; those of devices that still exist stay, whatever their age."""

    module_config: ClassVar[dict[str, Any] | None] = {
        "shared_secret": SECRET,
        "login_records_retention_period": "2h",
    }

    def test_old_records_of_ended_sessions_go(self) -> None:
        start = self.reactor.seconds()
        self.reactor.advance(1)
        for name in ("ENDED", "ALIVE"):
            self.token_login(name)
        self.end_session("ENDED")
        self.run_until(start + 1.5 * HOUR)
        self.token_login("ENDED_LATER")
        self.end_session("ENDED_LATER")
        # The prunes at 1 h and 2 h find nothing older than 2 h that has ended.
        self.run_until(start + 2.5 * HOUR)
        self.assertEqual(self.device_ids(), ["ENDED", "ALIVE", "ENDED_LATER"])
        with self.captured_logs(LOGGER) as logs:
            self.run_until(start + 3.5 * HOUR)
        self.assertEqual(self.device_ids(), ["ALIVE", "ENDED_LATER"])
        self.assertEqual(
            logs.messages(LOGGER),
            [
                "synapse_dp_auth: deleted 1 record(s) of shared-secret logins whose devices are"
                " gone, older than login_records_retention_period"
            ],
        )

    def run_until(self, seconds: float) -> None:
        """Let the reactor's time pass a minute at a time (prunes run at their own times)."""
        while self.reactor.seconds() < seconds:
            self.reactor.advance(min(60, seconds - self.reactor.seconds()))

    def token_login(self, device_id: str) -> None:
        body = self.login_body(PASSWORD, self.alice, self.token_for(self.alice))
        body["device_id"] = device_id
        channel = self.post_login(body)
        self.assertEqual(channel.code, 200, channel.json_body)

    def end_session(self, device_id: str) -> None:
        """Delete the device, as a logout or a revocation does."""
        handler = self.hs.get_device_handler()
        self.get_success(handler.delete_devices(self.alice, [device_id]))

    def device_ids(self) -> list[str]:
        pool = self.hs.get_datastores().main.db_pool
        found = self.get_success(
            pool.runInteraction("t", login_records.select, login_records.SessionFilter(), 10)
        )
        return [row.device_id for row in found]

    def test_in_short_transactions(self) -> None:
        """Each transaction deletes a batch; between them the reactor serves others."""
        self.run_until(self.reactor.seconds() + 2.5 * HOUR)  # the clock past the retention
        pool = self.hs.get_datastores().main.db_pool
        old = [
            login_records.Session(
                user_id=self.alice,
                device_id=f"D{number}",
                login_type=PASSWORD,
                secret_fingerprint="0123abcd",
                logged_in_ts=number,
            )
            for number in range(25)
        ]
        self.get_success(pool.runInteraction("t", login_records.record_all, old))
        calls = []
        real = login_records.prune_batch

        def counted(*args: Any) -> Any:
            calls.append(args)
            return real(*args)

        with (
            mock.patch.object(login_records, "PRUNE_BATCH", 10),
            mock.patch.object(login_records, "prune_batch", counted),
        ):
            self.reactor.advance(PRUNE_INTERVAL_MS / 1000)
            self.pump()  # each transaction completes on a later turn of the reactor
        self.assertEqual(len(calls), 3)
        self.assertEqual(self.device_ids(), [])
