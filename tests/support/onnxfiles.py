"""Small valid ONNX files built with the onnx helper API (no exporter, no training)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def make_onnx(path: Path, seed: int = 0, n_in: int = 4, n_out: int = 3, pad: int = 0) -> Path:
    """A small valid ONNX model (MatMul) built with the onnx helper API; ``pad`` adds weight bytes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.normal(size=(n_in, n_out)).astype(np.float32), "W")
    inits = [w]
    if pad:
        inits.append(numpy_helper.from_array(rng.normal(size=(pad // 4,)).astype(np.float32), "pad"))
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n_out])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tests")
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
