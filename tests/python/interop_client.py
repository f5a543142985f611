"""Drives the mesh from Python's C-core gRPC (grpcio) with stubs compiled by grpc_tools from protos/.

Usage: interop_client.py PROTO_DIR OUT_DIR GATEWAY MODEL CASE_JSON
CASE_JSON: {"texts": [...], "input_ids": [[...]], "attention_mask": [[...]]}
Prints one JSON object with what each call returned, for the mocha test to check.
"""
import array
import json
import struct
import sys

import grpc
from grpc_tools import protoc


def compile_protos(proto_dir, out_dir):
    files = [
        "inference/grpc_service.proto",
        "inference_mesh/pipeline/v1/pipeline.proto",
    ]
    include = protoc.__file__.rsplit("/", 1)[0] + "/_proto"
    code = protoc.main(["protoc", f"-I{proto_dir}", f"-I{include}", f"--python_out={out_dir}", f"--grpc_python_out={out_dir}", *files])
    if code != 0:
        raise SystemExit(f"protoc failed with {code}")
    sys.path.insert(0, out_dir)


def int64_bytes(rows):
    values = array.array("q", [v for row in rows for v in row])
    if sys.byteorder != "little":
        values.byteswap()
    return values.tobytes()


def main():
    proto_dir, out_dir, gateway, model, case_json = sys.argv[1:6]
    case = json.loads(case_json)
    compile_protos(proto_dir, out_dir)
    from inference import grpc_service_pb2 as kserve, grpc_service_pb2_grpc as kserve_grpc
    from inference_mesh.pipeline.v1 import pipeline_pb2, pipeline_pb2_grpc

    out = {}
    with grpc.insecure_channel(model) as channel:
        stub = kserve_grpc.GRPCInferenceServiceStub(channel)
        out["live"] = stub.ServerLive(kserve.ServerLiveRequest(), timeout=10).live
        out["ready"] = stub.ServerReady(kserve.ServerReadyRequest(), timeout=10).ready
        out["server_name"] = stub.ServerMetadata(kserve.ServerMetadataRequest(), timeout=10).name
        out["model_ready"] = stub.ModelReady(kserve.ModelReadyRequest(name="sentiment", version="1"), timeout=10).ready
        meta = stub.ModelMetadata(kserve.ModelMetadataRequest(name="sentiment", version="1"), timeout=10)
        out["metadata"] = {
            "platform": meta.platform,
            "versions": list(meta.versions),
            "inputs": [[t.name, t.datatype, list(t.shape)] for t in meta.inputs],
            "outputs": [[t.name, t.datatype, list(t.shape)] for t in meta.outputs],
        }
        ids, mask = case["input_ids"], case["attention_mask"]
        shape = [len(ids), len(ids[0])]

        def tensor(name):
            return kserve.ModelInferRequest.InferInputTensor(name=name, datatype="INT64", shape=shape)

        raw = kserve.ModelInferRequest(model_name="sentiment", model_version="1", id="py-raw")
        raw.inputs.extend([tensor("input_ids"), tensor("attention_mask")])
        raw.raw_input_contents.extend([int64_bytes(ids), int64_bytes(mask)])
        response = stub.ModelInfer(raw, timeout=10)
        output = response.outputs[0]
        count = output.shape[0] * output.shape[1]
        out["raw"] = {
            "id": response.id,
            "model_version": response.model_version,
            "output": [output.name, output.datatype, list(output.shape)],
            "logits": list(struct.unpack(f"<{count}f", response.raw_output_contents[0])),
        }

        typed = kserve.ModelInferRequest(model_name="sentiment", model_version="1", id="py-typed")
        for name, rows in (("input_ids", ids), ("attention_mask", mask)):
            t = tensor(name)
            t.contents.int64_contents.extend(v for row in rows for v in row)
            typed.inputs.append(t)
        response = stub.ModelInfer(typed, timeout=10)
        out["typed_logits"] = list(struct.unpack(f"<{count}f", response.raw_output_contents[0]))

        bad = kserve.ModelInferRequest(model_name="sentiment", model_version="1")
        bad.inputs.extend([tensor("input_ids"), tensor("attention_mask")])
        bad.raw_input_contents.extend([int64_bytes(ids)[:-8], int64_bytes(mask)])
        try:
            stub.ModelInfer(bad, timeout=10)
            out["bad_infer"] = "OK"
        except grpc.RpcError as error:
            out["bad_infer"] = [error.code().name, error.details()]

    with grpc.insecure_channel(gateway) as channel:
        stub = pipeline_pb2_grpc.PipelineServiceStub(channel)
        texts = [t.encode("utf-8") for t in case["texts"]]
        response = stub.Classify(
            pipeline_pb2.ClassifyRequest(request_id="py-1", texts=texts, options=pipeline_pb2.ClassifyOptions(model_version="1")),
            timeout=10,
        )
        out["classify"] = {
            "request_id": response.request_id,
            "results": [[r.label, r.score, r.model_name, r.model_version] for r in response.results],
        }

        def requests():
            for i, text in enumerate(texts):
                yield pipeline_pb2.ClassifyRequest(request_id=f"s{i}", texts=[text])

        out["stream"] = sorted([[r.request_id, r.results[0].label] for r in stub.ClassifyStream(requests(), timeout=10)])
        try:
            stub.Classify(pipeline_pb2.ClassifyRequest(texts=[b"\xff\xfe"]), timeout=10)
            out["bad_classify"] = "OK"
        except grpc.RpcError as error:
            out["bad_classify"] = [error.code().name, error.details()]

    print(json.dumps(out))


if __name__ == "__main__":
    main()
