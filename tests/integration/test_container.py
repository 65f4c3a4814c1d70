"""The container lifecycle against a real Docker engine, with the locally built stand-in image.

The stand-in is not SQL Server (see standin.py): these tests prove the container, volume,
port, health-check and restart-policy handling, not that SQL Server starts.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from songsdb.container import ContainerSpec, DockerUnavailable, describe, docker_client, ensure_container, find_container, wait_healthy
from songsdb.errors import SongsDbError
from songsdb.volumes import create_volume, find_volume

from .standin import build_standin, busybox_path


@pytest.fixture(scope="module")
def client() -> Any:
    try:
        return docker_client()
    except DockerUnavailable:
        pytest.skip("container tests need a Docker engine (e.g. Debian's docker.io: dockerd --storage-driver vfs)")


@pytest.fixture(scope="module")
def image(client: Any) -> str:
    busybox = busybox_path()
    if busybox is None:
        pytest.skip("the stand-in image needs busybox (Debian's busybox-static)")
    return build_standin(client, busybox)


@pytest.fixture
def name(client: Any) -> Iterator[str]:
    container_name = f"songsdb-test-{uuid.uuid4().hex[:8]}"
    yield container_name
    found = find_container(client, container_name)
    if found is not None:
        found.remove(force=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spec_for(name: str, image: str, root: Path, port: int) -> ContainerSpec:
    volume = find_volume(None, root) or create_volume(root)
    return ContainerSpec(name=name, sa_password="Stand-in-1", image=image, host_port=port, mounts=volume.mounts(), labels={"songsdb.volume": volume.name})


def test_up_creates_then_reuses_the_container(client: Any, image: str, name: str, tmp_path: Path) -> None:
    spec = spec_for(name, image, tmp_path, free_port())
    first, created = ensure_container(client, spec)
    second, created_again = ensure_container(client, spec)
    assert created and not created_again
    assert first.id == second.id


def test_inspect_shows_health_restart_policy_port_and_mounts(client: Any, image: str, name: str, tmp_path: Path) -> None:
    port = free_port()
    spec = spec_for(name, image, tmp_path, port)
    container, _ = ensure_container(client, spec)
    assert wait_healthy(container, timeout=90) == "healthy"
    info = describe(container)
    assert (info["status"], info["health"], info["restart_policy"], info["host_port"]) == ("running", "healthy", "unless-stopped", port)
    assert set(info["mounts"].values()) == {"/var/opt/mssql/data", "/var/opt/mssql/log", "/var/opt/mssql/backup"}
    env = dict(e.split("=", 1) for e in container.attrs["Config"]["Env"])
    assert env["ACCEPT_EULA"] == "Y" and env["MSSQL_PID"] == "Developer"
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass  # the published port answers


def test_data_survives_down_then_up(client: Any, image: str, name: str, tmp_path: Path) -> None:
    spec = spec_for(name, image, tmp_path, free_port())
    container, _ = ensure_container(client, spec)
    exit_code, _ = container.exec_run(["sh", "-c", "echo kept > /var/opt/mssql/data/marker.txt"])
    assert exit_code == 0
    container.remove(force=True)  # songsdb down
    assert find_container(client, name) is None
    again, created = ensure_container(client, spec_for(name, image, tmp_path, free_port()))
    assert created
    exit_code, output = again.exec_run(["cat", "/var/opt/mssql/data/marker.txt"])
    assert (exit_code, output.strip()) == (0, b"kept")
    assert (find_volume(None, tmp_path).path / "data" / "marker.txt").read_text().strip() == "kept"


def test_a_stopped_container_is_started_again(client: Any, image: str, name: str, tmp_path: Path) -> None:
    spec = spec_for(name, image, tmp_path, free_port())
    container, _ = ensure_container(client, spec)
    container.stop(timeout=1)
    again, created = ensure_container(client, spec)
    assert not created and describe(again)["status"] == "running"


def test_a_port_in_use_is_one_clear_error(client: Any, image: str, name: str, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SongsDbError, match=rf"port {port} is already in use.*--port"):
            ensure_container(client, spec_for(name, image, tmp_path, port))
    assert find_container(client, name) is None


def test_up_with_an_image_that_never_accepts_a_login_times_out_showing_its_log(
    client: Any, image: str, name: str, tmp_path: Path
) -> None:
    from songsdb.errors import DatabaseUnavailable
    from songsdb.local import UpOptions, up

    lines: list[str] = []
    options = UpOptions(
        image=image, port=free_port(), container=name, env_file=tmp_path / ".env.songs-db",
        volumes_root=tmp_path / "volumes", timeout=4,
    )
    with pytest.raises(DatabaseUnavailable, match="last lines of the container's log"):
        up(options, client=client, say=lines.append)
    volume = find_volume(None, tmp_path / "volumes")
    meta = volume.read_metadata()
    assert (meta.container, meta.image, meta.port) == (name, image, options.port)
    assert any(line.startswith("container ") and "created" in line for line in lines)
    assert not options.env_file.exists()  # nothing is written before the server is provisioned
    assert all("Stand-in" not in line and "PASSWORD" not in line for line in lines)


def test_an_image_that_cannot_be_had_is_one_clear_error(client: Any, name: str, tmp_path: Path) -> None:
    spec = spec_for(name, "songsdb-no-such-image:never", tmp_path, free_port())
    with pytest.raises(DockerUnavailable, match="could not start songsdb-no-such-image:never.*--image"):
        ensure_container(client, spec)
    assert find_container(client, name) is None
