"""songsdb.aio on a real engine: calls, request ids, and async transactions (atomic, cancelled, concurrent)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from songsdb import errors
from songsdb.aio import AsyncSongsDatabase
from songsdb.config import Settings
from songsdb.context import request_context
from songsdb.database import SongsDatabase


def test_async_calls_write_read_and_carry_the_tasks_request_id(songsdb_web: SongsDatabase) -> None:
    async def scenario() -> None:
        async with AsyncSongsDatabase.wrapping(songsdb_web) as adb:
            async def one(n: int) -> uuid.UUID:
                with request_context(f"req-aio-{n}"):
                    song_id = await adb.create_song(f"aio-{n}", "a.mp3", title=f"T{n}")
                    await adb.create_job(song_id, "demucs", "separation")
                    return song_id

            ids = await asyncio.gather(*(one(n) for n in range(6)))
            for n, song_id in enumerate(ids):
                song = await adb.get_song(f"aio-{n}")
                assert song is not None and (song.id, song.title) == (song_id, f"T{n}")
                trail = await adb.get_audit_trail(request_id=f"req-aio-{n}")
                assert sorted(entry.action for entry in trail) == ["created", "created"]
                assert {entry.entity_type for entry in trail} == {"song", "job"}
            assert await adb.get_song("aio-none") is None

    asyncio.run(scenario())


def test_an_async_transaction_is_atomic_and_invisible_outside_until_it_commits(songsdb_web: SongsDatabase) -> None:
    async def scenario() -> None:
        async with AsyncSongsDatabase.wrapping(songsdb_web) as adb:
            async with adb.transaction() as tx:
                song_id = await tx.create_song("tx-a", "a.mp3")
                await tx.create_job(song_id, "demucs", "separation")
                assert await tx.get_song("tx-a") is not None  # its own write, inside
                assert await asyncio.to_thread(songsdb_web.get_song, "tx-a") is None  # not yet outside
                with pytest.raises(errors.DuplicateSong):
                    await tx.create_song("tx-a", "again.mp3")
            # caught, the error still doomed the block: nothing of it is committed

    with pytest.raises(errors.TransactionRolledBack):
        asyncio.run(scenario())
    assert songsdb_web.get_song("tx-a") is None

    async def committed() -> None:
        async with AsyncSongsDatabase.wrapping(songsdb_web) as adb:
            async with adb.transaction() as tx:
                song_id = await tx.create_song("tx-b", "b.mp3")
                await tx.create_job(song_id, "demucs", "separation")
            song = await adb.get_song("tx-b")
            assert song is not None and len(await adb.list_jobs(song_id=song.id)) == 1

    asyncio.run(committed())
    assert songsdb_web._pool._borrowed == 0


def test_a_task_cancelled_in_its_transaction_commits_nothing_and_the_connection_serves_on(songsdb_settings: dict[str, Settings]) -> None:
    async def scenario() -> None:
        async with AsyncSongsDatabase(songsdb_settings["web"], pool_size=1) as adb:
            started = asyncio.Event()

            async def request() -> None:
                async with adb.transaction() as tx:
                    await tx.create_song("cancelled-a", "a.mp3")
                    started.set()
                    await asyncio.sleep(30)  # cancelled here, with a write pending in the transaction

            task = asyncio.create_task(request())
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await adb.get_song("cancelled-a") is None  # rolled back, and the one connection is free
            assert await adb.create_song("after", "b.mp3") is not None
            assert adb.sync._pool._borrowed == 0

    asyncio.run(scenario())


def test_concurrent_async_transactions_on_a_small_pool_all_commit_and_leak_nothing(songsdb_settings: dict[str, Settings]) -> None:
    async def scenario() -> list[uuid.UUID]:
        async with AsyncSongsDatabase(songsdb_settings["web"], pool_size=2) as adb:
            async def one(n: int) -> uuid.UUID:
                with request_context(f"req-many-{n}"):
                    async with adb.transaction() as tx:
                        song_id = await tx.create_song(f"many-{n}", "a.mp3")
                        await tx.create_job(song_id, "demucs", "separation")
                        return song_id

            ids = await asyncio.gather(*(one(n) for n in range(12)))
            assert adb.sync._pool._borrowed == 0
            for n in range(12):
                trail = await adb.get_audit_trail(request_id=f"req-many-{n}")
                assert len(trail) == 2
            return ids

    assert len(set(asyncio.run(scenario()))) == 12
