"""Issue 34: one configuration language. The same duration strings, the same one-line errors and
the same --check-config (value and source of every key) for ocspd, ocsp-stapler and the checker's
policy (`ocspctl check --policy FILE --check-config`), run as the real binaries."""
from __future__ import annotations

import os
import subprocess

import pytest

from ocsp_e2e import CMD_TIMEOUT, STAPLER_BIN, check_config_values, clean_environment, ctl, describe


def run(cmd, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=CMD_TIMEOUT,
                          stdin=subprocess.DEVNULL, env=env if env is not None else clean_environment())


def ocspd_check(bins, tmp_path, value: str, env=None):
    return run([bins.ocspd, "--check-config", "--store", str(tmp_path), "--filter-coverage-margin", value],
               env=env or clean_environment())


def stapler_check(tmp_path, value: str):
    config = tmp_path / "stapler.yaml"
    config.write_text(f"refresh:\n  margin: '{value}'\ncertificates:\n  - {{cert: /a.pem, out: /a.ocsp}}\n")
    return run([STAPLER_BIN, "--check-config", "--config", str(config)], env=clean_environment())


def policy_check(bins, tmp_path, value: str):
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"revocation_checking:\n  cache_ttl: '{value}'\n")
    return ctl(bins, "check", "--policy", str(policy), "--check-config")


@pytest.mark.parametrize("text, shown", [("500ms", "500ms"), ("90", "90s"), ("1.5h", "90m"), ("7d", "7d"), ("3600s", "1h")])
def test_one_duration_reads_the_same_in_all_three(bins, tmp_path, text, shown):
    assert check_config_values(ocspd_check(bins, tmp_path, text))["filter.coverage-margin"][0] == shown
    assert check_config_values(stapler_check(tmp_path, text))["refresh.margin"][0] == shown
    assert check_config_values(policy_check(bins, tmp_path, text))["cache_ttl"][0] == shown


@pytest.mark.parametrize("text", ["1w", "soon", "-5s", "1e3"])
def test_a_bad_duration_is_the_same_one_line_in_all_three(bins, tmp_path, text):
    for proc, key in ((ocspd_check(bins, tmp_path, text), "filter.coverage-margin"),
                      (stapler_check(tmp_path, text), "refresh.margin"),
                      (policy_check(bins, tmp_path, text), "cache_ttl")):
        assert proc.returncode != 0, describe(proc)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, describe(proc)
        assert f'configuration key {key} (from ' in lines[0] and f'"{text}" is not valid; expected a duration' in lines[0], \
            describe(proc)
        assert "such as 500ms, 90s, 10m, 12h or 7d" in lines[0], describe(proc)


def test_the_stapler_reads_flags_over_the_environment_over_the_file(tmp_path):
    config = tmp_path / "stapler.yaml"
    config.write_text("timeout: 3s\nconcurrency: 4\nlog_level: debug\nwatch:\n  - dir: /etc/haproxy/certs\n")
    env = clean_environment(OCSP_STAPLER_CONCURRENCY="8", OCSP_STAPLER_TIMEOUT="4s")
    proc = run([STAPLER_BIN, "--check-config", "--config", str(config), "--timeout", "750ms", "--retry-min", "2s"], env=env)
    values = check_config_values(proc)
    assert values["timeout"] == ("750ms", "flag --timeout"), proc.stdout
    assert values["concurrency"] == ("8", "environment OCSP_STAPLER_CONCURRENCY"), proc.stdout
    assert values["log_level"] == ("debug", f"file {config}"), proc.stdout
    assert values["refresh.retry_min"] == ("2s", "flag --retry-min"), proc.stdout
    assert values["http_method"] == ("auto", "default"), proc.stdout
    assert "# watch /etc/haproxy/certs" in proc.stdout


@pytest.mark.parametrize("args, said", [
    (["--timeout"], "needs a value"),
    (["--timeoutt", "5s"], "unknown option --timeoutt"),
    (["--log-format", "xml"], 'configuration key log_format (from flag --log-format): "xml" is not valid; expected one of text, json'),
])
def test_a_bad_stapler_flag_is_one_line(tmp_path, args, said):
    proc = run([STAPLER_BIN, "--cert", "/a.pem", "--out", "/a.ocsp", *args], env=clean_environment())
    assert proc.returncode != 0, describe(proc)
    lines = proc.stderr.strip().splitlines()
    assert lines and said in lines[0], describe(proc)


def test_unknown_keys_are_refused_alike(bins, tmp_path):
    ocspd_file = tmp_path / "ocspd.yaml"
    ocspd_file.write_text("store: /s\ncrl:\n  intervall: 1h\n")
    stapler_file = tmp_path / "stapler.yaml"
    stapler_file.write_text("timeout: 5s\nhaproxy_sockett: /run/haproxy.sock\n")
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text("soft_fial: true\n")
    for proc, key, path in (
        (run([bins.ocspd, "--check-config", "--config", str(ocspd_file)], env=clean_environment()), "crl.intervall", ocspd_file),
        (run([STAPLER_BIN, "--check-config", "--config", str(stapler_file)], env=clean_environment()), "haproxy_sockett",
         stapler_file),
        (ctl(bins, "check", "--policy", str(policy_file), "--check-config"), "soft_fial", policy_file),
    ):
        assert proc.returncode != 0, describe(proc)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and f"unknown configuration key {key} in {path}; known keys: " in lines[0], describe(proc)


def test_check_config_of_a_policy_names_every_key(bins, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("method: ocsp\ntimeout: 2s\nfilter: [/a.mlbf, /b.mlbf]\ncrl_max_size: 16M\n")
    values = check_config_values(ctl(bins, "check", "--policy", str(policy), "--check-config"))
    assert values["method"] == ("ocsp", f"file {policy}")
    assert values["timeout"] == ("2s", f"file {policy}")
    assert values["filter"] == ("/a.mlbf, /b.mlbf", f"file {policy}")
    assert values["crl_max_size"] == (str(16 << 20), f"file {policy}")
    assert values["soft_fail"] == ("false", "default")
    proc = ctl(bins, "check", "--check-config")
    assert proc.returncode != 0 and "--policy FILE" in proc.stderr, describe(proc)
