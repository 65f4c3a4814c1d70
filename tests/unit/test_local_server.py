"""`songsdb up`'s pure parts: the container specification, volumes and metadata, passwords,
the env file, .gitignore, and the no-engine error."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from songsdb.container import DEFAULT_IMAGE, ContainerSpec, DockerUnavailable, docker_client, generate_password, meets_password_policy
from songsdb.envfile import LocalCredentials, ensure_gitignored, read_env_file, write_env_file
from songsdb.errors import ConfigurationError
from songsdb.local import admin_settings, shell_command, UpOptions
from songsdb.volumes import MSSQL_UID, create_volume, find_volume, list_volumes, VolumeMetadata


def test_the_container_spec_is_what_sql_server_needs() -> None:
    spec = ContainerSpec(name="songs-db", sa_password="Aa1!aaaaaaaa", mounts={"/v/data": "/var/opt/mssql/data"}, labels={"songsdb.volume": "v"})
    kwargs = spec.run_kwargs()
    assert kwargs["image"] == DEFAULT_IMAGE == "mcr.microsoft.com/mssql/server:2022-latest"
    assert kwargs["environment"] == {"ACCEPT_EULA": "Y", "MSSQL_PID": "Developer", "MSSQL_SA_PASSWORD": "Aa1!aaaaaaaa"}
    assert kwargs["ports"] == {"1433/tcp": 1433}
    assert kwargs["volumes"] == {"/v/data": {"bind": "/var/opt/mssql/data", "mode": "rw"}}
    assert kwargs["restart_policy"] == {"Name": "unless-stopped"}
    assert kwargs["healthcheck"]["test"][1].startswith("/opt/mssql-tools18/bin/sqlcmd -C ")
    assert "Aa1!aaaaaaaa" not in kwargs["healthcheck"]["test"][1]  # read from the environment, not baked in
    assert kwargs["detach"] is True and kwargs["labels"] == {"songsdb.volume": "v"}
    assert "Aa1!aaaaaaaa" not in repr(spec)


def test_a_pinned_image_and_another_port_are_honoured() -> None:
    kwargs = ContainerSpec(name="x", sa_password="p", image="mcr.microsoft.com/mssql/server:2019-latest", host_port=14330).run_kwargs()
    assert kwargs["image"].endswith(":2019-latest") and kwargs["ports"] == {"1433/tcp": 14330}


@given(st.integers(min_value=8, max_value=64))
def test_every_generated_password_meets_the_policy_and_is_safe_to_quote(length: int) -> None:
    password = generate_password(length)
    assert len(password) == length and meets_password_policy(password)
    assert not set(password) & set("'\";{}$`\\ ")


def test_the_policy_check_itself_rejects_weak_passwords() -> None:
    assert not meets_password_policy("short1!")
    assert not meets_password_policy("alllowercase")
    assert meets_password_policy("Upper-and-1")
    with pytest.raises(ValueError):
        generate_password(7)


def test_a_volume_has_its_three_folders_usable_by_sql_server(tmp_path: Path) -> None:
    volume = create_volume(tmp_path, now=datetime(2026, 11, 25, 13, 1, 2, tzinfo=timezone.utc))
    assert volume.name == "songs-db_20261125130102"
    for sub in ("data", "log", "backup"):
        folder = volume.path / sub
        assert folder.is_dir()
        if os.geteuid() == 0:
            assert folder.stat().st_uid == MSSQL_UID
        else:
            assert stat.S_IMODE(folder.stat().st_mode) == 0o777
    assert set(volume.mounts().values()) == {"/var/opt/mssql/data", "/var/opt/mssql/log", "/var/opt/mssql/backup"}


def test_metadata_round_trips(tmp_path: Path) -> None:
    volume = create_volume(tmp_path)
    meta = VolumeMetadata(volume.name, "2026-11-25T13:01:02+00:00", DEFAULT_IMAGE, "songs-db", 1433, "SongsDB")
    volume.write_metadata(meta)
    assert volume.read_metadata() == meta
    assert '"container": "songs-db"' in volume.metadata_file.read_text()


def test_the_newest_volume_is_reused_and_a_named_one_can_be_picked(tmp_path: Path) -> None:
    assert find_volume(None, tmp_path) is None
    old = create_volume(tmp_path, now=datetime(2026, 1, 1, tzinfo=timezone.utc))
    new = create_volume(tmp_path, now=datetime(2026, 6, 1, tzinfo=timezone.utc))
    (tmp_path / "not-a-volume").mkdir()
    assert [v.name for v in list_volumes(tmp_path)] == [old.name, new.name]
    assert find_volume(None, tmp_path) == new
    assert find_volume(old.name, tmp_path) == old
    with pytest.raises(ConfigurationError, match="songs-db_19990101000000"):
        find_volume("songs-db_19990101000000", tmp_path)


def creds() -> LocalCredentials:
    return LocalCredentials(
        "127.0.0.1",
        1433,
        "SongsDB",
        {
            "web": ("songsdb_web_login", "App'Pass#1"),
            "worker": ("songsdb_worker_login", "Work#Pass=3"),
            "ops": ("songsdb_ops_login", "Ops Pass 4"),
        },
        "sa",
        "Sa$Pass=2",
    )


def test_the_env_file_is_private_and_keeps_each_role_and_the_admin_apart(tmp_path: Path) -> None:
    path = tmp_path / ".env.songs-db"
    path.write_text("old")
    path.chmod(0o644)
    write_env_file(path, creds())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert text.index("# --- web service") < text.index("SONGSDB_USER=") < text.index("# --- GPU workers")
    assert text.index("# --- GPU workers") < text.index("SONGSDB_WORKER_USER=") < text.index("# --- operations")
    assert text.index("# --- operations") < text.index("SONGSDB_OPS_USER=") < text.index("# --- administrator")
    assert text.index("# --- administrator") < text.index("SONGSDB_ADMIN_USER=")
    values = read_env_file(path)
    assert values["SONGSDB_PASSWORD"] == "App'Pass#1" and values["SONGSDB_ADMIN_PASSWORD"] == "Sa$Pass=2"
    assert values["SONGSDB_TRUST_SERVER_CERTIFICATE"] == "yes"
    admin = admin_settings(path)
    assert (admin.user, admin.password, admin.port, admin.trust_server_certificate) == ("sa", "Sa$Pass=2", 1433, True)


def test_each_role_reads_its_own_login_from_the_env_file(tmp_path: Path) -> None:
    from songsdb.config import load_settings

    path = tmp_path / ".env.songs-db"
    write_env_file(path, creds())
    web = load_settings(env={}, env_file=path)
    assert (web.user, web.password, web.trust_server_certificate) == ("songsdb_web_login", "App'Pass#1", True)
    worker = load_settings(env={}, env_file=path, role="worker")
    assert (worker.user, worker.password, worker.port) == ("songsdb_worker_login", "Work#Pass=3", 1433)
    ops = load_settings(env={}, env_file=path, role="ops")
    assert (ops.user, ops.password) == ("songsdb_ops_login", "Ops Pass 4")


def test_gitignore_gets_the_env_file_once(tmp_path: Path) -> None:
    assert ensure_gitignored(tmp_path) is True
    assert ensure_gitignored(tmp_path) is False
    assert (tmp_path / ".gitignore").read_text() == ".env.songs-db\n"
    other = tmp_path / "other"
    other.mkdir()
    (other / ".gitignore").write_text("*.pyc")
    ensure_gitignored(other)
    assert (other / ".gitignore").read_text() == "*.pyc\n.env.songs-db\n"


def test_without_a_docker_engine_the_error_says_how_to_use_an_existing_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    with pytest.raises(DockerUnavailable, match="SONGSDB_SERVER.*songsdb migrate"):
        docker_client()


def test_up_without_an_engine_is_one_line_and_exit_code_1(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "DOCKER_HOST": f"unix://{tmp_path}/none.sock", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "songsdb", "--env-file", str(tmp_path / "e"), "up"], capture_output=True, text=True, env=env, timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "no Docker engine answers" in result.stderr


def test_the_shell_command_runs_sqlcmd_in_the_container(tmp_path: Path) -> None:
    path = tmp_path / ".env.songs-db"
    write_env_file(path, creds())
    command = shell_command(UpOptions(env_file=path))
    assert command[:4] == ["docker", "exec", "-it", "songs-db"] and "/opt/mssql-tools18/bin/sqlcmd" in command and "-C" in command


def test_restore_refuses_anything_but_a_bare_backup_name() -> None:
    from songsdb.config import Settings
    from songsdb.errors import SongsDbError
    from songsdb.local import restore

    for bad in ("../etc/passwd.bak", "x.bak'; DROP DATABASE x; --", "backup.txt"):
        with pytest.raises(SongsDbError, match="bare name"):
            restore(Settings(server="nowhere"), bad)
