"""Graph configs: MediaPipe's schema, stream syntax, validation messages, subgraphs."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sysconfig
import textwrap
from collections.abc import Iterable
from typing import Any

import pytest

import graphflow as gf
from graphflow.config import (
    ConfigError,
    expand_and_validate,
    load_config,
    parse_stream_list,
    parse_tag_index_name,
    register_subgraph,
)
from graphflow.proto.mediapipe.calculators.core import (
    flow_limiter_calculator_pb2,
    gate_calculator_pb2,
)
from graphflow.testing import payloads, run_graph, timestamps

REPO = pathlib.Path(__file__).resolve().parents[2]

MEDIAPIPE_STYLE = """\
# A graph written the way MediaPipe's own graph files are.
input_stream: "input_video"
input_stream: "allow"
output_stream: "output_video"
max_queue_size: 4
num_threads: 2

node {
  calculator: "FlowLimiterCalculator"
  input_stream: "input_video"
  input_stream: "FINISHED:output_video"
  input_stream_info: { tag_index: "FINISHED" back_edge: true }
  output_stream: "throttled_input_video"
  options: {
    [mediapipe.FlowLimiterCalculatorOptions.ext] {
      max_in_flight: 3
      max_in_queue: 1
    }
  }
}

node: {
  name: "gate"
  calculator: "GateCalculator"
  input_stream: "throttled_input_video"
  input_stream: "ALLOW:allow"
  output_stream: "output_video"
  node_options: {
    [type.googleapis.com/mediapipe.GateCalculatorOptions] {
      empty_packets_as_allow: true
    }
  }
}
"""


# --------------------------------------------------------------------------- schema


def test_mediapipe_style_options_and_node_options() -> None:
    config = load_config(MEDIAPIPE_STYLE)
    assert config.proto.max_queue_size == 4 and config.proto.num_threads == 2
    graph = expand_and_validate(config)
    limiter, gate = graph.nodes
    assert isinstance(limiter.options, flow_limiter_calculator_pb2.FlowLimiterCalculatorOptions)
    assert (limiter.options.max_in_flight, limiter.options.max_in_queue) == (3, 1)
    assert limiter.back_edges == {("FINISHED", 0)}
    assert limiter.handler == "ImmediateInputStreamHandler"  # the calculator's default
    assert isinstance(gate.options, gate_calculator_pb2.GateCalculatorOptions)
    assert gate.options.empty_packets_as_allow and not gate.options.allow
    assert gate.name == "gate" and limiter.name == "FlowLimiterCalculator"
    assert str(limiter.location) == "<string>:8:1" and str(gate.location) == "<string>:22:1"


def test_binarypb_round_trip(tmp_path: pathlib.Path) -> None:
    text = load_config(MEDIAPIPE_STYLE)
    path = tmp_path / "graph.binarypb"
    path.write_bytes(text.proto.SerializeToString())
    binary = load_config(path)
    assert binary.proto == text.proto
    assert binary.source == str(path)
    assert load_config(path.read_bytes()).proto == text.proto
    # The same graph runs from either form with the same results.
    inputs: dict[str, Iterable[tuple[int, Any]]] = {
        "input_video": [(t, t * 10) for t in range(5)], "allow": [(2, False)]}
    expected = [0, 10, 30, 40]
    for config in (MEDIAPIPE_STYLE, binary):
        out = run_graph(config, inputs=inputs)["output_video"]
        assert payloads(out) == expected


def test_binarypb_garbage_is_a_config_error(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "broken.binarypb"
    path.write_bytes(b"\xff\xff\xff")
    with pytest.raises(ConfigError, match=r"broken\.binarypb: not a binary CalculatorGraphConfig"):
        load_config(path)


def test_pbtxt_syntax_error_has_line_and_column(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "bad.pbtxt"
    path.write_text('input_stream: "in"\nnode {\n  calculator: "PassThroughCalculator"\n'
                    '  input_stream "in"\n}\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:4:")
    assert info.value.node == "PassThroughCalculator"


MEDIAPIPE_PROBE = """
import sys
order = sys.argv[1]
sys.path.append(sys.argv[2])  # graphflow's other dependencies, after mediapipe's own
if order == "mediapipe-first":
    import mediapipe
    from mediapipe.framework import calculator_pb2 as mp_pb2
import importlib.util
import graphflow as gf
import graphflow.calculator
from graphflow.config import load_config
# Only the core calculators (GateCalculator), loaded from their file: the calculators package
# imports every module, some of them onnx, whose build in .venv needs numpy 2, and the
# reference venv has numpy 1.
spec = importlib.util.spec_from_file_location("core_flow", sys.argv[3])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
graphflow.calculator._BUILTINS_LOADED = True
if order == "graphflow-first":
    import mediapipe
    from mediapipe.framework import calculator_pb2 as mp_pb2
from google.protobuf import text_format
text = '''
input_stream: "in"
output_stream: "out"
node {
  calculator: "GateCalculator"
  input_stream: "in"
  output_stream: "out"
  options { [mediapipe.GateCalculatorOptions.ext] { allow: true } }
}
'''
ours = load_config(text).proto
assert type(ours).DESCRIPTOR.full_name == mp_pb2.CalculatorGraphConfig.DESCRIPTOR.full_name
assert type(ours) is not mp_pb2.CalculatorGraphConfig
theirs = mp_pb2.CalculatorGraphConfig.FromString(ours.SerializeToString())
assert [n.calculator for n in theirs.node] == ["GateCalculator"]
assert load_config(theirs.SerializeToString()).proto == ours
out = []
graph = gf.CalculatorGraph(graph_config=text)
graph.observe_output_stream("out", lambda name, packet: out.append(packet.payload))
graph.start_run()
graph.add_packet_to_input_stream("in", gf.Packet(7).at(0))
graph.close()
assert out == [7], out
print("OK", mediapipe.__version__)
"""


@pytest.mark.parametrize("order", ["mediapipe-first", "graphflow-first"])
def test_mediapipe_in_the_same_process(order: str, tmp_path: pathlib.Path,
                                       mediapipe_python: pathlib.Path) -> None:
    python = mediapipe_python
    # .venv-mp pins protobuf 4 for mediapipe 0.10.21, but graphflow's generated code needs the
    # protobuf 7 runtime: put this interpreter's protobuf first on the path of the subprocess,
    # and this interpreter's packages last (mediapipe keeps its own numpy and OpenCV).
    import google.protobuf

    google_dir = pathlib.Path(google.protobuf.__file__).resolve().parents[1]
    shim = tmp_path / "google"
    shim.mkdir()
    for name in ("protobuf", "_upb"):
        (shim / name).symlink_to(google_dir / name)
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{REPO}")
    result = subprocess.run([str(python), "-c", MEDIAPIPE_PROBE, order,
                             sysconfig.get_paths()["purelib"],
                             str(REPO / "calculators" / "core" / "flow.py")], env=env,
                            capture_output=True, text=True, timeout=100, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OK 0.10.21" in result.stdout


# --------------------------------------------------------------------------- stream syntax


@pytest.mark.parametrize(("spec", "parsed"), [
    ("a", ("", None, "a")),
    ("_under_9", ("", None, "_under_9")),
    ("IMAGE:image", ("IMAGE", None, "image")),
    ("_T2:x", ("_T2", None, "x")),
    ("TENSORS:0:t", ("TENSORS", 0, "t")),
    ("TENSORS:12:t", ("TENSORS", 12, "t")),
])
def test_stream_syntax_valid(spec: str, parsed: tuple[str, int | None, str]) -> None:
    assert parse_tag_index_name(spec) == parsed


@pytest.mark.parametrize(("spec", "complaint"), [
    ("Image", "the name 'Image' must match"),
    ("9a", "the name '9a' must match"),
    ("a-b", "the name 'a-b' must match"),
    ("", "the name '' must match"),
    ("image:x", "the tag 'image' must match"),
    ("IMAGE:", "the name '' must match"),
    ("TAG:01:x", "the index '01' must be"),
    ("TAG:-1:x", "the index '-1' must be"),
    ("A:1:b:c", "expected 'name', 'TAG:name' or 'TAG:index:name'"),
])
def test_stream_syntax_invalid(spec: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_tag_index_name(spec)


def test_stream_list_numbering_follows_mediapipe() -> None:
    specs = parse_stream_list(["a", "TAG:b", "c", "TAG:1:d", "OTHER:e"])
    assert [(s.tag, s.index, s.name) for s in specs] == [
        ("", 0, "a"), ("TAG", 0, "b"), ("", 1, "c"), ("TAG", 1, "d"), ("OTHER", 0, "e")]
    # TAG:name is TAG:0 (tool/tag_map.cc): given twice, it is a conflict.
    with pytest.raises(ValueError, match=r"'TAG:b': port TAG:0 is already given by 'TAG:a'"):
        parse_stream_list(["TAG:a", "TAG:b"])
    with pytest.raises(ValueError, match="tag TAG has no index 1"):
        parse_stream_list(["TAG:0:a", "TAG:2:b"])


# --------------------------------------------------------------------------- validation


def _error(tmp_path: pathlib.Path, text: str) -> ConfigError:
    path = tmp_path / "graph.pbtxt"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    with pytest.raises(ConfigError) as info:
        gf.CalculatorGraph.from_file(path)
    return info.value


def _where(tmp_path: pathlib.Path, line: int, col: int) -> str:
    return f"{tmp_path / 'graph.pbtxt'}:{line}:{col}"


def test_error_unknown_calculator(tmp_path: pathlib.Path) -> None:
    err = _error(tmp_path, """
        input_stream: "in"
        node {
          calculator: "PassThruCalculator"
          input_stream: "in"
          output_stream: "out"
        }
        """)
    assert str(err) == (f"{_where(tmp_path, 3, 15)}: node PassThruCalculator: unknown calculator "
                        "'PassThruCalculator' (did you mean 'PassThroughCalculator'?)")


def test_error_unknown_tag(tmp_path: pathlib.Path) -> None:
    err = _error(tmp_path, """
        input_stream: "in"
        input_stream: "allow"
        node {
          name: "my_gate"
          calculator: "GateCalculator"
          input_stream: "in"
          input_stream: "ALOW:allow"
          output_stream: "out"
        }
        """)
    assert str(err).startswith(f"{_where(tmp_path, 7, 17)}: node my_gate: GateCalculator has "
                               "no input stream with tag 'ALOW'")
    assert "(did you mean 'ALLOW'?)" in str(err)


def test_error_stream_produced_twice(tmp_path: pathlib.Path) -> None:
    err = _error(tmp_path, """
        input_stream: "in"
        node { name: "first" calculator: "PassThroughCalculator"
               input_stream: "in" output_stream: "out" }
        node { name: "second" calculator: "PassThroughCalculator"
               input_stream: "in" output_stream: "out" }
        """)
    assert str(err) == (f"{_where(tmp_path, 5, 42)}: node second: output stream 'out' is "
                        f"already produced by node 'first' at {_where(tmp_path, 2, 1)}")


def test_error_graph_input_produced_again(tmp_path: pathlib.Path) -> None:
    err = _error(tmp_path, """
        input_stream: "in"
        node { calculator: "PassThroughCalculator" input_stream: "in" output_stream: "in" }
        """)
    assert "node PassThroughCalculator: output stream 'in' is already produced by the " \
        "graph's input_stream" in str(err)
    assert str(err).startswith(_where(tmp_path, 2, 78))


def test_error_input_without_producer(tmp_path: pathlib.Path) -> None:
    err = _error(tmp_path, """
        input_stream: "image"
        node {
          calculator: "PassThroughCalculator"
          input_stream: "imag"
          output_stream: "out"
        }
        """)
    assert str(err) == (f"{_where(tmp_path, 4, 17)}: node PassThroughCalculator: input stream "
                        "'imag' has no producer: no node outputs it and it is not a graph "
                        "input_stream (did you mean 'image'?)")


def test_error_missing_side_packet(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "graph.pbtxt"
    path.write_text('input_stream: "tick"\ninput_side_packet: "value"\n'
                    'node {\n  calculator: "SidePacketToStreamCalculator"\n'
                    '  input_stream: "TICK:tick"\n  input_side_packet: "value"\n'
                    '  output_stream: "AT_TICK:out"\n}\n')
    graph = gf.CalculatorGraph.from_file(path)
    with pytest.raises(ValueError) as info:
        graph.start_run()  # the graph declares the side packet, but none is given
    assert str(info.value) == ("missing input side packet(s): 'value' (needed by node "
                               f"'SidePacketToStreamCalculator' at {path}:3:1)")
    graph.start_run({"value": "v"})
    graph.add_packet_to_input_stream("tick", gf.Packet(0).at(4))
    graph.close()


def test_connected_side_packet_is_required_unless_missing_ok() -> None:
    """MediaPipe's rule (ValidateRequiredSidePackets): a side packet a node connects must be
    given, even on a port the node may leave unconnected (ThresholdingCalculator's THRESHOLD);
    only a port whose packet type is Optional() may go without (DefaultSidePacketCalculator's
    OPTIONAL_VALUE: tests/calculators/core/test_side_packet.py)."""
    graph = gf.CalculatorGraph(graph_config="""
    input_stream: "value"
    input_side_packet: "threshold"
    node { calculator: "ThresholdingCalculator" input_stream: "FLOAT:value"
           input_side_packet: "THRESHOLD:threshold" output_stream: "FLAG:flag" }
    """)
    with pytest.raises(ValueError, match=r"missing input side packet\(s\): 'threshold'"):
        graph.start_run()


def test_error_cycle_without_back_edge(tmp_path: pathlib.Path) -> None:
    text = """
        input_stream: "in"
        node {
          calculator: "PassThroughCalculator"
          input_stream: "in"
          input_stream: "loop"
          output_stream: "a"
          output_stream: "b"
        }
        node {
          name: "back"
          calculator: "PassThroughCalculator"
          input_stream: "a"
          output_stream: "loop"
        }
        """
    err = _error(tmp_path, text)
    assert str(err) == (f"{_where(tmp_path, 5, 17)}: node PassThroughCalculator: cycle through "
                        "input stream 'loop': mark the stream that goes back with "
                        "input_stream_info { tag_index: ':1' back_edge: true }")
    # The fix the message suggests makes the graph valid.
    fixed = textwrap.dedent(text).replace(
        '  output_stream: "b"\n',
        '  output_stream: "b"\n  input_stream_info { tag_index: ":1" back_edge: true }\n')
    assert gf.CalculatorGraph(graph_config=fixed).validated.nodes[0].back_edges == {("", 1)}


@pytest.mark.parametrize("block", [
    "options { [mediapipe.GateCalculatorOptions.ext] { alow: true } }",
    "node_options { [type.googleapis.com/mediapipe.GateCalculatorOptions] { alow: true } }",
])
def test_error_bad_option_field(tmp_path: pathlib.Path, block: str) -> None:
    err = _error(tmp_path, f"""
        input_stream: "in"
        node {{
          name: "gate"
          calculator: "GateCalculator"
          input_stream: "in"
          output_stream: "out"
          {block}
        }}
        """)
    col = block.index("alow") + 3
    assert str(err) == (f"{_where(tmp_path, 7, col)}: node gate: Message type "
                        "\"mediapipe.GateCalculatorOptions\" has no field named \"alow\". "
                        "(did you mean 'allow'?)")


@pytest.mark.parametrize(("name", "hint"), [
    ("GateCalculatorOptons", "(did you mean 'GateCalculatorOptions'?)"),
    ("NoSuchOptions", "(no calculator in graphflow defines these options)"),
])
def test_error_unknown_options_extension(tmp_path: pathlib.Path, name: str, hint: str) -> None:
    err = _error(tmp_path, f"""
        input_stream: "in"
        node {{ calculator: "GateCalculator" input_stream: "in" output_stream: "out"
               options {{ [mediapipe.{name}.ext] {{ allow: true }} }} }}
        """)
    assert str(err) == (f"{_where(tmp_path, 3, 30 + len(name))}: node GateCalculator: "
                        f"Extension \"mediapipe.{name}.ext\" not registered. {hint}")


def test_error_options_of_another_calculator(tmp_path: pathlib.Path) -> None:
    err = _error(tmp_path, """
        input_stream: "in"
        node {
          calculator: "GateCalculator"
          input_stream: "in"
          output_stream: "out"
          options { [mediapipe.FlowLimiterCalculatorOptions.ext] { max_in_flight: 2 } }
        }
        """)
    assert str(err) == (f"{_where(tmp_path, 6, 11)}: node GateCalculator: GateCalculator takes "
                        "options mediapipe.GateCalculatorOptions, not "
                        "mediapipe.FlowLimiterCalculatorOptions")


def test_error_bad_stream_name_and_missing_port(tmp_path: pathlib.Path) -> None:
    err = _error(tmp_path, """
        input_stream: "in"
        node { calculator: "PassThroughCalculator" input_stream: "In" output_stream: "out" }
        """)
    assert str(err) == (f"{_where(tmp_path, 2, 58)}: node PassThroughCalculator: 'In': the name "
                        "'In' must match [a-z_][a-z0-9_]*")
    err = _error(tmp_path, """
        input_stream: "in"
        node { calculator: "ClipVectorSizeCalculator" output_stream: "out" }
        """)
    assert str(err) == (f"{_where(tmp_path, 2, 1)}: node ClipVectorSizeCalculator: "
                        "ClipVectorSizeCalculator needs the input stream (untagged), which the "
                        "node does not connect")


def test_error_contract_and_handler(tmp_path: pathlib.Path) -> None:
    err = _error(tmp_path, """
        input_stream: "in"
        node { name: "pass" calculator: "PassThroughCalculator"
               input_stream: "in" output_stream: "out" output_stream: "more" }
        """)
    assert str(err).startswith(f"{_where(tmp_path, 2, 1)}: node pass: PassThroughCalculator: "
                               "inputs [0] and outputs [0, 1] must have the same tags")
    err = _error(tmp_path, """
        input_stream: "in"
        node {
          calculator: "PassThroughCalculator"
          input_stream: "in"
          output_stream: "out"
          input_stream_handler { input_stream_handler: "ImmediateInputStreamHandlr" }
        }
        """)
    assert str(err) == (f"{_where(tmp_path, 6, 24)}: node PassThroughCalculator: unknown input "
                        "stream handler 'ImmediateInputStreamHandlr' (did you mean "
                        "'ImmediateInputStreamHandler'?)")
    err = _error(tmp_path, """
        input_stream: "in"
        node {
          calculator: "PassThroughCalculator"
          input_stream: "in"
          output_stream: "out"
          input_stream_handler {
            input_stream_handler: "FixedSizeInputStreamHandler"
            options { [mediapipe.FixedSizeInputStreamHandlerOptions.ext] { target_queue_size: 0 } }
          }
        }
        """)
    assert str(err) == (
        f"{_where(tmp_path, 6, 24)}: node PassThroughCalculator: FixedSizeInputStreamHandler "
        "needs trigger_queue_size and target_queue_size of at least 1, got 2 and 0")


@pytest.mark.parametrize(("text", "where", "message"), [
    ('input_stream: "in"\n'
     'node { calculator: "PassThroughCalculator" input_stream: "in" output_stream: "o"\n'
     '       input_stream_info { tag_index: "LOOP" back_edge: true } }',
     "3:26", "node PassThroughCalculator: input_stream_info names 'LOOP', which is not one of "
     "the node's input streams"),
    ('input_stream: "in"\noutput_stream: "result"\n'
     'node { calculator: "PassThroughCalculator" input_stream: "in" output_stream: "results" }',
     "", "graph output stream 'result' has no producer (did you mean 'results'?)"),
    ('input_stream: "in"\n'
     'node { calculator: "PassThroughCalculator" input_stream: "in" output_stream: "o"\n'
     '       executor: "cpu2" }',
     "3:18", "node PassThroughCalculator: executor 'cpu2' is not declared in the graph's "
     "executor list"),
    ('node { name: "a" calculator: "ConstantSidePacketCalculator"\n'
     '       output_side_packet: "PACKET:0:k"\n'
     '       options { [mediapipe.ConstantSidePacketCalculatorOptions.ext] {\n'
     '         packet { int_value: 1 } } } }\n'
     'node { name: "b" calculator: "ConstantSidePacketCalculator"\n'
     '       output_side_packet: "PACKET:0:k"\n'
     '       options { [mediapipe.ConstantSidePacketCalculatorOptions.ext] {\n'
     '         packet { int_value: 2 } } } }',
     "6:28", "node b: output side packet 'k' is already produced by node 'a' at "),
    ('input_stream: "a"\ninput_stream: "b"\n'
     'node { calculator: "PassThroughCalculator" input_stream: "TAG:a" input_stream: "TAG:b"\n'
     '       output_stream: "TAG:0:x" output_stream: "TAG:1:y" }',
     "3:80", "node PassThroughCalculator: 'TAG:b': port TAG:0 is already given by 'TAG:a'"),
    ('input_stream: "in"\nexecutor { name: "x" type: "ThreadPoolExecuter" }\n'
     'node { calculator: "PassThroughCalculator" input_stream: "in" output_stream: "o" }',
     "", "executor 'x': unknown type 'ThreadPoolExecuter', expected one of ThreadPoolExecutor, "
     "ApplicationThreadExecutor (did you mean 'ThreadPoolExecutor'?)"),
    ('input_stream: "a"\ninput_stream: "a"\n'
     'node { calculator: "PassThroughCalculator" input_stream: "a" output_stream: "o" }',
     "", "graph input stream 'a' is listed twice"),
])
def test_more_validation_messages(tmp_path: pathlib.Path, text: str, where: str,
                                  message: str) -> None:
    err = _error(tmp_path, text)
    path = tmp_path / "graph.pbtxt"
    assert str(err).startswith(f"{path}:{where}: {message}" if where else f"{path}: {message}")


# --------------------------------------------------------------------------- subgraphs

GATE_SUBGRAPH = """\
type: "GfTestGateSubgraph"
input_stream: "DATA:data"
input_stream: "ALLOW:allow"
output_stream: "OUT:gated"
graph_options: {
  [type.googleapis.com/mediapipe.GateCalculatorOptions] { allow: false }
}
node {
  calculator: "GateCalculator"
  input_stream: "data"
  input_stream: "ALLOW:allow"
  output_stream: "passed"
  option_value: "allow:options/allow"
  option_value: "empty_packets_as_allow:options/empty_packets_as_allow"
}
node {
  name: "copy"
  calculator: "PassThroughCalculator"
  input_stream: "passed"
  output_stream: "gated"
}
"""

NESTING_SUBGRAPH = """\
type: "GfTestNestingSubgraph"
input_stream: "IN:x"
output_stream: "OUT:y"
node { calculator: "GfTestGateSubgraph" input_stream: "DATA:x" output_stream: "OUT:y" }
"""


def _register_test_subgraphs() -> None:
    assert register_subgraph(GATE_SUBGRAPH) == "GfTestGateSubgraph"
    assert register_subgraph(NESTING_SUBGRAPH) == "GfTestNestingSubgraph"


def test_subgraph_expansion_names_and_streams() -> None:
    _register_test_subgraphs()
    graph = gf.CalculatorGraph(graph_config="""
        input_stream: "in"
        input_stream: "allow"
        output_stream: "out1"
        output_stream: "out2"
        node { calculator: "GfTestGateSubgraph" input_stream: "DATA:in"
               input_stream: "ALLOW:allow" output_stream: "OUT:out1" }
        node { calculator: "GfTestGateSubgraph" input_stream: "DATA:in"
               input_stream: "ALLOW:allow" output_stream: "OUT:out2" }
        """)
    nodes = graph.validated.nodes
    # MediaPipe's prefix: the lowercased canonical node name (GfTestGateSubgraph_1 and _2,
    # since the calculator repeats) and "__"; inner names keep their canonical names.
    assert [n.name for n in nodes] == [
        "gftestgatesubgraph_1__GateCalculator", "gftestgatesubgraph_1__copy",
        "gftestgatesubgraph_2__GateCalculator", "gftestgatesubgraph_2__copy"]
    assert [s.name for s in nodes[0].inputs] == ["in", "allow"]
    assert [s.name for s in nodes[0].outputs] == ["gftestgatesubgraph_1__passed"]
    assert [s.name for s in nodes[1].outputs] == ["out1"]
    assert str(nodes[1].location) == "<string>:16:1"  # where the node is in the subgraph


def test_subgraph_options_mapping() -> None:
    _register_test_subgraphs()
    base = """
        input_stream: "in"
        input_stream: "allow"
        output_stream: "out"
        node { name: "sub" calculator: "GfTestGateSubgraph" input_stream: "DATA:in"
               input_stream: "ALLOW:allow" output_stream: "OUT:out" %s }
        """
    plain = gf.CalculatorGraph(graph_config=base % "").validated.nodes[0]
    assert plain.name == "sub__GateCalculator"
    assert not plain.options.allow and not plain.options.empty_packets_as_allow
    given = gf.CalculatorGraph(graph_config=base % (
        "node_options { [type.googleapis.com/mediapipe.GateCalculatorOptions] "
        "{ empty_packets_as_allow: true } }")).validated.nodes[0]
    assert given.options.empty_packets_as_allow and not given.options.allow
    ext = gf.CalculatorGraph(graph_config=base % (
        "options { [mediapipe.GateCalculatorOptions.ext] { empty_packets_as_allow: true } }"
    )).validated.nodes[0]
    assert ext.options.empty_packets_as_allow
    # And it runs: empty ALLOW packets let data through only with the mapped option.
    inputs: dict[str, Iterable[tuple[int, Any]]] = {
        "in": [(0, "a"), (1, "b"), (2, "c")], "allow": [(1, False)]}
    assert payloads(run_graph(base % "", inputs=inputs)["out"]) == []
    out = run_graph(base % ("node_options { [type.googleapis.com/mediapipe.GateCalculatorOptions]"
                            " { empty_packets_as_allow: true } }"), inputs=inputs)["out"]
    assert payloads(out) == ["a", "c"] and timestamps(out) == [0, 2]


def test_nested_subgraph_and_unconnected_optional_input() -> None:
    _register_test_subgraphs()
    graph = gf.CalculatorGraph(graph_config="""
        input_stream: "in"
        output_stream: "out"
        node { name: "Outer" calculator: "GfTestNestingSubgraph" input_stream: "IN:in"
               output_stream: "OUT:out"
               node_options { [type.googleapis.com/mediapipe.GateCalculatorOptions]
                              { allow: true } } }
        """)
    gate, copy = graph.validated.nodes
    assert gate.name == "outer__gftestgatesubgraph__GateCalculator"
    assert copy.name == "outer__gftestgatesubgraph__copy"
    # ALLOW is not connected by the inner subgraph node: MediaPipe removes the inner streams
    # of unconnected subgraph inputs.
    assert [s.name for s in gate.inputs] == ["in"]
    # Options given to the outer node do not reach the inner subgraph's graph_options.
    assert not gate.options.allow


def test_subgraph_errors() -> None:
    _register_test_subgraphs()
    with pytest.raises(ConfigError, match=r"<string>:3:9: node GfTestGateSubgraph: subgraph "
                       r"GfTestGateSubgraph has no input stream IMAGE:0 \(it has: ALLOW:0, "
                       r"DATA:0\)"):
        gf.CalculatorGraph(graph_config="""
        input_stream: "in"
        node { calculator: "GfTestGateSubgraph" input_stream: "IMAGE:in"
               output_stream: "OUT:out" }
        """)
    register_subgraph('type: "GfTestSelfSubgraph"\ninput_stream: "IN:a"\n'
                      'node { calculator: "GfTestSelfSubgraph" input_stream: "IN:a" }\n')
    with pytest.raises(ConfigError, match="subgraph 'GfTestSelfSubgraph' includes itself"):
        gf.CalculatorGraph(graph_config='input_stream: "in"\n'
                           'node { calculator: "GfTestSelfSubgraph" input_stream: "IN:in" }')
    with pytest.raises(ConfigError, match="a subgraph needs a `type"):
        register_subgraph('input_stream: "in"')
    with pytest.raises(ConfigError, match=r"option_value 'allw:options/allow': cannot set "
                       r"'allw' on GateCalculatorOptions: \"no field 'allw' \(did you mean "
                       r"'allow'\?\)\""):
        register_subgraph(GATE_SUBGRAPH.replace("GfTestGateSubgraph", "GfTestBadOption")
                          .replace('"allow:options', '"allw:options'))
        gf.CalculatorGraph(graph_config="""
        input_stream: "in"
        node { calculator: "GfTestBadOption" input_stream: "DATA:in" output_stream: "OUT:o" }
        """)


def test_validation_reports_every_error_with_its_location() -> None:
    text = (
        'input_stream: "in"\n'
        'node { calculator: "PassThroughCalulator" input_stream: "in" output_stream: "a" }\n'
        'node { calculator: "GateCalculator" input_stream: "missing" output_stream: "b"\n'
        '       input_stream: "NOPE:in" }\n'
        'node { calculator: "PassThroughCalculator" input_stream: "a" output_stream: "b" }\n'
        'node { calculator: "MergeCalculator" output_stream: "c" }\n')
    with pytest.raises(ConfigError) as info:
        gf.CalculatorGraph(graph_config=text)
    errors = info.value.errors
    found = [(str(e.where), e.node, e.reason.split(" (did you")[0].split(" (it declares")[0])
             for e in errors]
    # Each located at the value it is about (the column of its opening quote).
    assert found == [
        ("<string>:2:20", "PassThroughCalulator", "unknown calculator 'PassThroughCalulator'"),
        ("<string>:4:22", "GateCalculator",
         "GateCalculator has no input stream with tag 'NOPE'"),
        ("<string>:6:1", "MergeCalculator",
         "MergeCalculator needs the input stream (untagged), which the node does not connect"),
        ("<string>:5:77", "PassThroughCalculator",
         "output stream 'b' is already produced by node 'GateCalculator' at <string>:3:1"),
        ("<string>:3:51", "GateCalculator", "input stream 'missing' has no producer: no node "
                                            "outputs it and it is not a graph input_stream"),
    ]
    assert str(info.value).startswith("5 errors in the graph config:\n  <string>:2:20: node ")
    assert str(info.value).count("\n") == 5
