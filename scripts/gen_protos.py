"""Regenerate graphflow/proto/**/*_pb2.py (and .pyi stubs) from the .proto sources under proto/.

The generated modules are rewritten so that every message lives in graphflow's private
descriptor pool (``graphflow.proto._pool.POOL``) instead of protobuf's default pool: importing
graphflow next to the ``mediapipe`` package, which registers the same file and message names,
must not collide.

Usage:
    python scripts/gen_protos.py           # rewrite graphflow/proto/
    python scripts/gen_protos.py --check   # exit 1 if the committed files differ
"""

from __future__ import annotations

import argparse
import pathlib
import re
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "graphflow" / "proto"
PACKAGE_INIT = '"""Generated protobuf modules (see scripts/gen_protos.py)."""\n'


def _rewrite(source: str) -> str:
    """Points a generated module at the private pool and graphflow's package paths."""
    source = re.sub(r"^from mediapipe\.", "from graphflow.proto.mediapipe.", source, flags=re.M)
    source = re.sub(r"^import mediapipe\.", "import graphflow.proto.mediapipe.", source, flags=re.M)
    source = source.replace(
        "from google.protobuf import descriptor_pool as _descriptor_pool\n",
        "from graphflow.proto._pool import POOL as _POOL\n",
    )
    return source.replace("_descriptor_pool.Default()", "_POOL")


def generate() -> dict[pathlib.Path, str]:
    """Runs protoc on every .proto under proto/ and returns {output path: rewritten text}."""
    import grpc_tools
    from grpc_tools import protoc

    include = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    sources = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    with tempfile.TemporaryDirectory() as tmp:
        args = ["protoc", f"-I{PROTO_DIR}", f"-I{include}", f"--python_out={tmp}",
                f"--pyi_out={tmp}", *sources]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        result: dict[pathlib.Path, str] = {}
        for generated in sorted(pathlib.Path(tmp).rglob("*_pb2.py*")):
            rel = generated.relative_to(tmp)
            result[OUT_DIR / rel] = _rewrite(generated.read_text())
            for parent in rel.parents:
                if parent != pathlib.Path("."):
                    result[OUT_DIR / parent / "__init__.py"] = PACKAGE_INIT
    return result


def main() -> int:
    """Writes or checks the generated modules."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only compare with the committed files")
    args = parser.parse_args()
    files = generate()
    if args.check:
        stale = [p for p, text in files.items() if not p.exists() or p.read_text() != text]
        committed = set(OUT_DIR.rglob("*_pb2.py")) | set(OUT_DIR.rglob("*_pb2.pyi"))
        orphans = committed - set(files)
        for path in [*stale, *sorted(orphans)]:
            print(f"out of date: {path.relative_to(ROOT)}")
        return 1 if stale or orphans else 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(f"wrote {len(files)} files under {OUT_DIR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
