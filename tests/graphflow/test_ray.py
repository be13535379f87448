"""graphflow on a local two-node Ray cluster: batch tasks and stream actors that survive a kill."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'graphflow[ray]')")
cluster_utils = pytest.importorskip("ray.cluster_utils")

from test_batch import (  # noqa: E402
    COLOURS,
    PASS_THROUGH,
    mean_colours,
    read_video,
    write_video,
)

from graphflow.batch import run_batch  # noqa: E402
from graphflow.net import Sender, StreamServer, jpeg  # noqa: E402
from graphflow.net.streams_api import StreamManager, StreamSpec  # noqa: E402

pytestmark = pytest.mark.timeout(120)

STORE_BYTES = 100 * 2**20


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A head and a second node, one CPU each, on this machine; this process connected."""
    local = cluster_utils.Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "object_store_memory": STORE_BYTES, "include_dashboard": False})
    local.add_node(num_cpus=1, object_store_memory=STORE_BYTES)
    ray.init(address=local.address, include_dashboard=False, configure_logging=False,
             log_to_driver=False)
    yield local
    ray.shutdown()
    local.shutdown()


def test_batch_on_ray_tasks(cluster: Any, tmp_path: pathlib.Path) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    for name, colours in (("a", COLOURS), ("b", COLOURS[::-1]), ("c", COLOURS[:3])):
        write_video(videos / f"{name}.mp4", colours)
    (videos / "d.mp4").write_bytes(b"\0" * 4096)
    graph = tmp_path / "pass.pbtxt"
    graph.write_text(PASS_THROUGH)
    out = tmp_path / "out"
    summary = run_batch(graph, [str(videos / "*.mp4")], out, ray_address=cluster.address)
    by_name = {pathlib.Path(r.source).stem: r for r in summary.results}
    assert summary.counts() == {"done": 3, "skipped": 0, "failed": 1}
    assert "d.mp4" in by_name["d"].error
    for name, colours in (("a", COLOURS), ("b", COLOURS[::-1]), ("c", COLOURS[:3])):
        _, frames = read_video(out / f"{name}.mp4")
        np.testing.assert_allclose(mean_colours(frames), np.array(colours), atol=12)
        assert by_name[name].worker.split(":")[1] != str(os.getpid())  # ran in Ray workers
    again = run_batch(graph, [str(videos / "*.mp4")], out, ray_address=cluster.address)
    assert again.counts() == {"done": 0, "skipped": 3, "failed": 1}


def test_stream_actor_killed_mid_stream_is_restarted_and_the_stream_resumes(
        cluster: Any, tmp_path: pathlib.Path) -> None:
    graph = tmp_path / "pass.pbtxt"
    graph.write_text(PASS_THROUGH)
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :32] = (250, 20, 20)

    async def frames() -> AsyncIterator[tuple[int, bytes]]:
        data = jpeg.encode(image, 95)
        for timestamp in range(1, 100_000):
            yield timestamp, data
            await asyncio.sleep(0.02)

    async def until(predicate: Any, what: str) -> None:
        for _ in range(3000):  # a bound against hangs (60 s), not a timed assertion
            if predicate():
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"still waiting: {what}")

    async def main() -> tuple[int, int, list[str], bytes, dict[str, Any]]:
        server = StreamServer(PASS_THROUGH)
        manager = StreamManager(server, ray_address=cluster.address)
        async with server:
            await manager.add(StreamSpec("cam", str(graph), "push"))
            stream = manager.streams["cam"]
            sender = Sender("127.0.0.1", server.ingest_port, "cam")
            task = asyncio.ensure_future(sender.run(frames()))
            await until(lambda: stream.frames >= 5, "frames through the actor")
            first_pid = stream.worker_pid
            assert first_pid is not None and first_pid != os.getpid()
            os.kill(first_pid, signal.SIGKILL)  # the actor's worker process dies mid-stream
            before = stream.frames
            await until(lambda: stream.frames >= before + 10, "frames after the restart")
            second_pid = await stream._processor.pid.remote()
            with stream.channel.processed.subscribe() as viewer:
                processed = await viewer.get(30)
            assert processed is not None
            described = stream.describe()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return first_pid, second_pid, [e["type"] for e in stream.history], processed.jpeg, \
            described

    first, second, kinds, processed, described = asyncio.run(main())
    assert second != first
    assert kinds[:2] == ["added", "started"]
    assert "failed" not in kinds and described["restarts"] == 0  # Ray restarted it, not us
    assert described["ray"] is True
    np.testing.assert_allclose(jpeg.decode(processed).astype(float).mean(axis=(0, 1)),
                               image.astype(float).mean(axis=(0, 1)), atol=4)
