"""Model tooling that knows no registry: export (torch, scikit-learn), ONNX reading without the onnx
package (onnxscan, onnxcore, artifacts), what outputs mean (outputs), metadata, parity (parity, and
filecheck for files on their own), prediction, evaluation and HTML reports.
Imports core and errors; torch, onnx, onnxruntime, sklearn and matplotlib load inside functions."""
