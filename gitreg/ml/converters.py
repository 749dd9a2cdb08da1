"""Converters skl2onnx does not have, registered with it when a model needs them.

xgboost and lightgbm models (their scikit-learn APIs) convert with onnxmltools' converters
(``gitreg[boosting]``); CatBoost models through CatBoost's own ONNX export, its one tree-ensemble
node copied into skl2onnx's graph; a tree model fed a double input (a float64 Pipeline whose
transforms run in double) gets a Cast to float32 in front of its ensemble. Registration is global
to skl2onnx in this process, as skl2onnx's own ``update_registered_converter`` is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gitreg.errors import ExportError, MissingDependency
from gitreg.ml import tabular

# Libraries whose scikit-learn-API models skl2onnx converts only with onnxmltools' converters.
BOOSTING = ("xgboost", "lightgbm")


def parts(model: Any) -> list[Any]:
    """``model`` and every estimator inside it (pipeline steps, column transformers, meta-estimators)."""
    found = [model]
    get_params = getattr(model, "get_params", None)
    if callable(get_params):
        try:
            found += [v for v in get_params(deep=True).values() if hasattr(v, "fit")]
        except Exception:  # an estimator whose get_params misbehaves: the model alone
            pass
    return found


def libraries(model: Any) -> list[str]:
    """Third-party model libraries in ``model`` (xgboost, lightgbm, catboost), in the order found."""
    out: list[str] = []
    for part in parts(model):
        top = type(part).__module__.split(".")[0]
        if top in (*BOOSTING, "catboost") and top not in out:
            out.append(top)
    return out


def version_of(lib: str) -> str:
    from importlib import metadata

    for dist in (lib, f"{lib}-cpu"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "?"


def register_boosting(model: Any) -> None:
    """Register onnxmltools' converters with skl2onnx for the xgboost/lightgbm models in ``model``;
    MissingDependency naming ``gitreg[boosting]`` when onnxmltools is not installed."""
    libs = [lib for lib in libraries(model) if lib in BOOSTING]
    if not libs:
        return
    try:
        from skl2onnx import update_registered_converter
        from skl2onnx.common.shape_calculator import (
            calculate_linear_classifier_output_shapes,
            calculate_linear_regressor_output_shapes,
        )
    except ImportError as e:
        raise MissingDependency(e.name or "skl2onnx", "sklearn", "exporting a scikit-learn model") from None
    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    try:
        if "xgboost" in libs:
            import xgboost
            from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost

            for cls, shapes, opts in (
                (xgboost.XGBClassifier, calculate_linear_classifier_output_shapes, classifier_options),
                (xgboost.XGBRFClassifier, calculate_linear_classifier_output_shapes, classifier_options),
                (xgboost.XGBRegressor, calculate_linear_regressor_output_shapes, None),
                (xgboost.XGBRFRegressor, calculate_linear_regressor_output_shapes, None),
            ):
                update_registered_converter(cls, f"XGBoost{cls.__name__}", shapes, convert_xgboost, options=opts)
        if "lightgbm" in libs:
            import lightgbm
            from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm

            update_registered_converter(
                lightgbm.LGBMClassifier,
                "LightGbmLGBMClassifier",
                calculate_linear_classifier_output_shapes,
                convert_lightgbm,
                options=classifier_options,
            )
            update_registered_converter(
                lightgbm.LGBMRegressor,
                "LightGbmLGBMRegressor",
                calculate_linear_regressor_output_shapes,
                convert_lightgbm,
                options={"split": None},
            )
    except ImportError as e:
        missing = e.name or "onnxmltools"
        package = "onnxmltools" if missing.startswith("onnx") else missing.split(".")[0]
        raise MissingDependency(package, "boosting", f"exporting {' and '.join(libs)} models") from None


def register_catboost(model: Any) -> None:
    """Register a skl2onnx converter for the CatBoost models in ``model`` that copies CatBoost's own
    ONNX export (one ``TreeEnsembleClassifier``/``Regressor`` node) into the graph; ExportError for
    a model trained with categorical or text features, which CatBoost cannot export to ONNX."""
    models = [p for p in parts(model) if type(p).__module__.split(".")[0] == "catboost"]
    if not models:
        return
    for part in models:
        special = {
            kind: list(getattr(part, f"get_{kind}_feature_indices", lambda: [])() or [])
            for kind in ("cat", "text", "embedding")
        }
        found = {k: v for k, v in special.items() if v}
        if found:
            kind, idx = next(iter(found.items()))
            names = list(getattr(part, "feature_names_", None) or [])
            shown = ", ".join(repr(names[i]) if i < len(names) else str(i) for i in idx[:5])
            word = {"cat": "categorical", "text": "text", "embedding": "embedding"}[kind]
            raise ExportError(
                f"cannot export {type(part).__name__} to ONNX: it was trained with {word} features ({shown}), "
                "which CatBoost's ONNX export does not support; nothing was pushed",
                hint="encode those columns in a scikit-learn step before the model (e.g. a ColumnTransformer "
                "with an OrdinalEncoder or OneHotEncoder in a Pipeline), fit again without cat_features, and push",
            )
    from catboost import CatBoostClassifier, CatBoostRegressor
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    update_registered_converter(
        CatBoostClassifier,
        "CatBoostCatBoostClassifier",
        calculate_linear_classifier_output_shapes,
        _convert_catboost,
        parser=_parse_catboost_classifier,
        options={"zipmap": [False], "nocl": [False]},
    )
    update_registered_converter(
        CatBoostRegressor, "CatBoostCatBoostRegressor", calculate_linear_regressor_output_shapes, _convert_catboost
    )


def _parse_catboost_classifier(scope: Any, model: Any, inputs: Any, custom_parsers: Any = None) -> Any:
    """skl2onnx parser: a CatBoost classifier gives ``label`` and ``probabilities`` (no ZipMap)."""
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType

    op = scope.declare_local_operator("CatBoostCatBoostClassifier", model)
    op.inputs = inputs
    strings = any(isinstance(c, str) for c in getattr(model, "classes_", []))
    op.outputs.append(scope.declare_local_variable("label", StringTensorType() if strings else Int64TensorType()))
    op.outputs.append(scope.declare_local_variable("probabilities", FloatTensorType()))
    return list(op.outputs)


def _convert_catboost(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx converter: the tree-ensemble node of ``catboost.utils.convert_to_onnx_object``, wired to
    the operator's input and outputs (CatBoost's ZipMap, if any, is left out)."""
    from catboost.utils import convert_to_onnx_object
    from onnx.helper import get_attribute_value

    onx = convert_to_onnx_object(operator.raw_operator)
    nodes = list(onx.graph.node)
    if not nodes or not nodes[0].op_type.startswith("TreeEnsemble") or len(onx.graph.initializer):
        found = ", ".join(n.op_type for n in nodes) or "no nodes"
        raise NotImplementedError(f"CatBoost's ONNX export gave {found}; gitreg copies one TreeEnsemble node")
    node = nodes[0]
    opsets = {d.domain: d.version for d in onx.opset_import}
    attrs = {a.name: get_attribute_value(a) for a in node.attribute}
    container.add_node(
        node.op_type,
        [operator.inputs[0].full_name],
        [o.full_name for o in operator.outputs],
        op_domain=node.domain,
        op_version=opsets.get(node.domain),
        name=scope.get_unique_operator_name("CatBoost"),
        **attrs,
    )


def float_trees(model: Any) -> None:
    """Let the converters of the tree models in ``model`` take a double input: a Cast to float32 in
    front of the tree ensemble (onnxruntime's TreeEnsemble ops give float outputs only). xgboost,
    lightgbm, catboost and scikit-learn's forests compare float32 values themselves; a threshold
    between two float64 values keeps its side under the monotone rounding to float32."""
    from skl2onnx._supported_operators import sklearn_operator_name_map
    from skl2onnx.common import _registration as registration

    for part in parts(model):
        alias = sklearn_operator_name_map.get(type(part)) if tabular.is_tree_model(part) else None
        if alias is None:
            continue
        current = registration.get_converter(alias)
        fct = getattr(current, "_fct", current)
        if getattr(fct, "gitreg_float_input", False):
            continue
        options = current.get_allowed_options() if hasattr(current, "get_allowed_options") else None
        registration.register_converter(alias, _float_input(fct), overwrite=True, options=options)
        shapes = registration.get_shape_calculator(alias)
        registration.register_shape_calculator(alias, _float_shapes(shapes), overwrite=True)


def _float_input(fct: Callable[..., Any]) -> Callable[..., Any]:
    def convert(scope: Any, operator: Any, container: Any) -> Any:
        from onnx import TensorProto
        from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

        given = operator.inputs[0]
        if not isinstance(given.type, DoubleTensorType):
            return fct(scope, operator, container)
        cast = scope.declare_local_variable("float_input", FloatTensorType(given.type.shape))
        container.add_node(
            "Cast",
            [given.full_name],
            [cast.full_name],
            to=TensorProto.FLOAT,
            name=scope.get_unique_operator_name("Cast"),
        )
        operator.inputs.set_element(0, cast)
        try:
            return fct(scope, operator, container)
        finally:
            operator.inputs.set_element(0, given)

    convert.gitreg_float_input = True  # type: ignore[attr-defined]
    return convert


def _float_shapes(fct: Callable[..., Any]) -> Callable[..., Any]:
    def shapes(operator: Any) -> Any:
        from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

        given = operator.inputs[0]
        if not isinstance(given.type, DoubleTensorType):
            return fct(operator)
        double = given.type
        given.type = FloatTensorType(double.shape)
        try:
            fct(operator)
        finally:
            given.type = double
        for out in operator.outputs:  # what the float tree ensemble gives
            if isinstance(out.type, DoubleTensorType):
                out.type = FloatTensorType(out.type.shape)

    return shapes


def without_xgboost_names(model: Any) -> Any:
    """``model``, or a copy whose xgboost boosters forget the DataFrame's feature names: onnxmltools
    reads features as ``f0, f1…`` ("Unable to interpret 'age', feature names should follow pattern
    'f%d'"). The inputs are in the fitted order already (:mod:`gitreg.ml.tabular`); the user's
    model is left as it is."""
    if "xgboost" not in libraries(model):
        return model
    import copy

    clone = copy.deepcopy(model)
    for part in parts(clone):
        if type(part).__module__.split(".")[0] == "xgboost" and hasattr(part, "get_booster"):
            try:
                part.get_booster().feature_names = None
            except Exception:  # not fitted: skl2onnx says so
                pass
    return clone
