"""The streams API of ``graphflow serve``: managed streams over HTTP, their events, OpenAPI.

A managed stream (:class:`~graphflow.app.net.supervisor.ManagedStream`) has its own graph, side
packets and source and runs its graph on every frame; the raw, processed and results endpoints of
:class:`~graphflow.app.net.server.StreamServer` serve it as any channel. With a Ray address,
every stream's graph, managed or pushed, runs in a Ray actor
(:class:`~graphflow.app.net.runner.RayBackend`): Ray restarts it, on another node if its own is
gone, up to ``max_restarts`` times; frames in flight while it restarts are lost, then the stream
carries on.

HTTP (added to the server's application):

- ``POST /streams``: create a stream from ``{name, graph, source, side_packets, restart}``.
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

import dataclasses
import json
import logging
from typing import Any

from aiohttp import web

from graphflow.app.net.protocol import CHANNEL_PATTERN
from graphflow.app.net.runner import MAX_RESTARTS, RayBackend
from graphflow.app.net.server import StreamServer, serve_events
from graphflow.app.net.supervisor import RESTART_POLICIES, ManagedStream, StreamSpec
from graphflow.config import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["OPENAPI", "StreamManager", "StreamSpec"]


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
        if ray_address is not None:
            server.backend = RayBackend(ray_address, max_restarts)
        server.app_setup.append(self.setup)

    @property
    def events(self) -> Any:
        """The server's event broadcaster (what ``/events`` serves)."""
        return self.server.events

    async def add(self, spec: StreamSpec) -> ManagedStream:
        """Creates and starts a stream.

        Raises:
            KeyError: If a stream of that name exists.
            ConfigError, ValueError, FileNotFoundError: If the graph does not load or lacks
                the streams.
        """
        if spec.name in self.streams:
            raise KeyError(f"a stream named {spec.name!r} exists; DELETE it first")
        from graphflow.resources import find_graph

        spec = dataclasses.replace(spec, graph=str(find_graph(spec.graph)))
        await self.server.run_blocking(spec.graph_spec(self.server.quality).load)
        if spec.name in self.streams:
            raise KeyError(f"a stream named {spec.name!r} exists; DELETE it first")
        stream = ManagedStream(self.server, spec,
                               lambda kind, **fields: self.server.emit(spec.name, kind, **fields))
        self.streams[spec.name] = stream
        stream.emit("added", source=spec.source, graph=spec.graph, restart=spec.restart)
        stream.start()
        return stream

    async def remove(self, name: str) -> None:
        """Stops and forgets a stream.

        Raises:
            KeyError: If there is none of that name.
        """
        stream = self.streams.pop(name)
        await stream.stop()
        stream.emit("removed")
        self.server.release(stream.channel)

    async def close(self, app: web.Application | None = None) -> None:
        """Stops every stream (the server calls it on shutdown)."""
        for name in list(self.streams):
            await self.remove(name)

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
        self.server.check_viewer(request)
        try:
            spec = StreamSpec.from_json(await request.json())
        except json.JSONDecodeError as exc:
            return _error(400, f"the body is not JSON: {exc}")
        except ValueError as exc:
            return _error(400, str(exc))
        try:
            stream = await self.add(spec)
        except KeyError as exc:
            return _error(409, str(exc.args[0]))
        except (ConfigError, ValueError, FileNotFoundError) as exc:
            return _error(400, f"graph {spec.graph!r}: {exc}")
        return web.json_response(stream.describe(), status=201)

    def _stream(self, request: web.Request) -> ManagedStream:
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
        stream = self._stream(request)
        await self.remove(stream.spec.name)
        return web.json_response({"removed": stream.spec.name})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        self.server.check_viewer(request)
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
        "graph": {"type": "string", "description": "graph file or bundled graph name"},
        "source": {"type": "string", "default": "push",
                   "description": "push, rtsp:// or http:// URL, video file, camera[:N]"},
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
                                   "400": _ERROR, "409": _ERROR}},
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
