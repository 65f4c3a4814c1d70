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
    assert kwargs["ports"] == {"1433/tcp": ("127.0.0.1", 1433)}  # this machine only: sa is not offered to the network
    assert kwargs["volumes"] == {"/v/data": {"bind": "/var/opt/mssql/data", "mode": "rw"}}
    assert kwargs["restart_policy"] == {"Name": "unless-stopped"}
    check = kwargs["healthcheck"]["test"][1]
    assert check.startswith('SQLCMDPASSWORD="$MSSQL_SA_PASSWORD" /opt/mssql-tools18/bin/sqlcmd -C ')
    assert "Aa1!aaaaaaaa" not in check and " -P " not in check  # from the environment: neither baked in nor in ps
    assert kwargs["detach"] is True and kwargs["labels"] == {"songsdb.volume": "v"}
    assert "Aa1!aaaaaaaa" not in repr(spec)


def test_a_pinned_image_and_another_port_are_honoured() -> None:
    kwargs = ContainerSpec(name="x", sa_password="p", image="mcr.microsoft.com/mssql/server:2019-latest", host_port=14330).run_kwargs()
    assert kwargs["image"].endswith(":2019-latest") and kwargs["ports"] == {"1433/tcp": ("127.0.0.1", 14330)}
    assert ContainerSpec(name="x", sa_password="p", host_ip="0.0.0.0").run_kwargs()["ports"] == {"1433/tcp": ("0.0.0.0", 1433)}
    assert ContainerSpec(name="x", sa_password="p", host_port=None).run_kwargs()["ports"] == {"1433/tcp": ("127.0.0.1", None)}


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
            "retention": ("songsdb_retention_login", "Keep Pass 5"),
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
    assert text.index("# --- operations") < text.index("SONGSDB_OPS_USER=") < text.index("# --- retention")
    assert text.index("# --- retention") < text.index("SONGSDB_RETENTION_USER=") < text.index("# --- administrator")
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
    retention = load_settings(env={}, env_file=path, role="retention")
    assert (retention.user, retention.password) == ("songsdb_retention_login", "Keep Pass 5")


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


def test_the_shell_command_runs_sqlcmd_in_the_container_with_the_password_in_its_environment_not_its_argv(tmp_path: Path) -> None:
    path = tmp_path / ".env.songs-db"
    write_env_file(path, creds())
    command, env = shell_command(UpOptions(env_file=path))
    assert command[:6] == ["docker", "exec", "-it", "-e", "SQLCMDPASSWORD", "songs-db"]  # by name: docker reads the value
    assert "/opt/mssql-tools18/bin/sqlcmd" in command and "-C" in command and command[-2:] == ["-d", "SongsDB"]
    assert env == {"SQLCMDPASSWORD": "Sa$Pass=2"}
    assert "-P" not in command and not any("Sa$Pass=2" in word for word in command)  # ps shows argv to every user


def test_restore_refuses_anything_but_a_bare_backup_name() -> None:
    from songsdb.config import Settings
    from songsdb.errors import SongsDbError
    from songsdb.local import restore

    for bad in ("../etc/passwd.bak", "x.bak'; DROP DATABASE x; --", "backup.txt"):
        with pytest.raises(SongsDbError, match="bare name"):
            restore(Settings(server="nowhere"), bad)


# --- `up` checks the engine, the image and the port before it makes any folder (fakes for Docker) ---


class FakeImages:
    """The images a fake engine has; ``pull`` works only when ``registry`` is True."""

    def __init__(self, present: set[str], registry: bool) -> None:
        self.present, self.registry, self.pulled = present, registry, []  # type: ignore[var-annotated]

    def get(self, name: str) -> object:
        import docker.errors

        if name not in self.present:
            raise docker.errors.ImageNotFound(f"No such image: {name}")
        return object()

    def pull(self, name: str) -> object:
        import docker.errors

        self.pulled.append(name)
        if not self.registry:
            raise docker.errors.APIError("pull failed", explanation="no registry can be reached")
        self.present.add(name)
        return object()


class FakeContainers:
    """No container exists; ``run`` records what it was given (and whether the mounts existed), then fails."""

    def __init__(self) -> None:
        self.runs: list[dict[str, object]] = []

    def get(self, name: str) -> object:
        import docker.errors

        raise docker.errors.NotFound(f"No such container: {name}")

    def run(self, **kwargs: object) -> object:
        import docker.errors

        mounts = kwargs["volumes"]
        assert isinstance(mounts, dict)
        self.runs.append({**kwargs, "mounts_existed": all(Path(host).is_dir() for host in mounts)})
        raise docker.errors.APIError("run failed", explanation="error mounting the volume")


class FakeDocker:
    def __init__(self, images: set[str] | None = None, registry: bool = False) -> None:
        self.images = FakeImages(set(images or ()), registry)
        self.containers = FakeContainers()


def _options(tmp_path: Path, port: int = 0, image: str = DEFAULT_IMAGE) -> UpOptions:
    return UpOptions(image=image, port=port or _free_port(), env_file=tmp_path / ".env.songs-db", volumes_root=tmp_path / "volumes", timeout=1)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        return int(probe.getsockname()[1])


def test_up_without_the_image_and_no_registry_makes_no_folder_and_says_what_to_do(tmp_path: Path) -> None:
    from songsdb.local import up

    client, lines = FakeDocker(registry=False), []  # type: ignore[var-annotated]
    with pytest.raises(DockerUnavailable, match=r"could not start .*not here and could not be pulled.*--image.*SONGSDB_SERVER.*songsdb migrate"):
        up(_options(tmp_path), client=client, say=lines.append)
    assert client.images.pulled == [DEFAULT_IMAGE] and client.containers.runs == []
    assert not (tmp_path / "volumes").exists() and not (tmp_path / ".env.songs-db").exists()
    assert any(line.startswith("pulling ") for line in lines) and not any(line.startswith("volume ") for line in lines)


def test_up_with_the_port_in_use_makes_no_folder(tmp_path: Path) -> None:
    import socket

    from songsdb.errors import SongsDbError
    from songsdb.local import up

    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        client = FakeDocker(images={DEFAULT_IMAGE})
        with pytest.raises(SongsDbError, match=rf"port {port} is already in use.*--port"):
            up(_options(tmp_path, port=port), client=client, say=lambda line: None)
    assert client.containers.runs == [] and not (tmp_path / "volumes").exists()


def test_up_makes_the_volume_only_once_the_image_is_there_and_removes_it_when_the_container_fails(tmp_path: Path) -> None:
    from songsdb.local import up

    client, lines = FakeDocker(registry=True), []  # type: ignore[var-annotated]
    with pytest.raises(DockerUnavailable, match="could not start .*error mounting the volume"):
        up(_options(tmp_path), client=client, say=lines.append)
    assert client.images.pulled == [DEFAULT_IMAGE]  # pulled first ...
    assert len(client.containers.runs) == 1 and client.containers.runs[0]["mounts_existed"]  # ... then the folders, then run
    order = [line.split()[0] for line in lines]
    assert order[:2] == ["pulling", "volume"] and "removed again" in lines[-1]
    assert list_volumes(tmp_path / "volumes") == []  # the empty volume this run made is gone


def test_up_never_removes_a_volume_it_did_not_make(tmp_path: Path) -> None:
    from songsdb.local import up

    volume = create_volume(tmp_path / "volumes")
    (volume.path / "data" / "SongsDB.mdf").write_text("data")
    client = FakeDocker(images={DEFAULT_IMAGE})
    with pytest.raises(DockerUnavailable):
        up(_options(tmp_path), client=client, say=lambda line: None)
    assert client.images.pulled == []  # the image was there: no pull
    assert list_volumes(tmp_path / "volumes") == [volume] and (volume.path / "data" / "SongsDB.mdf").is_file()


def test_a_new_volume_that_holds_a_file_is_kept(tmp_path: Path) -> None:
    from songsdb.volumes import discard_if_empty

    kept, empty = create_volume(tmp_path, now=datetime(2026, 1, 1, tzinfo=timezone.utc)), create_volume(tmp_path)
    (kept.path / "log" / "errorlog").write_text("x")
    assert discard_if_empty(kept) is False and kept.path.is_dir()
    assert discard_if_empty(empty) is True and not empty.path.exists()


@pytest.mark.parametrize(
    ("error", "installed", "root", "expected"),
    [
        (ConnectionError("('Connection aborted.', FileNotFoundError(2, 'No such file or directory'))"), False, True, "install Docker (Debian: apt-get install docker.io) and start it"),
        (ConnectionError("('Connection aborted.', ConnectionRefusedError(111, 'Connection refused'))"), True, False, "Docker is installed but not running: start it (sudo systemctl start docker"),
        (ConnectionError("('Connection aborted.', PermissionError(13, 'Permission denied'))"), True, False, "add yourself to the docker group (sudo usermod -aG docker $USER"),
    ],
    ids=["not-installed", "not-running", "permission-denied"],
)
def test_without_an_engine_the_message_says_how_to_get_one(error: Exception, installed: bool, root: bool, expected: str) -> None:
    from songsdb.container import no_engine_message

    message = no_engine_message(error, None, dockerd_installed=installed, as_root=root)
    assert message.startswith("no Docker engine answers at unix:///var/run/docker.sock: ")
    assert expected in message
    assert "SONGSDB_SERVER" in message and "songsdb migrate" in message
    assert "Error" not in message.split(";")[0]  # the cause in words, not an exception class


def test_up_without_an_engine_names_no_exception_class_and_makes_no_folder(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "DOCKER_HOST": f"unix://{tmp_path}/none.sock", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "songsdb", "--env-file", str(tmp_path / "e"), "up"], capture_output=True, text=True, env=env, timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 1
    assert "Exception" not in result.stderr and "SONGSDB_SERVER" in result.stderr
    assert "start it" in result.stderr  # install-and-start, or start
    assert not (tmp_path / ".sqlcontainers").exists()


def test_up_publishes_the_port_on_127_0_0_1_unless_bind_says_otherwise(tmp_path: Path) -> None:
    from songsdb.local import up

    for bind in ("127.0.0.1", "0.0.0.0"):
        options = _options(tmp_path)
        if bind != "127.0.0.1":
            options.bind = bind
        client = FakeDocker(images={DEFAULT_IMAGE})
        with pytest.raises(DockerUnavailable):
            up(options, client=client, say=lambda line: None)
        assert client.containers.runs[0]["ports"] == {"1433/tcp": (bind, options.port)}
    assert UpOptions().bind == "127.0.0.1"


def test_up_refuses_a_bind_that_is_not_an_address_before_anything_else(tmp_path: Path) -> None:
    from songsdb.local import up

    options = _options(tmp_path)
    options.bind = "everywhere"
    client = FakeDocker(registry=True)
    with pytest.raises(ConfigurationError, match=r"--bind takes an IP address .*'everywhere'"):
        up(options, client=client, say=lambda line: None)
    assert client.images.pulled == [] and not (tmp_path / "volumes").exists()


class FakeExistingContainer:
    """A running container made earlier, its port published on ``host_ip``."""

    name = "songs-db"
    status = "running"

    def __init__(self, volume: str, host_ip: str) -> None:
        self.attrs = {
            "State": {"Status": "running"},
            "NetworkSettings": {"Ports": {"1433/tcp": [{"HostIp": host_ip, "HostPort": "1433"}]}},
            "Config": {"Image": DEFAULT_IMAGE, "Env": ["MSSQL_SA_PASSWORD=Sa$Pass=2"], "Labels": {"songsdb.volume": volume}},
            "HostConfig": {"RestartPolicy": {"Name": "unless-stopped"}},
            "Mounts": [],
        }

    def reload(self) -> None:
        pass

    def logs(self, tail: int) -> bytes:
        return b"(the log)"


@pytest.mark.parametrize(
    ("host_ip", "bind", "warned", "server"),
    [
        ("0.0.0.0", "127.0.0.1", True, "127.0.0.1"),  # made before up bound 127.0.0.1: said, and reached on loopback
        ("127.0.0.1", "127.0.0.1", False, "127.0.0.1"),
        ("0.0.0.0", "0.0.0.0", False, "127.0.0.1"),
        ("10.1.2.3", "10.1.2.3", False, "10.1.2.3"),  # one interface: reached there
    ],
)
def test_up_says_when_a_reused_container_publishes_elsewhere_and_connects_where_it_listens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host_ip: str, bind: str, warned: bool, server: str
) -> None:
    import songsdb.local
    from songsdb.config import Settings
    from songsdb.errors import DatabaseUnavailable

    volume = create_volume(tmp_path / "volumes")
    client = FakeDocker(images={DEFAULT_IMAGE})
    existing = FakeExistingContainer(volume.name, host_ip)
    client.containers.get = lambda name: existing  # type: ignore[method-assign]
    tried: list[Settings] = []

    def no_login(settings: Settings, **kwargs: object) -> str:
        tried.append(settings)
        raise DatabaseUnavailable("no login")

    monkeypatch.setattr(songsdb.local, "wait_for_login", no_login)
    options, lines = _options(tmp_path, port=1433), []  # type: ignore[var-annotated]
    options.bind = bind
    with pytest.raises(DatabaseUnavailable, match="the log"):
        songsdb.local.up(options, client=client, say=lines.append)
    assert [line for line in lines if line.startswith("container ")] == [
        f"container songs-db (reused) from {DEFAULT_IMAGE} on {host_ip}:1433"
    ]
    warnings = [line for line in lines if line.startswith("warning:")]
    if warned:
        assert warnings == [
            f"warning: songs-db publishes port 1433 on {host_ip}, not {bind}; `songsdb down`, then this up again, makes "
            f"it again on {bind} (the volume and its data stay)"
        ]
    else:
        assert warnings == []
    assert [(s.server, s.port, s.user) for s in tried] == [(server, 1433, "sa")]
