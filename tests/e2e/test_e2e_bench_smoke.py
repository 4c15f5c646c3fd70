"""The benchmark still runs: ``bench/login_bench.py`` with minimal rounds, on both databases.

Not a timing test (nothing here depends on how fast the machine is): it only checks that every
method logged in and every figure the report promises was produced, so the benchmark cannot rot
between the occasional ``tox -e bench``. The older module is compared too where it is installed
(``tox -e bench`` installs it; the test environment need not).
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

from constants import REPO_ROOT

from synapse_dp_auth.logfilter import MAX_LINE_LENGTH
from testbed import request_cost
from testbed.hostile_logs import SYNAPSE_MAX_BODY, shape_units
from testbed.services import INSTALL_HINT, missing_services


def test_benchmark_runs_and_reports_every_figure(tmp_path: Path) -> None:
    missing = missing_services()
    assert not missing, f"{'; '.join(missing)}: {INSTALL_HINT}"
    with_older = importlib.util.find_spec("shared_secret_authenticator") is not None
    report_path = tmp_path / "bench.json"
    command = [
        sys.executable,
        "-m",
        "bench.login_bench",
        "--rounds=1",
        "--logins=8",
        "--clients=2",
        "--blocks=2",
        "--micro-repeats=1",
        "--micro-calls=50",
        f"--json={report_path}",
        *([] if with_older else ["--without-older"]),
    ]
    completed = subprocess.run(  # noqa: S603 - our own interpreter and benchmark
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "synapse_dp_auth login benchmark" in completed.stdout
    assert "turning away an ordinary password" in completed.stdout

    report = json.loads(report_path.read_text(encoding="utf-8"))
    methods = {"dp_password", "dp_devture", "appservice"}
    if with_older:
        methods |= {"older_password", "older_devture"}
    assert set(report["http"]) == {"sqlite", "postgresql"}
    for database in report["http"].values():
        for metric in ("throughput", "efficiency"):
            assert set(database[metric]) == methods
            assert all(figures["median"] > 0 for figures in database[metric].values())
        expected_ratios = 4 if with_older else 2
        assert len(database["ratios"]["throughput"]) == expected_ratios
    per_call = report["in_process"]["ns_per_call"]
    assert set(per_call) == {"bare_hmac", "verify_token", "turn_away_password", "empty_coroutine"}
    assert all(figures["median"] > 0 for figures in per_call.values())
    assert report["machine"]["synapse"] != "not installed"


def test_rate_limit_figure_runs(tmp_path: Path) -> None:
    """``bench/rate_limit.py`` on a few users and a short window. Synapse's default rc_login
    (burst 5 per address) lets exactly 5 of 7 logins through at once; the appservice method and
    the raised limit serve all 7. Those are Synapse's rules, which the README figure relies on."""
    report_path = tmp_path / "rate_limit.json"
    command = [
        sys.executable,
        "-m",
        "bench.rate_limit",
        "--users=7",
        "--window=5",
        f"--json={report_path}",
    ]
    completed = subprocess.run(  # noqa: S603 - our own interpreter and benchmark
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Double-puppet sessions a bridge gets in its first 5 s, 7 users" in completed.stdout
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["module_default_rc_login"]["done_within_window"] == 5
    assert report["module_default_rc_login"]["http_429"] >= 1
    assert report["appservice_method"]["done_within_window"] == 7
    assert report["appservice_method"]["http_429"] == 0
    assert report["module_raised_rc_login"]["done_within_window"] == 7
    assert report["module_raised_rc_login"]["rc_login_address"]["burst_count"] == 7


def test_logfilter_bench_runs_and_reports_every_shape(tmp_path: Path) -> None:
    """``bench/logfilter_bench.py`` on little text, one round, a few requests: every shape of
    ``testbed.hostile_logs`` and of ``testbed.request_cost`` and every other figure is reported,
    and each ratio is the one its figures make (with one round, the median is that round's)."""
    report_path = tmp_path / "logfilter_bench.json"
    command = [
        sys.executable,
        "-m",
        "bench.logfilter_bench",
        "--size=100000",
        "--rounds=1",
        "--server-requests=2",
        "--server-rounds=1",
        f"--json={report_path}",
    ]
    completed = subprocess.run(  # noqa: S603 - our own interpreter and benchmark
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "synapse_dp_auth log filter benchmark" in completed.stdout
    report = json.loads(report_path.read_text(encoding="utf-8"))
    scan = report["scan"]
    assert set(scan) == set(shape_units("any secret"))
    ordinary = scan["ordinary log lines"]["mb_per_s"]
    for name, figures in scan.items():
        assert figures["mb_per_s"] > 0, name
        assert math.isclose(figures["ratio_to_ordinary"], figures["mb_per_s"] / ordinary), name
    body = report["largest_body"]
    assert body["body_bytes"] == SYNAPSE_MAX_BODY
    assert body["written_chars"] <= MAX_LINE_LENGTH + 100
    assert set(report["per_line"]) == {"access-log line", "Got login request"}
    assert all(min(figures.values()) > 0 for figures in report["per_line"].values())
    server = report["server_cpu"]
    assert set(server) == set(request_cost.SHAPES)
    for name, figures in server.items():
        assert figures["without_ms"] > 0 and figures["with_ms"] > 0, name
        assert math.isclose(figures["ratio"], figures["with_ms"] / figures["without_ms"]), name
    assert report["previous_pattern"]["mb_per_s"] > 0
