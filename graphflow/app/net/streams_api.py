"""The streams API of ``graphflow serve``: managed streams over HTTP, their events, OpenAPI.

A managed stream (:class:`~graphflow.app.net.supervisor.ManagedStream`) has its own graph, side
packets and source and runs its graph on every frame; the raw, processed and results endpoints of
:class:`~graphflow.app.net.server.StreamServer` serve it as any channel. With a Ray address,
every stream's graph, managed or pushed, runs in a Ray actor
(:class:`~graphflow.app.net.runner.RayBackend`): Ray restarts it, on another node if its own is
gone, up to ``max_restarts`` times; frames in flight while it restarts are lost, then the stream
carries on.

What a stream may run and read is the server's :class:`~graphflow.app.net.policy.Access`: a
bundled graph or a file under ``--graphs-dir``; network sources on public hosts, ``push`` and
``demo`` unless flags allow more. Creating and deleting streams takes the admin token (the token
when there is none); names are taken atomically (of concurrent creations of one name, one
succeeds and the others get 409), and at most ``--max-streams`` streams exist at once.

HTTP (added to the server's application):

- ``POST /streams``: create a stream from the JSON object ``{name, graph, source, side_packets,
  restart}`` (``Content-Type: application/json``).
- ``GET /streams``: the server's channel list; managed ones carry a ``managed`` object.
- ``GET /streams/{name}``, ``DELETE /streams/{name}``: one managed stream.
- ``GET /events``: server-sent events (``added``, ``started``, ``failed``, ``finished``,
  ``restarting``, ``source_retry``, ``actor_lost``, ``actor_restarted``, ``viewer_joined``,
  ``viewer_left``, ``removed``), one JSON object each.
- ``GET /openapi.json``: the OpenAPI 3 description of these endpoints.

Example:
    server = StreamServer("graphs/face_detection.pbtxt")
    manager = StreamManager(server)          # before server.start()
    async with server:
        await manager.add(StreamSpec("cam1", "face_detection", "rtsp://cam1/live",
                                     restart="always"))
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from typing import Any

from aiohttp import web

from graphflow.app.net.limits import DaemonPool
from graphflow.app.net.policy import RefusedError
from graphflow.app.net.protocol import CHANNEL_PATTERN
from graphflow.app.net.runner import MAX_RESTARTS, RayBackend
from graphflow.app.net.server import LimitError, StreamServer, serve_events
from graphflow.app.net.supervisor import RESTART_POLICIES, ManagedStream, StreamSpec
from graphflow.config import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["OPENAPI", "StreamManager", "StreamSpec"]

LOOKUP_THREADS = 2
"""Threads that resolve the host names of new streams' sources (a slow DNS holds one)."""


class StreamManager:
    """Managed streams of one :class:`StreamServer`; create it before the server starts.

    Args:
        server: The server whose HTTP application gets the streams API.
        ray_address: None runs graphs in this process; otherwise each stream's graph, managed
            or pushed, runs in a Ray actor on that cluster (``""``: ``RAY_ADDRESS`` or a new
            local one), connected to here and now.
        max_restarts: Restarts Ray grants each actor.
    """

    def __init__(self, server: StreamServer, *, ray_address: str | None = None,
                 max_restarts: int = MAX_RESTARTS) -> None:
        self.server = server
        self.streams: dict[str, ManagedStream] = {}
        self._reserved: set[str] = set()  # names of streams being created
        self._lookups = DaemonPool(LOOKUP_THREADS, "graphflow-lookup")  # of source host names
        if ray_address is not None:
            server.backend = RayBackend(ray_address, max_restarts, server.limits.stop_timeout)
        server.app_setup.append(self.setup)

    @property
    def events(self) -> Any:
        """The server's event broadcaster (what ``/events`` serves)."""
        return self.server.events

    async def add(self, spec: StreamSpec) -> ManagedStream:
        """Creates and starts a stream, once its graph and source are allowed and the graph
        loads.

        Raises:
            KeyError: If a stream of that name exists or is being created.
            LimitError: If there are ``limits.max_streams`` streams, or as many channels as
                allowed, or the server is shutting down.
            RefusedError: If the access settings do not allow the graph or the source.
            ConfigError, ValueError: If the graph does not load or lacks the streams.
        """
        if self.server.closing:
            raise LimitError("the server is shutting down")
        if spec.name in self.streams or spec.name in self._reserved:
            raise KeyError(f"a stream named {spec.name!r} exists; DELETE it first")
        limit = self.server.limits.max_streams
        if len(self.streams) + len(self._reserved) >= limit:
            raise LimitError(f"the server has {limit} managed streams, its limit (--max-streams)")
        self._reserved.add(spec.name)
        try:
            return await self._create(spec)
        finally:
            self._reserved.discard(spec.name)

    async def _create(self, spec: StreamSpec) -> ManagedStream:
        server = self.server
        spec = dataclasses.replace(spec, graph=str(server.access.graph_file(spec.graph)))
        server.access.check_source(spec.source)
        if server.access.needs_lookup(spec.source):
            try:  # a name that resolves to a private address is refused now; one that does
                # not resolve yet (or slowly) is checked again each time the stream opens it
                await self._lookups.run(server.access.check_source_host, spec.source,
                                        timeout=server.limits.source_timeout)
            except RefusedError:
                raise
            except (ValueError, TimeoutError):
                pass
        await server.run_blocking(spec.graph_spec(server.quality).load)
        stream = ManagedStream(server, spec,
                               lambda kind, **fields: server.emit(spec.name, kind, **fields))
        self.streams[spec.name] = stream
        stream.emit("added", source=spec.source, graph=spec.graph, restart=spec.restart)
        stream.start()
        return stream

    async def remove(self, name: str) -> None:
        """Stops and forgets a stream.

        Raises:
            KeyError: If there is none of that name.
        """
        await self._stop(self.streams.pop(name))

    async def _stop(self, stream: ManagedStream) -> None:
        await stream.stop()
        stream.emit("removed")
        self.server.release(stream.channel)

    async def close(self, app: web.Application | None = None) -> None:
        """Stops every stream, all at once (the server calls it on shutdown)."""
        streams = list(self.streams.values())
        self.streams.clear()
        await asyncio.gather(*(self._stop(stream) for stream in streams))
        self._lookups.shutdown()

    # ------------------------------------------------------------------ HTTP

    def setup(self, app: web.Application) -> None:
        """Adds the streams API to the server's application."""
        app.router.add_post("/streams", self._post)
        app.router.add_get("/streams/{name}", self._get)
        app.router.add_delete("/streams/{name}", self._delete)
        app.router.add_get("/events", self._events)
        app.router.add_get("/openapi.json", self._openapi)
        app.on_shutdown.append(self.close)

    async def _post(self, request: web.Request) -> web.Response:
        self.server.check_admin(request)
        if request.content_type != "application/json":  # no form or text/plain: no CSRF
            return _error(415, f"the body must be JSON (Content-Type: application/json), got "
                               f"{request.content_type!r}")
        try:
            body = json.loads(await request.text())
        except (ValueError, RecursionError) as exc:
            return _error(400, f"the body is not JSON: {type(exc).__name__}: {str(exc)[:200]}")
        try:
            spec = StreamSpec.from_json(body)
        except ValueError as exc:
            return _error(400, str(exc))
        try:
            stream = await self.add(spec)
        except KeyError as exc:
            return _error(409, str(exc.args[0]))
        except LimitError as exc:
            return _error(429, str(exc))
        except RefusedError as exc:
            return _error(400, str(exc))
        except (ConfigError, ValueError) as exc:
            return _error(400, f"graph {spec.graph!r}: {exc}")
        return web.json_response(stream.describe(), status=201)

    def _stream(self, request: web.Request, admin: bool = False) -> ManagedStream:
        if admin:
            self.server.check_admin(request)
        else:
            self.server.check_viewer(request)
        name = request.match_info["name"]
        stream = self.streams.get(name)
        if stream is None:
            raise web.HTTPNotFound(text=json.dumps({"error": f"no managed stream {name!r}"}),
                                   content_type="application/json")
        return stream

    async def _get(self, request: web.Request) -> web.Response:
        stream = self._stream(request)
        return web.json_response({**stream.describe(), "events": list(stream.history)})

    async def _delete(self, request: web.Request) -> web.Response:
        stream = self._stream(request, admin=True)
        await self.remove(stream.spec.name)
        return web.json_response({"removed": stream.spec.name})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        self.server.check_viewer(request)
        self.server.admit_viewer(None)
        return await serve_events(request, self.server.events)

    async def _openapi(self, request: web.Request) -> web.Response:
        return web.json_response(OPENAPI)


def _error(status: int, text: str) -> web.Response:
    return web.json_response({"error": text}, status=status)


_SPEC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "graph"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": f"^{CHANNEL_PATTERN}$"},
        "graph": {"type": "string",
                  "description": "bundled graph name, or a file under the server's --graphs-dir"},
        "source": {"type": "string", "default": "push",
                   "description": "push, demo, or a rtsp(s)://, rtmp(s)://, srt:// or http(s):// "
                                  "URL on a public host; files, folders and cameras with "
                                  "--allow-local-sources"},
        "side_packets": {"type": "object", "default": {}},
        "restart": {"type": "string", "enum": list(RESTART_POLICIES), "default": "never"},
        "input_stream": {"type": "string", "default": "input_video"},
        "video_stream": {"type": "string", "default": "output_video"},
    },
}
_ERROR = {"description": "what was wrong",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_STATE = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Stream"}}}}

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "graphflow serve: managed streams", "version": "1"},
    "components": {
        "schemas": {
            "StreamSpec": _SPEC_SCHEMA,
            "Stream": {"allOf": [{"$ref": "#/components/schemas/StreamSpec"}, {
                "type": "object",
                "properties": {
                    "state": {"type": "string", "enum": ["starting", "running", "restarting",
                                                         "failed", "finished", "stopped"]},
                    "restarts": {"type": "integer"}, "frames": {"type": "integer"},
                    "frames_lost": {"type": "integer"}, "last_error": {"type": "string"},
                    "worker_pid": {"type": "integer", "nullable": True},
                    "ray": {"type": "boolean"}}}]},
            "Error": {"type": "object", "properties": {"error": {"type": "string"}}},
        },
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    },
    "paths": {
        "/streams": {
            "get": {"summary": "every channel; managed ones carry 'managed'",
                    "responses": {"200": {"description": "channels"}}},
            "post": {"summary": "create a managed stream",
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/StreamSpec"}}}},
                     "responses": {"201": {"description": "created", **_STATE},
                                   "400": _ERROR, "401": _ERROR, "409": _ERROR,
                                   "415": _ERROR, "429": _ERROR}},
        },
        "/streams/{name}": {
            "parameters": [{"name": "name", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "get": {"summary": "a managed stream with its recent events",
                    "responses": {"200": {"description": "the stream", **_STATE},
                                  "404": _ERROR}},
            "delete": {"summary": "stop and remove a managed stream",
                       "responses": {"200": {"description": "removed"}, "404": _ERROR}},
        },
        "/events": {
            "get": {"summary": "stream events as server-sent events (one JSON object each)",
                    "responses": {"200": {"description": "text/event-stream",
                                          "content": {"text/event-stream": {}}}}},
        },
    },
}
