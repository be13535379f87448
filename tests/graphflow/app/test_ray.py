"""graphflow on a local two-node Ray cluster: batch tasks and stream actors that survive a kill."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib
import signal
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
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

from graphflow.app.batch import run_batch  # noqa: E402
from graphflow.app.net import Sender, StreamServer, jpeg  # noqa: E402
from graphflow.app.net.client import mjpeg_frames, sse_events  # noqa: E402
from graphflow.app.net.policy import Access  # noqa: E402
from graphflow.app.net.runner import ActorGraph  # noqa: E402
from graphflow.app.net.streams_api import StreamManager, StreamSpec  # noqa: E402

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


IMAGE = np.zeros((48, 64, 3), np.uint8)
IMAGE[:, :32] = (250, 20, 20)


async def frames() -> AsyncIterator[tuple[int, bytes]]:
    """IMAGE as JPEG at 50 fps."""
    data = jpeg.encode(IMAGE, 95)
    start = time.time_ns() // 1000  # near the server's clock
    for index in range(100_000):
        yield start + index, data
        await asyncio.sleep(0.02)


async def until(predicate: Any, what: str) -> None:
    for _ in range(3000):  # a bound against hangs (60 s), not a timed assertion
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"still waiting: {what}")


def actor(runner: Any) -> ActorGraph:
    """The Ray worker of a channel runner."""
    assert runner is not None and isinstance(runner.worker, ActorGraph)
    return runner.worker


def parent_pid(pid: int) -> int:
    """The parent of a process (a Ray worker's parent is its node's raylet)."""
    return int(pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_stream_actor_killed_mid_stream_is_restarted_and_the_stream_resumes(
        cluster: Any, tmp_path: pathlib.Path) -> None:
    graph = tmp_path / "pass.pbtxt"
    graph.write_text(PASS_THROUGH)
    image = IMAGE

    async def main() -> tuple[int, int, list[str], bytes, dict[str, Any]]:
        server = StreamServer(PASS_THROUGH, access=Access(graphs_dir=tmp_path))
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
            second_pid = await actor(stream.runner).call("pid")
            assert stream.worker_pid == second_pid  # also when it died between two frames
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
    assert "actor_restarted" in kinds
    if "actor_lost" in kinds:  # it died with a frame in flight
        assert kinds.index("actor_lost") < kinds.index("actor_restarted")
    assert described["ray"] is True
    np.testing.assert_allclose(jpeg.decode(processed).astype(float).mean(axis=(0, 1)),
                               image.astype(float).mean(axis=(0, 1)), atol=4)


def test_an_actor_restarted_between_frames_reports_its_new_process(
        cluster: Any, tmp_path: pathlib.Path) -> None:
    """Killed after the sender stopped, the actor is restarted by Ray before the next frame
    reaches it: the stream still learns its new process, from that frame. (Rarely the last frame
    is still in flight at the kill; the stream then learns it through actor_lost.)"""
    graph = tmp_path / "pass.pbtxt"
    graph.write_text(PASS_THROUGH)

    async def send_until(stream: Any, count: int, server: Any) -> None:
        task = asyncio.ensure_future(
            Sender("127.0.0.1", server.ingest_port, "cam").run(frames()))
        await until(lambda: stream.frames >= count, f"{count} frames through the actor")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        seen = -1
        while seen != stream.frames:  # until the frames already sent have gone through
            seen = stream.frames
            await asyncio.sleep(0.2)

    async def main() -> tuple[int, int, int | None, list[str]]:
        server = StreamServer(PASS_THROUGH, access=Access(graphs_dir=tmp_path))
        manager = StreamManager(server, ray_address=cluster.address)
        async with server:
            await manager.add(StreamSpec("cam", str(graph), "push"))
            stream = manager.streams["cam"]
            await send_until(stream, 3, server)
            first = stream.worker_pid
            assert first is not None
            os.kill(first, signal.SIGKILL)  # no frame in flight
            await asyncio.wait_for(until_restarted(stream.runner, first), 60)
            second = await actor(stream.runner).call("pid")
            await send_until(stream, stream.frames + 3, server)
            return first, second, stream.worker_pid, [e["type"] for e in stream.history]

    first, second, listed, kinds = asyncio.run(main())
    assert second != first and listed == second
    assert "actor_restarted" in kinds and "failed" not in kinds


SIZED = PASS_THROUGH + """
output_stream: "size"
node { calculator: "ImagePropertiesCalculator" input_stream: "IMAGE:input_video"
       output_stream: "SIZE:size" }
"""


def test_pushed_channel_runs_in_an_actor_while_watched_and_resumes_after_a_kill(
        cluster: Any) -> None:
    """``graphflow serve --ray`` with a plain ``graphflow send``: no managed stream."""

    async def main() -> dict[str, Any]:
        server = StreamServer(SIZED)
        manager = StreamManager(server, ray_address=cluster.address)
        report: dict[str, Any] = {}
        async with server, aiohttp.ClientSession() as session:
            base = f"http://127.0.0.1:{server.http_port}"

            async def listed() -> dict[str, Any]:
                async with session.get(f"{base}/streams") as response:
                    return next(s for s in await response.json() if s["name"] == "cam")

            sender = asyncio.ensure_future(
                Sender("127.0.0.1", server.ingest_port, "cam").run(frames()))
            await until(lambda: "cam" in server.channel_names()
                        and server._channels["cam"].frames >= 3, "frames from the sender")
            report["unwatched"] = await listed()
            with manager.events.subscribe() as events:
                async with session.get(f"{base}/face_stream?name=cam") as video:
                    processed = mjpeg_frames(video)
                    first = await anext(processed)
                    async with session.get(f"{base}/results?name=cam") as results:
                        report["result"] = await anext(sse_events(results))
                    run = server._channels["cam"].runner
                    assert run is not None
                    report["first_pid"] = (await listed())["worker_pid"]
                    handle = actor(run).handle
                    os.kill(report["first_pid"], signal.SIGKILL)  # the actor dies mid-stream
                    await asyncio.wait_for(until_restarted(run, report["first_pid"]), 60)
                    report["second_pid"] = await actor(run).call("pid")
                    after = [await asyncio.wait_for(anext(processed), 30) for _ in range(5)]
                    report["resumed_listed"] = await listed()
                await until(lambda: server._channels["cam"].runner is None, "the run stopped")
                report["unwatched_again"] = await listed()
                await asyncio.wait_for(until_dead(handle), 60)  # killed when the last one left
                kinds = []
                with contextlib.suppress(TimeoutError):
                    while (event := await events.get(0.5)) is not None:
                        kinds.append(json.loads(event)["type"])
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        report.update(first=first, after=after, kinds=kinds)
        return report

    report = asyncio.run(main())
    assert not report["unwatched"]["processing"] and report["unwatched"]["worker_pid"] is None
    assert report["first_pid"] not in (None, os.getpid())
    assert report["second_pid"] not in (report["first_pid"], os.getpid())
    assert report["resumed_listed"]["processing"] is True
    assert not report["unwatched_again"]["processing"]
    assert report["result"]["stream"] == "size" and report["result"]["value"] == [64, 48]
    timestamps = [f.timestamp for f in report["after"]]
    assert timestamps == sorted(timestamps) and timestamps[0] > report["first"].timestamp
    for frame in [report["first"], *report["after"]]:
        np.testing.assert_allclose(jpeg.decode(frame.jpeg).astype(float).mean(axis=(0, 1)),
                                   IMAGE.astype(float).mean(axis=(0, 1)), atol=4)
    kinds = report["kinds"]
    assert kinds[0] == "started" and "failed" not in kinds
    assert "actor_restarted" in kinds  # whether a frame was in flight when it died or not
    if "actor_lost" in kinds:  # a frame was in flight when the actor died (the usual case)
        assert kinds.index("actor_lost") < kinds.index("actor_restarted")
    assert report["resumed_listed"]["worker_pid"] == report["second_pid"]


async def until_restarted(run: Any, pid: int) -> None:
    """Until the run's actor answers from a process other than ``pid``."""
    while True:
        try:
            if await actor(run).call("pid") != pid:
                return
        except ray.exceptions.RayError:
            pass
        await asyncio.sleep(0.1)


async def until_dead(handle: Any) -> None:
    """Until an actor answers with RayActorError (``ray.kill`` takes effect asynchronously)."""
    while True:
        try:
            await handle.pid.remote()
        except ray.exceptions.RayActorError:
            return
        await asyncio.sleep(0.1)


def test_a_node_lost_moves_its_stream_and_leaves_the_other_alone(
        cluster: Any, tmp_path: pathlib.Path) -> None:
    """Runs last in this module: it removes the second node (and adds a fresh one back)."""
    graph = tmp_path / "pass.pbtxt"
    graph.write_text(PASS_THROUGH)
    raylets = {node.all_processes["raylet"][0].process.pid: node
               for node in cluster.list_all_nodes()}
    head_raylet = cluster.head_node.all_processes["raylet"][0].process.pid

    async def main() -> dict[str, Any]:
        server = StreamServer(PASS_THROUGH, access=Access(graphs_dir=tmp_path))
        manager = StreamManager(server, ray_address=cluster.address)
        report: dict[str, Any] = {}
        async with server:
            senders = []
            hosts: dict[str, int] = {}
            # Streams until one actor sits on each node: SPREAD alternates, but not strictly
            # (rarely, 4 actors in a row landed on one node), hence up to 6.
            for index in range(6):
                name = f"s{index}"
                await manager.add(StreamSpec(name, str(graph), "push"))
                senders.append(asyncio.ensure_future(
                    Sender("127.0.0.1", server.ingest_port, name).run(frames())))
                stream = manager.streams[name]
                await until(lambda s=stream: s.frames >= 5, f"{name} running")  # type: ignore
                hosts[name] = parent_pid(stream.worker_pid)  # type: ignore[arg-type]
                if set(hosts.values()) == set(raylets):
                    break
            if set(hosts.values()) != set(raylets):
                # Ray's SPREAD is best effort: in about 1 run in 20 every actor went to one
                # node, and then no stream can lose its node. Nothing was tested: say so.
                report["placement"] = f"actors on {hosts}, nodes {raylets}"
                for task in senders:
                    task.cancel()
                await asyncio.gather(*senders, return_exceptions=True)
                return report
            streams = list(manager.streams.values())
            moved = next(s for s in streams if hosts[s.spec.name] != head_raylet)
            stayed = next(s for s in streams if hosts[s.spec.name] == head_raylet)
            before = {s.spec.name: (s.frames, s.worker_pid) for s in streams}
            cluster.remove_node(raylets[hosts[moved.spec.name]])
            await until(lambda: moved.frames >= before[moved.spec.name][0] + 10,
                        "the moved stream resumes")
            report = {
                "moved_pid": moved.worker_pid, "moved_before": before[moved.spec.name][1],
                "moved_host": parent_pid(moved.worker_pid),  # type: ignore[arg-type]
                "stayed_pid": stayed.worker_pid, "stayed_before": before[stayed.spec.name][1],
                "stayed_frames": stayed.frames - before[stayed.spec.name][0],
                "moved_kinds": [e["type"] for e in moved.history],
                "stayed_kinds": [e["type"] for e in stayed.history]}
            for task in senders:
                task.cancel()
            await asyncio.gather(*senders, return_exceptions=True)
        return report

    try:
        report = asyncio.run(main())
    finally:
        if len(cluster.list_all_nodes()) < 2:
            cluster.add_node(num_cpus=1, object_store_memory=STORE_BYTES)
    if "placement" in report:
        pytest.skip(f"Ray placed every stream on one node ({report['placement']})")
    assert report["moved_pid"] != report["moved_before"], report
    assert report["moved_host"] == head_raylet, report  # restarted on the node that is left
    assert "actor_restarted" in report["moved_kinds"], report
    assert "failed" not in report["moved_kinds"], report
    assert report["stayed_pid"] == report["stayed_before"], report
    assert report["stayed_frames"] >= 10, report
    assert not {"actor_lost", "failed", "restarting"} & set(report["stayed_kinds"]), report
